"""torch's quantized-dynamic RNN weights (torch.ao.nn.quantized.dynamic.LSTM / GRU state dicts), read without
torch by the restricted unpickler (torch_unpickler).

Such a state dict holds, per layer and direction k, one entry "_all_weight_values.{k}.param": a TorchScript
object pickled as
  torch.ScriptObject()  (NEWOBJ, no arguments), then BUILD with (state, "__torch__.torch.classes.rnn.CellParamsBase")
  state = (kind, tensors, doubles, longs, packed):
    "quantized_dynamic": tensors [b_ih, b_hh], longs [reduce_range], packed [W_ih, W_hh] as
                         LinearPackedParamsBase objects whose state is (int8 quantized weight, bias)
    "quantized_fp16":    tensors [], packed [W_ih, W_hh] whose state is (float32 weight, bias) (float16 numbers)
A quantized weight is torch._utils._rebuild_qtensor(QInt8Storage, offset, size, stride,
(torch.per_tensor_affine, scale, zero_point) or (torch.per_channel_affine, scales, zero_points, axis), ...).

Allowed here, each implemented in a few lines and running nothing of the file's: torch.ScriptObject for exactly
those two class names, with exactly those state layouts; torch.QInt8Storage (int8 bytes); _rebuild_qtensor for
int8 per-tensor and per-row (axis 0) affine quantization with zero points 0 (what torch's dynamic quantization
writes); the two qscheme names. Anything else raises FormatError.

Each CellParamsBase becomes {"weight_ih", "weight_ih_scale", "weight_hh", "weight_hh_scale", "bias_ih",
"bias_hh"}: int8 (or float16) values with one float32 scale per row (fastrnn's quantized format), so
fastrnn.LSTM.from_state_dict builds the quantized layer from what fastrnn.load returns.
"""
import collections

import numpy as np

from .errors import FormatError, short_repr

_CELL_PARAMS = "__torch__.torch.classes.rnn.CellParamsBase"
_LINEAR_PARAMS = "__torch__.torch.classes.quantized.LinearPackedParamsBase"
_QSCHEMES = ("per_tensor_affine", "per_channel_affine")


class QScheme:
    """torch.per_tensor_affine / torch.per_channel_affine named in the pickle."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        raise TypeError("not picklable")


class QTensor:
    """An int8 quantized tensor: values (int8 ndarray) and the float32 scale of each row."""
    __slots__ = ("values", "scale")

    def __init__(self, values, scale):
        self.values, self.scale = values, scale

    def __repr__(self):
        return f"QTensor(int8 {self.values.shape})"


class LinearPackedParams:
    """A LinearPackedParamsBase's state: weight (QTensor, or a float array for float16) and bias (or None)."""
    __slots__ = ("weight", "bias")

    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias


class ScriptObject:
    """torch.ScriptObject as NEWOBJ makes it: empty until BUILD, which accepts the two classes above only."""

    def __new__(cls, *args):
        if args:
            raise FormatError("data.pkl builds a torch.ScriptObject with arguments")
        return super().__new__(cls)

    def __init__(self):
        self.value = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 2 or state[1] not in (_CELL_PARAMS, _LINEAR_PARAMS):
            name = state[1] if isinstance(state, tuple) and len(state) == 2 else state
            raise FormatError(f"data.pkl holds a TorchScript object {short_repr(name)}; only torch's quantized RNN "
                              f"weights ({_CELL_PARAMS}) are read")
        self.value = _cell_params(state[0]) if state[1] == _CELL_PARAMS else _linear_params(state[0])

    def __reduce__(self):
        raise TypeError("not picklable")



def _linear_params(state):
    if not isinstance(state, tuple) or len(state) != 2:
        raise FormatError(f"a LinearPackedParamsBase state is {short_repr(state)}, not (weight, bias)")
    weight, bias = state
    if not isinstance(weight, QTensor) and not (isinstance(weight, np.ndarray) and weight.dtype == np.float32):
        raise FormatError(f"a LinearPackedParamsBase weight is {short_repr(weight)}, not an int8 quantized or float "
                          f"tensor")
    if weight.__class__ is np.ndarray and weight.ndim != 2 or isinstance(weight, QTensor) and weight.values.ndim != 2:
        raise FormatError("a LinearPackedParamsBase weight is not a matrix")
    rows = weight.values.shape[0] if isinstance(weight, QTensor) else weight.shape[0]
    if bias is not None and not (isinstance(bias, np.ndarray) and bias.shape == (rows,) and bias.dtype.kind == "f"):
        raise FormatError(f"a LinearPackedParamsBase bias is {short_repr(bias)}, not a float vector of {rows}")
    return LinearPackedParams(weight, bias)


def _packed(obj):
    if not isinstance(obj, ScriptObject) or not isinstance(obj.value, LinearPackedParams):
        raise FormatError(f"a CellParamsBase holds {short_repr(obj)} where a LinearPackedParamsBase belongs")
    return obj.value


def _as_format(weight, key):
    """(values, scale [rows]) of a packed weight in fastrnn's quantized format."""
    if isinstance(weight, QTensor):
        return weight.values, weight.scale
    half = weight.astype(np.float16)
    if not np.array_equal(half.astype(np.float32), weight):
        raise FormatError(f"{key}: a quantized_fp16 weight holds values that are not float16 numbers")
    return half, np.ones(weight.shape[0], np.float32)


def _cell_params(state):
    """A CellParamsBase state -> {weight_ih, weight_ih_scale, weight_hh, weight_hh_scale, bias_ih, bias_hh}."""
    if not isinstance(state, tuple) or len(state) != 5 or not all(isinstance(s, list) for s in state[1:]):
        raise FormatError(f"a CellParamsBase state is {short_repr(state)}, not (kind, tensors, doubles, longs, packed)")
    kind, tensors, _doubles, _longs, packed = state
    if kind not in ("quantized_dynamic", "quantized_fp16") or len(packed) != 2:
        raise FormatError(f"a CellParamsBase of kind {short_repr(kind)}; only torch's dynamically quantized int8 "
                          f"('quantized_dynamic') and float16 ('quantized_fp16') RNN weights are read")
    w_ih, w_hh = _packed(packed[0]), _packed(packed[1])
    if kind == "quantized_dynamic":
        if len(tensors) != 2 or not all(isinstance(t, np.ndarray) for t in tensors):
            raise FormatError("a quantized_dynamic CellParamsBase without its two bias tensors")
        b_ih, b_hh = tensors
    else:
        b_ih, b_hh = w_ih.bias, w_hh.bias
    out = collections.OrderedDict()
    for name, p in (("weight_ih", w_ih), ("weight_hh", w_hh)):
        out[name], out[name + "_scale"] = _as_format(p.weight, name)
    if b_ih is None or b_hh is None:
        raise FormatError("a quantized RNN cell without biases (torch's quantized RNNs always have them)")
    out["bias_ih"], out["bias_hh"] = b_ih, b_hh
    return out


def _rebuild_qtensor(view, storage, storage_offset, size, stride, quantizer_params, requires_grad=False,
                     backward_hooks=None):
    """torch._utils._rebuild_qtensor for int8 affine quantization with zero points 0 (view: the unpickler's
    bounds-checked strided view of a storage)."""
    if getattr(storage, "dtype", None) != "int8":
        raise FormatError("a quantized tensor whose storage is not torch.QInt8Storage (only int8 is read)")
    values = view(storage, "int8", storage_offset, size, stride)
    if not isinstance(quantizer_params, tuple) or not quantizer_params or \
            not isinstance(quantizer_params[0], QScheme):
        raise FormatError(f"a quantized tensor with quantizer {short_repr(quantizer_params)}")
    scheme = quantizer_params[0].name
    rows = values.shape[0] if values.ndim else 0
    if scheme == "per_tensor_affine":
        if len(quantizer_params) != 3 or not isinstance(quantizer_params[1], float) or \
                type(quantizer_params[2]) is not int:
            raise FormatError(f"a per-tensor quantized tensor with parameters {short_repr(quantizer_params)}")
        scale, zero = np.full(rows, quantizer_params[1], np.float32), np.full(rows, quantizer_params[2])
    else:
        if len(quantizer_params) != 4 or quantizer_params[3] != 0:
            raise FormatError(f"a per-channel quantized tensor with parameters {short_repr(quantizer_params)}; only "
                              f"per-row (axis 0) scales are read")
        scale, zero = quantizer_params[1], quantizer_params[2]
        if not all(isinstance(a, np.ndarray) and a.shape == (rows,) for a in (scale, zero)):
            raise FormatError("a per-channel quantized tensor whose scales or zero points are not one per row")
        scale = scale.astype(np.float32)
    if np.any(zero != 0):
        raise FormatError("a quantized tensor with non-zero zero points (torch's dynamic quantization writes "
                          "symmetric int8 weights; fastrnn reads those)")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise FormatError("a quantized tensor with scales that are not finite and positive")
    return QTensor(np.ascontiguousarray(values), np.ascontiguousarray(scale))


def globals_table(view, storage_marker):
    """The (module, name) -> object entries torch_unpickler adds for quantized RNN weights; view is its
    strided-view builder, storage_marker(name, dtype) its storage type marker."""
    table = {("torch", "ScriptObject"): ScriptObject,
             ("torch", "QInt8Storage"): storage_marker("QInt8Storage", "int8"),
             ("torch._utils", "_rebuild_qtensor"): lambda *args: _rebuild_qtensor(view, *args)}
    for scheme in _QSCHEMES:
        table[("torch", scheme)] = QScheme(scheme)
    return table


def unwrap(obj):
    """The loaded object with every ScriptObject replaced by the dict it became (containers holding one are
    copied; everything else is returned as it is)."""
    if isinstance(obj, ScriptObject):
        if not isinstance(obj.value, dict):
            raise FormatError("a LinearPackedParamsBase outside a quantized RNN cell, which fastrnn does not read")
        return obj.value
    if isinstance(obj, QTensor):
        raise FormatError("a quantized tensor outside a quantized RNN cell, which fastrnn does not read")
    if isinstance(obj, dict):
        items = [(key, unwrap(value)) for key, value in obj.items()]
        if all(new is obj[key] for key, new in items):
            return obj
        out = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
        out.update(items)
        return out
    if type(obj) in (list, tuple):
        items = [unwrap(value) for value in obj]
        return obj if all(a is b for a, b in zip(items, obj)) else type(obj)(items)
    return obj
