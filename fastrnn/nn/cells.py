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
import numpy as np

from .. import _validation as v
from .._module import Module
from ..layers import _NO_INIT, GRU, LSTM, RNN
from .state_dict import dtype_of, load_weights, weights_under

_CELL_WEIGHTS = ("weight_ih", "weight_hh")
_CELL_BIASES = ("bias_ih", "bias_hh")


class _Cell(Module):
    """Shared machinery of LSTMCell, GRUCell and RNNCell; use those classes."""

    _layer_class = None   # fastrnn.LSTM, GRU or RNN

    def __init__(self, input_size, hidden_size, bias, device, dtype, seed, rng, **layer_options):
        if device is not None and str(device) != "cpu":
            raise ValueError(f"device must be None or 'cpu' (fastrnn runs on the CPU); got {device!r}")
        self._layer = self._layer_class(input_size, hidden_size, bias=bias,
                                        dtype=np.float32 if dtype is None else dtype, seed=seed, rng=rng,
                                        **layer_options)
        self.input_size, self.hidden_size = self._layer.input_size, self._layer.hidden_size
        self.bias, self.dtype = self._layer.bias, self._layer.dtype
        # the layer's own arrays under the cell's names (weight_ih_l0 -> weight_ih): loads update both
        super().__init__({name[:-len("_l0")]: value for name, value in self._layer.params.items()})

    @classmethod
    def from_state_dict(cls, state_dict, prefix="", dtype=None, **options):
        """A cell from weight_ih, weight_hh and optional bias_ih, bias_hh under `prefix` (a torch
        cell's state dict, or a model's with prefix "cell."); sizes come from the shapes. dtype defaults to
        float64 when the weights are float64, else float32. Any other key under the prefix (such as a layer's
        weight_ih_l0), a missing one, or the weights of another kind of cell raise fastrnn.FormatError."""
        weights = weights_under(state_dict, prefix, cls.__name__, _CELL_WEIGHTS, _CELL_BIASES)
        from ..io.infer import config_from_state_dict   # imported on use: `import fastrnn` loads no reader
        config, _ = config_from_state_dict({prefix + k: w for k, w in weights.items()}, prefix,
                                           cls._layer_class._mode)
        cell = cls(config["input_size"], config["hidden_size"], bias=config["bias"], dtype=dtype_of(weights, dtype),
                   rng=_NO_INIT, **options)
        return load_weights(cell, weights, prefix)

    @classmethod
    def from_torch(cls, cell):
        """A cell with the configuration and weights of a live torch.nn.{LSTM, GRU, RNN}Cell."""
        name = cls.__name__
        if type(cell).__name__ != name or not hasattr(cell, "state_dict"):
            raise TypeError(f"{name}.from_torch needs a torch.nn.{name}; got {type(cell).__name__}")
        options = {"nonlinearity": cell.nonlinearity} if name == "RNNCell" else {}
        return cls.from_state_dict(cell.state_dict(), **options)

    def __call__(self, input, hx=None):
        """One step: input (B, I) or (I,), hx states as the class docstring (None: zeros) -> new states."""
        x = v.to_numpy(input, "input", self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"input has shape {x.shape}; expected (B, I) or (I,) with I = input_size = "
                             f"{self.input_size}")
        batched = x.ndim == 2
        x = v.as_float_array(x if batched else x[None], "input", self.dtype, "(B, I)")
        _, state = self._layer.step(x, self._state(hx, x.shape[0], batched))
        if isinstance(state, tuple):
            return tuple(s[0] if batched else s[0, 0] for s in state)
        return state[0] if batched else state[0, 0]

    def _state(self, hx, B, batched):
        """The layer's step state for hx: a (1, B, H) array (LSTMCell: a tuple (h, c) of them)."""
        return self._state_array(hx, "hx", B, batched)

    def _state_array(self, value, name, B, batched):
        """A state h or c given as (B, H) (or (H,) with unbatched input) as (1, B, H); None gives zeros."""
        if value is None:
            return np.zeros((1, B, self.hidden_size), self.dtype)
        legend = "(B, H)" if batched else "(H,) for unbatched input"
        arr = v.to_numpy(value, name, self.dtype)
        v.check_shape(arr, name, (B, self.hidden_size) if batched else (self.hidden_size,), legend)
        return v.as_float_array(arr, name, self.dtype, legend).reshape(1, B, self.hidden_size)

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.dtype == np.float32 else f", dtype=np.{self.dtype}"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


class LSTMCell(_Cell):
    """torch.nn.LSTMCell: cell(input, (h, c)) -> (h', c'), h and c (B, H); gate rows [i, f, g, o]."""

    _layer_class = LSTM

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, seed=None, rng=None):
        super().__init__(input_size, hidden_size, bias, device, dtype, seed, rng)

    def _state(self, hx, B, batched):
        if hx is None:
            return self._state_array(None, "h", B, batched), self._state_array(None, "c", B, batched)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx of an LSTMCell must be None or a tuple (h, c); got {type(hx).__name__}")
        return self._state_array(hx[0], "h", B, batched), self._state_array(hx[1], "c", B, batched)


class GRUCell(_Cell):
    """torch.nn.GRUCell: cell(input, h) -> h', h (B, H); gate rows [r, z, n], torch's linear-before-reset."""

    _layer_class = GRU

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, seed=None, rng=None):
        super().__init__(input_size, hidden_size, bias, device, dtype, seed, rng)


class RNNCell(_Cell):
    """torch.nn.RNNCell: cell(input, h) -> h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu."""

    _layer_class = RNN

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None, *,
                 seed=None, rng=None):
        super().__init__(input_size, hidden_size, bias, device, dtype, seed, rng, nonlinearity=nonlinearity)
        self.nonlinearity = self._layer.nonlinearity

    def __repr__(self):
        text = super().__repr__()
        return text if self.nonlinearity == "tanh" else f"{text[:-1]}, nonlinearity={self.nonlinearity!r})"
