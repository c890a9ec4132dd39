"""Edge rows of reduced-precision layers: non-finite weights refused in every format naming the parameter and
row, tiny finite rows quantized (int8 scales that would underflow)."""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn.quant import formats as f


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_parameter_and_row(fmt, bad):
    layer = fastrnn.GRU(3, 4, num_layers=2, seed=0)
    layer.params["weight_ih_l1"][7, 2] = bad
    with pytest.raises(ValueError, match=r"'weight_ih_l1' row 7 contains NaN or infinity"):
        fastrnn.quantize_dynamic(layer, fmt)


def test_float64_weights_beyond_float32_are_refused_naming_the_row():
    layer = fastrnn.LSTM(3, 4, dtype=np.float64, seed=0)
    layer.params["weight_hh_l0"][11, 0] = 1e300
    with pytest.raises(ValueError, match=r"'weight_hh_l0' row 11 contains NaN or infinity"):
        fastrnn.quantize_dynamic(layer, "int8")


@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_non_finite_stored_weights_are_refused_naming_the_row(fmt):
    sd = fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=0), fmt).state_dict()
    values = sd["weight_hh_l0"].copy()
    values.view(np.uint16)[9, 1] = 0x7F80 if fmt == "bfloat16" else 0x7C00   # +infinity in either format
    with pytest.raises(ValueError, match=r"'weight_hh_l0'.* row 9 contains NaN or infinity"):
        fastrnn.LSTM.from_state_dict({**sd, "weight_hh_l0": values})


@pytest.mark.parametrize("row_max", [1e-44, 1e-45, 1e-40, 1e-39])
def test_tiny_finite_rows_are_quantized_to_int8(row_max, rng):
    """max / 127 underflows to zero below 1.8e-43; the row still gets a finite positive scale and the
    dequantized row is within half a step of the original."""
    layer = fastrnn.LSTM(3, 4, seed=0)
    w = layer.params["weight_hh_l0"]
    w[5] = (np.float32(row_max) * rng.choice([-1, 1], 4)).astype(np.float32)
    w[6] = 0.0
    q = fastrnn.quantize_dynamic(layer, "int8")
    scale = q.params["weight_hh_l0_scale"]
    assert np.isfinite(scale).all() and (scale > 0).all()
    dequantized = f.dequantize(q.params["weight_hh_l0"], scale)
    assert np.abs(dequantized[5] - w[5]).max() <= scale[5] / 2
    np.testing.assert_array_equal(dequantized[6], 0.0)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    out, _ = q(x)
    expected, _ = reference.rnn_forward("LSTM", x.astype(np.float64), q.dequantized(), hidden_size=4)
    assert np.abs(out - expected).max() <= 5e-2 * max(1.0, np.abs(expected).max())
