#!/usr/bin/env python3
"""The model zoo check: the models people ship, loaded, exact, differentiable and timed.

For every model (random init: no weights can be downloaded here) and every exporter this
  1. exports it to OUT_DIR (never committed: up to 350 MB per file);
  2. runs a seeded batch through onnxruntime (CPU EP, graph optimizations disabled) and
     through gauntlet (`onnx_logits`), and compares the logits: pass at max |Δ| ≤ 1e-4, or
     ≤ 1e-5 relative to the largest |logit| for deep nets;
  3. compares gauntlet's input gradient of a logit margin with PyTorch's autograd (torch
     models; max |Δ| / max |g|), and checks it against central differences in double
     precision on a few coordinates (`onnx_logits --fd`);
  4. runs a short PGD audit through the `gauntlet` CLI (labels: the model's own predictions);
  5. with --speed, measures forward and forward+input-gradient samples/s at --batch with
     `gauntlet bench` and PyTorch (2 threads) one after the other, with cores busy.

Models: torchvision ResNet-18/50, MobileNetV3-Small, EfficientNet-B0, DenseNet-121,
RegNetY-400MF, ConvNeXt-T, ViT-B/16, Swin-T (224x224); CIFAR-size WideResNet-28-10 and
PreAct-ResNet-18 (32x32, the architectures of most published robust models); scikit-learn
MLP and logistic regression (skl2onnx, fixtures/sklearn); the Keras CNN exported by tf2onnx
(fixtures/onnx/keras_cnn.onnx, NHWC).

Usage (from the repo root, after building the optimized binaries):
    cargo build --release -p gauntlet-cli -p gauntlet-onnx --example onnx_logits
    .venv/bin/python tools/model_zoo.py [--models resnet18,vit_b_16] [--exporters legacy,dynamo]
        [--speed] [--batch 16] [--out-dir /tmp/gauntlet-zoo] [--json results.json]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


# --- CIFAR-size robust-model architectures ------------------------------------------------
class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016), as WideResNet and PreAct-ResNet use it."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.short = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        short = x if self.short is None else self.short(o)
        return self.conv2(F.relu(self.bn2(self.conv1(o)))) + short


class WideResNet(nn.Module):
    """WRN-depth-width (Zagoruyko & Komodakis), pre-activation blocks as in robust-model code."""

    def __init__(self, depth=28, width=10, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        layers, cin = [], 16
        for i, stride in enumerate([1, 2, 2]):
            for j in range(n):
                layers.append(PreActBlock(cin, widths[i + 1], stride if j == 0 else 1))
                cin = widths[i + 1]
        self.blocks = nn.Sequential(*layers)
        self.bn, self.fc = nn.BatchNorm2d(cin), nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class PreActResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [PreActBlock(cin, cout, stride), PreActBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*layers)
        self.bn, self.fc = nn.BatchNorm2d(512), nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def torchvision_model(name):
    def build():
        model = getattr(torchvision.models, name)(weights=None)
        if name == "vit_b_16":
            # torchvision zero-initializes ViT's head, which would make every logit 0.
            nn.init.normal_(model.heads.head.weight, std=0.02)
        return model
    return build


TORCH_MODELS = {
    "resnet18": (torchvision_model("resnet18"), (3, 224, 224)),
    "resnet50": (torchvision_model("resnet50"), (3, 224, 224)),
    "mobilenet_v3_small": (torchvision_model("mobilenet_v3_small"), (3, 224, 224)),
    "efficientnet_b0": (torchvision_model("efficientnet_b0"), (3, 224, 224)),
    "densenet121": (torchvision_model("densenet121"), (3, 224, 224)),
    "regnet_y_400mf": (torchvision_model("regnet_y_400mf"), (3, 224, 224)),
    "convnext_tiny": (torchvision_model("convnext_tiny"), (3, 224, 224)),
    "vit_b_16": (torchvision_model("vit_b_16"), (3, 224, 224)),
    "swin_t": (torchvision_model("swin_t"), (3, 224, 224)),
    "wrn_28_10": (WideResNet, (3, 32, 32)),
    "preact_resnet18": (PreActResNet18, (3, 32, 32)),
}
FILE_MODELS = {
    # name: (path, input npy (or None: random), layout of the file's data)
    "sklearn_mlp": ("fixtures/sklearn/mlp.onnx", "fixtures/sklearn/x_test.npy"),
    "sklearn_logreg": ("fixtures/sklearn/logreg.onnx", "fixtures/sklearn/x_test.npy"),
    "keras_cnn": ("fixtures/onnx/keras_cnn.onnx", "fixtures/onnx/keras_cnn.input.npy"),
}


def export(model, shape, exporter, path):
    torch.backends.mha.set_fastpath_enabled(False)
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0))
    kwargs = dict(input_names=["input"], output_names=["logits"])
    with torch.no_grad():
        if exporter == "legacy":
            torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **kwargs)
        else:
            batch = torch.export.Dim("batch", min=1, max=1024)
            torch.onnx.export(model, (x,), path, opset_version=18, dynamo=True,
                              dynamic_shapes={"x": {0: batch}}, external_data=False, **kwargs)


def ort_outputs(path, x):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def run(cmd, **kw):
    started = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p, time.time() - started


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def compare_logits(args, path, x, expected, probabilities, work):
    out = os.path.join(work, "logits.npy")
    grad = os.path.join(work, "grad.npy")
    cmd = [args.logits_bin, path, os.path.join(work, "x.npy"), out, "--grad", grad,
           "--fd", str(args.fd)]
    np.save(os.path.join(work, "x.npy"), x)
    p, _ = run(cmd)
    got = np.load(out)
    if probabilities:  # gauntlet reads the logits before a final softmax
        got = softmax(got.astype(np.float64)).astype(np.float32)
    diff = float(np.abs(got - expected).max())
    rel = diff / max(float(np.abs(expected).max()), 1e-12)
    fd = re.search(r"finite differences: max relative error ([0-9.eE+-]+) over (\d+) "
                   r"coordinates \((\d+) above", p.stdout)
    fd = (float(fd.group(1)), int(fd.group(2)), int(fd.group(3))) if fd else None
    return got, np.load(grad), diff, rel, fd


def torch_margin_grad(model, x):
    xt = torch.from_numpy(x).requires_grad_(True)
    z = model(xt)
    p = z.argmax(1)
    q = (p + 1) % z.shape[1]
    (z.gather(1, p[:, None]) - z.gather(1, q[:, None])).sum().backward()
    return xt.grad.numpy()


def pgd_run(args, path, x, labels, work):
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "y.npy"), labels.astype(np.int64))
    cmd = [args.gauntlet, "audit", "--model", path, "--inputs", os.path.join(work, "x.npy"),
           "--labels", os.path.join(work, "y.npy"), "--attacks", "pgd", "--steps", "3",
           "--eps", "4/255", "--no-diagnostics", "--fresh", "--quiet", "--json",
           "--out", os.path.join(work, "report")]
    p, secs = run(cmd)
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    report = json.load(open(os.path.join(work, "report", "report.json")))
    pgd = [r for r in report["results"] if r["attack"] == "pgd"][0]
    return {"clean_accuracy": summary["clean_accuracy"], "pgd_robust_accuracy": pgd["robust_accuracy"],
            "seconds": round(secs, 1)}


def gauntlet_speed(args, path, shape):
    cmd = [args.gauntlet, "bench", "--model", path, "--input-shape", ",".join(map(str, shape)),
           "--batch-size", str(args.batch), "--repeats", "3", "--pgd-steps", "0"]
    p, _ = run(cmd)
    rows = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\| (forward(?: \+ input gradient)?) \| ([0-9.]+) \| ([0-9.]+|n/a) \|", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), m.group(3))
    return rows


def torch_speed(model, shape, batch, repeats=3):
    torch.set_num_threads(2)
    x = torch.rand(batch, *shape, generator=torch.Generator().manual_seed(0))

    def timed(fn):
        fn()
        c0, t0 = time.process_time(), time.time()
        for _ in range(repeats):
            fn()
        wall = time.time() - t0
        return batch * repeats / wall, (time.process_time() - c0) / wall

    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        xt = x.clone().requires_grad_(True)
        z = model(xt)
        z.gather(1, z.argmax(1, keepdim=True)).sum().backward()

    return {"forward": timed(forward), "forward + input gradient": timed(gradient)}


def check_torch(args, name, exporter, results):
    build, shape = TORCH_MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    work = os.path.join(args.out_dir, f"{name}-{exporter}")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "model.onnx")
    row = {"model": name, "exporter": exporter, "input": list(shape)}
    try:
        t0 = time.time()
        export(model, shape, exporter, path)
        row["export_seconds"] = round(time.time() - t0, 1)
        row["megabytes"] = round(os.path.getsize(path) / 1e6, 1)
        x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
        expected = ort_outputs(path, x)[0]
        got, grad, diff, rel, fd = compare_logits(args, path, x, expected, False, work)
        row.update(max_abs_logit_diff=diff, max_rel_logit_diff=rel,
                   logits_match=diff <= 1e-4 or rel <= 1e-5)
        reference = torch_margin_grad(model, x)
        row["grad_vs_torch"] = float(np.abs(grad - reference).max() / np.abs(reference).max())
        row["fd"] = fd
        labels = got.argmax(1)
        row["pgd"] = pgd_run(args, path, x, labels, work)
        if args.speed and exporter == args.exporters[0]:
            row["batch"] = args.batch
            row["gauntlet_speed"] = gauntlet_speed(args, path, shape)
            row["torch_speed"] = torch_speed(model, shape, args.batch)
    except Exception as e:  # one model failing must not hide the others
        row["error"] = str(e)[-1500:]
    if not args.keep:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f)) if os.path.isfile(os.path.join(work, f)) else None
    results.append(row)
    print(json.dumps(row), flush=True)


def check_file(args, name, results):
    rel_path, data = FILE_MODELS[name]
    path = os.path.join(ROOT, rel_path)
    work = os.path.join(args.out_dir, name)
    os.makedirs(work, exist_ok=True)
    x = np.load(os.path.join(ROOT, data)).astype(np.float32)[:16]
    outputs = ort_outputs(path, x)
    expected = outputs[1] if len(outputs) > 1 else outputs[0]
    if isinstance(expected, list):  # ZipMap
        expected = np.array([[r[k] for k in sorted(r)] for r in expected], dtype=np.float32)
    row = {"model": name, "exporter": "skl2onnx" if name.startswith("sklearn") else "tf2onnx",
           "input": list(x.shape[1:])}
    try:
        got, _, diff, rel, fd = compare_logits(args, path, x, expected, True, work)
        row.update(max_abs_prob_diff=diff, logits_match=diff <= 1e-4, fd=fd)
        row["pgd"] = pgd_run(args, path, x, got.argmax(1), work)
    except Exception as e:
        row["error"] = str(e)[-1500:]
    results.append(row)
    print(json.dumps(row), flush=True)


def markdown(results):
    """The table of docs/model-zoo.md."""
    lines = ["| model | exporter | input | max \\|Δ\\| vs onnxruntime (relative) | gradient vs PyTorch "
             "(max \\|Δ\\|/max \\|g\\|) | finite differences (f64): worst relative error | "
             "PGD audit (clean → robust, s) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['exporter']} | {r['input']} | **failed**: "
                         f"{r['error'].splitlines()[-1][:120]} | | | |")
            continue
        if "max_abs_logit_diff" in r:
            logits = f"{r['max_abs_logit_diff']:.1e} ({r['max_rel_logit_diff']:.1e})"
        else:
            logits = f"{r['max_abs_prob_diff']:.1e} (probabilities)"
        grad = f"{r['grad_vs_torch']:.1e}" if "grad_vs_torch" in r else "—"
        fd = r.get("fd")
        if fd:
            above = f"; {fd[2]} above 1e-3" if len(fd) > 2 and fd[2] else ""
            fd = f"{fd[0]:.1e} over {fd[1]}{above}"
        else:
            fd = "—"
        pgd = r["pgd"]
        lines.append(f"| {r['model']} | {r['exporter']} | {'×'.join(map(str, r['input']))} | {logits} "
                     f"| {grad} | {fd} | {pgd['clean_accuracy']:.2f} → {pgd['pgd_robust_accuracy']:.2f}, "
                     f"{pgd['seconds']} |")
    speed = [r for r in results if "gauntlet_speed" in r]
    if speed:
        lines += ["", "| model | batch | gauntlet forward/s (cores) | PyTorch forward/s (cores) | "
                  "gauntlet forward+input gradient/s (cores) | PyTorch (cores) | gradient ratio |",
                  "|---|---|---|---|---|---|---|"]
        for r in speed:
            g, t = r["gauntlet_speed"], r["torch_speed"]
            gf, gg = g.get("forward", (0, "?")), g.get("forward + input gradient", (0, "?"))
            tf, tg = t["forward"], t["forward + input gradient"]
            lines.append(f"| {r['model']} | {r['batch']} | {gf[0]:.1f} ({gf[1]}) | {tf[0]:.1f} ({tf[1]:.2f}) "
                         f"| {gg[0]:.1f} ({gg[1]}) | {tg[0]:.1f} ({tg[1]:.2f}) | {gg[0] / tg[0]:.2f}× |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(list(TORCH_MODELS) + list(FILE_MODELS)))
    ap.add_argument("--exporters", default="legacy,dynamo")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--fd", type=int, default=6, help="coordinates checked by finite differences")
    ap.add_argument("--out-dir", default="/tmp/gauntlet-zoo")
    ap.add_argument("--keep", action="store_true", help="keep the exported files")
    ap.add_argument("--gauntlet", default=os.path.join(ROOT, "target/release/gauntlet"))
    ap.add_argument("--logits-bin", default=os.path.join(ROOT, "target/release/examples/onnx_logits"))
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--markdown", help="also write the results as markdown tables to this file")
    ap.add_argument("--from-json", help="only render --markdown from an earlier --json file")
    args = ap.parse_args()
    args.exporters = args.exporters.split(",")
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)["results"]
        with open(args.markdown, "w") as f:
            f.write(markdown(results))
        return
    results = []
    for name in args.models.split(","):
        if name in TORCH_MODELS:
            for exporter in args.exporters:
                check_torch(args, name, exporter, results)
        elif name in FILE_MODELS:
            check_file(args, name, results)
        else:
            sys.exit(f"unknown model {name}; known: {', '.join(list(TORCH_MODELS) + list(FILE_MODELS))}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "onnxruntime": ort.__version__,
                       "results": results}, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(results))
    failed = [r for r in results if "error" in r or not r.get("logits_match", False)]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
