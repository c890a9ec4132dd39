"""Property tests (hypothesis, derandomized) for each defect class of issue 15: byte order on the step fast path,
non-finite and tiny rows under every weight format, bfloat16 saturation, state dicts and pickles checked as the
constructor builds them, write destinations by file kind, demo option bounds, and weights changed between
forward_train and backward."""
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from fastrnn.quant import formats as f

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
I, H = 3, 4
MODES = {"LSTM": fastrnn.LSTM, "GRU": fastrnn.GRU, "RNN": fastrnn.RNN}


def _state_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@SETTINGS
@given(mode=st.sampled_from(sorted(MODES)), dtype=st.sampled_from([np.float32, np.float64]),
       B=st.integers(1, 5), swap_x=st.booleans(), swap_state=st.booleans(), steps=st.integers(2, 4),
       seed=st.integers(0, 2**16))
def test_step_reads_any_byte_order_as_its_values(mode, dtype, B, swap_x, swap_state, steps, seed):
    """However x and the state are stored (native or swapped), step() after step() gives the native results."""
    layer = MODES[mode](I, H, num_layers=2, dtype=dtype, seed=0)
    rng = np.random.default_rng(seed)
    swapped = np.dtype(dtype).newbyteorder("S")
    state = native_state = None
    for _ in range(steps):
        x = rng.standard_normal((B, I)).astype(dtype)
        y_native, native_state = layer.step(x, native_state)
        given_state = state if state is None or not swap_state else \
            tuple(s.astype(swapped) for s in _state_tuple(state))
        if given_state is not None and mode != "LSTM":
            given_state = given_state if not isinstance(given_state, tuple) else given_state[0]
        y, state = layer.step(x.astype(swapped) if swap_x else x, given_state)
        np.testing.assert_array_equal(y, y_native)
        for a, b in zip(_state_tuple(state), _state_tuple(native_state)):
            np.testing.assert_array_equal(a, b)


ROW_SCALES = [0.0, 1e-45, 1e-44, 1e-41, 1e-38, 1e-3, 1.0, 1e30, 3e38]


@SETTINGS
@given(fmt=st.sampled_from(f.WEIGHT_FORMATS), scales=st.lists(st.sampled_from(ROW_SCALES), min_size=1, max_size=6),
       bad=st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, 2),
                                          st.sampled_from([np.nan, np.inf, -np.inf]))),
       seed=st.integers(0, 2**16))
def test_every_finite_row_quantizes_and_every_non_finite_one_is_named(fmt, scales, bad, seed):
    rng = np.random.default_rng(seed)
    w = (rng.uniform(-1, 1, (len(scales), 3)) * np.array(scales)[:, None]).astype(np.float32)
    first_bad = None
    if bad is not None and bad[0] < len(scales):
        w[bad[0], bad[1]] = bad[2]
        first_bad = bad[0]
    if first_bad is not None:
        with pytest.raises(ValueError, match=rf"'w' row {first_bad} contains NaN or infinity"):
            f.quantize_matrix(w, fmt, "'w'")
        return
    if fmt == "float16" and np.abs(w).max() > np.finfo(np.float16).max:
        with pytest.raises(ValueError, match="do not fit float16"):
            f.quantize_matrix(w, fmt, "'w'")
        return
    values, scale = f.quantize_matrix(w, fmt, "'w'")
    assert np.isfinite(scale).all() and (scale > 0).all()
    back = f.dequantize(values, scale)
    assert np.isfinite(back).all()
    if fmt == "int8":   # within half a step of each row's scale
        assert (np.abs(back - w) <= scale[:, None] / 2 * (1 + 1e-6)).all()


@SETTINGS
@given(bits=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=64))
def test_bfloat16_of_a_finite_value_is_finite_and_nearest_or_saturated(bits):
    values = np.array(bits, np.uint32).view(np.float32)
    values = values[np.isfinite(values)]
    back = f.bf16_to_f32(f.bf16_bits(values))
    assert np.isfinite(back).all()
    bf16_max = np.array([0x7F7F0000], np.uint32).view(np.float32)[0]
    up = np.abs(values.astype(np.float64)) <= float(bf16_max)
    error = np.abs(back.astype(np.float64) - values.astype(np.float64))
    # bfloat16's 8-bit significand, and its subnormal step 2**-133 below 2**-126
    ulp = np.maximum(np.ldexp(1.0, np.frexp(np.abs(values.astype(np.float64)))[1] - 8), 2.0 ** -133)
    assert (error[up] <= ulp[up] / 2).all()
    np.testing.assert_array_equal(np.abs(back[~up]), bf16_max)


@SETTINGS
@given(fmt=st.sampled_from(f.WEIGHT_FORMATS), I_=st.integers(1, 80), sign_seed=st.integers(0, 2**16),
       magnitude=st.sampled_from([1e30, 1e37, 3e38, float(np.finfo(np.float32).max)]))
def test_huge_finite_input_never_gives_nan(fmt, I_, sign_seed, magnitude):
    layer = fastrnn.LSTM(I_, 4, seed=0)
    x = (magnitude * np.random.default_rng(sign_seed).choice([-1, 1], (2, 1, I_))).astype(np.float32)
    for model in (layer, fastrnn.quantize_dynamic(layer, fmt)):
        try:
            out, _ = model(x)
        except ValueError as err:
            assert "overflowed float32" in str(err)
        else:
            assert np.isfinite(out).all()


INTEGER_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_]


@SETTINGS
@given(mode=st.sampled_from(sorted(MODES)), dtype=st.sampled_from(INTEGER_DTYPES), which=st.integers(0, 3))
def test_integer_entries_are_refused_by_float_layers(mode, dtype, which):
    layer = MODES[mode](I, H, seed=0)
    sd = layer.state_dict()
    name = sorted(sd)[which]
    with pytest.raises(TypeError, match=rf"'{name}' holds .* values: quantized weights need their per-row scales"):
        layer.load_state_dict({**sd, name: sd[name].astype(dtype)})


def _pieces():
    nn = fastrnn.nn
    return {"lstm": lambda: fastrnn.LSTM(I, H, seed=0), "gru2": lambda: fastrnn.GRU(I, H, num_layers=2, seed=0),
            "q_int8": lambda: fastrnn.quantize_dynamic(fastrnn.LSTM(I, H, seed=0), "int8"),
            "q_bf16": lambda: fastrnn.quantize_dynamic(fastrnn.GRU(I, H, seed=0), "bfloat16"),
            "q_f16": lambda: fastrnn.quantize_dynamic(fastrnn.RNN(I, H, seed=0), "float16"),
            "linear": lambda: nn.Linear(I, H), "embedding": lambda: nn.Embedding(5, H),
            "norm": lambda: nn.LayerNorm(H), "cell": lambda: nn.GRUCell(I, H)}


@SETTINGS
@given(piece=st.sampled_from(sorted(_pieces())), how=st.sampled_from(["shape", "nan", "drop", "object", "none"]),
       pick=st.integers(0, 100))
def test_tampered_pickles_are_refused_and_untampered_ones_restore(piece, how, pick):
    original = _pieces()[piece]()
    state = dict(original.__getstate__())
    params = state["params"]
    if isinstance(params, dict):
        params = state["params"] = dict(params)
        name = sorted(params)[pick % len(params)]
        value = params[name]
        if how == "shape":
            params[name] = np.zeros(value.shape[0] + 1, value.dtype)
        elif how == "nan" and value.dtype.kind == "f":
            params[name] = np.full(value.shape, np.nan, value.dtype)
        elif how == "drop":
            del params[name]
        elif how == "object":
            params[name] = value.tolist()
        else:
            how = "none"
    else:   # a cell's parameters live in its layer, which is checked on its own: a plain round trip
        copy = pickle.loads(pickle.dumps(original))
        assert copy.state_dict().keys() == original.state_dict().keys()
        return
    restored = object.__new__(type(original))
    if how == "object" and piece.startswith("q_"):
        # a quantized layer converts array-likes as its load_state_dict does (float lists of biases into frozen
        # arrays), and refuses those it cannot read as its format
        try:
            restored.__setstate__(state)
        except (ValueError, TypeError):
            return
        how = "none"
    if how == "none" or (how == "drop" and name == "bias" and piece in ("linear", "norm")):
        # (a Linear or LayerNorm without bias is one built with bias=False)
        restored.__setstate__(state)
        assert restored.state_dict().keys() == params.keys()
        for key, value in restored.params.items():
            assert type(value) is np.ndarray
            np.testing.assert_array_equal(value, original.params[key])
    else:
        with pytest.raises((ValueError, TypeError, KeyError)):
            restored.__setstate__(state)


@SETTINGS
@given(formats=st.lists(st.sampled_from([None, *f.WEIGHT_FORMATS]), min_size=1, max_size=3),
       seed=st.integers(0, 2**16))
def test_a_model_loads_its_own_state_dict_whatever_its_layers_formats(formats, seed):
    nn = fastrnn.nn

    def build(weights_seed):
        pieces = {}
        for k, fmt in enumerate(formats):
            layer = fastrnn.LSTM(I if k == 0 else H, H, seed=weights_seed + k)
            pieces[f"l{k}"] = layer if fmt is None else fastrnn.quantize_dynamic(layer, fmt)
        pieces["fc"] = nn.Linear(H, 2, seed=weights_seed)
        return nn.Sequential(pieces)

    source, target = build(seed), build(seed + 1)
    target.load_state_dict(source.state_dict())
    x = np.random.default_rng(seed).standard_normal((3, 2, I)).astype(np.float32)
    np.testing.assert_array_equal(target(x), source(x))


DESTINATIONS = ["missing", "regular", "directory", "fifo", "link_regular", "link_missing", "link_fifo",
                "link_directory"]


@settings(max_examples=len(DESTINATIONS) * 2, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(DESTINATIONS), suffix=st.sampled_from([".npz", ".safetensors"]))
def test_a_destination_is_written_only_if_missing_or_regular(tmp_path_factory, kind, suffix):
    root = tmp_path_factory.mktemp("dest")
    path, target = root / ("out" + suffix), root / ("target" + suffix)
    base = kind.replace("link_", "")
    made = target if kind.startswith("link_") else path
    if base == "regular":
        made.write_bytes(b"old")
    elif base == "directory":
        made.mkdir()
    elif base == "fifo":
        os.mkfifo(made)
    if kind.startswith("link_"):
        path.symlink_to(target)
    weights = {"w": np.ones(3, np.float32)}
    if base in ("directory", "fifo"):
        with pytest.raises(OSError, match="is a directory|named pipe"):
            fastrnn.save(path, weights)
        assert (os.path.isdir(made) if base == "directory" else not os.path.isfile(made))
    else:
        fastrnn.save(path, weights)
        np.testing.assert_array_equal(fastrnn.load(made)["w"], weights["w"])
        assert path.is_symlink() == kind.startswith("link_")
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


@SETTINGS
@given(length=st.one_of(st.integers(max_value=0), st.integers(min_value=100_001, max_value=10**30)),
       repeat=st.integers(1, 3))
def test_demo_lengths_out_of_bounds_are_usage_errors(length, repeat, capsys):
    from fastrnn.demo import main
    with pytest.raises(SystemExit) as exit_:
        main(["--length", str(length), "--repeat", str(repeat)])
    assert exit_.value.code == 2 and "--length must lie in" in capsys.readouterr().err


@SETTINGS
@given(mode=st.sampled_from(sorted(MODES)), pick=st.integers(0, 1000), element=st.integers(0, 1000),
       change=st.booleans())
def test_backward_refuses_exactly_the_tapes_whose_weights_changed(mode, pick, element, change):
    layer = MODES[mode](I, H, num_layers=2, bidirectional=True, seed=0)
    x = np.random.default_rng(pick).standard_normal((4, 2, I)).astype(np.float32)
    out, _, tape = layer.forward_train(x)
    name = sorted(layer.params)[pick % len(layer.params)]
    flat = layer.params[name].reshape(-1)
    if change:
        flat[element % flat.size] = np.nextafter(flat[element % flat.size], np.float32(np.inf))
        with pytest.raises(ValueError, match="changed in place since forward_train"):
            layer.backward(tape, np.ones_like(out))
    else:
        layer.backward(tape, np.ones_like(out))
