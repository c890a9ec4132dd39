# Backpropagation through time of one layer and one direction (included by _kernels.pyx, shares its types); the
# loop itself is csrc/loop.inc's fr_backward.


cdef int check_backward_args(Cell cell, dict tape, cnp.ndarray x, cnp.ndarray d_out, Py_ssize_t col0,
                             cnp.ndarray dh, dc, cnp.ndarray batch_sizes, cnp.ndarray dx, dict grads) except -1:
    """The arrays fr_backward reads and writes, as forward_direction made the tape: a ValueError naming the first
    that does not fit the cell (these bindings are reachable from Python)."""
    cdef const fr_cell *cp = &cell.c
    cdef int typenum = cell._typenum
    if tape is None or grads is None:
        raise ValueError("tape and grads must be dicts")
    check_forward_args(cp, typenum, x, dh, dc, batch_sizes, d_out, col0, True)
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], H = cp.H, P = cp.P, G = cp.G
    check_array(dx, "dx", typenum, 3, T, B, cp.n_in, True)
    check_array(tape.get("gates"), "tape['gates']", typenum, 3, T, B, G, False)
    check_array(tape.get("h_prev"), "tape['h_prev']", typenum, 3, T, B, P, False)
    for key, needed in (("c_prev", cp.mode == FR_LSTM), ("hn", cp.mode == FR_GRU), ("r", cp.w_hr != NULL)):
        if needed:
            check_array(tape.get(key), f"tape[{key!r}]", typenum, 3, T, B, H, False)
    check_array(grads.get("w_ih"), "grads['w_ih']", typenum, 2, G, cp.n_in, -1, True)
    check_array(grads.get("w_hh"), "grads['w_hh']", typenum, 2, G, P, -1, True)
    for key, d0, d1 in (("b_ih", G, -1), ("b_hh", G, -1), ("w_hr", P, H), ("peep", 3, H)):
        if grads.get(key) is not None:
            check_array(grads[key], f"grads[{key!r}]", typenum, 1 if d1 < 0 else 2, d0, d1, -1, True)
    return 0


def backward_direction(Cell cell not None, dict tape, cnp.ndarray x not None, cnp.ndarray d_out not None,
                       Py_ssize_t col0, cnp.ndarray dh not None, dc, cnp.ndarray batch_sizes not None, bint reverse,
                       cnp.ndarray dx not None, dict grads, product=None):
    """Backward of forward_direction (same cell, x, batch_sizes, reverse; tape as it filled it).

    d_out [T, B, D*P] IN: dL/d(layer output), this direction's columns at col0; dh [B, P], dc [B, H] or None
    INOUT: dL/d(final state) in, dL/d(initial state) out; dx [T, B, I] INOUT +=;
    grads: {"w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "peep"} -> arrays accumulated in place (missing = none).
    product: None (the plan's choice), "packed" or "blas" for the per-step products (tests).
    """
    check_backward_args(cell, tape, x, d_out, col0, dh, dc, batch_sizes, dx, grads)
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], ldo = d_out.shape[2]
    cdef fr_cell *cp = &cell.c
    cdef fr_plan plan = fr_plan_backward(cp, T, B, 8 if cell.is_double else 4)
    cdef fr_packed pk
    cdef fr_tape tp
    cdef fr_grads gp
    pk.hh = pk.hn = pk.hr = NULL
    force_product(&plan, product)
    check_blas_sizes(T * B, cp.n_in, cp.G, ldo)
    owner = cell.packed(PANELS_BACKWARD, &pk) if plan.product == FR_PRODUCT_PACKED else None
    dtype = cell.dtype
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
    dgates = np.zeros((T, B, cp.G), dtype)
    dhh = np.zeros((T, B, cp.G), dtype) if cp.mode == FR_GRU else None
    dhs = np.zeros((T, B, cp.P), dtype) if cp.w_hr != NULL else None
    rh = np.empty((T, B, cp.H), dtype) if cp.mode == FR_GRU_RB else None
    work = np.empty(fr_backward_workspace(cp, B), dtype)
    cdef void *gt = data(tape["gates"])
    cdef void *xp = data(x)
    cdef void *dop = data(d_out)
    cdef void *dhp = data(dh)
    cdef void *dcp = data_or_null(dc)
    cdef const Py_ssize_t *bsp = <const Py_ssize_t *>data(batch_sizes)
    cdef void *dxp = data(dx)
    cdef void *dgp = data(dgates)
    cdef void *dhhp = data_or_null(dhh)
    cdef void *dhsp = data_or_null(dhs)
    cdef void *rhp = data_or_null(rh)
    cdef void *wp = data(work)
    with nogil:
        if cell.is_double:
            fr_backward_f64(cp, &pk, &plan, <const double *>gt, &tp, <const double *>xp, T, B,
                            <const double *>dop + col0, ldo, <double *>dhp, <double *>dcp, bsp, reverse,
                            <double *>dxp, &gp, <double *>dgp, <double *>dhhp, <double *>dhsp, <double *>rhp,
                            <double *>wp)
        else:
            fr_backward_f32(cp, &pk, &plan, <const float *>gt, &tp, <const float *>xp, T, B,
                            <const float *>dop + col0, ldo, <float *>dhp, <float *>dcp, bsp, reverse,
                            <float *>dxp, &gp, <float *>dgp, <float *>dhhp, <float *>dhsp, <float *>rhp,
                            <float *>wp)
    del owner
