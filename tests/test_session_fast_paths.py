"""The session's short paths for the usual exports, against onnxruntime (float32, RTOL 1e-5 of
tests/test_session_ops.py) on the cases they take and the ones they hand to the general code: Squeeze and
Unsqueeze with constant axes (negative, several, at several input ranks through one session), MatMul + Add of a
constant bias fused (bias (N,), broadcast (1, N) and (M, N)), Mul + ReduceSum fused (attention pooling as a
batched product, and every case it hands back to the two ops), and their errors naming the node.
"""
import numpy as np
import pytest

import fastrnn
from conftest import assert_close
from test_session_ops import F, I64, RTOL, _rand, check

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.mark.parametrize("axes, shape", [([1], (3, 1, 5)), ([-2], (3, 1, 5)), ([0, 2], (1, 4, 1)),
                                         ([-1, 0], (1, 4, 1))])
def test_squeeze_constant_axes(axes, shape, rng):
    check("Squeeze", {"x": _rand(rng, shape)}, {"axes": np.array(axes, I64)})
    check("Squeeze", {"x": _rand(rng, shape)}, attrs={"axes": axes}, opset=11)


def test_squeeze_of_a_dim_other_than_one_names_the_node(rng):
    model = _one("Squeeze", [1], rank=3)
    with pytest.raises(ValueError, match="Squeeze node 'the_node'"):
        fastrnn.InferenceSession(model).run(None, {"x": _rand(rng, (3, 2, 5))})


def _one(op, axes, rank):
    """A model of one Squeeze/Unsqueeze node with constant axes and an input of any shape of `rank` dims."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [f"d{k}" for k in range(rank)])
    y = helper.make_value_info("y", onnx.TypeProto())
    node = helper.make_node(op, ["x", "axes"], ["y"], name="the_node")
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(np.array(axes, I64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("axes", [[0], [-1], [1, 3], [0, -1], [-3, 1]])
def test_unsqueeze_constant_axes_at_several_ranks(axes, rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)   # any rank: one session, several ranks
    y = helper.make_value_info("y", onnx.TypeProto())
    node = helper.make_node("Unsqueeze", ["x", "axes"], ["y"], name="the_node")
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(np.array(axes, I64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    ours, theirs = fastrnn.InferenceSession(data), ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for shape in [(4,), (2, 3), (2, 3, 4), (4,)]:
        rank = len(shape) + len(axes)
        if not all(-rank <= a < rank for a in axes) or len({a % rank for a in axes}) < len(axes):
            continue   # axes this rank cannot take (the test below)
        feeds = {"x": _rand(rng, shape)}
        got, want = ours.run(None, feeds)[0], theirs.run(None, feeds)[0]
        assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("axes", [[5], [1, 1], [-4]])
def test_unsqueeze_bad_axes_name_the_node(axes, rng):
    with pytest.raises(ValueError, match="Unsqueeze node 'the_node'"):
        fastrnn.InferenceSession(_one("Unsqueeze", axes, rank=1)).run(None, {"x": _rand(rng, (3,))})


def _linear(bias, x_shape, w_shape):
    """MatMul(x, W) then Add(., bias), W and bias stored (a Linear layer as exporters write it for 3-D x)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))
    y = helper.make_value_info("y", onnx.TypeProto())
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["p"], name="mm"),
             helper.make_node("Add", ["p", "bias"], ["y"], name="add")]
    inits = [numpy_helper.from_array(rng.standard_normal(w_shape).astype(F), "W"),
             numpy_helper.from_array(bias, "bias")]
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("x_shape, bias_shape", [((2, 3, 5), (4,)), ((1, 1, 5), (4,)), ((2, 3, 5), (1, 4)),
                                                 ((2, 3, 5), (3, 4)), ((3, 5), (2, 3, 4)), ((5,), (4,))])
def test_matmul_add_fused(x_shape, bias_shape, rng):
    data = _linear(rng.standard_normal(bias_shape).astype(F), x_shape, (5, 4))
    feeds = {"x": _rand(rng, x_shape)}
    session = fastrnn.InferenceSession(data)
    assert [step[3].op for step in session._plan.steps] == ["MatMul"]   # the Add went into the MatMul's step
    got, want = session.run(None, feeds)[0], ort.InferenceSession(data).run(None, feeds)[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    assert_close(got, want, RTOL, "MatMul + Add")


@pytest.mark.parametrize("attrs, c_shape", [({"transB": 1}, (4,)), ({"transB": 1}, None), ({}, (4,)),
                                            ({"transB": 1}, (1, 4)), ({"transB": 1}, (3, 4)),
                                            ({"transB": 1, "alpha": 0.5}, (4,)), ({"transB": 1, "beta": 2.0}, (4,)),
                                            ({"transA": 1}, (4,))])
def test_gemm_stored_weights(attrs, c_shape, rng):
    a_shape = (5, 3) if attrs.get("transA") else (3, 5)
    b = _rand(rng, (4, 5) if attrs.get("transB") else (5, 4))
    stored = {"b": b} if c_shape is None else {"b": b, "c": _rand(rng, c_shape)}
    check("Gemm", {"a": _rand(rng, a_shape)}, stored, attrs)


def test_gemm_with_a_bias_fed_at_run_time(rng):
    check("Gemm", {"a": _rand(rng, (3, 5)), "c": _rand(rng, (3, 4))}, {"b": _rand(rng, (4, 5))}, {"transB": 1},
          input_order=["a", "b", "c"])


def test_float64_linear_layers_against_numpy(rng):
    """Gemm and MatMul + Add with float64 weights (the compiled product's double path) against NumPy."""
    a = rng.standard_normal((3, 5))
    w, bias = rng.standard_normal((4, 5)), rng.standard_normal(4)
    x = helper.make_tensor_value_info("a", TensorProto.DOUBLE, [3, 5])
    nodes = [helper.make_node("Gemm", ["a", "w", "bias"], ["g"], transB=1),
             helper.make_node("MatMul", ["a", "wt"], ["p"]), helper.make_node("Add", ["p", "bias"], ["m"]),
             helper.make_node("MatMul", ["a", "wt"], ["plain"])]
    inits = [numpy_helper.from_array(v, n) for n, v in (("w", w), ("wt", w.T.copy()), ("bias", bias))]
    graph = helper.make_graph(nodes, "g", [x], [helper.make_value_info(o, onnx.TypeProto()) for o in "gm"] +
                              [helper.make_value_info("plain", onnx.TypeProto())], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    g, m, plain = fastrnn.InferenceSession(model.SerializeToString()).run(None, {"a": a})
    for got, want in ((g, a @ w.T + bias), (m, a @ w.T + bias), (plain, a @ w.T)):
        assert got.dtype == np.float64 and np.abs(got - want).max() <= 1e-12


def _weighted_sum(a_shape, b_shape, axes, keepdims, dtype=F, opset=17, product_is_output=False):
    """Mul(a, b) then ReduceSum over constant axes (an input from opset 13, the attribute before)."""
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inputs = [helper.make_tensor_value_info(n, elem, list(shape)) for n, shape in (("a", a_shape), ("b", b_shape))]
    outputs = [helper.make_value_info(n, onnx.TypeProto()) for n in (("y", "p") if product_is_output else ("y",))]
    mul = helper.make_node("Mul", ["a", "b"], ["p"], name="the_mul")
    if opset >= 13:
        reduce = helper.make_node("ReduceSum", ["p", "axes"], ["y"], keepdims=keepdims)
        inits = [numpy_helper.from_array(np.array(axes, I64), "axes")]
    else:
        reduce, inits = helper.make_node("ReduceSum", ["p"], ["y"], axes=axes, keepdims=keepdims), []
    graph = helper.make_graph([mul, reduce], "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("a_shape, b_shape, axes", [
    ((4, 6, 1), (4, 6, 5), [1]), ((4, 6, 1), (4, 6, 5), [-2]), ((4, 6, 5), (4, 6, 1), [1]),   # either order
    ((1, 6, 1), (4, 6, 5), [1]), ((4, 6, 1), (1, 6, 5), [1]),                                  # batch broadcast
    ((6, 1), (6, 5), [0]), ((2, 3, 6, 1), (2, 3, 6, 5), [2]), ((4, 6, 1), (4, 6, 1), [1]),
    ((4, 0, 1), (4, 0, 5), [1]), ((1, 1, 1), (1, 1, 3), [1]),
    # handed back to Mul and ReduceSum: broadcast along the summed axis, another axis, other ranks
    ((4, 1, 1), (4, 6, 5), [1]), ((4, 6, 1), (4, 6, 5), [0]), ((4, 6, 1), (4, 6, 5), [2]),
    ((6, 1), (4, 6, 5), [1]), ((4, 6, 2), (4, 6, 5), [1])])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("dtype", [F, np.float64, I64])
def test_mul_reduce_sum_fused(a_shape, b_shape, axes, keepdims, dtype, rng):
    if a_shape == (4, 6, 2):   # shapes Mul cannot broadcast: an error naming the node on both paths
        with pytest.raises(ValueError, match="Mul node 'the_mul'"):
            fastrnn.InferenceSession(_weighted_sum(a_shape, b_shape, axes, keepdims)).run(
                None, {"a": _rand(rng, a_shape), "b": _rand(rng, b_shape)})
        return
    data = _weighted_sum(a_shape, b_shape, axes, keepdims, dtype)
    session = fastrnn.InferenceSession(data)
    assert [step[3].op for step in session._plan.steps] == ["Mul"]   # the ReduceSum went into the Mul's step
    feeds = {"a": _rand(rng, a_shape, dtype), "b": _rand(rng, b_shape, dtype)}
    got, want = session.run(None, feeds)[0], ort.InferenceSession(data).run(None, feeds)[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.dtype(dtype).kind == "f":
        assert_close(got, want, RTOL, "Mul + ReduceSum")
    else:
        assert np.array_equal(got, want)


def test_mul_reduce_sum_fused_propagates_nan_and_inf(rng):
    data = _weighted_sum((2, 5, 1), (2, 5, 3), [1], 0)
    a, b = _rand(rng, (2, 5, 1)), _rand(rng, (2, 5, 3))
    a[0, 2, 0], b[1, 4, 1], a[1, 0, 0], b[1, 0, 2] = np.nan, np.inf, 0.0, np.inf   # 0 * inf: NaN
    with np.errstate(invalid="ignore"):   # 0 * inf, as NumPy's Mul would say
        got = fastrnn.InferenceSession(data).run(None, {"a": a, "b": b})[0]
        want = (a * b).sum(axis=1)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite], RTOL, "Mul + ReduceSum with non-finite values")


@pytest.mark.parametrize("opset, product_is_output", [(11, False), (17, True)])
def test_mul_reduce_sum_unfused(opset, product_is_output, rng):
    """The axes attribute (opset 11) fuses too; a product that is also a graph output keeps its own step."""
    data = _weighted_sum((4, 6, 1), (4, 6, 5), [1], 1, opset=opset, product_is_output=product_is_output)
    session = fastrnn.InferenceSession(data)
    assert [step[3].op for step in session._plan.steps] == (["Mul", "ReduceSum"] if product_is_output else ["Mul"])
    feeds = {"a": _rand(rng, (4, 6, 1)), "b": _rand(rng, (4, 6, 5))}
    for got, want in zip(session.run(None, feeds), ort.InferenceSession(data).run(None, feeds)):
        assert got.shape == want.shape
        assert_close(got, want, RTOL, "Mul + ReduceSum")
