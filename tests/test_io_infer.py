"""Configurations inferred from state-dict keys and shapes (config_from_state_dict, find_recurrent_layers,
Layer.from_state_dict): every torch layer and cell configuration, nested checkpoints, and every way a set of
weights can be incomplete or inconsistent (a FormatError naming the key)."""
import numpy as np
import pytest

import fastrnn
from conftest import RTOL, TORCH_CELLS, assert_close, require_torch
from fastrnn import FormatError
from fastrnn.io.infer import config_from_state_dict


def layer_sd(cls=fastrnn.LSTM, *args, prefix="", **kwargs):
    return {prefix + k: v for k, v in cls(*args, seed=0, **kwargs).state_dict().items()}


# ------------------------------------------------------------------------------------------ torch layers
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("cell", list(TORCH_CELLS))
@pytest.mark.parametrize("num_layers, bidirectional, bias", [(1, False, True), (3, True, True), (2, False, False),
                                                               (2, True, False)])
def test_every_torch_configuration_is_inferred_and_reproduces_torch(cell, num_layers, bidirectional, bias):
    torch = require_torch()
    cls, torch_name, options = TORCH_CELLS[cell]
    torch.manual_seed(0)
    module = getattr(torch.nn, torch_name)(5, 6, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                                           **options)
    full = {f"encoder.rnn.{k}": v for k, v in module.state_dict().items()}
    full["encoder.proj.weight"] = torch.zeros(2, 2)
    kwargs, weights = config_from_state_dict(full, prefix="encoder.rnn.", mode=cls._mode)
    expected = dict(input_size=5, hidden_size=6, num_layers=num_layers, bias=bias, bidirectional=bidirectional)
    if cls._mode == "LSTM":
        expected.update(proj_size=options.get("proj_size", 0), peephole=False)
    assert kwargs == expected
    assert set(weights) == set(module.state_dict()) and all(isinstance(w, np.ndarray) for w in weights.values())
    extra = {"nonlinearity": options["nonlinearity"]} if cls._mode == "RNN" else {}
    layer = cls.from_state_dict(full, prefix="encoder.rnn.", **extra)
    x = np.random.default_rng(0).standard_normal((7, 3, 5)).astype(np.float32)
    out, _ = layer(x)
    with torch.no_grad():
        expected_out, _ = module(torch.from_numpy(x))
    assert_close(out, expected_out.numpy(), RTOL[np.float32], cell)
    [found] = [f for f in fastrnn.find_recurrent_layers(full) if f["prefix"] == "encoder.rnn."]
    assert found["mode"] == cls._mode and found["config"] == expected and not found["cell"]


@pytest.mark.parametrize("torch_name, cls, extra", [
    ("LSTMCell", fastrnn.LSTM, {}), ("GRUCell", fastrnn.GRU, {}), ("RNNCell", fastrnn.RNN, {"nonlinearity": "relu"}),
    ("RNNCell", fastrnn.RNN, {"nonlinearity": "tanh"}),
])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_modules_load_into_one_layer_whose_step_runs_the_cell(torch_name, cls, extra, bias):
    torch = require_torch()
    torch.manual_seed(1)
    cell = getattr(torch.nn, torch_name)(4, 5, bias=bias, **extra)
    sd = {f"decoder.cell.{k}": v for k, v in cell.state_dict().items()}
    [found] = fastrnn.find_recurrent_layers(sd)
    assert found["prefix"] == "decoder.cell." and found["cell"] and found["mode"] == cls._mode
    assert found["config"]["num_layers"] == 1 and found["config"]["bias"] == bias
    layer = cls.from_state_dict(sd, prefix="decoder.cell.", **extra)
    xs = np.random.default_rng(2).standard_normal((6, 3, 4)).astype(np.float32)
    state, torch_state = None, None
    for x in xs:
        y, state = layer.step(x, state)
        with torch.no_grad():
            torch_state = cell(torch.from_numpy(x), torch_state)
        expected = torch_state[0] if torch_name == "LSTMCell" else torch_state
        assert_close(y, expected.numpy(), RTOL[np.float32], torch_name)


def test_live_torch_tensors_are_converted_without_importing_torch_in_fastrnn():
    torch = require_torch()
    module = torch.nn.GRU(3, 4, bidirectional=True)
    kwargs, weights = config_from_state_dict(module.state_dict(), mode="GRU")
    assert kwargs["bidirectional"] and all(type(w) is np.ndarray for w in weights.values())


def test_float64_and_nested_checkpoints():
    sd = layer_sd(fastrnn.GRU, 3, 4, num_layers=2, dtype=np.float64, prefix="enc.")
    checkpoint = {"model": sd, "epoch": 2, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}
    [found] = fastrnn.find_recurrent_layers(checkpoint)
    assert found["prefix"] == "model.enc." and found["mode"] == "GRU"
    assert "linear_before_reset" in found["note"]
    layer = fastrnn.GRU.from_state_dict(checkpoint, prefix="model.enc.", dtype=np.float64)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, sd["enc." + key])


def test_projection_and_peepholes():
    sd = layer_sd(fastrnn.LSTM, 3, 8, num_layers=2, bidirectional=True, proj_size=3, peephole=True)
    kwargs, _ = config_from_state_dict(sd)
    assert kwargs == dict(input_size=3, hidden_size=8, num_layers=2, bias=True, bidirectional=True, proj_size=3,
                          peephole=True)
    layer = fastrnn.LSTM.from_state_dict(sd)
    x = np.ones((2, 1, 3), np.float32)
    np.testing.assert_array_equal(layer(x)[0], fastrnn.LSTM(3, 8, 2, bidirectional=True, proj_size=3,
                                                             peephole=True, seed=0)(x)[0])


def test_find_recurrent_layers_in_a_model_with_several():
    sd = {"embedding.weight": np.zeros((10, 3), np.float32)}
    sd.update(layer_sd(fastrnn.GRU, 3, 4, bidirectional=True, prefix="encoder.gru."))
    sd.update(layer_sd(fastrnn.LSTM, 8, 5, num_layers=2, proj_size=2, prefix="decoder.lstm."))
    sd.update(layer_sd(fastrnn.RNN, 2, 3, bias=False, prefix="aux."))
    sd["head.weight"] = np.zeros((2, 2), np.float32)
    broken = layer_sd(fastrnn.LSTM, 2, 3, num_layers=3, prefix="broken.")
    sd.update({k: v for k, v in broken.items() if "_l1" not in k})
    found = {f["prefix"]: f for f in fastrnn.find_recurrent_layers(sd)}
    assert list(found) == ["encoder.gru.", "decoder.lstm.", "aux.", "broken."]
    assert found["encoder.gru."]["config"] == dict(input_size=3, hidden_size=4, num_layers=1, bias=True,
                                                   bidirectional=True)
    assert found["decoder.lstm."]["config"]["proj_size"] == 2 and found["decoder.lstm."]["note"] == ""
    assert found["aux."]["mode"] == "RNN" and found["aux."]["config"]["bias"] is False
    assert found["broken."]["mode"] is None and "missing layer 1" in found["broken."]["error"]
    assert fastrnn.find_recurrent_layers({"fc.weight": np.zeros((2, 2))}) == []


# -------------------------------------------------------------------------------- incomplete / inconsistent
def _without(sd, *fragments):
    return {k: v for k, v in sd.items() if not any(f in k for f in fragments)}


def _replace(sd, key, value):
    return dict(sd, **{key: value})


LSTM3 = layer_sd(fastrnn.LSTM, 3, 4, num_layers=3, bidirectional=True)


@pytest.mark.parametrize("sd, mode, match", [
    (_without(LSTM3, "_l1"), "LSTM", r"missing layer 1 .*weight_ih_l1 is missing"),
    (_without(LSTM3, "_l1_reverse"), "LSTM", r"missing key weight_ih_l1_reverse: the layer is bidirectional"),
    (_without(LSTM3, "weight_hh_l2"), "LSTM", r"weight_hh_l0 present but weight_hh_l2 missing"),
    (_without(LSTM3, "bias_hh_l0_reverse"), "LSTM", r"bias_hh_l\d(_reverse)? present but bias_hh_l0_reverse missing"),
    (_without(LSTM3, "bias_hh"), "LSTM", r"bias_ih_l0 present but bias_hh_l0 missing"),
    (_without(LSTM3, "_l1", "_l2", "bias_hh_l0"), "LSTM", r"bias_ih_l0 present but bias_hh_l0 missing"),
    (_replace(LSTM3, "weight_hh_l1", np.zeros((16, 5), np.float32)), "LSTM", r"weight_hh_l1 has shape \(16, 5\); "
                                                                            r"expected \(G\*H, P\) = \(16, 4\)"),
    (_replace(LSTM3, "weight_ih_l1", np.zeros((16, 4), np.float32)), "LSTM", r"weight_ih_l1 has shape \(16, 4\); "
                                                                            r"expected \(G\*H, D\*P\) = \(16, 8\)"),
    (_replace(LSTM3, "weight_ih_l0_reverse", np.zeros((16, 2), np.float32)), "LSTM",
     r"weight_ih_l0_reverse has shape \(16, 2\); expected \(G\*H, I\) = \(16, 3\)"),
    (_replace(LSTM3, "bias_ih_l2", np.zeros(15, np.float32)), "LSTM", r"bias_ih_l2 has shape \(15,\)"),
    (_replace(LSTM3, "weight_hh_l0", np.zeros((10, 4), np.float32)), "LSTM", r"weight_hh_l0 has shape \(10, 4\): "
                                                                            r"10 rows are not 1, 3 or 4 gate .*H = 4 "
                                                                            r"\(its columns\)"),
    (layer_sd(fastrnn.GRU, 3, 4), "LSTM", r"are a GRU's \(weight_hh_l0 has 3 gate block\(s\) of H = 4\), not a "
                                          r"LSTM's: use fastrnn\.GRU\.from_state_dict"),
    (layer_sd(fastrnn.LSTM, 3, 4), "RNN", r"are a LSTM's"),
    (layer_sd(fastrnn.RNN, 3, 4), "GRU", r"are a RNN's"),
    (dict(layer_sd(fastrnn.GRU, 3, 4), weight_peephole_l0=np.zeros((3, 4))), "GRU", "peepholes belong to an LSTM"),
    (dict(layer_sd(fastrnn.GRU, 3, 4), weight_hr_l0=np.zeros((4, 2))), "GRU",
     r"weight_hh_l0 has shape \(12, 4\): 12 rows are not 1, 3 or 4 gate blocks of H = 2 \(the columns of "
     r"weight_hr_l0\)"),
    (dict(LSTM3, weight_ih=np.zeros((16, 3))), "LSTM", "mixed with cell names"),
    (dict(LSTM3, flat_weights=np.zeros(3)), "LSTM", "unexpected key 'flat_weights'"),
    ({"weight_ih": np.zeros((16, 3)), "weight_hh": np.zeros((16, 4)), "bias_ih": np.zeros(16)}, "LSTM",
     "bias_ih present but bias_hh missing"),
    ({"weight_hh": np.zeros((16, 4))}, "LSTM", "missing key weight_ih"),
    ({"weight_ih_l0": np.zeros((16, 3))}, "LSTM", "no weight_hh under prefix"),
    ({"lstm.weight_ih_l0": np.zeros((16, 3))}, "LSTM", r"no LSTM weights .* under prefix ''; recurrent layers in "
                                                       r"this state dict are under the prefixes \['lstm\.'\]"),
    ({"fc.weight": np.zeros((16, 3))}, "LSTM", r"under prefix ''; this state dict holds no recurrent layer"),
    (layer_sd(fastrnn.LSTM, 3, 4, prefix="enc.lstm."), "LSTM", r"under prefix ''; recurrent layers in this state "
                                                               r"dict are under the prefixes \['enc\.lstm\.'\]"),
])
def test_inconsistent_sets_name_the_key(sd, mode, match):
    with pytest.raises(FormatError, match=match):
        config_from_state_dict(sd, mode=mode)


def test_missing_layer_is_never_silently_dropped():
    sd = _without(LSTM3, "_l2")  # a complete 2-layer set: fine, and says 2 layers
    assert config_from_state_dict(sd)[0]["num_layers"] == 2
    four = layer_sd(fastrnn.GRU, 3, 4, num_layers=4)
    with pytest.raises(FormatError, match=r"missing layer 2 under prefix '': found weights of layers \[0, 1, 3\]"):
        config_from_state_dict(_without(four, "_l2"), mode="GRU")


def test_argument_errors():
    with pytest.raises(ValueError, match="mode must be"):
        config_from_state_dict(LSTM3, mode="lstm")
    with pytest.raises(TypeError, match="mapping"):
        config_from_state_dict([1, 2])
    with pytest.raises(TypeError, match="prefix must be a string"):
        config_from_state_dict(LSTM3, prefix=None)


def test_from_state_dict_keeps_float64_weights_in_float64():
    layer = fastrnn.GRU(3, 4, dtype=np.float64, seed=0)
    rebuilt = fastrnn.GRU.from_state_dict(layer.state_dict())
    assert rebuilt.dtype == np.float64
    assert fastrnn.GRU.from_state_dict(layer.state_dict(), dtype=np.float32).dtype == np.float32
    assert fastrnn.GRU.from_state_dict(fastrnn.GRU(3, 4).state_dict()).dtype == np.float32


def test_layers_built_from_weights_train_with_dropout_and_take_a_seed():
    """from_state_dict skips the random init it would overwrite; dropout still has its own (seedable) RNG."""
    source = fastrnn.LSTM(3, 4, num_layers=2, seed=0)
    a = fastrnn.LSTM.from_state_dict(source.state_dict(), dropout=0.5, seed=1)
    b = fastrnn.LSTM.from_state_dict(source.state_dict(), dropout=0.5, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(a(x)[0], source(x)[0])
    out_a, _, _ = a.forward_train(x)
    out_b, _, _ = b.forward_train(x)
    assert out_a.shape == out_b.shape == (5, 2, 4)
    np.testing.assert_array_equal(b(x)[0], source(x)[0])
