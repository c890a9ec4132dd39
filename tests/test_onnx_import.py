"""fastrnn.from_onnx on LSTM / GRU / RNN nodes built with onnx.helper, for the variants torch never exports
(reverse-only direction, GRU linear_before_reset=0, peepholes, layout 1, initial states, sequence_lens of varied
lengths), each checked against onnxruntime running the same file (float32, conftest.RTOL). onnxruntime's CPU
kernels refuse layout 1 ("batchwise recurrent operations are not supported"), so a layout-1 file is checked
against onnxruntime running its layout-0 twin (same weights) on the transposed inputs, its outputs transposed
back. Also: attributes fastrnn does not compute, files that are not ONNX, skipped ops, the missing-extra
error, `fastrnn inspect`.
"""
import sys
import warnings

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import FormatError
from fastrnn.io import cli

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
T, B, I, H = 6, 3, 5, 4
OPSET = 14  # layout exists from opset 14


def build_onnx(path, op, *, direction="forward", layout=0, bias=True, peephole=False, lengths=False,
               initial_h=False, initial_c=False, attributes=None, seed=0, extra_nodes=(), graph_weights=False):
    """An ONNX model holding one `op` node named "rnn" (random weights), its optional inputs as graph inputs.

    Returns the node's weights {W, R, B, P} (ONNX layout) for checks."""
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = GATES[op] * H
    weights = {"W": rng.uniform(-0.6, 0.6, (D, G, I)), "R": rng.uniform(-0.6, 0.6, (D, G, H))}
    if bias:
        weights["B"] = rng.uniform(-0.5, 0.5, (D, 2 * G))
    if peephole:
        weights["P"] = rng.uniform(-0.5, 0.5, (D, 3 * H))
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    x_shape = [T, B, I] if layout == 0 else [B, T, I]
    state_shape = [D, B, H] if layout == 0 else [B, D, H]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    node_inputs = ["X", "W", "R", "B" if bias else "", "sequence_lens" if lengths else "",
                   "initial_h" if initial_h else ""]
    if lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B]))
    if initial_h:
        inputs.append(helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, state_shape))
    if op == "LSTM":
        node_inputs += ["initial_c" if initial_c else "", "P" if peephole else ""]
        if initial_c:
            inputs.append(helper.make_tensor_value_info("initial_c", TensorProto.FLOAT, state_shape))
    while node_inputs and not node_inputs[-1]:
        node_inputs.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attrs = dict(hidden_size=H, direction=direction, layout=layout, **(attributes or {}))
    node = helper.make_node(op, node_inputs, outputs, name="rnn", **attrs)
    y_shape = [T, D, B, H] if layout == 0 else [B, T, D, H]
    graph_outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)] + [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, state_shape) for name in outputs[1:]]
    initializers = [numpy_helper.from_array(v, name=k) for k, v in weights.items()]
    if graph_weights:  # W is a graph input instead of a stored initializer
        initializers = [t for t in initializers if t.name != "W"]
        inputs.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, list(weights["W"].shape)))
    nodes = [node, *extra_nodes]
    for extra in extra_nodes:
        graph_outputs.append(helper.make_tensor_value_info(extra.output[0], TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "g", inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.save(model, path)
    return weights


def run_onnxruntime(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def build_pair(tmp_path, op, layout=0, **options):
    """(the file with `layout`, the file onnxruntime runs: the same one, or for layout 1 its layout-0 twin)."""
    path = tmp_path / f"{op.lower()}.onnx"
    build_onnx(path, op, layout=layout, **options)
    if layout == 0:
        return path, path
    twin = tmp_path / f"{op.lower()}_layout0.onnx"
    build_onnx(twin, op, layout=0, **options)
    return path, twin


def onnxruntime_outputs(path, layout, feeds):
    """Y, Y_h (, Y_c) of the node in `path` (layout 0) for layout-`layout` inputs, in layout-`layout` shapes."""
    if layout == 0:
        return run_onnxruntime(path, feeds)
    swap = {"X": (1, 0, 2), "initial_h": (1, 0, 2), "initial_c": (1, 0, 2)}
    feeds = {k: (v.transpose(swap[k]).copy() if k in swap else v) for k, v in feeds.items()}
    want = run_onnxruntime(path, feeds)
    return {k: v.transpose((2, 0, 1, 3) if k == "Y" else (1, 0, 2)) for k, v in want.items()}


def compare(paths, op, direction, layout, *, lengths=None, h0=None, c0=None, seed=1):
    """Run the file in onnxruntime and through from_onnx's layer; compare Y, Y_h (and Y_c)."""
    path, reference = paths
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    x = rng.standard_normal((T, B, I) if layout == 0 else (B, T, I)).astype(np.float32)
    feeds = {"X": x}
    if lengths is not None:
        feeds["sequence_lens"] = np.asarray(lengths, np.int32)
    if h0 is not None:
        feeds["initial_h"] = h0
    if c0 is not None:
        feeds["initial_c"] = c0
    want = onnxruntime_outputs(reference, layout, feeds)
    layer = fastrnn.from_onnx(path)["rnn"]
    assert layer.direction == direction
    assert layer.batch_first == (layout == 1)

    def to_dbh(state):  # ONNX layout-1 states are (B, D, H); fastrnn's are (D, B, H)
        return None if state is None else (state if layout == 0 else np.ascontiguousarray(state.transpose(1, 0, 2)))

    hx = to_dbh(h0)
    if op == "LSTM" and (h0 is not None or c0 is not None):
        hx = (to_dbh(h0) if h0 is not None else np.zeros((D, B, H), np.float32),
              to_dbh(c0) if c0 is not None else np.zeros((D, B, H), np.float32))
    out, state = layer(x, hx, lengths=None if lengths is None else np.asarray(lengths))
    y = want["Y"]
    y = y.transpose(0, 2, 1, 3).reshape(T, B, D * H) if layout == 0 else y.reshape(B, T, D * H)
    tol = RTOL[np.float32]
    assert_close(out, y, tol, "Y")
    h, c = state if op == "LSTM" else (state, None)
    assert_close(h, to_dbh(want["Y_h"]), tol, "Y_h")
    if op == "LSTM":
        assert_close(c, to_dbh(want["Y_c"]), tol, "Y_c")
    return layer


DIRECTIONS = ["forward", "reverse", "bidirectional"]
VARIED_LENGTHS = [T, 2, 5]  # unsorted, one full length


def _states(op, direction, layout, with_states, seed=2):
    if not with_states:
        return {}
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    shape = (D, B, H) if layout == 0 else (B, D, H)
    states = {"h0": rng.standard_normal(shape).astype(np.float32) * 0.5}
    if op == "LSTM":
        states["c0"] = rng.standard_normal(shape).astype(np.float32) * 0.5
    return states


@pytest.mark.parametrize("with_states", [False, True], ids=["zero-state", "states+lengths"])
@pytest.mark.parametrize("peephole", [False, True], ids=["", "peephole"])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_lstm_node(tmp_path, direction, layout, peephole, with_states):
    paths = build_pair(tmp_path, "LSTM", direction=direction, layout=layout, peephole=peephole,
                       lengths=with_states, initial_h=with_states, initial_c=with_states)
    layer = compare(paths, "LSTM", direction, layout, lengths=VARIED_LENGTHS if with_states else None,
                    **_states("LSTM", direction, layout, with_states))
    assert layer.peephole == peephole


@pytest.mark.parametrize("with_states", [False, True], ids=["zero-state", "states+lengths"])
@pytest.mark.parametrize("linear_before_reset", [0, 1])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_gru_node(tmp_path, direction, layout, linear_before_reset, with_states):
    paths = build_pair(tmp_path, "GRU", direction=direction, layout=layout, lengths=with_states,
                       initial_h=with_states, attributes={"linear_before_reset": linear_before_reset})
    layer = compare(paths, "GRU", direction, layout, lengths=VARIED_LENGTHS if with_states else None,
                    **_states("GRU", direction, layout, with_states))
    assert layer.linear_before_reset == bool(linear_before_reset)


@pytest.mark.parametrize("with_states", [False, True], ids=["zero-state", "states+lengths"])
@pytest.mark.parametrize("activation", ["Tanh", "Relu"])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_rnn_node(tmp_path, direction, layout, activation, with_states):
    D = 2 if direction == "bidirectional" else 1
    paths = build_pair(tmp_path, "RNN", direction=direction, layout=layout, lengths=with_states,
                       initial_h=with_states, attributes={"activations": [activation] * D})
    layer = compare(paths, "RNN", direction, layout, lengths=VARIED_LENGTHS if with_states else None,
                    **_states("RNN", direction, layout, with_states))
    assert layer.nonlinearity == activation.lower()


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_nodes_without_bias(tmp_path, op):
    paths = build_pair(tmp_path, op, direction="bidirectional", bias=False)
    assert not compare(paths, op, "bidirectional", 0).bias


def test_explicit_default_activations_are_accepted(tmp_path):
    paths = build_pair(tmp_path, "LSTM", direction="bidirectional",
                       attributes={"activations": ["Sigmoid", "Tanh", "Tanh"] * 2})
    compare(paths, "LSTM", "bidirectional", 0)


def test_weight_mapping(tmp_path):
    """ONNX gate blocks i, o, f, c -> rows i, f, g, o; B -> bias_ih, bias_hh; P (i, o, f) -> rows [i, f, o]."""
    weights = build_onnx(tmp_path / "m.onnx", "LSTM", peephole=True)
    sd = fastrnn.from_onnx(tmp_path / "m.onnx")["rnn"].state_dict()
    W, R, Bias, P = (weights[k][0] for k in "WRBP")
    i, o, f, c = (slice(k * H, (k + 1) * H) for k in range(4))
    np.testing.assert_array_equal(sd["weight_ih_l0"], np.concatenate([W[i], W[f], W[c], W[o]]))
    np.testing.assert_array_equal(sd["weight_hh_l0"], np.concatenate([R[i], R[f], R[c], R[o]]))
    np.testing.assert_array_equal(sd["bias_ih_l0"], np.concatenate([Bias[s] for s in (i, f, c, o)]))
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.concatenate([Bias[4 * H:][s] for s in (i, f, c, o)]))
    np.testing.assert_array_equal(sd["weight_peephole_l0"], np.stack([P[i], P[2 * H:3 * H], P[H:2 * H]]))


# ---------------------------------------------------------------------------------- the reverse layer
def test_reverse_layer_is_inference_only(tmp_path):
    path = tmp_path / "rev.onnx"
    build_onnx(path, "GRU", direction="reverse")
    layer = fastrnn.from_onnx(path)["rnn"]
    assert layer.direction == "reverse" and isinstance(layer, fastrnn.GRU)
    assert "direction='reverse'" in repr(layer)
    with pytest.raises(ValueError, match="backwards"):
        layer.step(np.zeros((1, I), np.float32))
    with pytest.raises(TypeError, match="inference only"):
        layer.forward_train(np.zeros((T, 1, I), np.float32))


def test_reverse_layer_pickles(tmp_path):
    import pickle
    path = tmp_path / "rev.onnx"
    build_onnx(path, "LSTM", direction="reverse")
    layer = fastrnn.from_onnx(path)["rnn"]
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    copy = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(copy(x)[0], layer(x)[0])


# ---------------------------------------------------------------------------------- what is refused
@pytest.mark.parametrize("op, attributes, attribute", [
    ("LSTM", {"activations": ["HardSigmoid", "Tanh", "Tanh"]}, "activations"),
    ("LSTM", {"clip": 3.0}, "clip"),
    ("LSTM", {"input_forget": 1}, "input_forget"),
    ("GRU", {"activations": ["Sigmoid", "Relu"]}, "activations"),
    ("GRU", {"clip": 1.0}, "clip"),
    ("RNN", {"activations": ["Sigmoid"]}, "activations"),
    ("RNN", {"activations": ["Affine"], "activation_alpha": [0.5]}, "activation_alpha"),
    ("GRU", {"coupled": 1}, "coupled is unknown"),
])
def test_unsupported_attributes_name_the_node_and_attribute(tmp_path, op, attributes, attribute):
    path = tmp_path / "bad.onnx"
    build_onnx(path, op, attributes=attributes)
    with pytest.raises(FormatError, match=f"node 'rnn': attribute {attribute}"):
        fastrnn.from_onnx(path)


def test_weights_computed_by_the_graph_are_refused(tmp_path):
    path = tmp_path / "dyn.onnx"
    build_onnx(path, "GRU", graph_weights=True)
    with pytest.raises(FormatError, match="node 'rnn': W .* is computed by the graph"):
        fastrnn.from_onnx(path)


def _rewrite_initializer(path, name, change):
    model = onnx.load(path)
    for tensor in model.graph.initializer:
        if tensor.name == name:
            change(tensor)
    onnx.save(model, path)


def test_nan_weights_are_refused(tmp_path):
    path = tmp_path / "nan.onnx"
    weights = build_onnx(path, "LSTM")
    bad = weights["R"].copy()
    bad[0, 3, 1] = np.nan
    _rewrite_initializer(path, "R", lambda t: t.CopyFrom(numpy_helper.from_array(bad, name="R")))
    with pytest.raises(FormatError, match="node 'rnn': .*NaN"):
        fastrnn.from_onnx(path)


def test_weights_shorter_than_their_shape(tmp_path):
    path = tmp_path / "short.onnx"
    build_onnx(path, "GRU")
    _rewrite_initializer(path, "W", lambda t: setattr(t, "raw_data", t.raw_data[:-4]))
    with pytest.raises(FormatError, match="node 'rnn': W .* is not a readable tensor"):
        fastrnn.from_onnx(path)


def test_external_data_outside_the_models_folder_is_refused(tmp_path):
    path = tmp_path / "evil.onnx"
    build_onnx(path, "GRU")

    def point_outside(tensor):
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "../../../etc/passwd"

    _rewrite_initializer(path, "W", point_outside)
    with pytest.raises(FormatError, match="outside"):
        fastrnn.from_onnx(path)


@pytest.mark.parametrize("stored, value, warns", [("initial_h", 0.5, True), ("initial_h", 0.0, False),
                                                  ("sequence_lens", T, True)])
def test_call_inputs_stored_as_constants_are_pointed_out(tmp_path, stored, value, warns):
    """States and lengths are call arguments of a layer; a file storing them gets a warning saying so
    (an all-zero stored state is what calling without one gives: no warning)."""
    path = tmp_path / "stored.onnx"
    build_onnx(path, "GRU", lengths=stored == "sequence_lens", initial_h=stored == "initial_h")
    model = onnx.load(path)
    shape = [B] if stored == "sequence_lens" else [1, B, H]
    dtype = np.int32 if stored == "sequence_lens" else np.float32
    model.graph.initializer.append(numpy_helper.from_array(np.full(shape, value, dtype), name=stored))
    graph_inputs = [i for i in model.graph.input if i.name != stored]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    onnx.save(model, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastrnn.from_onnx(path)
    messages = [str(w.message) for w in caught]
    assert any(f"{stored} is a constant of the file" in m for m in messages) == warns, messages


def test_unsupported_ops_around_the_rnn_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "model.onnx"
    head = helper.make_node("Relu", ["Y_h"], ["head"], name="head")
    pool = helper.make_node("ReduceMean", ["Y"], ["pooled"], name="pool")
    build_onnx(path, "LSTM", extra_nodes=[head, pool])
    with pytest.warns(UserWarning, match="skipped 2 other node.*Relu, ReduceMean"):
        layers = fastrnn.from_onnx(path)
    assert list(layers) == ["rnn"]
    compare_free = layers["rnn"](np.zeros((T, B, I), np.float32))[0]
    assert compare_free.shape == (T, B, H)


def test_no_warning_when_nothing_is_skipped(tmp_path):
    build_onnx(tmp_path / "m.onnx", "RNN")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastrnn.from_onnx(tmp_path / "m.onnx")


@pytest.mark.parametrize("content", [b"", b"not an onnx file at all\n", bytes(range(256)) * 4,
                                     b"\x08\x07\x12\x03abc\xff\xff\xff"])
def test_files_that_are_not_onnx(tmp_path, content):
    path = tmp_path / "x.onnx"
    path.write_bytes(content)
    with pytest.raises(FormatError, match="not an ONNX model"):
        fastrnn.from_onnx(path)


def test_a_weights_file_is_not_onnx(tmp_path):
    fastrnn.save(tmp_path / "w.safetensors", {"w": np.ones(3, np.float32)})
    with pytest.raises(FormatError, match="not an ONNX model"):
        fastrnn.from_onnx(tmp_path / "w.safetensors")


def test_load_of_an_onnx_file_points_to_from_onnx(tmp_path):
    build_onnx(tmp_path / "m.onnx", "RNN")
    with pytest.raises(FormatError, match="from_onnx"):
        fastrnn.load(tmp_path / "m.onnx")


def test_missing_onnx_package_names_the_extra(tmp_path, monkeypatch):
    build_onnx(tmp_path / "m.onnx", "RNN")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"fastrnn\[onnx\]"):
        fastrnn.from_onnx(tmp_path / "m.onnx")


# ------------------------------------------------------------------------------------ fastrnn inspect
def test_inspect_describes_an_onnx_file(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    build_onnx(path, "GRU", direction="reverse", layout=1, lengths=True, initial_h=True,
               attributes={"linear_before_reset": 1}, extra_nodes=[helper.make_node("Relu", ["Y_h"], ["r"])])
    assert cli.inspect_main(str(path)) == 0
    out = capsys.readouterr().out
    assert "ONNX model, 1 recurrent node(s)" in out
    assert "rnn  GRU  direction=reverse layout=1 input_size=5 hidden_size=4 bias=True" in out
    assert "linear_before_reset=True" in out and "sequence_lens=sequence_lens initial_h=initial_h" in out
    assert "ReverseGRU(5, 4, batch_first=True, direction='reverse')" in out
    assert "not imported): Relu" in out


def test_inspect_of_an_onnx_file_with_unsupported_attributes(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    build_onnx(path, "LSTM", attributes={"clip": 2.0})
    assert cli.inspect_main(str(path)) == 2
    assert "attribute clip" in capsys.readouterr().err


# ------------------------------------------------------------------------------ mutated ONNX files
def _mutated_onnx_cases():
    from hypothesis import HealthCheck, given, settings, strategies as st
    from test_io_mutations import apply, mutations

    @given(data=st.data(), op=st.sampled_from(["LSTM", "GRU", "RNN"]))
    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    def test_from_onnx_of_mutated_files(tmp_path, data, op):
        """Any mutation of a valid file gives layers or FormatError (warnings about skipped nodes aside)."""
        path = tmp_path / "m.onnx"
        build_onnx(path, op, direction="bidirectional", peephole=op == "LSTM", lengths=True, initial_h=True)
        raw = path.read_bytes()
        path.write_bytes(apply(raw, data.draw(mutations(len(raw)))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                layers = fastrnn.from_onnx(path)
            except FormatError as exc:
                assert str(exc)
                return
        for layer in layers.values():
            x = np.zeros((2, 1, layer.input_size), layer.dtype)
            layer(np.swapaxes(x, 0, 1) if layer.batch_first else x)

    return test_from_onnx_of_mutated_files


test_from_onnx_of_mutated_files = _mutated_onnx_cases()


def test_inspect_without_the_onnx_package_names_the_extra(tmp_path, capsys, monkeypatch):
    build_onnx(tmp_path / "m.onnx", "RNN")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.inspect_main(str(tmp_path / "m.onnx")) == 2
    assert 'pip install "fastrnn[onnx]"' in capsys.readouterr().err


def test_weights_moved_by_slice_and_concat_nodes_are_evaluated(tmp_path):
    """W stored in two halves joined by a Concat node (as exporters write without constant folding)."""
    path = tmp_path / "concat.onnx"
    weights = build_onnx(path, "GRU")
    model = onnx.load(path)
    halves = np.split(weights["W"], 2, axis=1)
    kept = [t for t in model.graph.initializer if t.name != "W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(h, f"W{k}") for k, h in enumerate(halves)])
    model.graph.node.insert(0, helper.make_node("Concat", ["W0", "W1"], ["W"], axis=1, name="join"))
    onnx.save(model, path)
    compare((path, path), "GRU", "forward", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the Concat is read, not skipped
        fastrnn.from_onnx(path)


def test_a_concat_chain_that_would_explode_is_refused(tmp_path):
    """40 Concats each doubling a 1 KB tensor would ask for a terabyte: refused by the evaluation budget."""
    path = tmp_path / "doubling.onnx"
    weights = build_onnx(path, "RNN")
    model = onnx.load(path)
    kept = [t for t in model.graph.initializer if t.name != "W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(np.ones((1, 256), np.float32), "seed")])
    previous = "seed"
    for k in range(40):
        model.graph.node.insert(k, helper.make_node("Concat", [previous, previous], [f"d{k}"], axis=1))
        previous = f"d{k}"
    model.graph.node.insert(40, helper.make_node("Reshape", [previous, "shape"], ["W"]))
    model.graph.initializer.append(numpy_helper.from_array(np.array(weights["W"].shape, np.int64), "shape"))
    onnx.save(model, path)
    with pytest.raises(FormatError, match="would produce about"):
        fastrnn.from_onnx(path)
