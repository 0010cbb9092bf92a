#!/usr/bin/env python3
"""Write the gauntlet MNIST demo subset: the first N (default 1000) images of the
MNIST test set (t10k), in file order.

Outputs (standard .npy v1.0 via np.save):
    data/mnist-demo/x.npy  uint8, shape (N, 1, 28, 28), raw pixel values 0..255
    data/mnist-demo/y.npy  int64, shape (N,)
    data/mnist-demo/README.md  attribution + provenance

Usage (from the repo root):
    .venv/bin/python tools/make_demo_data.py [--mnist-dir DIR] [--n 1000]
"""
import argparse
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_io import DEFAULT_MNIST_DIR, REPO_ROOT, load_split  # noqa: E402

README = """# mnist-demo

A small subset of the MNIST handwritten-digit database used by gauntlet's demos,
examples and tests.

* `x.npy` — `uint8`, shape `({n}, 1, 28, 28)`, raw pixel values 0..255
  (divide by 255 to get the `[0, 1]` inputs that `models/mnist_cnn.onnx` expects).
* `y.npy` — `int64`, shape `({n},)`, the digit labels 0..9.

Both are standard NumPy `.npy` files (format version 1.0, little-endian, C order).

## Subset

The first {n} images (and their labels) of the MNIST **test** set
(`t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`), in file order, unmodified.
Label counts: {counts}.

## How it was produced

`tools/make_demo_data.py` reads the original gzip IDX files
(`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`) with `gzip` + `numpy`,
takes the first {n} records and writes them with `np.save`. Regenerate with

    .venv/bin/python tools/make_demo_data.py --mnist-dir /path/to/mnist

SHA-256: `x.npy` {sha_x}, `y.npy` {sha_y}.

## Attribution and licence

MNIST database of handwritten digits — Yann LeCun, Corinna Cortes and
Christopher J. C. Burges (http://yann.lecun.com/exdb/mnist/).
MNIST is a derivative of NIST Special Database 1 and Special Database 3
(NIST SD-1 / SD-3). The MNIST dataset is made available under the terms of the
Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0,
https://creativecommons.org/licenses/by-sa/3.0/); this subset is redistributed
under the same licence.
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist-dir", default=DEFAULT_MNIST_DIR)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "data", "mnist-demo"))
    args = ap.parse_args()

    x, y = load_split(args.mnist_dir, "test")
    x = np.ascontiguousarray(x[: args.n].reshape(args.n, 1, 28, 28).astype(np.uint8))
    y = np.ascontiguousarray(y[: args.n].astype(np.int64))
    os.makedirs(args.out_dir, exist_ok=True)
    xp, yp = os.path.join(args.out_dir, "x.npy"), os.path.join(args.out_dir, "y.npy")
    np.save(xp, x)
    np.save(yp, y)
    counts = ", ".join(f"{d}: {int((y == d).sum())}" for d in range(10))
    with open(os.path.join(args.out_dir, "README.md"), "w") as f:
        f.write(README.format(n=args.n, counts=counts, sha_x=sha256(xp), sha_y=sha256(yp)))
    print(f"wrote {xp} {x.shape} {x.dtype}, {yp} {y.shape} {y.dtype}; labels {counts}")


if __name__ == "__main__":
    main()
