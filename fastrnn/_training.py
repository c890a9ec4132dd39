"""Training for the recurrent layers: forward_train keeps a tape, backward runs BPTT through the kernels.

Mixed into _RecurrentLayer (fastrnn/_recurrent_layer.py), whose _run, _initial_state, _format_output (from
fastrnn/_sequence_call.py), _cells and grads it uses. Shapes as there: T steps, B batch, P size of h, L layers,
D directions.
"""
import weakref
from typing import Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _kernels
from . import _validation as v


class Trainable:
    """forward_train / backward of a recurrent layer (see _RecurrentLayer)."""

    def forward_train(self, x: ArrayLike, hx: Optional[Any] = None, lengths: Optional[ArrayLike] = None
                      ) -> Tuple[NDArray[Any], Union[NDArray[Any], Tuple[NDArray[Any], NDArray[Any]]], "Tape"]:
        """Like calling the layer, and also returns the tape backward() needs: (out, state, tape).

        Inter-layer dropout (dropout > 0, as torch: on the outputs of every layer but the last) applies here
        only, drawn from the layer's RNG (seeded by the constructor's seed/rng).
        Memory kept per time step and batch row, for each layer and direction: the G gate activations, h before
        the step (P), for LSTM c before the step (H), for GRU W_hn h + b_hn (H), for a projected LSTM
        o tanh(c') (H); plus each layer's input (x, then the previous layer's output) and dropout masks.
        """
        x, unbatched = v.as_input(x, self.dtype, self.input_size, self.batch_first)
        T, B, _ = x.shape
        h, c = self._initial_state(hx, B, unbatched)
        if lengths is not None:
            lengths = v.as_lengths(lengths, B, T)
        tape = Tape(len(self._cells), unbatched)
        out, h, c = self._run(x, h, c, lengths, tape)
        out, state = self._format_output(out, h, c, unbatched)
        tape.out_shape = out.shape
        tape.seal(self)
        return out, state, tape

    def backward(self, tape: "Tape", d_out: ArrayLike, d_state: Optional[Any] = None
                 ) -> Tuple[NDArray[Any], Union[NDArray[Any], Tuple[NDArray[Any], NDArray[Any]]]]:
        """Gradients of a loss L given dL/d(out) and dL/d(final state), for the forward_train that made tape.

        d_out has the shape of that call's out; d_state the structure of its state (None = zeros).
        Returns (dx, dhx): dL/dx shaped like x, and dL/d(initial state) shaped like hx ((dh0, dc0) for LSTM).
        Parameter gradients are ADDED to self.grads (keyed like state_dict()); clear them with zero_grad().
        Concurrent backward calls on one layer are safe: they add into self.grads one after the other.
        """
        if not isinstance(tape, Tape):
            raise TypeError("tape must be the third value returned by this layer's forward_train; got "
                            f"{type(tape).__name__}")
        tape.check(self)
        self._check_grads()
        d_out = v.to_numpy(d_out, "d_out", self.dtype)
        v.check_shape(d_out, "d_out", tape.out_shape, "out.shape")
        d_out = self._unmerge(self._internal_layout(v.as_float_array(d_out, "d_out", self.dtype, "out.shape"),
                                                    tape.unbatched), tape)
        B = d_out.shape[1]
        dh, dc = self._initial_state(d_state, B, tape.unbatched)
        if tape.order is not None:
            d_out, dh, dc = take_rows(tape.order, d_out, dh, dc)
        with self._grad_lock:   # one call at a time adds into self.grads, as torch accumulates under a lock
            d_out = self._backward_layers(tape, d_out, dh, dc)
        if tape.order is not None:
            d_out, dh, dc = take_rows(np.argsort(tape.order), d_out, dh, dc)
        if tape.unbatched:
            d_out, dh = d_out[:, 0], dh[:, 0]
            dc = None if dc is None else dc[:, 0]
        elif self.batch_first:
            d_out = np.ascontiguousarray(d_out.transpose(1, 0, 2))
        return d_out, (dh if dc is None else (dh, dc))

    def _backward_layers(self, tape, d_out, dh, dc):
        """From the last layer to the first: d_out (T, B, D*P) -> dL/dx (T, B, I), returned; dh (L*D, B, P) and
        dc (L*D, B, H) INOUT: dL/d(final state) in, dL/d(initial state) out. Adds into self.grads."""
        D, P = self.num_directions, self.output_size
        cells = self._current_cells()
        for layer in reversed(range(self.num_layers)):
            layer_input = tape.inputs[layer]
            d_in = np.zeros_like(layer_input)
            for d in range(D):
                k = layer * D + d
                _kernels.backward_direction(cells[k], tape.cells[k], layer_input, d_out, d * P, dh[k],
                                            None if dc is None else dc[k], tape.batch_sizes, d == 1, d_in,
                                            self._cell_grads(k))
            if tape.masks[layer] is not None:
                d_in *= tape.masks[layer]
            d_out = d_in
        return d_out

    def _check_grads(self):
        """Every gradient array is one backward may add into: the parameter's shape and dtype, C-contiguous and
        writeable (a user may have replaced one)."""
        for name, p in self.params.items():
            g = self.grads.get(name)
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype \
                    or not g.flags.c_contiguous or not g.flags.writeable:
                got = (f"{g.dtype} {g.shape}{'' if g.flags.writeable else ', read-only'}"
                       f"{'' if g.flags.c_contiguous else ', not C-contiguous'}"
                       if isinstance(g, np.ndarray) else type(g).__name__)
                raise ValueError(f"grads[{name!r}] must be a writeable C-contiguous {p.dtype} array of shape "
                                 f"{p.shape}; got {got}")

    def _cell_grads(self, k):
        """The gradient arrays of cell k (layer k // D, direction k % D) under backward_direction's names."""
        sfx = self._suffixes(k // self.num_directions)[k % self.num_directions]
        names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
                 "w_hr": "weight_hr", "peep": "weight_peephole"}
        return {short: self.grads[name + sfx] for short, name in names.items() if name + sfx in self.grads}

    def _internal_layout(self, d_out, unbatched):
        """A gradient shaped like the user-facing out, as time-major (T, B, .)."""
        if unbatched:
            return d_out[:, None, :]
        return np.ascontiguousarray(d_out.transpose(1, 0, 2)) if self.batch_first else d_out

    def _unmerge(self, d_out, tape):
        """dL/d(merged out) -> dL/d(concatenated directions) (T, B, D*P)."""
        if self.num_directions == 1 or self.merge_mode == "concat":
            return d_out
        if self.merge_mode == "sum":
            return np.concatenate([d_out, d_out], axis=2)
        if self.merge_mode == "mean":
            half = d_out * self.dtype.type(0.5)
            return np.concatenate([half, half], axis=2)
        P = self.output_size
        out = tape.last_output_user_order()
        return np.concatenate([d_out * out[..., P:], d_out * out[..., :P]], axis=2)


def _fingerprints(params):
    """{name: fingerprint of the array's bytes}: one read of every parameter (the arrays are C-contiguous: the
    layer's cells check it on every call)."""
    return {name: _kernels.fingerprint(a) for name, a in params.items()}


def take_rows(order, *arrays):
    """The arrays (T or L*D, B, .) with their batch rows in `order` (C-contiguous copies); None stays None."""
    return tuple(None if a is None else np.take(a, order, axis=1) for a in arrays)


class Tape:
    """What forward_train keeps for backward (see forward_train's docstring for its size)."""

    def __init__(self, n_cells, unbatched):
        self.cells = [{} for _ in range(n_cells)]   # per (layer, direction): filled by forward_direction
        self.inputs = []                             # per layer: its input (T, B, I_l), after dropout
        self.masks = []                              # per layer: dropout mask scaled by 1/(1-p), or None
        self.unbatched = unbatched
        self.order = self.batch_sizes = self.last_output = self.out_shape = None

    def record_input(self, layer, layer_input, p, rng):
        """Keep the layer's input, applying inverted dropout between layers; returns what the layer sees."""
        mask = None
        if layer > 0 and p > 0:
            keep = rng.random(layer_input.shape) >= p
            mask = keep.astype(layer_input.dtype) / layer_input.dtype.type(1 - p)
            layer_input = layer_input * mask
        self.masks.append(mask)
        self.inputs.append(layer_input)
        return layer_input

    def finish(self, order, batch_sizes, last_output):
        self.order, self.batch_sizes, self.last_output = order, batch_sizes, last_output

    def seal(self, layer):
        """Fix what backward trusts: the layer that made the tape, the options that shape d_out, and the layout
        of every array the tape holds; the row-index arrays (batch_sizes, order) become read-only."""
        for index in (self.batch_sizes, self.order):
            if index is not None:
                index.flags.writeable = False
        self._owner = weakref.ref(layer)
        self._cells_used = layer._cells   # rebuilt by the layer when a parameter array is replaced
        self._weights = _fingerprints(layer.params)   # in-place changes (torch's version counters' job)
        self._options = (layer.batch_first, layer.merge_mode)
        self._layout = self._describe()

    def check(self, layer):
        """Raise unless the tape is as `layer`'s forward_train left it (the kernels index by its contents):
        TypeError for another layer's tape, ValueError for a modified one."""
        if getattr(self, "_owner", lambda: None)() is not layer:
            raise TypeError("tape must be the third value returned by this layer's forward_train; this one was "
                            "made by another layer")
        if layer._current_cells() is not self._cells_used:
            raise ValueError("a parameter array of the layer was replaced (params[name] = ...) since forward_train: "
                             "the tape holds activations of the old weights; run forward_train again")
        changed = [name for name, f in _fingerprints(layer.params).items() if f != self._weights.get(name)]
        if changed:
            raise ValueError(f"params[{changed[0]!r}] was changed in place since forward_train (an optimizer step "
                             f"before backward?): the tape holds activations of the old values, so the gradients "
                             f"would be wrong; run forward_train again (torch raises for the same)")
        if self._options != (layer.batch_first, layer.merge_mode):
            raise ValueError(f"the layer's (batch_first, merge_mode) changed from {self._options} to "
                             f"{(layer.batch_first, layer.merge_mode)} since forward_train; run forward_train again")
        layout = self._describe()
        if layout != self._layout:
            changed = next(path for (path, now), (_, then) in zip(layout, self._layout) if now != then) \
                if len(layout) == len(self._layout) else "its set of attributes"
            raise ValueError(f"tape was modified after forward_train ({changed}); run forward_train again")
        B = self.inputs[0].shape[1]
        sizes = self.batch_sizes
        if sizes.size and (sizes.min() < 0 or sizes.max() > B or np.any(np.diff(sizes) > 0)):
            raise ValueError(f"tape.batch_sizes was modified after forward_train: it must be non-increasing "
                             f"in [0, B = {B}]")
        if self.order is not None and not np.array_equal(np.sort(self.order), np.arange(B)):
            raise ValueError(f"tape.order was modified after forward_train: it must be a permutation of "
                             f"range(B = {B})")

    def _describe(self):
        """[(path, layout)] of everything the tape holds: arrays by identity, dtype, shape, strides, address and
        contiguity; other values by repr."""
        found = []

        def visit(path, value):
            if isinstance(value, np.ndarray):
                found.append((path, (id(value), value.dtype.str, value.shape, value.strides, value.ctypes.data,
                                     value.flags.c_contiguous)))
            elif isinstance(value, (list, tuple)):
                found.append((path, (type(value).__name__, len(value))))
                for i, item in enumerate(value):
                    visit(f"{path}[{i}]", item)
            elif isinstance(value, dict):
                found.append((path, ("dict", tuple(value))))
                for key, item in value.items():
                    visit(f"{path}[{key!r}]", item)
            else:
                found.append((path, repr(value)))

        for name, value in sorted(vars(self).items()):
            if name not in ("_owner", "_cells_used", "_options", "_layout", "_weights"):
                visit(f"tape.{name}", value)
        return found

    def last_output_user_order(self):
        """The last layer's unmerged output (T, B, D*P) in the caller's batch order."""
        if self.order is None:
            return self.last_output
        return np.take(self.last_output, np.argsort(self.order), axis=1)
