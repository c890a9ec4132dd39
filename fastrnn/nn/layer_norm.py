"""Layer normalisation over the trailing axes, torch.nn.LayerNorm's parameters and formula:

    y = (x - mean) / sqrt(var + eps) * weight + bias
mean and the biased variance var are taken over the last len(normalized_shape) axes of x (..., *S);
weight and bias have shape S (weight ones and bias zeros initially; absent with elementwise_affine=False,
bias absent with bias=False).
"""
import math
import numbers
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _validation as v
from .._module import Module
from .state_dict import dtype_of, load_weights, weights_under


class LayerNorm(Module):
    """torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True) for inference.

    Parameters `params["weight"]` and `params["bias"]`, shape S = normalized_shape (an int means (int,)).
    normalized_shape, elementwise_affine and dtype are fixed once built.
    """

    _fixed = frozenset({"normalized_shape", "elementwise_affine", "dtype", "params", "grads"})

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: DTypeLike = np.float32) -> None:
        shape = (normalized_shape,) if np.ndim(normalized_shape) == 0 else tuple(normalized_shape)
        self.normalized_shape = tuple(v.as_positive_int(n, "normalized_shape") for n in shape)
        if not self.normalized_shape:
            raise ValueError("normalized_shape must name at least one axis; got ()")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"eps must be a positive number; got {type(eps).__name__}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be positive; got {eps}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = v.as_dtype(dtype)
        v.check_parameter_count(f"LayerNorm({self.normalized_shape})", 2 * math.prod(self.normalized_shape),
                                self.dtype)
        params = {}
        if self.elementwise_affine:
            params["weight"] = np.ones(self.normalized_shape, self.dtype)
            if bias:
                params["bias"] = np.zeros(self.normalized_shape, self.dtype)
        super().__init__(params)

    def _expected_specs(self):
        dtype = v.as_dtype(self.dtype)
        # the constructor makes a weight with elementwise_affine, and a bias beside it unless bias=False
        names = (["weight"] + (["bias"] if "bias" in self.params else [])) if self.elementwise_affine else []
        return {name: (tuple(self.normalized_shape), dtype) for name in names}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], prefix: str = "", eps: float = 1e-5,
                        dtype: Optional[DTypeLike] = None) -> "LayerNorm":
        """A LayerNorm from the entries `weight` (S) and optional `bias` (S) under `prefix` (e.g.
        "norm."); S is the weight's shape. eps is not stored in a state dict: pass the module's (torch: 1e-5).
        A LayerNorm without weights (elementwise_affine=False) has nothing to load: build it directly."""
        weights = weights_under(state_dict, prefix, "LayerNorm", ("weight",), ("bias",))
        norm = cls(weights["weight"].shape, eps=eps, bias="bias" in weights, dtype=dtype_of(weights, dtype))
        return load_weights(norm, weights, prefix)

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        """y (..., *S) from x (..., *S)."""
        k = len(self.normalized_shape)
        legend = "(..., " + ", ".join(map(str, self.normalized_shape)) + ")"
        x = v.as_float_array(x, "x", self.dtype, legend)
        if x.shape[x.ndim - k:] != self.normalized_shape or x.ndim < k:
            raise ValueError(f"x has shape {x.shape}; expected {legend} (normalized_shape = "
                             f"{self.normalized_shape})")
        axes = tuple(range(x.ndim - k, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        var = np.mean(centred * centred, axis=axes, keepdims=True)
        y = centred / np.sqrt(var + self.dtype.type(self.eps))
        params = self.checked_params()
        if "weight" in params:
            y *= params["weight"]
        if "bias" in params:
            y += params["bias"]
        return y

    def __repr__(self):
        """torch's repr (dtype shown when not float32)."""
        dtype = "" if self.dtype == np.float32 else f", dtype=np.{self.dtype}"
        return (f"LayerNorm({self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={'bias' in self.params}{dtype})")
