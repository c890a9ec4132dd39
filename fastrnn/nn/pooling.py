"""Sequence pooling over the time axis that respects lengths: recurrent outputs (T, B, F) -> (B, F).

With lengths (B,), row b has lengths[b] valid steps, t < lengths[b]; the steps after them (padding) never count.
    mean_pool   sum of the valid steps / lengths[b]
    max_pool    elementwise max over the valid steps
    last_step   the step at lengths[b] - 1; bidirectional=True: the forward half (first F/2 features) at
                lengths[b] - 1 and the reverse half at step 0, where each direction's pass ends (torch's h_n)
Without lengths every step is valid. batch_first=True takes (B, T, F) instead, as the recurrent layers.
The modules MeanPool, MaxPool and LastStep hold batch_first (and bidirectional) for Sequential.
"""
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _validation as v
from .parameterless import Parameterless


def time_major(x, lengths, batch_first):
    """(x as time-major (T, B, F) float array, lengths (B,) intp in [1, T] or None)."""
    legend = "(B, T, F)" if batch_first else "(T, B, F)"
    arr = v.to_numpy(x, "x")
    if arr.ndim != 3:
        raise ValueError(f"x must be 3-D {legend}; got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise TypeError(f"x must be a float array {legend}; got dtype {arr.dtype}")
    if arr.shape[1 if batch_first else 0] == 0:
        raise ValueError(f"x has shape {arr.shape}: no time steps (T = 0) to pool over")
    if batch_first:
        arr = arr.transpose(1, 0, 2)
    T, B, _ = arr.shape
    return arr, None if lengths is None else v.as_lengths(lengths, B, T)


def valid_steps(lengths, T):
    """(T, B, 1) bool mask: True where t < lengths[b]."""
    return (np.arange(T)[:, None] < lengths[None, :])[:, :, None]


def mean_pool(x: ArrayLike, lengths: Optional[ArrayLike] = None, batch_first: bool = False) -> NDArray[Any]:
    """(B, F): the mean of each row's valid steps."""
    x, lengths = time_major(x, lengths, batch_first)
    if lengths is None:
        return x.mean(axis=0)
    total = np.where(valid_steps(lengths, x.shape[0]), x, 0).sum(axis=0)     # (B, F)
    return total / lengths[:, None].astype(x.dtype)


def max_pool(x: ArrayLike, lengths: Optional[ArrayLike] = None, batch_first: bool = False) -> NDArray[Any]:
    """(B, F): the elementwise max of each row's valid steps."""
    x, lengths = time_major(x, lengths, batch_first)
    if lengths is None:
        return x.max(axis=0)
    return np.where(valid_steps(lengths, x.shape[0]), x, -np.inf).max(axis=0).astype(x.dtype, copy=False)


def last_step(x: ArrayLike, lengths: Optional[ArrayLike] = None, batch_first: bool = False,
              bidirectional: bool = False) -> NDArray[Any]:
    """(B, F): each row's last valid step; bidirectional: forward half there, reverse half at step 0."""
    x, lengths = time_major(x, lengths, batch_first)
    T, B, F = x.shape
    last = np.full(B, T - 1) if lengths is None else lengths - 1
    rows = np.arange(B)
    if not bidirectional:
        return x[last, rows]
    if F % 2:
        raise ValueError(f"x has shape {x.shape}: a bidirectional output has an even feature count "
                         f"F = 2P (forward then reverse); got F = {F}")
    half = F // 2
    return np.concatenate([x[last, rows, :half], x[0, :, half:]], axis=1)


class _Pooling(Parameterless):
    """Base of the pooling modules, called as pool(x, lengths)."""

    takes_lengths = True   # Sequential passes `lengths` to modules that have this

    def __init__(self, batch_first: bool = False) -> None:
        self.batch_first = bool(batch_first)


class MeanPool(_Pooling):
    def __call__(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> NDArray[Any]:
        return mean_pool(x, lengths, self.batch_first)


class MaxPool(_Pooling):
    def __call__(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> NDArray[Any]:
        return max_pool(x, lengths, self.batch_first)


class LastStep(_Pooling):
    """last_step as a piece. bidirectional=None (the default): in a Sequential, whatever the recurrent layer
    before it outputs (two concatenated directions or one); alone, one direction."""

    def __init__(self, batch_first: bool = False, bidirectional: Optional[bool] = None) -> None:
        super().__init__(batch_first)
        self.bidirectional = None if bidirectional is None else bool(bidirectional)

    def __call__(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> NDArray[Any]:
        return last_step(x, lengths, self.batch_first, bool(self.bidirectional))
