"""Property-based tests (hypothesis, derandomized: the same examples every run) of the layer entry points.

Any configuration and any input, well-formed or not: the call either raises ValueError/TypeError (never another
exception, never a crash) or returns what fastrnn/reference.py computes, within conftest.RTOL.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn
from conftest import RTOL, assert_close
from fastrnn import reference

CLASSES = {"RNN": fastrnn.RNN, "LSTM": fastrnn.LSTM, "GRU": fastrnn.GRU}
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@st.composite
def configs(draw):
    mode = draw(st.sampled_from(sorted(CLASSES)))
    H = draw(st.integers(1, 9))
    options = dict(num_layers=draw(st.integers(1, 3)), bidirectional=draw(st.booleans()),
                   bias=draw(st.booleans()), batch_first=draw(st.booleans()),
                   dtype=draw(st.sampled_from([np.float32, np.float64])))
    if mode == "LSTM" and H > 1:
        options["proj_size"] = draw(st.integers(0, H - 1))
        options["peephole"] = draw(st.booleans())
    if mode == "GRU":
        options["linear_before_reset"] = draw(st.booleans())
    if mode == "RNN":
        options["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if options["bidirectional"]:
        options["merge_mode"] = draw(st.sampled_from(["concat", "sum", "mean", "mul"]))
    return mode, draw(st.integers(1, 6)), H, options


def _shape_mutation(draw, shape):
    """The shape as it should be, or (sometimes) with one axis off by one or an axis dropped/added."""
    kind = draw(st.sampled_from(["ok"] * 6 + ["grow", "shrink", "drop", "add"]))
    shape = list(shape)
    if kind in ("grow", "shrink") and shape:
        axis = draw(st.integers(0, len(shape) - 1))
        shape[axis] = max(0, shape[axis] + (1 if kind == "grow" else -1))
    elif kind == "drop" and len(shape) > 1:
        shape.pop(0)
    elif kind == "add":
        shape.append(1)
    return tuple(shape)


@SETTINGS
@given(st.data())
def test_call_matches_reference_or_raises_a_clear_error(data):
    mode, I, H, options = data.draw(configs())
    layer = CLASSES[mode](I, H, seed=0, **options)
    T, B = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    x_shape = data.draw(st.just((B, T, I) if options["batch_first"] else (T, B, I)).map(
        lambda s: _shape_mutation(data.draw, s)))
    x_dtype = data.draw(st.sampled_from([np.float32, np.float64, np.float16, np.int32]))
    x = np.random.default_rng(data.draw(st.integers(0, 9))).standard_normal(x_shape).astype(x_dtype)
    if data.draw(st.booleans()) and x.ndim == 3:
        x = x[:, ::-1]                      # non-contiguous, negative stride
    if data.draw(st.integers(0, 9)) == 0 and x.size and x.dtype.kind == "f":
        x.flat[0] = np.nan
    lengths = None
    if data.draw(st.booleans()):
        lengths = np.asarray(data.draw(st.lists(st.integers(-1, T + 1), min_size=B, max_size=B)))
    LD, P = layer.num_layers * layer.num_directions, layer.output_size
    hx = None
    if data.draw(st.booleans()):
        h0 = np.zeros(_shape_mutation(data.draw, (LD, B, P)), options["dtype"]) + 0.1
        hx = (h0, np.full((LD, B, H), -0.2, options["dtype"])) if mode == "LSTM" else h0
    try:
        out, state = layer(x, hx, lengths)
    except (ValueError, TypeError):
        return
    expected_out, expected_state = reference.rnn_forward(
        mode, x.astype(options["dtype"]), layer.state_dict(), hidden_size=H, hx=hx, lengths=lengths,
        **{k: val for k, val in options.items() if k != "dtype"})
    tol = RTOL[np.dtype(options["dtype"]).type]
    assert_close(out, expected_out, tol, "out")
    for got, want in zip(state if isinstance(state, tuple) else (state,),
                         expected_state if isinstance(expected_state, tuple) else (expected_state,)):
        assert_close(got, want, tol, "state")


@SETTINGS
@given(st.data())
def test_step_chain_matches_the_sequence_or_raises(data):
    mode, I, H, options = data.draw(configs())
    options["bidirectional"] = False
    options.pop("merge_mode", None)
    layer = CLASSES[mode](I, H, seed=1, **options)
    unbatched = data.draw(st.booleans())
    B, T = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    xs = np.random.default_rng(3).standard_normal((T, I) if unbatched else (T, B, I)).astype(options["dtype"])
    bad = data.draw(st.integers(0, 5))
    state, ys = None, []
    for t in range(T):
        x_t = xs[t]
        if bad == 0 and t == T - 1:
            x_t = x_t[..., :-1] if I > 1 else np.zeros(x_t.shape + (2,))
        try:
            y, state = layer.step(x_t, state)
        except (ValueError, TypeError):
            assert bad == 0
            return
        ys.append(y)
    assert bad != 0, "a step with the wrong input size was accepted"
    out, _ = layer(xs.transpose(1, 0, 2) if options["batch_first"] and not unbatched else xs)
    if options["batch_first"] and not unbatched:
        out = out.transpose(1, 0, 2)
    tol = 10 * RTOL[np.dtype(options["dtype"]).type]
    assert_close(np.stack(ys), out, tol, "steps vs sequence")
