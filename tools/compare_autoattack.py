#!/usr/bin/env python3
"""Reference AutoAttack robust-accuracy numbers from torchattacks, for comparison with
``gauntlet audit --attacks auto`` (and ``--attacks fast``).

What it does:

* Models: ``--models`` (default ``models/mnist_cnn.pt models/mnist_cnn_adv.pt``), state_dicts
  of tools/mnist_cnn_model.MnistCnn, eval mode, CPU, float32 (same networks as the .onnx files).
* Data: the first ``--n`` (default 200) samples of ``data/mnist-demo/x.npy`` / ``y.npy``,
  float32 ``x / 255`` in [0, 1], attacked as one batch.
* Threat models: Linf for each ``--linf-eps`` (default 0.1 0.2 0.3), L2 for each
  ``--l2-eps`` (default 1.0 2.0).
* Suites (``--suites``, default ``standard fast``):
    - ``standard``: ``torchattacks.AutoAttack(model, norm=..., eps=..., version='standard',
      n_classes=10, seed=--seed)`` exactly as torchattacks 3.5.1 builds it: MultiAttack of
      APGD-CE, APGD-T (9 target classes), FAB-T (multi-targeted, 9 target classes), Square
      (5000 queries), each n_restarts=1.  NOTE: torchattacks leaves ``steps`` at the class
      defaults here, i.e. **10** iterations for APGD-CE, APGD-T and FAB-T, where the
      original AutoAttack (Croce & Hein 2020, github.com/fra31/auto-attack) uses 100.
    - ``fast``: MultiAttack([APGD(loss='ce', steps=100, n_restarts=1, seed),
      APGDT(steps=100, n_restarts=1, n_classes=10, seed)]), the equivalent of gauntlet's
      ``--attacks fast``.
    - ``standard100``: the ``standard`` ensemble with the original AutoAttack iteration
      counts (steps=100 for APGD-CE, APGD-T, FAB-T; Square 5000 queries), built from the same
      torchattacks classes.  Not run by default (slower).
    - ``original``: the original AutoAttack code itself (Croce & Hein, packaged on PyPI by its
      authors as ``pyautoattack`` 0.2.0): ``AutoAttack(model, norm, eps, version='standard',
      seed)``, ``run_standard_evaluation`` on the N samples as one batch (APGD-CE, APGD-T,
      FAB-T, Square with the paper's 100 iterations / 5,000 queries).  Not run by default.
  Each attack in an ensemble is run only on the samples the previous ones did not break
  (torchattacks MultiAttack); the per-stage cumulative robust accuracy and seconds are
  recorded by wrapping each member's ``forward``.
* Metrics over all N samples (denominator N):
    - clean_accuracy  = #(argmax f(x) == y) / N
    - robust_accuracy = #(argmax f(x) == y AND argmax f(x_adv) == y) / N
  plus the largest perturbation norm actually used, as a sanity check.
* Wall time: seconds for the whole ensemble per (model, suite, norm, eps), with
  torch.set_num_threads(--threads, default 2).

Output: one JSON object, written to ``--out`` (rewritten after every configuration so a
partial run leaves its results) and printed on stdout at the end.

Usage (from the repo root):
    .venv/bin/python tools/compare_autoattack.py [--n 200] [--suites standard fast]
        [--linf-eps 0.1 0.2 0.3] [--l2-eps 1.0 2.0] [--seed 0] [--out out/torchattacks_autoattack.json]
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn_model import MnistCnn  # noqa: E402
from mnist_io import REPO_ROOT  # noqa: E402

NORM_NAMES = {"linf": "Linf", "l2": "L2"}


class OriginalAutoAttack:
    """pyautoattack's AutoAttack behind the callable interface of a torchattacks attack."""

    def __init__(self, model, norm, eps, seed):
        from pyautoattack import AutoAttack
        self.aa = AutoAttack(model, norm=norm, eps=eps, version="standard", seed=seed, device="cpu")
        self.members = [self.aa.apgd, self.aa.apgd_targeted, self.aa.fab, self.aa.square]

    def __call__(self, x, y):
        x_adv, _ = self.aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
        return x_adv


def build_suite(torchattacks, model, suite, norm, eps, seed):
    """Returns (attack, [member names], [member attacks])."""
    ta_norm = NORM_NAMES[norm]
    if suite == "original":
        aa = OriginalAutoAttack(model, ta_norm, eps, seed)
        return aa, ["apgd-ce", "apgd-t", "fab-t", "square"], aa.members
    if suite == "standard":
        aa = torchattacks.AutoAttack(model, norm=ta_norm, eps=eps, version="standard",
                                     n_classes=10, seed=seed)
        return aa, ["apgd-ce", "apgd-t", "fab-t", "square"], aa._autoattack.attacks
    if suite == "fast":
        members = [
            torchattacks.APGD(model, norm=ta_norm, eps=eps, steps=100, n_restarts=1, seed=seed, loss="ce"),
            torchattacks.APGDT(model, norm=ta_norm, eps=eps, steps=100, n_restarts=1, seed=seed, n_classes=10),
        ]
        return torchattacks.MultiAttack(members), ["apgd-ce", "apgd-t"], members
    if suite == "standard100":
        members = [
            torchattacks.APGD(model, norm=ta_norm, eps=eps, steps=100, n_restarts=1, seed=seed, loss="ce"),
            torchattacks.APGDT(model, norm=ta_norm, eps=eps, steps=100, n_restarts=1, seed=seed, n_classes=10),
            torchattacks.FAB(model, norm=ta_norm, eps=eps, steps=100, n_restarts=1, seed=seed,
                             multi_targeted=True, n_classes=10),
            torchattacks.Square(model, norm=ta_norm, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
        ]
        return torchattacks.MultiAttack(members), ["apgd-ce", "apgd-t", "fab-t", "square"], members
    raise ValueError(f"unknown suite {suite!r}")


def member_steps(atk):
    return getattr(atk, "steps", None) or getattr(atk, "n_iter", None) or getattr(atk, "n_queries", None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=[os.path.join(REPO_ROOT, "models", "mnist_cnn.pt"),
                                                     os.path.join(REPO_ROOT, "models", "mnist_cnn_adv.pt")])
    ap.add_argument("--data-dir", default=os.path.join(REPO_ROOT, "data", "mnist-demo"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--linf-eps", type=float, nargs="*", default=[0.1, 0.2, 0.3])
    ap.add_argument("--l2-eps", type=float, nargs="*", default=[1.0, 2.0])
    ap.add_argument("--suites", nargs="+", default=["standard", "fast"],
                    choices=["standard", "fast", "standard100", "original"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--resume", action="store_true",
                    help="keep the finished configurations of an earlier --out with the same n and seed "
                         "and run only the missing ones (each configuration is written when it ends)")
    args = ap.parse_args()

    import torchattacks

    torch.set_num_threads(args.threads)
    x_u8 = np.load(os.path.join(args.data_dir, "x.npy"))[: args.n]
    y_np = np.load(os.path.join(args.data_dir, "y.npy"))[: args.n]
    n = len(x_u8)
    x = torch.from_numpy(x_u8.astype(np.float32) / 255.0)
    y = torch.from_numpy(y_np.astype(np.int64))

    report = {
        "tool": "torchattacks",
        "torchattacks_version": torchattacks.__version__,
        "torch_version": torch.__version__,
        "pyautoattack_version": (__import__("pyautoattack").__version__ if "original" in args.suites else None),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([os.path.relpath(sys.executable, REPO_ROOT) if sys.executable.startswith(REPO_ROOT)
                             else sys.executable] + sys.argv),
        "data": os.path.relpath(args.data_dir, REPO_ROOT),
        "n": n,
        "seed": args.seed,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "robust_accuracy_definition": "correct on clean AND correct on adversarial, over all n samples",
        "runs": [],
    }

    done = set()
    if args.resume and args.out and os.path.exists(args.out):
        with open(args.out) as f:
            earlier = json.load(f)
        if earlier.get("n") == n and earlier.get("seed") == args.seed:
            report["runs"] = earlier["runs"]
            done = {(r["model"], r["suite"], r["norm"], r["eps"]) for r in earlier["runs"]}
            print(f"resuming: {len(done)} configuration(s) already in {args.out}", file=sys.stderr)

    def flush():
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                f.write(json.dumps(report, indent=2) + "\n")

    configs = [("linf", e) for e in args.linf_eps] + [("l2", e) for e in args.l2_eps]
    for model_path in args.models:
        model = MnistCnn()
        model.load_state_dict(torch.load(model_path, map_location="cpu"))
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            clean_correct = model(x).argmax(1) == y
        clean_count = int(clean_correct.sum().item())
        for suite in args.suites:
            for norm, eps in configs:
                if (os.path.relpath(os.path.abspath(model_path), REPO_ROOT), suite, norm, eps) in done:
                    continue
                atk, names, members = build_suite(torchattacks, model, suite, norm, eps, args.seed)
                stages = []

                def wrap(name, member):
                    # torchattacks attacks run through forward(), the original code's through perturb()
                    method = "perturb" if suite == "original" else "forward"
                    inner = getattr(member, method)

                    def forward(images, labels, *a, **kw):
                        t0 = time.perf_counter()
                        out = inner(images, labels, *a, **kw)
                        stages.append({"attack": name, "steps": member_steps(member),
                                       "inputs": int(images.shape[0]),
                                       "seconds": round(time.perf_counter() - t0, 3)})
                        return out
                    setattr(member, method, forward)

                for name, member in zip(names, members):
                    wrap(name, member)

                t0, c0 = time.perf_counter(), time.process_time()
                x_adv = atk(x, y)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                with torch.no_grad():
                    adv_correct = model(x_adv).argmax(1) == y
                robust_count = int((clean_correct & adv_correct).sum().item())
                delta = (x_adv - x).flatten(1)
                max_norm = float(delta.abs().max().item() if norm == "linf" else delta.norm(dim=1).max().item())
                # MultiAttack hands each member the samples still classified correctly; the
                # cumulative robust count after a member is the next member's input count.
                for i, st in enumerate(stages):
                    after = stages[i + 1]["inputs"] if i + 1 < len(stages) else robust_count
                    st["cumulative_robust_accuracy"] = after / n
                run = {
                    "model": os.path.relpath(os.path.abspath(model_path), REPO_ROOT),
                    "suite": suite,
                    "norm": norm,
                    "eps": eps,
                    "clean_accuracy": clean_count / n,
                    "clean_correct": clean_count,
                    "robust_accuracy": robust_count / n,
                    "robust_correct": robust_count,
                    f"max_{norm}_perturbation": max_norm,
                    "seconds": round(wall, 3),
                    "cpu_seconds": round(cpu, 3),  # user + system, all threads
                    "loadavg_1min_after": round(os.getloadavg()[0], 2),
                    "stages": stages,
                }
                report["runs"].append(run)
                flush()
                print(f"{run['model']} {suite} {norm} eps {eps}: clean {clean_count / n:.3f} "
                      f"robust {robust_count / n:.3f} ({wall:.1f}s; "
                      + ", ".join(f"{s['attack']} {s['inputs']} in {s['seconds']:.1f}s" for s in stages) + ")",
                      file=sys.stderr, flush=True)

    flush()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
