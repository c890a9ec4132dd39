"""fastrnn.quantize_dynamic: every cell variant and format against the NumPy reference run on the weights the
quantized layer stands for (dequantized), streaming steps, lengths, save/load, and refused input.

Tolerances against that reference (max |a - b| <= tol * max(1, max |b|)):
  float16 and bfloat16 widened on load: 2e-5 (float32 accumulation of exactly the stored weights)
  bfloat16 by vdpbf16ps: 2e-2 (activations are rounded to bfloat16 before each product)
  int8: 5e-2 (activations quantized to 8 bits per step and row; see test_quant_accuracy for the measured error)
"""
import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn import _kernels, reference
from fastrnn.quant import QuantizedGRU, QuantizedLSTM, formats as f

from conftest import BF16_DOT_KERNELS

VARIANTS = {
    "rnn_tanh": (fastrnn.RNN, "RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": (fastrnn.RNN, "RNN", {"nonlinearity": "relu"}),
    "lstm": (fastrnn.LSTM, "LSTM", {}),
    "lstm_proj_peephole": (fastrnn.LSTM, "LSTM", {"proj_size": 5, "peephole": True}),
    "gru": (fastrnn.GRU, "GRU", {}),
    "gru_reset_before": (fastrnn.GRU, "GRU", {"linear_before_reset": False}),
}


def _tolerance(fmt):
    from fastrnn.quant import kernels
    if fmt == "int8":
        return 5e-2
    return 2e-2 if kernels()[fmt][0] in BF16_DOT_KERNELS else 2e-5


def _reference(q, mode, options, x, hx=None, lengths=None):
    return reference.rnn_forward(mode, x.astype(np.float64), q.dequantized(), hidden_size=q.hidden_size,
                                 num_layers=q.num_layers, bidirectional=q.bidirectional, hx=hx, lengths=lengths,
                                 bias=q.bias, **options)


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_every_variant_matches_the_reference_on_its_own_weights(fmt, variant, bidirectional, rng):
    cls, mode, options = VARIANTS[variant]
    layer = cls(7, 12, num_layers=2, bidirectional=bidirectional, seed=1, **options)
    q = fastrnn.quantize_dynamic(layer, fmt)
    assert isinstance(q, cls) and q.weight_format == fmt
    x = rng.standard_normal((9, 3, 7)).astype(np.float32)
    out, state = q(x)
    ref_out, ref_state = _reference(q, mode, options, x)
    tol = _tolerance(fmt)
    scale = max(1.0, np.abs(ref_out).max())
    assert np.abs(out - ref_out).max() <= tol * scale
    for got, want in zip(state if mode == "LSTM" else (state,), ref_state if mode == "LSTM" else (ref_state,)):
        assert got.shape == want.shape and np.abs(got - want).max() <= tol * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
def test_lengths_and_initial_state_follow_the_reference(fmt, rng):
    layer = fastrnn.LSTM(4, 10, num_layers=2, bidirectional=True, seed=2)
    q = fastrnn.quantize_dynamic(layer, fmt)
    x = rng.standard_normal((8, 4, 4)).astype(np.float32)
    hx = (rng.standard_normal((4, 4, 10)).astype(np.float32), rng.standard_normal((4, 4, 10)).astype(np.float32))
    lengths = np.array([3, 8, 1, 5])
    out, (h, c) = q(x, hx, lengths=lengths)
    ref_out, (ref_h, ref_c) = _reference(q, "LSTM", {}, x, hx=hx, lengths=lengths)
    tol = _tolerance(fmt)
    for got, want in ((out, ref_out), (h, ref_h), (c, ref_c)):
        assert np.abs(got - want).max() <= tol * max(1.0, np.abs(want).max())
    assert not out[3:, 0].any()   # past a row's length the output is zero, as torch's packed sequences


@pytest.mark.parametrize("fmt,kernel", [(fmt, name) for fmt in f.WEIGHT_FORMATS
                                        for name in _kernels.quant_kernels(fmt)])
@pytest.mark.parametrize("variant", ["lstm", "gru", "lstm_proj_peephole"])
def test_rows_split_across_threads_give_the_one_thread_result(fmt, kernel, variant, rng, two_threads, request):
    """From 16 rows on two threads, a quantized layer whose stored W_hh fits a core's L2 share splits the batch
    (csrc/plan.c fr_plan_quant), each slice preparing its own rows in its own part of the scratch: with lengths
    ending in both slices, the outputs equal one thread's (int8 exactly: every row is quantized on its own and the
    integer sums are exact; the 16-bit formats to float32 rounding, 1e-5, as a row may fall to a different kernel,
    AMX tiles or the vector tail, which sum in another order), and follow the reference. Every kernel of the format
    in turn: each prepares A its own way (int8, bfloat16 or float32 rows, padded for tiles), and every slice's part
    of the scratch must hold the widest (K = 24: bfloat16 pads it to 32)."""
    _kernels.quant_use_kernel(fmt, _kernels.quant_kernels(fmt).index(kernel))
    request.addfinalizer(lambda: _kernels.quant_use_kernel(fmt, -1))
    cls, mode, options = VARIANTS[variant]
    q = fastrnn.quantize_dynamic(cls(24, 40, num_layers=2, seed=4, **options), fmt)
    x = rng.standard_normal((30, 37, 24)).astype(np.float32)
    lengths = rng.integers(1, 31, size=37)
    lengths[[0, 20]] = 30
    split_out, split_state = q(x, lengths=lengths)
    fastrnn.set_num_threads(1)
    one_out, one_state = q(x, lengths=lengths)
    rtol = 0 if fmt == "int8" else 1e-5
    np.testing.assert_allclose(split_out, one_out, rtol=rtol, atol=rtol)
    states = (split_state, one_state) if mode == "LSTM" else ((split_state,), (one_state,))
    for got, want in zip(*states):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    ref_out, _ = _reference(q, mode, options, x, lengths=lengths)
    assert np.abs(split_out - ref_out).max() <= _tolerance(fmt) * max(1.0, np.abs(ref_out).max())


@pytest.mark.parametrize("fmt", f.WEIGHT_FORMATS)
@pytest.mark.parametrize("cls", [fastrnn.LSTM, fastrnn.GRU, fastrnn.RNN])
def test_chained_steps_equal_the_call_and_keep_state_shapes(fmt, cls, rng):
    q = fastrnn.quantize_dynamic(cls(5, 8, num_layers=3, seed=3), fmt)
    x = rng.standard_normal((6, 2, 5)).astype(np.float32)
    out, state = q(x)
    ys, s = [], None
    for t in range(6):
        y, s = q.step(x[t], s)
        ys.append(y)
    np.testing.assert_array_equal(np.stack(ys), out)
    for got, want in zip(s if cls is fastrnn.LSTM else (s,), state if cls is fastrnn.LSTM else (state,)):
        np.testing.assert_array_equal(got, want)
    y1, s1 = q.step(x[0, 0])                    # one unbatched row: (P,) and states (L, P)
    assert y1.shape == (8,) and (s1[0] if cls is fastrnn.LSTM else s1).shape == (3, 8)


def test_the_float_layer_is_left_unchanged(rng):
    layer = fastrnn.GRU(4, 6, seed=4)
    before = {k: v.copy() for k, v in layer.params.items()}
    fastrnn.quantize_dynamic(layer, "int8")
    for k, v in layer.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert type(layer) is fastrnn.GRU


@pytest.mark.parametrize("fmt,suffix", [("int8", ".safetensors"), ("bfloat16", ".safetensors"),
                                        ("float16", ".safetensors"), ("int8", ".npz"), ("float16", ".npz")])
def test_save_and_load_keep_the_format_and_the_outputs(fmt, suffix, tmp_path, rng):
    q = fastrnn.quantize_dynamic(fastrnn.LSTM(6, 9, num_layers=2, proj_size=4, seed=5), fmt)
    path = tmp_path / f"q{suffix}"
    fastrnn.save(path, {"model": {"lstm": q.state_dict()}})
    loaded = fastrnn.load(path)
    if suffix == ".safetensors":
        raw = path.read_bytes()
        assert {"int8": b'"I8"', "bfloat16": b'"BF16"', "float16": b'"F16"'}[fmt] in raw
    back = fastrnn.LSTM.from_state_dict(loaded, prefix="model.lstm.")
    assert type(back) is QuantizedLSTM and back.weight_format == fmt and back.proj_size == 4
    x = rng.standard_normal((5, 2, 6)).astype(np.float32)
    np.testing.assert_array_equal(back(x)[0], q(x)[0])


def test_bfloat16_weights_are_saved_in_safetensors_only(tmp_path):
    q = fastrnn.quantize_dynamic(fastrnn.RNN(2, 3, seed=0), "bfloat16")
    with pytest.raises(TypeError, match="weight_ih_l0"):
        fastrnn.save(tmp_path / "q.npz", q.state_dict())


def test_pickle_round_trip_and_read_only_parameters(rng):
    q = fastrnn.quantize_dynamic(fastrnn.LSTM(3, 5, seed=6), "int8")
    x = rng.standard_normal((4, 1, 3)).astype(np.float32)
    back = pickle.loads(pickle.dumps(q))
    np.testing.assert_array_equal(back(x)[0], q(x)[0])
    with pytest.raises(ValueError, match="read-only"):
        q.params["weight_hh_l0"][0, 0] = 1


def test_a_replaced_parameter_reaches_the_next_call_after_its_checks(rng):
    q = fastrnn.quantize_dynamic(fastrnn.GRU(3, 4, seed=7), "int8")
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    before = q(x)[0]
    q.params["weight_hh_l0"] = np.zeros((12, 4), np.int8)
    after = q(x)[0]
    assert not np.array_equal(before, after)
    ref_out, _ = _reference(q, "GRU", {}, x)
    assert np.abs(after - ref_out).max() <= 5e-2
    q.params["weight_hh_l0_scale"] = np.zeros(12, np.float32)
    with pytest.raises(ValueError, match="finite positive"):
        q(x)


def test_load_state_dict_checks_scales_and_formats():
    q = fastrnn.quantize_dynamic(fastrnn.LSTM(3, 4, seed=8), "int8")
    sd = q.state_dict()
    with pytest.raises(ValueError, match=r"weight_ih_l0_scale.*shape \(16,\)"):
        q.load_state_dict({**sd, "weight_ih_l0_scale": np.ones(15, np.float32)})
    with pytest.raises(ValueError, match="finite positive"):
        q.load_state_dict({**sd, "weight_ih_l0_scale": np.full(16, np.inf, np.float32)})
    with pytest.raises(ValueError, match="holds float16 weights; this layer's are int8"):
        q.load_state_dict({**sd, "weight_ih_l0": sd["weight_ih_l0"].astype(np.float16)})
    with pytest.raises(KeyError, match="missing keys"):
        q.load_state_dict({k: v for k, v in sd.items() if k != "weight_hh_l0_scale"})
    with pytest.raises(ValueError, match="not every value is a bfloat16"):
        fastrnn.LSTM.from_state_dict({**sd, "weight_ih_l0": np.full((16, 3), 0.1, np.float32)})
    with pytest.raises(ValueError, match="has no 'weight_hh_l0_scale'"):
        fastrnn.LSTM.from_state_dict({k: v for k, v in sd.items() if k != "weight_hh_l0_scale"})
    with pytest.raises(ValueError, match="no weight matrix beside them"):
        fastrnn.LSTM.from_state_dict({**sd, "bias_ih_l0_scale": np.ones(16, np.float32)})


def test_bad_input_is_refused_with_a_message():
    layer = fastrnn.LSTM(3, 4, seed=9)
    q = fastrnn.quantize_dynamic(layer)
    assert q.weight_format == "int8"
    with pytest.raises(ValueError, match="already quantized"):
        fastrnn.quantize_dynamic(q, "bfloat16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        fastrnn.quantize_dynamic(layer, "int4")
    with pytest.raises(TypeError, match="fastrnn RNN, LSTM or GRU"):
        fastrnn.quantize_dynamic(object())
    with pytest.raises(TypeError, match="inference-only"):
        q.forward_train(np.zeros((2, 1, 3), np.float32))
    with pytest.raises(TypeError, match="inference-only"):
        q.backward(None, None)
    with pytest.raises(AttributeError, match="weight_format is fixed"):
        q.weight_format = "float16"
    big = fastrnn.GRU(2, 3, seed=0)
    big.params["weight_hh_l0"][0, 0] = 1e6
    with pytest.raises(ValueError, match="do not fit float16"):
        fastrnn.quantize_dynamic(big, "float16")
    with pytest.raises(ValueError, match="x_t has shape"):
        q.step(np.zeros((1, 5), np.float32))


def test_the_constructor_makes_a_quantized_layer_with_torch_init(rng):
    q = QuantizedGRU(4, 6, num_layers=2, weight_format="bfloat16", seed=0)
    assert q.params["weight_hh_l1"].dtype == f.BFLOAT16 and q.dtype == np.float32
    out, h = q(rng.standard_normal((3, 2, 4)).astype(np.float32))
    assert out.shape == (3, 2, 6) and h.shape == (2, 2, 6)
