#!/usr/bin/env python3
"""Traffic-sign CNN for the physical-patch demo (issue 15): renders a training set with
tools/render_signs.py in memory (default 20,000 images, seed 1, balanced over the 10 classes),
trains a small CNN in torch and exports it to models/signs_cnn.onnx, then checks it with
onnxruntime on the shipped held-out set data/signs-demo/{x,y}.npy (seed 2; written by
render_signs.py) and on the shipped attacker's set data/signs-demo/train_{x,y}.npy (seed 3).

Network: Conv(3->32,3,pad 1)+BN+ReLU+MaxPool2, Conv(32->64,3,pad 1)+BN+ReLU+MaxPool2,
Conv(64->64,3,pad 1)+BN+ReLU, Flatten, Linear(4096->128)+ReLU, Linear(128->10).
Input `input`: float32 N x 3 x 32 x 32, pixels / 255 in [0, 1] (no normalization);
output `logits`: N x 10. Opset 13, legacy TorchScript exporter, dynamic batch axis
(BatchNormalization folded into the convolutions by the exporter).

    .venv/bin/python tools/render_signs.py     # the shipped data (once)
    .venv/bin/python tools/train_signs.py      # [--n 20000 --seed 1 --epochs 8 --out models/signs_cnn.onnx]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_export_util import export_legacy  # noqa: E402
from render_signs import NAMES, render  # noqa: E402


def build(classes):
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def accuracy_torch(model, x, y, batch=500):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return (pred == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="training images to render")
    parser.add_argument("--seed", type=int, default=1, help="render seed of the training set (torch seeded by it too)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "models/signs_cnn.onnx"))
    parser.add_argument("--data", default=str(ROOT / "data/signs-demo"), help="shipped sets checked with onnxruntime")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    x_np, y_np, _ = render(args.n, args.seed)
    print(f"rendered {args.n} training images (seed {args.seed}) in {time.time() - t0:.0f} s")
    x = torch.from_numpy(x_np).float() / 255
    y = torch.from_numpy(y_np)
    vx_np, vy_np, _ = render(1000, 1000 + args.seed)  # a validation set, disjoint seed
    vx, vy = torch.from_numpy(vx_np).float() / 255, torch.from_numpy(vy_np)

    model = build(len(NAMES))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * ((args.n + args.batch - 1) // args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    for epoch in range(args.epochs):
        model.train()
        perm = torch.from_numpy(rng.permutation(args.n))
        total, t1 = 0.0, time.time()
        for start in range(0, args.n, args.batch):
            idx = perm[start:start + args.batch]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / args.n:.4f}, "
              f"validation accuracy {accuracy_torch(model, vx, vy):.4f} ({time.time() - t1:.0f} s)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_legacy(model, x[:2], str(out), opset=13)
    print(f"wrote {out}")

    import onnx
    import onnxruntime as ort
    onnx.checker.check_model(onnx.load(str(out)))
    ops = sorted({node.op_type for node in onnx.load(str(out)).graph.node})
    print("ONNX ops:", ", ".join(ops))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    data = Path(args.data)
    for prefix, what in (("", "held-out test set (seed 2)"), ("train_", "attacker's set (seed 3)")):
        if not (data / f"{prefix}x.npy").exists():
            print(f"no {data / (prefix + 'x.npy')}: run tools/render_signs.py first")
            continue
        xs = np.load(data / f"{prefix}x.npy").astype(np.float32) / 255
        ys = np.load(data / f"{prefix}y.npy")
        logits = session.run(["logits"], {"input": xs})[0]
        pred = logits.argmax(1)
        torch_acc = accuracy_torch(model, torch.from_numpy(xs), torch.from_numpy(ys))
        print(f"{data.name}/{prefix}x.npy, {what}: onnxruntime accuracy {np.mean(pred == ys):.4f} "
              f"({int(np.sum(pred == ys))}/{len(ys)}), torch {torch_acc:.4f}")
        per_class = [f"{NAMES[k]} {np.mean(pred[ys == k] == k):.2f}" for k in range(len(NAMES))]
        print("  per class:", ", ".join(per_class))


if __name__ == "__main__":
    main()
