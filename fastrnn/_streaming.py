"""The streaming step of a recurrent layer, mixed into _RecurrentLayer (fastrnn/_recurrent_layer.py).

step() is _kernels.layer_step (fastrnn/_step.pxi): exactly-typed input on unchanged parameter arrays takes one
compiled call through this thread's _kernels.StepRunner, whose workspaces are kept per thread and batch size in
the layer's _kernels.StepRunners; everything else comes here, to _step_checked. Letters as in fastrnn/layers.py:
B batch, I input size, H hidden size, P size of h, L layers.
"""
from __future__ import annotations   # annotations shown as written (help() signatures stay short)

from typing import TYPE_CHECKING, Any, Generic, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _kernels
from . import _validation as v
from ._sequence_call import State


class Streaming(Generic[State]):
    """step() of RNN, LSTM and GRU (see _RecurrentLayer)."""

    if TYPE_CHECKING:
        def step(self, x_t: ArrayLike, state: Optional[Any] = None) -> Tuple[NDArray[Any], State]:
            """See _kernels.layer_step."""
    else:
        step = _kernels.layer_step   # a compiled function: no Python frame on the fast path

    def _step_checked(self, x_t, state):
        """step() with every input validated and converted (the fast path's fallback)."""
        if self.bidirectional:
            raise ValueError("step() advances one time step forward; a bidirectional layer needs the whole "
                             "sequence: call the layer on it instead")
        x = self._step_input(x_t)
        self._current_cells()
        B = x.shape[0]
        unbatched = np.ndim(x_t) == 1   # one row (I,): states are (L, P) and (L, H), as this returns them
        h, c = self._initial_state(state, B, unbatched)
        self._runner(B).step(x, h, c)
        y = h[-1].copy()
        self._check_overflow(y, x)
        if unbatched:
            return y[0], (h[:, 0] if c is None else (h[:, 0], c[:, 0]))
        return y, (h if c is None else (h, c))

    def _step_input(self, x_t):
        given = v.to_numpy(x_t, "x_t", self.dtype)
        arr = given[None, :] if given.ndim == 1 else given
        if arr.ndim != 2 or arr.shape[1] != self.input_size:
            raise ValueError(f"x_t has shape {given.shape}; expected (B, I) or one row (I,) with I = input_size = "
                             f"{self.input_size}")
        return v.as_float_array(arr, "x_t", self.dtype, "(B, I)")

    def _runner(self, batch):
        """This thread's StepRunner for this batch size (workspaces are per thread: calls may run concurrently);
        it becomes the thread's runner that step() tries first."""
        runner = self._local.get(batch)
        if runner is None:
            runner = _kernels.StepRunner(self._current_cells(), batch, self.params)
        self._local.use(batch, runner)
        return runner
