# Binding of the reduced-precision weight kernels (csrc/quant.h), included by _kernels.pyx.
# Everything arrives validated by fastrnn/quant/ (shapes, dtypes, finite scales); these functions check only what
# C needs to stay in bounds.

cdef extern from "quant.h" nogil:
    enum:
        FR_Q_INT8
        FR_Q_BF16
        FR_Q_F16
    ctypedef struct fr_qmatrix:
        int format
        Py_ssize_t N, K
        const void *panels
        const float *scale
    Py_ssize_t fr_quant_packed_bytes(int format, Py_ssize_t N, Py_ssize_t K)
    void fr_quant_pack(int format, const void *W, Py_ssize_t N, Py_ssize_t K, Py_ssize_t ldw, void *out)
    Py_ssize_t fr_quant_scratch_bytes(Py_ssize_t M, Py_ssize_t K)
    void fr_quant_gemm_nt(const fr_qmatrix *W, Py_ssize_t M, const float *A, Py_ssize_t lda, int accumulate,
                          float *C, Py_ssize_t ldc, void *scratch, int threads)
    int fr_quant_kernel_count(int format)
    const char *fr_quant_kernel_name(int format, int index)
    int fr_quant_use_kernel(int format, int index)
    int fr_quant_kernel_in_use(int format)

QUANT_FORMATS = {"int8": FR_Q_INT8, "bfloat16": FR_Q_BF16, "float16": FR_Q_F16}


cdef int _quant_format(str name) except -1:
    if name not in QUANT_FORMATS:
        raise ValueError(f"weight format must be one of {sorted(QUANT_FORMATS)}; got {name!r}")
    return QUANT_FORMATS[name]


cdef class QuantMatrix:
    """W [N, K] packed for fr_quant_gemm_nt: values (int8, or the uint16 bits of bfloat16 / float16) and the
    float32 scale [N] of each row. Holds its own packed copy: later changes to the arrays are not seen."""
    cdef fr_qmatrix m
    cdef object _arrays
    cdef readonly str format

    def __cinit__(self, str format, cnp.ndarray values, cnp.ndarray scale):
        cdef int fmt = _quant_format(format)
        cdef Py_ssize_t N = values.shape[0], K = values.shape[1]
        require(values, "values", np.dtype(np.int8 if fmt == FR_Q_INT8 else np.uint16), (N, K))
        require(scale, "scale", np.dtype(np.float32), (N,))
        packed = aligned_empty(fr_quant_packed_bytes(fmt, N, K), np.uint8)
        fr_quant_pack(fmt, cnp.PyArray_DATA(values), N, K, K, cnp.PyArray_DATA(packed))
        scale = scale.copy()
        self._arrays = (packed, scale)
        self.format = format
        self.m.format, self.m.N, self.m.K = fmt, N, K
        self.m.panels = cnp.PyArray_DATA(packed)
        self.m.scale = <const float *>cnp.PyArray_DATA(scale)

    @property
    def nbytes(self):
        """Bytes of the packed values and scales."""
        return self._arrays[0].nbytes + self._arrays[1].nbytes


def quant_gemm_nt(QuantMatrix W not None, cnp.ndarray A not None, cnp.ndarray C not None, bint accumulate,
                  int threads=0):
    """C [M, N] (+)= A [M, K] W^T by fr_quant_gemm_nt; float32, C-contiguous; for tests and the benchmark."""
    cdef Py_ssize_t M = A.shape[0]
    require(A, "A", np.dtype(np.float32), (M, W.m.K))
    require(C, "C", np.dtype(np.float32), (M, W.m.N))
    scratch = np.empty(fr_quant_scratch_bytes(M, W.m.K), np.uint8)
    cdef void *s = cnp.PyArray_DATA(scratch)
    cdef const float *a = <const float *>cnp.PyArray_DATA(A)
    cdef float *c = <float *>cnp.PyArray_DATA(C)
    with nogil:
        fr_quant_gemm_nt(&W.m, M, a, W.m.K, accumulate, c, W.m.N, s, threads)


def quant_kernels(str format):
    """Names of the kernels this CPU runs for the format, best first."""
    cdef int fmt = _quant_format(format)
    return [fr_quant_kernel_name(fmt, i).decode() for i in range(fr_quant_kernel_count(fmt))]


def quant_use_kernel(str format, int index):
    """Force kernel `index` of quant_kernels(format) for the whole process (-1: the best again)."""
    if fr_quant_use_kernel(_quant_format(format), index) != 0:
        raise ValueError(f"kernel index must be -1 or in [0, {len(quant_kernels(format))}); got {index}")


def quant_kernel_in_use(str format):
    """The name of the kernel the format's products run."""
    cdef int fmt = _quant_format(format)
    return fr_quant_kernel_name(fmt, fr_quant_kernel_in_use(fmt)).decode()


cdef class QuantCell:
    """One layer and direction with reduced-precision W_ih, W_hh (and W_hr), for the C loops (csrc/loop.inc) under
    the FR_PRODUCT_QUANT plan: the fr_cell of the float loops (float32 biases and peepholes) and an fr_packed
    whose matrices are QuantMatrix objects. The cell's w_ih / w_hh / w_hr name those matrices' packed bytes:
    the loops read them only through the plan's products, never as floats."""
    cdef fr_cell c
    cdef fr_packed pk
    cdef object _arrays
    cdef readonly bint lstm

    def __cinit__(self, int mode, QuantMatrix w_ih not None, QuantMatrix w_hh not None, b_ih, b_hh,
                  QuantMatrix w_hr, peep, QuantMatrix w_hn=None):
        """mode: RNN_TANH ... GRU_RB; reset-before GRU: w_hh rows [0, 2H) and w_hn rows [2H, 3H). Every shape
        is checked here: the loops read the matrices and arrays through pointers for the life of the cell."""
        if mode not in _GATES:
            raise ValueError(f"mode must be one of {sorted(_GATES)}; got {mode}")
        cdef Py_ssize_t G = w_hh.m.N + (0 if w_hn is None else w_hn.m.N)
        cdef Py_ssize_t H = G // _GATES[mode], P = w_hh.m.K
        if G % _GATES[mode] or w_ih.m.N != G or (w_hn is not None and (mode != FR_GRU_RB or w_hn.m.K != P)):
            raise ValueError(f"w_ih ({w_ih.m.N} rows), w_hh ({w_hh.m.N}) and w_hn do not make the gate rows of "
                             f"this mode")
        if (w_hr is None and P != H) or (w_hr is not None and (w_hr.m.N != P or w_hr.m.K != H)):
            raise ValueError(f"w_hh's {P} columns need w_hr ({P}, {H}) to project {H} hidden units")
        for bias, label in ((b_ih, "b_ih"), (b_hh, "b_hh")):
            if bias is not None:
                check_array(bias, label, cnp.NPY_FLOAT32, 1, G, -1, -1, False)
        peep = np.zeros((3, H), np.float32) if peep is None else np.ascontiguousarray(peep, np.float32)
        check_array(peep, "peep", cnp.NPY_FLOAT32, 2, 3, H, -1, False)
        b_hn = np.zeros(H, np.float32) if b_hh is None else np.ascontiguousarray(b_hh[2 * H:], np.float32)
        self._arrays = (w_ih, w_hh, w_hn, w_hr, b_ih, b_hh, peep, b_hn)
        self.lstm = mode == FR_LSTM
        self.c.mode = mode
        self.c.n_in, self.c.H, self.c.P, self.c.G = w_ih.m.K, H, w_hh.m.K, G
        self.c.w_ih, self.c.w_hh = w_ih.m.panels, w_hh.m.panels
        self.c.w_hr = NULL
        if w_hr is not None:
            self.c.w_hr = w_hr.m.panels
        self.c.b_ih = data_or_null(b_ih)
        self.c.b_hh = data_or_null(b_hh)
        self.c.peep = data(peep)
        self.c.b_hn = data(b_hn)
        self.pk.ih, self.pk.hh = &w_ih.m, &w_hh.m
        self.pk.hn = self.pk.hr = NULL
        if w_hn is not None:
            self.pk.hn = &w_hn.m
        if w_hr is not None:
            self.pk.hr = &w_hr.m


def quant_forward_direction(QuantCell cell not None, cnp.ndarray x not None, cnp.ndarray h not None, c,
                            cnp.ndarray batch_sizes not None, bint reverse, cnp.ndarray out not None,
                            Py_ssize_t col0):
    """forward_direction for a QuantCell (inference only; csrc/loop.inc fr_forward with fr_plan_quant):
    x [T, B, I] IN; h [B, P], c [B, H] (LSTM) INOUT; batch_sizes [T] intp; out [T, B, D*P] OUT, columns
    col0:col0+P of the active rows."""
    check_forward_args(&cell.c, cnp.NPY_FLOAT32, x, h, c, batch_sizes, out, col0)
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], ldo = out.shape[2]
    cdef fr_plan plan = fr_plan_quant(&cell.c, T, B, (<QuantMatrix>cell._arrays[1]).m.format)
    work = np.empty(fr_forward_workspace(&cell.c, &plan, B, 0), np.float32)
    cdef const float *xp = <const float *>data(x)
    cdef float *hp = <float *>data(h)
    cdef float *cp = <float *>data_or_null(c)
    cdef const Py_ssize_t *bsp = <const Py_ssize_t *>data(batch_sizes)
    cdef float *op = <float *>data(out) + col0
    cdef float *wp = <float *>data(work)
    with nogil:
        fr_forward_f32(&cell.c, &cell.pk, &plan, xp, T, B, hp, cp, bsp, reverse, op, ldo, NULL, NULL, wp)
