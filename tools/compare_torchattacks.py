#!/usr/bin/env python3
"""Reference robust-accuracy numbers from torchattacks, for comparison with gauntlet.

What it does (all of this is what the Rust side must match):

* Model: ``models/mnist_cnn.pt`` (state_dict of tools/mnist_cnn_model.MnistCnn), eval mode,
  CPU, float32.  Same network as ``models/mnist_cnn.onnx``.
* Data: the first ``--n`` (default 1000) samples of ``data/mnist-demo/x.npy`` /
  ``y.npy``, converted to float32 as ``x / 255`` (range [0, 1], shape N x 1 x 28 x 28).
* Attack: ``torchattacks.PGD(model, eps, alpha, steps, random_start=True)``, untargeted,
  Linf, for each eps in ``--eps`` (default 0.1 and 0.3).  Per torchattacks 3.5.1:
    - random start: x_adv = clamp(x + U(-eps, eps), 0, 1)
    - each of ``steps`` iterations: loss = CrossEntropyLoss(logits(x_adv), y) (mean over
      the batch; only its sign matters), x_adv = x_adv + alpha * sign(grad)
      (sign(0) = 0), then x_adv = clamp(x + clamp(x_adv - x, -eps, eps), 0, 1).
    - the returned example is the LAST iterate (no best-loss / early-stop tracking).
    - labels used by the attack are the TRUE labels for every sample, including samples
      that are already misclassified on clean input.
* Defaults: ``--steps 40``; step size ``alpha = eps / 4`` for each eps (so 0.025 at
  eps 0.1, 0.075 at eps 0.3).  ``--alpha A`` overrides this with the absolute step size A
  for every eps.  The settings actually used are printed in the JSON.
* Metrics, over all N samples (denominator N):
    - clean_accuracy  = #(argmax f(x) == y) / N
    - robust_accuracy = #(argmax f(x) == y AND argmax f(x_adv) == y) / N
    - adv_accuracy    = #(argmax f(x_adv) == y) / N   (informational)
  Ties in argmax resolve to the lowest index (torch.argmax).
* Determinism: ``torch.manual_seed(--seed)`` (default 0) immediately before each eps's
  attack; the whole N-sample set is attacked as one batch unless ``--batch-size`` is
  given (the random start then differs from a run with another batch size, but the
  accuracy should agree within noise).
* Wall time: seconds for the attack (and the adversarial forward pass) per eps,
  torch.set_num_threads(--threads, default 2).

Output: one JSON object on stdout and, if ``--out PATH`` is given, written to PATH.

Usage (from the repo root):
    .venv/bin/python tools/compare_torchattacks.py [--n 1000] [--eps 0.1 0.3] [--steps 40]
        [--alpha A] [--seed 0] [--out out/torchattacks_pgd.json]
"""
import argparse
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "mnist_cnn.pt"))
    ap.add_argument("--data-dir", default=os.path.join(REPO_ROOT, "data", "mnist-demo"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.3])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--alpha", type=float, default=None,
                    help="absolute PGD step size for every eps (default: eps/4 per eps)")
    ap.add_argument("--no-random-start", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=None, help="default: all N at once")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torchattacks

    torch.set_num_threads(args.threads)
    model = MnistCnn()
    model.load_state_dict(torch.load(args.model, map_location="cpu"))
    model.eval()

    x_u8 = np.load(os.path.join(args.data_dir, "x.npy"))[: args.n]
    y_np = np.load(os.path.join(args.data_dir, "y.npy"))[: args.n]
    n = len(x_u8)
    x = torch.from_numpy(x_u8.astype(np.float32) / 255.0)
    y = torch.from_numpy(y_np.astype(np.int64))
    bs = args.batch_size or n

    with torch.no_grad():
        clean_correct = model(x).argmax(1) == y
    clean_count = int(clean_correct.sum().item())
    clean_acc = clean_count / n

    results = []
    for eps in args.eps:
        alpha = args.alpha if args.alpha is not None else eps / 4
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps,
                               random_start=not args.no_random_start)
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        adv_correct = torch.zeros(n, dtype=torch.bool)
        max_pert = 0.0
        for i in range(0, n, bs):
            xb, yb = x[i:i + bs], y[i:i + bs]
            xa = atk(xb, yb)
            with torch.no_grad():
                adv_correct[i:i + bs] = model(xa).argmax(1) == yb
            max_pert = max(max_pert, (xa - xb).abs().max().item())
        wall = time.perf_counter() - t0
        robust_count = int((clean_correct & adv_correct).sum().item())
        adv_count = int(adv_correct.sum().item())
        robust = robust_count / n
        results.append({
            "eps": eps,
            "alpha": alpha,
            "steps": args.steps,
            "random_start": not args.no_random_start,
            "robust_accuracy": robust,
            "robust_correct": robust_count,
            "adv_accuracy": adv_count / n,
            "adv_correct": adv_count,
            "max_linf_perturbation": max_pert,
            "wall_time_s": round(wall, 3),
        })
        print(f"eps {eps}: alpha {alpha}, robust acc {robust:.4f}, {wall:.1f}s", file=sys.stderr)

    report = {
        "tool": "torchattacks",
        "torchattacks_version": torchattacks.__version__,
        "torch_version": torch.__version__,
        "attack": "PGD (Linf, untargeted, CrossEntropyLoss, sign-gradient steps, last iterate)",
        "alpha_rule": "explicit --alpha" if args.alpha is not None else "eps/4",
        "model": os.path.relpath(args.model, REPO_ROOT),
        "data": os.path.relpath(args.data_dir, REPO_ROOT),
        "n": n,
        "seed": args.seed,
        "batch_size": bs,
        "threads": args.threads,
        "platform": platform.platform(),
        "clean_accuracy": clean_acc,
        "clean_correct": clean_count,
        "robust_accuracy_definition": "correct on clean AND correct on adversarial, over all n samples",
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
