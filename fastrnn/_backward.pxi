# Backpropagation through time of one layer and one direction (included by _kernels.pyx, shares its types).
#
# Per step: the gradient arriving at h' (from the output and from the next step), the fused point-wise backward
# (csrc/), and dh_prev = dgates W_hh (two products for the reset-before GRU). After the loop, the weight
# gradients of all steps are each ONE GEMM over the T*B rows: dW_ih += dG^T X, dW_hh += dG^T H_prev,
# dX += dG W_ih; bias gradients are column sums. Rows inactive at a step (past their length) keep zero gate
# gradients, so they add nothing to those products.

ctypedef struct Grads:
    # Parameter gradients of one layer and direction, accumulated (+=). NULL where the layer has no such
    # parameter (no bias, no projection, no peepholes).
    void *w_ih      # [G, I]
    void *w_hh      # [G, P]
    void *b_ih      # [G]
    void *b_hh      # [G]
    void *w_hr      # [P, H]
    void *peep      # [3, H]


cdef inline void backward_product(const void *packed, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K,
                                  const floating *A, Py_ssize_t lda, const floating *W, floating beta,
                                  floating *C, Py_ssize_t ldc) noexcept nogil:
    """C[M, N] (row stride ldc) = A[M, K] W[K, N] + beta C, from the transposed packed copy if any."""
    if packed == NULL:
        gemm(False, False, M, N, K, A, lda, W, N, beta, C, ldc)
    else:
        packed_product(packed, M, N, K, A, lda, beta, C, ldc)


cdef void backprop_steps(const CellPtrs *p, const Packed *pk, const Tape *tape, const floating *gates,
                         Py_ssize_t T, Py_ssize_t B, const floating *d_out, Py_ssize_t ldo, floating *dh, floating *dc,
                         const Py_ssize_t *batch_sizes, bint reverse, floating *dgates, floating *dhh,
                         floating *dhs, floating *dr, floating *drh, floating *dpeep) noexcept nogil:
    """The time loop of backward, in the reverse of the forward's order.

    pk: the cell's weights packed transposed (PackedCell(cell, True)), or NULL for BLAS.
    gates [T, B, G] IN activations; tape IN; d_out [T, B, ldo] IN dL/d(this direction's outputs);
    dh [B, P], dc [B, H] INOUT: dL/d(final state) in, dL/d(initial state) out;
    dgates [T, B, G] OUT (zeroed by the caller): dL/d(input-part pre-activations);
    dhh [T, B, G] OUT (zeroed; GRU): dL/d(W_hh h + b_hh); dhs [T, B, P] OUT (zeroed; LSTM projection):
    dL/dh' per step; dr, drh [B, H]: scratch; dpeep [3, H] INOUT += or NULL.
    """
    cdef Py_ssize_t s, t, k, j, bs, H = p.H, P = p.P, G = p.G
    cdef const floating *w_hh = <const floating *>p.w_hh
    cdef const floating *gt
    cdef const floating *hp
    cdef floating *dgt
    cdef floating *drp
    cdef const void *p_hh = NULL
    cdef const void *p_hn = NULL
    cdef const void *p_hr = NULL
    if pk != NULL:
        p_hh, p_hn, p_hr = pk.hh, pk.hn, pk.hr
    for s in range(T):
        t = s if reverse else T - 1 - s
        bs = batch_sizes[t]
        if bs == 0:
            continue
        for k in range(bs):
            for j in range(P):
                dh[k * P + j] += d_out[(t * B + k) * ldo + j]
        gt = gates + t * B * G
        dgt = dgates + t * B * G
        hp = <const floating *>tape.h_prev + t * B * P
        if p.mode == M_LSTM:
            drp = dh
            if p.w_hr != NULL:
                memcpy(dhs + t * B * P, dh, bs * P * sizeof(floating))
                backward_product(p_hr, bs, H, P, dh, P, <const floating *>p.w_hr, 0, dr, H)
                drp = dr
            if floating is float:
                fr_lstm_pointwise_backward_f32(gt, <const float *>tape.c_prev + t * B * H, <const float *>p.peep,
                                               drp, dc, dgt, dpeep, bs, H)
            else:
                fr_lstm_pointwise_backward_f64(gt, <const double *>tape.c_prev + t * B * H,
                                               <const double *>p.peep, drp, dc, dgt, dpeep, bs, H)
            backward_product(p_hh, bs, P, G, dgt, G, w_hh, 0, dh, P)
        elif p.mode == M_GRU:
            if floating is float:
                fr_gru_pointwise_backward_f32(gt, <const float *>tape.hn + t * B * H, hp, dh, dgt,
                                              dhh + t * B * G, bs, H)
            else:
                fr_gru_pointwise_backward_f64(gt, <const double *>tape.hn + t * B * H, hp, dh, dgt,
                                              dhh + t * B * G, bs, H)
            backward_product(p_hh, bs, H, G, dhh + t * B * G, G, w_hh, 1, dh, H)
        elif p.mode == M_GRU_RB:
            if floating is float:
                fr_gru_rb_pointwise_backward_zn_f32(gt, hp, dh, dgt, bs, H)
            else:
                fr_gru_rb_pointwise_backward_zn_f64(gt, hp, dh, dgt, bs, H)
            backward_product(p_hn, bs, H, H, dgt + 2 * H, G, w_hh + 2 * H * H, 0, drh, H)
            if floating is float:
                fr_gru_rb_pointwise_backward_r_f32(gt, hp, drh, dh, dgt, bs, H)
            else:
                fr_gru_rb_pointwise_backward_r_f64(gt, hp, drh, dh, dgt, bs, H)
            backward_product(p_hh, bs, H, 2 * H, dgt, G, w_hh, 1, dh, H)
        else:
            if floating is float:
                fr_rnn_pointwise_backward_f32(gt, dh, bs, H, p.mode == M_RNN_RELU)
            else:
                fr_rnn_pointwise_backward_f64(gt, dh, bs, H, p.mode == M_RNN_RELU)
            memcpy(dgt, dh, bs * H * sizeof(floating))
            backward_product(p_hh, bs, H, H, dgt, G, w_hh, 0, dh, H)


cdef void add_column_sums(const floating *a, Py_ssize_t rows, Py_ssize_t cols, floating *out) noexcept nogil:
    """out[cols] += sum over rows of a[rows, cols]."""
    cdef Py_ssize_t k, j
    for k in range(rows):
        for j in range(cols):
            out[j] += a[k * cols + j]


cdef void weight_gradients(const CellPtrs *p, const Tape *tape, const floating *gates, const floating *x,
                           Py_ssize_t R, const floating *dgates, const floating *dhh, const floating *dhs,
                           floating *rh, floating *dx, const Grads *g) noexcept nogil:
    """All steps at once (R = T*B rows): parameter gradients += and dx [R, I] += dgates W_ih.

    rh [R, H]: scratch for the reset-before GRU's r * h_prev.
    """
    cdef Py_ssize_t k, j, I = p.n_in, H = p.H, P = p.P, G = p.G
    cdef const floating *h_prev = <const floating *>tape.h_prev
    cdef const floating *d_rec = dhh if p.mode == M_GRU else dgates    # gradient of the W_hh h + b_hh part
    if R == 0:
        return
    if I > 0:
        gemm(True, False, G, I, R, dgates, G, x, I, 1, <floating *>g.w_ih, I)
        gemm(False, False, R, I, G, dgates, G, <const floating *>p.w_ih, I, 1, dx, I)
    if p.mode == M_GRU_RB:
        for k in range(R):
            for j in range(H):
                rh[k * H + j] = gates[k * G + j] * h_prev[k * H + j]
        gemm(True, False, 2 * H, H, R, dgates, G, h_prev, H, 1, <floating *>g.w_hh, H)
        gemm(True, False, H, H, R, dgates + 2 * H, G, rh, H, 1, <floating *>g.w_hh + 2 * H * H, H)
    else:
        gemm(True, False, G, P, R, d_rec, G, h_prev, P, 1, <floating *>g.w_hh, P)
    if g.b_ih != NULL:
        add_column_sums(dgates, R, G, <floating *>g.b_ih)
        add_column_sums(d_rec, R, G, <floating *>g.b_hh)
    if g.w_hr != NULL:
        gemm(True, False, P, H, R, dhs, P, <const floating *>tape.r, H, 1, <floating *>g.w_hr, H)


def backward_direction(Cell cell, dict tape, cnp.ndarray x, cnp.ndarray d_out, Py_ssize_t col0, cnp.ndarray dh,
                       dc, cnp.ndarray batch_sizes, bint reverse, cnp.ndarray dx, dict grads,
                       PackedCell packed=None):
    """Backward of forward_direction (same cell, x, batch_sizes, reverse; tape as it filled it).

    d_out [T, B, D*P] IN: dL/d(layer output), this direction's columns at col0; dh [B, P], dc [B, H] or None
    INOUT: dL/d(final state) in, dL/d(initial state) out; dx [T, B, I] INOUT +=;
    grads: {"w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "peep"} -> arrays accumulated in place (missing = none).
    packed: PackedCell(cell, transposed=True) for the per-step products, or None for BLAS.
    """
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1]
    cdef Py_ssize_t I = cell.p.n_in, H = cell.p.H, P = cell.p.P, G = cell.p.G
    cdef Tape tp
    cdef Grads gp
    dtype = cell.dtype
    require(x, "x", dtype, (T, B, I))
    require(d_out, "d_out", dtype, (T, B, d_out.shape[2]))
    if not 0 <= col0 <= d_out.shape[2] - P:
        raise ValueError(f"col0 = {col0} leaves no room for {P} columns in d_out")
    require(dh, "dh", dtype, (B, P))
    if cell.p.mode == M_LSTM:
        require(dc, "dc", dtype, (B, H))
    require(batch_sizes, "batch_sizes", np.dtype(np.intp), (T,))
    require(dx, "dx", dtype, (T, B, I))
    require(tape["gates"], "tape['gates']", dtype, (T, B, G))
    require(tape["h_prev"], "tape['h_prev']", dtype, (T, B, P))
    for key in ("c_prev", "hn", "r"):
        if key in tape:
            require(tape[key], f"tape[{key!r}]", dtype, (T, B, H))
    require(grads["w_ih"], "grads['w_ih']", dtype, (G, I))
    require(grads["w_hh"], "grads['w_hh']", dtype, (G, P))
    for key, shape in (("b_ih", (G,)), ("b_hh", (G,)), ("w_hr", (P, H)), ("peep", (3, H))):
        if grads.get(key) is not None:
            require(grads[key], f"grads[{key!r}]", dtype, shape)
    if (cell.p.mode == M_LSTM and "c_prev" not in tape) or (cell.p.mode == M_GRU and "hn" not in tape) \
            or (cell.p.w_hr != NULL and "r" not in tape):
        raise ValueError("tape was not filled by forward_direction for this cell")
    if (cell.p.b_ih != NULL) != (grads.get("b_ih") is not None) or \
            (cell.p.w_hr != NULL) != (grads.get("w_hr") is not None):
        raise ValueError("grads must hold exactly the cell's parameters")
    check_blas_sizes(T * B, I, G, d_out.shape[2])
    tp.h_prev = data(tape["h_prev"])
    tp.c_prev = data_or_null(tape.get("c_prev"))
    tp.hn = data_or_null(tape.get("hn"))
    tp.r = data_or_null(tape.get("r"))
    gp.w_ih = data(grads["w_ih"])
    gp.w_hh = data(grads["w_hh"])
    gp.b_ih = data_or_null(grads.get("b_ih"))
    gp.b_hh = data_or_null(grads.get("b_hh"))
    gp.w_hr = data_or_null(grads.get("w_hr"))
    gp.peep = data_or_null(grads.get("peep"))
    dgates = np.zeros((T, B, G), dtype)
    dhh = np.zeros((T, B, G), dtype) if cell.p.mode == M_GRU else dgates
    dhs = np.zeros((T, B, P), dtype) if cell.p.w_hr != NULL else dgates
    rh = np.empty((T, B, H), dtype) if cell.p.mode == M_GRU_RB else dgates
    scratch = (np.empty((B, H), dtype), np.empty((B, H), dtype))     # dr, drh
    if cell.is_double:
        _backward_direction(<double *>data(dgates), &cell.p, NULL if packed is None else &packed.pk, &tp, &gp,
                            tape["gates"], x, d_out, col0, dh, dc, batch_sizes, reverse, dx, dhh, dhs, rh,
                            scratch)
    else:
        _backward_direction(<float *>data(dgates), &cell.p, NULL if packed is None else &packed.pk, &tp, &gp,
                            tape["gates"], x, d_out, col0, dh, dc, batch_sizes, reverse, dx, dhh, dhs, rh,
                            scratch)


cdef void _backward_direction(floating *dg, const CellPtrs *p, const Packed *pk, const Tape *tp, const Grads *gp,
                              gates, x, d_out,
                              Py_ssize_t col0, dh, dc, batch_sizes, bint reverse, dx, dhh, dhs, rh,
                              tuple scratch):
    """backward_direction's typed half: dg is the gate-gradient buffer's data, typed to select the dtype."""
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], ldo = d_out.shape[2]
    cdef const floating *gt = <const floating *>data(gates)
    cdef const floating *xp = <const floating *>data(x)
    cdef const floating *dop = <const floating *>data(d_out) + col0
    cdef floating *dhp = <floating *>data(dh)
    cdef floating *dcp = <floating *>data_or_null(dc)
    cdef const Py_ssize_t *bsp = <const Py_ssize_t *>data(batch_sizes)
    cdef floating *dxp = <floating *>data(dx)
    cdef floating *dhhp = <floating *>data(dhh)
    cdef floating *dhsp = <floating *>data(dhs)
    cdef floating *rhp = <floating *>data(rh)
    cdef floating *drp = <floating *>data(scratch[0])
    cdef floating *drhp = <floating *>data(scratch[1])
    with nogil:
        backprop_steps(p, pk, tp, gt, T, B, dop, ldo, dhp, dcp, bsp, reverse, dg, dhhp, dhsp, drp, drhp,
                       <floating *>gp.peep)
        weight_gradients(p, tp, gt, xp, T * B, dg, dhhp, dhsp, rhp, dxp, gp)
