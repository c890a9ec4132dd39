"""Shape arithmetic and data movement for the session's executor: Shape, Size, Reshape, Flatten, Transpose,
Squeeze, Unsqueeze, Concat, Split, Slice, Gather, GatherElements, Trilu, Expand, Tile, ConstantOfShape, Range,
Pad.

Ops that can make arrays larger than their inputs (Expand, Tile, ConstantOfShape, Range, Pad) check the size
they are asked for before allocating: at load their constant cases are charged to the folding budget
(fastrnn/onnx_session/fold.py); at run time, an output past GROWTH_LIMIT bytes is a ValueError, never an
allocation. Views are returned where NumPy gives one (Expand is a broadcast view): no op writes into its inputs.
"""
import numpy as np

from fastrnn.io.errors import FormatError

# Bytes one op may produce at run time from shapes computed by the graph (a crafted graph asking Expand for
# 10^15 elements must fail, not swap): 4 GiB, above any tensor of the models fastrnn runs (the largest, a
# B=32, T=10^4 attention mask of booleans, is 3.2 GB).
GROWTH_LIMIT = 4 << 30


def check_growth(node, shape, itemsize):
    """ValueError when an output of `shape` would hold more than GROWTH_LIMIT bytes (or a negative dim)."""
    count = 1
    for dim in shape:
        if dim < 0:
            raise ValueError(f"{node.op} node {node.name!r}: negative dimension {dim} in the shape {tuple(shape)}")
        count *= int(dim)
    if count * itemsize > GROWTH_LIMIT:
        raise ValueError(f"{node.op} node {node.name!r} would make {count * itemsize} bytes (shape "
                         f"{tuple(int(d) for d in shape)}), past fastrnn's limit of {GROWTH_LIMIT} bytes per op")


def _axes(node, given, position_name="axes"):
    """Axes from the input (opset >= 13 for Squeeze/Unsqueeze) or the attribute of older opsets."""
    if given is not None:
        return np.asarray(given).reshape(-1).tolist()
    return list(node.attrs.get(position_name, []))


def constant_axes(node, position, attribute="axes"):
    """The node's axes when they are known at load (a constant input, or the attribute when the input is
    absent); None when they come at run time."""
    if len(node.inputs) > position and node.inputs[position]:
        value = node.constants[position]
        return None if value is None else np.asarray(value).reshape(-1).tolist()
    return list(node.attrs.get(attribute, []))


def _shape(node):
    start, end = node.attrs.get("start", 0), node.attrs.get("end")
    return lambda x: np.array(x.shape[start:end], np.int64)


def _size(node):
    return lambda x: np.array(x.size, np.int64)


def _reshape(node):
    allowzero = node.attrs.get("allowzero", 0)

    def run(data, shape):
        shape = shape.tolist() if shape.__class__ is np.ndarray else [int(d) for d in shape]
        if not allowzero and 0 in shape:
            shape = [data.shape[k] if d == 0 and k < data.ndim else d for k, d in enumerate(shape)]
        return data.reshape(shape)
    return run


def _flatten(node):
    axis = node.attrs.get("axis", 1)

    def run(x):
        k = axis + x.ndim if axis < 0 else axis
        return x.reshape(int(np.prod(x.shape[:k], dtype=np.int64)), int(np.prod(x.shape[k:], dtype=np.int64)))
    return run


def _transpose(node):
    perm = node.attrs.get("perm")
    return (lambda x: x.transpose()) if perm is None else (lambda x: x.transpose(perm))


def _squeeze(node):
    def run(data, axes=None):
        axes = _axes(node, axes)
        return np.squeeze(data, axis=tuple(axes)) if axes else np.squeeze(data)

    known = constant_axes(node, 1)
    if known:   # the usual export: constant axes; NumPy's method checks them (its errors named by the executor)
        axes_tuple = tuple(known)
        return lambda data, axes=None: data.squeeze(axes_tuple)
    return run


def _unsqueeze(node):
    known = constant_axes(node, 1)

    def run(data, axes=None):
        axes = known if known is not None else _axes(node, axes)
        rank = data.ndim + len(axes)
        shape = list(data.shape)
        for axis in sorted(a + rank if a < 0 else a for a in axes):
            if not 0 <= axis < rank:
                raise ValueError(f"Unsqueeze node {node.name!r}: axis {axis} outside the output's {rank} dims")
            shape.insert(axis, 1)
        return data.reshape(shape)

    if known is None:
        return run
    indices = {}   # input rank -> the index inserting the new axes (data[index] is one C call, a view)

    def fast(data, axes=None):
        index = indices.get(data.ndim)
        if index is None:
            run(data)   # the axes' check, raising for axes outside the output's dims
            rank = data.ndim + len(known)
            new = {a + rank if a < 0 else a for a in known}
            if len(new) != len(known):
                raise ValueError(f"Unsqueeze node {node.name!r}: axes {known} name one output axis twice")
            index = indices[data.ndim] = tuple(None if k in new else slice(None) for k in range(rank))
        return data[index]
    return fast


def _concat(node):
    axis = node.attrs.get("axis", 0)
    return lambda *arrays: np.concatenate(arrays, axis=axis)


def _split(node):
    axis, count = node.attrs.get("axis", 0), node.attrs.get("num_outputs", len(node.outputs))

    def run(x, split=None):
        sizes = _axes(node, split, "split")
        if not sizes:
            step = -(-x.shape[axis] // count)   # the last part is smaller when count does not divide the axis
            sizes = [min(step, x.shape[axis] - k * step) for k in range(count)]
        if sum(sizes) != x.shape[axis] or min(sizes) < 0:
            raise ValueError(f"Split node {node.name!r}: sizes {sizes} do not cover axis {axis} of {x.shape}")
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
    return run


def _slice(node):
    def run(data, starts, ends, axes=None, steps=None):
        index = [slice(None)] * data.ndim
        axes = range(len(starts)) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        for start, end, axis, step in zip(starts, ends, axes, steps):
            if step == 0:
                raise ValueError(f"Slice node {node.name!r}: a step of 0")
            index[int(axis)] = slice(int(start), int(end), int(step))
        return data[tuple(index)]
    return run


def _gather(node):
    axis = node.attrs.get("axis", 0)

    def run(data, indices):
        try:   # mode "raise": an index outside [-n, n) raises (negative ones count from the end, as in ONNX)
            return np.take(data, indices, axis=axis)
        except IndexError:
            raise ValueError(f"Gather node {node.name!r}: indices outside [-n, n) for axis {axis} of data "
                             f"{data.shape}") from None
    return run


def _gather_elements(node):
    axis = node.attrs.get("axis", 0)

    def run(data, indices):
        k = axis % data.ndim
        if indices.size and (indices.min() < -data.shape[k] or indices.max() >= data.shape[k]):
            raise ValueError(f"GatherElements node {node.name!r}: indices outside [-n, n) for axis {axis} of data "
                             f"{data.shape}")
        return np.take_along_axis(data, np.where(indices < 0, indices + data.shape[k], indices), axis=k)
    return run


def _trilu(node):
    upper = node.attrs.get("upper", 1)

    def run(x, k=None):
        diagonal = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
        return np.triu(x, diagonal) if upper else np.tril(x, diagonal)
    return run


def _expand(node):
    def run(x, shape):
        out_shape = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
        check_growth(node, out_shape, x.itemsize)
        return np.broadcast_to(x, out_shape)
    return run


def _tile(node):
    def run(x, repeats):
        repeats = [int(r) for r in repeats]
        check_growth(node, [d * r for d, r in zip(x.shape, repeats)], x.itemsize)
        return np.tile(x, repeats)
    return run


def _constant_of_shape(node):
    value = node.attrs.get("value")
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)[:1]
    if fill.size != 1:
        raise FormatError(f"ConstantOfShape node {node.name!r}: value holds no element")

    def run(shape):
        shape = shape.tolist()
        check_growth(node, shape, fill.itemsize)
        out = np.empty(shape, fill.dtype)
        out.fill(fill[0])
        return out
    return run


def _range(node):
    def run(start, limit, delta):
        if delta == 0:
            raise ValueError(f"Range node {node.name!r}: delta is 0")
        count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
        check_growth(node, [count], start.itemsize)
        return np.arange(start, limit, delta, dtype=start.dtype)
    return run


def _pad(node):
    mode = node.attrs.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise FormatError(f"Pad node {node.name!r}: mode {mode!r}; expected constant, reflect, edge or wrap")

    def run(data, pads=None, value=None, axes=None):
        pads = [int(p) for p in (node.attrs.get("pads", []) if pads is None else pads)]
        axes = list(range(data.ndim)) if axes is None else [int(a) % data.ndim for a in axes]
        if len(pads) != 2 * len(axes):
            raise ValueError(f"Pad node {node.name!r}: {len(pads)} pads for {len(axes)} axes")
        width = [(0, 0)] * data.ndim
        for k, axis in enumerate(axes):
            width[axis] = (pads[k], pads[k + len(axes)])
        check_growth(node, [d + max(a, 0) + max(b, 0) for d, (a, b) in zip(data.shape, width)], data.itemsize)
        grown = [(max(a, 0), max(b, 0)) for a, b in width]
        if mode == "constant":
            fill = node.attrs.get("value", 0) if value is None or value.size == 0 else value.reshape(-1)[0]
            out = np.pad(data, grown, mode="constant", constant_values=fill)
        else:
            out = np.pad(data, grown, mode=mode)
        crop = tuple(slice(-min(a, 0), out.shape[k] + min(b, 0)) for k, (a, b) in enumerate(width))
        return out[crop]
    return run


BUILDERS = {
    "Shape": _shape, "Size": _size, "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Concat": _concat, "Split": _split, "Slice": _slice,
    "Gather": _gather, "GatherElements": _gather_elements, "Trilu": _trilu, "Expand": _expand, "Tile": _tile,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range, "Pad": _pad,
}
