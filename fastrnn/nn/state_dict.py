"""The weights of one piece of a model, picked from a whole-model state dict by prefix: what every
`from_state_dict(state_dict, prefix=...)` of fastrnn.nn uses.

A piece named "fc" in a torch model stores its weights as "fc.weight", "fc.bias"; with prefix "fc." every key
starting with "fc." belongs to the piece, so "fc.inner.weight" is an unexpected key of a Linear. With prefix ""
the whole state dict is the piece's (a torch module's own state_dict()). Nested checkpoints
({"model": state_dict}) are flattened with "." first, so prefix "model.fc." reaches into them.
Missing and unexpected keys raise fastrnn.FormatError naming the key, so a state dict of another architecture
is refused with the first name that does not fit.
"""
from collections.abc import Mapping

import numpy as np

from ..io.errors import FormatError


def flat_arrays(state_dict, prefix=None):
    """{dotted key: NumPy array} of a (possibly nested) state dict of arrays or torch tensors. With a prefix,
    a value under it that is not an array (a list, a number: leaves elsewhere, such as a checkpoint's "epoch",
    are skipped) raises FormatError naming it, rather than reading as a missing key."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays; got {type(state_dict).__name__}")
    from ..io.tree import flatten   # imported on use: `import fastrnn` loads no reader
    arrays, others = flatten(state_dict)
    for key, value in others.items():
        if prefix is not None and key.startswith(prefix):
            raise FormatError(f"state dict entry {key!r} is a {type(value).__name__}, not an array: weights must "
                              f"be NumPy arrays or torch tensors")
    return arrays


def weights_under(state_dict, prefix, owner, required, optional=()):
    """{short name: array} of the entries under `prefix`: every name in `required`, those of `optional` present.
    owner names the piece in messages (e.g. "Linear"). Raises FormatError for a missing required key or any
    other key under the prefix."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as 'fc.'; got {type(prefix).__name__}")
    arrays = flat_arrays(state_dict, prefix)
    present = [key for key in arrays if key.startswith(prefix)]
    allowed = tuple(required) + tuple(optional)
    for key in present:
        if key[len(prefix):] not in allowed:
            names = ", ".join(allowed) if allowed else "no weights"
            raise FormatError(f"unexpected key {key!r}: a {owner} under prefix {prefix!r} has {names}")
    for name in required:
        if prefix + name not in arrays:
            raise FormatError(f"missing key {prefix + name!r} ({owner}'s {name}){_whats_there(arrays, prefix)}")
    return {key[len(prefix):]: arrays[key] for key in present}


def _whats_there(arrays, prefix):
    """A hint for a missing key: the module names found next to the prefix."""
    parent = prefix[:prefix.rstrip(".").rfind(".") + 1] if "." in prefix.rstrip(".") else ""
    names = sorted({key[len(parent):].split(".")[0] for key in arrays if key.startswith(parent)})
    if not names:
        return f"; the state dict has no key under {parent!r}" if parent else "; the state dict is empty"
    shown = ", ".join(repr(n) for n in names[:8]) + (", ..." if len(names) > 8 else "")
    return f"; names under {parent!r}: {shown}"


def dtype_of(weights, dtype):
    """The piece's dtype: `dtype` when given, else float64 when any weight is float64, else float32 (as the
    recurrent layers' from_state_dict)."""
    if dtype is not None:
        return dtype
    return np.float64 if any(w.dtype == np.float64 for w in weights.values()) else np.float32


def load_weights(module, weights, prefix):
    """module.load_state_dict(weights) (strict), with the prefix added to any error so it names the full key."""
    try:
        module.load_state_dict(weights)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"under prefix {prefix!r}: {exc}") from None
    return module


def expect_ndim(weights, name, ndim, legend, prefix):
    """Raise FormatError unless weights[name] has `ndim` axes (the shape the piece's sizes are read from)."""
    if weights[name].ndim != ndim:
        raise FormatError(f"{prefix + name!r} has shape {weights[name].shape}; expected {legend}")
    return weights[name].shape

