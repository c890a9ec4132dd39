# Row-wise and element-wise kernels of fastrnn.InferenceSession's small tensors (fastrnn/onnx_session/small.py):
# softmax, log-softmax and layer normalisation over the last axis, and the logistic sigmoid, one C loop each;
# and Linear layers (a w^T + bias) through csrc/small_gemm.inc.
# NumPy spends 0.7-1 us per ufunc call on dispatch; these ops take 4 to 12 such calls (7-13 us at B=1 rows of
# 32-50), one call here. NumPy's SIMD exp wins on large tensors: the session calls these below its size limit.
# Included by _kernels.pyx (its cimports); one fused template serves float32 and float64.
from libc.math cimport exp, expf, log, sqrt

ctypedef fused real:
    float
    double


cdef inline real exp_of(real x) noexcept nogil:
    return expf(x) if real is float else exp(x)


cdef void softmax_rows_of(const real *x, real *out, Py_ssize_t rows, Py_ssize_t n, bint as_log) noexcept nogil:
    """out[r] = softmax(x[r]) (or log_softmax), rows of n; a row whose max is not finite gives NaN (as ORT)."""
    cdef Py_ssize_t r, k
    cdef const real *row
    cdef real *dst
    cdef real top
    cdef double total
    for r in range(rows):
        row, dst = x + r * n, out + r * n
        top = row[0]
        for k in range(1, n):
            if row[k] > top or row[k] != row[k]:   # a NaN is the max: the row becomes NaN, as NumPy's
                top = row[k]
        total = 0.0
        if as_log:
            for k in range(n):
                total += exp_of(<real>(row[k] - top))
            total = log(total)
            for k in range(n):
                dst[k] = <real>(row[k] - top - total)
        else:
            for k in range(n):
                dst[k] = exp_of(<real>(row[k] - top))
                total += dst[k]
            total = 1.0 / total
            for k in range(n):
                dst[k] = <real>(dst[k] * total)


cdef void layer_norm_rows_of(const real *x, const real *scale, const real *bias, double epsilon, real *out,
                             Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    """out[r] = (x[r] - mean) / sqrt(var + epsilon) * scale (+ bias), mean and var (biased) in double."""
    cdef Py_ssize_t r, k
    cdef const real *row
    cdef real *dst
    cdef double mean, var, d, inv_std
    for r in range(rows):
        row, dst = x + r * n, out + r * n
        mean = 0.0
        for k in range(n):
            mean += row[k]
        mean /= n
        var = 0.0
        for k in range(n):
            d = row[k] - mean
            var += d * d
        inv_std = 1.0 / sqrt(var / n + epsilon)
        for k in range(n):
            d = (row[k] - mean) * inv_std * scale[k]
            dst[k] = <real>(d + bias[k] if bias != NULL else d)


cdef void sigmoid_of(const real *x, real *out, Py_ssize_t n) noexcept nogil:
    """out = 1 / (1 + exp(-x)); exp's overflow for x < -88 (float32) gives 1 / inf = 0, no NaN."""
    cdef Py_ssize_t k
    for k in range(n):
        out[k] = <real>(1.0 / (1.0 + exp_of(-x[k])))


cdef int rows_args(cnp.ndarray x, cnp.ndarray out) except -1:
    """Checks of the row kernels' arrays: x and out 2-D (rows, n), C-contiguous, one float dtype, one shape."""
    if (cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_NDIM(out) != 2 or x.shape[0] != out.shape[0]
            or x.shape[1] != out.shape[1] or x.shape[1] < 1 or not cnp.PyArray_IS_C_CONTIGUOUS(x)
            or not cnp.PyArray_IS_C_CONTIGUOUS(out) or cnp.PyArray_TYPE(x) != cnp.PyArray_TYPE(out)
            or cnp.PyArray_TYPE(x) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)
            or not cnp.PyArray_ISNOTSWAPPED(x) or not cnp.PyArray_ISWRITEABLE(out)):
        raise ValueError(f"x and out must be C-contiguous float32 or float64 arrays of one shape (rows, n >= 1); "
                         f"got {x.dtype} {(<object>x).shape} and {out.dtype} {(<object>out).shape}")
    return cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64


def softmax_rows(cnp.ndarray x, cnp.ndarray out, bint as_log):
    """out (rows, n) = softmax over each row of x (rows, n) (log_softmax when as_log)."""
    cdef bint f64 = rows_args(x, out)
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    cdef const void *src = data(x)
    cdef void *dst = data(out)
    with nogil:
        if f64:
            softmax_rows_of(<const double *>src, <double *>dst, rows, n, as_log)
        else:
            softmax_rows_of(<const float *>src, <float *>dst, rows, n, as_log)


def layer_norm_rows(cnp.ndarray x, cnp.ndarray scale, bias, double epsilon, cnp.ndarray out):
    """out (rows, n) = layer normalisation of each row of x (rows, n), times scale (n,) plus bias (n,) or None."""
    cdef bint f64 = rows_args(x, out)
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    for name, a in (("scale", scale), ("bias", bias)):
        if a is not None and not (isinstance(a, np.ndarray) and a.ndim == 1 and a.shape[0] == n
                                  and a.dtype == x.dtype and a.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous {x.dtype} array of shape ({n},); got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    cdef const void *src = data(x)
    cdef const void *s = data(scale)
    cdef const void *b = data_or_null(bias)
    cdef void *dst = data(out)
    with nogil:
        if f64:
            layer_norm_rows_of(<const double *>src, <const double *>s, <const double *>b, epsilon, <double *>dst,
                               rows, n)
        else:
            layer_norm_rows_of(<const float *>src, <const float *>s, <const float *>b, epsilon, <float *>dst,
                               rows, n)


def sigmoid(cnp.ndarray x, cnp.ndarray out):
    """out = 1 / (1 + exp(-x)), element-wise; x and out C-contiguous, one float dtype, one shape."""
    if (x.size != out.size or cnp.PyArray_TYPE(x) != cnp.PyArray_TYPE(out)
            or cnp.PyArray_TYPE(x) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64) or not cnp.PyArray_ISNOTSWAPPED(x)
            or not cnp.PyArray_IS_C_CONTIGUOUS(x) or not cnp.PyArray_IS_C_CONTIGUOUS(out)
            or not cnp.PyArray_ISWRITEABLE(out)):
        raise ValueError(f"x and out must be C-contiguous float32 or float64 arrays of one size; got {x.dtype} "
                         f"{(<object>x).shape} and {out.dtype} {(<object>out).shape}")
    cdef Py_ssize_t n = x.size
    cdef bint f64 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64
    cdef const void *src = data(x)
    cdef void *dst = data(out)
    with nogil:
        if f64:
            sigmoid_of(<const double *>src, <double *>dst, n)
        else:
            sigmoid_of(<const float *>src, <float *>dst, n)


def linear_rows(cnp.ndarray a, cnp.ndarray w, bias, cnp.ndarray out):
    """out (M, N) = a (M, K) w (N, K)^T (+ bias (N,)), by csrc/small_gemm.inc (threads as csrc/plan.c gives):
    every array C-contiguous, one float dtype; bias None or 1-D of N."""
    cdef int typenum = cnp.PyArray_TYPE(out)
    if (cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_NDIM(w) != 2 or cnp.PyArray_NDIM(out) != 2
            or typenum not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64) or cnp.PyArray_TYPE(a) != typenum
            or cnp.PyArray_TYPE(w) != typenum or a.shape[1] != w.shape[1] or out.shape[0] != a.shape[0]
            or out.shape[1] != w.shape[0] or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_IS_C_CONTIGUOUS(w) or not cnp.PyArray_IS_C_CONTIGUOUS(out)
            or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISNOTSWAPPED(w) or not cnp.PyArray_ISWRITEABLE(out)):
        raise ValueError(f"a (M, K), w (N, K) and out (M, N) must be C-contiguous arrays of one float dtype; got "
                         f"{a.dtype} {(<object>a).shape}, {w.dtype} {(<object>w).shape}, {out.dtype} "
                         f"{(<object>out).shape}")
    cdef Py_ssize_t M = a.shape[0], N = w.shape[0], K = a.shape[1], r
    if bias is not None:
        if not (isinstance(bias, np.ndarray) and bias.ndim == 1 and bias.shape[0] == N and bias.dtype == out.dtype):
            raise ValueError(f"bias must be None or a {out.dtype} array of shape ({N},); got "
                             f"{getattr(bias, 'dtype', type(bias).__name__)} {getattr(bias, 'shape', '')}")
    cdef const void *pa = data(a)
    cdef const void *pw = data(w)
    cdef const char *pb = <const char *>data_or_null(bias)
    cdef char *po = <char *>data(out)
    cdef size_t row_bytes = N * cnp.PyArray_ITEMSIZE(out)
    cdef bint accumulate = bias is not None
    if M == 0 or N == 0:
        return
    if K == 0 and bias is None:   # an empty sum
        out.fill(0)
        return
    with nogil:
        if accumulate:   # every row starts as the bias, the product is added to it
            for r in range(M):
                memcpy(po + r * row_bytes, pb, row_bytes)
        if K > 0 and typenum == cnp.NPY_FLOAT64:
            fr_small_gemm_nt_f64(M, N, K, <const double *>pa, K, <const double *>pw, K, accumulate, <double *>po, N, 0)
        elif K > 0:
            fr_small_gemm_nt_f32(M, N, K, <const float *>pa, K, <const float *>pw, K, accumulate, <float *>po, N, 0)
