"""The steps a session runs once per input shapes (fastrnn/onnx_session/shapes.py, executor.py's ShapeCache):
which steps are static in the exporters' graphs and hand-made ones, results against onnxruntime (float32, RTOL
1e-5 of tests/test_session_ops.py) when shapes alternate and outnumber the cache, static outputs the caller may
write, a failing static step that fails again, entries past the byte bound, and recurrent nodes never cached
(a stream's states change their outputs).
"""
import numpy as np
import pytest

import fastrnn
from conftest import assert_close
from fastrnn.onnx_session.shapes import ShapeCache
from test_session_ops import F, I64, RTOL

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_value_info(o, onnx.TypeProto()) for o in outputs],
                              list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _masked_mean():
    """y (B, 1) = sum over t < lengths[b] of x[b, t] / lengths[b]: the exporters' mask of position counters
    (Shape -> ConstantOfShape -> CumSum, static) against lengths (data); also returns the static Shape."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T"])
    lengths = helper.make_tensor_value_info("lengths", TensorProto.INT64, ["B"])
    one = numpy_helper.from_array(np.array([1], I64), "one")
    axis = numpy_helper.from_array(np.array(1, I64), "axis")
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                              value=numpy_helper.from_array(np.array([1], I64))),
             helper.make_node("CumSum", ["ones", "axis"], ["positions"]),
             helper.make_node("Unsqueeze", ["lengths", "one"], ["column"]),
             helper.make_node("LessOrEqual", ["positions", "column"], ["valid"]),
             helper.make_node("Cast", ["valid"], ["weights"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "weights"], ["kept"]),
             helper.make_node("ReduceSum", ["kept", "one"], ["total"]),
             helper.make_node("Cast", ["column"], ["count"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["total", "count"], ["y"], name="the_div")]
    return _model(nodes, [x, lengths], ["y", "shape"], [one, axis])


def test_static_steps_of_the_mask():
    session = fastrnn.InferenceSession(_masked_mean())
    assert [session._plan.steps[k][3].op for k in session._plan.static] == ["Shape", "ConstantOfShape", "CumSum"]


def test_alternating_shapes_past_the_capacity_agree_with_onnxruntime(rng):
    data = _masked_mean()
    ours, theirs = fastrnn.InferenceSession(data), ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    sizes = [(B, T) for B in (1, 3) for T in (1, 2, 5, 7, 9, 11, 13, 17, 19)]   # 18 shapes > CAPACITY (16)
    assert len(sizes) > ShapeCache.CAPACITY
    for B, T in sizes * 2 + sizes[::-1]:
        feeds = {"x": rng.standard_normal((B, T)).astype(F), "lengths": rng.integers(1, T + 1, B).astype(I64)}
        got, want = ours.run(None, feeds), theirs.run(None, feeds)
        assert_close(got[0], want[0], RTOL, f"B{B} T{T}")
        assert np.array_equal(got[1], want[1])


def test_a_static_output_is_the_callers_to_write(rng):
    session = fastrnn.InferenceSession(_masked_mean())
    feeds = {"x": np.ones((2, 3), F), "lengths": np.array([1, 3], I64)}
    first = session.run(["shape"], feeds)[0]
    first[:] = 99   # the caller's copy: the kept value stays the same
    assert first.flags.writeable
    assert session.run(["shape"], feeds)[0].tolist() == [2, 3]


def test_a_failing_static_step_fails_on_every_call(rng):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T"])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "start", "end"], ["tail"]),
             helper.make_node("Concat", ["tail", "three"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"], name="the_reshape")]   # (T, 3): B must be 3
    inits = [numpy_helper.from_array(np.array(v, I64), n) for n, v in
             (("start", [1]), ("end", [2]), ("three", [3]))]
    session = fastrnn.InferenceSession(_model(nodes, [x], ["y"], inits))
    assert len(session._plan.static) == 3
    for _ in range(2):
        with pytest.raises(ValueError, match="Reshape node 'the_reshape'"):
            session.run(None, {"x": np.ones((2, 4), F)})
    assert session.run(None, {"x": np.arange(12, dtype=F).reshape(3, 4)})[0].shape == (4, 3)


def test_results_past_the_byte_bound_are_recomputed_not_kept(rng):
    data = _masked_mean()
    session = fastrnn.InferenceSession(data)
    B, T = 2, ShapeCache.ENTRY_BYTES // 8   # positions (B, T) int64: twice the bound
    feeds = {"x": rng.standard_normal((B, T)).astype(F), "lengths": np.array([T, 3], I64)}
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    for _ in range(2):
        assert_close(session.run(None, feeds)[0], want, RTOL, "past the bound")
    cache = session._execute.__globals__["lookup"].__self__
    assert len(cache) == 0


def test_recurrent_nodes_fed_from_shapes_alone_are_never_kept():
    """An LSTM whose input is ones shaped like the caller's: its outputs depend on the stream's states."""
    n = helper.make_tensor_value_info("n", TensorProto.FLOAT, ["T", "B"])
    rng = np.random.default_rng(3)
    H, I = 4, 3
    inits = [numpy_helper.from_array(np.array([I], I64), "width"),
             numpy_helper.from_array(rng.standard_normal((1, 4 * H, I)).astype(F), "W"),
             numpy_helper.from_array(rng.standard_normal((1, 4 * H, H)).astype(F), "R")]
    nodes = [helper.make_node("Shape", ["n"], ["shape"]),
             helper.make_node("Concat", ["shape", "width"], ["x_shape"], axis=0),
             helper.make_node("ConstantOfShape", ["x_shape"], ["x"],
                              value=numpy_helper.from_array(np.array([1.0], F))),
             helper.make_node("LSTM", ["x", "W", "R"], ["Y", "Y_h"], hidden_size=H)]
    data = _model(nodes, [n], ["Y_h"], inits)
    session = fastrnn.InferenceSession(data)
    assert [session._plan.steps[k][3].op for k in session._plan.static] == ["Shape", "Concat", "ConstantOfShape"]
    feeds = {"n": np.zeros((2, 1), F)}
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert_close(session.run(None, feeds)[0], want, RTOL, "session")
    assert_close(session.run(None, feeds)[0], want, RTOL, "session, second call")
    stream = session.stream()
    first, second = stream.run(None, feeds)[0], stream.run(None, feeds)[0]
    assert_close(first, want, RTOL, "stream, first call")
    assert np.abs(second - first).max() > 1e-3   # the second call started from the first one's states
