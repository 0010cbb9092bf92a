#!/usr/bin/env python3
"""Reference training steps from PyTorch, for gauntlet-train's tests.

Builds a small residual CNN with BatchNormalization (and the demo MNIST CNN's layer kinds:
Conv, Gemm), exports it with the legacy TorchScript exporter (BatchNormalization kept as
nodes: no constant folding), then from the same weights takes two training steps in
PyTorch on one seeded batch with each optimizer (SGD with momentum and weight decay,
Nesterov, Adam, AdamW) and writes, per optimizer, every initializer's value after the
steps — weights and BatchNorm running statistics — and the losses.

Output: fixtures/train/resnet_bn_train.onnx, fixtures/train/step_reference.json, and the
hand-built fixtures/train/dropout.onnx (Dropout survives only in hand-built graphs).
DROPOUT_ONLY=1 writes only the latter.

Usage: .venv/bin/python tools/train_reference.py  (PyTorch 2.15, onnx 1.23; CPU)
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "train")


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.block = Block(6)
        self.fc1 = nn.Linear(6 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block(x)
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4),
    "nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.01),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = SmallResNet()
    # Non-trivial running statistics, as a trained model has.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = os.path.join(OUT, "resnet_bn_train.onnx")
    model.eval()
    x0 = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        torch.onnx.export(model, (x0,), path, opset_version=13, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("BatchNormalization") == 3, ops
    names = [i.name for i in graph.initializer]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    missing = [n for n in names if n not in state]
    assert not missing, f"initializers without a state_dict entry: {missing}"

    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 3, 8, 8, generator=g)
    y = torch.randint(0, 4, (8,), generator=g)
    reference = {
        "model": "resnet_bn_train.onnx",
        "torch": torch.__version__,
        "x": x.flatten().tolist(),
        "x_shape": list(x.shape),
        "y": y.tolist(),
        "steps": 2,
        "optimizers": {},
    }
    for name, make in OPTIMIZERS.items():
        model.load_state_dict(state)
        model.train()
        opt = make(model.parameters())
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        after = model.state_dict()
        reference["optimizers"][name] = {
            "losses": losses,
            "values": {n: after[n].flatten().tolist() for n in names},
        }
    with open(os.path.join(OUT, "step_reference.json"), "w") as f:
        json.dump(reference, f)
    print(f"wrote {path} ({ops.count('BatchNormalization')} BatchNormalization nodes) and step_reference.json")


if __name__ == "__main__" and not os.environ.get("DROPOUT_ONLY"):
    main()


def dropout_fixture():
    """fixtures/train/dropout.onnx: x [N, 8] → MatMul (8×16 weight) → Dropout (ratio 0.5 as an
    input, opset 13) → Gemm (16×4) → logits. Hand-built: exporters drop Dropout in eval mode."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(8, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(size=(16, 4)).astype(np.float32), "w2")
    ratio = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "ratio")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Dropout", ["h", "ratio"], ["d"], name="drop"),
        helper.make_node("Gemm", ["d", "w2"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "dropout",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [w1, w2, ratio],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "dropout.onnx"))


if __name__ == "__main__":
    dropout_fixture()
