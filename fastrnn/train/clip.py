"""Gradient clipping in place, torch.nn.utils' rules, over gradient dicts {name: array} (or a list of them).

    clip_grad_norm:   n = ||(||g_1||_p, ||g_2||_p, ...)||_p over all arrays;  g *= min(1, max_norm / (n + 1e-6))
    clip_grad_value:  g = min(max(g, -clip_value), clip_value) element-wise
"""
from collections.abc import Mapping

import numpy as np


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    """Scale all gradients together so their total p-norm is at most max_norm; returns the norm before clipping.

    grads: one dict {name: array} or a list of them (e.g. [lstm.grads, head.grads]: clipped as one vector).
    norm_type: p >= 1 or float("inf") (max |g|). The norm is accumulated in float64; a NaN or infinite norm
    propagates into the gradients as in torch.
    """
    norm_type = float(norm_type)
    if norm_type < 1:
        raise ValueError(f"norm_type must be >= 1 or inf; got {norm_type}")
    arrays = _arrays(grads)
    norms = np.array([np.linalg.norm(g.ravel().astype(np.float64, copy=False), norm_type) for g in arrays])
    total = float(np.linalg.norm(norms, norm_type)) if arrays else 0.0
    coef = float(max_norm) / (total + 1e-6)
    if not coef >= 1.0:  # also when the norm is NaN: NaN spreads into the gradients, as in torch
        for g in arrays:
            g *= coef
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value] in place; grads as in clip_grad_norm."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_value must be >= 0; got {clip_value}")
    for g in _arrays(grads):
        np.clip(g, -clip_value, clip_value, out=g)


def _arrays(grads):
    """The gradient arrays of one dict or of a list of dicts."""
    dicts = [grads] if isinstance(grads, Mapping) else list(grads)
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError(f"grads must be a dict of arrays or a list of such dicts; got {type(d).__name__}")
    return [g for d in dicts for g in d.values()]
