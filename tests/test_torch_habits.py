"""Layers and pieces keep torch.nn.Module's habits (issue 16 item 4), each compared with torch itself: repr,
named_parameters order and names, weights as attributes, train/eval, float/double/to, load_state_dict's named
tuple, help() sections and a readable signature."""
import inspect
import pickle

import numpy as np
import pytest

import fastrnn
from conftest import require_torch

nn = fastrnn.nn

LAYERS = {   # id: (fastrnn constructor, torch constructor, arguments)
    "lstm": ("LSTM", (3, 4), {}),
    "lstm_all": ("LSTM", (3, 4), dict(num_layers=2, bias=False, batch_first=True, dropout=0.25,
                                       bidirectional=True, proj_size=2)),
    "gru": ("GRU", (3, 5), dict(num_layers=3, batch_first=True)),
    "rnn": ("RNN", (2, 4), dict(bidirectional=True, dropout=0.5, num_layers=2)),
}


def _pair(case):
    torch = require_torch()
    name, args, kwargs = LAYERS[case]
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    return fastrnn.__dict__[name].from_torch(theirs), theirs


@pytest.mark.parametrize("case", list(LAYERS))
def test_repr_and_parameters_are_torchs(case):
    ours, theirs = _pair(case)
    assert repr(ours) == repr(theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_array_equal(a, b.detach().numpy())
        assert getattr(ours, name) is ours.params[name]          # the weights as attributes
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_pieces_repr_as_torch():
    torch = require_torch()
    pairs = [(nn.Linear(3, 4), torch.nn.Linear(3, 4)), (nn.Linear(3, 4, bias=False), torch.nn.Linear(3, 4, bias=False)),
             (nn.Embedding(5, 3, padding_idx=0), torch.nn.Embedding(5, 3, padding_idx=0)),
             (nn.LayerNorm(4), torch.nn.LayerNorm(4)), (nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)),
             (nn.GRUCell(3, 4, bias=False), torch.nn.GRUCell(3, 4, bias=False)), (nn.Dropout(0.2), torch.nn.Dropout(0.2)),
             (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.GELU(), torch.nn.GELU()), (nn.ReLU(), torch.nn.ReLU())]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_fastrnn_options_follow_torchs_in_the_repr():
    assert repr(fastrnn.RNN(3, 4, nonlinearity="relu", dtype=np.float64)) == \
        "RNN(3, 4, nonlinearity='relu', dtype=np.float64)"
    assert repr(fastrnn.LSTM(3, 4, proj_size=2, bidirectional=True, merge_mode="sum", peephole=True)) == \
        "LSTM(3, 4, proj_size=2, bidirectional=True, merge_mode='sum', peephole=True)"


def test_load_state_dict_returns_torchs_named_tuple():
    torch = require_torch()
    ours, theirs = _pair("lstm")
    for module in (ours, nn.Linear(4, 2), nn.Sequential({"lstm": ours, "fc": nn.Linear(4, 2)})):
        result = module.load_state_dict(module.state_dict())
        assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
        assert repr(result) == repr(theirs.load_state_dict(theirs.state_dict()))
    sd = ours.state_dict()
    sd["extra"] = sd.pop("bias_hh_l0")
    result = ours.load_state_dict(sd, strict=False)
    expected = theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    assert (result.missing_keys, result.unexpected_keys) == (expected.missing_keys, expected.unexpected_keys)


def test_train_and_eval_return_the_module_and_set_dropout(rng):
    layer = fastrnn.LSTM(3, 8, num_layers=2, dropout=0.5, seed=0)
    assert layer.training and layer.eval() is layer and not layer.training
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    out_eval, _, _ = layer.forward_train(x)
    np.testing.assert_array_equal(out_eval, layer(x)[0])           # eval: no dropout in forward_train
    assert layer.train() is layer and layer.training
    out_train, _, _ = layer.forward_train(x)
    assert not np.array_equal(out_train, out_eval)                 # train: dropout between the layers
    assert layer.train(False) is layer and not layer.training
    with pytest.raises(TypeError, match="train"):
        layer.train("yes")
    model = nn.Sequential({"lstm": layer, "pool": nn.LastStep(), "fc": nn.Linear(8, 1)})
    assert model.train() is model and all(p.training for p in model.pieces.values())
    assert not any(p.training for p in model.eval().pieces.values())
    assert not pickle.loads(pickle.dumps(model)).training


@pytest.mark.parametrize("convert", ["double", "to_numpy", "to_torch", "to_name", "to_cpu_and_dtype"])
def test_conversions_keep_the_module_and_match_torch(convert, rng):
    torch = require_torch()
    ours, theirs = _pair("gru")
    calls = {"double": lambda m: m.double(), "to_numpy": lambda m: m.to(np.float64),
             "to_torch": lambda m: m.to(torch.float64), "to_name": lambda m: m.to(dtype="float64"),
             "to_cpu_and_dtype": lambda m: m.to("cpu", torch.float64)}
    assert calls[convert](ours) is ours and ours.dtype == np.float64
    theirs.double()
    x = rng.standard_normal((3, 2, 3))
    out, _ = ours(x)
    np.testing.assert_allclose(out, theirs(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    assert ours.float() is ours and ours.weight_ih_l0.dtype == np.float32
    assert ours(x.astype(np.float32))[0].dtype == np.float32


def test_to_a_device_other_than_the_cpu_is_refused():
    layer = fastrnn.LSTM(3, 4)
    assert layer.to("cpu") is layer
    with pytest.raises(ValueError, match="device must be None or 'cpu'"):
        layer.to("cuda")
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64"):
        layer.to(np.int32)
    q = fastrnn.quantize_dynamic(layer)
    assert q.float() is q
    with pytest.raises(TypeError, match="computes in float32"):
        q.double()


def test_pieces_convert_with_their_parts(rng):
    model = nn.Sequential({"embedding": nn.Embedding(5, 3), "lstm": fastrnn.LSTM(3, 4, batch_first=True),
                           "attn": nn.AdditiveAttention(4, 2, batch_first=True), "norm": nn.LayerNorm(4),
                           "cell_free": nn.Tanh(), "fc": nn.Linear(4, 2)})
    ids = rng.integers(0, 5, (2, 6))
    before = model(ids)
    assert model.double() is model
    assert all(a.dtype == np.float64 for a in model.parameters())
    np.testing.assert_allclose(model(ids), before, rtol=1e-5, atol=1e-6)
    cell = nn.LSTMCell(3, 4).double()
    assert cell.weight_ih.dtype == np.float64 and cell(np.zeros((1, 3)))[0].dtype == np.float64


def test_weights_are_attributes_that_can_be_assigned(rng):
    layer = fastrnn.GRU(3, 4, seed=0)
    new = rng.standard_normal((12, 4)).astype(np.float32)
    layer.weight_hh_l0 = new
    assert layer.params["weight_hh_l0"] is new
    with pytest.raises(AttributeError, match="no attribute or parameter 'weight_hh_l7'"):
        layer.weight_hh_l7


@pytest.mark.parametrize("cls", [fastrnn.RNN, fastrnn.LSTM, fastrnn.GRU])
def test_help_has_torchs_sections_and_a_readable_signature(cls):
    doc = inspect.getdoc(cls)
    for section in ("Args:", "Inputs:", "Outputs:"):
        assert section in doc
    signature = str(inspect.signature(cls))
    assert len(signature) < 450 and "DTypeLike" in signature and "numpy._typing" not in signature
