"""Quantized layers in a weights file, for `fastrnn inspect`: where they are, their format and configuration."""
import re

from ..io.errors import FormatError
from . import formats as f

_TORCH_CELL = re.compile(r"(.*?)_all_weight_values\.\d+\.param\.")


def _prefix(key):
    """The layer prefix a quantized key sits under, or None for keys of float layers."""
    match = _TORCH_CELL.match(key)
    if match:
        return match.group(1)
    if key.endswith(f.SCALE_SUFFIX):
        return key[:key.rfind(".") + 1]
    return None


def quantized_layers(arrays):
    """(entries, rest) of flattened {key: array}: one entry per prefix holding quantized weights, {"prefix",
    "mode", "format", "source", "config"} or {"prefix", "error"}; rest = the arrays of no quantized layer."""
    from ..io.infer import find_recurrent_layers
    from .layers import quantized_parts
    prefixes = sorted({p for p in map(_prefix, arrays) if p is not None})
    rest, entries = dict(arrays), []
    for prefix in prefixes:
        torch = any(_TORCH_CELL.match(k) and k.startswith(prefix) for k in arrays)
        for key in [k for k in rest if k.startswith(prefix) and ("." not in k[len(prefix):] or torch)]:
            del rest[key]
        try:
            shaped, fmt = quantized_parts(arrays, prefix)[::3]
            found = [e for e in find_recurrent_layers(shaped) if e["prefix"] == "" and e["mode"] is not None]
            if not found:
                raise FormatError("the quantized weights do not form a recurrent layer")
            entries.append({"prefix": prefix, "mode": found[0]["mode"], "format": fmt, "config": found[0]["config"],
                            "source": "torch quantize_dynamic" if torch else "fastrnn"})
        except (FormatError, ValueError, TypeError, KeyError) as exc:
            entries.append({"prefix": prefix, "error": str(exc)})
    return entries, rest
