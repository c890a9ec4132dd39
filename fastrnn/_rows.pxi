# Row-wise and element-wise kernels of fastrnn.InferenceSession's float tensors (fastrnn/onnx_session/small.py):
# softmax, log-softmax and layer normalisation over the last axis, and the logistic sigmoid (csrc/rows.c, one
# vectorised C loop each); and Linear layers (a w^T + bias): csrc/small_gemm.inc, or the large product (gemm.h)
# past LINEAR_SMALL_MACS.
# NumPy spends 0.7-1 us per ufunc call on dispatch; these ops take 4 to 12 such calls (7-13 us at B=1 rows of
# 32-50), one call here. Included by _kernels.pyx (its cimports).
cdef extern from "gemm.h" nogil:
    void fr_matmul_f32(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A,
                       Py_ssize_t lda, const float *B, Py_ssize_t ldb, float beta, float *C, Py_ssize_t ldc)
    void fr_matmul_f64(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A,
                       Py_ssize_t lda, const double *B, Py_ssize_t ldb, double beta, double *C, Py_ssize_t ldc)
    void fr_matmul_bias_f32(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A,
                            Py_ssize_t lda, const float *B, Py_ssize_t ldb, const float *bias, float *C,
                            Py_ssize_t ldc)
    void fr_matmul_bias_f64(int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const double *A,
                            Py_ssize_t lda, const double *B, Py_ssize_t ldb, const double *bias, double *C,
                            Py_ssize_t ldc)
    void fr_bias_rows_f32(Py_ssize_t rows, Py_ssize_t N, const float *bias, float *C, Py_ssize_t ldc)
    void fr_bias_rows_f64(Py_ssize_t rows, Py_ssize_t N, const double *bias, double *C, Py_ssize_t ldc)
    void fr_matvec_f32(Py_ssize_t M, Py_ssize_t K, const float *A, Py_ssize_t lda, const float *x, float beta,
                       float *y)
    void fr_matvec_f64(Py_ssize_t M, Py_ssize_t K, const double *A, Py_ssize_t lda, const double *x, double beta,
                       double *y)

# Multiply-adds (M N K) up to which a Linear layer runs csrc/small_gemm.inc on one thread; past it, the large
# product (gemm.h: threads, packed kernel or OpenBLAS) with the bias written by its parts. Measured (float32,
# N 50, K 48, one process, 2 Intel Xeon cores): 50 rows 3.8 vs 5.6 us, 100 rows 8.4 vs 8.5, 400 rows 29 vs 14.
DEF LINEAR_SMALL_MACS = 1 << 18
# Rows from which a Linear layer of one output runs BLAS's gemv (linear_into).
DEF LINEAR_MATVEC_MIN_ROWS = 64


cdef extern from "rows.h" nogil:
    void fr_softmax_rows_f32(const float *x, float *out, Py_ssize_t rows, Py_ssize_t n, int as_log)
    void fr_softmax_rows_f64(const double *x, double *out, Py_ssize_t rows, Py_ssize_t n, int as_log)
    void fr_layer_norm_rows_f32(const float *x, const float *scale, const float *bias, double epsilon, float *out,
                                Py_ssize_t rows, Py_ssize_t n)
    void fr_layer_norm_rows_f64(const double *x, const double *scale, const double *bias, double epsilon,
                                double *out, Py_ssize_t rows, Py_ssize_t n)
    void fr_sigmoid_array_f32(const float *x, float *out, Py_ssize_t n)
    void fr_sigmoid_array_f64(const double *x, double *out, Py_ssize_t n)


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


def softmax_rows(cnp.ndarray x not None, cnp.ndarray out not None, bint as_log):
    """out (rows, n) = softmax over each row of x (rows, n) (log_softmax when as_log)."""
    cdef bint f64 = rows_args(x, out)
    softmax_into(data(x), data(out), x.shape[0], x.shape[1], as_log, f64)


cdef void softmax_into(const void *src, void *dst, Py_ssize_t rows, Py_ssize_t n, bint as_log, bint f64) noexcept:
    with nogil:
        if f64:
            fr_softmax_rows_f64(<const double *>src, <double *>dst, rows, n, as_log)
        else:
            fr_softmax_rows_f32(<const float *>src, <float *>dst, rows, n, as_log)


def layer_norm_rows(cnp.ndarray x not None, cnp.ndarray scale not None, bias, double epsilon,
                    cnp.ndarray out not None):
    """out (rows, n) = layer normalisation of each row of x (rows, n), times scale (n,) plus bias (n,) or None."""
    cdef bint f64 = rows_args(x, out)
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    for name, a in (("scale", scale), ("bias", bias)):
        if a is not None and not (isinstance(a, np.ndarray) and a.ndim == 1 and a.shape[0] == n
                                  and a.dtype == x.dtype and a.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous {x.dtype} array of shape ({n},); got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    layer_norm_into(data(x), data(scale), data_or_null(bias), epsilon, data(out), rows, n, f64)


cdef void layer_norm_into(const void *src, const void *scale, const void *bias, double epsilon, void *dst,
                          Py_ssize_t rows, Py_ssize_t n, bint f64) noexcept:
    with nogil:
        if f64:
            fr_layer_norm_rows_f64(<const double *>src, <const double *>scale, <const double *>bias, epsilon,
                                   <double *>dst, rows, n)
        else:
            fr_layer_norm_rows_f32(<const float *>src, <const float *>scale, <const float *>bias, epsilon,
                                   <float *>dst, rows, n)


def sigmoid_array(cnp.ndarray x not None, cnp.ndarray out not None):
    """out = 1 / (1 + exp(-x)), element-wise; x and out C-contiguous, one float dtype, one shape."""
    if (x.size != out.size or cnp.PyArray_TYPE(x) != cnp.PyArray_TYPE(out)
            or cnp.PyArray_TYPE(x) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64) or not cnp.PyArray_ISNOTSWAPPED(x)
            or not cnp.PyArray_IS_C_CONTIGUOUS(x) or not cnp.PyArray_IS_C_CONTIGUOUS(out)
            or not cnp.PyArray_ISWRITEABLE(out)):
        raise ValueError(f"x and out must be C-contiguous float32 or float64 arrays of one size; got {x.dtype} "
                         f"{(<object>x).shape} and {out.dtype} {(<object>out).shape}")
    sigmoid_into(data(x), data(out), x.size, cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT64)


cdef void sigmoid_into(const void *src, void *dst, Py_ssize_t n, bint f64) noexcept:
    with nogil:
        if f64:
            fr_sigmoid_array_f64(<const double *>src, <double *>dst, n)
        else:
            fr_sigmoid_array_f32(<const float *>src, <float *>dst, n)


cdef bint applies(x):
    """Whether the kernels take x: an array of float32 or float64 in native byte order, not empty."""
    return (type(x) is np.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>x) in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>x) and cnp.PyArray_SIZE(<cnp.ndarray>x) > 0)


cdef cnp.ndarray contiguous(cnp.ndarray x):
    """x, or a C-contiguous copy (a recurrent node's batch-first output is a transposed view: one copy costs less
    than NumPy's strided passes)."""
    return x if cnp.PyArray_IS_C_CONTIGUOUS(x) else np.ascontiguousarray(x)


cdef Py_ssize_t trailing(cnp.ndarray x, int k) except -1:
    """The product of x's dims from k on (the length of a row), 0 <= k <= x.ndim."""
    if not 0 <= k <= cnp.PyArray_NDIM(x):
        raise ValueError(f"k must be in [0, {cnp.PyArray_NDIM(x)}] for an array of shape {(<object>x).shape}; "
                         f"got {k}")
    cdef Py_ssize_t n = 1
    cdef int d
    for d in range(k, cnp.PyArray_NDIM(x)):
        n *= cnp.PyArray_DIM(x, d)
    return n


cdef cnp.ndarray empty_like(cnp.ndarray x):
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)


def softmax(x, k, bint as_log):
    """softmax (log-softmax when as_log) of x over its dims from k on, flattened, as a new array; None when the
    kernel does not apply (k None: an axis other than the last; see applies())."""
    if k is None or not applies(x):
        return None
    cdef Py_ssize_t n = trailing(x, k)
    cdef cnp.ndarray a = contiguous(x), out = empty_like(x)
    softmax_into(data(a), data(out), cnp.PyArray_SIZE(a) // n, n, as_log, cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64)
    return out


def layer_norm(x, int k, scale, bias, double epsilon):
    """LayerNormalization of x over its dims from k on, scale and bias (or None) of those dims' shape, as a new
    array; None when the kernel does not apply (broadcast scale or bias, other dtypes; see applies())."""
    if not applies(x):
        return None
    cdef Py_ssize_t n = trailing(x, k)
    if not fits(scale, x, k) or (bias is not None and not fits(bias, x, k)):
        return None
    cdef cnp.ndarray a = contiguous(x), out = empty_like(x)
    layer_norm_into(data(a), data(scale), data_or_null(bias), epsilon, data(out), cnp.PyArray_SIZE(a) // n, n,
                    cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64)
    return out


cdef bint fits(p, cnp.ndarray x, int k):
    """Whether p is a parameter of x's dims from k on: their shape, x's dtype, C-contiguous."""
    return (type(p) is np.ndarray and p.dtype == x.dtype and p.shape == (<object>x).shape[k:]
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>p))


def sigmoid(x):
    """1 / (1 + exp(-x)) as a new array; None when the kernel does not apply (see applies())."""
    if not applies(x):
        return None
    cdef cnp.ndarray a = contiguous(x), out = empty_like(x)
    sigmoid_into(data(a), data(out), cnp.PyArray_SIZE(a), cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64)
    return out


def linear(a, cnp.ndarray w not None, bias):
    """a (..., K) w (N, K)^T (+ bias (N,) of w's dtype, or None) as a new array (..., N), or None when the kernels
    do not apply (a not an array of w's float dtype in native byte order, empty, K == 0); a that is not
    C-contiguous is copied. One call for what small.py did in six (about 1 us of the 1.2 a B=1 Linear took)."""
    if type(a) is not np.ndarray:
        return None
    cdef cnp.ndarray x = <cnp.ndarray>a
    cdef int nd = cnp.PyArray_NDIM(x), typenum = cnp.PyArray_TYPE(w)
    if (nd == 0 or cnp.PyArray_NDIM(w) != 2 or typenum not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)
            or cnp.PyArray_TYPE(x) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(w)
            or cnp.PyArray_DIM(x, nd - 1) != w.shape[1] or w.shape[1] == 0 or cnp.PyArray_SIZE(x) == 0
            or not cnp.PyArray_ISNOTSWAPPED(x) or not cnp.PyArray_ISNOTSWAPPED(w)):
        return None
    check_bias(bias, w.shape[0], w.dtype)
    x = contiguous(x)
    cdef cnp.ndarray out = np.empty((<object>a).shape[:nd - 1] + (w.shape[0],), w.dtype)
    linear_into(data(x), data(w), data_or_null(bias), data(out), cnp.PyArray_SIZE(x) // w.shape[1], w.shape[0],
                w.shape[1], typenum == cnp.NPY_FLOAT64)
    return out


def linear_rows(cnp.ndarray a not None, cnp.ndarray w not None, bias, cnp.ndarray out not None):
    """out (M, N) = a (M, K) w (N, K)^T (+ bias (N,)) as linear() computes it: every array C-contiguous, one float
    dtype; bias None or 1-D of N."""
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
    check_bias(bias, w.shape[0], out.dtype)
    cdef Py_ssize_t M = a.shape[0], N = w.shape[0], K = a.shape[1]
    if M == 0 or N == 0:
        return
    if K == 0 and bias is None:   # an empty sum
        out.fill(0)
        return
    linear_into(data(a), data(w), data_or_null(bias), data(out), M, N, K, typenum == cnp.NPY_FLOAT64)


cdef void linear_into(const void *pa, const void *pw, const void *bias, void *po, Py_ssize_t M, Py_ssize_t N,
                      Py_ssize_t K, bint f64) noexcept nogil:
    """po (M, N) = pa (M, K) pw (N, K)^T (+ bias (N,), or NULL), all contiguous. The small kernel for products up
    to LINEAR_SMALL_MACS, except a single output (N 1, a score or a regression head), which BLAS's gemv takes:
    the small kernel computes 4 to 8 columns per block and keeps one (1600 x 16 x 1: 7.8 us vs 3.0)."""
    cdef bint accumulate = bias != NULL
    if M * N * K > LINEAR_SMALL_MACS and N > 1:
        if f64 and accumulate:
            fr_matmul_bias_f64(0, 1, M, N, K, <const double *>pa, K, <const double *>pw, K, <const double *>bias,
                               <double *>po, N)
        elif f64:
            fr_matmul_f64(0, 1, M, N, K, <const double *>pa, K, <const double *>pw, K, 0, <double *>po, N)
        elif accumulate:
            fr_matmul_bias_f32(0, 1, M, N, K, <const float *>pa, K, <const float *>pw, K, <const float *>bias,
                               <float *>po, N)
        else:
            fr_matmul_f32(0, 1, M, N, K, <const float *>pa, K, <const float *>pw, K, 0, <float *>po, N)
        return
    if accumulate and f64:   # every row starts as the bias, the product is added to it
        fr_bias_rows_f64(M, N, <const double *>bias, <double *>po, N)
    elif accumulate:
        fr_bias_rows_f32(M, N, <const float *>bias, <float *>po, N)
    if K == 0:
        return
    if N == 1 and M >= LINEAR_MATVEC_MIN_ROWS:
        if f64:
            fr_matvec_f64(M, K, <const double *>pa, K, <const double *>pw, accumulate, <double *>po)
        else:
            fr_matvec_f32(M, K, <const float *>pa, K, <const float *>pw, accumulate, <float *>po)
    elif f64:
        fr_small_gemm_nt_f64(M, N, K, <const double *>pa, K, <const double *>pw, K, accumulate, <double *>po, N, 0)
    else:
        fr_small_gemm_nt_f32(M, N, K, <const float *>pa, K, <const float *>pw, K, accumulate, <float *>po, N, 0)
