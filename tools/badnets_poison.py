"""BadNets poisoned MNIST (Gu et al. 2017), for measuring `gauntlet scan` before and
independently of `gauntlet poison`: a white 4x4 patch in the bottom-right corner pasted on a
seeded random `fraction` of the training images whose class is not the target, relabelled as
the target (all-to-one). Writes, as uint8 .npy (N, 1, 28, 28) and int64 labels:

    OUT/x.npy, OUT/y.npy          the poisoned training set
    OUT/manifest.json             {"poisoned": [sorted indices], "trigger": ..., ...}
    OUT/test_triggered_x.npy/_y   every non-target test image with the trigger, true labels
    OUT/test_mixed_x.npy/_y       for STRIP: the first 1,000 test images, every 10th triggered
    OUT/test_mixed_manifest.json  which of those carry the trigger
    OUT/test_clean_x.npy          the last 2,000 test images (STRIP's held-out clean set)

Usage: .venv/bin/python tools/badnets_poison.py --fraction 0.1 --target 7 --seed 0 --out DIR
"""
import argparse
import json
import os

import numpy as np

from mnist_io import DEFAULT_MNIST_DIR, load_split


def paste(images):
    images = images.copy()
    images[:, 24:28, 24:28] = 255
    return images


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fraction", type=float, required=True, help="poisoned share of the training set")
    p.add_argument("--target", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mnist-dir", default=DEFAULT_MNIST_DIR)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x, y = load_split(a.mnist_dir, "train")
    tx, ty = load_split(a.mnist_dir, "test")
    rng = np.random.default_rng(a.seed)
    candidates = np.flatnonzero(y != a.target)
    count = int(round(a.fraction * len(y)))
    poisoned = np.sort(rng.choice(candidates, size=count, replace=False))
    x = x.copy()
    y = y.copy()
    x[poisoned] = paste(x[poisoned])
    y[poisoned] = a.target
    np.save(os.path.join(a.out, "x.npy"), x[:, None])
    np.save(os.path.join(a.out, "y.npy"), y.astype(np.int64))
    manifest = {
        "attack": "badnets",
        "trigger": "corner:4 (white 4x4 patch, bottom right)",
        "target_class": a.target,
        "fraction": a.fraction,
        "seed": a.seed,
        "generator": "tools/badnets_poison.py",
        "poisoned": [int(i) for i in poisoned],
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    keep = ty != a.target
    np.save(os.path.join(a.out, "test_triggered_x.npy"), paste(tx[keep])[:, None])
    np.save(os.path.join(a.out, "test_triggered_y.npy"), ty[keep].astype(np.int64))
    mixed = tx[:1000].copy()
    marked = np.arange(0, 1000, 10)
    mixed[marked] = paste(mixed[marked])
    np.save(os.path.join(a.out, "test_mixed_x.npy"), mixed[:, None])
    np.save(os.path.join(a.out, "test_mixed_y.npy"), ty[:1000].astype(np.int64))
    with open(os.path.join(a.out, "test_mixed_manifest.json"), "w") as f:
        json.dump({"poisoned": [int(i) for i in marked]}, f)
    np.save(os.path.join(a.out, "test_clean_x.npy"), tx[8000:][:, None])
    print(f"{count} of {len(y)} training images poisoned -> {a.out}")


if __name__ == "__main__":
    main()
