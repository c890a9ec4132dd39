"""The packed recurrent-product kernel (csrc/packed_gemm.inc) against NumPy, over awkward shapes.

Every row count of the micro-kernel (1..6 and more), panel widths not dividing N, any K.
Tolerance: float32 1e-5, float64 1e-12, relative to the size of the products.
"""
import numpy as np
import pytest

from fastrnn import _kernels

TOL = {np.float32: 1e-5, np.float64: 1e-12}
GRAD_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh", "w_hr": "weight_hr",
              "peep": "weight_peephole"}


@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 6, 7, 13, 40])
@pytest.mark.parametrize("N,K", [(1, 1), (7, 3), (16, 16), (33, 5), (100, 64), (257, 129)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_packed_gemm_matches_numpy(M, N, K, accumulate, dtype, rng):
    A = rng.standard_normal((M, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    C = rng.standard_normal((M, N)).astype(dtype)
    expected = (C.astype(np.float64) if accumulate else 0) + A.astype(np.float64) @ W.astype(np.float64).T
    _kernels.packed_gemm_nt(A, W, C, accumulate)
    scale = np.sqrt(K) * max(1.0, np.abs(expected).max())
    assert np.abs(C - expected).max() <= TOL[dtype] * scale


def test_packed_gemm_checks_its_arguments():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"W must be a C-contiguous float32 array of shape \(4, 3\)"):
        _kernels.packed_gemm_nt(a, np.zeros((4, 3), np.float64), np.zeros((2, 4), np.float32), False)
    with pytest.raises(TypeError, match="C must be float32 or float64"):
        _kernels.packed_gemm_nt(a, a, np.zeros((2, 2), np.int32), False)


@pytest.mark.parametrize("mode", ["LSTM", "LSTM_PLAIN", "GRU", "GRU_RB", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_time_loop_same_with_every_product_kernel(mode, reverse, rng):
    """forward_direction / backward_direction give the same results whichever per-step product the plan picks:
    BLAS on torch's layout (the reference path), the direct small-batch kernel, plain packed panels, the fused
    step."""
    import fastrnn
    layer = {"LSTM": lambda: fastrnn.LSTM(5, 7, proj_size=3, peephole=True, dtype=np.float64),
             "LSTM_PLAIN": lambda: fastrnn.LSTM(5, 19, dtype=np.float64),
             "GRU": lambda: fastrnn.GRU(5, 7, dtype=np.float64),
             "GRU_RB": lambda: fastrnn.GRU(5, 7, linear_before_reset=False, dtype=np.float64),
             "RNN_TANH": lambda: fastrnn.RNN(5, 7, dtype=np.float64),
             "RNN_RELU": lambda: fastrnn.RNN(5, 9, nonlinearity="relu", dtype=np.float64)}[mode]()
    cell = layer._cells[0]
    T, B = 6, 9
    H, P = layer.hidden_size, layer.output_size
    x = rng.standard_normal((T, B, 5))
    batch_sizes = np.array([9, 9, 7, 4, 4, 1], np.intp)
    results = []
    for product in ("blas", "direct", "packed", "fused", "fused_wide", None):
        h = rng.standard_normal((B, P)) * 0 + 0.5
        c = np.full((B, H), 0.25) if mode.startswith("LSTM") else None
        out, tape = np.zeros((T, B, P)), {}
        _kernels.forward_direction(cell, x, h, c, batch_sizes, reverse, out, 0, tape, product)
        inference_out, h2 = np.zeros((T, B, P)), np.full((B, P), 0.5)
        c2 = None if c is None else np.full((B, H), 0.25)
        _kernels.forward_direction(cell, x, h2, c2, batch_sizes, reverse, inference_out, 0, None, product)
        np.testing.assert_allclose(inference_out, out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h2, h, rtol=1e-12, atol=1e-12)
        dx, dh = np.zeros_like(x), np.ones((B, P))
        dc = None if c is None else np.ones_like(c)
        grads = {short: np.zeros_like(layer.params[name + "_l0"]) for short, name in GRAD_NAMES.items()
                 if name + "_l0" in layer.params}
        back = "blas" if product in ("blas", "direct") else None if product is None else "packed"
        _kernels.backward_direction(cell, tape, x, np.ones_like(out), 0, dh, dc, batch_sizes, reverse, dx, grads,
                                    back)
        results.append([out, h, dx, dh] + ([] if c is None else [c, dc]) + list(grads.values()))
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("B", [1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 30])
@pytest.mark.parametrize("H", [5, 16, 17, 40])
def test_fused_step_widths_match_reference(mode, B, H, rng):
    """The fused step at both vector widths (fused_step_widths.inc: "fused_wide" is the 64-byte step where the CPU
    runs AVX-512 at full width, else the same as "fused") against fastrnn/reference.py, float32, for every row
    count of the micro-kernels (1..6 rows per pass, passes of equal size, more passes than share one slice of a
    panel at 30 rows), hidden sizes that leave a partial panel, and rows that stop early (lengths). Tolerance 2e-5
    absolute on tanh-bounded outputs."""
    import fastrnn
    from fastrnn import reference
    I, T = 6, 5
    layer = getattr(fastrnn, mode)(I, H, seed=B)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = np.array([T, T, max(1, T - 1), max(1, T // 2), 1][:B] + [T] * max(0, B - 5))
    batch_sizes = np.array([(lengths > t).sum() for t in range(T)], np.intp)
    order = np.argsort(-lengths, kind="stable")   # the kernels take rows sorted by length, longest first
    want, _ = reference.rnn_forward(mode, x, layer.params, hidden_size=H, lengths=lengths)
    for product in ("fused", "fused_wide"):
        h = np.zeros((B, H), np.float32)
        c = np.zeros((B, H), np.float32) if mode == "LSTM" else None
        out = np.zeros((T, B, H), np.float32)
        _kernels.forward_direction(layer._cells[0], np.ascontiguousarray(x[:, order]), h, c, batch_sizes, False,
                                   out, 0, None, product)
        np.testing.assert_allclose(out[:, np.argsort(order)], want, rtol=0, atol=2e-5, err_msg=product)
