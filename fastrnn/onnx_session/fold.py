"""The bytes a node would produce from constant inputs, counted before the session folds it at load: each
folded node is charged at this size against the budget from_onnx uses (fastrnn/io/onnx_constants.py:
FOLD_LIMIT x what the file and its external data hold + FOLD_SLACK).

Exact for the ops that can grow data (ConstantOfShape, Expand, Tile, Range, Pad, Concat, Gather, MatMul, Gemm,
Conv, Cast); other ops produce at most the broadcast of their inputs (element-wise) or their data input.
"""
import math

import numpy as np


def _count(shape):
    return math.prod(max(int(d), 0) for d in shape)


def _attr(node, name, default):
    return node.attrs.get(name, default)


def output_bytes(node, arrays):
    """Upper bound of the bytes `node` makes from `arrays` (its inputs in order, None where absent); raises
    ValueError / TypeError for inputs that make no sense (the node then cannot be folded)."""
    present = [a for a in arrays if a is not None]
    if not present:
        return _constant_bytes(node)
    data = present[0]
    itemsize = data.itemsize   # what the data input holds; index, shape and pad inputs do not carry over
    op = node.op
    if op == "ConstantOfShape":
        value = node.attrs.get("value")
        return _count(data.reshape(-1)) * (4 if value is None else np.asarray(value).itemsize)
    if op == "Expand":
        return _count(np.broadcast_shapes(data.shape, tuple(int(d) for d in arrays[1].reshape(-1)))) * itemsize
    if op == "Tile":
        return _count(d * int(r) for d, r in zip(data.shape, arrays[1].reshape(-1))) * itemsize
    if op == "Range":
        start, limit, delta = (float(a.reshape(-1)[0]) for a in arrays[:3])
        return (max(math.ceil((limit - start) / delta), 0) if delta else 0) * itemsize
    if op == "Pad":
        pads = arrays[1] if len(arrays) > 1 and arrays[1] is not None else np.array(_attr(node, "pads", []))
        pads = [int(p) for p in pads.reshape(-1)]
        axes = arrays[3] if len(arrays) > 3 and arrays[3] is not None else np.arange(data.ndim)
        shape = list(data.shape)
        for k, axis in enumerate(int(a) % data.ndim for a in axes.reshape(-1)):
            shape[axis] += max(pads[k], 0) + max(pads[k + axes.size], 0)
        return _count(shape) * itemsize
    if op == "Concat":
        return sum(a.nbytes for a in present)
    if op == "Gather":
        axis = _attr(node, "axis", 0) % max(data.ndim, 1)
        return arrays[1].size * (data.size // max(data.shape[axis], 1)) * itemsize
    if op in ("MatMul", "Gemm"):
        a, b = arrays[0], arrays[1]
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) if a.ndim > 2 or b.ndim > 2 else ()
        return _count(batch) * a.shape[0 if op == "Gemm" and _attr(node, "transA", 0) else -2 if a.ndim > 1 else 0] \
            * b.shape[0 if op == "Gemm" and _attr(node, "transB", 0) else -1] * itemsize
    if op == "Conv":
        return data.shape[0] * arrays[1].shape[0] * (data.shape[-1] + sum(_attr(node, "pads", [0, 0]))) * itemsize
    if op == "Cast":
        return data.size * 16
    itemsize = max(a.itemsize for a in present)
    try:
        return _count(np.broadcast_shapes(*(a.shape for a in present))) * itemsize
    except ValueError:
        return sum(a.nbytes for a in present)


def _constant_bytes(node):
    value = node.attrs.get("value")
    return int(np.asarray(value).nbytes) if value is not None else 64
