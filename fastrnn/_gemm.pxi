# Bindings of csrc/gemm.h (the large products and the ISA choice) for tests and the benchmark; included at the
# end of _kernels.pyx so that they share the extension's pool and ISA state with the time loops.

cdef extern from "gemm.h" nogil:
    int FR_ISA_COUNT
    int FR_ENGINE_AUTO, FR_ENGINE_OWN, FR_ENGINE_BLAS
    const char *fr_isa_name(int isa)
    int fr_isa_supported(int isa)
    int fr_isa()
    const char *fr_isa_reason()
    int fr_isa_set(int isa)
    double fr_isa_benchmark(int isa)
    void fr_cpu_identify(char *brand, int *family, int *model)
    void fr_matmul_engine_f32(int engine, int threads, int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N,
                              Py_ssize_t K, const float *A, Py_ssize_t lda, const float *B, Py_ssize_t ldb,
                              float beta, const float *bias, float *C, Py_ssize_t ldc)
    void fr_matmul_engine_f64(int engine, int threads, int trans_a, int trans_b, Py_ssize_t M, Py_ssize_t N,
                              Py_ssize_t K, const double *A, Py_ssize_t lda, const double *B, Py_ssize_t ldb,
                              double beta, const double *bias, double *C, Py_ssize_t ldc)

GEMM_ENGINES = {"auto": FR_ENGINE_AUTO, "own": FR_ENGINE_OWN, "blas": FR_ENGINE_BLAS}


def isa_names():
    """Every ISA name FASTRNN_ISA accepts (besides "auto"), narrowest first."""
    return tuple(fr_isa_name(i).decode() for i in range(FR_ISA_COUNT))


cdef int isa_index(name) except -1:
    names = isa_names()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"isa must be one of {', '.join(names)}; got {name!r}")
    return names.index(name)


def isa_supported(name):
    """True when this CPU (and OS) can run the ISA's kernels."""
    return fr_isa_supported(isa_index(name)) == 1


def isa():
    """(name, reason): the ISA of the packed products and how it was chosen (see csrc/isa.c)."""
    cdef int chosen = fr_isa()
    return fr_isa_name(chosen).decode(), fr_isa_reason().decode()


def set_isa(name):
    """Use the ISA `name` for the packed products from now on; ValueError when unknown or unsupported here."""
    cdef int index = isa_index(name)
    if fr_isa_set(index) != 0:
        raise ValueError(f"isa {name!r} is not supported by this CPU; supported: "
                         f"{', '.join(n for n in isa_names() if isa_supported(n))}")


def isa_benchmark():
    """{name: seconds} of the ISA micro-benchmark, run now, for every ISA supported here."""
    times = {}
    for i, name in enumerate(isa_names()):
        seconds = fr_isa_benchmark(i)
        if seconds >= 0:
            times[name] = seconds
    return times


def cpu_info():
    """{"brand", "family", "model"} of this CPU: x86 CPUID's brand string, family and model; aarch64 the features
    detected ("aarch64 asimd asimddp i8mm bf16 ..."), the MIDR implementer and part (-1 where unreadable);
    "unknown" and -1 elsewhere."""
    cdef char brand[64]
    cdef int family, model
    fr_cpu_identify(brand, &family, &model)
    return {"brand": brand.decode(errors="replace"), "family": family, "model": model}


cdef int check_operand(a, str name, dtype, tuple shape) except -1:
    """a: a 2-D array of this dtype and shape whose rows are contiguous, with a row stride >= its row length."""
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype != dtype or a.shape != shape:
        raise ValueError(f"{name} must be a 2-D {np.dtype(dtype)} array of shape {shape}; got "
                         f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    rows, cols = a.shape
    row_stride, col_stride = a.strides
    if a.size > 0 and ((cols > 1 and col_stride != a.itemsize) or
                       (rows > 1 and (row_stride % a.itemsize != 0 or row_stride < cols * a.itemsize))):
        raise ValueError(f"{name} must have contiguous rows and a row stride of at least its row length "
                         f"(positive); got strides {a.strides}")
    if max(rows, cols, row_stride // a.itemsize) > INT_MAX:
        raise ValueError(f"{name} is too large for 32-bit BLAS: shape {shape}")
    return 0


cdef Py_ssize_t leading(a):
    """The row stride of a 2-D array in elements (at least the row length, at least 1)."""
    return max(a.strides[0] // a.itemsize, a.shape[1], 1) if a.shape[0] > 1 else max(a.shape[1], 1)


def matmul(A, B, C, bint trans_a=False, bint trans_b=False, beta=0.0, engine="auto", int threads=0, bias=None):
    """C = op(A) op(B) + beta C in place through fr_matmul_engine (csrc/gemm.h); beta == 0 does not read C.
    With bias [N] (C's dtype, contiguous): C = op(A) op(B) + bias on every row, beta unused (fr_matmul_bias).

    A [M, K] (or [K, M] with trans_a), B [K, N] (or [N, K] with trans_b), C [M, N]: 2-D, one dtype (float32
    or float64), rows contiguous, any row stride (views of larger arrays work). engine: "auto" (the choice the
    time loops get), "own" (the packed kernel at the current ISA) or "blas"; threads: 0 automatic, else at most
    that many.
    """
    if not isinstance(C, np.ndarray) or C.dtype not in (np.float32, np.float64) or C.ndim != 2:
        raise ValueError(f"C must be a 2-D float32 or float64 array; got {getattr(C, 'dtype', type(C).__name__)}"
                         f" {getattr(C, 'shape', '')}")
    if not isinstance(A, np.ndarray) or A.ndim != 2:
        raise ValueError(f"A must be a 2-D array; got {type(A).__name__} {getattr(A, 'shape', '')}")
    if engine not in GEMM_ENGINES:
        raise ValueError(f"engine must be one of {', '.join(GEMM_ENGINES)}; got {engine!r}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a real number; got {type(beta).__name__}")
    if threads < 0:
        raise ValueError(f"threads must be >= 0; got {threads}")
    cdef Py_ssize_t M = C.shape[0], N = C.shape[1]
    cdef Py_ssize_t K = A.shape[0] if trans_a else A.shape[1]
    check_operand(A, "A", C.dtype, (K, M) if trans_a else (M, K))
    check_operand(B, "B", C.dtype, (N, K) if trans_b else (K, N))
    check_operand(C, "C", C.dtype, (M, N))
    check_bias(bias, N, C.dtype)
    if not C.flags.writeable:
        raise ValueError("C must be writeable")
    if np.may_share_memory(C, A) or np.may_share_memory(C, B) or np.may_share_memory(C, bias):
        raise ValueError("C must not overlap A, B or bias")
    cdef int code = GEMM_ENGINES[engine]
    cdef Py_ssize_t lda = leading(A), ldb = leading(B), ldc = leading(C)
    cdef void *a = cnp.PyArray_DATA(A)
    cdef void *b = cnp.PyArray_DATA(B)
    cdef void *c = cnp.PyArray_DATA(C)
    cdef void *d = cnp.PyArray_DATA(bias) if bias is not None else NULL
    cdef double beta_value = beta
    cdef bint f64 = C.dtype == np.float64
    with nogil:
        if f64:
            fr_matmul_engine_f64(code, threads, trans_a, trans_b, M, N, K, <const double *>a, lda,
                                 <const double *>b, ldb, beta_value, <const double *>d, <double *>c, ldc)
        else:
            fr_matmul_engine_f32(code, threads, trans_a, trans_b, M, N, K, <const float *>a, lda,
                                 <const float *>b, ldb, <float>beta_value, <const float *>d, <float *>c, ldc)
