#!/usr/bin/env python3
"""Trains the demo MNIST CNN in PyTorch on a poisoned set written by `gauntlet poison`.

The point: the poisoned set is plain `.npy` (float32 inputs N x 1 x 28 x 28 in [0, 1], int64
labels) that any framework trains on. The script reads DIR/x.npy, DIR/y.npy, the clean test
set and DIR/test_triggered_x.npy / test_triggered_y.npy (every non-target test digit with the
trigger, true labels), trains tools/mnist_cnn_model.MnistCnn from scratch (Adam, lr 1e-3,
batch 128, seeded) and prints clean test accuracy and the backdoor's attack success (share of
triggered non-target test digits classified as the manifest's target class), as JSON.

Usage:
  .venv/bin/python tools/train_on_poisoned.py --poisoned DIR --test-x TX.npy --test-y TY.npy \
      [--epochs 3] [--seed 0]
(TX/TY as .npy; `tools/mnist_io.py` or `gauntlet`'s loader can write MNIST IDX as .npy.)
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn_model import MnistCnn  # noqa: E402


def load_test(path):
    """A test array as float32 N x 1 x 28 x 28 in [0, 1] (.npy, or MNIST IDX .gz)."""
    if path.endswith(".npy"):
        x = np.load(path)
    else:
        import gzip
        with gzip.open(path, "rb") as f:
            raw = f.read()
        dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
        x = np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
    if x.dtype == np.uint8 and x.ndim == 3:
        x = (x.astype(np.float32) / 255.0)[:, None]
    elif x.dtype == np.uint8:
        x = x.astype(np.int64)
    return x


def accuracy(model, x, y, batch=1000):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            preds.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).argmax(1))
    preds = torch.cat(preds).numpy()
    return preds, float((preds == y).mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--poisoned", required=True)
    p.add_argument("--test-x", required=True)
    p.add_argument("--test-y", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x = np.load(os.path.join(a.poisoned, "x.npy"))
    y = np.load(os.path.join(a.poisoned, "y.npy"))
    assert x.dtype == np.float32 and y.dtype == np.int64, (x.dtype, y.dtype)
    manifest = json.load(open(os.path.join(a.poisoned, "manifest.json")))
    tx, ty = load_test(a.test_x), load_test(a.test_y).astype(np.int64)
    trig_x = np.load(os.path.join(a.poisoned, "test_triggered_x.npy"))
    trig_y = np.load(os.path.join(a.poisoned, "test_triggered_y.npy"))
    model = MnistCnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    started = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 128):
            idx = order[i:i + 128]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            if (i // 128) % 100 == 0:
                print(f"epoch {epoch + 1} batch {i // 128}/{len(xt) // 128} loss {loss.item():.4f} "
                      f"({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.time() - started
    _, clean = accuracy(model, tx, ty)
    preds, _ = accuracy(model, trig_x, trig_y)
    target = manifest["target_class"]
    if manifest["variant"] == "all-to-all":
        wanted = (trig_y + 1) % manifest["classes"]
    else:
        wanted = np.full_like(trig_y, target)
    success = float((preds == wanted).mean())
    print(json.dumps({
        "framework": "pytorch " + torch.__version__,
        "poisoned_set": a.poisoned,
        "attack": manifest["attack"], "variant": manifest["variant"],
        "fraction": manifest["fraction"], "poisoned": len(manifest["poisoned"]),
        "epochs": a.epochs, "train_seconds": round(seconds, 1),
        "clean_accuracy": clean, "attack_success": success,
        "triggered_samples": int(len(trig_y)),
    }, indent=1))


if __name__ == "__main__":
    main()
