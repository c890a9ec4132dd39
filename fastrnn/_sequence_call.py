"""The call of a recurrent layer on a whole sequence, mixed into _RecurrentLayer (fastrnn/_recurrent_layer.py).

Validation and layout of x and the initial state, lengths, the loop over layers x directions (each running its
whole time loop in fastrnn._kernels), the merge of the two directions, and the output's layout.
Letters as in fastrnn/layers.py: T steps, B batch, I input size, H hidden size, P size of h, L layers, D directions.
"""
from __future__ import annotations   # annotations shown as written (help() signatures stay short)

from typing import Any, Generic, Optional, Tuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _kernels
from . import _validation as v
from ._training import take_rows

# The state a layer returns: h (L*D, B, P) for RNN and GRU, the pair (h, c) for LSTM (each class fixes it)
State = TypeVar("State")


class SequenceCall(Generic[State]):
    """The sequence call of RNN, LSTM and GRU (see _RecurrentLayer), and the state handling step() shares."""

    def __call__(self, x: ArrayLike, hx: Optional[Any] = None,
                 lengths: Optional[ArrayLike] = None) -> Tuple[NDArray[Any], State]:
        """Run the whole sequence. See the class docstring for shapes; returns (out, state)."""
        x, unbatched = v.as_input(x, self.dtype, self.input_size, self.batch_first)
        T, B, _ = x.shape
        h, c = self._initial_state(hx, B, unbatched)
        if lengths is not None:
            lengths = v.as_lengths(lengths, B, T)
        out, h, c = self._run(x, h, c, lengths)
        self._check_overflow(out, x)
        return self._format_output(out, h, c, unbatched)

    def _check_overflow(self, out, x):
        """Finite input whose products overflow (|x| near the dtype's largest value) gives NaN: refuse it."""
        if not _kernels.all_finite(out):
            raise ValueError(f"the output is not finite although x and the state are: a product overflowed "
                             f"{self.dtype} (max |x| = {np.abs(x).max():.4g}); scale the input down")

    def _initial_state(self, hx, B, unbatched):
        """(h0 (L*D, B, P), c0 (L*D, B, H) or None) as fresh arrays the kernels may update in place."""
        LD, P, H = self.num_layers * self.num_directions, self.output_size, self.hidden_size
        c_shape = (LD, B, H) if self._mode == "LSTM" else None
        if hx is None:
            return np.zeros((LD, B, P), self.dtype), None if c_shape is None else np.zeros(c_shape, self.dtype)
        if self._mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx of an LSTM must be None or a tuple (h0, c0); got {type(hx).__name__}")
            h0, c0 = hx
            return (v.as_state(h0, "h0", (LD, B, P), "(L*D, B, P)", self.dtype, unbatched),
                    v.as_state(c0, "c0", c_shape, "(L*D, B, H)", self.dtype, unbatched))
        return v.as_state(hx, "h0", (LD, B, P), "(L*D, B, H)", self.dtype, unbatched), None

    def _run(self, x, h, c, lengths, tape=None):
        """x (T, B, I) -> out (T, B, D*P) of the last layer (unmerged), h, c final states; updates h, c.

        With a Tape, also records what backward needs (and applies inter-layer dropout).
        """
        T, B, _ = x.shape
        D, P = self.num_directions, self.output_size
        v.check_fits_memory(T * B * D * P * self.dtype.itemsize * min(self.num_layers, 2),
                            f"the output of {T} steps of {B} rows (and the previous layer's)")
        if lengths is None:
            order = None
            batch_sizes = np.full(T, B, np.intp)
        else:
            order = np.argsort(-lengths, kind="stable")   # longest first: active rows form a prefix
            batch_sizes = B - np.cumsum(np.bincount(lengths, minlength=T + 1))[:T]
            x, h, c = take_rows(order, x, h, c)
        layer_input = x
        cells = self._current_cells()
        for layer in range(self.num_layers):
            if tape is not None:
                layer_input = tape.record_input(layer, layer_input, self.dropout if self.training else 0.0,
                                                self._dropout_rng)
            out = (np.empty if order is None else np.zeros)((T, B, D * P), self.dtype)
            k = layer * D
            _kernels.run_directions(cells[k:k + D], layer_input, h[k:k + D], None if c is None else c[k:k + D],
                                    batch_sizes, out, None if tape is None else tape.cells[k:k + D])
            layer_input = out
        if tape is not None:
            tape.finish(order, batch_sizes, layer_input)
        if order is not None:
            layer_input, h, c = take_rows(np.argsort(order), layer_input, h, c)
        return layer_input, h, c

    def _merge(self, out):
        """Merge the two directions' halves of out (T, B, 2P) by merge_mode."""
        if self.num_directions == 1 or self.merge_mode == "concat":
            return out
        P = self.output_size
        fwd, bwd = out[..., :P], out[..., P:]
        if self.merge_mode == "sum":
            return fwd + bwd
        if self.merge_mode == "mean":
            return (fwd + bwd) * self.dtype.type(0.5)
        return fwd * bwd

    def _format_output(self, out, h, c, unbatched):
        out = self._merge(out)
        if unbatched:
            out, h = out[:, 0], h[:, 0]
            c = None if c is None else c[:, 0]
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return out, (h if c is None else (h, c))
