"""Layers around the recurrent core for the session's executor: MatMul, Gemm, Conv (1-D), BatchNormalization,
LayerNormalization, Softmax, LogSoftmax, the Reduce* family, ArgMax/ArgMin, CumSum, Dropout (inference: the identity).

Shapes (ONNX's): MatMul A (..., M, K) @ B (..., K, N); Gemm A (M, K) or its transpose, B (K, N) or its
transpose, C broadcast to (M, N); Conv X (N, C, L), W (M, C/group, K), B (M,) -> (N, M, L_out).
"""
import contextlib
import math

import numpy as np

from fastrnn.io.errors import FormatError

from . import small
from .ops_tensor import constant_axes


def _matmul(node):
    w = small.weights(node.constants[1]) if len(node.constants) > 1 else None
    if w is None:
        return np.matmul

    def run(a, b):   # a Linear layer without bias: a stored b (K, N)
        out = small.linear(a, w, None)
        return np.matmul(a, b) if out is None else out
    return run


def _einsum(node):
    equation = node.attrs.get("equation", "").replace(" ", "")
    if not equation:
        raise FormatError(f"Einsum node {node.name!r} has no equation")
    return lambda *arrays: np.einsum(equation, *arrays)


def _gemm(node):
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    trans_a, trans_b = node.attrs.get("transA", 0), node.attrs.get("transB", 0)

    def run(a, b, c=None):
        out = np.matmul(a.T if trans_a else a, b.T if trans_b else b)
        if alpha != 1.0:
            out *= out.dtype.type(alpha)
        if c is not None:
            out += c if beta == 1.0 else c * c.dtype.type(beta)
        return out

    w = None if trans_a or alpha != 1.0 else small.weights(node.constants[1], trans_b)   # torch's Linear: transB 1
    if w is None:
        return run
    c = node.constants[2] if len(node.inputs) > 2 and node.inputs[2] else None
    if len(node.inputs) > 2 and node.inputs[2] and (c is None or c.shape != w.shape[:1] or c.dtype != w.dtype or
                                                    beta != 1.0):
        return run   # a bias computed at run time, broadcast, or scaled: the general code

    def linear(a, b, c=None):   # a Linear layer: a (M, K), a stored b and bias (N,)
        out = small.linear(a, w, c) if a.ndim == 2 else None
        return run(a, b, c) if out is None else out
    return linear


def _conv(node):
    """1-D convolution by one matrix product over sliding windows (no Python loop over positions)."""
    group = node.attrs.get("group", 1)
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    stride = node.attrs.get("strides", [1])
    dilation = node.attrs.get("dilations", [1])
    pads = node.attrs.get("pads", [0, 0])
    if len(stride) != 1 or len(dilation) != 1 or len(pads) != 2:
        raise FormatError(f"Conv node {node.name!r}: only 1-D convolutions are supported (strides {stride}, "
                          f"dilations {dilation}, pads {pads})")
    stride, dilation = stride[0], dilation[0]

    def run(x, w, b=None):
        if x.ndim != 3 or w.ndim != 3:
            raise ValueError(f"Conv node {node.name!r}: X {x.shape} and W {w.shape}; fastrnn runs 1-D "
                             f"convolutions, X (N, C, L) and W (M, C/group, K)")
        K = w.shape[2]
        span = dilation * (K - 1) + 1
        begin, end = pads
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            total = max((-(-x.shape[2] // stride) - 1) * stride + span - x.shape[2], 0)
            begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            end = total - begin
        elif auto_pad == "VALID":
            begin = end = 0
        padded = np.pad(x, ((0, 0), (0, 0), (begin, end))) if begin or end else x
        windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=2)[:, :, ::stride, ::dilation]
        N, C, L_out = windows.shape[:3]                 # windows (N, C, L_out, K)
        M, Cg = w.shape[0], C // group
        if Cg * group != C or w.shape[1] != Cg or M % group:
            raise ValueError(f"Conv node {node.name!r}: W {w.shape} does not fit X {x.shape} with group {group}")
        out = np.empty((N, M, L_out), np.result_type(x, w))
        Mg = M // group
        for g in range(group):
            cols = windows[:, g * Cg:(g + 1) * Cg].transpose(0, 2, 1, 3).reshape(N, L_out, Cg * K)
            out[:, g * Mg:(g + 1) * Mg] = (cols @ w[g * Mg:(g + 1) * Mg].reshape(Mg, Cg * K).T).transpose(0, 2, 1)
        if b is not None:
            out += b[:, None]
        return out
    return run


def _batch_norm(node):
    epsilon = node.attrs.get("epsilon", 1e-5)

    def run(x, scale, bias, mean, var):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        factor = (scale / np.sqrt(var + var.dtype.type(epsilon))).reshape(shape)
        return (x - mean.reshape(shape)) * factor + bias.reshape(shape)
    return run


def _layer_norm(node):
    """Over the dims from `axis` on, flattened: x (N, D) -> (x - mean) / sqrt(var + epsilon) * scale + bias."""
    axis, epsilon = node.attrs.get("axis", -1), node.attrs.get("epsilon", 1e-5)
    outputs = len(node.outputs)

    def run(x, scale, bias=None):
        k = axis % x.ndim
        if outputs == 1:
            out = small.layer_norm(x, k, scale, bias, epsilon)
            if out is not None:
                return out
        D = int(np.prod(x.shape[k:], dtype=np.int64))
        rows = x.reshape(-1, D)
        mean = np.add.reduce(rows, axis=1, keepdims=True)
        mean *= 1.0 / D
        y = rows - mean
        var = np.einsum("ij,ij->i", y, y)[:, None]       # one pass, no squared temporary
        var *= 1.0 / D
        var += epsilon
        inv_std = np.sqrt(var, out=var)
        np.reciprocal(inv_std, out=inv_std)
        y *= inv_std
        y = y.reshape(x.shape)
        y *= scale
        if bias is not None:
            y += bias
        if outputs == 1:
            return y
        stats = x.shape[:k] + (1,) * (x.ndim - k)
        return (y, mean.reshape(stats), inv_std.reshape(stats))[:outputs]
    return run


def _softmax_axis(node, x):
    axis = node.attrs.get("axis", -1 if node.opset >= 13 else 1)
    return axis % x.ndim


# exp(x - shift) with one shift for the whole tensor stays a normal number (no row underflows to 0) while every
# value lies within this range below the largest: exp(-80) = 1.8e-34 > float32's smallest normal, 1.2e-38.
_GLOBAL_SHIFT_RANGE = {np.dtype(np.float16): 9.0, np.dtype(np.float32): 80.0, np.dtype(np.float64): 700.0}


def _shift(x, axis):
    """What softmax subtracts before exp: the tensor's max when its values span less than the range above (two
    full reductions, much faster than NumPy's per-row max over short rows), else each row's max."""
    top = np.max(x) if x.size else 0.0
    if x.size and top - np.min(x) < _GLOBAL_SHIFT_RANGE.get(x.dtype, 0.0):
        return top
    return np.maximum.reduce(x, axis=axis, keepdims=True)


def _rows_from(node, x):
    """The first axis of the row kernels' rows (small.softmax): before opset 13 the dims from `axis` on,
    flattened; from 13 softmax runs over `axis` alone, which the kernels take only when it is the last (else
    None: no kernel)."""
    if node.opset < 13:
        return _softmax_axis(node, x)
    return x.ndim - 1 if x.ndim and node.attrs.get("axis", -1) % x.ndim == x.ndim - 1 else None


def _softmax(node):
    def run(x):
        out = small.softmax(x, _rows_from(node, x), False)
        if out is not None:
            return out
        if node.opset < 13:   # older opsets: softmax over the dims from `axis` on, flattened
            k = _softmax_axis(node, x)
            return run_axis(x.reshape(x.shape[:k] + (-1,)), -1).reshape(x.shape)
        return run_axis(x, node.attrs.get("axis", -1))

    def run_axis(x, axis):
        shift = _shift(x, axis)
        with _quiet_if(shift):
            e = np.subtract(x, shift)
            np.exp(e, out=e)
            e /= np.add.reduce(e, axis=axis, keepdims=True)
        return e
    return run


def _quiet_if(shift):
    """No NumPy warning where a row is all -inf (its softmax is NaN, as in onnxruntime): per-row shifts only."""
    return np.errstate(invalid="ignore", divide="ignore") if shift.__class__ is np.ndarray else _NO_CONTEXT


_NO_CONTEXT = contextlib.nullcontext()


def _log_softmax(node):
    def run(x):
        out = small.softmax(x, _rows_from(node, x), True)
        if out is not None:
            return out
        axis = -1 if node.opset < 13 else node.attrs.get("axis", -1)
        flat = x.reshape(x.shape[:_softmax_axis(node, x)] + (-1,)) if node.opset < 13 else x
        shift = _shift(flat, axis)
        with _quiet_if(shift):
            shifted = np.subtract(flat, shift)
            total = np.add.reduce(np.exp(shifted), axis=axis, keepdims=True)
            shifted -= np.log(total, out=total)
        return shifted.reshape(x.shape)
    return run


def _sum_square(x, axis, keepdims):
    return np.add.reduce(x * x, axis=axis, keepdims=keepdims)


def _l2(x, axis, keepdims):
    return np.sqrt(_sum_square(x, axis, keepdims))


def _l1(x, axis, keepdims):
    return np.add.reduce(np.abs(x), axis=axis, keepdims=keepdims)


def _log_sum_exp(x, axis, keepdims):
    top = np.maximum.reduce(x, axis=axis, keepdims=True)
    out = np.log(np.add.reduce(np.exp(x - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


_SUM_MIN_SIZE = 4096


def _weighted_sum(x, axes, keepdims, mean):
    """The sum (mean) of a float array over one axis as a product with a row of ones (1 / n): BLAS, one pass.
    NumPy sums a middle axis in a loop per outer row: (32, 50, 32) over axis 1, an attention pooling's shape,
    35 us against 5; (1600, 50, 4) 1,040 against 95; (1600, 50) over the last axis 39 against 7. None where it
    does not apply: other dtypes, several axes, fewer than _SUM_MIN_SIZE values (its own calls cost about 2 us:
    (1, 50, 32) 2.5 against NumPy's 1.4, (4, 50, 32) 2.9 against 3.5)."""
    if len(axes) != 1 or not -x.ndim <= axes[0] < x.ndim or x.dtype not in small.FLOATS or \
            x.size < _SUM_MIN_SIZE or not x.dtype.isnative:
        return None   # (an axis out of range: NumPy's error)
    axis = axes[0] % x.ndim
    outer, rows, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    ones = np.full(rows, 1.0 / rows if mean else 1.0, x.dtype)
    if inner == 1:
        out = np.matmul(x.reshape(outer, rows), ones)
    else:
        out = np.matmul(ones.reshape(1, rows), x.reshape(outer, rows, inner))
    return out.reshape(x.shape[:axis] + ((1,) if keepdims else ()) + x.shape[axis + 1:])


def _sum(x, axis, keepdims):
    out = _weighted_sum(x, axis, keepdims, False)
    return np.add.reduce(x, axis=axis, keepdims=keepdims) if out is None else out


def _mean(x, axis, keepdims):
    out = _weighted_sum(x, axis, keepdims, True)
    return np.mean(x, axis=axis, keepdims=keepdims) if out is None else out


_REDUCERS = {"ReduceSum": _sum, "ReduceMean": _mean, "ReduceMax": np.maximum.reduce,
             "ReduceMin": np.minimum.reduce, "ReduceProd": np.multiply.reduce, "ReduceSumSquare": _sum_square,
             "ReduceL2": _l2, "ReduceL1": _l1, "ReduceLogSumExp": _log_sum_exp}


def _reduce(node):
    reducer, keepdims = _REDUCERS[node.op], bool(node.attrs.get("keepdims", 1))
    noop = node.attrs.get("noop_with_empty_axes", 0)
    attribute_axes = node.attrs.get("axes")

    def run(x, axes=None):
        axes = attribute_axes if axes is None else axes.reshape(-1).tolist()
        if not axes:
            if noop:
                return x
            axes = range(x.ndim)
        return _as_array_of(reducer(x, axis=tuple(axes), keepdims=keepdims), x.dtype)

    known = constant_axes(node, 1)
    if known:   # constant axes: the reduction alone
        axes_tuple = tuple(known)
        return lambda x, axes=None: _as_array_of(reducer(x, axis=axes_tuple, keepdims=keepdims), x.dtype)
    return run


def _as_array_of(out, dtype):
    return out if out.__class__ is np.ndarray and out.dtype == dtype else np.asarray(out, dtype=dtype)


def _arg(node):
    axis, keepdims = node.attrs.get("axis", 0), bool(node.attrs.get("keepdims", 1))
    last = node.attrs.get("select_last_index", 0)
    pick = np.argmax if node.op == "ArgMax" else np.argmin

    def run(x):
        if last:
            flipped = np.flip(x, axis=axis)
            index = x.shape[axis] - 1 - pick(flipped, axis=axis, keepdims=keepdims)
        else:
            index = pick(x, axis=axis, keepdims=keepdims)
        return np.asarray(index, np.int64)
    return run


def _cumsum(node):
    exclusive, reverse = node.attrs.get("exclusive", 0), node.attrs.get("reverse", 0)

    def run(x, axis):
        axis = int(np.asarray(axis).reshape(-1)[0])
        data = np.flip(x, axis) if reverse else x
        out = np.cumsum(data, axis=axis, dtype=x.dtype)
        if exclusive:
            out = np.concatenate([np.zeros_like(np.take(out, [0], axis=axis)),
                                  np.take(out, np.arange(out.shape[axis] - 1), axis=axis)], axis=axis)
        return np.flip(out, axis) if reverse else out
    return run


def _dropout(node):
    two = len(node.outputs) > 1

    def run(x, ratio=None, training=None):
        if training is not None and bool(training):
            raise ValueError(f"Dropout node {node.name!r}: training_mode is true; the session runs inference")
        return (x, np.ones(x.shape, bool)) if two else x
    return run


BUILDERS = {"MatMul": _matmul, "Einsum": _einsum, "Gemm": _gemm, "Conv": _conv, "BatchNormalization": _batch_norm,
            "LayerNormalization": _layer_norm, "Softmax": _softmax, "LogSoftmax": _log_softmax,
            "ArgMax": _arg, "ArgMin": _arg, "CumSum": _cumsum, "Dropout": _dropout,
            **{op: _reduce for op in _REDUCERS}}
