"""Each op of fastrnn.InferenceSession's executor against onnxruntime on random inputs: one-node models built
with onnx.helper, the data inputs fed at run time, the parameter inputs (axes, shapes, pads) stored as
initializers (as exporters write them), at the opsets where the op's form changed. onnx.reference's
ReferenceEvaluator is a second oracle for every case. Tolerance: float32 1e-5 relative to max(1, |expected|)
(erf's approximation is 1.5e-7; reductions and products round differently), exact for integers and booleans.
"""
import numpy as np
import pytest

import fastrnn
from conftest import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RTOL = 1e-5
F = np.float32
I64 = np.int64


def _rand(rng, shape, dtype=F):
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def one_node_model(op, feeds, stored, attrs, opset, n_outputs=1, input_order=None):
    """A model of one `op` node: inputs in `input_order` ("" for absent), fed ones as graph inputs with their
    shapes, stored ones as initializers."""
    names = input_order or list(feeds) + list(stored)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
                    for n, v in feeds.items()]
    inits = [numpy_helper.from_array(np.asarray(v), n) for n, v in stored.items()]
    outputs = [f"out{k}" for k in range(n_outputs)]
    node = helper.make_node(op, names, outputs, name="the_node", **attrs)
    untyped = [helper.make_value_info(o, onnx.TypeProto()) for o in outputs]
    graph = helper.make_graph([node], "g", graph_inputs, untyped, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def check(op, feeds, stored=None, attrs=None, opset=17, n_outputs=1, input_order=None, second_oracle=True):
    data = one_node_model(op, feeds, stored or {}, attrs or {}, opset, n_outputs, input_order)
    got = fastrnn.InferenceSession(data).run(None, feeds)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    second = ReferenceEvaluator(onnx.load_from_string(data)).run(None, feeds) if second_oracle else want
    for g, w, r in zip(got, want, second):
        assert g.shape == w.shape and g.dtype == w.dtype, (op, g.shape, w.shape, g.dtype, w.dtype)
        if w.dtype.kind == "f":
            assert np.array_equal(np.isnan(g), np.isnan(w)), f"{op}: NaN where onnxruntime has none, or the reverse"
            g, w, r = (np.nan_to_num(np.asarray(a), nan=0.0) for a in (g, w, r))
            assert_close(g, w, RTOL, f"{op} vs onnxruntime")
            assert_close(g, np.asarray(r), RTOL, f"{op} vs ReferenceEvaluator")
        else:
            assert np.array_equal(g, w), (op, g, w)
    return got


SHAPE = (3, 4, 5)
UNARY = ["Neg", "Abs", "Sqrt", "Exp", "Log", "Reciprocal", "Floor", "Ceil", "Sign", "Sin", "Cos", "Tanh", "Sigmoid",
         "Relu", "Erf", "Softplus", "Identity"]


@pytest.mark.parametrize("op", UNARY)
def test_unary(op, rng):
    x = _rand(rng, SHAPE)
    if op in ("Sqrt", "Log"):
        x = np.abs(x) + F(0.1)
    check(op, {"x": x})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("shapes", [(SHAPE, SHAPE), (SHAPE, (5,)), ((3, 1, 5), (4, 1))], ids=["same", "row", "outer"])
def test_binary_broadcasting(op, shapes, rng):
    a, b = _rand(rng, shapes[0]), _rand(rng, shapes[1])
    if op == "Pow":
        a = np.abs(a) + F(0.5)
    if op == "Div":
        b = b + np.sign(b) * F(0.5)
    # onnx.reference's Mean does not broadcast (it adds into its first input)
    check(op, {"a": a, "b": b}, second_oracle=op != "Mean" or shapes[0] == shapes[1])


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_arithmetic(dtype, rng):
    a, b = _rand(rng, (6,), dtype), _rand(rng, (6,), dtype)
    b[b == 0] = 3
    for op in ("Add", "Sub", "Mul", "Div"):
        check(op, {"a": a, "b": b})
    check("Mod", {"a": a, "b": b}, attrs={"fmod": 0})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons(op, rng):
    check(op, {"a": _rand(rng, SHAPE, I64), "b": _rand(rng, (5,), I64)})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op, rng):
    check(op, {"a": _rand(rng, SHAPE, bool), "b": _rand(rng, SHAPE, bool)})
    check("Not", {"a": _rand(rng, SHAPE, bool)})


def test_prelu(rng):
    check("PRelu", {"x": _rand(rng, SHAPE)}, {"slope": np.abs(_rand(rng, (5,)))})


def test_where_and_isnan(rng):
    check("Where", {"c": _rand(rng, SHAPE, bool), "a": _rand(rng, SHAPE), "b": _rand(rng, (5,))})
    x = _rand(rng, SHAPE)
    x[0, 0, 0] = np.nan
    check("IsNaN", {"x": x})


@pytest.mark.parametrize("op, attrs", [("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
                                       ("HardSwish", {}), ("Softsign", {}), ("Mish", {}),
                                       ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("Gelu", {}),
                                       ("Gelu", {"approximate": "tanh"})])
def test_parametrised_activations(op, attrs, rng):
    check(op, {"x": _rand(rng, SHAPE) * F(3)}, attrs=attrs, opset=20)


@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (None, 0.3), (-0.2, None), (None, None)])
def test_clip(bounds, rng):
    low, high = bounds
    stored = {"lo": None if low is None else np.array(low, F), "hi": None if high is None else np.array(high, F)}
    order = ["x", "lo" if low is not None else "", "hi" if high is not None else ""]
    while order[-1] == "":
        order.pop()
    check("Clip", {"x": _rand(rng, SHAPE)}, {k: v for k, v in stored.items() if v is not None}, input_order=order)


@pytest.mark.parametrize("to, dtype", [(TensorProto.INT64, np.int64), (TensorProto.FLOAT, np.float32),
                                       (TensorProto.BOOL, np.bool_), (TensorProto.DOUBLE, np.float64)])
def test_cast(to, dtype, rng):
    check("Cast", {"x": _rand(rng, SHAPE) * F(4)}, attrs={"to": to})


def test_shape_size_and_slices_of_shape(rng):
    x = _rand(rng, SHAPE)
    check("Shape", {"x": x})
    check("Shape", {"x": x}, attrs={"start": 1, "end": -1}, opset=15)
    check("Size", {"x": x})


@pytest.mark.parametrize("shape", [[0, -1], [5, 0, -1], [-1]])
def test_reshape(shape, rng):
    check("Reshape", {"x": _rand(rng, (5, 3, 4))}, {"shape": np.array(shape, I64)})


@pytest.mark.parametrize("op, attrs, stored", [
    ("Transpose", {"perm": [2, 0, 1]}, {}), ("Transpose", {}, {}), ("Flatten", {"axis": 2}, {}),
    ("Squeeze", {}, {"axes": np.array([1], I64)}), ("Unsqueeze", {}, {"axes": np.array([0, -1], I64)}),
])
def test_movement(op, attrs, stored, rng):
    x = _rand(rng, (3, 1, 5) if op == "Squeeze" else SHAPE)
    check(op, {"x": x}, stored, attrs)


def test_concat_and_split(rng):
    check("Concat", {"a": _rand(rng, SHAPE), "b": _rand(rng, (3, 2, 5))}, attrs={"axis": 1})
    check("Split", {"x": _rand(rng, (3, 7))}, {"split": np.array([2, 5], I64)}, {"axis": 1}, n_outputs=2)
    check("Split", {"x": _rand(rng, (6, 2))}, attrs={"axis": 0}, n_outputs=3)
    check("Split", {"x": _rand(rng, (7, 2))}, attrs={"axis": 0, "num_outputs": 3}, opset=18, n_outputs=3)


@pytest.mark.parametrize("starts, ends, axes, steps", [([1], [3], [1], [1]), ([0, -1], [2, -100], [0, 2], [1, -1]),
                                                       ([-2], [2**62], [2], [1]), ([4], [-2**62], [1], [-2])])
def test_slice(starts, ends, axes, steps, rng):
    stored = {k: np.array(v, I64) for k, v in dict(starts=starts, ends=ends, axes=axes, steps=steps).items()}
    check("Slice", {"x": _rand(rng, SHAPE)}, stored)


@pytest.mark.parametrize("axis, indices", [(0, [[0, 2], [1, -1]]), (1, 3), (2, [-5, 4, 0])])
def test_gather(axis, indices, rng):
    check("Gather", {"x": _rand(rng, SHAPE)}, {"i": np.array(indices, I64)}, {"axis": axis})


def test_gather_elements_and_trilu(rng):
    check("GatherElements", {"x": _rand(rng, (3, 4))}, {"i": np.array([[0, -1], [2, 3], [1, 1]], I64)}, {"axis": 1})
    for upper in (0, 1):
        check("Trilu", {"x": _rand(rng, (2, 4, 4))}, {"k": np.array(1, I64)}, {"upper": upper}, opset=14)
        check("Trilu", {"x": _rand(rng, (4, 5))}, attrs={"upper": upper}, opset=14)


def test_growing_ops(rng):
    check("Expand", {"x": _rand(rng, (3, 1))}, {"shape": np.array([2, 3, 4], I64)})
    check("Tile", {"x": _rand(rng, (2, 3))}, {"r": np.array([2, 3], I64)})
    value = numpy_helper.from_array(np.array([1.5], F))
    check("ConstantOfShape", {"shape": np.array([2, 3], I64)}, attrs={"value": value})
    check("Range", {"a": np.array(1, I64), "b": np.array(11, I64), "d": np.array(3, I64)})
    check("Range", {"a": np.array(0.5, F), "b": np.array(-2, F), "d": np.array(-0.7, F)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", [[1, 2, 0, 3], [0, -1, 2, 1]])
def test_pad(mode, pads, rng):
    order = ["x", "pads", "value"] if mode == "constant" else ["x", "pads"]
    stored = {"pads": np.array(pads, I64), **({"value": np.array(0.5, F)} if mode == "constant" else {})}
    # onnx.reference refuses negative pads (crops), which onnxruntime computes
    check("Pad", {"x": _rand(rng, (4, 5))}, stored, {"mode": mode}, input_order=order, second_oracle=min(pads) >= 0)


@pytest.mark.parametrize("equation", ["bij,bjk->bik", "bth,bsh->bts", "ij->ji", "...i,i->..."])
def test_einsum(equation, rng):
    shapes = {"bij,bjk->bik": [(2, 3, 4), (2, 4, 5)], "bth,bsh->bts": [(2, 3, 4), (2, 5, 4)], "ij->ji": [(3, 4)],
              "...i,i->...": [(2, 3, 4), (4,)]}[equation]
    check("Einsum", {f"x{k}": _rand(rng, shape) for k, shape in enumerate(shapes)}, attrs={"equation": equation})


def test_matmul_and_gemm(rng):
    check("MatMul", {"a": _rand(rng, (2, 3, 4, 5)), "b": _rand(rng, (5, 6))})
    check("MatMul", {"a": _rand(rng, (4, 5)), "b": _rand(rng, (2, 5, 3))})
    check("Gemm", {"a": _rand(rng, (5, 4)), "b": _rand(rng, (6, 5))}, {"c": _rand(rng, (6,))},
          {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0})
    check("Gemm", {"a": _rand(rng, (3, 4)), "b": _rand(rng, (4, 6))})


@pytest.mark.parametrize("attrs", [{"pads": [1, 1]}, {"strides": [2], "dilations": [2]}, {"group": 2},
                                   {"auto_pad": "SAME_UPPER"}, {"auto_pad": "VALID", "strides": [3]}])
def test_conv_1d(attrs, rng):
    group = attrs.get("group", 1)
    check("Conv", {"x": _rand(rng, (2, 4, 11))}, {"w": _rand(rng, (6, 4 // group, 3)), "b": _rand(rng, (6,))},
          {"kernel_shape": [3], **attrs})


def test_normalizations(rng):
    x = _rand(rng, SHAPE)
    check("LayerNormalization", {"x": x}, {"s": _rand(rng, (5,)), "b": _rand(rng, (5,))}, {"epsilon": 1e-3})
    check("LayerNormalization", {"x": x}, {"s": _rand(rng, (4, 5))}, {"axis": 1}, n_outputs=3)
    stats = {"s": _rand(rng, (4,)), "b": _rand(rng, (4,)), "m": _rand(rng, (4,)), "v": np.abs(_rand(rng, (4,))) + 1}
    check("BatchNormalization", {"x": _rand(rng, (2, 4, 6))}, stats)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset, axis", [(17, -1), (17, 1), (11, 1)])
def test_softmax(op, opset, axis, rng):
    # opset 11's form (softmax over the dims from `axis` on, flattened) is what onnxruntime computes;
    # onnx.reference applies the opset-13 form at every opset
    check(op, {"x": _rand(rng, SHAPE) * F(5)}, attrs={"axis": axis}, opset=opset, second_oracle=opset >= 13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_of_wide_and_masked_rows(op, rng):
    """Values spanning more than exp's range (each row then shifted by its own max) and rows masked with -inf
    (as attention masks are), one row wholly: its output is NaN in both."""
    wide = _rand(rng, SHAPE) * F(60)
    masked = _rand(rng, SHAPE)
    masked[0, :, 1:] = -np.inf
    masked[2, 3] = -np.inf
    for x in (wide, masked):
        check(op, {"x": x}, attrs={"axis": -1}, second_oracle=False)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
                                "ReduceL2", "ReduceL1", "ReduceLogSumExp"])
@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reductions(op, opset, keepdims, rng):
    x = _rand(rng, SHAPE)
    axes = np.array([1, -1], I64)
    if op == "ReduceSum" or opset >= 18:
        check(op, {"x": x}, {"axes": axes}, {"keepdims": keepdims}, opset=opset)
    else:
        check(op, {"x": x}, attrs={"keepdims": keepdims, "axes": [1, -1]}, opset=opset)
    check(op, {"x": x}, attrs={"keepdims": keepdims}, opset=opset)   # every axis


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("shape", [(3, 4, 5), (32, 50, 32), (7, 900, 1), (400, 5, 3)])   # both sides of _SUM_MIN_SIZE
@pytest.mark.parametrize("dtype", [F, np.float64])
def test_sums_over_one_axis(op, axis, shape, dtype, rng):
    """One axis of a float array: a product with a row of ones (ops_nn._weighted_sum), both keepdims."""
    x = _rand(rng, shape, dtype)
    for keepdims in (0, 1):
        check(op, {"x": x}, {"axes": np.array([axis], I64)}, {"keepdims": keepdims}, opset=18)
    check(op, {"x": _rand(rng, shape, I64)}, {"axes": np.array([axis], I64)}, opset=18)   # integers: NumPy's


@pytest.mark.parametrize("shape", [SHAPE, (20, 20, 20)])   # both sides of _SUM_MIN_SIZE
def test_a_sum_over_an_axis_out_of_range_is_an_error(shape, rng):
    x = _rand(rng, shape)
    data = one_node_model("ReduceSum", {"x": x}, {"axes": np.array([3], I64)}, {}, 18, 1, None)
    with pytest.raises(Exception, match="axis 3"):
        fastrnn.InferenceSession(data).run(None, {"x": x})


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reductions(op, rng):
    x = _rand(rng, SHAPE, I64)
    check(op, {"x": x}, attrs={"axis": 1, "keepdims": 0})
    check(op, {"x": x}, attrs={"axis": -1, "select_last_index": 1})


@pytest.mark.parametrize("exclusive, reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(exclusive, reverse, rng):
    attrs = {"exclusive": exclusive, "reverse": reverse}
    check("CumSum", {"x": _rand(rng, SHAPE)}, {"axis": np.array(1, I64)}, attrs)
    check("CumSum", {"x": _rand(rng, (4, 6), I64)}, {"axis": np.array(-1, np.int32)}, {"reverse": reverse})


def test_dropout_is_the_identity(rng):
    check("Dropout", {"x": _rand(rng, SHAPE)}, opset=17)


def test_the_readme_lists_exactly_the_ops_the_session_runs():
    import os
    import re
    from fastrnn.onnx_session.plan import SUPPORTED
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        text = " ".join(f.read().split())   # the paragraph as one line, whatever its wrapping
    listed = text[text.index("it runs: ") + len("it runs: "):text.index("A file with any other op")]
    assert set(re.findall(r"[A-Z][A-Za-z0-9]+", listed)) == SUPPORTED


@pytest.mark.parametrize("bias_shape, dtype", [((5,), F), ((2, 1, 5), F), ((5,), np.float64)])
def test_matmul_then_add_of_a_constant(bias_shape, dtype, rng):
    """The fused MatMul + Add step (bias added in place) and its fallbacks: a bias that grows the product's shape,
    a bias of another dtype (onnxruntime refuses the mix: NumPy is the only oracle then)."""
    a, w = _rand(rng, (3, 4)), _rand(rng, (4, 5))
    bias = _rand(rng, bias_shape, dtype)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["p"]), helper.make_node("Add", ["p", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, 4])],
                              [helper.make_value_info("y", onnx.TypeProto())],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (got,) = fastrnn.InferenceSession(model.SerializeToString()).run(None, {"a": a})
    expected = (a @ w + bias).astype(F)
    assert got.dtype == F and got.shape == expected.shape
    assert_close(got, expected, RTOL, "MatMul + Add")
    if dtype == F:
        reference = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (want,) = reference.run(None, {"a": a})
        assert_close(got, want, RTOL, "MatMul + Add vs onnxruntime")
