"""Additive (Bahdanau) attention pooling over recurrent outputs, masked by lengths: (T, B, F) -> (B, F).

    e[t, b]  = score . tanh(W h[t, b] + b_W)           (+ score_bias, a constant shift: no effect)
    a[:, b]  = softmax of e[:, b] over the valid steps t < lengths[b] (the others get weight 0)
    out[b]   = sum over t of a[t, b] h[t, b]
with h the recurrent outputs (F features), W (A, F) and b_W (A,) a Linear "proj", score (1, A) a bias-free
Linear "score" (A the attention size). Parameters, as the torch module
    class AdditiveAttention(nn.Module):
        def __init__(self, F, A):
            super().__init__(); self.proj = nn.Linear(F, A); self.score = nn.Linear(A, 1, bias=False)
would name them: proj.weight (A, F), proj.bias (A,), score.weight (1, A) [, score.bias (1,)]. A model that
names its attention parts otherwise loads after renaming its keys, e.g. {k.replace("attn.W.", "attn.proj."): v}.
"""
from typing import Any, Mapping, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _validation as v
from .._module import Module
from ..train.linear import Linear
from .activations import softmax
from .aliased_params import AliasedParams
from .pooling import time_major, valid_steps
from .state_dict import dtype_of, expect_ndim, load_weights, weights_under


class AdditiveAttention(Module):
    """Attention pooling, called as attn(x, lengths) -> (B, F); attn.weights(x, lengths) -> (B, T).

    x (T, B, F), or (B, T, F) with batch_first=True. proj_bias=False drops proj.bias; score_bias=True keeps a
    score.bias (torch's nn.Linear(A, 1) default) so such state dicts load: it shifts every score equally.
    """

    takes_lengths = True   # Sequential passes `lengths`
    _fixed = frozenset({"input_size", "attention_size", "dtype", "proj", "score", "params", "grads"})

    def __init__(self, input_size: int, attention_size: int, proj_bias: bool = True, score_bias: bool = False,
                 batch_first: bool = False, dtype: DTypeLike = np.float32, seed: Optional[int] = None,
                 rng: Optional[np.random.Generator] = None) -> None:
        self.batch_first = bool(batch_first)
        self.dtype = v.as_dtype(dtype)
        rng = v.as_rng(seed, rng)
        self.proj = Linear(input_size, attention_size, bias=proj_bias, dtype=self.dtype, rng=rng)
        self.score = Linear(attention_size, 1, bias=score_bias, dtype=self.dtype, rng=rng)
        self.input_size, self.attention_size = self.proj.in_features, self.proj.out_features
        # the parts' own arrays under "proj." and "score.", read and assigned through
        super().__init__(AliasedParams(self, {f"{name}.{key}": (name, key) for name in ("proj", "score")
                                              for key in getattr(self, name).params}))

    def _to_dtype(self, dtype):
        self.proj._to_dtype(dtype)
        self.score._to_dtype(dtype)
        self.__dict__["dtype"] = dtype
        self.__dict__["_param_specs"] = {name: (a.shape, a.dtype) for name, a in self.params.items()}
        self.__dict__["grads"] = {name: g.astype(dtype) for name, g in self.grads.items()}

    def children(self):
        return iter((self.proj, self.score))

    def _expected_specs(self):
        """The two Linears' parameters (checked when they were unpickled) under "proj." and "score."."""
        specs = {}
        for part in ("proj", "score"):
            linear = self.__dict__.get(part)
            if type(linear) is not Linear:
                raise ValueError(f"unpickled AdditiveAttention state: {part} must be a Linear; got {linear!r}")
            specs.update({f"{part}.{key}": spec for key, spec in linear._expected_specs().items()})
        if self.proj.out_features != self.score.in_features or self.score.out_features != 1:
            raise ValueError(f"unpickled AdditiveAttention state: proj has {self.proj.out_features} outputs but "
                             f"score takes {self.score.in_features}")
        return specs

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], prefix: str = "", batch_first: bool = False,
                        dtype: Optional[DTypeLike] = None) -> "AdditiveAttention":
        """From proj.weight (A, F), proj.bias (A,) (optional), score.weight (1, A) and score.bias (optional)
        under `prefix` (e.g. "attention."); sizes come from the shapes. batch_first is not stored: pass it."""
        names = ("proj.weight", "score.weight")
        weights = weights_under(state_dict, prefix, "AdditiveAttention", names, ("proj.bias", "score.bias"))
        attention_size, input_size = expect_ndim(weights, "proj.weight", 2, "(A, F), 2-D", prefix)
        attn = cls(input_size, attention_size, proj_bias="proj.bias" in weights,
                   score_bias="score.bias" in weights, batch_first=batch_first, dtype=dtype_of(weights, dtype))
        return load_weights(attn, weights, prefix)

    def weights(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> NDArray[Any]:
        """a (B, T): the attention weights of each row (zero past its length; each row sums to 1)."""
        x, lengths = self._checked(x, lengths)
        return self._weights(x, lengths).T.copy()

    def __call__(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> NDArray[Any]:
        """out (B, F) = sum over t of a[t, b] x[t, b]."""
        x, lengths = self._checked(x, lengths)
        a = self._weights(x, lengths)                          # (T, B)
        return np.einsum("tb,tbf->bf", a, x)

    def _checked(self, x, lengths):
        x, lengths = time_major(x, lengths, self.batch_first)
        if x.shape[2] != self.input_size:
            raise ValueError(f"x has {x.shape[2]} features; expected F = input_size = {self.input_size}")
        return v.as_float_array(x, "x", self.dtype, "(T, B, F)"), lengths

    def _weights(self, x, lengths):
        """a (T, B) from time-major x (T, B, F)."""
        e = self.score(np.tanh(self.proj(x)))[..., 0]         # (T, B, A) -> (T, B)
        if lengths is not None:
            e = np.where(valid_steps(lengths, x.shape[0])[..., 0], e, -np.inf)
        return softmax(e, dim=0)

    def __repr__(self):
        return (f"AdditiveAttention({self.input_size}, {self.attention_size}, batch_first={self.batch_first}, "
                f"dtype=np.{self.dtype})")
