"""Sequential's pieces as torch's (issue 16 item 5): assigning an attribute or item replaces the piece, checked as
at construction (it was silently ignored: a quantized layer assigned kept the model running float32);
model["fc"] reads one; LastStep after a bidirectional layer reads two halves without being told."""
import numpy as np
import pytest

import fastrnn
from conftest import require_torch

nn = fastrnn.nn


def _model(bidirectional=False):
    return nn.Sequential({"lstm": fastrnn.LSTM(3, 4, batch_first=True, bidirectional=bidirectional, seed=0),
                          "pool": nn.LastStep(batch_first=True), "fc": nn.Linear(8 if bidirectional else 4, 2)})


@pytest.mark.parametrize("how", ["attribute", "name", "index"])
def test_assigning_a_piece_replaces_it(how, rng):
    model = _model()
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    new_fc = nn.Linear(4, 3)
    quantized = fastrnn.quantize_dynamic(model.lstm, "bfloat16")
    if how == "attribute":
        model.fc, model.lstm = new_fc, quantized
    elif how == "name":
        model["fc"], model["lstm"] = new_fc, quantized
    else:
        model[2], model[0] = new_fc, quantized
    assert model["fc"] is new_fc and model.fc is new_fc and model[-1] is new_fc and model.lstm is quantized
    expected = new_fc(nn.last_step(quantized(x)[0], batch_first=True))
    np.testing.assert_array_equal(model(x), expected)
    assert "lstm.weight_ih_l0_scale" in model.state_dict()


def test_a_replacement_is_checked_as_at_construction():
    model = _model()
    with pytest.raises(TypeError, match="piece 'fc' must be callable"):
        model.fc = "not a piece"
    with pytest.raises(ValueError, match="batch_first"):
        model["pool"] = nn.LastStep(batch_first=False)
    with pytest.raises(KeyError, match="no piece named 'head'"):
        model["head"] = nn.Linear(4, 2)
    with pytest.raises(KeyError, match="no piece named 5"):
        model[5] = nn.Linear(4, 2)
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 2   # unchanged by the failures


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_last_step_infers_bidirectional_from_the_layer_before(merge_mode, rng):
    torch = require_torch()
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    layer = fastrnn.LSTM.from_torch(lstm)
    layer.merge_mode = merge_mode
    model = nn.Sequential({"lstm": layer, "pool": nn.LastStep(batch_first=True)})
    x = rng.standard_normal((3, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 4])
    got = model(x, lengths=lengths)
    out, _ = layer(x, lengths=lengths)
    expected = nn.last_step(out, lengths, batch_first=True, bidirectional=merge_mode == "concat")
    np.testing.assert_array_equal(got, expected)
    if merge_mode == "concat":   # torch's h_n: forward half at each row's end, reverse half at step 0
        packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), lengths, batch_first=True,
                                                         enforce_sorted=False)
        _, (h_n, _) = lstm(packed)
        np.testing.assert_allclose(got, torch.cat([h_n[0], h_n[1]], dim=1).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="build LastStep"):   # an explicit, wrong choice is still refused
        nn.Sequential({"lstm": layer, "pool": nn.LastStep(batch_first=True, bidirectional=merge_mode != "concat")})
