"""Activations, as functions and as torch-named modules for Sequential; elementwise unless a dim is given.

    relu(x)         max(x, 0)
    gelu(x)         x Phi(x) = x/2 erfc(-x/sqrt 2)  (torch's exact erf form; = x/2 (1 + erf(x/sqrt 2)))
    gelu(x, approximate="tanh")   x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    sigmoid(x)      1 / (1 + exp(-x)), computed from exp(-|x|) so it never overflows
    tanh(x)
    softmax(x, dim)       exp(x - max) / sum(exp(x - max)) along dim
    log_softmax(x, dim)   x - max - log(sum(exp(x - max))) along dim

Inputs are float arrays (or torch tensors); the result has the input's dtype and shape. NaN and infinity
propagate as in torch (a softmax row of -inf only is NaN).
erfc: float64 calls the C library's erfc per element; float32 uses Numerical Recipes' Chebyshev formula
(relative error below 1.2e-7, evaluated in float64), within an ulp or so of float32.
"""
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _validation as v
from ..train.losses import log_softmax as _log_softmax_last_axis
from .parameterless import Parameterless

_ERFC64 = np.frompyfunc(math.erfc, 1, 1)
# Numerical Recipes (2nd ed., 6.2) erfcc: erfc(z) = t exp(-z^2 + poly(t)), t = 1 / (1 + z/2), z >= 0
_ERFC_POLY = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398,
              1.48851587, -0.82215223, 0.17087277)
GELU_APPROXIMATIONS = ("none", "tanh")


def _float_array(x, name="x"):
    arr = v.to_numpy(x, name)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array; got dtype {arr.dtype}")
    return arr


def _dim(arr, dim):
    axis = v.as_positive_int(dim, "dim", minimum=-arr.ndim) if arr.ndim else None
    if axis is None or axis >= arr.ndim:
        raise ValueError(f"dim must lie in [-{arr.ndim}, {arr.ndim}) for x of shape {arr.shape}; got {dim}")
    return axis


def erfc(x: ArrayLike) -> NDArray[Any]:
    """The complementary error function elementwise (float64: libm's erfc; float32: see the module docstring)."""
    x = _float_array(x)
    if x.dtype == np.float64:
        return np.asarray(_ERFC64(x), np.float64)   # (frompyfunc gives a Python float for 0-d x)
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for coefficient in reversed(_ERFC_POLY):
        poly = poly * t + coefficient
    result = t * np.exp(poly - z * z)
    return np.where(x >= 0, result, 2.0 - result).astype(x.dtype)


def relu(x: ArrayLike) -> NDArray[Any]:
    x = _float_array(x)
    return np.maximum(x, x.dtype.type(0))


def gelu(x: ArrayLike, approximate: str = "none") -> NDArray[Any]:
    """GELU as torch.nn.functional.gelu: approximate "none" (the erf form) or "tanh"."""
    v.check_choice(approximate, "approximate", GELU_APPROXIMATIONS)
    x = _float_array(x)
    half = x.dtype.type(0.5)
    if approximate == "tanh":
        inner = x.dtype.type(math.sqrt(2.0 / math.pi)) * (x + x.dtype.type(0.044715) * x * x * x)
        return half * x * (1 + np.tanh(inner))
    return half * x * erfc(-x * x.dtype.type(math.sqrt(0.5)))


def sigmoid(x: ArrayLike) -> NDArray[Any]:
    x = _float_array(x)
    e = np.exp(-np.abs(x))                        # in (0, 1]: no overflow for any x
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x: ArrayLike) -> NDArray[Any]:
    return np.tanh(_float_array(x))


def softmax(x: ArrayLike, dim: int = -1) -> NDArray[Any]:
    x = _float_array(x)
    axis = _dim(x, dim)
    if x.size == 0:   # nothing to normalise (torch returns the empty tensor)
        return x.copy()
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, dim: int = -1) -> NDArray[Any]:
    x = _float_array(x)
    axis = _dim(x, dim)
    if x.size == 0:
        return x.copy()
    return np.moveaxis(_log_softmax_last_axis(np.moveaxis(x, axis, -1)), -1, axis)


class ReLU(Parameterless):
    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return relu(x)


class GELU(Parameterless):
    def __init__(self, approximate: str = "none") -> None:
        self.approximate = v.check_choice(approximate, "approximate", GELU_APPROXIMATIONS)

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return gelu(x, self.approximate)


class Sigmoid(Parameterless):
    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return sigmoid(x)


class Tanh(Parameterless):
    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return tanh(x)


class _AlongDim(Parameterless):
    """An activation along one axis, `dim` (checked against x's axes at the call)."""

    def __init__(self, dim: int = -1) -> None:
        self.dim = v.as_positive_int(dim, "dim", minimum=-(2 ** 31))


class Softmax(_AlongDim):
    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return softmax(x, self.dim)


class LogSoftmax(_AlongDim):
    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        return log_softmax(x, self.dim)
