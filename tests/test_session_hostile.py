"""fastrnn.InferenceSession on graphs and calls it must refuse, each with one clear error: ops it does not run
(at load, naming op and node), cycles, values nobody defines, recurrent weights computed from inputs, huge
constant shapes in ConstantOfShape / Expand / Tile (refused by the folding budget before anything is allocated)
and huge run-time shapes (refused before allocating); and per call: input names, dtypes and shapes, output names.
Also: the session runs with neither torch nor onnxruntime importable.
"""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import fastrnn
from fastrnn import FormatError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F = TensorProto.FLOAT


def graph_bytes(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def value(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def test_an_unsupported_op_is_refused_at_load_naming_op_and_node():
    data = graph_bytes([helper.make_node("Relu", ["x"], ["a"], name="ok"),
                        helper.make_node("NonMaxSuppression", ["a"], ["b"], name="nms"),
                        helper.make_node("TopK", ["b"], ["y"], name="top")], [value("x")], [value("y")])
    with pytest.raises(FormatError, match=r"op NonMaxSuppression \(node 'nms'\) is not one fastrnn.InferenceSession "
                                          r"runs \(and 1 more node\(s\): TopK\)"):
        fastrnn.InferenceSession(data)


def test_an_op_of_another_domain_is_refused():
    data = graph_bytes([helper.make_node("Relu", ["x"], ["y"], name="custom", domain="com.example")],
                       [value("x")], [value("y")])
    with pytest.raises(FormatError, match="op Relu of domain 'com.example' \\(node 'custom'\\)"):
        fastrnn.InferenceSession(data)


def test_a_cycle_is_refused():
    data = graph_bytes([helper.make_node("Add", ["x", "b"], ["a"], name="one"),
                        helper.make_node("Relu", ["a"], ["b"], name="two")], [value("x")], [value("a")])
    with pytest.raises(FormatError, match="cycle: node\\(s\\) 'one', 'two'"):
        fastrnn.InferenceSession(data)


def test_an_undefined_value_and_an_uncomputed_output_are_refused():
    data = graph_bytes([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")], [value("x")], [value("y")])
    with pytest.raises(FormatError, match="Add node 'add': input 'nowhere' is not defined"):
        fastrnn.InferenceSession(data)
    data = graph_bytes([helper.make_node("Relu", ["x"], ["y"])], [value("x")], [value("y"), value("ghost")])
    with pytest.raises(FormatError, match="graph output 'ghost' is not computed"):
        fastrnn.InferenceSession(data)


def test_recurrent_weights_computed_from_inputs_are_refused(tmp_path):
    from test_onnx_import import build_onnx
    build_onnx(tmp_path / "m.onnx", "GRU", graph_weights=True)
    with pytest.raises(FormatError, match="node 'rnn': W .* is computed from the graph's inputs"):
        fastrnn.InferenceSession(tmp_path / "m.onnx")


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand", "Tile"])
def test_huge_constant_shapes_hit_the_budget_without_allocating(op):
    """10^12 elements asked for by a 200-byte file: refused at load, and the peak memory stays small."""
    big = [10 ** 6, 10 ** 6]
    nodes = {"ConstantOfShape": [helper.make_node("ConstantOfShape", ["shape"], ["k"], name="grow")],
             "Expand": [helper.make_node("Expand", ["one", "shape"], ["k"], name="grow")],
             "Tile": [helper.make_node("Tile", ["one", "shape"], ["k"], name="grow")]}[op]
    inits = [ints("shape", big), numpy_helper.from_array(np.ones((1, 1), np.float32), "one")]
    data = graph_bytes(nodes + [helper.make_node("Add", ["x", "k"], ["y"])], [value("x")], [value("y")], inits)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=f"{op} node 'grow' at load would produce about 4000000000000 bytes"):
            fastrnn.InferenceSession(data)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 50 << 20


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand", "Tile", "Range"])
def test_huge_run_time_shapes_are_refused_before_allocating(op):
    """The same sizes computed from an input at run time: ValueError naming the node and the limit."""
    node = {"ConstantOfShape": helper.make_node("ConstantOfShape", ["n"], ["y"], name="grow"),
            "Expand": helper.make_node("Expand", ["one", "n"], ["y"], name="grow"),
            "Tile": helper.make_node("Tile", ["one", "n"], ["y"], name="grow"),
            "Range": helper.make_node("Range", ["zero", "n1", "step"], ["y"], name="grow")}[op]
    inits = [numpy_helper.from_array(np.ones((1, 1), np.float32), "one"), ints("zero", 0), ints("step", 1)]
    extra = [helper.make_node("ReduceMax", ["n"], ["n1"], keepdims=0)] if op == "Range" else []
    session = fastrnn.InferenceSession(graph_bytes(extra + [node], [value("n", TensorProto.INT64, [2])],
                                                   [value("y")], inits))
    with pytest.raises(ValueError, match=f"{op} node 'grow' would make .* bytes .*past fastrnn's limit"):
        session.run(None, {"n": np.array([10 ** 6, 10 ** 6], np.int64) * (10 ** 6 if op == "Range" else 1)})


@pytest.fixture
def small_session():
    data = graph_bytes([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                       [value("x", F, ["batch", 3])], [value("y", F, ["batch", 2])],
                       [numpy_helper.from_array(np.ones((3, 2), np.float32), "w")])
    return fastrnn.InferenceSession(data)


def test_inputs_and_outputs_are_described_as_onnxruntime_does(small_session):
    (x,), (y,) = small_session.get_inputs(), small_session.get_outputs()
    assert (x.name, x.shape, x.type) == ("x", ["batch", 3], "tensor(float)")
    assert (y.name, y.shape, y.type) == ("y", ["batch", 2], "tensor(float)")
    assert repr(x) == "NodeArg(name='x', type='tensor(float)', shape=['batch', 3])"


def test_undeclared_types_are_inferred_and_unknown_dims_are_none():
    """As onnxruntime: an output declared without a type gets the inferred one; an input without a shape has
    shape [], a dimension without value or name is None."""
    ort = pytest.importorskip("onnxruntime")
    partial = onnx.TypeProto()
    partial.tensor_type.elem_type = F
    partial.tensor_type.shape.dim.add()
    data = graph_bytes([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["z"], ["w"])],
                       [value("x"), helper.make_value_info("z", partial)],
                       [helper.make_value_info("y", onnx.TypeProto()), helper.make_value_info("w", partial)])
    ours, theirs = fastrnn.InferenceSession(data), ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for get in ("get_inputs", "get_outputs"):
        assert [(a.name, a.shape, a.type) for a in getattr(ours, get)()] == \
            [(a.name, a.shape, a.type) for a in getattr(theirs, get)()]


@pytest.mark.parametrize("feed, error, message", [
    ({}, ValueError, r"input_feed has no 'x'; the model's inputs are \['x'\]"),
    ({"x": np.ones((2, 3), np.float32), "z": 1}, ValueError, r"unknown input\(s\) \['z'\]"),
    ({"x": np.ones((2, 3))}, TypeError, r"input 'x' has dtype float64; expected float32"),
    ({"x": np.ones((2, 3, 1), np.float32)}, ValueError, r"input 'x' has shape \(2, 3, 1\); expected 2 dimensions "
                                                        r"\(batch, 3\)"),
    ({"x": np.ones((2, 4), np.float32)}, ValueError, r"input 'x' has shape \(2, 4\); expected \(batch, 3\) \(axis 1 "
                                                     r"must be 3\)"),
    ({"x": "text"}, TypeError, "input 'x' must be a NumPy array; got str"),
    ([("x", 1)], TypeError, "input_feed must be a dict"),
])
def test_each_call_checks_its_inputs(small_session, feed, error, message):
    with pytest.raises(error, match=message):
        small_session.run(None, feed)


def test_output_names_are_checked(small_session):
    feed = {"x": np.ones((2, 3), np.float32)}
    with pytest.raises(ValueError, match=r"output_names: 'z' is not an output of the model; its outputs are \['y'\]"):
        small_session.run(["z"], feed)
    with pytest.raises(TypeError, match="a list of names or None; got a string"):
        small_session.run("y", feed)
    assert small_session.run(["y", "y"], feed)[1].tolist() == [[3, 3], [3, 3]]


def test_errors_inside_a_step_name_the_node(small_session):
    data = graph_bytes([helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape")],
                       [value("x"), value("s", TensorProto.INT64)], [value("y")])
    with pytest.raises(ValueError, match="Reshape node 'reshape': cannot reshape"):
        fastrnn.InferenceSession(data).run(None, {"x": np.ones(5, np.float32), "s": np.array([2, 2], np.int64)})


def test_bytes_cannot_refer_to_external_data(tmp_path):
    from test_onnx_import import build_onnx
    build_onnx(tmp_path / "m.onnx", "GRU")
    onnx.save(onnx.load(tmp_path / "m.onnx"), tmp_path / "ext.onnx", save_as_external_data=True,
              location="ext.bin", size_threshold=0)
    fastrnn.InferenceSession(tmp_path / "ext.onnx")
    with pytest.raises(FormatError, match="a model given as bytes cannot refer to external files"):
        fastrnn.InferenceSession((tmp_path / "ext.onnx").read_bytes())


def test_runs_without_torch_or_onnxruntime(tmp_path):
    from test_onnx_import import build_onnx
    build_onnx(tmp_path / "m.onnx", "LSTM", direction="bidirectional")
    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnxruntime'] = None\n"
            "import numpy as np, fastrnn\n"
            "s = fastrnn.InferenceSession(sys.argv[1])\n"
            "y = s.run(None, {'X': np.ones((6, 3, 5), np.float32)})\n"
            "assert [a.shape for a in y] == [(6, 2, 3, 4), (2, 3, 4), (2, 3, 4)], [a.shape for a in y]\n"
            "assert 'torch' not in [m.split('.')[0] for m in sys.modules if sys.modules[m] is not None]\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": root}, timeout=120)
    assert done.returncode == 0, done.stderr
