"""Pairs of steps the session runs as one, chosen once at load (plan.py), where nothing but the second step
reads the first one's result:

    MatMul(a, W) -> Add(., bias)        a Linear layer as exporters write it for 3-D a: the bias added in place
                                        into the product (the compiled Linear where W and bias are stored);
    Mul(w, s) -> ReduceSum(., [-2])     attention pooling, weights w (B, T, 1) times states s (B, T, H) summed
                                        over T: one batched product (B, 1, T) @ (B, T, H).

A fused step falls back to the two steps' own functions for inputs its fast path does not take, so it computes
what the pair does. Measured at attention pooling's shape (32, 50, 1) x (32, 50, 32), float32, on an Intel Xeon
core: Mul then ReduceSum 33 us (NumPy's broadcast loop runs 1,600 rows of 32), the batched product 4 us.
"""
import collections

import numpy as np

from . import small
from .ops_tensor import constant_axes


def fused_steps(steps, output_slots, constants, slots):
    """`steps` with each pair above replaced by one step (the first's node, which names it in errors)."""
    uses = collections.Counter(output_slots)
    for _, ins, _, _ in steps:
        uses.update(ins)
    constant_slots = {slots[name]: constants[name] for name in constants if name in slots}
    fused, dropped = [], set()
    for index, step in enumerate(steps):
        if index in dropped:
            continue
        outs = step[2]
        reader = None
        if len(outs) == 1 and uses[outs[0]] == 1:
            reader = next((k for k in range(index + 1, len(steps)) if outs[0] in steps[k][1]), None)
        pair = None if reader is None else _pair(step, steps[reader], constant_slots)
        if pair is not None:
            dropped.add(reader)
        fused.append(step if pair is None else pair)
    return fused


def _pair(first, second, constant_slots):
    """The one step doing first then second, or None when they are not a pair fastrnn fuses."""
    function, ins, (product,), node = first
    then, then_ins, then_outs, then_node = second
    if node.op == "MatMul" and then_node.op == "Add":
        bias = [slot for slot in then_ins if slot != product]
        if len(bias) == 1 and bias[0] in constant_slots:
            return (_linear_or_matmul_add(constant_slots.get(ins[1]), constant_slots[bias[0]]), (*ins, bias[0]),
                    then_outs, node)
    if node.op == "Mul" and then_node.op == "ReduceSum" and then_ins[0] == product:
        axes = constant_axes(then_node, 1)
        if axes is not None and len(axes) == 1:
            return (_mul_reduce_sum(function, then, axes[0], bool(then_node.attrs.get("keepdims", 1))),
                    (*ins, *then_ins[1:]), then_outs, node)
    return None


def _linear_or_matmul_add(b, bias):
    """The fused step's function: the compiled Linear (fastrnn/onnx_session/small.py) for a stored b (K, N) and
    bias (N,) of its dtype, falling back to _matmul_add; _matmul_add itself otherwise."""
    w = small.weights(b)
    if w is None or bias.shape != w.shape[:1] or bias.dtype != w.dtype:
        return _matmul_add

    def linear(a, b, bias):
        out = small.linear(a, w, bias)
        return _matmul_add(a, b, bias) if out is None else out
    return linear


def _matmul_add(a, b, bias):
    """a @ b + bias, the bias added in place when it does not grow the product's shape or change its dtype."""
    out = np.matmul(a, b)
    if bias.ndim == 1 and out.ndim and bias.shape[0] == out.shape[-1] and bias.dtype == out.dtype:
        out += bias   # the usual Linear bias (N,): the check below costs more than the product at B=1
        return out
    if bias.ndim <= out.ndim and np.broadcast_shapes(out.shape, bias.shape) == out.shape and \
            np.result_type(out, bias) == out.dtype:
        out += bias
        return out
    result = out + bias
    return result if result.dtype == out.dtype else result.astype(out.dtype)


def _mul_reduce_sum(multiply, reduce, axis, keepdims):
    """The fused Mul -> ReduceSum over `axis`: multiply and reduce are the two steps' functions."""
    def run(a, b, *reduce_inputs):
        out = _batched_weighted_sum(a, b, axis, keepdims)
        return reduce(multiply(a, b), *reduce_inputs) if out is None else out
    return run


def _batched_weighted_sum(a, b, axis, keepdims):
    """sum over `axis` of a * b as a batched product, for a (..., T, 1) and b (..., T, H) (either order) of one
    float dtype and rank, summed over the axis of T; None for any other case."""
    if a.__class__ is not np.ndarray or b.__class__ is not np.ndarray or a.dtype != b.dtype or \
            a.dtype.char not in "fd":
        return None
    sa, sb = a.shape, b.shape
    rank = len(sa)
    if rank != len(sb) or rank < 2 or axis not in (-2, rank - 2):
        return None
    if sa[-1] != 1:
        a, b, sa, sb = b, a, sb, sa
    if sa[-1] != 1 or sa[-2] != sb[-2]:
        return None
    out = np.matmul(a.swapaxes(-1, -2), b)   # (..., 1, T) @ (..., T, H) -> (..., 1, H)
    return out if keepdims else out.reshape(out.shape[:-2] + out.shape[-1:])
