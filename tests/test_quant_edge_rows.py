"""Edge rows and edge inputs of reduced-precision layers: non-finite weights refused in every format naming the
parameter and row, tiny finite rows quantized (int8 scales that would underflow), activations at float32's
largest value giving finite outputs (bfloat16 saturates) or a clear error, never NaN from finite input."""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn.quant import formats as f

FLOAT32_MAX = np.finfo(np.float32).max


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


@pytest.mark.parametrize("row_max", [1e-44, 1e-40, 1e-38, 3e-37])
def test_tiny_activations_with_zeros_are_quantized_to_int8(row_max, rng):
    """Activations whose row max is below 127 / float32 max (3.7e-37): 127 / max overflows float, and zeros of the
    row made 0 * inf = NaN cast to int8 (undefined behaviour, csrc/quant.c). The row quantizes in double instead:
    the int8 layer equals the float layer within int8's tolerance of the weights."""
    layer = fastrnn.LSTM(8, 16, seed=1)
    q = fastrnn.quantize_dynamic(layer, "int8")
    x = (np.float32(row_max) * rng.choice([-1, 0, 1], (6, 3, 8))).astype(np.float32)
    x[:, :, 0] = np.float32(row_max)   # every row's max
    out, _ = q(x)
    expected, _ = layer(x)
    assert np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 5e-2 * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
@pytest.mark.parametrize("input_size", [4, 64])
def test_float32_max_input_never_gives_nan(fmt, input_size, rng):
    """x = +-float32 max is finite: the output is finite (bfloat16 activations saturate at 3.39e38 instead of
    rounding to infinity), or, where a product overflows float32, a ValueError says so."""
    layer = fastrnn.LSTM(input_size, 8, seed=0)
    x = (FLOAT32_MAX * rng.choice([-1, 1], (3, 2, input_size))).astype(np.float32)
    for model in (fastrnn.quantize_dynamic(layer, fmt), layer):
        try:
            out, _ = model(x)
        except ValueError as err:
            assert "overflowed float32" in str(err)
        else:
            assert np.isfinite(out).all()
        try:
            y, _ = model.step(x[0])
        except ValueError as err:
            assert "overflowed float32" in str(err)
        else:
            assert np.isfinite(y).all()


def test_bfloat16_conversion_saturates_instead_of_overflowing():
    values = np.array([FLOAT32_MAX, -FLOAT32_MAX, 3.3895314e38, 1.0, -2.5], np.float32)
    back = f.bf16_to_f32(f.bf16_bits(values))
    bf16_max = np.array([0x7F7F0000], np.uint32).view(np.float32)[0]   # the largest bfloat16, 3.3895e38
    np.testing.assert_array_equal(back, np.array([bf16_max, -bf16_max, bf16_max, 1.0, -2.5], np.float32))


def test_an_overflowing_float_layer_says_so(rng):
    layer = fastrnn.LSTM(64, 8, seed=0)
    x = (FLOAT32_MAX * rng.choice([-1, 1], (3, 2, 64))).astype(np.float32)
    with pytest.raises(ValueError, match="a product overflowed float32"):
        layer(x)
    layer.step(x[0] * 0)   # warms the fast path for B = 2
    with pytest.raises(ValueError, match="a product overflowed float32"):
        layer.step(x[0])
