# The forward loop of one layer: one direction, or a bidirectional layer's two directions at once, one per thread
# (included by _kernels.pyx, shares its types); the loop itself is csrc/loop.inc's fr_forward.


cdef class _ForwardCall:
    """One fr_forward call's arguments (fr_forward_call) and the arrays they point into, kept alive until it ran."""
    cdef fr_forward_call call
    cdef fr_packed pk
    cdef fr_tape tp
    cdef object keep     # packed panels, workspace
    cdef bint f64

    cdef run(self):
        cdef fr_forward_call *f = &self.call
        with nogil:
            if self.f64:
                fr_forward_f64(f.cell, f.pk, &f.plan, <const double *>f.x, f.T, f.B, <double *>f.h, <double *>f.c,
                               f.batch_sizes, f.reverse, <double *>f.out, f.ldo, <double *>f.gates, f.tape,
                               <double *>f.work)
            else:
                fr_forward_f32(f.cell, f.pk, &f.plan, <const float *>f.x, f.T, f.B, <float *>f.h, <float *>f.c,
                               f.batch_sizes, f.reverse, <float *>f.out, f.ldo, <float *>f.gates, f.tape,
                               <float *>f.work)


cdef int check_forward_args(const fr_cell *cp, int typenum, cnp.ndarray x, cnp.ndarray h, c, cnp.ndarray batch_sizes,
                            cnp.ndarray out, Py_ssize_t col0, bint backward=False) except -1:
    """The arrays fr_forward reads and writes, of typenum: x [T, B, I], h [B, P], c [B, H] (LSTM; else unused),
    batch_sizes [T] non-increasing in [0, B], out [T, B, ldo] with columns col0:col0+P inside it: a ValueError
    rather than a read past an array (these bindings are reachable from Python). backward: h, c and out are
    fr_backward's dh, dc and d_out (named so)."""
    h_name, c_name, out_name = ("dh", "dc", "d_out") if backward else ("h", "c", "out")
    check_array(x, "x", typenum, 3, -1, -1, cp.n_in, False)
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], t, previous
    check_array(h, h_name, typenum, 2, B, cp.P, -1, True)
    if cp.mode == FR_LSTM:
        check_array(c, c_name, typenum, 2, B, cp.H, -1, True)
    check_array(batch_sizes, "batch_sizes", cnp.NPY_INTP, 1, T, -1, -1, False)
    check_array(out, out_name, typenum, 3, T, B, -1, not backward)
    if col0 < 0 or col0 + cp.P > out.shape[2]:
        raise ValueError(f"columns {col0}:{col0 + cp.P} are outside {out_name}'s {out.shape[2]}")
    cdef const Py_ssize_t *sizes = <const Py_ssize_t *>data(batch_sizes)
    previous = B
    for t in range(T):
        if sizes[t] < 0 or sizes[t] > previous:
            raise ValueError(f"batch_sizes must be non-increasing in [0, {B}]; got {batch_sizes.tolist()}")
        previous = sizes[t]
    return 0


cdef _ForwardCall prepare_forward(Cell cell, cnp.ndarray x, cnp.ndarray h, c, cnp.ndarray batch_sizes, bint reverse,
                                  cnp.ndarray out, Py_ssize_t col0, dict tape, product, bint one_thread):
    """The call of forward_direction's arguments: plan, packed panels, workspace and (training) the tape's arrays.
    one_thread: the call runs beside another on its own thread (forward_pair)."""
    check_forward_args(&cell.c, cell._typenum, x, h, c, batch_sizes, out, col0)
    cdef _ForwardCall fc = _ForwardCall.__new__(_ForwardCall)
    cdef Py_ssize_t T = x.shape[0], B = x.shape[1], ldo = out.shape[2]
    cdef fr_cell *cp = &cell.c
    cdef bint training = tape is not None
    cdef int elem = 8 if cell.is_double else 4
    cdef fr_plan plan = fr_plan_forward(cp, T, B, training, elem)
    fc.pk.hh = fc.pk.hn = fc.pk.hr = NULL
    force_product(&plan, product)
    if one_thread:
        fr_plan_pair_member(cp, T, B, training, elem, &plan)
    check_blas_sizes(T * B, cp.n_in, cp.G, ldo)
    owner = None
    if plan.product == FR_PRODUCT_PACKED:
        owner = cell.packed(PANELS_FUSED + plan.fused if plan.fused else PANELS_PLAIN, &fc.pk)
    dtype = cell.dtype
    work = np.empty(fr_forward_workspace(cp, &plan, B, training), dtype)
    gates = None
    if training:
        gates = tape["gates"] = np.empty((T, B, cp.G), dtype)
        # zeros: rows inactive at a step (past their length) must stay finite for backward's products
        tape["h_prev"] = np.zeros((T, B, cp.P), dtype)
        if cp.mode == FR_LSTM:
            tape["c_prev"] = np.zeros((T, B, cp.H), dtype)
        if cp.mode == FR_GRU:
            tape["hn"] = np.zeros((T, B, cp.H), dtype)
        if cp.w_hr != NULL:
            tape["r"] = np.zeros((T, B, cp.H), dtype)
        fc.tp.h_prev = data(tape["h_prev"])
        fc.tp.c_prev = data_or_null(tape.get("c_prev"))
        fc.tp.hn = data_or_null(tape.get("hn"))
        fc.tp.r = data_or_null(tape.get("r"))
    fc.keep = (owner, work)
    fc.f64 = cell.is_double
    fc.call.cell = cp
    fc.call.pk = &fc.pk
    fc.call.plan = plan
    fc.call.x = data(x)
    fc.call.T, fc.call.B = T, B
    fc.call.h = data(h)
    fc.call.c = data_or_null(c)
    fc.call.batch_sizes = <const Py_ssize_t *>data(batch_sizes)
    fc.call.reverse = reverse
    fc.call.out = <char *>data(out) + col0 * elem
    fc.call.ldo = ldo
    fc.call.gates = data_or_null(gates)
    fc.call.tape = &fc.tp if training else NULL
    fc.call.work = data(work)
    return fc


def forward_direction(Cell cell not None, cnp.ndarray x not None, cnp.ndarray h not None, c,
                      cnp.ndarray batch_sizes not None, bint reverse, cnp.ndarray out not None, Py_ssize_t col0,
                      dict tape=None, product=None):
    """Run one layer in one direction over the whole sequence (csrc/loop.inc fr_forward).

    x [T, B, I] IN; h [B, P] INOUT; c [B, H] INOUT or None (not LSTM); batch_sizes [T] intp IN;
    out [T, B, D*P] OUT: columns col0:col0+P written for active rows (others untouched);
    tape: None, or a dict that receives what backward_direction needs: "gates" [T, B, G] (activations),
    "h_prev" [T, B, P], and per mode "c_prev", "hn", "r" [T, B, H].
    """
    prepare_forward(cell, x, h, c, batch_sizes, reverse, out, col0, tape, product, False).run()


def run_directions(list cells not None, cnp.ndarray x not None, cnp.ndarray h not None, c,
                   cnp.ndarray batch_sizes not None, cnp.ndarray out not None, list tapes=None):
    """One layer's D = len(cells) directions over x [T, B, I] into out [T, B, D*P]: both at once, one thread each,
    where the plan says so (csrc/plan.c), else one after the other; updates h [D, B, P] and c [D, B, H] (or
    None) in place. tapes: the directions' training tapes, or None. (Compiled: as a Python function its
    dispatch was 0.4 us of a 3 us B=1 T=1 call.)"""
    cdef Py_ssize_t D = len(cells)
    if D == 2 and fr_plan_directions_at_once(&(<Cell?>cells[0]).c, x.shape[0], x.shape[1]):
        forward_pair(cells, x, h, c, batch_sizes, out, tapes)
        return
    cdef Py_ssize_t d, P = out.shape[2] // D
    for d in range(D):
        prepare_forward(cells[d], x, h[d], None if c is None else c[d], batch_sizes, d == 1, out, d * P,
                        None if tapes is None else tapes[d], None, False).run()


def directions_at_once(Cell cell not None, Py_ssize_t T, Py_ssize_t B):
    """Whether a bidirectional layer of this cell runs its two directions at once (csrc/plan.c)."""
    return bool(fr_plan_directions_at_once(&cell.c, T, B))


def forward_pair(list cells not None, cnp.ndarray x not None, cnp.ndarray h not None, c,
                 cnp.ndarray batch_sizes not None, cnp.ndarray out not None, list tapes=None):
    """Both directions of one bidirectional layer at once, one thread each (csrc/loop.inc fr_forward_pair).

    cells: [forward, reverse]; h [2, B, P], c [2, B, H] or None INOUT; out [T, B, 2P] OUT (forward columns first);
    tapes: None or two dicts, as forward_direction's tape."""
    cdef Py_ssize_t P = (<Cell?>cells[0]).c.P
    cdef _ForwardCall first = prepare_forward(cells[0], x, h[0], None if c is None else c[0], batch_sizes, False,
                                              out, 0, None if tapes is None else tapes[0], None, True)
    cdef _ForwardCall second = prepare_forward(cells[1], x, h[1], None if c is None else c[1], batch_sizes, True,
                                               out, P, None if tapes is None else tapes[1], None, True)
    cdef fr_forward_call calls[2]
    calls[0], calls[1] = first.call, second.call
    with nogil:
        if first.f64:
            fr_forward_pair_f64(calls)
        else:
            fr_forward_pair_f32(calls)
