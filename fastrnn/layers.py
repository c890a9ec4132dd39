"""RNN, LSTM and GRU layers: torch's constructor signatures, shapes, parameter names and formulas.

Letters: T steps, B batch, I input size, H hidden size, P = proj_size or H (size of h), L layers, D directions.
The layer holds its parameters under torch's state-dict names, validates input, and loops over layers x
directions; each (layer, direction) runs its whole time loop in fastrnn._kernels with the GIL released.
Their shared machinery is _RecurrentLayer (fastrnn/_recurrent_layer.py); each class here adds its signature,
its repr options and (LSTM, GRU) from_keras.

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

from typing import Any, Optional, Tuple, Type

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _layer_docs
from ._recurrent_layer import _NO_INIT, Layer, _RecurrentLayer


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
