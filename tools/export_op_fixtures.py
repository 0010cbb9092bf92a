#!/usr/bin/env python3
"""Export the ONNX fixtures for the operators of modern vision models.

Tiny configurations of torchvision's own VisionTransformer, ConvNeXt and SwinTransformer
(the code of ViT-B/16, ConvNeXt-T and Swin-T, so their exports hold the same operators), a
MobileNetV3-style depthwise-separable block, and a model that exercises the remaining
operators (GroupNorm, InstanceNorm, Resize, Einsum, TopK, Split, Tile, Mish, ...). Each is
exported with the legacy TorchScript exporter (opset 17) and most also with the dynamo
exporter (opset 18, name suffix `_dynamo`). Graphs for operator forms the exporters do not
emit are built by hand (tools/onnx_graph_fixtures.py).

Like tools/export_fixtures.py (whose helpers this reuses), for each <name> it writes
fixtures/onnx/<name>.onnx, <name>.input.npy (float32, batch of 3, uniform in [0,1), seeded)
and <name>.expected.npy (onnxruntime's outputs, CPU EP, optimizations disabled), and it
lists the operators of every file in fixtures/onnx/OPS.md.

Weights are random (fixed seeds). Parameters that torchvision initializes to constants are
drawn at random so that their operators matter: norm scales and biases, ConvNeXt's layer
scale (1e-6), ViT's classifier head (zeros), Swin's relative position bias (std 0.02).

Usage (from the repo root):
    .venv/bin/python tools/export_op_fixtures.py
"""
import collections
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_fixtures import OUT_DIR, check_dynamic_batch, describe, ort_run  # noqa: E402
import onnx_graph_fixtures as graphs  # noqa: E402
from onnx_export_util import export_dynamo, export_legacy  # noqa: E402


def tiny_vit():
    return VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2,
                             hidden_dim=16, mlp_dim=32, num_classes=10)


def tiny_convnext():
    return ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)], num_classes=10)


def tiny_swin():
    # 16x16 -> 8x8 patches of 16 channels, 4x4 windows; the second block shifts them by 2.
    return SwinTransformer(patch_size=[2, 2], embed_dim=16, depths=[2], num_heads=[2],
                           window_size=[4, 4], num_classes=10)


class DwSeparable(nn.Module):
    """MobileNetV3-style: stem, depthwise 3x3, squeeze-excitation, pointwise 1x1."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
                                nn.BatchNorm2d(8), nn.ReLU6())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.SiLU(),
                                nn.Conv2d(4, 8, 1), nn.Hardsigmoid())
        self.pw = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16),
                                nn.Hardswish())
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x)
        y = y * self.se(y)
        # A BatchNorm after an activation survives the exporter's Conv+BN folding.
        y = self.bn(self.pw(y))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class OpsMisc(nn.Module):
    """The remaining operators, each feeding the logits."""

    def __init__(self):
        super().__init__()
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.proj = nn.Parameter(torch.randn(4, 3) * 0.5)
        sizes = [4 * 16 * 16, 4 * 12 * 12, 4 * 12 * 12, 4 * 10 * 10, 5, 4 * 8 * 8 * 4, 8 * 8, 4 * 8 * 4]
        self.fc = nn.Linear(sum(sizes), 10)

    def forward(self, x):                                       # N,4,8,8
        g = self.gn(x)                                          # GroupNormalization (or decomposed)
        i = self.inorm(x)                                       # InstanceNormalization
        up = F.interpolate(g, scale_factor=2.0, mode="nearest")  # Resize nearest, asymmetric, floor
        lin = F.interpolate(i, size=(12, 12), mode="bilinear", align_corners=False)  # pytorch_half_pixel
        cor = F.interpolate(x, size=(12, 12), mode="bilinear", align_corners=True)   # align_corners
        cub = F.interpolate(x, size=(10, 10), mode="bicubic", align_corners=False)   # cubic
        s = torch.softmax(x, dim=1)                             # Softmax on axis 1 of a 4-D tensor
        e = torch.einsum("nchw,cd->nhwd", s, self.proj)         # Einsum
        top = torch.topk(e.flatten(1), k=5, dim=1).values       # TopK (values)
        a, b = torch.split(x, [1, 3], dim=1)                    # Split
        t = torch.cat([a.repeat(1, 2, 1, 1), b[:, :2]], 1)      # Tile
        m = F.mish(t) + torch.sin(t) * torch.cos(b[:, :1])       # Mish, Sin, Cos
        w = torch.where(x > 0.5, x, 0.1 * x)                    # Greater, Where
        f = torch.fmod(w * 3.0, 1.3)                            # Mod (fmod=1)
        q = torch.cat([m, w, f, torch.maximum(w, f)], 1)        # Max
        idx = s.argmax(dim=1, keepdim=True)                     # ArgMax
        picked = torch.gather(x, 1, idx)                        # GatherElements
        rows = torch.arange(x.shape[2], dtype=torch.float32)    # Range (legacy: from Shape)
        picked = picked + rows.view(1, 1, -1, 1) * 0.01
        left, right = x.chunk(2, dim=3)                         # Split in equal parts
        feats = [up, lin, cor, cub, top.unsqueeze(1), q, picked, left * right]
        return self.fc(torch.cat([v.flatten(1) for v in feats], 1))


def randomize(model, gen):
    """Random values for the parameters torchvision sets to constants (see the docstring)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.BatchNorm2d)):
                if getattr(mod, "weight", None) is not None:
                    mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) + 0.5)
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.2)
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                mod.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            if hasattr(mod, "layer_scale"):
                mod.layer_scale.copy_(torch.rand(mod.layer_scale.shape, generator=gen) + 0.5)
            if hasattr(mod, "relative_position_bias_table"):
                t = mod.relative_position_bias_table
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5)
        if isinstance(model, VisionTransformer):
            head = model.heads.head
            head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * 0.2)
            head.bias.copy_(torch.randn(head.bias.shape, generator=gen) * 0.2)


# name, constructor, input shape (without batch), exporters, seed
NETS = [
    ("vit_tiny", tiny_vit, (3, 16, 16), ("legacy", "dynamo"), 11),
    ("convnext_tiny", tiny_convnext, (3, 16, 16), ("legacy", "dynamo"), 12),
    ("swin_tiny", tiny_swin, (3, 16, 16), ("legacy", "dynamo"), 13),
    ("dw_separable", DwSeparable, (3, 16, 16), ("legacy",), 14),
    ("ops_misc", OpsMisc, (4, 8, 8), ("legacy", "dynamo"), 15),
]

# Hand-built graphs (tools/onnx_graph_fixtures.py): name, builder, seed of the input
GRAPHS = [
    ("norm_ops_opset18", lambda: graphs.norm_graph(18), 16),
    ("norm_ops_opset21", lambda: graphs.norm_graph(21), 17),
    ("einsum_forms", graphs.einsum_graph, 18),
    ("resize_modes", graphs.resize_graph, 19),
    ("select_logic_scatter", graphs.select_graph, 20),
    ("softmax_opset11", graphs.legacy_softmax_graph, 21),
]

OPSET = {"legacy": 17, "dynamo": 18}


def main():
    torch.set_num_threads(2)
    # nn.MultiheadAttention's fused fast path (taken under no_grad in eval) has no export.
    torch.backends.mha.set_fastpath_enabled(False)
    rows = []
    for base, ctor, shape, exporters, seed in NETS:
        torch.manual_seed(seed)
        model = ctor()
        randomize(model, torch.Generator().manual_seed(seed + 100))
        model.eval()
        x = np.random.default_rng(seed).random((3,) + shape, dtype=np.float32)
        for exporter in exporters:
            name = base if exporter == "legacy" else f"{base}_{exporter}"
            path = os.path.join(OUT_DIR, f"{name}.onnx")
            opset = OPSET[exporter]
            if exporter == "legacy":
                export_legacy(model, torch.zeros((1,) + shape), path, opset=opset)
            else:
                export_dynamo(model, torch.zeros((2,) + shape), path, opset=opset)
            y = ort_run(path, x)
            with torch.no_grad():
                diff = float(np.abs(y - model(torch.from_numpy(x)).numpy()).max())
            np.save(os.path.join(OUT_DIR, f"{name}.input.npy"), x)
            np.save(os.path.join(OUT_DIR, f"{name}.expected.npy"), y)
            got_opset, counts = describe(path)
            assert got_opset == opset, (name, got_opset, opset)
            assert check_dynamic_batch(path, shape), name
            size = os.path.getsize(path)
            rows.append((name, exporter, opset, counts, x.shape, y.shape, diff, size))
            print(f"{name}: opset {opset}, {size} bytes, |ORT-torch| {diff:.2e}, ops {sorted(counts)}")
    import onnx

    for name, build, seed in GRAPHS:
        path = os.path.join(OUT_DIR, f"{name}.onnx")
        model = build()
        onnx.save(model, path)
        opset = model.opset_import[0].version
        dims = model.graph.input[0].type.tensor_type.shape.dim[1:]
        shape = tuple(d.dim_value for d in dims)
        x = np.random.default_rng(seed).random((3,) + shape, dtype=np.float32)
        y = ort_run(path, x)
        np.save(os.path.join(OUT_DIR, f"{name}.input.npy"), x)
        np.save(os.path.join(OUT_DIR, f"{name}.expected.npy"), y)
        counts = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
        size = os.path.getsize(path)
        rows.append((name, "onnx.helper", opset, counts, x.shape, y.shape, float("nan"), size))
        print(f"{name}: opset {opset}, {size} bytes, ops {sorted(counts)}")
    write_ops(rows)


def write_ops(rows):
    lines = [
        "# Operator fixtures for modern vision models",
        "",
        "Generated by `tools/export_op_fixtures.py` (do not edit by hand); same conventions as",
        "README.md (input `input`, output `logits`, dynamic batch, a batch of 3 uniform inputs,",
        "outputs from onnxruntime with optimizations disabled). `legacy` is",
        "`torch.onnx.export(..., dynamo=False)`, `dynamo` is `dynamo=True`; `onnx.helper` graphs",
        "are built by hand (no torch model, so no ORT−torch column).",
        "",
        "| name | exporter | opset | input | output | bytes | max abs ORT−torch |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, exporter, opset, counts, xs, ys, diff, size in rows:
        lines.append(f"| {name} | {exporter} | {opset} | {list(xs)} | {list(ys)} | {size} | {diff:.1e} |")
    lines += ["", "## Op types per file", "", "(node counts in parentheses)", ""]
    for name, exporter, opset, counts, *_ in rows:
        ops = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))
        lines.append(f"* **{name}** (opset {opset}): {ops}")
    lines.append("")
    with open(os.path.join(OUT_DIR, "OPS.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
