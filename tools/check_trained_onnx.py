#!/usr/bin/env python3
"""A model written by `gauntlet train`/`harden` in onnxruntime: does it load, keep the
original's graph, and give the logits gauntlet gives?

For each (original, trained) pair this
  1. checks the trained file with onnx.checker and that nodes, inputs, outputs, opsets and
     initializer names/shapes/types equal the original's (only initializer values differ);
  2. runs the trained model in onnxruntime (CPU, graph optimizations off) on the held-out
     samples the run wrote (OUT/holdout/x.npy) and compares with gauntlet's logits from the
     `onnx_logits` example: max |Δ| and max |Δ| relative to the largest |logit|;
  3. prints the provenance gauntlet wrote into metadata_props.

Usage (after `cargo build --release -p gauntlet-onnx --example onnx_logits`):
    .venv/bin/python tools/check_trained_onnx.py ORIGINAL.onnx OUT_DIR [OUT_DIR ...]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGITS = os.path.join(ROOT, "target/release/examples/onnx_logits")


def same_graph(a, b):
    ga, gb = a.graph, b.graph

    # By meaning: the writer (rust-protobuf through onnx-ir) leaves out scalar attribute
    # fields equal to their default (`i: 0`), which the protobuf messages compare as present.
    def node_meaning(n):
        attrs = sorted((x.name, x.type, repr(onnx.helper.get_attribute_value(x))) for x in n.attribute)
        return (n.op_type, n.domain, n.name, list(n.input), list(n.output), attrs)

    assert [node_meaning(n) for n in ga.node] == [node_meaning(n) for n in gb.node], "nodes differ"
    assert list(ga.input) == list(gb.input) and list(ga.output) == list(gb.output), "signature differs"
    assert list(a.opset_import) == list(b.opset_import), "opsets differ"
    ia = [(i.name, list(i.dims), i.data_type) for i in ga.initializer]
    ib = [(i.name, list(i.dims), i.data_type) for i in gb.initializer]
    assert ia == ib, "initializers differ in name, shape or type"
    changed = sum(
        not np.array_equal(onnx.numpy_helper.to_array(x), onnx.numpy_helper.to_array(y))
        for x, y in zip(ga.initializer, gb.initializer)
    )
    return len(ia), changed


def main():
    original = onnx.load(sys.argv[1])
    for out in sys.argv[2:]:
        path = os.path.join(out, "model.onnx")
        trained = onnx.load(path)
        onnx.checker.check_model(trained)
        count, changed = same_graph(original, trained)
        x = np.load(os.path.join(out, "holdout", "x.npy")).astype(np.float32)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        ort_logits = session.run(None, {name: x})[0]
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([LOGITS, path, os.path.join(out, "holdout", "x.npy"),
                            os.path.join(tmp, "l.npy")], check=True, capture_output=True)
            ours = np.load(os.path.join(tmp, "l.npy"))
        diff = float(np.abs(ours - ort_logits).max())
        rel = diff / float(np.abs(ort_logits).max())
        agree = float((ours.argmax(1) == ort_logits.argmax(1)).mean())
        meta = {p.key: p.value for p in trained.metadata_props}
        print(f"{out}: onnx.checker ok; graph, signature, opsets and {count} initializer names kept, "
              f"{changed} changed; onnxruntime vs gauntlet on {len(x)} samples: max |Δ| {diff:.2e} "
              f"({rel:.2e} relative), predictions agree {100 * agree:.1f} %; provenance: "
              f"{ {k: v for k, v in meta.items() if k != 'gauntlet.settings'} }")
        assert diff <= 1e-4 * max(1.0, float(np.abs(ort_logits).max())), "logits differ"


if __name__ == "__main__":
    main()
