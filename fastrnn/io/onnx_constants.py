"""The constant values of an ONNX graph, for from_onnx: initializers, Constant nodes, and the outputs of
data-movement nodes (Slice, Concat, Unsqueeze, Reshape, ...) whose inputs are all constants.

The last kind is what torch.onnx.export(..., do_constant_folding=False) writes: a recurrent node's W is then a
Concat of Slices of the parameter initializers (torch's gate blocks reordered into ONNX's), computed at run time.
Such nodes are evaluated here, on demand and once each, by onnx's own reference implementation
(onnx.reference.ReferenceEvaluator) under the file's opset; only the ops in FOLDABLE_OPS, which move or
convert data and compute nothing, are evaluated, within a budget of bytes (a crafted chain of Concats must not
become a memory bomb).
"""
import numpy as np

from .errors import FormatError

FOLDABLE_OPS = frozenset({"Identity", "Slice", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Transpose",
                          "Gather", "Split", "Cast", "Flatten"})
# Bytes all evaluated nodes may produce together: FOLD_LIMIT x what the file and its external data hold
# + FOLD_SLACK. Moving weights
# around makes a few copies of them; a chain of Concats doubling a tensor, or a Gather repeating rows, could
# otherwise ask for terabytes from a small file.
FOLD_LIMIT = 16
FOLD_SLACK = 64 << 20


class Constants:
    """Values of the graph of `model` that are known without running it, by output name."""

    def __init__(self, onnx, model, stored_bytes):
        self._onnx = onnx
        self._budget = FOLD_LIMIT * stored_bytes + FOLD_SLACK   # bytes evaluated nodes may still produce
        self._opsets = {o.domain or "": o.version for o in model.opset_import}
        self._tensors = {t.name: t for t in model.graph.initializer}   # name -> TensorProto or ndarray
        self._producers = {}                                            # output name -> (index, node)
        for index, node in enumerate(model.graph.node):
            if node.op_type == "Constant":
                for attribute in node.attribute:
                    if attribute.name == "value" and node.output:
                        self._tensors[node.output[0]] = attribute.t
            for output in node.output:
                self._producers.setdefault(output, (index, node))
        self.folded = set()   # indexes of the nodes evaluated here
        self._failed = set()

    def get(self, name, depth=0):
        """The value named `name` as a NumPy array (a TensorProto converted by onnx), or None if it is not
        constant. Raises what onnx.numpy_helper raises for a malformed stored tensor."""
        value = self._tensors.get(name)
        if value is None:
            value = self._fold(name, depth)
        elif not hasattr(value, "dtype"):
            value = self._tensors[name] = self._onnx.numpy_helper.to_array(value)
        return value

    def _fold(self, name, depth):
        index, node = self._producers.get(name, (None, None))
        if node is None or node.op_type not in FOLDABLE_OPS or node.domain not in ("", "ai.onnx") \
                or index in self._failed or depth > 64:
            return None
        inputs = {}
        for input_name in node.input:
            if input_name:
                value = self.get(input_name, depth + 1)
                if value is None:
                    return None
                inputs[input_name] = value
        estimate = _output_bytes(node, inputs)
        if estimate > self._budget:
            raise FormatError(f"evaluating ONNX {node.op_type} node {node.name!r} would produce about {estimate} "
                              f"bytes, past what {FOLD_LIMIT}x the file's size allows (a crafted graph?)")
        self._budget -= estimate
        try:
            from onnx.reference import ReferenceEvaluator
            outputs = ReferenceEvaluator(node, opsets=self._opsets).run(None, inputs)
        except Exception:  # noqa: BLE001 - a node the reference cannot evaluate: not a constant here
            self._failed.add(index)
            return None
        self.folded.add(index)
        for output_name, value in zip(node.output, outputs):
            self._tensors[output_name] = value
        return self._tensors.get(name)


def _output_bytes(node, inputs):
    """The bytes `node` produces from `inputs` {name: array}, counted before it runs: each input as often as the
    node names it (a Concat of ["k"] * 600 is 600 copies of k), a Cast at its target's item size, a Gather as
    the gathered rows, the data-movement ops as their data input."""
    arrays = [np.asarray(inputs[name]) if name else None for name in node.input]
    data = arrays[0] if arrays else None
    if data is None:
        return 0
    if node.op_type == "Concat":
        return sum(a.nbytes for a in arrays if a is not None)
    if node.op_type == "Cast":
        return data.size * _cast_itemsize(node)
    if node.op_type == "Gather" and len(arrays) == 2 and arrays[1] is not None:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        rows = data.shape[axis] if data.ndim and -data.ndim <= axis < data.ndim else 1
        return arrays[1].size * (data.size // max(rows, 1)) * data.itemsize
    return data.nbytes   # Identity, Slice, Split, Reshape, Squeeze, Unsqueeze, Transpose, Flatten: at most the data


def _cast_itemsize(node):
    """The item size of a Cast node's target type (16, the widest, when it is not a known type)."""
    from onnx.helper import tensor_dtype_to_np_dtype
    to = next((a.i for a in node.attribute if a.name == "to"), 0)
    try:
        return np.dtype(tensor_dtype_to_np_dtype(to)).itemsize
    except Exception:  # noqa: BLE001 - an unknown or undefined type: the evaluation will refuse it
        return 16
