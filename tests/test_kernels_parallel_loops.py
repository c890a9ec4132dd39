"""The time loops that run on several threads without a hand-off per step (csrc/plan.c, csrc/loop.inc):
- the row split: from 16 rows on two threads, each thread runs the whole time loop for its slice of the batch;
- two directions at once: a bidirectional layer of fewer rows runs its directions one per thread.
Checked against fastrnn/reference.py (forward, every cell variant, lengths that end inside either slice, initial
states, both directions) and torch autograd (training), with two threads forced so that they run on any machine.

Tolerances: conftest.RTOL (forward) and GRAD_RTOL (gradients), relative to max(1, |expected|).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from conftest import GRAD_RTOL, RTOL, TORCH_CELLS, assert_close, require_torch
from fastrnn import _kernels, reference
from test_vs_reference import VARIANTS

T, I, H = 120, 5, 96   # every variant of these sizes does work enough to wake the pool


def test_plan_splits_rows_from_two_slices_of_eight(two_threads):
    cell = fastrnn.LSTM(I, H, seed=0)._cells[0]
    wide = _kernels.plan(cell, T, 16)
    assert (wide["row_parts"], wide["threads"]) == (2, 1)
    assert wide["product"] == "fused"   # 8 rows per thread
    assert _kernels.plan(cell, T, 64)["product"] == "packed"
    assert _kernels.plan(cell, T, 15)["row_parts"] == 2   # a small step (1.1 MFLOP): rows split from 3 each
    assert _kernels.plan(cell, T, 5)["row_parts"] == 1
    big = fastrnn.LSTM(I, 256, seed=0)._cells[0]   # 7.9 MFLOP a step at 15 rows: split by units
    assert (_kernels.plan(big, T, 15)["row_parts"], _kernels.plan(big, T, 15)["threads"]) == (1, 2)
    assert _kernels.plan(cell, 1, 16, "step")["row_parts"] == 1
    fastrnn.set_num_threads(1)
    assert _kernels.plan(cell, T, 64)["row_parts"] == 1


def test_plan_runs_directions_at_once_below_the_row_split(two_threads):
    cell = fastrnn.LSTM(I, H, bidirectional=True, seed=0)._cells[0]
    assert _kernels.directions_at_once(cell, T, 1)
    assert _kernels.directions_at_once(cell, T, 15)
    assert not _kernels.directions_at_once(cell, T, 16)   # the row split serves it
    fastrnn.set_num_threads(1)
    assert not _kernels.directions_at_once(cell, T, 1)


def lengths_for(B, rng):
    """Lengths from 1 to T, with the longest and shortest in both halves of the batch."""
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0], lengths[-1], lengths[B // 2] = T, 1, T
    return lengths


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("B", [1, 16, 37])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_forward_matches_reference(variant, B, with_lengths, dtype, two_threads):
    cls, options, ref_options = VARIANTS[variant]
    if "proj_size" in options:   # wide enough that the call splits rows
        options, ref_options = {**options, "proj_size": 32}, {**ref_options, "proj_size": 32}
    layer = cls(I, H, num_layers=2, bidirectional=True, dtype=dtype, seed=3, **options)
    if B >= 16:
        assert _kernels.plan(layer._cells[0], T, B)["row_parts"] == 2
    else:
        assert _kernels.directions_at_once(layer._cells[0], T, B)
    rng = np.random.default_rng(B)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    P = layer.output_size
    h0 = rng.standard_normal((4, B, P)).astype(dtype)
    hx = (h0, rng.standard_normal((4, B, H)).astype(dtype)) if cls is fastrnn.LSTM else h0
    lengths = lengths_for(B, rng) if with_lengths else None
    mode = {fastrnn.RNN: "RNN", fastrnn.LSTM: "LSTM", fastrnn.GRU: "GRU"}[cls]
    expected_out, expected_state = reference.rnn_forward(
        mode, x, layer.state_dict(), hidden_size=H, num_layers=2, bidirectional=True, hx=hx, lengths=lengths,
        **ref_options)
    out, state = layer(x, hx, lengths)
    assert_close(out, expected_out, RTOL[dtype], "out")
    for got, want in zip(state if isinstance(state, tuple) else (state,),
                         expected_state if isinstance(expected_state, tuple) else (expected_state,)):
        assert_close(got, want, RTOL[dtype], "state")


def assert_training_matches_torch(torch, module, layer, B, seed):
    """forward_train + backward of `layer` (made from `module`) on lengths that end inside every slice, against
    torch autograd on the packed sequence: outputs, dL/dx and every parameter gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = lengths_for(B, rng)
    out, _, tape = layer.forward_train(x, lengths=lengths)
    d_out = rng.standard_normal(out.shape).astype(np.float32)
    dx, _ = layer.backward(tape, d_out)
    tx = torch.from_numpy(x).requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), enforce_sorted=False)
    tout, _ = torch.nn.utils.rnn.pad_packed_sequence(module(packed)[0], total_length=T)
    (tout * torch.from_numpy(d_out)).sum().backward()
    assert_close(out, tout.detach().numpy(), RTOL[np.float32], "out")
    assert_close(dx, tx.grad.numpy(), GRAD_RTOL[np.float32], "dx")
    for name, param in module.named_parameters():
        assert_close(layer.grads[name], param.grad.numpy(), GRAD_RTOL[np.float32], name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "lstm_proj"])
@pytest.mark.parametrize("B", [5, 21])
def test_training_matches_torch_autograd(cell, B, two_threads):
    torch = require_torch()
    cls, torch_name, options = TORCH_CELLS[cell]
    options = {**options, "proj_size": 32} if "proj_size" in options else options
    torch.manual_seed(0)
    module = getattr(torch.nn, torch_name)(I, H, num_layers=2, bidirectional=True, **options)
    layer = cls.from_torch(module)
    if B >= 16:
        assert _kernels.plan(layer._cells[0], T, B, "training")["row_parts"] == 2
        assert _kernels.plan(layer._cells[0], T, B, "backward")["row_parts"] == 2
    else:
        assert _kernels.directions_at_once(layer._cells[0], T, B)
    assert_training_matches_torch(torch, module, layer, B, seed=4)


@pytest.mark.parametrize("proj_size", [0, 24])
def test_peephole_training_equals_the_unsplit_path(proj_size, two_threads):
    """A peephole LSTM's backward sums dL/dp over rows, so it splits units instead of rows; every gradient equals
    the one-thread run's (whose path test_gradients checks against finite differences)."""
    layer = fastrnn.LSTM(I, H, peephole=True, proj_size=proj_size, dtype=np.float64, seed=5)
    B = 24
    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, B, I))
    lengths = lengths_for(B, rng)
    d_out = rng.standard_normal((T, B, layer.output_size))
    results = []
    for threads in (2, 1):
        fastrnn.set_num_threads(threads)
        layer.zero_grad()
        out, _, tape = layer.forward_train(x, lengths=lengths)
        dx, _ = layer.backward(tape, d_out)
        results.append((out, dx, {k: g.copy() for k, g in layer.grads.items()}))
    (out2, dx2, g2), (out1, dx1, g1) = results
    assert_close(out2, out1, RTOL[np.float64], "out")
    assert_close(dx2, dx1, RTOL[np.float64], "dx")
    for name in g1:
        assert_close(g2[name], g1[name], RTOL[np.float64], name)


UNIT_VARIANTS = ["lstm", "lstm_peephole", "gru", "rnn_tanh", "rnn_relu"]   # every cell the fused step serves


@pytest.mark.parametrize("variant", UNIT_VARIANTS)
@pytest.mark.parametrize("B", [1, 5, 13])   # 13: beyond the fused step's 8 rows of one thread
@pytest.mark.parametrize("with_lengths", [False, True])
def test_unit_split_matches_reference(variant, B, with_lengths, dtype, two_threads):
    """The fused step on two threads, one barrier per step (csrc/unit_loop.inc), two layers of H = 230 (the last
    slice holds a partial panel)."""
    cls, options, ref_options = VARIANTS[variant]
    hidden = 230   # 29 panels of 8 units, the last partial; the RNN step still pays for two threads
    layer = cls(I, hidden, num_layers=2, dtype=dtype, seed=8, **options)
    plan = _kernels.plan(layer._cells[1], T, B)
    assert (plan["product"], plan["threads"], plan["row_parts"]) == ("fused", 2, 1)
    rng = np.random.default_rng(B)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    lengths = lengths_for(B, rng) if with_lengths else None
    mode = {fastrnn.RNN: "RNN", fastrnn.LSTM: "LSTM", fastrnn.GRU: "GRU"}[cls]
    expected_out, expected_state = reference.rnn_forward(mode, x, layer.state_dict(), hidden_size=hidden,
                                                         num_layers=2, lengths=lengths, **ref_options)
    out, state = layer(x, lengths=lengths)
    assert_close(out, expected_out, RTOL[dtype], "out")
    for got, want in zip(state if isinstance(state, tuple) else (state,),
                         expected_state if isinstance(expected_state, tuple) else (expected_state,)):
        assert_close(got, want, RTOL[dtype], "state")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unit_split_training_matches_torch_autograd(cell, two_threads):
    torch = require_torch()
    cls, torch_name, options = TORCH_CELLS[cell]
    torch.manual_seed(1)
    module = getattr(torch.nn, torch_name)(I, 230, **options)
    layer = cls.from_torch(module)
    assert _kernels.plan(layer._cells[0], T, 3, "training")["threads"] == 2
    assert_training_matches_torch(torch, module, layer, 3, seed=9)


WIDTH_SCRIPT = """
import numpy as np, fastrnn
from fastrnn import reference
fastrnn.set_num_threads(2)
for cls, mode in ((fastrnn.LSTM, "LSTM"), (fastrnn.GRU, "GRU")):
    layer = cls(7, 40, num_layers=2, bidirectional=True, seed=2)
    x = np.random.default_rng(3).standard_normal((9, 21, 7)).astype(np.float32)
    out, _ = layer(x, lengths=np.arange(21) % 9 + 1)
    expected, _ = reference.rnn_forward(mode, x, layer.state_dict(), hidden_size=40, num_layers=2,
                                        bidirectional=True, lengths=np.arange(21) % 9 + 1)
    assert np.abs(out - expected).max() <= 2e-5 * max(1.0, np.abs(expected).max()), mode
print("ok")
"""


@pytest.mark.parametrize("isa", [name for name in _kernels.isa_names() if _kernels.isa_supported(name)])
def test_the_per_step_product_at_each_width(isa):
    """The per-step packed product's vector width follows the ISA chosen at start (csrc/packed_gemm_widths.inc:
    64 bytes with avx512): each ISA this CPU runs, in a fresh process, against the reference (row-split plain
    panels forward; training is covered above at the default width)."""
    done = subprocess.run([sys.executable, "-c", WIDTH_SCRIPT], env={**os.environ, "FASTRNN_ISA": isa},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_plan_splits_units_when_the_weights_outgrow_a_core_l2(two_threads):
    """LSTM H = 512: W_hh is 4 MiB, beyond half of any L2 this runs on, so every batch keeps the split by units
    (each core holds half of W_hh) rather than a row split that streams all of it on both cores; a bidirectional
    layer of that size runs each direction so, rather than the two at once, from the row split's batch."""
    cell = fastrnn.LSTM(I, 512, seed=0)._cells[0]
    for B in (1, 16, 64, 200):
        plan = _kernels.plan(cell, T, B)
        assert (plan["row_parts"], plan["threads"], plan["product"]) == (1, 2, "fused")
    assert _kernels.plan(cell, T, 64, "backward")["row_parts"] == 2   # backward has no split by units
    projected = fastrnn.LSTM(I, 512, proj_size=64, seed=0)._cells[0]   # nor a projected LSTM
    assert _kernels.plan(projected, T, 64)["row_parts"] == 2
    bi = fastrnn.LSTM(I, 512, bidirectional=True, seed=0)._cells[0]
    assert _kernels.directions_at_once(bi, T, 15) and not _kernels.directions_at_once(bi, T, 16)


def test_one_row_takes_the_64_byte_step_where_each_threads_w_hh_fits_its_l2(two_threads):
    """At one row the 64-byte fused step (where this CPU runs it at all, as it does from 2 rows) serves weights
    that fit a core's L2, and the 32-byte one weights streamed from L3 (LSTM H 2048: 64 MiB)."""
    small = fastrnn.LSTM(I, 32, seed=0)._cells[0]
    huge = fastrnn.LSTM(I, 2048, seed=0)._cells[0]
    for threads in (2, 1):
        fastrnn.set_num_threads(threads)
        assert _kernels.plan(small, T, 1)["wide"] == _kernels.plan(small, T, 4)["wide"]
        assert _kernels.plan(huge, T, 1)["product"] == "fused" and not _kernels.plan(huge, T, 1)["wide"]
