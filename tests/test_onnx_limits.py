"""The limits of reading an ONNX file (fastrnn/io/onnx_file.py, onnx_constants.py), each case a defect found by
probing from_onnx as a hostile user would (each test failed before its fix):
- the folding budget charged one copy of an input a Concat names n times (a 1 MB file became 614 MB);
- the budget counted only the .onnx bytes, refusing honest files whose weights are in external data;
- a value defined twice (two initializers, a Constant shadowing one) silently took the last definition, where
  ONNX Runtime takes the first for an LSTM's weights;
- a non-UTF-8 op type of a skipped node raised TypeError (and `fastrnn inspect` exited 1, "internal error");
- external-data locations were checked only by the installed onnx (an older one read ../../secret).
"""
import os
import re

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import FormatError
from fastrnn.io import cli, onnx_constants

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from test_onnx_import import T, B, I, H, build_onnx, run_onnxruntime  # noqa: E402


def _edit(path, change):
    model = onnx.load(path)
    change(model)
    onnx.save(model, path)


def _slice_w(model, weights, columns=4096):
    """W stored as the first I columns of a wider initializer "wide" (3H, `columns`), taken by a Slice node."""
    kept = [t for t in model.graph.initializer if t.name != "W"]
    wide = np.zeros((1, weights["W"].shape[1], columns), np.float32)
    wide[..., :I] = weights["W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(wide, "wide")] + [
        numpy_helper.from_array(np.array([v], np.int64), k) for k, v in (("zero", 0), ("I", I), ("two", 2))])
    model.graph.node.insert(0, helper.make_node("Slice", ["wide", "zero", "I", "two"], ["W"], name="take"))


# ------------------------------------------------------------------------------------------ the budget
def test_a_concat_naming_one_input_many_times_is_charged_for_every_copy(tmp_path):
    """Concat(["k"] * 300) of a 256 KB k makes 75 MB, past 16 x 0.25 MB + 64 MB: refused before it is made."""
    path = tmp_path / "fan.onnx"
    build_onnx(path, "RNN")

    def fan_out(model):
        model.graph.initializer.append(numpy_helper.from_array(np.ones((1, 1 << 16), np.float32), "k"))
        model.graph.node.insert(0, helper.make_node("Concat", ["k"] * 300, ["big"], axis=0, name="fan"))
        model.graph.node.insert(1, helper.make_node("Identity", ["big"], ["W2"], name="use"))
        model.graph.node[2].input[1] = "W2"

    _edit(path, fan_out)
    with pytest.raises(FormatError, match="Concat node 'fan' would produce about 78643200 bytes"):
        fastrnn.from_onnx(path)


def test_external_data_counts_in_the_budget(tmp_path, monkeypatch):
    """A file whose folded weights are in external data loads as its inline twin does (no slack: the budget is
    then 16 x what the file and its data hold; the .onnx alone is a few hundred bytes, the Slice reads 192 KB)."""
    monkeypatch.setattr(onnx_constants, "FOLD_SLACK", 0)
    inline, external = tmp_path / "inline.onnx", tmp_path / "external.onnx"
    weights = build_onnx(inline, "GRU")
    _edit(inline, lambda model: _slice_w(model, weights))
    onnx.save(onnx.load(inline), external, save_as_external_data=True, location="external.bin", size_threshold=0)
    assert os.path.getsize(external) * onnx_constants.FOLD_LIMIT < 3 * H * 4096 * 4
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    want = fastrnn.from_onnx(inline)["rnn"](x)[0]
    assert_close(fastrnn.from_onnx(external)["rnn"](x)[0], want, RTOL[np.float32], "Y")


# ------------------------------------------------------------------------------------------ duplicate names
def _duplicate_r(kind):
    def change(model):
        R = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "R"))
        twin = numpy_helper.from_array(R * 0.5, "R")
        if kind == "initializer":
            model.graph.initializer.append(twin)
        else:
            model.graph.node.insert(0, helper.make_node("Constant", [], ["R"], value=twin, name="shadow"))
    return change


@pytest.mark.parametrize("kind, where", [("initializer", r"an initializer, an initializer"),
                                         ("constant", r"an initializer, Constant node 'shadow'")])
def test_a_value_defined_twice_is_refused_naming_it(tmp_path, kind, where):
    path = tmp_path / "twice.onnx"
    build_onnx(path, "LSTM")
    _edit(path, _duplicate_r(kind))
    with pytest.raises(FormatError, match=rf"the value 'R' is defined 2 times \({where}\)"):
        fastrnn.from_onnx(path)


def test_onnxruntime_has_no_single_rule_for_duplicates(tmp_path):
    """Why fastrnn refuses rather than follows: ONNX Runtime reads the first of two initializers "R" for an LSTM
    but the last for an Add (ORT 1.32; if this ever changes, the refusal above may become a rule to follow)."""
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "twice.onnx"
    weights = build_onnx(path, "LSTM")
    _edit(path, _duplicate_r("initializer"))
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    first = tmp_path / "first.onnx"
    build_onnx(first, "LSTM")
    assert_close(run_onnxruntime(path, {"X": x})["Y_h"], run_onnxruntime(first, {"X": x})["Y_h"], 1e-6, "Y_h")
    k = [numpy_helper.from_array(np.full(2, v, np.float32), "k") for v in (1, 2)]
    graph = helper.make_graph([helper.make_node("Add", ["x", "k"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], k)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros(2, np.float32)})[0].tolist() == [2, 2]
    assert weights["R"].shape == (1, 4 * H, H)


# ------------------------------------------------------------------------------------------ text fields
def _non_utf8_op_type(path):
    build_onnx(path, "GRU", extra_nodes=[helper.make_node("Relu", ["Y"], ["out"], name="head")])
    path.write_bytes(path.read_bytes().replace(b"Relu", b"R\xffl\xfe"))


def test_a_non_utf8_op_type_is_a_format_error(tmp_path):
    path = tmp_path / "bytes.onnx"
    _non_utf8_op_type(path)
    with pytest.raises(FormatError, match=r"model\.graph\.node\[1\]\.op_type is not UTF-8 text"):
        fastrnn.from_onnx(path)


def test_inspect_of_a_non_utf8_op_type_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bytes.onnx"
    _non_utf8_op_type(path)
    assert cli.inspect_main(str(path)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not UTF-8 text" in err


# ------------------------------------------------------------------------------------------ external data
def _with_external_w(tmp_path, entries):
    """A GRU file whose W points to external data described by `entries` {key: value}."""
    path = tmp_path / "model" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    build_onnx(path, "GRU")

    def point(model):
        tensor = next(t for t in model.graph.initializer if t.name == "W")
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in entries.items():
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)

    _edit(path, point)
    return path


def _naive_onnx_external_reader(monkeypatch):
    """What an older onnx did: read the location joined to the folder, no checks."""
    from onnx import external_data_helper as helper_module

    def naive(model, base_dir):
        for tensor in model.graph.initializer:
            if tensor.data_location == TensorProto.EXTERNAL:
                info = {e.key: e.value for e in tensor.external_data}
                with open(os.path.join(base_dir, info["location"]), "rb") as f:
                    tensor.raw_data = f.read()
                tensor.data_location = TensorProto.DEFAULT
                del tensor.external_data[:]

    monkeypatch.setattr(helper_module, "load_external_data_for_model", naive)


def test_a_location_outside_the_folder_is_refused_whatever_onnx_does(tmp_path, monkeypatch):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(3 * H * I, np.float32).tobytes())
    path = _with_external_w(tmp_path, {"location": "../secret.bin"})
    _naive_onnx_external_reader(monkeypatch)
    with pytest.raises(FormatError, match="outside the model's folder"):
        fastrnn.from_onnx(path)


@pytest.mark.parametrize("case, message", [("symlink", "outside the model's folder"),
                                           ("absolute", "not a relative path"),
                                           ("directory", "not a regular file"),
                                           ("fifo", "not a regular file"),
                                           ("past-the-end", "is outside 'w.bin'"),
                                           ("negative", "is outside 'w.bin'"),
                                           ("missing", "cannot be read"),
                                           ("unknown-key", "unknown external data key")])
def test_external_data_locations_are_checked(tmp_path, case, message):
    folder = tmp_path / "model"
    folder.mkdir()
    data = np.ones(3 * H * I, np.float32).tobytes()
    (folder / "w.bin").write_bytes(data)
    entries = {"location": "w.bin", "offset": 0, "length": len(data)}
    if case == "symlink":
        (tmp_path / "secret.bin").write_bytes(data)
        os.symlink(tmp_path / "secret.bin", folder / "link.bin")
        entries["location"] = "link.bin"
    elif case == "absolute":
        entries["location"] = str(folder / "w.bin")
    elif case == "directory":
        (folder / "sub").mkdir()
        entries["location"] = "sub"
    elif case == "fifo":
        os.mkfifo(folder / "pipe")
        entries["location"] = "pipe"
    elif case == "past-the-end":
        entries["offset"] = 4
    elif case == "negative":
        entries["offset"] = -4
    elif case == "missing":
        entries["location"] = "nothing.bin"
    else:
        entries["sha1"] = "x"
    path = _with_external_w(tmp_path, entries)
    with pytest.raises(FormatError, match=message):
        fastrnn.from_onnx(path)


def test_external_data_inside_the_folder_is_read(tmp_path):
    """The same weights through a symlink that stays inside the folder, at an offset: the layer computes what
    onnxruntime computes on the inline file."""
    inline = tmp_path / "inline.onnx"
    weights = build_onnx(inline, "GRU")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "data.bin").write_bytes(b"\0" * 8 + weights["W"].tobytes())
    os.symlink("data.bin", folder / "link.bin")
    path = _with_external_w(tmp_path, {"location": "link.bin", "offset": 8, "length": weights["W"].nbytes})
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    want = run_onnxruntime(inline, {"X": x})["Y_h"]
    assert_close(fastrnn.from_onnx(path)["rnn"](x)[1], want, RTOL[np.float32], "Y_h")


def test_the_onnx_extra_has_a_version_floor():
    """onnx 1.16.2 fixed the last known path traversal of external data (fastrnn checks locations itself too)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml")) as f:
        extra = re.search(r"^onnx = (.*?)(  #|$)", f.read(), re.M)
    assert extra and extra.group(1) == '["onnx>=1.16.2"]'

