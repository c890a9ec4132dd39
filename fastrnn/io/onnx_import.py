"""ONNX LSTM / GRU / RNN nodes as fastrnn layers: what `fastrnn.from_onnx` returns and `fastrnn inspect` shows.

An ONNX recurrent node holds one layer, all its directions (D = 1, or 2 when bidirectional):
  X (T, B, I) (layout 1: (B, T, I)); W (D, G*H, I); R (D, G*H, H); B (D, 2*G*H) = [Wb, Rb] (optional, else 0);
  sequence_lens (B,), initial_h (D, B, H), initial_c (D, B, H) (layout 1: (B, D, H)); LSTM: P (D, 3H).
Gate blocks, ONNX -> torch (fastrnn's rows):
  LSTM  i, o, f, c  ->  i, f, g, o        (blocks [0, 2, 3, 1]);   peepholes P  i, o, f  ->  [i, f, o]  ([0, 2, 1])
  GRU   z, r, h     ->  r, z, n           (blocks [1, 0, 2]);      linear_before_reset 0 -> fastrnn
        GRU(linear_before_reset=False) (Cho et al.), 1 -> True (torch's formula)
  RNN   one block; activation Tanh or Relu -> nonlinearity "tanh" / "relu"
W -> weight_ih_l0, R -> weight_hh_l0, Wb -> bias_ih_l0, Rb -> bias_hh_l0 (direction 1: the "_reverse" names).
direction "forward" and "bidirectional" give a fastrnn layer (bidirectional=True); "reverse" gives a
ReverseLSTM / ReverseGRU / ReverseRNN (fastrnn/io/reversed_layers.py). Every layer has a `direction` attribute.
layout 1 gives batch_first=True. When calling a layer, states are (D, B, H) as for any fastrnn layer (ONNX's
layout-1 initial_h (B, D, H) is transposed to that), and sequence_lens is `lengths`. The output is
(T, B, D*H), ONNX's Y (T, D, B, H) with the direction axis moved in and merged; the final states are Y_h, Y_c.

Attributes fastrnn does not compute (activations other than the defaults, activation_alpha/beta, clip,
input_forget=1) raise FormatError naming the node and the attribute. W, R, B and P must be constants: initializers,
Constant nodes, or data-movement nodes over those (fastrnn/io/onnx_constants.py). Other nodes (embeddings, heads,
reshapes) are skipped and named in a warning: chain the returned layers with your own code around them, or run
the whole graph with fastrnn.InferenceSession (fastrnn/onnx_session/).
(torch.onnx.export writes one node per layer of an nn.LSTM / GRU / RNN; its default dynamo exporter unrolls nn.RNN
into MatMul/Add nodes, which hold no recurrent node: export such models with dynamo=False.)
Needs the `onnx` package (pip install "fastrnn[onnx]"); the file is read and checked by fastrnn/io/onnx_file.py,
the weights converted with onnx.numpy_helper.
"""
import collections
import warnings

import numpy as np

from .errors import FormatError

RECURRENT_OPS = ("LSTM", "GRU", "RNN")
_GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
_PEEPHOLE_ORDER = [0, 2, 1]
_DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
# attributes read here per op (output_sequence: opsets < 7, only says whether Y is written)
_READ_ATTRIBUTES = {"direction", "hidden_size", "layout", "activations", "output_sequence"}
_OP_ATTRIBUTES = {"LSTM": {"input_forget"}, "GRU": {"linear_before_reset"}, "RNN": set()}
_UNSUPPORTED_ATTRIBUTES = ("clip", "activation_alpha", "activation_beta")
_ONNX_FIELDS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72}  # ModelProto fields that may follow ir_version


def import_onnx():
    """The onnx module, or ImportError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise ImportError('reading ONNX files needs the onnx package: pip install "fastrnn[onnx]" '
                          '(or pip install onnx)') from None
    return onnx


def looks_like_onnx(head):
    """True if the first bytes `head` of a file look like a serialized ONNX ModelProto (field 1, ir_version)."""
    return len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] < 0x80 and head[2] in _ONNX_FIELDS


def from_onnx(path):
    """See fastrnn.from_onnx."""
    layers, _, skipped = read_onnx(path)
    if skipped:
        ops = ", ".join(f"{op} x{count}" if count > 1 else op for op, count in skipped.items())
        warnings.warn(f"{path}: read {len(layers)} recurrent node(s); skipped {sum(skipped.values())} other "
                      f"node(s), which fastrnn does not import: {ops} (fastrnn.InferenceSession(path) runs the "
                      f"whole graph)", stacklevel=3)
    return layers


def read_onnx(path):
    """({node name: layer}, [description per recurrent node], Counter of skipped op types), in graph order."""
    from .onnx_constants import Constants

    from .onnx_file import load_model

    onnx = import_onnx()
    model, stored_bytes = load_model(onnx, path)
    constants = Constants(onnx, model, stored_bytes)
    layers, descriptions, recurrent = {}, [], set()
    for index, node in enumerate(model.graph.node):
        if node.op_type not in RECURRENT_OPS or node.domain not in ("", "ai.onnx"):
            continue
        recurrent.add(index)
        name = node.name or f"{node.op_type}_{index}"
        while name in layers:   # a repeated name, or one a renamed node already took ("a", "a_2", "a")
            name = f"{name}_{index}"
        try:
            layer, description = _node_layer(onnx, node, name, constants)
        except FormatError as exc:
            raise FormatError(f"{path}: {exc}") from None
        layers[name] = layer
        descriptions.append(description)
    skipped = collections.Counter(node.op_type for index, node in enumerate(model.graph.node)
                                  if node.op_type != "Constant" and index not in recurrent | constants.folded)
    return layers, descriptions, skipped


# -------------------------------------------------------------------------------------------- one node
def _attributes(onnx, node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _check_attributes(node, name, attrs, D):
    """The fastrnn options the node's attributes map to (nonlinearity of an RNN); FormatError otherwise."""
    def refuse(attribute, detail):
        raise FormatError(f"ONNX {node.op_type} node {name!r}: attribute {attribute} {detail}, which fastrnn does "
                          f"not compute")

    for attribute, value in attrs.items():
        if attribute in _UNSUPPORTED_ATTRIBUTES:
            refuse(attribute, f"= {value!r}")
        if attribute not in _READ_ATTRIBUTES | _OP_ATTRIBUTES[node.op_type]:
            refuse(attribute, "is unknown")
    if attrs.get("input_forget", 0) != 0:
        refuse("input_forget", f"= {attrs['input_forget']!r} (coupled input and forget gates)")
    activations = [_text(a).lower() for a in attrs.get("activations", [])]
    if node.op_type == "RNN":
        activations = activations or ["tanh"] * D
        if len(activations) != D or len(set(activations)) != 1 or activations[0] not in ("tanh", "relu"):
            refuse("activations", f"= {attrs['activations']!r} (fastrnn's RNN uses Tanh or Relu, the same "
                                  f"in both directions)")
        return {"nonlinearity": activations[0]}
    default = _DEFAULT_ACTIVATIONS[node.op_type]
    if activations and activations != default * D:
        refuse("activations", f"= {[_text(a) for a in attrs['activations']]!r} (only the defaults "
                              f"{[a.capitalize() for a in default]} per direction)")
    return {}


def _constant(onnx, node, name, constants, position, label, required):
    """The node's input `position` as a NumPy array, None when absent; FormatError when not a constant."""
    input_name = node.input[position] if len(node.input) > position else ""
    if not input_name:
        if required:
            raise FormatError(f"ONNX {node.op_type} node {name!r} has no {label} input")
        return None
    try:
        value = constants.get(input_name)
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnx raises ValueError, TypeError, KeyError... on a bad tensor
        raise FormatError(f"ONNX {node.op_type} node {name!r}: {label} ({input_name!r}) is not a readable "
                          f"tensor: {type(exc).__name__}: {exc}") from None
    if value is None:
        raise FormatError(f"ONNX {node.op_type} node {name!r}: {label} ({input_name!r}) is computed by the "
                          f"graph from its inputs, not stored in the file; fastrnn imports stored weights only")
    return np.asarray(value)


def _blocks(matrix, order, H):
    """Rows (or entries) of `matrix` (G*H, ...) reordered by gate blocks of H, as a contiguous copy."""
    return np.ascontiguousarray(np.concatenate([matrix[g * H:(g + 1) * H] for g in order]))


def _torch_weights(mode, D, H, W, R, B, P):
    """fastrnn's (torch's) one-layer state dict from the node's W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H) or
    None, P (D, 3H) or None: gate blocks reordered, B split into bias_ih and bias_hh."""
    order, G = _GATE_ORDER[mode], len(_GATE_ORDER[mode]) * H
    weights = {}
    for d, suffix in enumerate(["_l0", "_l0_reverse"][:D]):
        weights[f"weight_ih{suffix}"] = _blocks(W[d], order, H)
        weights[f"weight_hh{suffix}"] = _blocks(R[d], order, H)
        if B is not None:
            weights[f"bias_ih{suffix}"] = _blocks(B[d, :G], order, H)
            weights[f"bias_hh{suffix}"] = _blocks(B[d, G:], order, H)
        if P is not None:
            weights[f"weight_peephole{suffix}"] = _blocks(P[d], _PEEPHOLE_ORDER, H).reshape(3, H)
    return weights


def _node_layer(onnx, node, name, constants):
    """(layer, description) of one ONNX LSTM / GRU / RNN node."""
    from ..layers import _NO_INIT, GRU, LSTM, RNN
    from .reversed_layers import REVERSED

    mode = node.op_type
    attrs = _attributes(onnx, node)
    direction = _text(attrs.get("direction", b"forward"))
    if direction not in ("forward", "reverse", "bidirectional"):
        raise FormatError(f"ONNX {mode} node {name!r}: unknown direction {direction!r}")
    D = 2 if direction == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    if layout not in (0, 1):
        raise FormatError(f"ONNX {mode} node {name!r}: unknown layout {layout!r}")
    options = _check_attributes(node, name, attrs, D)
    W = _constant(onnx, node, name, constants, 1, "W", True)
    R = _constant(onnx, node, name, constants, 2, "R", True)
    B = _constant(onnx, node, name, constants, 3, "B", False)
    P = _constant(onnx, node, name, constants, 7, "P", False) if mode == "LSTM" else None
    gates = len(_GATE_ORDER[mode])
    if R.ndim != 3 or R.shape[0] != D or R.shape[1] != gates * R.shape[2] or R.shape[2] == 0:
        raise FormatError(f"ONNX {mode} node {name!r}: R has shape {R.shape}; expected (D, {gates}*H, H) with "
                          f"D = {D} ({direction})")
    H = R.shape[2]
    if attrs.get("hidden_size", H) != H:
        raise FormatError(f"ONNX {mode} node {name!r}: hidden_size = {attrs['hidden_size']} but R has H = {H}")
    expected = {"W": (W, (D, gates * H, W.shape[-1] if W.ndim == 3 else -1)), "B": (B, (D, 2 * gates * H)),
                "P": (P, (D, 3 * H))}
    for label, (value, shape) in expected.items():
        if value is not None and value.shape != shape:
            raise FormatError(f"ONNX {mode} node {name!r}: {label} has shape {value.shape}; expected {shape}")
    for label, value in (("W", W), ("R", R), ("B", B), ("P", P)):
        if value is not None and value.dtype.kind != "f":
            raise FormatError(f"ONNX {mode} node {name!r}: {label} has dtype {value.dtype}; expected floats")
    dtype = np.float64 if W.dtype == np.float64 else np.float32
    weights = _torch_weights(mode, D, H, W, R, B, P)
    if mode == "LSTM":
        options["peephole"] = P is not None
    if mode == "GRU":
        options["linear_before_reset"] = bool(attrs.get("linear_before_reset", 0))
    cls = REVERSED[mode] if direction == "reverse" else {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}[mode]
    try:
        layer = cls(input_size=int(W.shape[2]), hidden_size=int(H), num_layers=1, bias=B is not None,
                    batch_first=layout == 1, bidirectional=D == 2, dtype=dtype, rng=_NO_INIT, **options)
        layer.load_state_dict(weights)
    except (ValueError, TypeError) as exc:  # an empty input size, NaN or infinite weights
        raise FormatError(f"ONNX {mode} node {name!r}: {exc}") from None
    if direction != "reverse":
        layer.direction = direction
    inputs = [node.input[i] if len(node.input) > i else "" for i in range(7)]
    _warn_of_stored_call_inputs(node, name, constants, inputs)
    description = {"name": name, "op": mode, "direction": direction, "layout": layout,
                   "input_size": int(W.shape[2]), "hidden_size": int(H), "bias": B is not None,
                   **{k: v for k, v in options.items() if k != "peephole" or v},
                   "sequence_lens": inputs[4] or None, "initial_h": inputs[5] or None,
                   "initial_c": (inputs[6] or None) if mode == "LSTM" else None, "layer": repr(layer)}
    return layer, description


def _warn_of_stored_call_inputs(node, name, constants, inputs):
    """Warn when sequence_lens or non-zero initial states are constants of the file: fastrnn layers take them
    as call arguments (lengths=, hx=), so calling without them would compute something else."""
    arguments = {4: ("sequence_lens", "lengths="), 5: ("initial_h", "hx"), 6: ("initial_c", "hx")}
    for position, (label, argument) in arguments.items():
        try:
            value = constants.get(inputs[position]) if inputs[position] else None
        except Exception:  # noqa: BLE001 - an unreadable stored state: fastrnn does not read it anyway
            value = None
        if value is not None:
            if position == 4 or np.any(np.asarray(value) != 0):
                warnings.warn(f"ONNX {node.op_type} node {name!r}: {label} is a constant of the file; fastrnn "
                              f"layers take it when called: pass it as {argument} (states as (D, B, H))",
                              stacklevel=4)
