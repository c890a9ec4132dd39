"""One compiled call instead of several NumPy ones for the session's float tensors (fastrnn/_rows.pxi):
softmax, log-softmax and layer normalisation over trailing axes, and the sigmoid.

Each helper returns None when its kernel does not apply (another dtype or byte order, an empty array), and the op
then runs its NumPy code; arrays that are not C-contiguous are copied first. The ops call these first:

    rows(x, k)  x viewed as (rows, n), n the product of x.shape[k:]; None when not applicable
    softmax(x, k, as_log), layer_norm(x, k, scale, bias, epsilon), sigmoid(x)   -> a new array, or None
    linear(a, w, bias)   a (..., K) w (N, K)^T + bias (N,) -> (..., N), or None; weights(b) its w of a stored b

The compiled loops are vectorised (csrc/rows.c) and beat NumPy's chains of calls at every size measured (float32,
2 Intel Xeon cores, rows x n -> us, compiled vs NumPy): log-softmax 1 x 50 0.2 vs 3.6, 1600 x 50 90 on one core
(48 split across two) vs 193, 50 x 2048 59 vs 140; layer norm 1600 x 32 44 vs 149; sigmoid 1600 x 32 14 vs 41.
linear() takes the large product past LINEAR_SMALL_MACS multiply-adds (fastrnn/_rows.pxi; 1600 x 50 x 48: 42 us
vs NumPy's 86).
"""
import numpy as np

from fastrnn import _kernels

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _applies(x):
    return x.__class__ is np.ndarray and x.dtype in FLOATS and x.size > 0 and x.dtype.isnative


def rows(x, k):
    """x (..., n...) as (rows, n) over the axes from k on (a copy when x is not C-contiguous: a recurrent
    node's output in batch-first order is a transposed view, and one copy costs less than NumPy's strided
    passes), or None when the kernels do not apply."""
    if not _applies(x):
        return None
    n = 1
    for dim in x.shape[k:]:
        n *= dim
    return np.ascontiguousarray(x).reshape(-1, n)


def softmax(x, k, as_log):
    """softmax (log-softmax) of x over the axes from k on, flattened; None when the kernel does not apply (k
    None: an axis other than the last)."""
    flat = None if k is None else rows(x, k)
    if flat is None:
        return None
    out = np.empty(x.shape, x.dtype)
    _kernels.softmax_rows(flat, out.reshape(flat.shape), as_log)
    return out


def layer_norm(x, k, scale, bias, epsilon):
    """LayerNormalization of x over the axes from k on, scale and bias of those axes' shape (bias None);
    None when the kernel does not apply (broadcast scale or bias, other dtypes)."""
    flat = rows(x, k)
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
    if not _applies(x):
        return None
    out = np.empty(x.shape, x.dtype)
    _kernels.sigmoid(np.ascontiguousarray(x), out)
    return out


def weights(b, transposed=False):
    """The (N, K) C-contiguous array linear() reads, of a stored operand b (K, N) (transposed: b (N, K), as
    torch's Linear stores it); None when no call could take the kernel (another dtype or rank, or empty)."""
    if b is None or b.ndim != 2 or b.dtype not in FLOATS or not b.size:
        return None
    return np.ascontiguousarray(b if transposed else b.T)


# linear(a, w, bias): a (..., K) w (N, K)^T (+ bias (N,) of w's dtype, or None) -> (..., N), or None when the
# kernel does not apply (a not an array of w's dtype, or empty; a copy of a when it is not C-contiguous, as in
# rows()). The compiled function itself: a Python frame around it cost a third of a B=1 Linear's time.
linear = _kernels.linear
