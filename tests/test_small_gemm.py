"""The unpacked small-batch product (csrc/small_gemm.inc) against NumPy, over awkward shapes.

C (+)= A W^T with W in torch's layout: every row count 1..9 (full 4-row blocks and every remainder), N not a
multiple of the 4-row block, K below, at and around the vector lengths (16 floats / 8 doubles, and 8 / 4 for the
32-byte path), one thread, two, and the size-based choice. Error bound per element, relative to the size of its
terms sum |a_k w_k| (+ |C| when accumulating): float32 1e-6, float64 1e-13.
The 32-byte path (non-AVX-512 CPUs) runs here only in a build with -DFASTRNN_SMALL_GEMM_NARROW.
"""
import threading

import numpy as np
import pytest

from fastrnn import _kernels

TOL = {np.float32: 1e-6, np.float64: 1e-13}
SHAPES = [(1, 1), (1, 17), (2, 3), (3, 8), (4, 16), (5, 15), (7, 31), (9, 33), (16, 64), (33, 7), (37, 100),
          (64, 257), (130, 129), (255, 300), (600, 300), (599, 65)]


def product(A, W, C, accumulate):
    """The float64 reference and the size of its terms."""
    A64, W64, C64 = A.astype(np.float64), W.astype(np.float64), C.astype(np.float64)
    expected = A64 @ W64.T + (C64 if accumulate else 0)
    scale = np.abs(A64) @ np.abs(W64).T + (np.abs(C64) if accumulate else 0)
    return expected, scale


@pytest.mark.parametrize("M", range(1, 10))
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("nthreads", [1, 2, 0], ids=["t1", "t2", "auto"])
def test_small_gemm_matches_numpy(M, accumulate, nthreads, dtype, rng):
    for N, K in SHAPES:
        A = rng.standard_normal((M, K)).astype(dtype)
        W = rng.standard_normal((N, K)).astype(dtype)
        C = rng.standard_normal((M, N)).astype(dtype)
        expected, scale = product(A, W, C, accumulate)
        _kernels._small_gemm_nt(A, W, C, accumulate, nthreads)
        err = np.abs(C - expected) / np.maximum(scale, np.finfo(np.float64).tiny)
        assert err.max() <= TOL[dtype], (N, K, err.max())


def test_small_gemm_large_w_split_across_threads(dtype, rng):
    """W of several MiB: the size-based choice splits N across the pool."""
    A = rng.standard_normal((3, 512)).astype(dtype)
    W = rng.standard_normal((2050, 512)).astype(dtype)
    expected, scale = product(A, W, np.zeros((3, 2050)), False)
    for nthreads in (0, 2, 1):
        C = np.full((3, 2050), np.nan, dtype)
        _kernels._small_gemm_nt(A, W, C, False, nthreads)
        assert (np.abs(C - expected) / scale).max() <= TOL[dtype]


def test_small_gemm_k_zero_and_non_finite(dtype):
    C = np.ones((2, 3), dtype)
    _kernels._small_gemm_nt(np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), C, True, 1)
    assert (C == 1).all()
    _kernels._small_gemm_nt(np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), C, False, 1)
    assert (C == 0).all()
    # the masked tail must not turn an infinite weight times a zero lane into NaN, nor hide a NaN
    A = np.ones((1, 20), dtype)
    W = np.ones((4, 20), dtype)
    W[0, 10], W[1, 19], W[2, 0], W[3, 13] = np.inf, np.nan, -np.inf, np.inf
    C = np.zeros((1, 4), dtype)
    _kernels._small_gemm_nt(A, W, C, False, 1)
    assert C[0, 0] == np.inf and np.isnan(C[0, 1]) and C[0, 2] == -np.inf and C[0, 3] == np.inf


def test_small_gemm_concurrent_callers(rng):
    """Two Python threads calling at once: one gets the pool, the other runs alone; both are right."""
    A = rng.standard_normal((2, 512)).astype(np.float32)
    W = rng.standard_normal((1024, 512)).astype(np.float32)
    expected, scale = product(A, W, np.zeros((2, 1024)), False)
    errors = []

    def work():
        C = np.empty((2, 1024), np.float32)
        for _ in range(200):
            _kernels._small_gemm_nt(A, W, C, False, 2)
            errors.append((np.abs(C - expected) / scale).max())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 600 and max(errors) <= TOL[np.float32]


def test_small_gemm_checks_its_arguments():
    a = np.zeros((2, 3), np.float32)
    w = np.zeros((4, 3), np.float32)
    c = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"W must be a C-contiguous float32 array of shape \(4, 3\)"):
        _kernels._small_gemm_nt(a, w.astype(np.float64), c, False, 1)
    with pytest.raises(ValueError, match=r"W must be .* shape \(4, 3\); got float32 \(4, 2\)"):
        _kernels._small_gemm_nt(a, np.zeros((4, 2), np.float32), c, False, 1)
    with pytest.raises(ValueError, match=r"A must be a C-contiguous float32 array of shape \(2, 3\)"):
        _kernels._small_gemm_nt(np.zeros((3, 2), np.float32).T, w, c, False, 1)
    with pytest.raises(ValueError, match="A must be a 2-D array"):
        _kernels._small_gemm_nt(np.zeros(3, np.float32), w, c, False, 1)
    with pytest.raises(ValueError, match="C must be a 2-D float32 or float64 array"):
        _kernels._small_gemm_nt(a, w, np.zeros((2, 4), np.int32), False, 1)
    with pytest.raises(ValueError, match="C must be a 2-D float32 or float64 array"):
        _kernels._small_gemm_nt(a, w, [[0.0] * 4] * 2, False, 1)
    with pytest.raises(ValueError, match=r"C must be a C-contiguous float32 array of shape \(2, 4\)"):
        _kernels._small_gemm_nt(a, w, np.zeros((4, 2), np.float32).T, False, 1)
    c.flags.writeable = False
    with pytest.raises(ValueError, match="C must be writeable"):
        _kernels._small_gemm_nt(a, w, c, False, 1)
