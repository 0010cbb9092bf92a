#!/usr/bin/env python3
"""A Keras CNN exported by tf2onnx: the channels-last fixture of a real TensorFlow export.

Writes fixtures/onnx/keras_cnn.onnx (+ .input.npy, .expected.npy): a small Keras
functional CNN (Conv2D 3x3 + BatchNormalization + ReLU, DepthwiseConv2D, MaxPooling2D,
GlobalAveragePooling2D, Dense softmax) with random weights (seed 0) and non-trivial
BatchNorm statistics, on 8x8x3 inputs (the scikit-learn digits of fixtures/sklearn at three contrasts),
exported with tf2onnx (opset 17). Its input is N x 8 x 8 x 3 (NHWC); its output the softmax
probabilities. `.expected.npy` holds onnxruntime's outputs (CPU, graph optimizations
disabled) on the first 3 test digits in NHWC.

TensorFlow does not share a virtual environment with torch here; use a separate one:
    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnxruntime==1.32.0
    /tmp/tfvenv/bin/python tools/export_keras_fixture.py
"""
import os

import numpy as np
import onnxruntime as ort
import tensorflow as tf
import tf2onnx

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "onnx")


def build():
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(8, 8, 3), name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.ReLU()(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.MaxPooling2D(2)(x)
    x = tf.keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(inputs, outputs)
    # Non-trivial running statistics, so the exported BatchNormalization is really tested.
    bn = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)][0]
    gamma, beta, mean, var = bn.get_weights()
    rng = np.random.default_rng(0)
    bn.set_weights([gamma + rng.normal(0, 0.1, gamma.shape), beta + rng.normal(0, 0.1, beta.shape),
                    rng.normal(0, 0.1, mean.shape), 1 + rng.random(var.shape)])
    return model


def main():
    model = build()
    x = np.load(os.path.join(ROOT, "fixtures", "sklearn", "x_test.npy"))[:3]
    # Three channels (the digit at three contrasts), so channels last differs from first.
    x = (x.reshape(3, 8, 8, 1) * np.array([1.0, 0.5, 0.25])).astype(np.float32)
    spec = (tf.TensorSpec((None, 8, 8, 3), tf.float32, name="image"),)
    path = os.path.join(OUT, "keras_cnn.onnx")
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    expected = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.save(os.path.join(OUT, "keras_cnn.input.npy"), x)
    np.save(os.path.join(OUT, "keras_cnn.expected.npy"), expected.astype(np.float32))
    keras_out = model(x).numpy()
    print("keras vs onnxruntime max |diff|:", float(np.abs(keras_out - expected).max()))
    import onnx
    m = onnx.load(path)
    print("ops:", sorted({n.op_type for n in m.graph.node}))
    print("input:", m.graph.input[0].name, [d.dim_value or d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim])


if __name__ == "__main__":
    main()
