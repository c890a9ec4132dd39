"""One compiled call instead of several NumPy ones for the session's small float tensors (fastrnn/_rows.pxi):
softmax, log-softmax and layer normalisation over trailing axes, and the sigmoid.

Each helper returns None when its kernel does not apply (another dtype, a non-contiguous or empty array, more
elements than its limit below), and the op then runs its NumPy code. The ops call these first:

    rows(x, k, limit) x viewed as (rows, n), n the product of x.shape[k:]; None when not applicable
    softmax(x, k, as_log), layer_norm(x, k, scale, bias, epsilon), sigmoid(x)   -> a new array, or None
    linear(a, w, bias)   a (..., K) w (N, K)^T + bias (N,) -> (..., N), or None; weights(b) its w of a stored b
"""
import numpy as np

from fastrnn import _kernels

# Elements up to which each compiled loop beats NumPy's calls. Measured (CPU time, one thread, float32 rows of
# 32-64, interleaved in one process): softmax 1.3 us vs NumPy's 7.3 at 32 elements, even at 2,048 (11.4 vs 11.7:
# the loop's scalar exp costs ~5 ns an element, NumPy's SIMD exp far less); layer norm 2.4 vs 12.4 us at 32,
# still ahead at 16,384 (29 vs 34); sigmoid 0.6 vs 2.0 us at 32, even at 512 (2.2 vs 2.5).
SOFTMAX_SIZE = 2048
LAYER_NORM_SIZE = 16384
SIGMOID_SIZE = 512
# Multiply-adds (M N K) up to which csrc/small_gemm.inc beats numpy.matmul plus the bias add (CPU time, float32,
# N 5-50, K 32-48): 0.6 vs 1.4 us at M = 1, 4.2 vs 4.8 at 50 x 50 x 48 (120K), behind at 200 x 50 x 48 (17 vs 13).
LINEAR_MACS = 1 << 17
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _applies(x, limit):
    return x.__class__ is np.ndarray and x.dtype in _FLOATS and 0 < x.size <= limit and x.flags.c_contiguous \
        and x.dtype.isnative


def rows(x, k, limit):
    """x (..., n...) as a (rows, n) view over the axes from k on, or None when the kernels do not apply."""
    if not _applies(x, limit):
        return None
    n = 1
    for dim in x.shape[k:]:
        n *= dim
    return x.reshape(-1, n)


def softmax(x, k, as_log):
    """softmax (log-softmax) of x over the axes from k on, flattened; None when the kernel does not apply (k
    None: an axis other than the last)."""
    flat = None if k is None else rows(x, k, SOFTMAX_SIZE)
    if flat is None:
        return None
    out = np.empty(x.shape, x.dtype)
    _kernels.softmax_rows(flat, out.reshape(flat.shape), as_log)
    return out


def layer_norm(x, k, scale, bias, epsilon):
    """LayerNormalization of x over the axes from k on, scale and bias of those axes' shape (bias None);
    None when the kernel does not apply (broadcast scale or bias, other dtypes)."""
    flat = rows(x, k, LAYER_NORM_SIZE)
    if flat is None or not _fits(scale, x, k) or (bias is not None and not _fits(bias, x, k)):
        return None
    out = np.empty(x.shape, x.dtype)
    n = flat.shape[1]
    _kernels.layer_norm_rows(flat, scale.reshape(n), None if bias is None else bias.reshape(n), epsilon,
                             out.reshape(flat.shape))
    return out


def _fits(a, x, k):
    return a.__class__ is np.ndarray and a.dtype == x.dtype and a.shape == x.shape[k:] and a.flags.c_contiguous


def sigmoid(x):
    """1 / (1 + exp(-x)) as a new array; None when the kernel does not apply."""
    if not _applies(x, SIGMOID_SIZE):
        return None
    out = np.empty(x.shape, x.dtype)
    _kernels.sigmoid(x, out)
    return out


def weights(b, transposed=False):
    """The (N, K) C-contiguous array linear() reads, of a stored operand b (K, N) (transposed: b (N, K), as
    torch's Linear stores it); None when no call could take the kernel (more than LINEAR_MACS multiply-adds for
    one row, another dtype or rank)."""
    if b is None or b.ndim != 2 or b.dtype not in _FLOATS or not 0 < b.size <= LINEAR_MACS:
        return None
    return np.ascontiguousarray(b if transposed else b.T)


def linear(a, w, bias):
    """a (..., K) w (N, K)^T (+ bias (N,) of w's dtype, or None) -> (..., N), or None when the kernel does not
    apply (a not a C-contiguous array of w's dtype, or more than LINEAR_MACS multiply-adds)."""
    K = w.shape[1]
    if a.__class__ is not np.ndarray or a.dtype != w.dtype or not a.ndim or a.shape[-1] != K or not K or \
            not 0 < a.size * w.shape[0] <= LINEAR_MACS or not a.flags.c_contiguous or not a.dtype.isnative:
        return None
    out = np.empty(a.shape[:-1] + (w.shape[0],), a.dtype)
    _kernels.linear_rows(a.reshape(-1, K), w, bias, out.reshape(-1, w.shape[0]))
    return out
