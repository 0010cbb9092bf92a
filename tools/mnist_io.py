"""Shared helpers: read the gzip IDX MNIST files directly (no torchvision)."""
import gzip
import os

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MNIST_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "mnist"))


def _read_idx(path, magic_expected, header_len):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic != magic_expected:
        raise ValueError(f"{path}: bad IDX magic {magic:#x}, expected {magic_expected:#x}")
    return data, header_len


def load_images(path):
    """Return uint8 array (N, 28, 28)."""
    data, h = _read_idx(path, 0x00000803, 16)
    n = int.from_bytes(data[4:8], "big")
    rows = int.from_bytes(data[8:12], "big")
    cols = int.from_bytes(data[12:16], "big")
    arr = np.frombuffer(data, dtype=np.uint8, offset=h)
    assert arr.size == n * rows * cols, (arr.size, n, rows, cols)
    return arr.reshape(n, rows, cols)


def load_labels(path):
    """Return int64 array (N,)."""
    data, h = _read_idx(path, 0x00000801, 8)
    n = int.from_bytes(data[4:8], "big")
    arr = np.frombuffer(data, dtype=np.uint8, offset=h)
    assert arr.size == n
    return arr.astype(np.int64)


def load_split(mnist_dir, split):
    prefix = "train" if split == "train" else "t10k"
    x = load_images(os.path.join(mnist_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = load_labels(os.path.join(mnist_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    assert len(x) == len(y)
    return x, y
