"""The session's plan, made once at load: every value of the graph gets a slot in a list; nodes are put in
topological order (a cycle, or a value nobody defines, is a FormatError naming it); every op is checked
against the ops the executor has (one FormatError naming the first op it lacks and its node); nodes whose inputs
are all constants are evaluated here ("folded"), each charged at the bytes it makes before it is made, against
the budget from_onnx uses. What remains is a list of steps (function, input slots, output slots) that a call
runs in order, with nothing else to look up.
"""
import collections

import numpy as np

from fastrnn.io.errors import FormatError

from . import fold, fuse, ops_elementwise, ops_nn, ops_tensor, shapes
from .ops_recurrent import STATE_INPUTS, RecurrentStep

BUILDERS = {**ops_elementwise.BUILDERS, **ops_tensor.BUILDERS, **ops_nn.BUILDERS}
RECURRENT = ("LSTM", "GRU", "RNN")
_RECURRENT_WEIGHTS = (1, 2, 3, 7)   # W, R, B, P: input positions of a recurrent node read once at load
TUPLE_OPS = frozenset(RECURRENT) | {"Split"}   # functions that return a tuple whatever the node's outputs
SUPPORTED = frozenset(BUILDERS) | frozenset(RECURRENT) | {"Constant"}


def onnx_dtype(code, node=None):
    """The NumPy dtype of an ONNX TensorProto data type code; FormatError for a type fastrnn does not run."""
    from onnx.helper import tensor_dtype_to_np_dtype
    try:
        dtype = np.dtype(tensor_dtype_to_np_dtype(code))
    except Exception:  # noqa: BLE001 - an unknown code, or a type NumPy lacks (bfloat16, float8)
        where = f"{node.op} node {node.name!r}: " if node is not None else ""
        raise FormatError(f"{where}data type {code} is not one fastrnn computes with") from None
    if dtype.kind not in "biuf":
        where = f"{node.op} node {node.name!r}: " if node is not None else ""
        raise FormatError(f"{where}data type {dtype} is not one fastrnn computes with (numbers and booleans)")
    return dtype


class NodeSpec:
    """One node as the op builders see it: op, name, attrs {name: Python value or array}, opset, inputs and
    outputs (value names, "" for an absent optional one), constants (per input, its value when it is a constant
    at load, else None: builders specialise on constant axes and shapes), proto (the NodeProto)."""

    def __init__(self, onnx, proto, index, opset):
        self.proto, self.op, self.opset = proto, proto.op_type, opset
        self.name = proto.name or f"{proto.op_type}_{index}"
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        self.attrs = {a.name: _attribute(onnx, a, self) for a in proto.attribute}
        self.constants = [None] * len(self.inputs)


def _attribute(onnx, attribute, node):
    try:
        value = onnx.helper.get_attribute_value(attribute)
    except Exception as exc:  # noqa: BLE001 - an attribute of an unknown type
        raise FormatError(f"{node.op} node {node.name!r}: attribute {attribute.name} is unreadable: {exc}") from None
    if value is None:
        raise FormatError(f"{node.op} node {node.name!r}: attribute {attribute.name} has no value")
    try:
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8") for v in value]
        if isinstance(value, onnx.TensorProto):
            return _read_only(onnx.numpy_helper.to_array(value))
    except UnicodeDecodeError:
        raise FormatError(f"{node.op} node {node.name!r}: attribute {attribute.name} is not UTF-8 text") from None
    except Exception as exc:  # noqa: BLE001 - a malformed tensor attribute
        raise FormatError(f"{node.op} node {node.name!r}: attribute {attribute.name} is not a readable tensor: "
                          f"{exc}") from None
    if isinstance(value, onnx.GraphProto) or (isinstance(value, list) and value
                                               and isinstance(value[0], onnx.GraphProto)):
        raise FormatError(f"{node.op} node {node.name!r}: subgraphs (attribute {attribute.name}) are not run")
    return value


def _detached(onnx, value):
    """A copy of a ValueInfoProto of its own (a sub-message would keep the whole parsed file alive)."""
    copy = onnx.ValueInfoProto()
    copy.CopyFrom(value)
    return copy


def _read_only(array):
    array = np.asarray(array)
    array.flags.writeable = False
    return array


def _constant_value(node):
    """The value of a Constant node (value, value_float(s), value_int(s))."""
    attrs = node.attrs
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return _read_only(np.array(attrs[key], dtype=dtype))
    raise FormatError(f"Constant node {node.name!r}: no value fastrnn reads (value, value_float(s), value_int(s))")


class Plan:
    """What a session runs: slots {value name: index}; initial [value or None per slot] (constants filled);
    steps [(function, input slots, output slots, NodeSpec)] in order; inputs and outputs [(name, ValueInfoProto)]
    with input_slots and output_slots; recurrent [RecurrentStep] (the ones a stream may carry states through);
    static [step index] (the steps computed from the inputs' shapes alone: fastrnn/onnx_session/shapes.py)."""

    def __init__(self, onnx, model, stored_bytes):
        from fastrnn.io import onnx_constants   # (fastrnn.io imports no reader until one is used)

        graph = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if opset is None:
            raise FormatError("the model imports no opset of the default ONNX domain")
        self.opset = opset
        self.slots, self.initial = {"": 0}, [None]   # slot 0: an absent optional input, always None
        constants = {}
        for tensor in graph.initializer:
            try:
                constants[tensor.name] = _read_only(onnx.numpy_helper.to_array(tensor))
            except Exception as exc:  # noqa: BLE001 - onnx raises ValueError, TypeError, ... on a bad tensor
                raise FormatError(f"initializer {tensor.name!r} is not a readable tensor: {exc}") from None
        self.inputs = [(v.name, _detached(onnx, v)) for v in graph.input if v.name not in constants]
        graph_inputs = {name for name, _ in self.inputs}
        nodes = [NodeSpec(onnx, proto, index, opset) for index, proto in enumerate(graph.node)]
        _refuse_unsupported(nodes)
        order = _topological(nodes, graph_inputs | set(constants))
        self._fold_limit = onnx_constants.FOLD_LIMIT
        self._budget = onnx_constants.FOLD_LIMIT * stored_bytes + onnx_constants.FOLD_SLACK
        self.input_slots = [self._slot(name) for name, _ in self.inputs]
        self.steps, self.recurrent, self._zeros = [], [], set()
        for node in order:
            self._plan_node(node, constants, graph_inputs)
            node.proto = None   # read: the NodeProto would keep the whole parsed file (its weights) alive
        self.outputs = []
        for value in graph.output:
            if value.name not in self.slots and value.name not in constants:
                raise FormatError(f"graph output {value.name!r} is not computed by any node")
            self.outputs.append((value.name, _detached(onnx, value)))
        self.output_slots = [self._slot(name) for name, _ in self.outputs]
        self.steps = fuse.fused_steps(_without_dead_steps(self.steps, self.output_slots), self.output_slots,
                                      constants, self.slots)
        for name, slot in self.slots.items():   # only the constants a step or an output reads stay referenced
            # (a fused step's added inputs, a stored bias or axes, among them)
            if name in constants:
                self.initial[slot] = constants[name]
        self.static = shapes.static_steps(self.steps, self.input_slots, self.initial)

    def _slot(self, name):
        slot = self.slots.get(name)
        if slot is None:
            slot = self.slots[name] = len(self.initial)
            self.initial.append(None)
        return slot

    def _unused_slot(self):
        """A slot of its own for an output the graph does not name (slot 0 must stay None)."""
        self.initial.append(None)
        return len(self.initial) - 1

    def _plan_node(self, node, constants, graph_inputs):
        if node.op == "Constant":
            constants[node.outputs[0]] = _constant_value(node)
            return
        if node.op in RECURRENT:
            for position in STATE_INPUTS:   # zero initial states (exporters build them from Shape(X)) are the
                if len(node.inputs) > position and node.inputs[position] in self._zeros:   # layer's own default:
                    node.inputs[position] = ""   # absent, and the shape arithmetic before them is left out
            step = RecurrentStep(node, constants, graph_inputs)
            self.recurrent.append(step)
            function = step
        else:
            node.constants = [constants.get(name) if name else None for name in node.inputs]
            try:
                function = BUILDERS[node.op](node)
            except (TypeError, ValueError, AttributeError, IndexError) as exc:   # attributes of the wrong kind
                raise FormatError(f"{node.op} node {node.name!r}: attributes fastrnn cannot use: {exc}") from None
        present = [name for name in node.inputs if name]
        if node.op not in RECURRENT and all(name in constants for name in present):
            self._fold(node, function, constants)
            return
        if _makes_zeros(node, constants, self._zeros):
            self._zeros.update(node.outputs)
        if node.op in TUPLE_OPS and len(node.outputs) == 1:
            function = _first_of(function)
        weights = _RECURRENT_WEIGHTS if node.op in RECURRENT else ()   # the layer holds its own copy of them
        ins = tuple(0 if k in weights else self._slot(name) for k, name in enumerate(node.inputs))
        outs = tuple(self._slot(name) if name else self._unused_slot() for name in node.outputs)
        self.steps.append((function, ins, outs, node))

    def _fold(self, node, function, constants):
        arrays = [constants[name] if name else None for name in node.inputs]
        try:
            size = fold.output_bytes(node, arrays)
        except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as exc:
            raise FormatError(f"{node.op} node {node.name!r} has constant inputs that make no sense: {exc}") from None
        if size > self._budget:
            raise FormatError(f"evaluating {node.op} node {node.name!r} at load would produce about {size} bytes, "
                              f"past what {self._fold_limit}x the file's size allows (a crafted graph?)")
        self._budget -= size
        try:
            result = function(*arrays)
        except Exception as exc:  # noqa: BLE001 - any error of an op on the file's own constants
            raise FormatError(f"{node.op} node {node.name!r} fails on its constant inputs: {exc}") from None
        results = result if isinstance(result, tuple) else (result,)
        for name, value in zip(node.outputs, results):
            if name:
                constants[name] = _read_only(np.array(value))   # a copy: a view would pin a larger base


def _makes_zeros(node, constants, zeros):
    """True when the node's outputs are all zeros whatever their shape: ConstantOfShape of 0, and Expand, Slice,
    Reshape, ... (ops that only move data) of zeros."""
    if node.op == "ConstantOfShape":
        value = node.attrs.get("value")
        return value is None or not np.any(value)
    if node.op not in _MOVES_DATA or not node.inputs:
        return False
    data = node.inputs if node.op == "Concat" else node.inputs[:1]
    return all(name in zeros or (name in constants and constants[name].size <= 1 << 16
                                 and not np.any(constants[name])) for name in data)


_MOVES_DATA = frozenset({"Expand", "Slice", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Cast",
                         "Gather", "Split", "Concat", "Tile", "Flatten"})


def _without_dead_steps(steps, output_slots):
    """The steps whose outputs a later step or a graph output reads (the others are left out)."""
    needed, kept = set(output_slots), []
    for step in reversed(steps):
        if needed.intersection(step[2]):
            kept.append(step)
            needed.update(step[1])
    return kept[::-1]


def _first_of(function):
    """`function` returning only the first of its results (a node that names one output)."""
    def first(*args, **kwargs):
        return function(*args, **kwargs)[0]
    first.carries = getattr(function, "carries", False)
    return first


def _refuse_unsupported(nodes):
    bad = [n for n in nodes if n.op not in SUPPORTED or n.proto.domain not in ("", "ai.onnx")]
    if bad:
        first = bad[0]
        domain = f" of domain {first.proto.domain!r}" if first.proto.domain not in ("", "ai.onnx") else ""
        more = f" (and {len(bad) - 1} more node(s): {', '.join(sorted({n.op for n in bad[1:]}))})" if bad[1:] else ""
        raise FormatError(f"op {first.op}{domain} (node {first.name!r}) is not one fastrnn.InferenceSession "
                          f"runs{more}")


def _topological(nodes, available):
    """The nodes in an order where every input is defined before use (Kahn's algorithm, stable)."""
    producer = {}
    for node in nodes:
        for name in node.outputs:
            if name:
                producer[name] = node
    for node in nodes:
        for name in node.inputs:
            if name and name not in available and name not in producer:
                raise FormatError(f"{node.op} node {node.name!r}: input {name!r} is not defined (not a graph "
                                  f"input, initializer or node output)")
    waiting = {id(node): sum(1 for name in set(node.inputs) if name and name not in available) for node in nodes}
    users = {}
    for node in nodes:
        for name in set(node.inputs):
            if name and name not in available:
                users.setdefault(name, []).append(node)
    ready = collections.deque(node for node in nodes if waiting[id(node)] == 0)
    order = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for name in node.outputs:
            for user in users.get(name, ()):
                waiting[id(user)] -= 1
                if waiting[id(user)] == 0:
                    ready.append(user)
    if len(order) != len(nodes):
        stuck = [node.name for node in nodes if waiting[id(node)] > 0]
        raise FormatError(f"the graph has a cycle: node(s) {', '.join(map(repr, stuck[:5]))} wait on each other")
    return order
