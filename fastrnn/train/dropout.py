"""Inverted dropout for training: y = x * mask, mask = keep / (1 - p), keep ~ Bernoulli(1 - p).

Scaling at training time keeps E[y] = x, so inference uses x unchanged. Backward is dx = dy * mask.
"""
import numpy as np


def dropout(x, p, rng):
    """(y, mask): y = x * mask, mask (same shape and dtype as x) holds 0 or 1 / (1 - p).

    p in [0, 1) is the probability of dropping an element; rng a np.random.Generator (or a seed). Backward of
    the caller: dx = dy * mask. With p = 0, y is x and mask all ones.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability p must lie in [0, 1); got {p}")
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array; got dtype {x.dtype}")
    keep = np.random.default_rng(rng).random(x.shape) >= p   # (same shape as x), P(keep) = 1 - p
    mask = keep.astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * mask, mask
