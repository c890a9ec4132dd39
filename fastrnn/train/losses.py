"""Losses that return (loss, gradient): the value as a Python float and dL/d(input) for backward.

    mse_loss:       L = mean((y - t)^2)                       dL/dy = 2 (y - t) / N
    cross_entropy:  L = -mean over counted rows of log softmax(z)[target]
                    log softmax(z) = z - max(z) - log(sum(exp(z - max(z))))   (stable for any z)
                    dL/dz = (softmax(z) - onehot(target)) / n, zero on rows that do not count
"""
import numpy as np

from .. import _validation as v

REDUCTIONS = ("mean", "sum")


def mse_loss(pred, target, reduction="mean"):
    """(L, dL/dpred) for L = mean (or sum) of (pred - target)^2 over all elements; pred, target of one shape."""
    v.check_choice(reduction, "reduction", REDUCTIONS)
    pred = _as_float(pred, "pred", "(...)")
    target = v.to_numpy(target, "target").astype(pred.dtype, copy=False)  # targets follow pred's dtype
    v.check_shape(target, "target", pred.shape, "pred.shape")
    diff = pred - target
    scale = 1.0 / max(diff.size, 1) if reduction == "mean" else 1.0
    return float(np.dot(diff.ravel(), diff.ravel()) * scale), (2.0 * scale) * diff


def log_softmax(logits):
    """log softmax over the last axis, computed stably: z - max(z) - log(sum(exp(z - max(z))))."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits, targets, ignore_index=None, mask=None, reduction="mean"):
    """(L, dL/dlogits) of softmax cross-entropy, as torch.nn.functional.cross_entropy with class indices.

    logits (..., C) float; targets (...) integer class indices in [0, C). A row counts unless its target equals
    ignore_index or mask (...) (bool, True = counts) is False there; "mean" divides by the number of counted
    rows (NaN when none count, as torch), "sum" does not. dlogits (..., C) is zero on rows that do not count.
    """
    v.check_choice(reduction, "reduction", REDUCTIONS)
    logits = _as_float(logits, "logits", "(..., C)")
    if logits.ndim == 0:
        raise ValueError("logits must have a class axis: shape (..., C); got a scalar")
    targets = v.to_numpy(targets, "targets")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer class indices; got dtype {targets.dtype}")
    v.check_shape(targets, "targets", logits.shape[:-1], "logits.shape[:-1]")
    counts = np.ones(targets.shape, dtype=bool)
    if ignore_index is not None:
        counts &= targets != ignore_index
    if mask is not None:
        mask = v.to_numpy(mask, "mask")
        v.check_shape(mask, "mask", targets.shape, "targets.shape")
        counts &= mask.astype(bool)
    C = logits.shape[-1]
    bad = counts & ((targets < 0) | (targets >= C))
    if bad.any():
        raise IndexError(f"targets must lie in [0, C) = [0, {C}); got {targets[bad][0]}")
    safe = np.where(counts, targets, 0)[..., None]                  # (..., 1), in range everywhere
    logp = log_softmax(logits)                                       # (..., C)
    picked = np.take_along_axis(logp, safe, axis=-1)[..., 0]         # (...)
    denom = int(counts.sum()) if reduction == "mean" else 1
    loss = -float(picked[counts].sum()) / denom if denom else float("nan")
    dlogits = np.exp(logp)                                           # softmax (..., C)
    np.put_along_axis(dlogits, safe, np.take_along_axis(dlogits, safe, axis=-1) - 1.0, axis=-1)
    dlogits *= (counts / max(denom, 1)).astype(logits.dtype)[..., None]
    return loss, dlogits


def _as_float(arr, name, legend):
    """A finite float32/float64 array, C-contiguous, in its own dtype (Python sequences become float64)."""
    arr = v.to_numpy(arr, name, np.float64)
    return v.as_float_array(arr, name, arr.dtype, legend)
