#!/usr/bin/env python3
"""Export small ONNX test fixtures for gauntlet's ONNX interpreter.

For each net <name> this writes, under fixtures/onnx/:
    <name>.onnx          the model (legacy TorchScript exporter, dynamo=False),
                         input 'input', output 'logits', dynamic batch axis 0
    <name>.input.npy     float32, a batch of 3 inputs uniform in [0,1) (seeded)
    <name>.expected.npy  float32, outputs computed by onnxruntime (CPU EP,
                         ORT_DISABLE_ALL graph optimizations) on that input
Also fixtures/onnx/mnist_cnn.{input,expected}.npy for models/mnist_cnn.onnx
(3 real MNIST test images, /255, ORT outputs), and fixtures/onnx/README.md
listing the opset and op types of every file.

The weights are random (fixed seeds): the fixtures only test forward (and
gradient) correctness of an interpreter, not accuracy.

Usage (from the repo root; run tools/train_mnist_cnn.py first for mnist_cnn):
    .venv/bin/python tools/export_fixtures.py
"""
import collections
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_io import DEFAULT_MNIST_DIR, REPO_ROOT, load_split  # noqa: E402
from onnx_export_util import export_legacy  # noqa: E402

OUT_DIR = os.path.join(REPO_ROOT, "fixtures", "onnx")


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)
        )

    def forward(self, x):
        return self.net(x)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)   # 28 -> 28
        self.p1 = nn.AvgPool2d(2, 2)              # -> 14
        self.c2 = nn.Conv2d(6, 16, 5)             # -> 10
        self.p2 = nn.MaxPool2d(2)                 # -> 5
        self.f1 = nn.Linear(16 * 5 * 5, 84)
        self.f2 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.p1(torch.sigmoid(self.c1(x)))
        x = self.p2(F.relu(self.c2(x)))
        x = x.view(x.size(0), -1)  # -> Shape/Gather/Unsqueeze/Concat/Reshape
        return self.f2(F.relu(self.f1(x)))


class PreActBlock(nn.Module):
    """Pre-activation residual block: BN -> ReLU -> Conv -> BN -> ReLU -> Conv, + skip.

    The first BN follows a ReLU/Add (not a Conv), so the legacy exporter's eval
    Conv+BN fusion cannot remove it and a BatchNormalization node survives; the
    second BN follows a Conv and is folded into it.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class ResNetBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)         # 16x16
        self.block1 = PreActBlock(8, 8, 1)                # 16x16, identity skip
        self.block2 = PreActBlock(8, 16, 2)               # 8x8, stride-2 + 1x1 conv skip
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)               # GlobalAveragePool
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.block2(self.block1(x))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class MaxPoolK3S2P1(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),                                  # 17x17
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),               # 9x9
            nn.Conv2d(8, 8, 3, stride=1, dilation=2, groups=2),             # 5x5
            nn.LeakyReLU(0.1),
            nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),  # 3x3
            nn.Flatten(),
            nn.Linear(8 * 3 * 3, 10),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


class OpsMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.gelu = nn.GELU()  # exact erf form
        self.dropout = nn.Dropout(0.3)
        self.w = nn.Parameter(torch.randn(4, 6) * 0.5)
        self.fc = nn.Linear(60, 10, bias=False)

    def forward(self, x):                                  # N,2,8,8
        p = F.pad(x, (1, 1, 2, 0), mode="constant", value=0.5)  # N,2,10,10  Pad
        g = self.gelu(p)                                   # Erf-based GELU
        s = torch.sqrt(p + 1.0)                            # Add, Sqrt
        e = torch.exp(-p)                                  # Neg, Exp
        lg = torch.log(p + 2.0)                            # Log
        q = g.pow(2) - s / (e + 1.0) + 0.5 * lg            # Pow, Sub, Div, Mul
        q = torch.clamp(q, min=-1.0, max=1.5)              # Clip
        q = self.dropout(q)                                # identity in eval
        c = torch.cat([q, p], dim=1)                       # N,4,10,10  Concat
        t = c.permute(0, 2, 3, 1)                          # N,10,10,4  Transpose
        m = t.mean(dim=2, keepdim=True)                    # N,10,1,4   ReduceMean
        m = m.squeeze(2)                                   # N,10,4     Squeeze
        h = torch.matmul(m, self.w)                        # N,10,6     MatMul
        sm = torch.softmax(h, dim=-1)                      # Softmax
        u = sm.unsqueeze(1).transpose(2, 3)                # N,1,6,10   Unsqueeze, Transpose
        f = torch.flatten(u, 1)                            # N,60
        return self.fc(f)                                  # Linear w/o bias


class GemmTrans(nn.Module):
    def __init__(self):
        super().__init__()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, 10)  # Gemm transB=1 with bias C

    def forward(self, x):
        return self.fc(self.flat(x))


def randomize_bn(model, gen):
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                mod.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=gen) * 0.2)


# name, constructor, input shape (without batch), opset, seed
NETS = [
    ("mlp", Mlp, (1, 28, 28), 11, 1),
    ("lenet", LeNet, (1, 28, 28), 13, 2),
    ("resnet_bn", ResNetBn, (3, 16, 16), 13, 3),
    ("maxpool_k3s2p1", MaxPoolK3S2P1, (3, 17, 17), 17, 4),
    ("ops_mix", OpsMix, (2, 8, 8), 18, 5),
    ("gemm_trans", GemmTrans, (4, 4), 11, 6),
]


def ort_run(path, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input": x})[0].astype(np.float32)


def describe(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    counts = collections.Counter(n.op_type for n in m.graph.node)
    return opset, counts


def check_dynamic_batch(path, shape):
    x = np.random.default_rng(123).random((5,) + shape, dtype=np.float32)
    return ort_run(path, x).shape[0] == 5


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT_DIR, exist_ok=True)
    rows = []
    for name, ctor, shape, opset, seed in NETS:
        torch.manual_seed(seed)
        model = ctor()
        randomize_bn(model, torch.Generator().manual_seed(seed + 100))
        model.eval()
        path = os.path.join(OUT_DIR, f"{name}.onnx")
        export_legacy(model, torch.zeros((1,) + shape), path, opset=opset)
        x = np.random.default_rng(seed).random((3,) + shape, dtype=np.float32)
        y = ort_run(path, x)
        with torch.no_grad():
            y_torch = model(torch.from_numpy(x)).numpy()
        diff = float(np.abs(y - y_torch).max())
        np.save(os.path.join(OUT_DIR, f"{name}.input.npy"), x)
        np.save(os.path.join(OUT_DIR, f"{name}.expected.npy"), y)
        got_opset, counts = describe(path)
        assert got_opset == opset, (name, got_opset, opset)
        dyn = check_dynamic_batch(path, shape)
        size = os.path.getsize(path)
        rows.append((name, f"fixtures/onnx/{name}.onnx", opset, counts, x.shape, y.shape, diff, size, dyn))
        print(f"{name}: opset {opset}, {size} bytes, in {x.shape} out {y.shape}, "
              f"|ORT-torch| {diff:.2e}, dyn batch ok {dyn}, ops {sorted(counts)}")

    # mnist_cnn: 3 real test images
    mnist_path = os.path.join(REPO_ROOT, "models", "mnist_cnn.onnx")
    if os.path.exists(mnist_path):
        xs, ys = load_split(os.environ.get("MNIST_DIR", DEFAULT_MNIST_DIR), "test")
        x = (xs[:3].astype(np.float32) / 255.0).reshape(3, 1, 28, 28)
        y = ort_run(mnist_path, x)
        np.save(os.path.join(OUT_DIR, "mnist_cnn.input.npy"), x)
        np.save(os.path.join(OUT_DIR, "mnist_cnn.expected.npy"), y)
        opset, counts = describe(mnist_path)
        diff = float("nan")
        pt_path = os.path.join(REPO_ROOT, "models", "mnist_cnn.pt")
        if os.path.exists(pt_path):
            from mnist_cnn_model import MnistCnn
            m = MnistCnn()
            m.load_state_dict(torch.load(pt_path, map_location="cpu"))
            m.eval()
            with torch.no_grad():
                diff = float(np.abs(m(torch.from_numpy(x)).numpy() - y).max())
        rows.append(("mnist_cnn", "models/mnist_cnn.onnx", opset, counts, x.shape, y.shape, diff,
                     os.path.getsize(mnist_path), check_dynamic_batch(mnist_path, (1, 28, 28))))
        print(f"mnist_cnn: labels {ys[:3].tolist()}, ORT argmax {y.argmax(1).tolist()}, "
              f"|ORT-torch| {diff:.2e}, ops {sorted(counts)}")
    else:
        print("models/mnist_cnn.onnx missing: run tools/train_mnist_cnn.py first; skipping mnist_cnn fixture")

    write_readme(rows)


def write_readme(rows):
    lines = [
        "# ONNX interpreter fixtures",
        "",
        "Generated by `tools/export_fixtures.py` (do not edit by hand). Regenerate from the repo root with",
        "",
        "    .venv/bin/python tools/train_mnist_cnn.py   # only needed for models/mnist_cnn.onnx",
        "    .venv/bin/python tools/export_fixtures.py",
        "",
        f"Versions: torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__}.",
        "",
        "Each `<name>.onnx` was exported with the legacy TorchScript exporter (`dynamo=False`,",
        "`do_constant_folding=True`, model in eval mode), input name `input`, output name `logits`,",
        "dynamic batch axis 0 on both. Weights are random with fixed seeds.",
        "",
        "* `<name>.input.npy` — float32, a batch of 3 inputs, uniform in [0,1)",
        "  (`np.random.default_rng(seed).random(...)`); for `mnist_cnn` the first 3 MNIST test images / 255.",
        "* `<name>.expected.npy` — float32 outputs computed by **onnxruntime** (CPU EP, graph",
        "  optimizations disabled) on that input, not by torch. The |ORT − torch| column is for",
        "  information only.",
        "",
        "The model for the `mnist_cnn` fixture is `models/mnist_cnn.onnx`.",
        "",
        "| name | file | opset | input | output | bytes | max abs ORT−torch |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, path, opset, counts, xs, ys, diff, size, dyn in rows:
        lines.append(f"| {name} | `{path}` | {opset} | {list(xs)} | {list(ys)} | {size} | {diff:.1e} |")
    lines += ["", "## Op types per file", "", "(node counts in parentheses)", ""]
    for name, path, opset, counts, xs, ys, diff, size, dyn in rows:
        ops = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))
        lines.append(f"* **{name}** (opset {opset}): {ops}")
    lines += [
        "",
        "## Notes",
        "",
        "* `resnet_bn` uses pre-activation residual blocks. In eval mode the legacy exporter folds a",
        "  BatchNorm that directly follows a Conv into the Conv's weights, so only the BatchNorms that",
        "  follow a ReLU or Add survive as `BatchNormalization` nodes (running stats, gamma and beta were",
        "  set to non-trivial random values before export). Block 2 has a stride-2 3x3 conv and a",
        "  stride-2 1x1 conv on the skip path; block 1 has an identity skip.",
        "* `lenet` keeps `x.view(x.size(0), -1)`, which exports as Shape → Gather → Unsqueeze → Concat →",
        "  Reshape because the batch axis is dynamic.",
        "* `maxpool_k3s2p1`: MaxPool k3 s2 p1 (17→9), grouped dilated conv (groups 2, dilation 2; 9→5),",
        "  AveragePool k3 s2 p1 with `ceil_mode=1`, `count_include_pad=0` (5→3), LogSoftmax.",
        "* `ops_mix`: `F.pad(x, (1, 1, 2, 0), value=0.5)` pads W by 1/1 and H by 2/0 (asymmetric);",
        "  Dropout (p=0.3) is in eval mode and the exporter drops it (no Dropout node).",
        "  The legacy exporter does not constant-fold the pads computation, so `Pad`'s `pads` input",
        "  is computed in-graph from int64 Constants: ConstantOfShape([4]) → Concat([1,1,2,0], zeros)",
        "  → Reshape([-1,2]) → Slice(starts -1, ends INT64_MIN+1, axes 0, steps -1; i.e. reverse rows)",
        "  → Transpose(perm [1,0]) → Reshape([-1]) → Cast(int64) → Pad(mode constant, value 0.5),",
        "  giving pads [0,0,2,1, 0,0,0,1]. Opset 18 also makes ReduceMean/Squeeze/Unsqueeze take axes",
        "  as an input tensor. The bias-free Linear exports as MatMul with a pre-transposed",
        "  initializer; GELU exports as x * 0.5 * (1 + Erf(x / sqrt(2))) (Div, Erf, Add, Mul, Mul).",
        "",
    ]
    with open(os.path.join(OUT_DIR, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
