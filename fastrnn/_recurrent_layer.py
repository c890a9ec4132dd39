"""The base class of RNN, LSTM and GRU (fastrnn/layers.py): construction, fixed and checked attributes, the
parameters under torch's state-dict names, the kernel cells built on them, the from_* constructors, pickling
and repr. The sequence call is mixed in from fastrnn/_sequence_call.py, step() from fastrnn/_streaming.py and
training from fastrnn/_training.py.

Letters as in fastrnn/layers.py: I input size, H hidden size, P size of h, G gate rows, L layers, D directions.
"""
from __future__ import annotations   # annotations shown as written (help() signatures stay short)

import threading
from typing import Any, Generic, Mapping, Type, TypeVar

import numpy as np

from . import _kernels
from . import _validation as v
from ._module import Module
from ._sequence_call import SequenceCall, State
from ._streaming import Streaming
from ._training import Trainable

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
Layer = TypeVar("Layer", bound="_RecurrentLayer[Any]")
# Bytes a NumPy array costs beyond its data (object header, dict slot): counted when sizing a layer up front.
_ARRAY_OVERHEAD_BYTES = 128


class _RecurrentLayer(Module, Trainable, SequenceCall[State], Streaming[State], Generic[State]):
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
        self._local = _kernels.StepRunners()
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
                self._local = _kernels.StepRunners()
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

    # -------------------------------------------------------------------------------- pickling, dtype, repr
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
        self._local = _kernels.StepRunners()

    def _expected_specs(self):
        dtype = v.as_dtype(self.dtype)
        return {name: (shape, dtype) for name, shape in self._param_shapes().items()}

    def __setstate__(self, state):
        super().__setstate__(state)
        self._cells = self._build_cells()
        self._local = _kernels.StepRunners()
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
