"""torch's quantized-dynamic RNN state dicts, as fastrnn.load returns them, in fastrnn's quantized names.

fastrnn.load turns each "{prefix}_all_weight_values.{k}.param" (layer k // D, direction k % D) into
{weight_ih, weight_ih_scale, weight_hh, weight_hh_scale, bias_ih, bias_hh} (fastrnn/io/torch_quantized.py);
here they become weight_ih_l{layer}[_reverse], ... The file does not say whether the layer is bidirectional:
the input sizes of the layers tell, except for two entries with input size = hidden size, which fit both one
bidirectional layer and two unidirectional ones; then `bidirectional` must be given.
"""
import re

from ..io.errors import FormatError

_ENTRY = re.compile(r"_all_weight_values\.(\d+)\.param\.(weight_ih|weight_hh|bias_ih|bias_hh)(_scale)?")


def is_torch_quantized(state_dict, prefix=""):
    from ..io.tree import flatten
    arrays, _ = flatten(state_dict)
    return any(k.startswith(prefix) and _ENTRY.fullmatch(k[len(prefix):]) for k in arrays)


def _fits(cells, D):
    """True when cells [(W_ih shape, W_hh shape)] in order k form a stack of D directions."""
    if len(cells) % D:
        return False
    P = cells[0][1][1]
    I = cells[0][0][1]
    return all(hh == cells[0][1] and ih[1] == (I if k < D else D * P) for k, (ih, hh) in enumerate(cells))


def to_fastrnn_names(state_dict, prefix="", bidirectional=None):
    """{name: array} in fastrnn's quantized names (no prefix) of the torch quantized weights under prefix."""
    from ..io.tree import flatten
    arrays, _ = flatten(state_dict)
    entries, other = {}, []
    for key, value in arrays.items():
        if not key.startswith(prefix) or "." in key[len(prefix):] and not _ENTRY.fullmatch(key[len(prefix):]):
            continue
        match = _ENTRY.fullmatch(key[len(prefix):])
        if match is None:
            other.append(key)
            continue
        entries.setdefault(int(match.group(1)), {})[match.group(2) + (match.group(3) or "")] = value
    if other:
        raise FormatError(f"unexpected key {other[0]!r} beside torch's quantized weights under prefix {prefix!r}")
    n = len(entries)
    if sorted(entries) != list(range(n)):
        raise FormatError(f"torch's quantized weights under prefix {prefix!r} skip a cell: found {sorted(entries)}")
    cells = [(entries[k]["weight_ih"].shape, entries[k]["weight_hh"].shape) for k in range(n)]
    fits = [D for D in (1, 2) if _fits(cells, D)]
    if bidirectional is not None:
        D = 2 if bidirectional else 1
        if D not in fits:
            raise FormatError(f"torch's quantized weights under prefix {prefix!r} do not form a "
                              f"{'bidirectional' if D == 2 else 'unidirectional'} stack")
    elif len(fits) == 1:
        D = fits[0]
    elif not fits:
        raise FormatError(f"torch's quantized weights under prefix {prefix!r} do not form a stack of layers "
                          f"(shapes {cells})")
    else:
        raise FormatError(f"torch's quantized weights under prefix {prefix!r} fit both one bidirectional layer and "
                          f"two unidirectional ones (input size = hidden size): pass bidirectional=True or False")
    out = {}
    for k in range(n):
        sfx = f"_l{k // D}" + ("_reverse" if k % D else "")
        for name, value in entries[k].items():
            base, scale = (name[:-len("_scale")], "_scale") if name.endswith("_scale") else (name, "")
            out[base + sfx + scale] = value
    return out
