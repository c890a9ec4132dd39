"""fastrnn.InferenceSession on whole models as torch.onnx.export writes them: the architectures of examples/ and
more (fastrnn/_onnx_models.py: bidirectional GRU tagger, 2-layer LSTMs, attention over LSTM states, Conv1d front
end + GRU, a 2-layer tanh RNN, a 2-layer bidirectional GRU with its states as graph inputs and outputs), each
exported by the TorchScript exporter (opsets 14, 17, 20) and the dynamo exporter (opsets 18, 20), run at several
batch sizes and lengths against onnxruntime on the same file and torch on the same weights (float32,
conftest.RTOL). The dynamo exporter fixes the time axis of some models (2-layer LSTMs): those run at
the exported length only.
"""
import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn import _onnx_models as models

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXPORTS = [("torchscript", 14), ("torchscript", 17), ("torchscript", 20), ("dynamo", 18)]
DYNAMO_20 = ("sentiment_lstm", "bigru_tagger", "conv_gru")
SIZES = [(1, 1), (4, 7), (32, 23)]   # (B, T)
CASES = [(name, exporter, opset) for name in models.KINDS for exporter, opset in EXPORTS] + [
    (name, "dynamo", 20) for name in DYNAMO_20]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """path of (name, exporter, opset), exported once per module."""
    torch = require_torch()
    folder, paths = tmp_path_factory.mktemp("exported"), {}

    def get(name, exporter, opset):
        key = (name, exporter, opset)
        if key not in paths:
            paths[key] = folder / f"{name}_{exporter}_{opset}.onnx"
            models.export(torch, name, paths[key], dynamo=exporter == "dynamo", opset=opset)
        return paths[key]
    return get


def _fixed_time(session):
    dims = session.get_inputs()[0].shape
    return dims[1] if len(dims) > 1 and isinstance(dims[1], int) else None


@pytest.mark.parametrize("name, exporter, opset", CASES, ids=[f"{n}-{e}{o}" for n, e, o in CASES])
def test_whole_model_matches_onnxruntime_and_torch(exported, name, exporter, opset):
    torch = require_torch()
    path = exported(name, exporter, opset)
    session = fastrnn.InferenceSession(path)
    reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = models.build(torch, name)
    assert [(a.name, a.shape, a.type) for a in session.get_inputs()] == \
        [(a.name, a.shape, a.type) for a in reference.get_inputs()]
    assert [(a.name, a.shape, a.type) for a in session.get_outputs()] == \
        [(a.name, a.shape, a.type) for a in reference.get_outputs()]
    fixed = _fixed_time(session)
    for B, T in SIZES:
        feeds = models.example_inputs(name, B, fixed or T, seed=B + T)
        got = session.run(None, feeds)
        want = reference.run(None, feeds)
        with torch.no_grad():
            expected = model(*[torch.from_numpy(v) for v in feeds.values()])
        expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
        assert len(got) == len(want) == len(expected)
        for k, (g, w, e) in enumerate(zip(got, want, expected)):
            assert g.shape == w.shape == e.shape and g.dtype == np.float32
            assert_close(g, w, RTOL[np.float32], f"{name} output {k} B{B} T{T} vs onnxruntime")
            assert_close(g, e, RTOL[np.float32], f"{name} output {k} B{B} T{T} vs torch")


def test_run_takes_output_names_and_bytes(exported):
    path = exported("bilstm_tagger", "torchscript", 17)
    session = fastrnn.InferenceSession(path.read_bytes())
    feeds = models.example_inputs("bilstm_tagger", 2, 5)
    (everything,) = session.run(None, feeds)
    (named,) = session.run(["out"], feeds)
    assert np.array_equal(everything, named)
    assert session.run([], feeds) == []


def test_outputs_are_the_callers_to_keep(exported):
    """Two calls give independent arrays, which the caller may write (the session's constants stay intact)."""
    session = fastrnn.InferenceSession(exported("gru_regressor", "torchscript", 17))
    feeds = models.example_inputs("gru_regressor", 3, 4)
    (first,) = session.run(None, feeds)
    kept = first.copy()
    first[...] = 1e9
    (second,) = session.run(None, feeds)
    assert np.array_equal(second, kept)


@pytest.mark.parametrize("name", ["gru_regressor", "self_attention_lstm", "conv_gru", "bigru_tagger"])
def test_float64_models_match_torch(tmp_path, name):
    """Models exported in float64, which onnxruntime 1.32's CPU kernels refuse (its LSTM and GRU "do not support
    double yet"): against torch on the same weights, float64 tolerance."""
    torch = require_torch()
    model = models.build(torch, name).double()
    feeds = {k: v.astype(np.float64) if v.dtype == np.float32 else v
             for k, v in models.example_inputs(name, 3, 7).items()}
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    torch.onnx.export(model, args, str(tmp_path / "m.onnx"), dynamo=False, input_names=list(feeds),
                      output_names=["out"], dynamic_axes={k: {0: "batch", 1: "time"} for k in feeds})
    (got,) = fastrnn.InferenceSession(tmp_path / "m.onnx").run(None, feeds)
    with torch.no_grad():
        expected = model(*args).numpy()
    assert got.dtype == np.float64
    assert_close(got, expected, RTOL[np.float64], f"{name} float64 vs torch")
