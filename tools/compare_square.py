#!/usr/bin/env python3
"""Square Attack query counts of ART and torchattacks on the MNIST CNN, for comparison with
``gauntlet audit --black-box --attacks square``.

* Model: ``models/mnist_cnn.pt`` (the network of ``models/mnist_cnn.onnx``), eval mode, CPU.
* Data: the first ``--n`` samples of ``data/mnist-demo`` (x / 255); only the samples the
  model classifies correctly are attacked (as gauntlet does).
* Threat model: L∞, ``--eps`` (default 0.3), 5,000 queries, p_init 0.8, one restart.
* Queries are *model evaluations of one sample*, counted by wrapping the network's forward,
  so every tool is charged for what it really sends to the model:
    - ART 1.20 ``SquareAttack(norm=inf, max_iter=5000)`` is run one sample at a time (its batch
      loop does not report per-sample counts); ART evaluates the model twice per iteration
      (loss, then the adversarial check), and both count. ``iterations`` is reported too.
    - torchattacks 3.5.1 ``Square(norm='Linf', n_queries=5000)``: its own per-sample count
      from ``attack_single_run`` (one evaluation per iteration, the reference implementation).
* Success = the model's prediction on the returned input differs from the label, and the
  perturbation is within ε (checked).

Writes JSON to ``--out``.
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


class Counting(torch.nn.Module):
    """Counts the samples the wrapped network evaluates."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.rows = 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.net(x)


def summary(queries, success, n_attacked, budget):
    q = np.asarray(queries, dtype=np.float64)
    s = np.asarray(success, dtype=bool)
    within = s & (q <= budget)
    ok = q[within]
    return {
        "attacked": int(n_attacked),
        "successful": int(s.sum()),
        "successful_within_budget": int(within.sum()),
        "success_rate_within_budget": float(within.sum() / max(n_attacked, 1)),
        "median_queries": float(np.median(ok)) if ok.size else None,
        "mean_queries": float(ok.mean()) if ok.size else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO_ROOT, "models", "mnist_cnn.pt"))
    ap.add_argument("--data-dir", default=os.path.join(REPO_ROOT, "data", "mnist-demo"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tools", nargs="+", default=["torchattacks", "art"], choices=["torchattacks", "art"])
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "out", "square_reference.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    net = MnistCnn()
    net.load_state_dict(torch.load(args.model, map_location="cpu"))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    model = Counting(net).eval()

    x_u8 = np.load(os.path.join(args.data_dir, "x.npy"))[: args.n]
    y_np = np.load(os.path.join(args.data_dir, "y.npy"))[: args.n].astype(np.int64)
    x = torch.from_numpy(x_u8.astype(np.float32) / 255.0)
    y = torch.from_numpy(y_np)
    with torch.no_grad():
        correct = (net(x).argmax(1) == y).numpy()
    idx = np.nonzero(correct)[0]
    xc, yc = x[idx], y[idx]
    report = {"n": args.n, "eps": args.eps, "queries": args.queries, "seed": args.seed,
              "clean_correct": int(len(idx)), "threads": args.threads,
              "torch_version": torch.__version__, "python_version": platform.python_version(), "tools": {}}

    def flush():
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")

    if "torchattacks" in args.tools:
        import torchattacks
        atk = torchattacks.Square(model, norm="Linf", eps=args.eps, n_queries=args.queries, n_restarts=1,
                                  p_init=0.8, loss="margin", resc_schedule=True, seed=args.seed)
        start = time.time()
        atk.init_hyperparam(xc)
        n_queries, adv = atk.attack_single_run(xc.clone(), yc.clone())
        secs = time.time() - start
        with torch.no_grad():
            pred = net(adv).argmax(1)
        linf = (adv - xc).abs().flatten(1).max(1)[0]
        success = ((pred != yc) & (linf <= args.eps + 1e-6)).numpy()
        entry = summary(n_queries.numpy(), success, len(idx), args.queries)
        entry.update({"version": torchattacks.__version__, "seconds": secs, "per_sample_queries": n_queries.numpy().astype(int).tolist()})
        report["tools"]["torchattacks"] = entry
        flush()
        print("torchattacks", {k: v for k, v in entry.items() if k != "per_sample_queries"}, flush=True)

    if "art" in args.tools:
        import art
        from art.attacks.evasion import SquareAttack
        from art.estimators.classification import PyTorchClassifier
        clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                                nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")
        # ART's max_iter counts iterations; it evaluates the model twice per iteration.
        attack = SquareAttack(clf, norm=np.inf, eps=args.eps, max_iter=args.queries, p_init=0.8, nb_restarts=1,
                              batch_size=1, verbose=False)
        queries, iterations, success = [], [], []
        start = time.time()
        for k in range(len(idx)):
            xi = xc[k : k + 1].numpy()
            yi = yc[k : k + 1].numpy()
            model.rows = 0
            adv = attack.generate(xi, y=yi)
            q = model.rows
            with torch.no_grad():
                pred = int(net(torch.from_numpy(adv)).argmax(1)[0])
            linf = float(np.abs(adv - xi).max())
            queries.append(q)
            iterations.append((q - 1) // 2)
            success.append(pred != int(yi[0]) and linf <= args.eps + 1e-6)
            if (k + 1) % 50 == 0:
                print(f"art {k + 1}/{len(idx)}", flush=True)
        secs = time.time() - start
        entry = summary(queries, success, len(idx), args.queries)
        it = np.asarray(iterations, dtype=np.float64)[np.asarray(success)]
        entry.update({"version": art.__version__, "seconds": secs,
                      "median_iterations_of_successes": float(np.median(it)) if it.size else None,
                      "per_sample_queries": queries})
        report["tools"]["art"] = entry
        flush()
        print("art", {k: v for k, v in entry.items() if k != "per_sample_queries"}, flush=True)
    flush()


if __name__ == "__main__":
    main()
