"""fastrnn.from_onnx on files exported from torch (torch.onnx.export of nn.LSTM / GRU / RNN: uni- and
bidirectional, one and two layers, batch_first, with and without initial states as inputs), checked against
onnxruntime running the whole exported graph (float32, conftest.RTOL).

torch exports one ONNX node per layer, with Transpose/Reshape/Slice/Concat nodes around them, which from_onnx
skips (and says so): the test chains the returned layers in graph order, as a user would, and concatenates
their final states in torch's (L*D, B, H) order. torch's legacy TorchScript exporter (dynamo=False) is used: it
runs offline and writes the plain ONNX recurrent ops.
"""
import warnings

import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn.io.onnx_import import read_onnx

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

T, B, I, H = 7, 3, 5, 6


def export(torch, module, path, with_states, batch_first, fold=True):
    """Export `module` with input x (and h0 [, c0]) as graph inputs; outputs y, h_n [, c_n]."""
    L, D = module.num_layers, 2 if module.bidirectional else 1
    x = torch.randn((B, T, I) if batch_first else (T, B, I))
    lstm = isinstance(module, torch.nn.LSTM)
    inputs, names = (x,), ["x"]
    if with_states:
        h0 = torch.randn(L * D, B, H)
        inputs = (x, (h0, torch.randn(L * D, B, H))) if lstm else (x, h0)
        names += ["h0", "c0"] if lstm else ["h0"]
    outputs = ["y", "h_n", "c_n"] if lstm else ["y", "h_n"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and batch-size notes
        torch.onnx.export(module, inputs, str(path), dynamo=False, input_names=names, output_names=outputs,
                          do_constant_folding=fold)
    return names


def run_fastrnn_chain(layers, x, h0=None, c0=None, batch_first=False):
    """Chain the layers of a multi-layer export as its graph does; final states concatenated (L*D, B, H)."""
    out = x.transpose(1, 0, 2) if batch_first else x   # torch's export transposes to (T, B, I) before the node
    hs, cs, row = [], [], 0
    for layer in layers.values():
        D = 2 if layer.bidirectional else 1
        hx = None
        if h0 is not None:
            hx = (h0[row:row + D], c0[row:row + D]) if c0 is not None else h0[row:row + D]
        out, state = layer(out, hx)
        h, c = state if isinstance(layer, fastrnn.LSTM) else (state, None)
        hs.append(h)
        cs.append(c)
        row += D
    out = out.transpose(1, 0, 2) if batch_first else out
    return out, np.concatenate(hs), (np.concatenate(cs) if cs[0] is not None else None)


MODULES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


@pytest.mark.parametrize("with_states", [False, True], ids=["zero-state", "h0"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["TBI", "batch_first"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(MODULES))
def test_torch_export_matches_onnxruntime(tmp_path, kind, bidirectional, num_layers, batch_first, with_states):
    torch = require_torch()
    torch.manual_seed(0)
    options = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    module = getattr(torch.nn, MODULES[kind])(I, H, num_layers=num_layers, bidirectional=bidirectional,
                                              batch_first=batch_first, **options).eval()
    path = tmp_path / f"{kind}.onnx"
    names = export(torch, module, path, with_states, batch_first)
    rng = np.random.default_rng(1)
    D = 2 if bidirectional else 1
    feeds = {"x": rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)}
    for name in names[1:]:
        feeds[name] = rng.standard_normal((num_layers * D, B, H)).astype(np.float32) * 0.5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))

    with pytest.warns(UserWarning, match="skipped"):
        layers = fastrnn.from_onnx(path)
    assert len(layers) == num_layers
    assert all(layer.direction == ("bidirectional" if bidirectional else "forward") for layer in layers.values())
    if kind.startswith("rnn"):
        assert all(layer.nonlinearity == kind[4:] for layer in layers.values())
    out, h, c = run_fastrnn_chain(layers, feeds["x"], feeds.get("h0"), feeds.get("c0"), batch_first)
    tol = RTOL[np.float32]
    assert_close(out, want["y"], tol, "y")
    assert_close(h, want["h_n"], tol, "h_n")
    if c is not None:
        assert_close(c, want["c_n"], tol, "c_n")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_export_without_constant_folding(tmp_path, kind):
    """do_constant_folding=False leaves W, R, B as Concat/Slice/Unsqueeze of the parameters: from_onnx evaluates
    those nodes (and does not list them as skipped)."""
    torch = require_torch()
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(I, H, num_layers=2, bidirectional=True).eval()
    path = tmp_path / "unfolded.onnx"
    export(torch, module, path, with_states=True, batch_first=False, fold=False)
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((T, B, I)).astype(np.float32),
             "h0": rng.standard_normal((4, B, H)).astype(np.float32)}
    if kind == "LSTM":
        feeds["c0"] = rng.standard_normal((4, B, H)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)
    with pytest.warns(UserWarning, match="skipped"):
        layers = fastrnn.from_onnx(path)
    _, _, skipped = read_onnx(path)
    # what remains skipped: the Slices of the h0 (and c0) inputs, one per layer each; no weight Unsqueeze
    assert skipped["Slice"] == 2 * (2 if kind == "LSTM" else 1) and "Unsqueeze" not in skipped, skipped
    out, h, c = run_fastrnn_chain(layers, feeds["x"], feeds["h0"], feeds.get("c0"))
    assert_close(out, want[0], RTOL[np.float32], "y")
    assert_close(h, want[1], RTOL[np.float32], "h_n")
    for name, value in module.state_dict().items():   # the weights are the module's, reordered back exactly
        stem, rest = name.split("_l", 1)
        np.testing.assert_array_equal(list(layers.values())[int(rest[0])].params[f"{stem}_l0{rest[1:]}"],
                                      value.numpy(), err_msg=name)


def test_torch_export_weights_equal_the_modules(tmp_path):
    """The imported layers hold exactly the torch module's parameters (gate orders undone)."""
    torch = require_torch()
    module = torch.nn.GRU(I, H, num_layers=2, bidirectional=True)
    export(torch, module, tmp_path / "gru.onnx", False, False)
    with pytest.warns(UserWarning):
        layers = list(fastrnn.from_onnx(tmp_path / "gru.onnx").values())
    for name, value in module.state_dict().items():   # e.g. weight_ih_l1_reverse
        stem, rest = name.split("_l", 1)
        layer = layers[int(rest[0])]                    # each ONNX node is a one-layer layer: its _l0 names
        np.testing.assert_array_equal(layer.params[f"{stem}_l0{rest[1:]}"], value.numpy(), err_msg=name)


@pytest.mark.parametrize("kind, bidirectional, num_layers, batch_first", [
    ("LSTM", True, 2, False), ("GRU", False, 1, True)])
def test_dynamo_export_matches_onnxruntime(tmp_path, kind, bidirectional, num_layers, batch_first):
    """torch's default (torch.export-based) exporter writes LSTM and GRU nodes too, with its own node and
    weight names; it unrolls nn.RNN into MatMul/Add/Tanh nodes, which hold no recurrent node to import."""
    torch = require_torch()
    pytest.importorskip("onnxscript")  # the dynamo exporter's dependency
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(I, H, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=batch_first).eval()
    x = np.random.default_rng(1).standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    path = tmp_path / "dynamo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.from_numpy(x),), str(path), dynamo=True, input_names=["x"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped Transpose/Reshape nodes
        layers = fastrnn.from_onnx(path)
    assert len(layers) == num_layers
    out, h, c = run_fastrnn_chain(layers, x, batch_first=batch_first)
    assert_close(out, want[0], RTOL[np.float32], "y")
    assert_close(h, want[1], RTOL[np.float32], "h_n")
    if c is not None:
        assert_close(c, want[2], RTOL[np.float32], "c_n")
