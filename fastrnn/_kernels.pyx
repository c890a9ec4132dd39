# cython: language_level=3
"""Time loops of one recurrent layer and one direction, float32 and float64 from one source (fused types).

Letters: T steps, B batch, I input size, H hidden size, P size of h (proj_size, or H), G gate rows (H, 4H, 3H).
Everything here is time-major and C-contiguous, and already validated by fastrnn/layers.py and
fastrnn/_validation.py: these functions check only what C needs to stay in bounds (sizes vs BLAS int).
Each entry point is: allocate with NumPy -> `with nogil:` (only C calls) -> return arrays.

Per layer and direction: ONE GEMM projects the inputs of all steps (T*B, I) x (I, G) and adds the folded biases;
per step one recurrent product (two for the reset-before GRU, one more for an LSTM projection) and one fused
point-wise C pass (csrc/). With `lengths`, the batch is sorted by length (descending) by the caller, so the rows
active at step t are a prefix of size batch_sizes[t]; rows past it keep their state untouched.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from libc.string cimport memcpy
from libc.limits cimport INT_MAX

from fastrnn._cells cimport *

cnp.import_array()

RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RB = 0, 1, 2, 3, 4
cdef enum:
    SMALL_GEMM_MAX_ROWS = 8   # products of at most this many rows skip BLAS (streaming steps, short inputs)
cdef enum:
    M_RNN_TANH = 0
    M_RNN_RELU = 1
    M_LSTM = 2
    M_GRU = 3
    M_GRU_RB = 4


ctypedef struct CellPtrs:
    int mode
    Py_ssize_t n_in, H, P, G   # input size I (named n_in: complex.h defines I), H, P, G
    const void *w_ih    # [G, I]
    const void *w_hh    # [G, P]
    const void *b_ih    # [G] or NULL (no bias)
    const void *b_hh    # [G] or NULL (no bias)
    const void *w_hr    # [P, H] LSTM projection, or NULL
    const void *peep    # [3, H] LSTM peepholes rows [i, f, o]; zeros for a plain LSTM
    const void *b_hn    # [H] GRU's recurrent n bias (inside r * (.)): b_hh[2H:], or zeros without bias


cdef inline void *data(a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline void *data_or_null(a):
    return NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)


cdef class Cell:
    """The weights of one layer and one direction, as raw pointers for the time loops.

    Points straight into the layer's parameter arrays (so in-place updates, e.g. by an optimizer, are seen) and
    holds references to them, so they live as long as it does. The arrays must be C-contiguous, of one dtype
    (float32 or float64) and of the shapes their names in DESIGN.md give; biases are both given or both None.
    """
    cdef CellPtrs p
    cdef readonly bint is_double
    cdef readonly object dtype
    cdef object _arrays

    def __cinit__(self, int mode, cnp.ndarray w_ih, cnp.ndarray w_hh, b_ih, b_hh, w_hr, peep):
        cdef Py_ssize_t G = w_hh.shape[0]
        cdef Py_ssize_t H = G // {M_RNN_TANH: 1, M_RNN_RELU: 1, M_LSTM: 4, M_GRU: 3, M_GRU_RB: 3}[mode]
        self.dtype = w_hh.dtype
        self.is_double = self.dtype == np.float64
        zeros = np.zeros(3 * H, self.dtype)
        peep = zeros if peep is None else peep
        b_hn = zeros if b_hh is None else b_hh[2 * H:]
        self._arrays = (w_ih, w_hh, b_ih, b_hh, w_hr, peep, b_hn)
        self.p.mode = mode
        self.p.n_in = w_ih.shape[1]
        self.p.H = H
        self.p.P = w_hh.shape[1]
        self.p.G = G
        self.p.w_ih = cnp.PyArray_DATA(w_ih)
        self.p.w_hh = cnp.PyArray_DATA(w_hh)
        self.p.b_ih = data_or_null(b_ih)
        self.p.b_hh = data_or_null(b_hh)
        self.p.w_hr = data_or_null(w_hr)
        self.p.peep = cnp.PyArray_DATA(peep)
        self.p.b_hn = cnp.PyArray_DATA(b_hn)


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating *A,
                      Py_ssize_t lda, const floating *Bm, Py_ssize_t ldb, floating beta, floating *C,
                      Py_ssize_t ldc) noexcept nogil:
    """Row-major C[M, N] (row stride ldc) = op(A) op(Bm) + beta C, op = transpose when trans_* is set; split
    across fastrnn's threads when large enough (csrc/parallel_gemm.inc)."""
    if floating is float:
        fr_gemm_f32(trans_a, trans_b, M, N, K, A, lda, Bm, ldb, beta, C, ldc)
    else:
        fr_gemm_f64(trans_a, trans_b, M, N, K, A, lda, Bm, ldb, beta, C, ldc)


cdef inline void gemm_nt(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating *A, Py_ssize_t lda,
                         const floating *W, Py_ssize_t ldw, floating beta, floating *C,
                         Py_ssize_t ldc) noexcept nogil:
    """C[M, N] (row stride ldc) = A[M, K] W[N, K]^T + beta C (beta 0 or 1): the row-major product with
    torch-layout weights; up to SMALL_GEMM_MAX_ROWS rows by the dot-product kernel (csrc/small_gemm.inc),
    beyond by BLAS."""
    if M <= 0:
        return
    if M > SMALL_GEMM_MAX_ROWS:
        gemm(False, True, M, N, K, A, lda, W, ldw, beta, C, ldc)
    elif floating is float:
        fr_small_gemm_nt_auto_f32(M, N, K, A, lda, W, ldw, beta != 0, C, ldc)
    else:
        fr_small_gemm_nt_auto_f64(M, N, K, A, lda, W, ldw, beta != 0, C, ldc)


cdef void input_projection(const CellPtrs *p, const floating *x, Py_ssize_t rows,
                           floating *gates) noexcept nogil:
    """gates[rows, G] = x[rows, I] W_ih^T + b_ih + b_hh: the input part of every step in one GEMM.

    Every bias that adds linearly is folded in here; GRU's b_hn (inside r * (W_hn h + b_hn)) is not.
    """
    cdef Py_ssize_t j, k, G = p.G
    cdef Py_ssize_t folded = 2 * p.H if p.mode == M_GRU else G
    cdef const floating *b_ih = <const floating *>p.b_ih
    cdef const floating *b_hh = <const floating *>p.b_hh
    if rows == 0:
        return
    for j in range(G):
        gates[j] = 0 if b_ih == NULL else (b_ih[j] + b_hh[j] if j < folded else b_ih[j])
    for k in range(1, rows):
        memcpy(gates + k * G, gates, G * sizeof(floating))
    if p.n_in > 0:
        gemm_nt(rows, G, p.n_in, x, p.n_in, <const floating *>p.w_ih, p.n_in, 1, gates, G)


ctypedef struct Packed:
    # W_hh (and W_hr) packed once per call for fr_packed_gemm_nt (csrc/packed_gemm.inc), or NULL for BLAS.
    const void *hh      # all of W_hh; for the reset-before GRU its rows [0, 2H)
    const void *hn      # reset-before GRU: rows [2H, 3H) of W_hh
    const void *hr      # LSTM projection W_hr


cdef inline void recurrent_product(const void *packed, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                                   const floating *A, Py_ssize_t lda, const floating *W, floating beta,
                                   floating *C, Py_ssize_t ldc) noexcept nogil:
    """C[M, N] (row stride ldc) = A[M, K] W[N, K]^T + beta C (beta 0 or 1), from the packed copy if any."""
    if M == 0:
        return
    if packed == NULL:
        gemm_nt(M, N, K, A, lda, W, K, beta, C, ldc)
    else:
        packed_product(packed, M, N, K, A, lda, beta, C, ldc)


cdef inline void packed_product(const void *packed, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating *A,
                                Py_ssize_t lda, floating beta, floating *C, Py_ssize_t ldc) noexcept nogil:
    """C[M, N] = A[M, K] Wp + beta C for a matrix packed by pack_matrix (beta 0 or 1)."""
    if M == 0:
        return
    if floating is float:
        fr_packed_gemm_nt_parallel_f32(M, N, K, A, lda, <const float *>packed, beta != 0, C, ldc)
    else:
        fr_packed_gemm_nt_parallel_f64(M, N, K, A, lda, <const double *>packed, beta != 0, C, ldc)


cdef void cell_step(const CellPtrs *p, const Packed *pk, floating *gates, Py_ssize_t bs, floating *h,
                    floating *c, floating *hn, floating *hh, floating *r) noexcept nogil:
    """One step of the bs active rows.

    pk: packed recurrent weights, or NULL (BLAS on the torch-layout arrays).
    gates [bs, G] INOUT: input projection + b_x in, gate activations out (what backward needs).
    h [bs, P] INOUT: h -> h'.  c [bs, H] INOUT (LSTM): c -> c'.  hn [bs, H] OUT (GRU): W_hn h + b_hn.
    hh [bs, G], r [bs, H]: scratch.
    """
    cdef Py_ssize_t H = p.H, P = p.P, G = p.G
    cdef const floating *w_hh = <const floating *>p.w_hh
    cdef floating *rout
    cdef const void *p_hh = NULL
    cdef const void *p_hn = NULL
    cdef const void *p_hr = NULL
    if pk != NULL:
        p_hh, p_hn, p_hr = pk.hh, pk.hn, pk.hr
    if p.mode == M_LSTM:
        recurrent_product(p_hh, bs, G, P, h, P, w_hh, 1, gates, G)
        rout = r if p.w_hr != NULL else h
        if floating is float:
            fr_lstm_pointwise_forward_f32(gates, c, <const float *>p.peep, rout, bs, H)
        else:
            fr_lstm_pointwise_forward_f64(gates, c, <const double *>p.peep, rout, bs, H)
        if p.w_hr != NULL:
            recurrent_product(p_hr, bs, P, H, r, H, <const floating *>p.w_hr, 0, h, P)
    elif p.mode == M_GRU:
        recurrent_product(p_hh, bs, G, H, h, H, w_hh, 0, hh, G)
        if floating is float:
            fr_gru_pointwise_forward_f32(gates, hh, <const float *>p.b_hn, hn, h, bs, H)
        else:
            fr_gru_pointwise_forward_f64(gates, hh, <const double *>p.b_hn, hn, h, bs, H)
    elif p.mode == M_GRU_RB:
        recurrent_product(p_hh, bs, 2 * H, H, h, H, w_hh, 1, gates, G)
        if floating is float:
            fr_gru_rb_pointwise_reset_f32(gates, h, r, bs, H)
        else:
            fr_gru_rb_pointwise_reset_f64(gates, h, r, bs, H)
        recurrent_product(p_hn, bs, H, H, r, H, w_hh + 2 * H * H, 1, gates + 2 * H, G)
        if floating is float:
            fr_gru_rb_pointwise_forward_f32(gates, h, bs, H)
        else:
            fr_gru_rb_pointwise_forward_f64(gates, h, bs, H)
    else:
        recurrent_product(p_hh, bs, G, H, h, H, w_hh, 1, gates, G)
        if floating is float:
            fr_rnn_pointwise_forward_f32(gates, h, bs, H, p.mode == M_RNN_RELU)
        else:
            fr_rnn_pointwise_forward_f64(gates, h, bs, H, p.mode == M_RNN_RELU)


cdef object pack_matrix(cnp.ndarray W, Py_ssize_t row0, Py_ssize_t rows, bint transposed=False):
    """Rows [row0, row0 + rows) of the C-contiguous 2-D W (or their transpose), packed for fr_packed_gemm_nt.

    Returns a new 1-D array. With transposed, the kernel computes A W_rows (backward's products) instead of
    A W_rows^T.
    """
    cdef Py_ssize_t K = W.shape[1]
    cdef Py_ssize_t n = K if transposed else rows, k = rows if transposed else K
    cdef Py_ssize_t stride_n = 1 if transposed else K, stride_k = K if transposed else 1
    if W.dtype == np.float64:
        out = np.empty(fr_packed_size_f64(n, k), np.float64)
        fr_pack_weights_f64(<const double *>data(W) + row0 * K, n, k, stride_n, stride_k, <double *>data(out))
    else:
        out = np.empty(fr_packed_size_f32(n, k), np.float32)
        fr_pack_weights_f32(<const float *>data(W) + row0 * K, n, k, stride_n, stride_k, <float *>data(out))
    return out


cdef class PackedCell:
    """A Cell's recurrent weights packed for the per-step products of one call (see Packed).

    transposed=False serves forward's A W^T products, transposed=True backward's dG W products.
    """
    cdef Packed pk
    cdef object _arrays

    def __cinit__(self, Cell cell, bint transposed=False):
        w_hh, w_hr = cell._arrays[1], cell._arrays[4]
        H = cell.p.H
        if cell.p.mode == M_GRU_RB:
            hh, hn = pack_matrix(w_hh, 0, 2 * H, transposed), pack_matrix(w_hh, 2 * H, H, transposed)
        else:
            hh, hn = pack_matrix(w_hh, 0, w_hh.shape[0], transposed), None
        hr = None if w_hr is None else pack_matrix(w_hr, 0, w_hr.shape[0], transposed)
        self._arrays = (hh, hn, hr)
        self.pk.hh = data(hh)
        self.pk.hn = data_or_null(hn)
        self.pk.hr = data_or_null(hr)


cdef inline void copy_rows(floating *dst, Py_ssize_t ldd, const floating *src, Py_ssize_t lds, Py_ssize_t rows,
                           Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(rows):
        memcpy(dst + k * ldd, src + k * lds, n * sizeof(floating))


ctypedef struct Tape:
    # What backward needs of one layer and direction, beyond the gate activations; pointers may be NULL when
    # the mode does not use them. All [T, B, .], row t filled for the rows active at step t.
    void *h_prev    # [T, B, P] h before each step
    void *c_prev    # [T, B, H] LSTM: c before each step
    void *hn        # [T, B, H] GRU (linear before reset): W_hn h + b_hn
    void *r         # [T, B, H] LSTM with projection: o * tanh(c'), the input of W_hr


cdef void run_direction(const CellPtrs *p, const Packed *pk, const floating *x, Py_ssize_t T, Py_ssize_t B, floating *h,
                        floating *c, const Py_ssize_t *batch_sizes, bint reverse, floating *out, Py_ssize_t ldo,
                        floating *gates, const Tape *tape, floating *hn, floating *hh,
                        floating *r) noexcept nogil:
    """The whole time loop of one layer and one direction.

    x [T, B, I] IN; h [B, P], c [B, H] INOUT: initial state in, final state out (each row's own last step);
    batch_sizes [T] IN: active prefix per step; out [T, B, ldo] OUT: h' of active rows (the caller points it at
    this direction's columns and zeroes inactive rows); gates [T, B, G] OUT: activations of every step;
    tape: NULL, or where to keep what backward needs. hn [B, H], hh [B, G], r [B, H]: scratch.
    """
    cdef Py_ssize_t s, t, bs, H = p.H, P = p.P, G = p.G
    cdef floating *hn_t
    cdef floating *r_t
    input_projection(p, x, T * B, gates)
    for s in range(T):
        t = T - 1 - s if reverse else s
        bs = batch_sizes[t]
        if bs == 0:
            continue
        hn_t, r_t = hn, r
        if tape != NULL:
            memcpy(<floating *>tape.h_prev + t * B * P, h, bs * P * sizeof(floating))
            if tape.c_prev != NULL:
                memcpy(<floating *>tape.c_prev + t * B * H, c, bs * H * sizeof(floating))
            if tape.hn != NULL:
                hn_t = <floating *>tape.hn + t * B * H
            if tape.r != NULL:
                r_t = <floating *>tape.r + t * B * H
        cell_step(p, pk, gates + t * B * G, bs, h, c, hn_t, hh, r_t)
        copy_rows(out + t * B * ldo, ldo, h, P, bs, P)


cdef int require(a, str name, dtype, tuple shape) except -1:
    """The boundary check between Python and C: a C-contiguous array of this dtype and shape."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {dtype} array of shape {shape}; got "
                         f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    return 0


cdef int check_blas_sizes(Py_ssize_t rows, Py_ssize_t I, Py_ssize_t G, Py_ssize_t ldo) except -1:
    if rows > INT_MAX or I > INT_MAX or G > INT_MAX or ldo > INT_MAX:
        raise ValueError(f"problem too large for 32-bit BLAS: T*B={rows}, input size {I}, gate rows {G}")
    return 0


def forward_direction(Cell cell, cnp.ndarray x, cnp.ndarray h, c, cnp.ndarray batch_sizes, bint reverse,
                      cnp.ndarray out, Py_ssize_t col0, dict tape=None, PackedCell packed=None):
    """Run one layer in one direction over the whole sequence.

    x [T, B, I] IN; h [B, P] INOUT; c [B, H] INOUT or None (not LSTM); batch_sizes [T] intp IN;
    out [T, B, D*P] OUT: columns col0:col0+P written for active rows (others untouched);
    tape: None, or a dict that receives what backward_direction needs: "gates" [T, B, G] (activations),
    "h_prev" [T, B, P], and per mode "c_prev", "hn", "r" [T, B, H]. Results land in h, c, out (and tape).
    packed: the cell's recurrent weights packed (PackedCell(cell)), or None to use BLAS per step.
    """
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1]
    cdef Py_ssize_t I = cell.p.n_in, H = cell.p.H, P = cell.p.P, G = cell.p.G
    cdef Py_ssize_t ldo = out.shape[2]
    cdef Tape tp
    dtype = cell.dtype
    require(x, "x", dtype, (T, B, I))
    require(h, "h", dtype, (B, P))
    if cell.p.mode == M_LSTM:
        require(c, "c", dtype, (B, H))
    require(batch_sizes, "batch_sizes", np.dtype(np.intp), (T,))
    require(out, "out", dtype, (T, B, ldo))
    if not 0 <= col0 <= ldo - P:
        raise ValueError(f"col0 = {col0} leaves no room for {P} columns in out of width {ldo}")
    if T and not (0 <= batch_sizes.min() and batch_sizes.max() <= B):
        raise ValueError(f"batch_sizes must lie in [0, B = {B}]")
    check_blas_sizes(T * B, I, G, ldo)
    gates = np.empty((T, B, G), dtype)
    scratch = [np.empty((B, H), dtype), np.empty((B, G), dtype), np.empty((B, H), dtype)]   # hn, hh, r
    if tape is not None:
        tape["gates"] = gates
        # zeros: rows inactive at a step (past their length) must stay finite for backward's products
        tape["h_prev"] = np.zeros((T, B, P), dtype)
        if cell.p.mode == M_LSTM:
            tape["c_prev"] = np.zeros((T, B, H), dtype)
        if cell.p.mode == M_GRU:
            tape["hn"] = np.zeros((T, B, H), dtype)
        if cell.p.w_hr != NULL:
            tape["r"] = np.zeros((T, B, H), dtype)
        tp.h_prev = data(tape["h_prev"])
        tp.c_prev = data_or_null(tape.get("c_prev"))
        tp.hn = data_or_null(tape.get("hn"))
        tp.r = data_or_null(tape.get("r"))
    if cell.is_double:
        _forward_direction(<double *>data(gates), &cell.p, NULL if packed is None else &packed.pk, x, h, c,
                           batch_sizes, reverse, out, col0, &tp if tape is not None else NULL, scratch)
    else:
        _forward_direction(<float *>data(gates), &cell.p, NULL if packed is None else &packed.pk, x, h, c,
                           batch_sizes, reverse, out, col0, &tp if tape is not None else NULL, scratch)


cdef void _forward_direction(floating *gp, const CellPtrs *p, const Packed *pk, x, h, c, batch_sizes,
                             bint reverse, out, Py_ssize_t col0, const Tape *tape, list scratch):
    """forward_direction's typed half: gp is the gates buffer's data, typed to select float or double."""
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], ldo = out.shape[2]
    cdef const floating *xp = <const floating *>data(x)
    cdef floating *hp = <floating *>data(h)
    cdef floating *cp = <floating *>data_or_null(c)
    cdef const Py_ssize_t *bsp = <const Py_ssize_t *>data(batch_sizes)
    cdef floating *op = <floating *>data(out) + col0
    cdef floating *hnp = <floating *>data(scratch[0])
    cdef floating *hhp = <floating *>data(scratch[1])
    cdef floating *rp = <floating *>data(scratch[2])
    with nogil:
        run_direction(p, pk, xp, T, B, hp, cp, bsp, reverse, op, ldo, gp, tape, hnp, hhp, rp)


cdef class StepRunner:
    """Streaming: one time step through every layer of a unidirectional stack, with cached workspaces.

    One runner serves one batch size and one thread (the layer keeps one per thread and batch size), so
    concurrent calls never share a workspace.
    """
    cdef list cells
    cdef Py_ssize_t B, L, n_in, H, P
    cdef bint lstm
    cdef int typenum
    cdef object gates, hh, r, hn     # [B, max G], [B, max G], [B, max H], [B, max H]
    cdef readonly object dtype

    def __init__(self, list cells, Py_ssize_t B):
        cdef Cell first = <Cell>cells[0]
        self.cells = cells
        self.B, self.L = B, len(cells)
        self.n_in, self.H, self.P = first.p.n_in, first.p.H, first.p.P
        self.lstm = first.p.mode == M_LSTM
        self.dtype = first.dtype
        self.typenum = cnp.NPY_FLOAT64 if first.is_double else cnp.NPY_FLOAT32
        G = max([(<Cell>cell).p.G for cell in cells])
        check_blas_sizes(B, max([(<Cell>cell).p.n_in for cell in cells]), G, G)
        self.gates = np.empty((B, G), self.dtype)
        self.hh = np.empty((B, G), self.dtype)
        self.r = np.empty((B, self.H), self.dtype)
        self.hn = np.empty((B, self.H), self.dtype)

    def step(self, cnp.ndarray x, cnp.ndarray h, c):
        """x [B, I] IN; h [L, B, P] INOUT; c [L, B, H] INOUT (LSTM) or None. Advances the state in place.

        The caller (the layer) has validated and converted everything.
        """
        if not (self._is_exact(x, 0, self.B, self.n_in) and self._is_exact(h, self.L, self.B, self.P)
                and (not self.lstm or self._is_exact(c, self.L, self.B, self.H))):
            raise ValueError("StepRunner.step: arrays must be C-contiguous, of the runner's dtype and shapes")
        self._advance(x, h, c)

    def fast_step(self, x, state):
        """Layer.step for exactly-right input: returns (y, state) as Layer.step does, or None when x or state
        would need checking or converting (the layer's slower path then handles them and reports errors)."""
        cdef cnp.ndarray h, c = None
        if not self._is_exact(x, 0, self.B, self.n_in) or not all_finite(x):
            return None
        if self.lstm:
            if type(state) is not tuple or len(state) != 2:
                return None
            h = self._exact_copy(state[0], self.P)
            c = self._exact_copy(state[1], self.H)
            if h is None or c is None:
                return None
        else:
            h = self._exact_copy(state, self.P)
            if h is None:
                return None
        self._advance(x, h, c)
        y = h[self.L - 1].copy()
        return (y, (h, c)) if self.lstm else (y, h)

    cdef bint _is_exact(self, a, Py_ssize_t L, Py_ssize_t B, Py_ssize_t n):
        """a is a C-contiguous array of the runner's dtype shaped (L, B, n), or (B, n) when L == 0."""
        cdef cnp.ndarray arr
        if type(a) is not np.ndarray:
            return False
        arr = <cnp.ndarray>a
        if cnp.PyArray_TYPE(arr) != self.typenum or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
            return False
        if L == 0:
            return arr.ndim == 2 and arr.shape[0] == B and arr.shape[1] == n
        return arr.ndim == 3 and arr.shape[0] == L and arr.shape[1] == B and arr.shape[2] == n

    cdef cnp.ndarray _exact_copy(self, a, Py_ssize_t n):
        """A copy of a state shaped (L, B, n) when it needs no checking beyond finiteness, else None."""
        if not self._is_exact(a, self.L, self.B, n) or not all_finite(a):
            return None
        return cnp.PyArray_NewCopy(<cnp.ndarray>a, cnp.NPY_CORDER)

    cdef void _advance(self, cnp.ndarray x, cnp.ndarray h, c):
        if self.typenum == cnp.NPY_FLOAT64:
            step_stack(<const double *>cnp.PyArray_DATA(x), self.cells, self.B, h, c, self.gates, self.hh, self.r,
                       self.hn)
        else:
            step_stack(<const float *>cnp.PyArray_DATA(x), self.cells, self.B, h, c, self.gates, self.hh, self.r,
                       self.hn)


cdef void step_stack(const floating *inp, list cells, Py_ssize_t B, h, c, gates_a, hh_a, r_a, hn_a):
    """StepRunner.step's typed half: inp is x's data, typed to select float or double."""
    cdef Py_ssize_t l
    cdef Cell cell
    cdef floating *hp = <floating *>data(h)
    cdef floating *cp = <floating *>data_or_null(c)
    cdef floating *gates = <floating *>data(gates_a)
    cdef floating *hh = <floating *>data(hh_a)
    cdef floating *r = <floating *>data(r_a)
    cdef floating *hn = <floating *>data(hn_a)
    for l in range(len(cells)):
        cell = <Cell>cells[l]
        with nogil:
            input_projection(&cell.p, inp, B, gates)
            cell_step(&cell.p, NULL, gates, B, hp, cp, hn, hh, r)
        inp = hp
        hp += B * cell.p.P
        if cp != NULL:
            cp += B * cell.p.H


include "_backward.pxi"


def packed_gemm_nt(cnp.ndarray A, cnp.ndarray W, cnp.ndarray C, bint accumulate):
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
    packed = pack_matrix(W, 0, N)
    if dtype == np.float64:
        fr_packed_gemm_nt_f64(M, N, K, <const double *>data(A), K, <const double *>data(packed), accumulate,
                              <double *>data(C), N, 0, fr_packed_panels_f64(N))
    else:
        fr_packed_gemm_nt_f32(M, N, K, <const float *>data(A), K, <const float *>data(packed), accumulate,
                              <float *>data(C), N, 0, fr_packed_panels_f32(N))


def all_finite(cnp.ndarray a):
    """True when every value of the C-contiguous float32/float64 array a is finite."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    cdef void *data = cnp.PyArray_DATA(a)
    cdef int ok
    with nogil:
        if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64:
            ok = fr_all_finite_f64(<const double *>data, n)
        else:
            ok = fr_all_finite_f32(<const float *>data, n)
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


def _small_gemm_nt(A, W, C, bint accumulate, int nthreads):
    """C (+)= A W^T by fr_small_gemm_nt (csrc/small_gemm.inc), W read in torch's layout; for tests and bench.

    A [M, K] IN, W [N, K] IN, C [M, N] OUT (INOUT when accumulate): 2-D, C-contiguous, one dtype (float32 or
    float64). nthreads >= 1: fr_small_gemm_nt_mt with up to that many threads; nthreads <= 0: fr_small_gemm_nt_auto.
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
    with nogil:
        if f64 and nthreads >= 1:
            fr_small_gemm_nt_mt_f64(M, N, K, <const double *>a, K, <const double *>w, K, accumulate, <double *>c, N,
                                    nthreads)
        elif f64:
            fr_small_gemm_nt_auto_f64(M, N, K, <const double *>a, K, <const double *>w, K, accumulate, <double *>c, N)
        elif nthreads >= 1:
            fr_small_gemm_nt_mt_f32(M, N, K, <const float *>a, K, <const float *>w, K, accumulate, <float *>c, N,
                                    nthreads)
        else:
            fr_small_gemm_nt_auto_f32(M, N, K, <const float *>a, K, <const float *>w, K, accumulate, <float *>c, N)
