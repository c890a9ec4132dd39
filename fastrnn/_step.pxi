# The streaming step (included by _kernels.pyx, shares its types): Layer.step itself (layer_step), the per-thread
# runners a layer keeps (StepRunners) and the runner of one thread and batch size (StepRunner). The C step is
# csrc/step_kernel.inc's fr_step_direct for a few rows, csrc/loop.inc's fr_step_stack beyond.
from cpython.object cimport PyObject_GenericGetAttr
from cpython.pythread cimport PyThread_get_thread_ident
import threading

# Streaming workspaces a thread keeps, one per batch size: stepping with ever new batch sizes drops the oldest,
# so memory stays bounded (each holds a few (B, G) arrays).
cdef enum:
    MAX_STEP_RUNNERS = 8


def layer_step(self, x_t, state=None):
    """One time step: x_t (B, I) -> (y_t (B, P), state), state as the call's (h (L, B, P), c (L, B, H)).

    Continues exactly where `state` left off (chunked == whole). Unidirectional layers only. The returned
    state is new; the one passed in is not modified. x_t may also be one unbatched row (I,): then y_t is (P,)
    and the state (h (L, P), c (L, H)), which the next unbatched step takes back.
    """
    # The fast path (exactly-typed input, unchanged parameter arrays) is this one call; anything else, errors
    # included, goes to the layer's checked path (fastrnn/_streaming.py).
    cdef StepRunners runners = PyObject_GenericGetAttr(self, "_local")   # not the Module's __getattr__ hook
    cdef StepRunner runner = runners.current()
    if runner is not None:
        result = runner.fast(x_t, state)
        if result is not None:
            return result
    return self._step_checked(x_t, state)


cdef class StepRunners:
    """A layer's StepRunners: per thread (calls may run concurrently) and per batch size (up to MAX_STEP_RUNNERS
    each, oldest dropped). current() is the calling thread's runner of the batch size it stepped last, found by
    one comparison of thread ids while one thread steps; a thread that was not the last to step finds it in its
    threading.local. The layer replaces the whole object to drop every runner (parameters rebuilt)."""
    cdef object _local              # threading.local: .runners {B: StepRunner}, .last: the runner stepped last
    cdef unsigned long _owner       # the thread that stepped last, and its runner (None: none yet)
    cdef object _owner_runner

    def __init__(self):
        self._local = threading.local()
        self._owner_runner = None

    cdef StepRunner current(self):
        cdef unsigned long me = PyThread_get_thread_ident()
        if self._owner_runner is not None and self._owner == me:
            return <StepRunner>self._owner_runner
        runner = getattr(self._local, "last", None)
        if type(runner) is not StepRunner:
            return None
        self._owner, self._owner_runner = me, runner
        return <StepRunner>runner

    def get(self, Py_ssize_t batch):
        """This thread's runner for `batch` rows, or None."""
        return getattr(self._local, "runners", {}).get(batch)

    def use(self, Py_ssize_t batch, runner):
        """Keeps `runner` as this thread's for `batch` rows and the one its next step tries first (any object with
        a StepRunner's step(); only StepRunners take the fast path)."""
        runners = self._local.__dict__.setdefault("runners", {})
        if batch not in runners and len(runners) >= MAX_STEP_RUNNERS:
            del runners[next(iter(runners))]   # the oldest batch size's
        runners[batch] = runner
        self._local.last = runner
        # current() casts the owner's runner without a check: only a StepRunner may be kept there
        self._owner = PyThread_get_thread_ident()
        self._owner_runner = runner if type(runner) is StepRunner else None


cdef class StepRunner:
    """Streaming: one time step through every layer of a unidirectional stack, with cached workspaces.

    One runner serves one batch size and one thread (the layer keeps one per thread and batch size), so
    concurrent calls never share a workspace. It reads the weights in torch's layout (nothing packed, so nothing
    can be stale) and stops taking the fast path once a parameter array of `params` is replaced or reshaped.
    """
    cdef list cells
    cdef dict params
    cdef object _cell_array          # bytes holding L fr_cell structs
    cdef const fr_cell *c_cells
    cdef Py_ssize_t B, L, n_in, H, P
    cdef bint lstm, f64, direct      # direct: fr_step_direct (a few rows), else fr_step_stack
    cdef int typenum
    cdef cnp.npy_intp y_dims[2]      # (B, P): the step's output
    cdef cnp.npy_intp h_dims[3]      # (L, B, P) and (L, B, H): the state's
    cdef cnp.npy_intp c_dims[3]
    cdef object work
    cdef readonly object dtype

    def __init__(self, list cells not None, Py_ssize_t B, dict params not None):
        if not cells or B < 1:
            raise ValueError(f"a step runner needs at least one cell and B >= 1; got {len(cells)} cells, B = {B}")
        cdef Cell first = <Cell?>cells[0], cell
        cdef Py_ssize_t k
        for k in range(len(cells)):   # the C step reads layer k's input as layer k - 1's h
            cell = <Cell?>cells[k]
            if cell.c.mode != first.c.mode or cell._typenum != first._typenum or \
                    (k > 0 and cell.c.n_in != (<Cell>cells[k - 1]).c.P):
                raise ValueError(f"cell {k} does not stack on the cell before it (mode, dtype, or input size "
                                 f"{cell.c.n_in} for an h of {(<Cell>cells[k - 1]).c.P if k else first.c.n_in})")
        cdef fr_plan plan = fr_plan_step(&first.c, B, 8 if first.is_double else 4)
        self.cells, self.params = cells, params
        self._cell_array = b"".join([(<char *>&(<Cell>cell).c)[:sizeof(fr_cell)] for cell in cells])
        self.c_cells = <const fr_cell *><const char *>self._cell_array
        self.B, self.L = B, len(cells)
        self.n_in, self.H, self.P = first.c.n_in, first.c.H, first.c.P
        self.y_dims[0], self.y_dims[1] = B, self.P
        self.h_dims[0], self.h_dims[1], self.h_dims[2] = self.L, B, self.P
        self.c_dims[0], self.c_dims[1], self.c_dims[2] = self.L, B, self.H
        self.lstm = first.c.mode == FR_LSTM
        self.direct = plan.product == FR_PRODUCT_DIRECT   # by B alone: threads are chosen per call
        self.dtype = first.dtype
        self.f64 = first.is_double
        self.typenum = cnp.NPY_FLOAT64 if first.is_double else cnp.NPY_FLOAT32
        check_blas_sizes(B, max([(<Cell>cell).c.n_in for cell in cells]), first.c.G, first.c.G)
        self.work = np.empty(fr_forward_workspace(&first.c, &plan, B, False), self.dtype)

    def step(self, cnp.ndarray x, cnp.ndarray h, c):
        """x [B, I] IN; h [L, B, P] INOUT; c [L, B, H] INOUT (LSTM) or None. Advances the state in place.

        The caller (the layer) has validated and converted everything.
        """
        if not (self._is_exact(x, 0, self.B, self.n_in) and self._is_exact(h, self.L, self.B, self.P)
                and (not self.lstm or self._is_exact(c, self.L, self.B, self.H))):
            raise ValueError("StepRunner.step: arrays must be C-contiguous, of the runner's dtype and shapes")
        self._advance(x, h, c)

    def fast_step(self, x, state):
        """Layer.step for exactly-right input and unchanged parameters: returns (y, state) as Layer.step does, or
        None when x or state would need checking or converting, or a parameter array was replaced (the layer's
        slower path then rebuilds, handles them and reports errors)."""
        return self.fast(x, state)

    cdef object fast(self, x, state):
        """fast_step without a Python call. The checks are pointer and integer comparisons and one finite-value
        pass over x and the state; the state passed in is copied into the new arrays returned, never modified."""
        cdef object h0, c0 = None
        cdef cnp.ndarray h, c = None, y
        if not self._is_exact(x, 0, self.B, self.n_in):
            return None
        if self.lstm:
            if type(state) is not tuple or len(<tuple>state) != 2:
                return None
            h0, c0 = (<tuple>state)[0], (<tuple>state)[1]
            if not self._is_exact(c0, self.L, self.B, self.H):
                return None
        else:
            h0 = state
        if not self._is_exact(h0, self.L, self.B, self.P):
            return None
        for cell in self.cells:
            if not (<Cell>cell).current(self.params):
                return None
        if not (self._finite(x) and self._finite(h0) and (c0 is None or self._finite(c0))):
            return None
        h = self._copy(h0, self.h_dims)
        if c0 is not None:
            c = self._copy(c0, self.c_dims)
        self._advance(x, h, c)
        y = cnp.PyArray_EMPTY(2, self.y_dims, self.typenum, 0)
        memcpy(cnp.PyArray_DATA(y), <char *>cnp.PyArray_DATA(h) + (self.L - 1) * cnp.PyArray_NBYTES(y),
               cnp.PyArray_NBYTES(y))
        if not self._finite(y):
            return None   # a product overflowed: the checked path runs it again and says so
        return (y, (h, c)) if self.lstm else (y, h)

    cdef inline cnp.ndarray _copy(self, a, cnp.npy_intp *dims):
        """A new C-contiguous copy of a (an array _is_exact accepted, of shape dims)."""
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(3, dims, self.typenum, 0)
        memcpy(cnp.PyArray_DATA(out), cnp.PyArray_DATA(<cnp.ndarray>a), cnp.PyArray_NBYTES(out))
        return out

    cdef inline bint _is_exact(self, a, Py_ssize_t L, Py_ssize_t B, Py_ssize_t n):
        """a is a C-contiguous array of the runner's dtype in native byte order shaped (L, B, n), or (B, n) when
        L == 0."""
        cdef cnp.ndarray arr
        if type(a) is not cnp.ndarray:
            return False
        arr = <cnp.ndarray>a
        # PyArray_TYPE names float32 for '>f4' too: a byte-swapped array goes to the checked path, which converts
        if (cnp.PyArray_TYPE(arr) != self.typenum or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
                or not cnp.PyArray_ISNOTSWAPPED(arr)):
            return False
        if L == 0:
            return cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIMS(arr)[0] == B and cnp.PyArray_DIMS(arr)[1] == n
        return (cnp.PyArray_NDIM(arr) == 3 and cnp.PyArray_DIMS(arr)[0] == L and cnp.PyArray_DIMS(arr)[1] == B
                and cnp.PyArray_DIMS(arr)[2] == n)

    cdef inline bint _finite(self, a):
        """Every value of a (an array _is_exact accepted) is finite."""
        cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>a)
        cdef void *p = cnp.PyArray_DATA(<cnp.ndarray>a)
        if self.f64:
            return fr_all_finite_f64(<const double *>p, n) == 1
        return fr_all_finite_f32(<const float *>p, n) == 1

    cdef void _advance(self, cnp.ndarray x, cnp.ndarray h, c):
        cdef fr_plan plan
        cdef void *xp = cnp.PyArray_DATA(x)
        cdef void *hp = cnp.PyArray_DATA(h)
        cdef void *cp = data_or_null(c)
        cdef void *wp = data(self.work)
        if self.direct:
            with nogil:
                if self.f64:
                    fr_step_direct_f64(self.c_cells, self.L, <const double *>xp, self.B, <double *>hp,
                                       <double *>cp, <double *>wp)
                else:
                    fr_step_direct_f32(self.c_cells, self.L, <const float *>xp, self.B, <float *>hp,
                                       <float *>cp, <float *>wp)
            return
        plan = fr_plan_step(self.c_cells, self.B, 8 if self.f64 else 4)
        with nogil:
            if self.f64:
                fr_step_stack_f64(self.c_cells, self.L, &plan, <const double *>xp, self.B, <double *>hp,
                                  <double *>cp, <double *>wp)
            else:
                fr_step_stack_f32(self.c_cells, self.L, &plan, <const float *>xp, self.B, <float *>hp,
                                  <float *>cp, <float *>wp)
