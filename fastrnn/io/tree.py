"""Nested checkpoints as flat {dotted name: array} maps, and array-likes as NumPy arrays (never importing torch).

{"model": {"lstm.weight_ih_l0": W}, "epoch": 3, "optimizer": {"param_groups": [{"lr": 0.1}]}} flattens to
arrays {"model.lstm.weight_ih_l0": W} and other leaves {"epoch": 3, "optimizer.param_groups.0.lr": 0.1}.
"""
from collections.abc import Mapping

import numpy as np

from .errors import FormatError

MAX_DEPTH = 64


def is_array(value):
    """True for NumPy arrays and torch tensors (duck-typed: detach + cpu + numpy), not for Python numbers."""
    return isinstance(value, np.ndarray) or (hasattr(value, "detach") and hasattr(value, "numpy")
                                             and hasattr(value, "cpu"))


def to_numpy(value, name):
    """A NumPy array from an ndarray, a torch tensor (bfloat16 -> float32; without importing torch), or an
    array-like of numbers."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise TypeError(f"{name} must be an array; got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array; got {type(value).__name__}: {exc}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be an array of numbers; got {type(value).__name__} of dtype {arr.dtype}")
    return arr


def flatten(tree, sep="."):
    """(arrays {dotted key: ndarray}, others {dotted key: value}) of a nested structure of mappings, lists and
    tuples. A container reached a second time (shared) is listed once, under its first key."""
    arrays, others, seen = {}, {}, set()

    def walk(node, key, depth):
        if depth > MAX_DEPTH:
            raise FormatError(f"{key!r}: nested more than {MAX_DEPTH} levels deep")
        if is_array(node):
            arrays[key] = to_numpy(node, key)
            return
        if isinstance(node, (Mapping, list, tuple)) and (len(node) or not key):
            if id(node) in seen:
                return
            seen.add(id(node))
            items = node.items() if isinstance(node, Mapping) else enumerate(node)
            for child_key, child in items:
                child_key = f"{key}{sep}{child_key}" if key else str(child_key)
                if child_key in arrays or child_key in others:
                    raise FormatError(f"two entries flatten to the same name {child_key!r}")
                walk(child, child_key, depth + 1)
            return
        others[key] = node

    walk(tree, "", 0)
    return arrays, others
