"""fastrnn.nn.Sequential: torch.nn.Sequential's naming and state dicts, lengths passed to the recurrent layer
and the pooling, whole-model from_state_dict, and the errors for state dicts of other architectures."""
import numpy as np
import pytest

import fastrnn
from conftest import RTOL, assert_close, require_torch
from fastrnn.nn import Embedding, LastStep, Linear, MeanPool, ReLU, Sequential, Sigmoid, Tanh


def test_loads_a_torch_sequential_by_position(rng):
    torch = require_torch()
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    model = Sequential(Linear(4, 6, seed=0), ReLU(), Linear(6, 2, seed=0))
    model.load_state_dict(reference.state_dict())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    with torch.no_grad():
        assert_close(model(x), reference(torch.from_numpy(x)).numpy(), RTOL[np.float32])
    rebuilt = Sequential.from_state_dict(reference.state_dict(), [("0", Linear), ("1", ReLU), ("2", Linear)])
    assert_close(rebuilt(x), model(x), 0.0)
    assert isinstance(model[1], ReLU) and len(model) == 3 and model["2"] is model[2]


def embed_lstm_pool(batch_first=True, pool=None):
    return Sequential({"embedding": Embedding(12, 4, padding_idx=0, seed=0),
                       "lstm": fastrnn.LSTM(4, 5, batch_first=batch_first, seed=0),
                       "pool": pool or MeanPool(batch_first=True), "fc": Linear(5, 1, seed=0), "out": Sigmoid()})


def test_lengths_reach_the_recurrent_layer_and_the_pooling(rng):
    model = embed_lstm_pool()
    ids = rng.integers(1, 12, (3, 6))
    lengths = np.array([6, 2, 4])
    out, _ = model.lstm(model.embedding(ids), lengths=lengths)
    expected = model.out(model.fc(fastrnn.nn.mean_pool(out, lengths, batch_first=True)))
    assert_close(model(ids, lengths=lengths), expected, 0.0)
    ids[1, 2:] = 0                                               # padding after a row's length changes nothing
    assert_close(model(ids, lengths=lengths), expected, 0.0)
    assert model.lstm is model.pieces["lstm"]


def test_whole_model_from_state_dict_names_extra_and_missing_keys():
    state = embed_lstm_pool().state_dict()
    layout = [("embedding", Embedding, {"padding_idx": 0}), ("lstm", fastrnn.LSTM, {"batch_first": True}),
              ("pool", MeanPool, {"batch_first": True}), ("fc", Linear), ("out", Sigmoid)]
    model = Sequential.from_state_dict({"model": state}, layout, prefix="model.")
    assert model.state_dict().keys() == state.keys()
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'attention.proj.weight'.*no piece named "
                                                  r"'attention' \(pieces: embedding, lstm, pool, fc, out\)"):
        Sequential.from_state_dict({**state, "attention.proj.weight": np.ones((2, 5))}, layout)
    with pytest.raises(fastrnn.FormatError, match=r"missing key 'fc.weight'"):
        Sequential.from_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, layout)
    with pytest.raises(fastrnn.FormatError, match=r"unexpected key 'fc.weight_ih_l0'"):
        Sequential.from_state_dict({**state, "fc.weight_ih_l0": np.ones((4, 5))}, layout)
    with pytest.raises(fastrnn.FormatError, match=r"lstm.*are a GRU's"):
        gru = fastrnn.GRU(4, 5, seed=0).state_dict()
        Sequential.from_state_dict({**state, **{f"lstm.{k}": v for k, v in gru.items()}}, layout)
    with pytest.raises(TypeError, match="layout entries must be"):
        Sequential.from_state_dict(state, ["fc"])


def test_load_state_dict_is_strict_by_name():
    model = embed_lstm_pool()
    state = model.state_dict()
    with pytest.raises(KeyError, match=r"unexpected keys \['head.weight'\]"):
        model.load_state_dict({**state, "head.weight": np.ones((1, 5))})
    with pytest.raises(KeyError, match=r"missing keys \['fc.bias'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "fc.bias"})
    before = model.fc.params["weight"].copy()
    model.load_state_dict({"fc.weight": np.zeros((1, 5))}, strict=False)
    assert not model.fc.params["weight"].any() and before.any()


def test_bad_lengths_and_bad_chains(rng):
    model = embed_lstm_pool()
    ids = rng.integers(1, 12, (3, 6))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, T\] = \[1, 6\]; got min 2, max 7"):
        model(ids, lengths=[2, 7, 3])
    with pytest.raises(IndexError, match=r"past the vocabulary, 12"):
        model(np.array([[1, 12]]), lengths=[2])
    with pytest.raises(ValueError, match="no piece of this model takes them"):
        Sequential(Linear(3, 2, seed=0), Tanh())(np.zeros((2, 3), np.float32), lengths=[1, 1])
    with pytest.raises(ValueError, match=r"'pool' has batch_first=True but the recurrent layer before it has "
                                         r"batch_first=False"):
        embed_lstm_pool(batch_first=False)
    with pytest.raises(ValueError, match=r"build LastStep\(bidirectional=False\)"):
        embed_lstm_pool(pool=LastStep(batch_first=True, bidirectional=True))
    with pytest.raises(ValueError, match="piece names must be non-empty strings without '.'"):
        Sequential({"a.b": Tanh()})
    with pytest.raises(TypeError, match="piece '0' must be callable"):
        Sequential(3)
    with pytest.raises(AttributeError, match="no attribute or piece 'decoder'"):
        _ = model.decoder


def test_pickled_model_and_cell_keep_their_shared_parameters(rng):
    import pickle
    model = Sequential({"lstm": fastrnn.LSTM(3, 4, batch_first=True, seed=0),
                        "attention": fastrnn.nn.AdditiveAttention(4, 2, batch_first=True, seed=0)})
    cell = fastrnn.GRUCell(3, 4, seed=0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    model2, cell2 = pickle.loads(pickle.dumps((model, cell)))
    assert_close(model2(x, lengths=[5, 2]), model(x, lengths=[5, 2]), 0.0)
    assert_close(cell2(x[:, 0]), cell(x[:, 0]), 0.0)
    zeros = {k: np.zeros_like(w) for k, w in model2.state_dict().items()}
    model2.load_state_dict(zeros)                             # loads reach the parts that compute
    assert not model2.attention.proj.params["weight"].any()
    cell2.load_state_dict({k: np.zeros_like(w) for k, w in cell2.state_dict().items()})
    assert not cell2(x[:, 0]).any()                          # zero weights, zero state: h = 0
