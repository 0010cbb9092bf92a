"""Hand-built ONNX graphs (onnx.helper) for operator forms no PyTorch exporter emits, or
emits only in large models: GroupNormalization (opset 18 and 21), LayerNormalization's
Mean/InvStdDev outputs, Einsum equations, Resize modes, and the selection, logic and
scatter operators with their less common attributes.

Each builder returns an onnx.ModelProto whose input `input` is [batch, ...] float32 and
whose output `logits` is [batch, K]; tools/export_op_fixtures.py saves them as fixtures with
onnxruntime's outputs. Used only by that script.
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper


class Graph:
    """Nodes and initializers under construction, with fresh names."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, values, dtype=np.float32):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def weight(self, shape, scale=0.5, offset=0.0):
        return self.const(self.rng.standard_normal(shape) * scale + offset)

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def flat(self, x):
        return self.op("Flatten", [x], axis=1)

    def model(self, shape, features, opset, logits):
        """`features` is the concatenation of flattened parts, mixed by a dense layer."""
        flat = [self.flat(f) for f in features]
        cat = self.op("Concat", flat, axis=1) if len(flat) > 1 else flat[0]
        w = self.weight([features_width(self, cat), 10], scale=0.2)
        self.nodes.append(helper.make_node("Gemm", [cat, w, self.const(np.zeros(10))], [logits]))
        graph = helper.make_graph(
            self.nodes, "graph",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + list(shape))],
            [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", 10])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="tools/onnx_graph_fixtures.py")
        model.ir_version = 9
        return model


def features_width(g, name):
    """The flattened width of `name`: the graph so far, run by onnxruntime on one sample
    (shape inference gives up on the deprecated GroupNormalization-18)."""
    import onnxruntime as ort

    graph = helper.make_graph(
        g.nodes, "probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + list(g.shape))],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)])
    model.ir_version = 9
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.zeros((1,) + tuple(g.shape), dtype=np.float32)
    return int(sess.run(None, {"input": x})[0].size)


def start(seed, shape, opset):
    g = Graph(seed)
    g.shape, g.opset = shape, opset
    return g


def norm_graph(opset):
    """GroupNormalization (scale/bias per group in opset 18, per channel in 21; no PyTorch
    exporter emits it: GroupNorm exports as InstanceNormalization) and LayerNormalization
    whose Mean and InvStdDev outputs are used. Input [batch, 4, 3, 3]."""
    g = start(opset, (4, 3, 3), opset)
    per = 2 if opset < 21 else 4
    gn = g.op("GroupNormalization", ["input", g.weight([per], 0.3, 1.0), g.weight([per], 0.2)],
              num_groups=2, epsilon=1e-5)
    y, mean, inv = g.op("LayerNormalization", [gn, g.weight([3, 3], 0.3, 1.0), g.weight([3, 3], 0.2)],
                        outputs=3, axis=2, epsilon=1e-5)
    z = g.op("Add", [y, g.op("Mul", [mean, inv])])
    return g.model(g.shape, [z], opset, "logits")


def einsum_graph():
    """Einsum as exporters and users write it: batched matmuls, an ellipsis, a transpose, a
    reduction, an implicit output and three operands. Input [batch, 2, 3, 4]."""
    g = start(21, (2, 3, 4), 17)
    x = "input"
    k = g.op("Add", [g.op("Mul", [x, g.const(0.5)]), g.weight([2, 3, 4])])
    attn = g.op("Einsum", [x, k], equation="bhid,bhjd->bhij")              # [N,2,3,3]
    x3 = g.op("Reshape", [x, g.const([0, 6, 4], np.int64)])               # [N,6,4]
    bmm = g.op("Einsum", [x3, g.op("Transpose", [x3], perm=[0, 2, 1])], equation="bij,bjk->bik")
    ell = g.op("Einsum", [x, g.weight([4, 5])], equation="...ij,jk->...ik")  # [N,2,3,5]
    perm = g.op("Einsum", [x], equation="nchw->nwhc")
    total = g.op("Einsum", [x], equation="nchw->nc")
    flat = g.op("Flatten", [x], axis=1)                                   # [N,24]
    implicit = g.op("Einsum", [flat, g.weight([24, 3])], equation="ij,jk")
    three = g.op("Einsum", [flat, g.weight([24, 4]), g.weight([4, 2])], equation="ni,ij,jk->nk")
    return g.model(g.shape, [attn, bmm, ell, perm, total, implicit, three], 17, "logits")


def resize_graph():
    """Resize attributes the PyTorch exporters rarely use: nearest rounding modes, other
    coordinate transformations, sizes with axes and an aspect-ratio policy, downsampling,
    cubic with exclude_outside. Input [batch, 2, 5, 5]; opset 19 (half_pixel_symmetric).
    Scales are exact in binary: onnxruntime computes output lengths in float32, ONNX shape
    inference in float64, and they disagree on e.g. 5 x 1.4."""
    g = start(22, (2, 5, 5), 19)
    x = "input"
    empty = g.const([], np.float32)
    scales = lambda s: g.const([1.0, 1.0] + s)  # noqa: E731
    parts = [
        g.op("Resize", [x, empty, scales([1.5, 2.25])], mode="nearest",
             coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil"),
        g.op("Resize", [x, empty, scales([1.5, 1.5])], mode="nearest",
             coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor"),
        g.op("Resize", [x, empty, scales([1.25, 1.75])], mode="nearest",
             coordinate_transformation_mode="asymmetric", nearest_mode="ceil"),
        g.op("Resize", [x, empty, empty, g.const([3, 3], np.int64)], mode="linear", axes=[2, 3],
             coordinate_transformation_mode="pytorch_half_pixel"),
        g.op("Resize", [x, empty, scales([0.75, 1.75])], mode="linear",
             coordinate_transformation_mode="half_pixel_symmetric"),
        g.op("Resize", [x, empty, scales([1.75, 0.75])], mode="cubic",
             coordinate_transformation_mode="half_pixel", exclude_outside=1, cubic_coeff_a=-0.5),
        g.op("Resize", [x, empty, scales([1.5, 1.5])], mode="cubic",
             coordinate_transformation_mode="align_corners"),
        g.op("Resize", [x, empty, empty, g.const([7, 9], np.int64)], mode="linear", axes=[2, 3],
             keep_aspect_ratio_policy="not_larger", coordinate_transformation_mode="asymmetric"),
    ]
    return g.model(g.shape, parts, 19, "logits")


def select_graph():
    """TopK (smallest), ArgMin with ties (select_last_index), ScatterND (none and add),
    Split (opset 18 num_outputs, uneven), Tile, the comparisons and logic operators, and a
    Where whose unselected branch is NaN (log of a negative), which must leak neither into
    the output nor into the gradient. Input [batch, 3, 5]."""
    g = start(23, (3, 5), 18)
    x = "input"
    parts = []
    values, _ = g.op("TopK", [x, g.const([2], np.int64)], outputs=2, axis=2, largest=0)
    parts.append(values)
    # Ties: rounded copies; the last minimum's position picks values of x.
    ties = g.op("Round", [g.op("Mul", [x, g.const(2.0)])])
    arg = g.op("ArgMin", [ties], axis=2, keepdims=1, select_last_index=1)
    parts.append(g.op("GatherElements", [x, arg], axis=2))
    # ScatterND into rows of x: replace rows 0 and 2, add to row 1 twice.
    upd = g.op("Mul", [g.op("Slice", [x, g.const([0], np.int64), g.const([2], np.int64),
                                      g.const([1], np.int64)]), g.const(3.0)])   # [N,2,5]
    idx = g.const([[[0], [2]]], np.int64)                                          # [1,2,1]
    perm = g.op("Transpose", [x], perm=[1, 0, 2])                                  # [3,N,5]
    upd_t = g.op("Transpose", [upd], perm=[1, 0, 2])                               # [2,N,5]
    replaced = g.op("ScatterND", [perm, g.op("Squeeze", [idx, g.const([0], np.int64)]), upd_t])
    added = g.op("ScatterND", [perm, g.const([[1], [1]], np.int64), upd_t], reduction="add")
    parts += [g.op("Transpose", [t], perm=[1, 0, 2]) for t in (replaced, added)]
    a, b = g.op("Split", [x], outputs=2, axis=2, num_outputs=2)                    # 3 + 2
    parts.append(g.op("Tile", [b, g.const([1, 2, 2], np.int64)]))
    parts.append(g.op("Mul", [a, g.const(-1.0)]))
    half = g.const(0.5)
    masks = [g.op(op, [x, half]) for op in ("Less", "LessOrEqual", "Greater", "GreaterOrEqual")]
    eq = g.op("Equal", [ties, g.const(1.0)])
    logic = [g.op("And", [masks[2], g.op("Not", [eq])]), g.op("Or", [masks[0], eq]),
             g.op("Xor", [masks[1], masks[3]])]
    for m in masks + logic:
        parts.append(g.op("Mul", [x, g.op("Cast", [m], to=TensorProto.FLOAT)]))
    log = g.op("Log", [g.op("Sub", [x, half])])                                    # NaN below 0.5
    parts.append(g.op("Where", [masks[2], log, g.op("Neg", [x])]))
    # Mod on host integers (shape arithmetic, the sign of the divisor) and on floats (fmod).
    dims = g.op("Shape", [x])
    wrapped = g.op("Mod", [g.op("Sub", [dims, g.const([0, 7, 12], np.int64)]), g.const([5], np.int64)])
    picked = g.op("Slice", [wrapped, g.const([1], np.int64), g.const([3], np.int64)])  # [1, 3]
    factor = g.op("ReduceSum", [g.op("Cast", [picked], to=TensorProto.FLOAT)], keepdims=0)
    parts.append(g.op("Mul", [x, factor]))
    parts.append(g.op("Mod", [g.op("Mul", [x, g.const(5.0)]), g.const(-1.3)], fmod=1))
    return g.model(g.shape, parts, 18, "logits")


def legacy_softmax_graph():
    """Opset 11: Softmax and LogSoftmax still flatten the input to 2-D around `axis` (so
    axis 1 of [N, 2, 3, 3] normalizes over 18 values), and boolean tensors arrive as an
    initializer and as a Constant node. Input [batch, 2, 3, 3]."""
    g = start(24, (2, 3, 3), 11)
    x = "input"
    soft = g.op("Softmax", [x], axis=1)
    log_soft = g.op("LogSoftmax", [x], axis=2)
    mask = g.const(g.rng.random((3, 3)) > 0.5, np.bool_)
    g.nodes.append(helper.make_node(
        "Constant", [], ["flip"],
        value=numpy_helper.from_array(np.array([True, False, True]).reshape(3, 1), "flip")))
    picked = g.op("Where", [g.op("Xor", [mask, "flip"]), soft, g.op("Neg", [x])])
    return g.model(g.shape, [picked, log_soft], 11, "logits")
