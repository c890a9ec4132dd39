"""Torch-shaped cells: one time step with states (B, H), exactly as torch.nn.LSTMCell, GRUCell and RNNCell.

    cell = fastrnn.LSTMCell(I, H)            # or LSTMCell.from_torch(torch_cell) / .from_state_dict(sd, "cell.")
    h, c = cell(x, (h, c))                    # x (B, I), h and c (B, H) -> (h', c') (B, H)
    h = fastrnn.GRUCell(I, H)(x, h)           # GRUCell and RNNCell: h -> h'
    h = cell(x)                               # hx=None: zero states; x (I,) with states (H,) is one unbatched row

Parameters under torch's cell names: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh (G*H,), gate
rows in torch's order (G = 4 [i, f, g, o], 3 [r, z, n], 1). A cell runs one step of a one-layer fastrnn layer
(its public `step`), so the formulas are those of fastrnn.LSTM, GRU and RNN. The states passed in are never
modified; the returned ones are new arrays.
"""
from typing import Any, Mapping, Optional, Tuple, Type, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _kernels
from .. import _validation as v
from .._module import Module
from ..io.errors import FormatError
from ..layers import _NO_INIT, GRU, LSTM, RNN
from .aliased_params import AliasedParams
from .state_dict import dtype_of, load_weights, weights_under

Cell = TypeVar("Cell", bound="_Cell")
_CELL_WEIGHTS = ("weight_ih", "weight_hh")
_CELL_BIASES = ("bias_ih", "bias_hh")


class _Cell(Module):
    """Shared machinery of LSTMCell, GRUCell and RNNCell; use those classes."""

    _fixed = frozenset({"_layer", "params", "grads"})

    _layer_class = None   # fastrnn.LSTM, GRU or RNN

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Optional[Any] = None,
                 dtype: Optional[DTypeLike] = None, *, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None, **layer_options: Any) -> None:
        """torch's arguments (dtype None: float32); seed or rng draw torch's uniform init."""
        self._layer = self._layer_class(input_size, hidden_size, bias=bias, device=device,
                                        dtype=np.float32 if dtype is None else dtype, seed=seed, rng=rng,
                                        **layer_options)
        # the layer's own arrays under the cell's names (weight_ih_l0 -> weight_ih), read and assigned through
        super().__init__(AliasedParams(self, {name[:-len("_l0")]: ("_layer", name) for name in self._layer.params}))

    def _expected_specs(self):
        """The one-layer layer's parameters (checked when it was unpickled) under the cell's names."""
        layer = self.__dict__.get("_layer")
        if type(layer) is not self._layer_class or layer.num_layers != 1 or layer.bidirectional:
            raise ValueError(f"unpickled {type(self).__name__} state must hold a one-layer unidirectional "
                             f"{self._layer_class.__name__}; got {layer!r}")
        return {name[:-len("_l0")]: spec for name, spec in layer._expected_specs().items()}

    def _to_dtype(self, dtype):
        self._layer._to_dtype(dtype)
        self.__dict__["_param_specs"] = {name: (a.shape, a.dtype) for name, a in self.params.items()}
        self.__dict__["grads"] = {name: g.astype(dtype) for name, g in self.grads.items()}

    def children(self):
        return iter((self._layer,))

    # the configuration is the layer's, read-only: it fixes the parameter shapes and the kernels
    @property
    def input_size(self) -> int:
        return self._layer.input_size

    @property
    def hidden_size(self) -> int:
        return self._layer.hidden_size

    @property
    def bias(self) -> bool:
        return self._layer.bias

    @property
    def dtype(self) -> np.dtype:
        return self._layer.dtype

    @classmethod
    def from_state_dict(cls: Type[Cell], state_dict: Mapping[str, Any], prefix: str = "",
                        dtype: Optional[DTypeLike] = None, **options: Any) -> Cell:
        """A cell from weight_ih, weight_hh and optional bias_ih, bias_hh under `prefix` (a torch
        cell's state dict, or a model's with prefix "cell."); sizes come from the shapes. dtype defaults to
        float64 when the weights are float64, else float32. Any other key under the prefix (such as a layer's
        weight_ih_l0), a missing one, or the weights of another kind of cell raise fastrnn.FormatError."""
        from ..io.infer import config_from_state_dict   # on use: importing fastrnn loads no reader code
        weights = weights_under(state_dict, prefix, cls.__name__, _CELL_WEIGHTS, _CELL_BIASES)
        _check_kind(cls, weights["weight_hh"], prefix)
        config, _ = config_from_state_dict({prefix + k: w for k, w in weights.items()}, prefix,
                                           cls._layer_class._mode)
        cell = cls(config["input_size"], config["hidden_size"], bias=config["bias"], dtype=dtype_of(weights, dtype),
                   rng=_NO_INIT, **options)
        return load_weights(cell, weights, prefix)

    @classmethod
    def from_torch(cls: Type[Cell], cell: Any) -> Cell:
        """A cell with the configuration and weights of a live torch.nn.{LSTM, GRU, RNN}Cell."""
        name = cls.__name__
        if type(cell).__name__ != name or not hasattr(cell, "state_dict"):
            raise TypeError(f"{name}.from_torch needs a torch.nn.{name}; got {type(cell).__name__}")
        options = {"nonlinearity": cell.nonlinearity} if name == "RNNCell" else {}
        return cls.from_state_dict(cell.state_dict(), **options)

    def _step(self, input: ArrayLike, hx: Any) -> Union[NDArray[Any], Tuple[NDArray[Any], NDArray[Any]]]:
        """One step: input (B, I) or (I,), hx states as the class docstring (None: zeros) -> new states."""
        x = input if type(input) is np.ndarray else v.to_numpy(input, "input", self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"input has shape {x.shape}; expected (B, I) or (I,) with I = input_size = "
                             f"{self.input_size}")
        batched = x.ndim == 2
        x = self._checked(x if batched else x[None], "input", (len(x) if batched else 1, self.input_size), "(B, I)")
        _, state = self._layer.step(x, self._state(hx, x.shape[0], batched))
        at = 0 if batched else (0, 0)     # (1, B, H) -> (B, H), or (1, 1, H) -> (H,)
        if isinstance(state, tuple):
            return state[0][at], state[1][at]
        return state[at]

    def _state(self, hx, B, batched):
        """The layer's step state for hx: a (1, B, H) array (LSTMCell: a tuple (h, c) of them)."""
        return self._state_array(hx, "hx", B, batched)

    def _state_array(self, value, name, B, batched):
        """A state h or c given as (B, H) (or (H,) with unbatched input) as (1, B, H); None gives zeros."""
        if value is None:
            return np.zeros((1, B, self.hidden_size), self.dtype)
        if batched:
            shape, legend = (B, self.hidden_size), "(B, H)"
        else:
            shape, legend = (self.hidden_size,), "(H,) for unbatched input"
        return self._checked(value, name, shape, legend).reshape(1, B, self.hidden_size)

    def _checked(self, value, name, shape, legend):
        """value as a finite C-contiguous array of the cell's dtype and `shape`; an array that already is one
        passes as it is (the step never writes into it), anything else is checked and converted."""
        if (type(value) is np.ndarray and value.dtype == self.dtype and value.shape == shape
                and value.flags.c_contiguous and _kernels.all_finite(value)):
            return value
        arr = v.to_numpy(value, name, self.dtype)
        v.check_shape(arr, name, shape, legend)
        return v.as_float_array(arr, name, self.dtype, legend)

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.dtype == np.float32 else f", dtype=np.{self.dtype}"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


def _check_kind(cls, w_hh, prefix):
    """FormatError unless weight_hh (G*H, H) has the gate count of cls (a GRUCell's weights into an LSTMCell)."""
    gates = {"LSTMCell": 4, "GRUCell": 3, "RNNCell": 1}
    rows, H = w_hh.shape if w_hh.ndim == 2 else (0, 0)
    found = next((name for name, g in gates.items() if H and rows == g * H), None)
    if found is None:
        raise FormatError(f"{prefix}weight_hh has shape {w_hh.shape}; expected (G*H, H) with G = 4, 3 or 1 gate "
                          f"blocks (LSTMCell, GRUCell, RNNCell)")
    if found != cls.__name__:
        raise FormatError(f"{prefix}weight_hh has shape {w_hh.shape}: {gates[found]} gate block(s) of H = {H}, "
                          f"the weights of a {found}, not of a {cls.__name__}: use fastrnn.{found}.from_state_dict")


class LSTMCell(_Cell):
    """torch.nn.LSTMCell: cell(input, (h, c)) -> (h', c'), h and c (B, H); gate rows [i, f, g, o]."""

    _layer_class = LSTM

    def __call__(self, input: ArrayLike,
                 hx: Optional[Tuple[ArrayLike, ArrayLike]] = None) -> Tuple[NDArray[Any], NDArray[Any]]:
        """(h', c') (B, H) (or (H,) for unbatched input) after one step from input and hx = (h, c)."""
        return self._step(input, hx)

    def _state(self, hx, B, batched):
        if hx is None:
            return self._state_array(None, "h", B, batched), self._state_array(None, "c", B, batched)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx of an LSTMCell must be None or a tuple (h, c); got {type(hx).__name__}")
        return self._state_array(hx[0], "h", B, batched), self._state_array(hx[1], "c", B, batched)


class _OneStateCell(_Cell):
    """GRUCell and RNNCell: the state is h alone."""

    def __call__(self, input: ArrayLike, hx: Optional[ArrayLike] = None) -> NDArray[Any]:
        """h' (B, H) (or (H,) for unbatched input) after one step from input and hx."""
        return self._step(input, hx)


class GRUCell(_OneStateCell):
    """torch.nn.GRUCell: cell(input, h) -> h', h (B, H); gate rows [r, z, n], torch's linear-before-reset."""

    _layer_class = GRU


class RNNCell(_OneStateCell):
    """torch.nn.RNNCell: cell(input, h) -> h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu."""

    _layer_class = RNN

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Optional[Any] = None, dtype: Optional[DTypeLike] = None, *, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype, seed=seed, rng=rng, nonlinearity=nonlinearity)

    @property
    def nonlinearity(self) -> str:
        return self._layer.nonlinearity

    def __repr__(self):
        text = super().__repr__()
        return text if self.nonlinearity == "tanh" else f"{text[:-1]}, nonlinearity={self.nonlinearity!r})"
