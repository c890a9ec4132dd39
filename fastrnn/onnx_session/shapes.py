"""The steps whose results depend only on the shapes (and dtypes) of the graph inputs, found once at load: the
exporters' shape arithmetic (Shape -> Slice -> Concat -> Reshape's target, ConstantOfShape, Expand, the
position counters CumSum makes for masks). The executor (fastrnn/onnx_session/executor.py) runs them on the
first call for given input shapes and keeps their results (ShapeCache); later calls with the same shapes skip
them.

Per value two facts, propagated in step order: its shape is fixed by the inputs' shapes ("shaped"), or its
value is ("known"). Graph inputs are shaped; constants known; Shape and Size of a shaped value are known; a step
whose inputs are all known is known (every op but the recurrent ones, whose streams carry states, is a function
of its inputs). A step's outputs are shaped when its op's output shapes follow from its inputs' shapes and, at
the positions VALUE_INPUTS lists, their values (Reshape's target, Slice's bounds, ...); an op missing from
VALUE_INPUTS may make shapes from data (none of those the executor runs today), and its outputs are not shaped.
"""
import threading

import numpy as np

_ELEMENTWISE = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
                "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Neg", "Abs", "Sqrt", "Exp", "Log",
                "Reciprocal", "Floor", "Ceil", "Sign", "Sin", "Cos", "Tanh", "Sigmoid", "Relu", "Erf", "Softplus",
                "LeakyRelu", "Elu", "HardSigmoid", "PRelu", "Selu", "HardSwish", "Softsign", "Mish", "Gelu", "Clip",
                "Cast", "Where", "Identity", "IsNaN")
_SHAPES_FROM_SHAPES = ("Flatten", "Transpose", "Concat", "Gather", "GatherElements", "Trilu", "MatMul", "Einsum",
                       "Gemm", "Conv", "BatchNormalization", "LayerNormalization", "Softmax", "LogSoftmax", "ArgMax",
                       "ArgMin", "CumSum", "Dropout", "LSTM", "GRU", "RNN")
_REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2",
           "ReduceL1", "ReduceLogSumExp")
# op -> input positions whose values (not only shapes) decide the output shapes
VALUE_INPUTS = {**{op: () for op in _ELEMENTWISE + _SHAPES_FROM_SHAPES}, **{op: (1,) for op in _REDUCE},
                "Reshape": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,), "Expand": (1,), "Tile": (1,),
                "Slice": (1, 2, 3, 4), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Pad": (1, 2, 3)}
_STATEFUL = frozenset({"LSTM", "GRU", "RNN"})   # a stream feeds their states back: never cached


def static_steps(steps, input_slots, initial):
    """Indices of the steps computed from the inputs' shapes alone, among `steps` [(function, input slots,
    output slots, node)] in order; `initial` holds the constants (slot -> value or None)."""
    shaped = set(input_slots)
    known = {slot for slot, value in enumerate(initial) if value is not None} | {0}
    static = []
    for index, (_, ins, outs, node) in enumerate(steps):
        if node.op in ("Shape", "Size"):
            is_known = ins[0] in shaped or ins[0] in known
        else:
            is_known = node.op not in _STATEFUL and all(slot in known for slot in ins)
        if is_known:
            static.append(index)
            known.update(outs)
            shaped.update(outs)
        elif node.op in VALUE_INPUTS and all(slot in known if k in VALUE_INPUTS[node.op] else slot in shaped
                                              or slot in known for k, slot in enumerate(ins)):
            shaped.update(outs)
    return static


class ShapeCache:
    """{input shapes key: results of the static steps}, at most CAPACITY keys of at most ENTRY_BYTES each (the
    oldest key leaves first). Kept results are made read-only: a step that wrote into one would raise, not
    change the next call's answer. Safe from several threads (a lock around the changes; a lookup is one
    dict.get)."""

    CAPACITY = 16               # input shapes kept: a server sees a few batch sizes and lengths at once
    ENTRY_BYTES = 1 << 20       # shape vectors are bytes; the masks' position counters B x T x 8 bytes

    def __init__(self):
        self._entries = {}
        self._lock = threading.Lock()
        self.get = self._entries.get

    def remember(self, key, values):
        if not all(value.__class__ is np.ndarray for value in values) or \
                sum(value.nbytes for value in values) > self.ENTRY_BYTES:
            return
        for value in values:
            value.flags.writeable = False
        with self._lock:
            if key not in self._entries and len(self._entries) >= self.CAPACITY:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = values
