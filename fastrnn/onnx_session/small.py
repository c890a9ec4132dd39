"""One compiled call instead of several NumPy ones for the session's float tensors (fastrnn/_rows.pxi):
softmax, log-softmax and layer normalisation over trailing axes, the sigmoid, and Linear layers.

Each returns a new array, or None when its kernel does not apply (another dtype or byte order, an empty array),
and the op then runs its NumPy code; arrays that are not C-contiguous are copied first (a recurrent node's
batch-first output is a transposed view, and one copy costs less than NumPy's strided passes):

    softmax(x, k, as_log), layer_norm(x, k, scale, bias, epsilon)   over the dims from k on, flattened
    sigmoid(x)
    linear(a, w, bias)   a (..., K) w (N, K)^T + bias (N,) or None -> (..., N); weights(b) its w of a stored b

They are the compiled functions themselves: a Python frame around each cost about 1 us of the 1.2-2.6 us a B=1
op took. The compiled loops are vectorised (csrc/rows.c) and beat NumPy's chains of calls at every size measured
(float32, 2 Intel Xeon cores, rows x n -> us, compiled vs NumPy): log-softmax 1 x 50 0.2 vs 3.6, 1600 x 50 90 on
one core (48 split across two) vs 193, 50 x 2048 59 vs 140; layer norm 1600 x 32 44 vs 149; sigmoid 1600 x 32 14
vs 41. linear() takes the large product past LINEAR_SMALL_MACS multiply-adds (1600 x 50 x 48: 42 us vs NumPy's
86) and BLAS's gemv for one output from 64 rows.
"""
import numpy as np

from fastrnn import _kernels

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

softmax = _kernels.softmax
layer_norm = _kernels.layer_norm
sigmoid = _kernels.sigmoid
linear = _kernels.linear


def weights(b, transposed=False):
    """The (N, K) C-contiguous array linear() reads, of a stored operand b (K, N) (transposed: b (N, K), as
    torch's Linear stores it); None when no call could take the kernel (another dtype or rank, or empty)."""
    if b is None or b.ndim != 2 or b.dtype not in FLOATS or not b.size:
        return None
    return np.ascontiguousarray(b if transposed else b.T)
