#!/usr/bin/env python3
"""An audit's spatial results (`gauntlet audit --spatial`) outside gauntlet: every recorded
transformation re-applied with PyTorch's affine_grid + grid_sample (bilinear, zero padding,
align_corners=True: the same resampling as gauntlet's spatial/transform.rs, with the fill at
0) and judged by onnxruntime.

For each sample of OUT/samples.jsonl and each search (grid, random, worst of k random) it
compares onnxruntime's prediction with the one gauntlet recorded, and recounts robust accuracy
under the grid search from onnxruntime's answers.

Usage:
    .venv/bin/python tools/check_spatial.py MODEL.onnx X.npy Y.npy OUT_DIR
"""
import json
import math
import sys

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F


def transform(picture, rotation_deg, dx, dy):
    """gauntlet's Transform::apply: counter-clockwise on screen, then (dx right, dy down)."""
    _, h, w = picture.shape
    t = math.radians(rotation_deg)
    c, s = math.cos(t), math.sin(t)
    # align_corners=True: one pixel is 2/(W-1) in normalized coordinates.
    px, py = 2 / (w - 1), 2 / (h - 1)
    a = np.array([[c, -s * px / py, 0.0], [s * py / px, c, 0.0]])
    a[:, 2] = -(a[:, :2] @ np.array([dx * px, dy * py]))
    grid = F.affine_grid(torch.tensor(a[None], dtype=torch.float32), (1, *picture.shape), align_corners=True)
    moved = F.grid_sample(torch.tensor(picture[None]), grid, mode="bilinear", padding_mode="zeros",
                          align_corners=True)
    return moved[0].numpy()


def main(model, x_path, y_path, out):
    x = np.load(x_path)
    x = (x / 255.0 if x.dtype == np.uint8 else x).astype(np.float32)
    y = np.load(y_path)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    lines = [json.loads(line) for line in open(f"{out}/samples.jsonl")]
    agree = total = robust = 0
    for line in lines:
        i = line["index"]
        for kind in ("grid", "random", "worst_of_random"):
            v = line["spatial"][kind]
            if v is None:
                continue
            moved = transform(x[i], v["rotation_deg"], v["dx"], v["dy"])
            said = int(session.run(None, {name: moved[None]})[0].argmax())
            total += 1
            agree += said == v["prediction"]
            if kind == "grid" and said == y[i]:
                robust += 1
    print(f"{agree}/{total} recorded predictions agree with onnxruntime on PyTorch-resampled pictures")
    print(f"robust accuracy under the grid search, recounted: {100 * robust / len(lines):.1f} %")
    return 0 if agree == total else 1


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
