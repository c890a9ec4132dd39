"""A lookup table with forward and backward, torch.nn.Embedding's layout: token ids -> vectors.

    y = W[idx]                 idx (...) integers in [0, N), W "weight" (N, E), y (..., E)
    dW[idx[k]] += dy[k]        for every position k (np.add.at: repeated ids accumulate)
"""
from typing import Any, Mapping, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _validation as v
from .._module import Module
from ..layers import _NO_INIT


class Embedding(Module):
    """Rows of `params["weight"]` (num_embeddings, embedding_dim), initialised N(0, 1) as torch.

    padding_idx (optional): that row starts at zero and receives no gradient (padding tokens in a batch).
    backward ADDS to `grads["weight"]`; the caller clears with zero_grad(). Ids have no gradient.
    num_embeddings, embedding_dim, padding_idx and dtype are fixed once built.
    """

    _fixed = frozenset({"num_embeddings", "embedding_dim", "padding_idx", "dtype", "params", "grads"})

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None, rng: Any = None) -> None:
        self.num_embeddings = v.as_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = v.as_positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None:
            padding_idx = v.as_positive_int(padding_idx, "padding_idx", minimum=-self.num_embeddings)
            if padding_idx >= self.num_embeddings:
                raise ValueError(f"padding_idx must lie in [-{self.num_embeddings}, {self.num_embeddings}); "
                                 f"got {padding_idx}")
        self.padding_idx = None if padding_idx is None else padding_idx % self.num_embeddings
        self.dtype = v.as_dtype(dtype)
        v.check_parameter_count(f"Embedding({self.num_embeddings}, {self.embedding_dim})",
                                self.num_embeddings * self.embedding_dim, self.dtype)
        shape = (self.num_embeddings, self.embedding_dim)
        if rng is _NO_INIT:   # from_state_dict: the weight is loaded right after
            super().__init__({"weight": np.empty(shape, self.dtype)})
            return
        rng = v.as_rng(seed, rng)
        weight = rng.standard_normal(shape).astype(self.dtype)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        super().__init__({"weight": weight})

    def _expected_specs(self):
        return {"weight": ((self.num_embeddings, self.embedding_dim), v.as_dtype(self.dtype))}

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], prefix: str = "", padding_idx: Optional[int] = None,
                        dtype: Optional[DTypeLike] = None) -> "Embedding":
        """An Embedding from the entry `weight` (N, E) under `prefix` (e.g. "embedding.") of a
        (whole-model) state dict of arrays or torch tensors. padding_idx is not stored in a state dict: pass the
        module's (it only matters for training: the row is loaded as stored). dtype defaults to float64 when
        the weight is float64, else float32. A missing weight or any other key under the prefix raises
        fastrnn.FormatError naming it."""
        from ..nn.state_dict import dtype_of, expect_ndim, load_weights, weights_under
        weights = weights_under(state_dict, prefix, "Embedding", ("weight",))
        num_embeddings, embedding_dim = expect_ndim(weights, "weight", 2, "(N, E), 2-D", prefix)
        layer = cls(num_embeddings, embedding_dim, padding_idx=padding_idx, dtype=dtype_of(weights, dtype),
                    rng=_NO_INIT)
        return load_weights(layer, weights, prefix)

    def forward(self, idx: ArrayLike) -> NDArray[Any]:
        """y (..., E) = weight[idx] for integer ids idx (...)."""
        return self.checked_params()["weight"][self._checked(idx)]

    __call__ = forward

    def forward_train(self, idx: ArrayLike) -> Tuple[NDArray[Any], NDArray[Any]]:
        """(y, cache): y as forward(idx); the cache is the ids (...) themselves, not a copy."""
        idx = self._checked(idx)
        return self.checked_params()["weight"][idx], idx

    def backward(self, cache: NDArray[Any], dy: ArrayLike) -> None:
        """ADDS dL/dW to self.grads["weight"] from dy = dL/dy (..., E); returns None (ids have no gradient)."""
        idx = cache
        dy = v.as_float_array(dy, "dy", self.dtype, "(..., E)")
        v.check_shape(dy, "dy", idx.shape + (self.embedding_dim,), "(..., E)")
        rows = idx.ravel()                                  # (K,)
        dy2 = dy.reshape(-1, self.embedding_dim)            # (K, E)
        if self.padding_idx is not None:
            keep = rows != self.padding_idx
            rows, dy2 = rows[keep], dy2[keep]
        np.add.at(self.checked_grads()["weight"], rows, dy2)

    def _checked(self, idx):
        """idx as an integer array with every id in [0, N); IndexError (as torch) naming the first bad id."""
        idx = v.to_numpy(idx, "idx")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"idx must hold integer ids; got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            where = tuple(int(i) for i in np.argwhere((idx < 0) | (idx >= self.num_embeddings))[0])
            what = "a negative id" if idx[where] < 0 else "an id past the vocabulary"
            raise IndexError(f"idx must lie in [0, {self.num_embeddings}) (num_embeddings = {self.num_embeddings}); "
                             f"got {what}, {idx[where]} at position {where} (ids range over "
                             f"[{idx.min()}, {idx.max()}])")
        return idx

    def __repr__(self):
        """torch's repr (dtype shown when not float32)."""
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        extra += "" if self.dtype == np.float32 else f", dtype=np.{self.dtype}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{extra})"
