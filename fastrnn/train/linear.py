"""A fully connected layer with forward and backward, torch.nn.Linear's layout: the head of an RNN model.

    y = x W^T + b        x (..., I), W "weight" (O, I), b "bias" (O,), y (..., O)
    dx = dy W            dW += dy^T x,  db += sum of dy over all leading axes
"""
from typing import Any, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _validation as v
from .._module import Module
from ..layers import _NO_INIT


class Linear(Module):
    """y = x W^T + b over the last axis of x; any leading axes (batch, time, ...) pass through.

    Parameters (torch.nn.Linear's names and init): `params["weight"]` (O, I) and `params["bias"]` (O,), both
    uniform in [-1/sqrt(I), 1/sqrt(I)]. backward ADDS to `grads` (same keys); the caller clears with zero_grad().
    in_features, out_features and dtype are fixed once built.
    """

    _fixed = frozenset({"in_features", "out_features", "dtype", "params", "grads"})

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: DTypeLike = np.float32,
                 seed: Optional[int] = None, rng: Any = None) -> None:
        self.in_features = v.as_positive_int(in_features, "in_features")
        self.out_features = v.as_positive_int(out_features, "out_features")
        self.dtype = v.as_dtype(dtype)
        v.check_parameter_count(f"Linear({self.in_features}, {self.out_features})",
                                self.out_features * (self.in_features + 1), self.dtype)
        shapes = {"weight": (self.out_features, self.in_features)}
        if bias:
            shapes["bias"] = (self.out_features,)
        if rng is _NO_INIT:   # from_state_dict: every parameter is loaded right after
            super().__init__({name: np.empty(shape, self.dtype) for name, shape in shapes.items()})
            return
        rng = v.as_rng(seed, rng)
        bound = 1.0 / np.sqrt(self.in_features)
        super().__init__({name: rng.uniform(-bound, bound, shape).astype(self.dtype)
                          for name, shape in shapes.items()})

    def _expected_specs(self):
        dtype = v.as_dtype(self.dtype)
        specs = {"weight": ((self.out_features, self.in_features), dtype)}
        if "bias" in self.params:
            specs["bias"] = ((self.out_features,), dtype)
        return specs

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], prefix: str = "",
                        dtype: Optional[DTypeLike] = None) -> "Linear":
        """A Linear from the entries `weight` (O, I) and optional `bias` (O,) under `prefix` (e.g.
        "fc.") of a (whole-model) state dict of arrays or torch tensors; sizes and bias come from them.
        dtype defaults to float64 when the weights are float64, else float32. Any other key under the prefix,
        or a missing weight, raises fastrnn.FormatError naming it."""
        from ..nn.state_dict import dtype_of, expect_ndim, load_weights, weights_under
        weights = weights_under(state_dict, prefix, "Linear", ("weight",), ("bias",))
        out_features, in_features = expect_ndim(weights, "weight", 2, "(O, I), 2-D", prefix)
        layer = cls(in_features, out_features, bias="bias" in weights, dtype=dtype_of(weights, dtype), rng=_NO_INIT)
        return load_weights(layer, weights, prefix)

    def forward(self, x: ArrayLike) -> NDArray[Any]:
        """y (..., O) from x (..., I)."""
        return self._affine(self._checked(x, "x", self.in_features, "(..., I)"))

    __call__ = forward

    def forward_train(self, x: ArrayLike) -> Tuple[NDArray[Any], NDArray[Any]]:
        """(y, cache): y as forward(x); the cache is x itself (..., I), not a copy: keep x unchanged until backward."""
        x = self._checked(x, "x", self.in_features, "(..., I)")
        return self._affine(x), x

    def backward(self, cache: NDArray[Any], dy: ArrayLike) -> NDArray[Any]:
        """dx (..., I) from dy = dL/dy (..., O); ADDS dL/dW and dL/db to self.grads."""
        x = cache
        weight, grads = self.checked_params()["weight"], self.checked_grads()
        dy = self._checked(dy, "dy", self.out_features, "(..., O)")
        if dy.shape[:-1] != x.shape[:-1]:
            raise ValueError(f"dy has shape {dy.shape}; expected (..., O) = {x.shape[:-1] + (self.out_features,)}")
        x2 = x.reshape(-1, self.in_features)        # (N, I), N = product of the leading axes
        dy2 = dy.reshape(-1, self.out_features)     # (N, O)
        grads["weight"] += dy2.T @ x2          # (O, I)
        if "bias" in grads:
            grads["bias"] += dy2.sum(axis=0)   # (O,)
        return (dy2 @ weight).reshape(x.shape)

    def _affine(self, x):
        # One GEMM over all leading axes: (N, I) x (I, O), N = their product (x is C-contiguous: a view).
        params = self.checked_params()
        y = (x.reshape(-1, self.in_features) @ params["weight"].T).reshape(x.shape[:-1] + (self.out_features,))
        if "bias" in params:
            y += params["bias"]
        return y

    def _checked(self, arr, name, size, legend):
        arr = v.as_float_array(arr, name, self.dtype, legend)
        if arr.ndim == 0 or arr.shape[-1] != size:
            raise ValueError(f"{name} has shape {arr.shape}; expected {legend} with last axis {size}")
        return arr

    def __repr__(self):
        """torch's repr (dtype shown when not float32)."""
        dtype = "" if self.dtype == np.float32 else f", dtype=np.{self.dtype}"
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self.params}{dtype})")
