#!/usr/bin/env python3
"""Per-picture upper bound for a universal patch (issue 15): for a square patch of `--side`
pixels at each position of a grid, the targeted success of an attack that may choose the
patch's pixels *for every picture separately* (gauntlet audit --mask, PGD at L-inf 1, i.e.
free pixels inside the square). One universal patch, which must fool every picture with the
same pixels, cannot do better at that position than this per-picture optimum; averaged over
positions, it bounds what a patch at a random position can reach.

Standard library only (it writes the mask PNGs itself and runs the gauntlet binary):

    python3 tools/patch_per_image_bound.py --model models/mnist_cnn.onnx \
        --inputs data/mnist-demo/x.npy --labels data/mnist-demo/y.npy --target-class 8 \
        --side 8 --size 28 --samples 1000
"""
import argparse
import json
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def png_gray(path, rows):
    """An 8-bit greyscale PNG from a list of rows of 0..255."""
    h, w = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--target-class", type=int, required=True)
    p.add_argument("--side", type=int, required=True, help="patch side in pixels")
    p.add_argument("--size", type=int, required=True, help="picture side in pixels")
    p.add_argument("--positions", type=int, default=3, help="grid positions per axis")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--restarts", type=int, default=2)
    p.add_argument("--gauntlet", default=str(ROOT / "target/debug/gauntlet"))
    args = p.parse_args()
    span = args.size - args.side
    offsets = [round(k * span / (args.positions - 1)) for k in range(args.positions)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for top in offsets:
            for left in offsets:
                mask = tmp / f"mask-{top}-{left}.png"
                png_gray(mask, [[255 if top <= y < top + args.side and left <= x < left + args.side else 0
                                 for x in range(args.size)] for y in range(args.size)])
                out = tmp / f"audit-{top}-{left}"
                subprocess.run([args.gauntlet, "audit", "--model", args.model, "--inputs", args.inputs,
                                "--labels", args.labels, "--mask", str(mask), "--attacks", "pgd",
                                "--eps", "1", "--steps", str(args.steps), "--restarts", str(args.restarts),
                                "--target-class", str(args.target_class), "--samples", str(args.samples),
                                "--out", str(out), "--quiet"], check=False, capture_output=True)
                report = json.loads((out / "report.json").read_text())
                row = report["results"][0]
                results.append((top, left, row["attack_success_rate"]))
                print(f"patch at row {top:2d}, column {left:2d}: per-picture targeted success "
                      f"{100 * row['attack_success_rate']:.1f} %", flush=True)
    mean = sum(r[2] for r in results) / len(results)
    best = max(results, key=lambda r: r[2])
    print(f"mean over positions {100 * mean:.1f} %, best position (row {best[0]}, column {best[1]}) "
          f"{100 * best[2]:.1f} %")


if __name__ == "__main__":
    main()
