#!/usr/bin/env python3
"""Check gauntlet's ONNX interpreter against onnxruntime on full torchvision models.

For each of ViT-B/16, ConvNeXt-T and Swin-T (random init, weights=None, eval mode) and each
PyTorch exporter (legacy TorchScript, opset 17; dynamo, opset 18) this exports the model to
OUT_DIR (default /tmp/gauntlet-torchvision; the files are 100-350 MB, never commit them),
runs a seeded batch of 2 images (224x224) through onnxruntime (CPU EP, graph optimizations
disabled) and through gauntlet's `onnx_logits` example, and prints max |Δlogit|; with
--grad it also compares the input gradient of a logit margin with PyTorch's autograd. ViT's
classifier head, which torchvision initializes to zeros, is drawn at random (std 0.02) so
that the logits are not all 0.

Usage (from the repo root):
    cargo build -p gauntlet-onnx --release --example onnx_logits
    .venv/bin/python tools/verify_torchvision_onnx.py [--bin target/release/examples/onnx_logits]
        [--models vit,convnext,swin] [--exporters legacy,dynamo] [--out-dir DIR]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import torch
import torchvision

MODELS = {
    "vit": torchvision.models.vit_b_16,
    "convnext": torchvision.models.convnext_tiny,
    "swin": torchvision.models.swin_t,
}


def build(name):
    torch.manual_seed(0)
    model = MODELS[name](weights=None).eval()
    if name == "vit":
        # torchvision zero-initializes ViT's classifier head, which would make every logit 0.
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        torch.nn.init.normal_(model.heads.head.bias, std=0.02)
    return model


def export(model, exporter, path):
    # The fused attention fast path has no ONNX export.
    torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad():
        if exporter == "legacy":
            torch.onnx.export(
                model, (torch.zeros(1, 3, 224, 224),), path, opset_version=17, dynamo=False,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        else:
            batch = torch.export.Dim("batch", min=1, max=64)
            torch.onnx.export(
                model, (torch.zeros(2, 3, 224, 224),), path, opset_version=18, dynamo=True,
                input_names=["input"], output_names=["logits"],
                dynamic_shapes={"x": {0: batch}}, external_data=False,
            )


def torch_grad(model, x, logits):
    """Input gradient of the objective onnx_logits --grad writes, by PyTorch's autograd."""
    xt = torch.from_numpy(x).requires_grad_(True)
    z = model(xt)
    p = torch.from_numpy(logits.argmax(1))
    q = (p + 1) % z.shape[1]
    rows = torch.arange(z.shape[0])
    (z[rows, p] - z[rows, q]).sum().backward()
    return xt.grad.numpy()


def ort_logits(path, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/examples/onnx_logits")
    ap.add_argument("--models", default="vit,convnext,swin")
    ap.add_argument("--exporters", default="legacy,dynamo")
    ap.add_argument("--out-dir", default="/tmp/gauntlet-torchvision")
    ap.add_argument("--grad", action="store_true",
                    help="also compare input gradients with PyTorch's autograd")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    x_path = os.path.join(args.out_dir, "input.npy")
    np.save(x_path, x)
    ok = True
    for name in args.models.split(","):
        model = build(name)
        for exporter in args.exporters.split(","):
            path = os.path.join(args.out_dir, f"{name}_{exporter}.onnx")
            if not os.path.exists(path):
                export(model, exporter, path)
            expected = ort_logits(path, x)
            out = os.path.join(args.out_dir, f"{name}_{exporter}.logits.npy")
            grad_out = os.path.join(args.out_dir, f"{name}_{exporter}.grad.npy")
            cmd = [args.bin, path, x_path, out] + (["--grad", grad_out] if args.grad else [])
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{name} {exporter}: FAILED\n{run.stderr.strip()}")
                ok = False
                continue
            got = np.load(out)
            diff = float(np.abs(got - expected).max())
            rel = diff / max(float(np.abs(expected).max()), 1e-30)
            # The bar: 1e-4 absolute or 1e-5 relative to the largest logit.
            ok = ok and (diff <= 1e-4 or rel <= 1e-5)
            print(f"{name} {exporter}: max |Δlogit| {diff:.2e} (relative to max |logit| "
                  f"{rel:.2e}); argmax equal {bool((got.argmax(1) == expected.argmax(1)).all())}; "
                  f"{run.stdout.strip()}")
            if args.grad:
                g_ref = torch_grad(model, x, expected)
                g = np.load(grad_out)
                g_rel = float(np.abs(g - g_ref).max() / np.abs(g_ref).max())
                print(f"{name} {exporter}: input gradient vs PyTorch autograd: max |Δ| / max |g| "
                      f"= {g_rel:.2e}")
                ok = ok and g_rel <= 1e-3
            sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
