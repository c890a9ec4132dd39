"""Layer configurations from state-dict keys and shapes: what `LSTM.from_state_dict(sd, prefix=...)` builds.

Under a prefix (e.g. "encoder.lstm."), torch names the weights of layer k and direction d
  weight_ih_l{k}[_reverse] (G*H, I or D*P)   weight_hh_l{k}[_reverse] (G*H, P)   bias_ih/bias_hh (G*H,)
  weight_hr_l{k}[_reverse] (P, H) (LSTM proj_size > 0)   weight_peephole_l{k}[_reverse] (3, H) (fastrnn's LSTM)
and cell modules (nn.LSTMCell / GRUCell / RNNCell) name them weight_ih, weight_hh, bias_ih, bias_hh.

Mode rule (documented for find_recurrent_layers): H is weight_hr's column count when a projection is present,
else weight_hh's column count; G = weight_hh rows / H: 4 -> LSTM, 3 -> GRU, 1 -> RNN, anything else is not a
recurrent layer. torch's shapes make this unambiguous. What the weights do NOT tell (and the caller chooses):
RNN nonlinearity (tanh or relu), GRU linear_before_reset (torch's GRU is True), batch_first, dtype.
"""
import re
from collections.abc import Mapping

from .errors import FormatError
from .tree import flatten

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
_MODE_OF_GATES = {g: m for m, g in GATES.items()}
_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "weight_peephole")
_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_peephole)(?:_l(\d+)(_reverse)?)?")
_NOT_STORED = {"RNN": "nonlinearity (tanh or relu) is not stored in the weights",
               "GRU": "linear_before_reset is not stored in the weights (torch's GRU: True)",
               "LSTM": ""}


def _flat(state_dict):
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays; got {type(state_dict).__name__}")
    arrays, _ = flatten(state_dict)
    return arrays


def _group(arrays, prefix):
    """{(kind, layer or None, reverse): (key, array)} of the recurrent weights directly under `prefix`, and the
    other keys directly under it."""
    found, other = {}, []
    for key, value in arrays.items():
        if not key.startswith(prefix) or "." in key[len(prefix):]:
            continue
        match = _NAME.fullmatch(key[len(prefix):])
        if match is None:
            other.append(key)
            continue
        kind, layer, reverse = match.groups()
        found[(kind, None if layer is None else int(layer), bool(reverse))] = (key, value)
    return found, other


def _shape(found, entry):
    return tuple(found[entry][1].shape)


def _detect(found, prefix):
    """(mode, H, P) from weight_hh (and weight_hr) of the first layer; FormatError when they do not fit."""
    first = min((k for k in found if k[0] == "weight_hh"), key=lambda k: (k[1] or 0, k[2]), default=None)
    if first is None:
        present = ", ".join(sorted(found[k][0] for k in found))
        raise FormatError(f"no weight_hh under prefix {prefix!r} (found {present}): not a complete recurrent "
                          f"layer")
    key, w_hh = found[first]
    if w_hh.ndim != 2 or w_hh.shape[1] == 0:
        raise FormatError(f"{key} has shape {tuple(w_hh.shape)}; expected (G*H, P), 2-D")
    P = w_hh.shape[1]
    hr = ("weight_hr",) + first[1:]
    if hr in found:
        w_hr = found[hr][1]
        if w_hr.ndim != 2 or w_hr.shape[0] != P or w_hr.shape[1] == 0:
            raise FormatError(f"{found[hr][0]} has shape {tuple(w_hr.shape)}; expected (P, H) with P = {P} "
                              f"(the columns of {key})")
        H = w_hr.shape[1]
    else:
        H = P
    gates, rest = divmod(w_hh.shape[0], H)
    if rest or gates not in _MODE_OF_GATES:
        source = f"the columns of {found[hr][0]}" if hr in found else "its columns"
        raise FormatError(f"{key} has shape {tuple(w_hh.shape)}: {w_hh.shape[0]} rows are not 1, 3 or 4 gate "
                          f"blocks of H = {H} ({source}) as in an RNN, GRU or LSTM")
    mode = _MODE_OF_GATES[gates]
    if hr in found and mode != "LSTM":
        raise FormatError(f"{found[hr][0]}: a projection (weight_hr) belongs to an LSTM, but {key} has "
                          f"{gates} gate block(s)")
    return mode, H, P


def config_from_state_dict(state_dict, prefix="", mode="LSTM"):
    """(kwargs, weights) for a fastrnn layer of `mode` ("RNN", "LSTM", "GRU") from the weights under `prefix`.

    kwargs: input_size, hidden_size, num_layers, bias, bidirectional (+ proj_size, peephole for LSTM).
    weights: {torch name without prefix: NumPy array}; cell-module names (weight_ih, ...) become _l0 names.
    state_dict: a mapping of names to arrays or torch tensors; nested checkpoints are flattened with "."
    (so prefix="model.encoder.lstm." reaches into {"model": state_dict, ...}).
    Raises FormatError naming the key for incomplete or inconsistent sets (a missing layer, reverse weights for
    some layers only, shapes that disagree, a bias_ih without bias_hh, unexpected keys) and for a mode mismatch.
    """
    if mode not in GATES:
        raise ValueError(f"mode must be 'RNN', 'LSTM' or 'GRU'; got {mode!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string; got {type(prefix).__name__}")
    arrays = _flat(state_dict)
    found, other = _group(arrays, prefix)
    if not found:
        raise FormatError(_nothing_found_text(arrays, prefix, mode))
    if other:
        raise FormatError(f"unexpected key {other[0]!r} beside the recurrent weights under prefix {prefix!r}")
    detected, H, P = _detect(found, prefix)
    if detected != mode:
        raise FormatError(f"the weights under prefix {prefix!r} are a {detected}'s "
                          f"({found[_first_hh(found)][0]} has {GATES[detected]} gate block(s) of H = {H}), "
                          f"not a {mode}'s: use fastrnn.{detected}.from_state_dict")
    cell = [k for k in found if k[1] is None]
    if cell:
        return _cell_config(found, cell, prefix, mode, H)
    return _layer_config(found, prefix, mode, H, P)


def _first_hh(found):
    return min((k for k in found if k[0] == "weight_hh"), key=lambda k: (k[1] or 0, k[2]))


def _cell_config(found, cell, prefix, mode, H):
    """nn.LSTMCell / GRUCell / RNNCell: weight_ih, weight_hh, [bias_ih, bias_hh] -> a one-layer config."""
    if len(cell) != len(found):
        layered = next(found[k][0] for k in found if k[1] is not None)
        raise FormatError(f"{layered} (a layer's name) mixed with cell names (weight_ih, ...) under prefix "
                          f"{prefix!r}")
    kinds = {k[0] for k in cell}
    unknown = sorted(kinds - {"weight_ih", "weight_hh", "bias_ih", "bias_hh"})
    if unknown:
        raise FormatError(f"{prefix}{unknown[0]}: torch's cell modules have no such weight")
    G = GATES[mode] * H
    if "weight_ih" not in kinds:
        raise FormatError(f"missing key {prefix}weight_ih (the cell's input weights)")
    w_ih = found[("weight_ih", None, False)][1]
    if w_ih.ndim != 2 or w_ih.shape[0] != G:
        raise FormatError(f"{prefix}weight_ih has shape {tuple(w_ih.shape)}; expected (G*H, I) with G*H = {G}")
    bias = _check_bias(found, prefix, kinds, None, False, G, "")
    weights = {f"{kind}_l0": value for (kind, _, _), (_, value) in found.items()}  # arrays (see flatten)
    kwargs = dict(input_size=int(w_ih.shape[1]), hidden_size=int(H), num_layers=1, bias=bias, bidirectional=False)
    if mode == "LSTM":
        kwargs.update(proj_size=0, peephole=False)
    return kwargs, weights


def _check_bias(found, prefix, kinds, layer, reverse, G, sfx):
    if ("bias_ih" in kinds) != ("bias_hh" in kinds):
        have, missing = ("bias_ih", "bias_hh") if "bias_ih" in kinds else ("bias_hh", "bias_ih")
        raise FormatError(f"{prefix}{have}{sfx} present but {prefix}{missing}{sfx} missing (torch layers have "
                          f"both biases or neither)")
    for kind in ("bias_ih", "bias_hh"):
        if kind in kinds:
            key, value = found[(kind, layer, reverse)]
            if tuple(value.shape) != (G,):
                raise FormatError(f"{key} has shape {tuple(value.shape)}; expected (G*H,) = ({G},)")
    return "bias_ih" in kinds


def _layer_config(found, prefix, mode, H, P):
    layers = sorted({k[1] for k in found})
    for expected, layer in enumerate(layers):
        if layer != expected:
            raise FormatError(f"missing layer {expected} under prefix {prefix!r}: found weights of layers "
                              f"{layers} (e.g. {prefix}weight_ih_l{expected} is missing)")
    num_layers = len(layers)
    bidirectional = any(k[2] for k in found)
    directions = (False, True) if bidirectional else (False,)
    G = GATES[mode] * H
    D = len(directions)
    reference_kinds, reference_sfx = None, None
    input_size = None
    for layer in layers:
        for reverse in directions:
            sfx = f"_l{layer}" + ("_reverse" if reverse else "")
            kinds = {k[0] for k in found if k[1] == layer and k[2] == reverse}
            if not kinds:
                raise FormatError(f"missing key {prefix}weight_ih{sfx}: the layer is bidirectional "
                                  f"({_any_reverse(found)} exists) but layer {layer}'s "
                                  f"{'reverse' if reverse else 'forward'} direction has no weights")
            if reference_kinds is None:
                reference_kinds, reference_sfx = kinds, sfx
            elif kinds != reference_kinds:
                extra = sorted(kinds ^ reference_kinds)[0]
                has, lacks = (sfx, reference_sfx) if extra in kinds else (reference_sfx, sfx)
                raise FormatError(f"{prefix}{extra}{has} present but {prefix}{extra}{lacks} missing: every layer "
                                  f"and direction must have the same weights")
            for kind in ("weight_ih", "weight_hh"):
                if kind not in kinds:
                    raise FormatError(f"missing key {prefix}{kind}{sfx}")
            w_ih = found[("weight_ih", layer, reverse)][1]
            expected_in = D * P if layer else input_size  # None: layer 0's first direction sets I
            if w_ih.ndim != 2 or w_ih.shape[0] != G or (expected_in is not None and w_ih.shape[1] != expected_in):
                legend = "(G*H, D*P)" if layer else "(G*H, I)"
                want = f"({G}, {expected_in})" if expected_in is not None else f"({G}, I)"
                raise FormatError(f"{prefix}weight_ih{sfx} has shape {tuple(w_ih.shape)}; expected {legend} = "
                                  f"{want}")
            if layer == 0 and input_size is None:
                input_size = int(w_ih.shape[1])
            _expect(found, ("weight_hh", layer, reverse), (G, P), "(G*H, P)")
            if "weight_hr" in kinds:
                _expect(found, ("weight_hr", layer, reverse), (P, H), "(P, H)")
            if "weight_peephole" in kinds:
                if mode != "LSTM":
                    raise FormatError(f"{prefix}weight_peephole{sfx}: peepholes belong to an LSTM, not a {mode}")
                _expect(found, ("weight_peephole", layer, reverse), (3, H), "(3, H)")
            _check_bias(found, prefix, kinds, layer, reverse, G, sfx)
    kinds = reference_kinds
    weights = {found[k][0][len(prefix):]: found[k][1] for k in found}
    kwargs = dict(input_size=input_size, hidden_size=int(H), num_layers=num_layers, bias="bias_ih" in kinds,
                  bidirectional=bidirectional)
    if mode == "LSTM":
        kwargs.update(proj_size=int(P) if "weight_hr" in kinds else 0, peephole="weight_peephole" in kinds)
    return kwargs, weights


def _any_reverse(found):
    return next(found[k][0] for k in sorted(found, key=lambda k: (k[1], k[0])) if k[2])


def _expect(found, entry, shape, legend):
    key, value = found[entry]
    if tuple(value.shape) != shape:
        raise FormatError(f"{key} has shape {tuple(value.shape)}; expected {legend} = {shape}")


def _nothing_found_text(arrays, prefix, mode):
    layers = [entry["prefix"] for entry in find_recurrent_layers(arrays)]
    where = (f"; recurrent layers in this state dict are under the prefixes {layers}" if layers
             else "; this state dict holds no recurrent layer")
    return f"no {mode} weights (weight_ih_l0, weight_hh_l0, ...) directly under prefix {prefix!r}{where}"


def find_recurrent_layers(state_dict):
    """Every RNN / LSTM / GRU (or cell) in a state dict (nested checkpoints are flattened with ".").

    Returns a list, in key order, of {"prefix": "encoder.lstm.", "mode": "LSTM", "config": kwargs for
    fastrnn.LSTM, "cell": bool (torch cell-module names), "note": what the weights do not tell, or ""}.
    The mode is read from the shapes (see the module docstring: G = weight_hh rows / H gives 4 LSTM, 3 GRU,
    1 RNN; unambiguous for torch's layers).
    A group of recurrent-looking keys that does not form a valid layer is listed with mode None, config None
    and "error": the message config_from_state_dict would raise.
    """
    arrays = _flat(state_dict)
    prefixes = []
    for key in arrays:
        prefix, _, leaf = key.rpartition(".")
        prefix = prefix + "." if prefix else ""
        if _NAME.fullmatch(leaf) and prefix not in prefixes:
            prefixes.append(prefix)
    result = []
    for prefix in prefixes:
        found, _ = _group(arrays, prefix)
        entry = {"prefix": prefix, "mode": None, "config": None, "cell": any(k[1] is None for k in found),
                 "note": ""}
        try:
            mode = _detect(found, prefix)[0]
            entry["config"] = config_from_state_dict(arrays, prefix, mode)[0]
            entry["mode"], entry["note"] = mode, _NOT_STORED[mode]
        except FormatError as exc:
            entry["error"] = str(exc)
        result.append(entry)
    return result
