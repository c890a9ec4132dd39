"""RNN, LSTM and GRU layers: torch's constructor signatures, shapes, parameter names and formulas.

Letters: T steps, B batch, I input size, H hidden size, P = proj_size or H (size of h), L layers, D directions.
The layer holds its parameters under torch's state-dict names, validates input, and loops over layers x
directions; each (layer, direction) runs its whole time loop in fastrnn._kernels with the GIL released.

Formulas (torch's; gate rows in torch's order, so torch weights load without reordering):
  RNN   h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu
  LSTM  rows [i, f, g, o]: i = s(a_i + p_i c), f = s(a_f + p_f c), g = tanh(a_g), c' = f c + i g,
        o = s(a_o + p_o c'), h' = o tanh(c'); with a = W_ih x + b_ih + W_hh h + b_hh, s = sigmoid,
        p = peepholes (peephole=True only), and with proj_size > 0: h' = W_hr (o tanh(c'))
  GRU   rows [r, z, n]: r = s(W_ir x + b_ir + W_hr h + b_hr), z = s(W_iz x + b_iz + W_hz h + b_hz),
        linear_before_reset=True (torch):  n = tanh(W_in x + b_in + r (W_hn h + b_hn))
        linear_before_reset=False (Cho):   n = tanh(W_in x + b_in + W_hn (r h) + b_hn)
        h' = (1 - z) n + z h
"""
from __future__ import annotations   # annotations shown as written (help() signatures stay short)

import threading
from typing import Any, Generic, Mapping, Optional, Tuple, Type, TypeVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _kernels, _layer_docs
from . import _validation as v
from ._module import Module
from ._training import Trainable, take_rows

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
# rng value of the from_* constructors: no random init, every parameter is loaded right after (strict)
_NO_INIT = object()
# Attributes that fix the parameter shapes and kernels: set once by the constructor, never reassigned.
_FIXED_ATTRIBUTES = frozenset({"input_size", "hidden_size", "num_layers", "proj_size", "bias", "bidirectional",
                               "peephole", "nonlinearity", "linear_before_reset", "dtype", "params", "grads"})
# Attributes a user may reassign after construction, each with its check.
_CHECKED_ATTRIBUTES = {
    "batch_first": bool,
    "merge_mode": lambda value: v.check_choice(value, "merge_mode", v.MERGE_MODES),
    "dropout": lambda value: v.as_probability(value, "dropout"),
}
# The state a layer returns: h (L*D, B, P) for RNN and GRU, the pair (h, c) for LSTM (each class fixes it)
State = TypeVar("State")
Layer = TypeVar("Layer", bound="_RecurrentLayer[Any]")
# Bytes a NumPy array costs beyond its data (object header, dict slot): counted when sizing a layer up front.
_ARRAY_OVERHEAD_BYTES = 128
# Streaming workspaces a thread keeps, one per batch size: stepping with ever new batch sizes drops the oldest,
# so memory stays bounded (each holds a few (B, G) arrays).
_MAX_STEP_RUNNERS = 8


class _RecurrentLayer(Module, Trainable, Generic[State]):
    """Shared machinery of RNN, LSTM and GRU; use those classes."""

    _mode = None  # "RNN", "LSTM" or "GRU"

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                 dtype, merge_mode, *, proj_size=0, peephole=False, nonlinearity="tanh", linear_before_reset=True,
                 seed=None, rng=None):
        v.check_device(device)
        self.input_size = v.as_positive_int(input_size, "input_size")
        self.hidden_size = v.as_positive_int(hidden_size, "hidden_size")
        self.num_layers = v.as_positive_int(num_layers, "num_layers")
        self.proj_size = v.as_positive_int(proj_size, "proj_size", minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size = {self.hidden_size}; "
                             f"got {self.proj_size}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.peephole = bool(peephole)
        self.nonlinearity = v.check_choice(nonlinearity, "nonlinearity", ("tanh", "relu"))
        self.linear_before_reset = bool(linear_before_reset)
        self.merge_mode = v.check_choice(merge_mode, "merge_mode", v.MERGE_MODES)
        self.dtype = v.as_dtype(dtype)
        self.dropout = dropout
        self._check_size()
        rng = rng if rng is _NO_INIT else v.as_rng(seed, rng)
        super().__init__(self._init_params(rng))
        self._dropout_rng = v.as_rng(seed, None) if rng is _NO_INIT else rng
        self._cells = self._build_cells()
        self._local = threading.local()
        self._grad_lock = threading.Lock()

    def __setattr__(self, name, value):
        if name in _FIXED_ATTRIBUTES and name in self.__dict__:
            raise AttributeError(f"{name} is fixed once the layer is built (it sets the parameter shapes and "
                                 f"kernels); build a new {type(self).__name__} instead")
        check = _CHECKED_ATTRIBUTES.get(name)
        super().__setattr__(name, value if check is None else check(value))

    def __delattr__(self, name):
        if name in _FIXED_ATTRIBUTES or name in _CHECKED_ATTRIBUTES:
            raise AttributeError(f"{name} cannot be deleted from a {type(self).__name__}")
        super().__delattr__(name)

    def _check_size(self):
        """Refuse, before allocating anything, a layer whose parameters cannot fit in this machine's memory."""
        G, H, P, D = _GATES[self._mode] * self.hidden_size, self.hidden_size, self.output_size, self.num_directions
        per_direction = G * P + (2 * G if self.bias else 0) + (P * H if self.proj_size else 0) + \
            (3 * H if self.peephole else 0)
        values = D * (G * self.input_size + per_direction) + \
            (self.num_layers - 1) * D * (G * D * P + per_direction)
        arrays = self.num_layers * D * (2 + 2 * self.bias + bool(self.proj_size) + self.peephole)
        needed = values * self.dtype.itemsize + arrays * _ARRAY_OVERHEAD_BYTES
        available = v.physical_memory_bytes()
        if needed > available:
            raise ValueError(f"{type(self).__name__}({self.input_size}, {self.hidden_size}, num_layers="
                             f"{self.num_layers}) needs {values:,} parameters in {arrays:,} arrays, about "
                             f"{needed / 2**30:,.1f} GiB, more than this machine's {available / 2**30:.1f} GiB "
                             f"of memory")

    # ----------------------------------------------------------------------------------------------- config
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """P: the size of h (proj_size when projecting, else hidden_size)."""
        return self.proj_size or self.hidden_size

    def _kernel_mode(self):
        if self._mode == "LSTM":
            return _kernels.LSTM
        if self._mode == "GRU":
            return _kernels.GRU if self.linear_before_reset else _kernels.GRU_RB
        return _kernels.RNN_RELU if self.nonlinearity == "relu" else _kernels.RNN_TANH

    def _param_shapes(self):
        """{torch name: shape} in torch's state-dict order (+ peepholes last in each direction)."""
        G, H, P, D = _GATES[self._mode] * self.hidden_size, self.hidden_size, self.output_size, self.num_directions
        shapes = {}
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else D * P
            for sfx in self._suffixes(layer):
                shapes[f"weight_ih{sfx}"] = (G, in_size)
                shapes[f"weight_hh{sfx}"] = (G, P)
                if self.bias:
                    shapes[f"bias_ih{sfx}"] = (G,)
                    shapes[f"bias_hh{sfx}"] = (G,)
                if self.proj_size:
                    shapes[f"weight_hr{sfx}"] = (P, H)
                if self.peephole:
                    shapes[f"weight_peephole{sfx}"] = (3, H)
        return shapes

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.num_directions]

    def _init_params(self, rng):
        """torch's init: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)] (uninitialised for _NO_INIT)."""
        if rng is _NO_INIT:
            return {name: np.empty(shape, self.dtype) for name, shape in self._param_shapes().items()}
        bound = 1.0 / np.sqrt(self.hidden_size)
        return {name: rng.uniform(-bound, bound, shape).astype(self.dtype)
                for name, shape in self._param_shapes().items()}

    def _build_cells(self):
        """One _kernels.Cell per (layer, direction), in the order of h_n's first axis, on the current params.

        Every parameter array must be a C-contiguous array of the layer's dtype and of its shape: anything else
        (an array replaced by one of another shape or dtype, a reshaped or resized one) raises ValueError naming it.
        """
        shapes = self._param_shapes()
        for name, shape in shapes.items():
            a = self.params.get(name)
            if not (isinstance(a, np.ndarray) and a.shape == shape and a.dtype == self.dtype
                    and a.flags.c_contiguous):
                got = "missing" if a is None else f"{getattr(a, 'dtype', type(a).__name__)} " \
                    f"{getattr(a, 'shape', '')}"
                raise ValueError(f"params[{name!r}] must be a C-contiguous {self.dtype} array of shape {shape}; "
                                 f"got {got}")
        cells = []
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                names = tuple(name + sfx if name + sfx in shapes else None for name in
                              ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "weight_peephole"))
                cells.append(_kernels.Cell(self._kernel_mode(), self.params, names))
        return cells

    def _current_cells(self):
        """The cells, rebuilt (and the streaming runners dropped) when a parameter array was replaced, moved or
        reshaped since they were built. In-place changes of values need nothing: the kernels read the arrays
        themselves, and packed copies check a fingerprint of their source on every call."""
        cells = self._cells
        params = self.params
        for cell in cells:
            if not cell.is_current(params):
                self._cells = cells = self._build_cells()
                self._local = threading.local()
                break
        return cells

    # ------------------------------------------------------------------------------------------- parameters
    @classmethod
    def from_torch(cls: Type[Layer], module: Any) -> Layer:
        """A layer with the configuration and weights of a live torch.nn.{RNN, LSTM, GRU} (or its Cell)."""
        torch_name = type(module).__name__
        if torch_name not in (cls._mode, cls._mode + "Cell") or not hasattr(module, "state_dict"):
            raise TypeError(f"{cls.__name__}.from_torch needs a torch.nn.{cls._mode} or {cls._mode}Cell; "
                            f"got {torch_name}")
        state = module.state_dict()
        dtype = np.float64 if any(str(t.dtype) == "torch.float64" for t in state.values()) else np.float32
        if torch_name.endswith("Cell"):
            extra = {"nonlinearity": module.nonlinearity} if cls._mode == "RNN" else {}
            return cls.from_state_dict(state, dtype=dtype, **extra)
        options = dict(num_layers=module.num_layers, bias=module.bias, batch_first=module.batch_first,
                       bidirectional=module.bidirectional, dtype=dtype, dropout=module.dropout)
        if cls._mode == "LSTM":
            options["proj_size"] = module.proj_size
        if cls._mode == "RNN":
            options["nonlinearity"] = module.nonlinearity
        layer = cls(module.input_size, module.hidden_size, **{"rng": _NO_INIT, **options})
        layer.load_state_dict(state)
        return layer

    @classmethod
    def from_state_dict(cls: Type[Layer], state_dict: Mapping[str, Any], prefix: str = "", **options: Any) -> Layer:
        """A layer built from a (whole-model) state dict: sizes, num_layers, bidirectional, bias, proj_size and
        peephole are inferred from the keys and shapes under `prefix` (e.g. "encoder.lstm."); torch cell modules
        (LSTMCell/GRUCell/RNNCell: weight_ih, weight_hh, ...) give a one-layer layer. Options not stored in
        weights (batch_first, nonlinearity, linear_before_reset, merge_mode, ...) are keyword arguments; dtype
        defaults to float64 when the weights are float64, else float32.
        """
        from .io.infer import config_from_state_dict
        from .quant.layers import from_quantized_state_dict, holds_quantized
        if holds_quantized(state_dict, prefix):   # int8 / bfloat16 / float16 weights: a quantized layer
            return from_quantized_state_dict(cls._mode, state_dict, prefix, **options)
        kwargs, weights = config_from_state_dict(state_dict, prefix=prefix, mode=cls._mode)
        if "dtype" not in options:   # float64 weights make a float64 layer; anything else float32
            options["dtype"] = np.float64 if any(w.dtype == np.float64 for w in weights.values()) else np.float32
        layer = cls(**kwargs, **{"rng": _NO_INIT, **options})
        layer.load_state_dict(weights)
        return layer

    # -------------------------------------------------------------------------------------------- forward
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
            if D == 2 and _kernels.directions_at_once(cells[k], T, B):
                _kernels.forward_pair(cells[k:k + 2], layer_input, h[k:k + 2], None if c is None else c[k:k + 2],
                                      batch_sizes, out, None if tape is None else tape.cells[k:k + 2])
            else:
                for d in range(D):
                    _kernels.forward_direction(cells[k + d], layer_input, h[k + d], None if c is None else c[k + d],
                                               batch_sizes, d == 1, out, d * P,
                                               None if tape is None else tape.cells[k + d])
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

    # ------------------------------------------------------------------------------------------ streaming
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

    def __getstate__(self):
        """Pickle support: configuration, parameters, non-zero gradients and RNG; kernels' views are rebuilt on
        load, and gradients left out are zeros again."""
        state = super().__getstate__()
        del state["_cells"], state["_local"], state["_grad_lock"]
        return state

    def _to_dtype(self, dtype):
        """float(), double(), to(dtype): the parameters converted in place, the kernels rebuilt for them."""
        super()._to_dtype(dtype)
        self._cells = self._build_cells()
        self._local = threading.local()

    def _expected_specs(self):
        dtype = v.as_dtype(self.dtype)
        return {name: (shape, dtype) for name, shape in self._param_shapes().items()}

    def __setstate__(self, state):
        super().__setstate__(state)
        self._cells = self._build_cells()
        self._local = threading.local()
        self._grad_lock = threading.Lock()

    def __repr__(self):
        """torch's repr (its arguments in its order, defaults left out), then fastrnn's own options."""
        extra = "".join(f", {name}={_repr_value(getattr(self, name))}" for name, default in self._repr_options()
                        if getattr(self, name) != default)
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    def _repr_options(self):
        """(name, default) in torch's extra_repr order, then fastrnn's options; subclasses add theirs."""
        return [("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                ("bidirectional", False), ("merge_mode", "concat"), ("dtype", np.dtype(np.float32))]


def _repr_value(value):
    return f"np.{value}" if isinstance(value, np.dtype) else repr(value)


class RNN(_RecurrentLayer[NDArray[Any]]):
    __doc__ = _layer_docs.RNN

    _mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Optional[Any] = None, dtype: DTypeLike = np.float32, *, merge_mode: str = "concat",
                 seed: Optional[int] = None, rng: Optional[np.random.Generator] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, merge_mode, nonlinearity=nonlinearity, seed=seed, rng=rng)

    def _repr_options(self):
        options = super()._repr_options()
        return options[:1] + [("nonlinearity", "tanh")] + options[1:]   # torch's argument order


class LSTM(_RecurrentLayer[Tuple[NDArray[Any], NDArray[Any]]]):
    __doc__ = _layer_docs.LSTM

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Optional[Any] = None, dtype: DTypeLike = np.float32, *, peephole: bool = False,
                 merge_mode: str = "concat", seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, merge_mode, proj_size=proj_size, peephole=peephole, seed=seed, rng=rng)

    def _repr_options(self):
        return [("proj_size", 0)] + super()._repr_options() + [("peephole", False)]

    @classmethod
    def from_keras(cls: Type[Layer], kernel: Any, recurrent_kernel: Optional[ArrayLike] = None,
                   bias: Optional[ArrayLike] = None, **options: Any) -> Layer:
        """A one-layer LSTM computing what keras.layers.LSTM computes with these weights (gates i, f, c, o;
        kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None), or with those of a built Keras LSTM
        layer passed alone: from_keras(keras_layer). Batch-first like Keras (batch_first=False to change).
        Default activations only."""
        from .io.keras import lstm_from_keras
        kwargs, weights = lstm_from_keras(kernel, recurrent_kernel, bias)
        layer = cls(**{"batch_first": True, **kwargs, "rng": _NO_INIT, **options})
        layer.load_state_dict(weights)
        return layer


class GRU(_RecurrentLayer[NDArray[Any]]):
    __doc__ = _layer_docs.GRU

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Optional[Any] = None, dtype: DTypeLike = np.float32, *, linear_before_reset: bool = True,
                 merge_mode: str = "concat", seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, merge_mode, linear_before_reset=linear_before_reset, seed=seed, rng=rng)

    def _repr_options(self):
        return super()._repr_options() + [("linear_before_reset", True)]

    @classmethod
    def from_keras(cls: Type[Layer], kernel: Any, recurrent_kernel: Optional[ArrayLike] = None,
                   bias: Optional[ArrayLike] = None, reset_after: Optional[bool] = None,
                   **options: Any) -> Layer:
        """A one-layer GRU computing what keras.layers.GRU computes with these weights (gates z, r, h;
        kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) when reset_after else (3H,), or None), or with
        those of a built Keras GRU layer passed alone: from_keras(keras_layer) (its reset_after is used).
        reset_after=True (the default for arrays) is torch's linear_before_reset formula, False Cho et al.'s
        reset-before one. Batch-first like Keras (batch_first=False to change)."""
        from .io.keras import gru_from_keras
        kwargs, weights = gru_from_keras(kernel, recurrent_kernel, bias, reset_after=reset_after)
        layer = cls(**{"batch_first": True, **kwargs, "rng": _NO_INIT, **options})
        layer.load_state_dict(weights)
        return layer
