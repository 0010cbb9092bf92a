#!/usr/bin/env python3
"""Fixtures for choosing the scores output and for channels-last models.

Writes, from the repo root:

fixtures/sklearn/  (scikit-learn's own digits data set, 8x8 images, shipped with
                    scikit-learn: 1797 samples; first 1500 train, the rest test)
    x_test.npy, y_test.npy     float32 [297, 64] pixels / 16 in [0, 1]; int64 labels
    mlp.onnx                   MLPClassifier(32 hidden), skl2onnx default export: outputs
                               `output_label` (int64) and `output_probability` (ZipMap, a
                               list of dicts) — the label branch uses ArgMax and
                               ai.onnx.ml ArrayFeatureExtractor
    logreg.onnx                LogisticRegression, skl2onnx with zipmap=False: outputs
                               `label` and `probabilities` from ai.onnx.ml LinearClassifier
                               (SOFTMAX post-transform) + Normalizer
    <name>.expected.npy        onnxruntime's probabilities on x_test
    expected.json              scikit-learn's test accuracy of each model, versions

fixtures/onnx/mnist_cnn_nhwc.onnx (+ .input.npy, .expected.npy)
    models/mnist_cnn.pt behind a channels-last input N x 28 x 28 x 1 (a permute to
    N x 1 x 28 x 28 first, the way tf2onnx exports of Keras models start with a Transpose).
    Its logits on an NHWC batch equal mnist_cnn's on the same images channels first.

fixtures/onnx/two_heads.onnx (+ .input.npy, .expected.npy = the `logits` head)
    A small MLP with an auxiliary head: outputs `logits` [N, 10] and `aux` [N, 10], both
    float, so the scores output is ambiguous until one is chosen.

Usage: .venv/bin/python tools/export_output_and_layout_fixtures.py
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
import torch
import torch.nn as nn
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mnist_cnn_model import MnistCnn  # noqa: E402
from mnist_io import REPO_ROOT  # noqa: E402
from onnx_export_util import export_legacy  # noqa: E402


def ort_run(path, x):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def sklearn_fixtures():
    out = os.path.join(REPO_ROOT, "fixtures", "sklearn")
    os.makedirs(out, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    np.save(os.path.join(out, "x_test.npy"), x_test)
    np.save(os.path.join(out, "y_test.npy"), y_test)
    record = {
        "versions": {
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnxruntime": ort.__version__,
        },
        "models": {},
    }
    models = [
        ("mlp", MLPClassifier((32,), max_iter=400, random_state=0), True),
        ("logreg", LogisticRegression(max_iter=1000), False),
    ]
    for name, clf, zipmap in models:
        clf.fit(x_train, y_train)
        options = None if zipmap else {id(clf): {"zipmap": False}}
        model = to_onnx(clf, x_train[:1], options=options,
                        target_opset={"": 17, "ai.onnx.ml": 3})
        path = os.path.join(out, f"{name}.onnx")
        onnx.save(model, path)
        outputs = ort_run(path, x_test)
        probs = outputs[1]
        if isinstance(probs, list):  # ZipMap: a list of {class: probability}
            probs = np.array([[row[k] for k in sorted(row)] for row in probs], dtype=np.float32)
        np.save(os.path.join(out, f"{name}.expected.npy"), probs.astype(np.float32))
        accuracy = float((clf.predict(x_test) == y_test).mean())
        ort_accuracy = float((outputs[0].reshape(-1) == y_test).mean())
        record["models"][name] = {
            "sklearn_test_accuracy": accuracy,
            "onnxruntime_test_accuracy": ort_accuracy,
            "outputs": [o.name for o in model.graph.output],
            "ops": sorted({(n.domain + "::" if n.domain else "") + n.op_type
                           for n in model.graph.node}),
        }
        print(name, record["models"][name])
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")


class ChannelsLast(nn.Module):
    """A channels-first network behind an N x H x W x C input."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


def nhwc_fixture():
    out = os.path.join(REPO_ROOT, "fixtures", "onnx")
    net = MnistCnn()
    net.load_state_dict(torch.load(os.path.join(REPO_ROOT, "models", "mnist_cnn.pt")))
    model = ChannelsLast(net).eval()
    x = np.load(os.path.join(REPO_ROOT, "data", "mnist-demo", "x.npy"))[:3] / 255.0  # N x 1 x 28 x 28
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(np.float32)
    path = os.path.join(out, "mnist_cnn_nhwc.onnx")
    export_legacy(model, torch.from_numpy(x_nhwc), path, 13)
    np.save(os.path.join(out, "mnist_cnn_nhwc.input.npy"), x_nhwc)
    np.save(os.path.join(out, "mnist_cnn_nhwc.expected.npy"), ort_run(path, x_nhwc)[0])
    print("mnist_cnn_nhwc", [d.dim_value or d.dim_param
                             for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim])


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU())
        self.head = nn.Linear(12, 10)
        self.aux = nn.Linear(12, 10)

    def forward(self, x):
        h = self.body(x)
        return self.head(h), self.aux(h)


def two_heads_fixture():
    out = os.path.join(REPO_ROOT, "fixtures", "onnx")
    torch.manual_seed(7)
    model = TwoHeads().eval()
    x = np.random.default_rng(7).random((3, 1, 4, 4)).astype(np.float32)
    path = os.path.join(out, "two_heads.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (torch.from_numpy(x),), path, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["logits", "aux"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"},
                                        "aux": {0: "batch"}})
    np.save(os.path.join(out, "two_heads.input.npy"), x)
    np.save(os.path.join(out, "two_heads.expected.npy"), ort_run(path, x)[0])


if __name__ == "__main__":
    sklearn_fixtures()
    nhwc_fixture()
    two_heads_fixture()
