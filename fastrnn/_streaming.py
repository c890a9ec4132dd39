"""The streaming step of a recurrent layer, mixed into _RecurrentLayer (fastrnn/_recurrent_layer.py).

step() runs one time step through every layer of a unidirectional stack by a _kernels.StepRunner, whose
workspaces are kept per thread and batch size. Letters as in fastrnn/layers.py: B batch, I input size,
H hidden size, P size of h, L layers.
"""
from __future__ import annotations   # annotations shown as written (help() signatures stay short)

from typing import Any, Generic, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _kernels
from . import _validation as v
from ._sequence_call import State

# Streaming workspaces a thread keeps, one per batch size: stepping with ever new batch sizes drops the oldest,
# so memory stays bounded (each holds a few (B, G) arrays).
_MAX_STEP_RUNNERS = 8


class Streaming(Generic[State]):
    """step() of RNN, LSTM and GRU (see _RecurrentLayer)."""

    def step(self, x_t: ArrayLike, state: Optional[Any] = None) -> Tuple[NDArray[Any], State]:
        """One time step: x_t (B, I) -> (y_t (B, P), state), state as the call's (h (L, B, P), c (L, B, H)).

        Continues exactly where `state` left off (chunked == whole). Unidirectional layers only. The returned
        state is new; the one passed in is not modified. x_t may also be one unbatched row (I,): then y_t is (P,)
        and the state (h (L, P), c (L, H)), which the next unbatched step takes back.
        """
        runner = self._local.__dict__.get("runner")   # this thread's runner of the last batch size stepped
        if runner is not None:
            result = runner.fast_step(x_t, state)
            if result is not None:
                return result
        return self._step_checked(x_t, state)

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
        runners = self._local.__dict__.setdefault("runners", {})
        runner = runners.get(batch)
        if runner is None:
            if len(runners) >= _MAX_STEP_RUNNERS:
                del runners[next(iter(runners))]   # the oldest batch size's
            runner = runners[batch] = _kernels.StepRunner(self._current_cells(), batch, self.params)
        self._local.runner = runner
        return runner
