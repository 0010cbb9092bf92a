#!/usr/bin/env python3
"""Face / non-face demo for region-confined attacks (issue 15): trains a small CNN on
scikit-image's `lfw_subset` (100 faces, 100 non-faces, 25x25 grey, from ../shared/data/faces;
scikit-image 0.26.0 wheel, BSD-3-Clause; the faces come from Labeled Faces in the Wild), exports
it to models/faces_cnn.onnx, and writes data/faces-demo/{x,y}.npy (all 200 images, float32
[200, 1, 25, 25] in [0, 1], labels int64: 1 face, 0 non-face), the seeded test split
(test_index.npy) and docs/data/eye-band-25.png (rows 5-9, columns 3-20: 90 of 625 pixels, 14.4 %).

    .venv/bin/python tools/train_faces.py [--source ../shared/data/faces/lfw_subset.npy]
"""
import argparse
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent


def png_gray(path, pixels):
    """A plain 8-bit greyscale PNG, standard library only."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + bytes(row) for row in pixels.astype(np.uint8))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT.parent / "shared/data/faces/lfw_subset.npy"))
    args = parser.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = np.load(args.source).astype(np.float32)[:, None, :, :]
    labels = np.array([1] * 100 + [0] * 100, dtype=np.int64)
    order = rng.permutation(200)
    test = np.sort(order[:50])
    train = np.sort(order[50:])
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 6 * 6, 64), nn.ReLU(), nn.Linear(64, 2),
    )
    x = torch.from_numpy(images)
    y = torch.from_numpy(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(60):
        model.train()
        perm = torch.from_numpy(rng.permutation(train))
        for start in range(0, len(perm), 25):
            idx = perm[start:start + 25]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    print(f"train accuracy {np.mean(pred[train] == labels[train]):.3f}, test accuracy {np.mean(pred[test] == labels[test]):.3f}")
    (ROOT / "data/faces-demo").mkdir(parents=True, exist_ok=True)
    np.save(ROOT / "data/faces-demo/x.npy", images)
    np.save(ROOT / "data/faces-demo/y.npy", labels)
    np.save(ROOT / "data/faces-demo/test_index.npy", test.astype(np.int64))
    torch.onnx.export(model, x[:1], ROOT / "models/faces_cnn.onnx", input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=13, dynamo=False)
    # The eyes sit in rows 6-9 of these crops; 5 rows x 18 columns = 90 pixels, 14.4 %.
    band = np.zeros((25, 25), dtype=np.uint8)
    band[5:10, 3:21] = 255
    (ROOT / "docs/data").mkdir(parents=True, exist_ok=True)
    png_gray(ROOT / "docs/data/eye-band-25.png", band)
    print(f"eye band: {int((band > 0).sum())} of 625 pixels")


if __name__ == "__main__":
    main()
