# cython: language_level=3
"""Bindings of the C time loops (csrc/fastrnn.h): allocate with NumPy, release the GIL, one C call.

Letters: T steps, B batch, I input size, H hidden size, P size of h (proj_size, or H), G gate rows (H, 4H, 3H).
Everything here is time-major, C-contiguous and already validated by fastrnn/layers.py and fastrnn/_validation.py;
these functions check only what C needs to stay in bounds (sizes vs BLAS int). Each entry point dispatches on the
dtype once. Which kernels run and on how many threads is csrc/plan.c's choice.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint64_t
from libc.limits cimport INT_MAX
from libc.string cimport memcpy
from cpython.object cimport PyObject
from cpython.dict cimport PyDict_GetItemWithError
from cpython.tuple cimport PyTuple_GET_ITEM

from fastrnn._cells cimport *

cnp.import_array()

RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RB = FR_RNN_TANH, FR_RNN_RELU, FR_LSTM, FR_GRU, FR_GRU_RB
_PRODUCTS = {"direct": FR_PRODUCT_DIRECT, "packed": FR_PRODUCT_PACKED, "blas": FR_PRODUCT_BLAS}
_GATES = {FR_RNN_TANH: 1, FR_RNN_RELU: 1, FR_LSTM: 4, FR_GRU: 3, FR_GRU_RB: 3}


cdef enum:   # layouts of a cell's packed panels
    PANELS_PLAIN = 0      # forward, plain panels and a separate point-wise pass
    PANELS_BACKWARD = 1   # backward, the transposed matrices
    # forward, fused step (gate-interleaved W_hh): PANELS_FUSED + FR_FUSED_NARROW or FR_FUSED_WIDE
    PANELS_FUSED = 2


cdef inline void *data(a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline void *data_or_null(a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


include "_checks.pxi"


cdef class Cell:
    """The weights of one layer and one direction for the C loops, and their packed copies.

    Holds the layer's parameter arrays themselves (no copies), so in-place updates reach the loops that read
    torch's layout directly. is_current(params) tells whether each is still the array under its name, unmoved,
    unreshaped, C-contiguous and of its dtype (the layer rebuilds its cells when not). Packed copies are built on
    first use and rebuilt whenever the fingerprint of the matrices they came from has changed, so they are never
    stale. names: the parameter names of (w_ih, w_hh, b_ih, b_hh, w_hr, peep), None where the cell has none; the
    arrays must have been validated (shapes of csrc/fastrnn.h's fr_cell, one dtype).
    """
    cdef fr_cell c
    cdef readonly bint is_double
    cdef readonly object dtype
    cdef tuple _names
    cdef tuple _arrays
    cdef void *_data[6]          # each array's data pointer when the cell was built
    cdef Py_ssize_t _dims[6][2]  # and its shape (1-D: second dimension 0)
    cdef int _typenum
    cdef object _b_hn, _peep     # arrays the cell made (zeros, or a view of b_hh)
    cdef dict _panels            # layout -> (fingerprint of the source, packed arrays (hh, hn, hr))

    def __cinit__(self, int mode, dict params not None, tuple names not None):
        if len(names) != 6 or names[1] is None or not isinstance(params.get(names[1]), np.ndarray):
            raise ValueError("names must name six parameters, w_hh among them an array of params")
        cdef cnp.ndarray w_hh = params[names[1]]
        cdef cnp.ndarray a
        cdef Py_ssize_t k
        arrays = tuple(None if name is None else params[name] for name in names)
        w_ih, _, b_ih, b_hh, w_hr, peep = arrays
        if mode not in _GATES:
            raise ValueError(f"mode must be one of {sorted(_GATES)}; got {mode}")
        typenum = cnp.PyArray_TYPE(w_hh)
        if typenum not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
            raise ValueError(f"w_hh must be float32 or float64; got {w_hh.dtype}")
        G = w_hh.shape[0] if w_hh.ndim == 2 else -1
        if G <= 0 or G % _GATES[mode]:
            raise ValueError(f"w_hh must be (gates x H, P) for this mode; got shape {(<object>w_hh).shape}")
        H = G // _GATES[mode]
        P = w_hh.shape[1]
        check_array(w_ih, "w_ih", typenum, 2, G, -1, -1, False)
        check_array(w_hh, "w_hh", typenum, 2, G, P, -1, False)
        for bias, label in ((b_ih, "b_ih"), (b_hh, "b_hh")):
            if bias is not None:
                check_array(bias, label, typenum, 1, G, -1, -1, False)
        if w_hr is not None:
            check_array(w_hr, "w_hr", typenum, 2, P, H, -1, False)
        elif P != H:
            raise ValueError(f"w_hh has {P} columns for {H} hidden units, and no w_hr projects them")
        if peep is not None:
            check_array(peep, "peep", typenum, 2, 3, H, -1, False)
        self.dtype = w_hh.dtype
        self.is_double = self.dtype == np.float64
        self._typenum = typenum
        self._names, self._arrays = names, arrays
        self._panels = {}
        for k in range(6):
            self._data[k] = NULL
            self._dims[k][0] = self._dims[k][1] = 0
            if arrays[k] is not None:
                a = <cnp.ndarray>arrays[k]
                self._data[k] = cnp.PyArray_DATA(a)
                self._dims[k][0] = a.shape[0]
                self._dims[k][1] = a.shape[1] if a.ndim == 2 else 0
        self._peep = np.zeros((3, H), self.dtype) if peep is None else peep
        self._b_hn = np.zeros(H, self.dtype) if b_hh is None else b_hh[2 * H:]
        self.c.mode = mode
        self.c.n_in, self.c.H, self.c.P, self.c.G = w_ih.shape[1], H, w_hh.shape[1], G
        self.c.w_ih = data(w_ih)
        self.c.w_hh = data(w_hh)
        self.c.b_ih = data_or_null(b_ih)
        self.c.b_hh = data_or_null(b_hh)
        self.c.w_hr = data_or_null(w_hr)
        self.c.peep = data(self._peep)
        self.c.b_hn = data(self._b_hn)

    def is_current(self, dict params):
        """True when every array of the cell is still params[name], with the same data, shape, dtype (byte order
        included: a dtype set in place) and layout (a few pointer and integer comparisons per array)."""
        return self.current(params)

    cdef bint current(self, dict params) except -1:
        """is_current, for callers in this module (no Python call; one dictionary lookup per array)."""
        cdef cnp.ndarray a
        cdef Py_ssize_t k
        cdef int nd
        cdef PyObject *obj
        for k in range(6):
            name = <object>PyTuple_GET_ITEM(self._names, k)
            if name is None:
                continue
            obj = PyDict_GetItemWithError(params, name)   # borrowed, NULL when missing
            if obj != PyTuple_GET_ITEM(self._arrays, k):
                return False
            a = <cnp.ndarray>obj
            nd = 2 if self._dims[k][1] else 1
            if (cnp.PyArray_DATA(a) != self._data[k] or cnp.PyArray_NDIM(a) != nd
                    or cnp.PyArray_DIMS(a)[0] != self._dims[k][0]
                    or (nd == 2 and cnp.PyArray_DIMS(a)[1] != self._dims[k][1])
                    or cnp.PyArray_TYPE(a) != self._typenum or not cnp.PyArray_ISNOTSWAPPED(a)
                    or not cnp.PyArray_IS_C_CONTIGUOUS(a)):
                return False
        return True

    cdef uint64_t _fingerprint(self):
        """Of the recurrent matrices the packed copies hold (W_hh, and W_hr when projecting)."""
        cdef size_t elem = 8 if self.is_double else 4
        cdef uint64_t f
        with nogil:
            f = fr_fingerprint(self.c.w_hh, self.c.G * self.c.P * elem)
            if self.c.w_hr != NULL:
                f = f * 0x9E3779B97F4A7C15ULL ^ fr_fingerprint(self.c.w_hr, self.c.P * self.c.H * elem)
        return f

    cdef object packed(self, int layout, fr_packed *out):
        """Fills out with the panels of `layout` (PANELS_FUSED + width, PANELS_PLAIN: forward; PANELS_BACKWARD), current;
        returns what owns them (the caller keeps it until its C call returns, so a concurrent repack cannot free
        them)."""
        cdef uint64_t f = self._fingerprint()
        entry = self._panels.get(layout)
        if entry is None or entry[0] != f:
            entry = self._panels[layout] = (f, self._pack(layout))
        arrays = entry[1]
        out.hh = data_or_null(arrays[0])
        out.hn = data_or_null(arrays[1])
        out.hr = data_or_null(arrays[2])
        return arrays

    cdef tuple _pack(self, int layout):
        cdef fr_cell *c = &self.c
        cdef Py_ssize_t H = c.H
        cdef bint transposed = layout == PANELS_BACKWARD
        w_hh, w_hr = self._arrays[1], self._arrays[4]
        hr = None if w_hr is None else plain_panels(w_hr, 0, c.P, transposed)
        if c.mode == FR_GRU_RB:
            return plain_panels(w_hh, 0, 2 * H, transposed), plain_panels(w_hh, 2 * H, H, transposed), hr
        if layout > PANELS_FUSED:
            return fused_panels(c.mode, w_hh, H, layout - PANELS_FUSED), None, hr
        return plain_panels(w_hh, 0, c.G, transposed), None, hr


cdef object aligned_empty(Py_ssize_t n, dtype):
    """A new 1-D array of n elements whose data starts on a 64-byte boundary (a cache line, and one AVX-512 vector).

    NumPy's large arrays start 16 bytes past a page (malloc's header), so a packed panel's 32- and 64-byte vector
    loads each crossed a cache line: on an Intel Xeon the 64-byte fused step at batch 1 ran 20% slower so."""
    itemsize = np.dtype(dtype).itemsize
    pad = 64 // itemsize
    buf = np.empty(n + pad, dtype)
    cdef Py_ssize_t offset = (-(<Py_ssize_t>cnp.PyArray_DATA(buf)) % 64) // itemsize
    return buf[offset:offset + n]


cdef object fused_panels(int mode, cnp.ndarray W, Py_ssize_t H, int width):
    """W_hh [ng H, K] in the fused step's panels of width FR_FUSED_* (csrc/fused_step.inc); a new 1-D array."""
    cdef Py_ssize_t K = W.shape[1]
    cdef bint f64 = W.dtype == np.float64
    out = aligned_empty(fr_fused_size_f64(mode, H, K, width) if f64 else fr_fused_size_f32(mode, H, K, width), W.dtype)
    cdef void *src = data(W)
    cdef void *dst = data(out)
    with nogil:
        if f64:
            fr_pack_fused_f64(mode, <const double *>src, H, K, width, <double *>dst)
        else:
            fr_pack_fused_f32(mode, <const float *>src, H, K, width, <float *>dst)
    return out


cdef object plain_panels(cnp.ndarray W, Py_ssize_t row0, Py_ssize_t rows, bint transposed):
    """Rows [row0, row0 + rows) of the 2-D W (or their transpose) in plain panels (csrc/packed_gemm.inc): the
    kernel then computes A W_rows^T (or, transposed, A W_rows); a new 1-D array."""
    cdef Py_ssize_t K = W.shape[1]
    cdef Py_ssize_t n = K if transposed else rows, k = rows if transposed else K
    cdef Py_ssize_t stride_n = 1 if transposed else K, stride_k = K if transposed else 1
    cdef bint f64 = W.dtype == np.float64
    out = aligned_empty(fr_packed_size_f64(n, k) if f64 else fr_packed_size_f32(n, k), W.dtype)
    cdef void *src = data(W)
    cdef void *dst = data(out)
    with nogil:
        if f64:
            fr_pack_weights_f64(<const double *>src + row0 * K, n, k, stride_n, stride_k, <double *>dst)
        else:
            fr_pack_weights_f32(<const float *>src + row0 * K, n, k, stride_n, stride_k, <float *>dst)
    return out


cdef int force_product(fr_plan *plan, product) except -1:
    """Tests pin the per-step product: product None (the plan's choice), "direct", "packed" (plain panels), "fused"
    (the architecture's vector width), "fused_wide" (64-byte vectors where AVX-512 runs at full width, else the
    same as "fused") or "blas"."""
    if product is not None:
        plan.product = _PRODUCTS["packed" if product.startswith("fused") else product]
        plan.fused = (0 if not product.startswith("fused") else
                      FR_FUSED_WIDE if product == "fused_wide" and fr_step_wide() else FR_FUSED_NARROW)
    return 0


def plan(Cell cell not None, Py_ssize_t T, Py_ssize_t B, str kind="forward"):
    """What csrc/plan.c chooses for a call of T steps and B rows ("forward", "training", "backward" or "step"):
    {"product": "direct" | "fused" | "packed" | "blas", "threads": per step, "row_parts": slices of the batch that
    run the steps on their own threads, "chunk": steps projected at once, "wide": the fused step at 64-byte
    vectors}."""
    cdef int elem = 8 if cell.is_double else 4
    cdef fr_plan p
    if kind == "backward":
        p = fr_plan_backward(&cell.c, T, B, elem)
    elif kind == "step":
        p = fr_plan_step(&cell.c, B, elem)
    else:
        p = fr_plan_forward(&cell.c, T, B, kind == "training", elem)
    names = {value: name for name, value in _PRODUCTS.items()}
    return {"product": "fused" if p.fused else names[p.product], "threads": p.threads, "row_parts": p.row_parts,
            "chunk": p.chunk, "wide": p.fused == FR_FUSED_WIDE}


include "_forward.pxi"
include "_backward.pxi"


include "_step.pxi"


def packed_gemm_nt(cnp.ndarray A not None, cnp.ndarray W not None, cnp.ndarray C not None, bint accumulate):
    """C (+)= A W^T through fr_pack_weights + fr_packed_gemm_nt: the packed kernel on its own, for tests.

    A [M, K], W [N, K], C [M, N]: C-contiguous, one dtype (float32 or float64).
    """
    cdef Py_ssize_t M = A.shape[0], K = A.shape[1], N = W.shape[0]
    dtype = C.dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"C must be float32 or float64; got {dtype}")
    require(A, "A", dtype, (M, K))
    require(W, "W", dtype, (N, K))
    require(C, "C", dtype, (M, N))
    packed = plain_panels(W, 0, N, False)
    if dtype == np.float64:
        fr_packed_gemm_nt_f64(M, N, K, <const double *>data(A), K, <const double *>data(packed), accumulate,
                              <double *>data(C), N, 1)
    else:
        fr_packed_gemm_nt_f32(M, N, K, <const float *>data(A), K, <const float *>data(packed), accumulate,
                              <float *>data(C), N, 1)


def fingerprint(cnp.ndarray a not None):
    """The 64-bit fingerprint (csrc/fingerprint.c) of the bytes of the C-contiguous array a: a change of any
    value changes it (not a cryptographic hash)."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError("fingerprint needs a C-contiguous array")
    cdef const void *p = cnp.PyArray_DATA(a)
    cdef Py_ssize_t n = cnp.PyArray_NBYTES(a)
    cdef uint64_t f
    with nogil:
        f = fr_fingerprint(p, n)
    return f


def all_finite(cnp.ndarray a not None):
    """True when every value of the C-contiguous float32/float64 array a is finite."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef void *p = cnp.PyArray_DATA(a)
    cdef int ok
    with nogil:
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
            ok = fr_all_finite_f64(<const double *>p, n)
        else:
            ok = fr_all_finite_f32(<const float *>p, n)
    return ok == 1


def blas_config():
    """The configuration string of the OpenBLAS the kernels call."""
    return scipy_openblas_get_config().decode()


def init_threads():
    """OpenBLAS runs single-threaded inside fastrnn's own pool (csrc/pool.c), which owns the threads."""
    scipy_openblas_set_num_threads(1)


def set_num_threads(int n):
    """Cap the threads of fastrnn's pool (BLAS parts and packed products are split across them)."""
    fr_set_max_threads(n)


def get_num_threads():
    return fr_max_threads()


def set_low_latency(bint on):
    """Idle workers spin between calls (on) or sleep after a short spin (off, the default): csrc/pool.c."""
    fr_set_low_latency(on)


def low_latency():
    return bool(fr_low_latency())


def pool_asleep():
    """Whether waking the pool's workers would cost a system call (none started, or some asleep)."""
    return bool(fr_pool_asleep())


def pool_nudge():
    """Sleeping workers spin again for a while without a task (a call expected soon finds them awake)."""
    fr_pool_nudge()


def pool_tasks():
    """Tasks handed to the pool so far (an unsigned counter that wraps)."""
    return fr_pool_tasks()


def pool_wakeups():
    """Times a worker left its sleep, for a task or a nudge (an unsigned counter that wraps)."""
    return fr_pool_wakeups()


def _small_gemm_nt(A, W, C, bint accumulate, int nthreads):
    """C (+)= A W^T by fr_small_gemm_nt (csrc/small_gemm.inc), W read in torch's layout; for tests and bench.

    A [M, K] IN, W [N, K] IN, C [M, N] OUT (INOUT when accumulate): 2-D, C-contiguous, one dtype (float32 or
    float64). nthreads >= 1: up to that many threads; nthreads <= 0: as many as the plan (csrc/plan.c) gives.
    """
    cdef Py_ssize_t M, N, K
    cdef void *a
    cdef void *w
    cdef void *c
    cdef bint f64
    if not isinstance(C, np.ndarray) or C.ndim != 2 or C.dtype not in (np.float32, np.float64):
        raise ValueError(f"C must be a 2-D float32 or float64 array; got {getattr(C, 'dtype', type(C).__name__)} "
                         f"{getattr(C, 'shape', '')}")
    if not isinstance(A, np.ndarray) or A.ndim != 2:
        raise ValueError(f"A must be a 2-D array; got {type(A).__name__} {getattr(A, 'shape', '')}")
    M, N, K = C.shape[0], C.shape[1], A.shape[1]
    require(A, "A", C.dtype, (M, K))
    require(W, "W", C.dtype, (N, K))
    require(C, "C", C.dtype, (M, N))
    if not C.flags.writeable:
        raise ValueError("C must be writeable")
    a, w, c = cnp.PyArray_DATA(A), cnp.PyArray_DATA(W), cnp.PyArray_DATA(C)
    f64 = C.dtype == np.float64
    if nthreads < 0:
        nthreads = 0
    with nogil:
        if f64:
            fr_small_gemm_nt_f64(M, N, K, <const double *>a, K, <const double *>w, K, accumulate, <double *>c, N,
                                 nthreads)
        else:
            fr_small_gemm_nt_f32(M, N, K, <const float *>a, K, <const float *>w, K, accumulate, <float *>c, N,
                                 nthreads)


# ------------------------------------------------ large products and ISA choice (csrc/gemm.h)
include "_gemm.pxi"

# ------------------------------------------------ reduced-precision weights (csrc/quant.h)
include "_quant.pxi"

# ------------------------------------------------ small row-wise ops of fastrnn.InferenceSession
include "_rows.pxi"
