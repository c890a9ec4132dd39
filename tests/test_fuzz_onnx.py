"""Property tests (hypothesis, derandomized) of reading ONNX files, one per defect class of
tests/test_onnx_limits.py: the folding budget bounds memory whatever the graph repeats; external data is read
only from inside the model's folder and within its file; a value defined twice is always refused, naming it;
any non-UTF-8 text field is a FormatError and `fastrnn inspect` exit 2.
"""
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from fastrnn import FormatError
from fastrnn.io import cli, onnx_constants

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_onnx_import import H, I, build_onnx  # noqa: E402

SETTINGS = settings(max_examples=40, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _load_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fastrnn.from_onnx(path)


@SETTINGS
@given(k=st.integers(1, 1 << 14), fan=st.integers(1, 600), gathers=st.integers(1, 600),
       widen=st.booleans())
def test_folding_memory_is_bounded_by_the_budget(tmp_path, monkeypatch, k, fan, gathers, widen):
    """Concat fan-outs, repeated Gather rows and widening Casts of one small tensor: the peak memory of from_onnx
    stays within 2x the budget (16 x the file, no slack here), whatever n asks for."""
    monkeypatch.setattr(onnx_constants, "FOLD_SLACK", 0)
    path = tmp_path / "m.onnx"
    build_onnx(path, "RNN")
    model = onnx.load(path)
    model.graph.initializer.extend([numpy_helper.from_array(np.ones((1, k), np.float32), "k"),
                                    numpy_helper.from_array(np.zeros(gathers, np.int64), "rows")])
    nodes = [helper.make_node("Concat", ["k"] * fan, ["fan"], axis=0),
             helper.make_node("Gather", ["fan", "rows"], ["gathered"], axis=0),
             helper.make_node("Cast", ["gathered"], ["cast"], to=TensorProto.DOUBLE if widen else TensorProto.FLOAT),
             helper.make_node("Identity", ["cast"], ["W2"])]
    for position, node in enumerate(nodes):
        model.graph.node.insert(position, node)
    model.graph.node[len(nodes)].input[1] = "W2"
    onnx.save(model, path)
    budget = onnx_constants.FOLD_LIMIT * os.path.getsize(path)
    tracemalloc.start()
    try:
        _load_quietly(path)
    except FormatError:
        pass   # past the budget, or a W of the wrong shape: both refused
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= 2 * budget + (4 << 20), (peak, budget)


LOCATIONS = ["w.bin", "./w.bin", "sub/../w.bin", "../w.bin", "../outside.bin", "link_in.bin", "link_out.bin",
             "sub", "", "/etc/hostname", "missing.bin"]
SAFE = {"w.bin", "./w.bin", "sub/../w.bin", "link_in.bin"}


@SETTINGS
@given(location=st.sampled_from(LOCATIONS), offset=st.integers(-8, 600), length=st.integers(-8, 600),
       with_length=st.booleans())
def test_external_data_is_read_only_from_inside_the_folder(tmp_path, location, offset, length, with_length):
    """Loads iff the location resolves inside the folder to a regular file and offset/length pick exactly W's
    bytes from inside it; the weights are then those bytes. Anything else is a FormatError."""
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    weights = build_onnx(path, "GRU")
    blob = np.arange(512, dtype=np.float32).tobytes()
    for name in ("w.bin", "../outside.bin"):
        (folder / name).write_bytes(blob)
    for name, target in (("link_in.bin", "w.bin"), ("link_out.bin", "../outside.bin")):
        if not os.path.lexists(folder / name):
            os.symlink(target, folder / name)
    model = onnx.load(path)
    tensor = next(t for t in model.graph.initializer if t.name == "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": offset, **({"length": length} if with_length else {})}
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, path)
    used = length if with_length else len(blob) - offset
    fits = location in SAFE and 0 <= offset and 0 <= used and offset + used <= len(blob)
    if not (fits and used == weights["W"].nbytes):
        with pytest.raises(FormatError):
            _load_quietly(path)
        return
    layer = _load_quietly(path)["rnn"]
    expected = np.frombuffer(blob[offset:offset + used], np.float32).reshape(weights["W"].shape)
    assert np.array_equal(layer.weight_ih_l0[:H], expected[0, H:2 * H])   # ONNX z, r, h -> torch r, z, n


@SETTINGS
@given(extra=st.lists(st.tuples(st.sampled_from(["W", "R", "B", "u0", "u1"]),
                                st.sampled_from(["initializer", "constant"])), max_size=4))
def test_a_value_defined_twice_is_always_refused_naming_it(tmp_path, extra):
    path = tmp_path / "m.onnx"
    build_onnx(path, "GRU")
    model = onnx.load(path)
    counts = {"W": 1, "R": 1, "B": 1}
    for k, (name, kind) in enumerate(extra):
        counts[name] = counts.get(name, 0) + 1
        tensor = numpy_helper.from_array(np.zeros(3, np.float32), name)
        if kind == "initializer":
            model.graph.initializer.append(tensor)
        else:
            model.graph.node.insert(0, helper.make_node("Constant", [], [name], value=tensor, name=f"c{k}"))
    onnx.save(model, path)
    duplicated = {name for name, count in counts.items() if count > 1}
    if not duplicated:
        assert list(_load_quietly(path)) == ["rnn"]
        return
    with pytest.raises(FormatError, match="is defined") as caught:
        _load_quietly(path)
    assert any(f"the value {name!r} is defined {counts[name]} times" in str(caught.value) for name in duplicated)


MARKERS = [b"Qop1", b"Qnm1", b"Qin1", b"Qgr1", b"Qdm1"]   # op type, node name, value name, graph name, domain


@SETTINGS
@given(marker=st.sampled_from(MARKERS), replacement=st.binary(min_size=4, max_size=4))
def test_any_text_field_that_is_not_utf8_is_a_format_error(tmp_path, capsys, marker, replacement):
    path = tmp_path / "m.onnx"
    head = helper.make_node("Qop1", ["Y"], ["Qin1"], name="Qnm1", domain="Qdm1")
    build_onnx(path, "GRU", extra_nodes=[head])
    model = onnx.load(path)
    model.graph.name = "Qgr1"
    model.opset_import.append(helper.make_opsetid("Qdm1", 1))
    path.write_bytes(model.SerializeToString().replace(marker, replacement))
    try:
        replacement.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(FormatError, match="is not UTF-8 text"):
            _load_quietly(path)
        assert cli.inspect_main(str(path)) == 2
        assert capsys.readouterr().err.count("\n") == 1
        return
    try:
        _load_quietly(path)
    except FormatError:
        pass   # valid text that makes another defect (a name now defined twice): refused, with a message
    assert cli.inspect_main(str(path)) in (0, 2)


@SETTINGS
@given(data=st.data())
def test_a_mutated_file_loads_and_runs_or_is_refused_with_a_message(tmp_path, data):
    """fastrnn.InferenceSession of any mutation of a valid file (an LSTM with a head of several ops): FormatError at
    load, or a session whose run gives arrays or a ValueError / TypeError; nothing else escapes."""
    from test_io_mutations import apply, mutations
    path = tmp_path / "m.onnx"
    head = [helper.make_node("Transpose", ["Y"], ["t"], perm=[2, 0, 1, 3]),
            helper.make_node("Reshape", ["t", "shape"], ["r"]),
            helper.make_node("ReduceMean", ["r"], ["pooled"], keepdims=0, axes=[1]),
            helper.make_node("Softmax", ["pooled"], ["probs"])]
    build_onnx(path, "LSTM", extra_nodes=head)
    model = onnx.load(path)
    model.graph.initializer.append(numpy_helper.from_array(np.array([3, 6, -1], np.int64), "shape"))
    raw = model.SerializeToString()
    mutated = apply(raw, data.draw(mutations(len(raw))))
    try:
        session = fastrnn.InferenceSession(mutated)
    except FormatError as exc:
        assert str(exc)
        return
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) and 0 < d < 64 else 2 for d in arg.shape]
        dtype = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}.get(arg.type)
        if dtype is None:
            return   # an input type the test does not make
        feeds[arg.name] = np.ones(shape, dtype)
    try:
        outputs = session.run(None, feeds)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    assert all(isinstance(out, np.ndarray) for out in outputs)
