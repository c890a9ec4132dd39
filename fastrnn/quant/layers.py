"""Quantized RNN, LSTM and GRU layers: the float layers' call, step() and state shapes, with W_ih, W_hh (and
W_hr) stored in int8, bfloat16 or float16 (formats.py) and run by the products of csrc/quant.c.

Letters: T steps, B batch, P size of h, L layers, D directions. Activations, states, biases and peepholes stay
float32, and so does every point-wise cell update. Inference only: forward_train and backward raise.
The parameters are read-only arrays (the packed copies the kernels use are built from them); load_state_dict
replaces them, and so does assigning a new array into layer.params (checked on the next call).
"""
from collections.abc import Mapping
from typing import Any, overload

import numpy as np

from .. import _kernels
from .. import _validation as v
from .._torch_habits import IncompatibleKeys
from ..layers import GRU, LSTM, RNN, _NO_INIT
from . import formats as f
from .torch_state import is_torch_quantized, to_fastrnn_names

QUANTIZED_KINDS = ("weight_ih", "weight_hh", "weight_hr")


def _frozen(value):
    """A read-only copy of the array that cannot be made writeable again (its memory is a bytes object): the
    kernels hold packed copies of the parameters, so an in-place change would be stale. A copy, so the caller's
    array (a state dict entry) is neither aliased nor made read-only."""
    value = np.ascontiguousarray(value)
    return np.frombuffer(value.tobytes(), value.dtype).reshape(value.shape)


def _is_quantized_name(name):
    return name.split("_l")[0] in QUANTIZED_KINDS and not name.endswith(f.SCALE_SUFFIX)


class _QuantizedLayer:
    """What RNN/LSTM/GRU change when quantized; mixed in before the float class (see QuantizedLSTM)."""

    def __init__(self, *args, weight_format="int8", **kwargs):
        self.weight_format = f.check_format(weight_format)
        kwargs["dtype"] = np.float32
        super().__init__(*args, **kwargs)

    def __setattr__(self, name, value):
        if name == "weight_format" and name in self.__dict__:
            raise AttributeError("weight_format is fixed once the layer is built; quantize the float layer again")
        super().__setattr__(name, value)

    # ------------------------------------------------------------------------------------------ parameters
    def _param_shapes(self):
        shapes = {}
        for name, shape in super()._param_shapes().items():
            shapes[name] = shape
            if _is_quantized_name(name):
                shapes[name + f.SCALE_SUFFIX] = (shape[0],)
        return shapes

    def _init_params(self, rng):
        """The float layer's init, quantized (or, for from_* constructors, placeholders loaded right after)."""
        names = self._param_shapes()
        if rng is _NO_INIT:
            weights = {name: np.zeros(shape, np.float32) for name, shape in names.items()}
        else:
            bound = 1.0 / np.sqrt(self.hidden_size)
            weights = {name: rng.uniform(-bound, bound, shape).astype(np.float32)
                       for name, shape in names.items() if not name.endswith(f.SCALE_SUFFIX)}
        return self._quantized(weights)

    def _quantized(self, weights):
        """{name: array} of float32 weights -> this layer's parameters (values and scales), read-only."""
        params = {}
        for name in self._param_shapes():
            if name.endswith(f.SCALE_SUFFIX):
                continue
            if _is_quantized_name(name):
                params[name], params[name + f.SCALE_SUFFIX] = f.quantize_matrix(weights[name], self.weight_format,
                                                                                      repr(name))
            else:
                params[name] = np.array(weights[name], np.float32)
        return {name: _frozen(value) for name, value in params.items()}

    def load_state_dict(self, mapping, strict=True):
        """Replace the parameters by those of a quantized state dict (values in this layer's weight format and
        their "_scale" entries, float32 biases and peepholes). Everything is checked before anything changes.
        Returns (missing_keys, unexpected_keys) as the float layers do."""
        loaded, missing, unexpected = self.checked_state(mapping, strict)
        self.replace_params(loaded)
        return IncompatibleKeys(missing, unexpected)

    def replace_params(self, loaded):
        """Make `loaded` (from checked_state) the parameters, read-only, and rebuild the kernels' copies."""
        self.params.update({name: _frozen(value) for name, value in loaded.items()})
        self._cells = self._build_cells()

    def checked_state(self, mapping, strict=True):
        """(loaded {name: array}, missing_keys, unexpected_keys) of a quantized state dict, every entry checked
        (ValueError/KeyError/TypeError naming it) and nothing changed: load_state_dict's first half."""
        shapes = self._param_shapes()
        missing, unexpected = v.check_keys(shapes, mapping, strict, self)
        loaded = {}
        for key, shape in shapes.items():
            if key not in mapping or key.endswith(f.SCALE_SUFFIX):
                continue
            if _is_quantized_name(key):
                scale_key = key + f.SCALE_SUFFIX
                if scale_key not in mapping:
                    raise KeyError(f"state dict has {key!r} but not its scales {scale_key!r}")
                loaded[key], loaded[scale_key] = self._checked_weight(mapping[key], key, shape,
                                                                      mapping[scale_key])
            else:
                loaded[key] = v.as_weight(mapping[key], key, shape, np.float32)
        return loaded, missing, unexpected

    def _checked_weight(self, values, key, shape, scale):
        values = v.to_numpy(values, key)
        if values.shape != tuple(shape):
            raise ValueError(f"state dict entry {key!r} has shape {values.shape}; expected {tuple(shape)}")
        fmt = f.stored_format(values, key)
        if fmt != self.weight_format:
            raise ValueError(f"state dict entry {key!r} holds {fmt} weights; this layer's are {self.weight_format}")
        values = np.array(f.as_stored(values, key, fmt))
        f.check_values(values, key, fmt)
        return values, np.array(f.check_scale(v.to_numpy(scale, key + f.SCALE_SUFFIX), key + f.SCALE_SUFFIX,
                                              shape[0]))

    def _to_dtype(self, dtype):
        if dtype != np.float32:
            raise TypeError(f"{type(self).__name__} computes in float32 (its weights are {self.weight_format}); "
                            f"convert the float layer instead")

    def _check_restored(self, grads):
        """Unpickled parameters pass load_state_dict's checks (shapes, formats, scales, finite floats) against
        the restored configuration, and are frozen again (unpickled arrays are writeable)."""
        params = self.__dict__.get("params")
        if not isinstance(params, dict):
            raise ValueError(f"unpickled {type(self).__name__} state has no parameter dict")
        f.check_format(self.weight_format)
        loaded, _, _ = self.checked_state(params, strict=True)
        self.__dict__["params"] = {name: _frozen(value) for name, value in loaded.items()}
        self.__dict__["_param_specs"] = {name: (a.shape, a.dtype) for name, a in self.params.items()}
        self.__dict__["grads"] = {name: np.zeros(a.shape, a.dtype) for name, a in self.params.items()}

    def dequantized(self):
        """{name: float32 array} the parameters stand for (scale * values); a float layer's state dict."""
        p = self.params
        return {name: f.dequantize(p[name], p[name + f.SCALE_SUFFIX]) if _is_quantized_name(name)
                else np.array(p[name]) for name in p if not name.endswith(f.SCALE_SUFFIX)}

    # ------------------------------------------------------------------------------------------------ kernels
    def _matrix(self, name, rows=None):
        values, scale = self.params[name], self.params[name + f.SCALE_SUFFIX]
        if rows is not None:
            values, scale = values[rows], scale[rows]
        raw = np.ascontiguousarray(f.raw_values(values))
        return _kernels.QuantMatrix(self.weight_format, raw, np.ascontiguousarray(scale))

    def _build_cells(self):
        p = self.params
        self._built_from = tuple(p.values())
        cells = []
        mode = self._kernel_mode()
        H = self.hidden_size
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                proj = f"weight_hr{sfx}" in p
                if mode == _kernels.GRU_RB:
                    w_hh, w_hn = self._matrix(f"weight_hh{sfx}", slice(0, 2 * H)), \
                        self._matrix(f"weight_hh{sfx}", slice(2 * H, 3 * H))
                else:
                    w_hh, w_hn = self._matrix(f"weight_hh{sfx}"), None
                cells.append(_kernels.QuantCell(
                    mode, self._matrix(f"weight_ih{sfx}"), w_hh, p.get(f"bias_ih{sfx}"), p.get(f"bias_hh{sfx}"),
                    self._matrix(f"weight_hr{sfx}") if proj else None, p.get(f"weight_peephole{sfx}"), w_hn))
        return cells

    def _current_cells(self):
        """The cells, rebuilt (after the checks load_state_dict makes) when an array in params was replaced."""
        if any(a is not b for a, b in zip(self.params.values(), self._built_from)) or \
                len(self.params) != len(self._built_from):
            self.load_state_dict(dict(self.params))
        return self._cells

    def _run(self, x, h, c, lengths, tape=None):
        """x (T, B, I) -> out (T, B, D*P) of the last layer, h, c final states (see _RecurrentLayer._run)."""
        if tape is not None:
            self._training_refused()
        cells = self._current_cells()
        T, B, _ = x.shape
        D, P = self.num_directions, self.output_size
        if lengths is None:
            order, batch_sizes = None, np.full(T, B, np.intp)
        else:
            order = np.argsort(-lengths, kind="stable")
            batch_sizes = B - np.cumsum(np.bincount(lengths, minlength=T + 1))[:T]
            x, h, c = x[:, order], h[:, order], None if c is None else c[:, order]
            x, h, c = np.ascontiguousarray(x), np.ascontiguousarray(h), None if c is None else \
                np.ascontiguousarray(c)
        layer_input = x
        for layer in range(self.num_layers):
            out = (np.empty if order is None else np.zeros)((T, B, D * P), np.float32)
            for d in range(D):
                k = layer * D + d
                _kernels.quant_forward_direction(cells[k], layer_input, h[k], None if c is None else c[k],
                                                 batch_sizes, d == 1, out, d * P)
            layer_input = out
        if order is not None:
            back = np.argsort(order)
            layer_input, h = layer_input[:, back], h[:, back]
            c = None if c is None else c[:, back]
        return layer_input, h, c

    def _runner(self, batch):
        return _QuantStepRunner(self._current_cells(), batch)

    # ----------------------------------------------------------------------------------------------- training
    def _training_refused(self):
        raise TypeError(f"{type(self).__name__} is inference-only (its weights are {self.weight_format}); train the "
                        f"float layer and quantize it again with fastrnn.quantize_dynamic")

    def forward_train(self, *args, **kwargs):
        self._training_refused()

    def backward(self, *args, **kwargs):
        self._training_refused()

    def __repr__(self):
        return super().__repr__()[:-1] + f", weight_format={self.weight_format!r})"


class _QuantStepRunner:
    """One step through every layer of a unidirectional quantized stack (the float StepRunner's interface)."""

    def __init__(self, cells, B):
        self.cells, self.B = cells, B
        self.batch_sizes = np.full(1, B, np.intp)

    def fast_step(self, x, state):
        return None   # the layer's checked path converts and validates, then calls step

    def step(self, x, h, c):
        """x [B, I] IN; h [L, B, P], c [L, B, H] or None INOUT."""
        inp = x[None]
        for k, cell in enumerate(self.cells):
            out = np.empty((1, self.B, h.shape[2]), np.float32)
            _kernels.quant_forward_direction(cell, np.ascontiguousarray(inp), h[k], None if c is None else c[k],
                                             self.batch_sizes, False, out, 0)
            inp = out


class QuantizedRNN(_QuantizedLayer, RNN):
    """RNN with quantized weights (fastrnn.quantize_dynamic); RNN's constructor plus weight_format."""


class QuantizedLSTM(_QuantizedLayer, LSTM):
    """LSTM with quantized weights (fastrnn.quantize_dynamic); LSTM's constructor plus weight_format."""


class QuantizedGRU(_QuantizedLayer, GRU):
    """GRU with quantized weights (fastrnn.quantize_dynamic); GRU's constructor plus weight_format."""


QUANTIZED_CLASS = {"RNN": QuantizedRNN, "LSTM": QuantizedLSTM, "GRU": QuantizedGRU}


def _options(layer):
    """The float layer's constructor arguments (everything but the weights)."""
    options = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
                   dropout=layer.dropout, bidirectional=layer.bidirectional, merge_mode=layer.merge_mode)
    if layer._mode == "LSTM":
        options.update(proj_size=layer.proj_size, peephole=layer.peephole)
    if layer._mode == "RNN":
        options["nonlinearity"] = layer.nonlinearity
    if layer._mode == "GRU":
        options["linear_before_reset"] = layer.linear_before_reset
    return options


@overload
def quantize_dynamic(layer: LSTM, dtype: Any = ...) -> QuantizedLSTM:
    ...


@overload
def quantize_dynamic(layer: GRU, dtype: Any = ...) -> QuantizedGRU:
    ...


@overload
def quantize_dynamic(layer: RNN, dtype: Any = ...) -> QuantizedRNN:
    ...


def quantize_dynamic(layer: Any, dtype: Any = "int8") -> Any:
    """A new layer computing what `layer` (a fastrnn RNN, LSTM or GRU) computes, with its weight matrices stored
    in `dtype`: "int8" (the default: per-row scales, activations quantized per step and row, int32
    accumulation, as torch's quantize_dynamic), "bfloat16" or "float16" (float32 accumulation). `layer` is
    left unchanged. The result has the same call, step() and state shapes, and is inference-only."""
    if isinstance(layer, _QuantizedLayer):
        raise ValueError(f"layer is already quantized ({layer.weight_format}); quantize the float layer instead")
    if not isinstance(layer, (RNN, LSTM, GRU)):
        raise TypeError(f"layer must be a fastrnn RNN, LSTM or GRU; got {type(layer).__name__}")
    fmt = f.check_format(dtype)
    weights = dict(layer.params)   # converted to float32 (and checked finite there) by quantize_matrix
    quantized = QUANTIZED_CLASS[layer._mode](layer.input_size, layer.hidden_size, weight_format=fmt, rng=_NO_INIT,
                                             **_options(layer))
    params = quantized._quantized(weights)
    quantized.load_state_dict(params)
    return quantized


def holds_quantized(state_dict, prefix=""):
    """True when the state dict holds quantized weights under prefix: "_scale" entries, or torch's
    quantized-dynamic cells (as fastrnn.load returns them)."""
    from ..io.tree import flatten
    if not isinstance(state_dict, Mapping):
        return False
    arrays, _ = flatten(state_dict)
    rest = [k[len(prefix):] for k in arrays if k.startswith(prefix)]
    return any("." not in k and k.endswith(f.SCALE_SUFFIX) for k in rest) or is_torch_quantized(state_dict, prefix)


def quantized_parts(state_dict, prefix="", bidirectional=None):
    """(shaped, weights, scales, format) of the quantized weights under prefix, in fastrnn's names without the
    prefix: shaped {name: float array} for config inference (quantized values stand in as zeros of their
    shape), weights {name: stored array}, scales {name_scale: array}; torch's quantized cells are renamed
    (torch_state.py). Raises ValueError for weights without scales, scales without weights, mixed formats."""
    from ..io.tree import flatten
    if is_torch_quantized(state_dict, prefix):
        arrays, prefix = to_fastrnn_names(state_dict, prefix, bidirectional), ""
    else:
        if bidirectional is not None:
            raise TypeError("bidirectional is read from the weights' names; it is an option only for torch's "
                            "quantized state dicts")
        arrays, _ = flatten(state_dict)
    under = {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix) and "." not in k[len(prefix):]}
    scales = {k: a for k, a in under.items() if k.endswith(f.SCALE_SUFFIX)}
    weights = {k: a for k, a in under.items() if k not in scales}
    shaped = {k: a if a.dtype.kind == "f" else np.broadcast_to(np.float32(0), a.shape) for k, a in weights.items()}
    formats = set()
    for name, values in weights.items():
        if _is_quantized_name(name):
            if name + f.SCALE_SUFFIX not in scales:
                raise ValueError(f"{prefix + name!r} has no {prefix + name + f.SCALE_SUFFIX!r} beside it: every "
                                 f"weight matrix of a quantized state dict has its scales")
            formats.add(f.stored_format(values, prefix + name))
    extra = set(scales) - {n + f.SCALE_SUFFIX for n in weights if _is_quantized_name(n)}
    if extra:
        raise ValueError(f"scales {sorted(prefix + e for e in extra)} have no weight matrix beside them")
    if len(formats) != 1:
        raise ValueError(f"the quantized weights under prefix {prefix!r} mix formats {sorted(formats)}"
                         if formats else f"no quantized weight matrix under prefix {prefix!r}")
    return shaped, weights, scales, formats.pop()


def from_quantized_state_dict(mode, state_dict, prefix="", **options):
    """A quantized layer of mode ("RNN", "LSTM", "GRU") from the quantized weights under prefix: fastrnn's names
    (values + "_scale", see formats.py) or torch's quantized-dynamic cells (option bidirectional=True/False
    settles the one ambiguous layout, see torch_state.py). Other options as LSTM.from_state_dict's."""
    from ..io.infer import config_from_state_dict
    shaped, weights, scales, fmt = quantized_parts(state_dict, prefix, options.pop("bidirectional", None))
    kwargs, names = config_from_state_dict(shaped, mode=mode)
    options.pop("dtype", None)   # quantized layers compute in float32
    layer = QUANTIZED_CLASS[mode](**kwargs, weight_format=fmt, rng=_NO_INIT, **options)
    stored = {name: weights[name] for name in names}
    stored.update(scales)
    layer.load_state_dict(stored)
    return layer
