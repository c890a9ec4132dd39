"""The packed recurrent-product kernel (csrc/packed_gemm.inc) against NumPy, over awkward shapes.

Every row count of the micro-kernel (1..6 and more), panel widths not dividing N, any K.
Tolerance: float32 1e-5, float64 1e-12, relative to the size of the products.
"""
import numpy as np
import pytest

from fastrnn import _kernels

TOL = {np.float32: 1e-5, np.float64: 1e-12}


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
