"""Keras LSTM / GRU weights as torch-layout weights: what `LSTM.from_keras` and `GRU.from_keras` load.

Keras stores, for one layer (layer.get_weights()):
  kernel (I, G*H), recurrent_kernel (H, G*H), bias: x W + h U + b, columns in gate blocks of H.
  LSTM gate blocks i, f, c, o  = torch's i, f, g, o (same order): weight_ih = kernel.T, weight_hh = recurrent.T,
       bias (4H,) -> bias_ih, bias_hh = 0. (8H,) biases (input then recurrent, as tf.keras CuDNNLSTM stores
       them) split into bias_ih, bias_hh.
  GRU  gate blocks z, r, h; torch's rows are r, z, n: blocks reordered [1, 0, 2].
       reset_after=True (Keras 2.3+ default; torch's formula): bias (2, 3H), row 0 input bias -> bias_ih,
       row 1 recurrent bias -> bias_hh; hh = tanh(x W_h + b_h + r * (h U_h + b_rh)). (6H,) biases are
       read as (2, 3H).
       reset_after=False (Cho et al.): bias (3H,); hh = tanh(x W_h + (r * h) U_h + b_h), which is fastrnn's
       linear_before_reset=False with bias_ih = b and bias_hh = 0 (b_hn = 0).
       In both, h' = z * h + (1 - z) * hh, torch's h' = (1 - z) * n + z * h.
Only Keras' default activations (tanh, sigmoid) are represented.

A built Keras layer object (keras.layers.LSTM / GRU) may be passed instead of its arrays: its get_weights(),
use_bias and reset_after are read, and its configuration is checked (default activations, not go_backwards).
Keras is batch-first (x (B, T, I)): the from_keras constructors default to batch_first=True.
"""
import numpy as np

from .errors import FormatError
from .tree import to_numpy


def _matrix(value, name):
    arr = to_numpy(value, name)
    if arr.ndim != 2:
        raise FormatError(f"{name} has shape {arr.shape}; expected 2-D")
    if arr.dtype.kind != "f":
        raise FormatError(f"{name} has dtype {arr.dtype}; expected float weights")
    return arr


def _shapes(kernel, recurrent_kernel, gates, cell):
    kernel = _matrix(kernel, "kernel")
    recurrent_kernel = _matrix(recurrent_kernel, "recurrent_kernel")
    H = recurrent_kernel.shape[0]
    G = gates * H
    if H == 0 or recurrent_kernel.shape != (H, G):
        raise FormatError(f"recurrent_kernel has shape {recurrent_kernel.shape}; a Keras {cell} expects "
                          f"(H, {gates}*H) = ({H}, {G})")
    if kernel.shape[1] != G:
        raise FormatError(f"kernel has shape {kernel.shape}; expected (I, {gates}*H) = (I, {G}) to match "
                          f"recurrent_kernel {recurrent_kernel.shape}")
    return kernel, recurrent_kernel, H, G


def _rows(matrix_t, order, H):
    """Rows of the transposed (G*H, ...) matrix reordered by gate blocks `order`, as a contiguous copy."""
    return np.ascontiguousarray(np.concatenate([matrix_t[g * H:(g + 1) * H] for g in order]))


def _is_layer(value):
    return hasattr(value, "get_weights") and not hasattr(value, "__array__")


def _activation_name(function):
    return getattr(function, "__name__", None) or str(function)


def _layer_arrays(layer, kind, recurrent_kernel, bias):
    """(kernel, recurrent_kernel, bias or None, extra kwargs) of a built keras.layers.{kind} object."""
    if type(layer).__name__ != kind:
        raise TypeError(f"from_keras of a {kind} needs a keras.layers.{kind} (or its weight arrays); got "
                        f"{type(layer).__name__}")
    if recurrent_kernel is not None or bias is not None:
        raise TypeError(f"pass either a keras.layers.{kind} alone or its arrays (kernel, recurrent_kernel, "
                        f"bias), not both")
    for attribute, expected in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        name = _activation_name(getattr(layer, attribute, expected))
        if name != expected:
            raise ValueError(f"the Keras {kind} has {attribute}={name!r}; fastrnn computes {expected} only")
    if getattr(layer, "go_backwards", False):
        raise ValueError(f"the Keras {kind} has go_backwards=True, which from_keras does not represent: "
                         f"reverse the sequences and use a forward layer")
    weights = layer.get_weights()
    use_bias = bool(getattr(layer, "use_bias", len(weights) == 3))
    if not weights:
        raise ValueError(f"the Keras {kind} has no weights yet: build it (call it once, or layer.build(shape))")
    if len(weights) != 2 + use_bias:
        raise FormatError(f"the Keras {kind} holds {len(weights)} weight arrays; expected kernel, "
                          f"recurrent_kernel{', bias' if use_bias else ''}")
    extra = {"batch_first": not getattr(layer, "time_major", False)}
    return weights[0], weights[1], (weights[2] if use_bias else None), extra


def lstm_from_keras(kernel, recurrent_kernel=None, bias=None):
    """(kwargs, weights) of a one-layer fastrnn.LSTM computing keras.layers.LSTM with these weights.

    kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or (8H,) or None; or kernel = a built
    keras.layers.LSTM alone. kwargs: input_size, hidden_size, bias (and batch_first, from a layer object).
    weights: torch names weight_ih_l0 (4H, I), weight_hh_l0 (4H, H), bias_ih_l0, bias_hh_l0 (4H,).
    """
    extra = {}
    if _is_layer(kernel):
        kernel, recurrent_kernel, bias, extra = _layer_arrays(kernel, "LSTM", recurrent_kernel, bias)
    elif recurrent_kernel is None:
        raise TypeError("from_keras needs kernel and recurrent_kernel arrays, or a keras.layers.LSTM")
    kernel, recurrent_kernel, H, G = _shapes(kernel, recurrent_kernel, 4, "LSTM")
    weights = {"weight_ih_l0": np.ascontiguousarray(kernel.T),
               "weight_hh_l0": np.ascontiguousarray(recurrent_kernel.T)}
    if bias is not None:
        b = to_numpy(bias, "bias")
        if b.shape == (G,):
            weights["bias_ih_l0"], weights["bias_hh_l0"] = b.copy(), np.zeros_like(b)
        elif b.shape == (2 * G,):
            weights["bias_ih_l0"], weights["bias_hh_l0"] = b[:G].copy(), b[G:].copy()
        else:
            raise FormatError(f"bias has shape {b.shape}; a Keras LSTM with H = {H} has bias (4H,) = ({G},) "
                              f"(or (8H,) = ({2 * G},) input and recurrent biases)")
    kwargs = dict(input_size=int(kernel.shape[0]), hidden_size=int(H), bias=bias is not None, **extra)
    return kwargs, weights


def gru_from_keras(kernel, recurrent_kernel=None, bias=None, reset_after=None):
    """(kwargs, weights) of a one-layer fastrnn.GRU computing keras.layers.GRU with these weights.

    kernel (I, 3H), recurrent_kernel (H, 3H) in Keras' gate order z, r, h; bias (2, 3H) (or (6H,)) when
    reset_after=True, (3H,) when reset_after=False, or None; or kernel = a built keras.layers.GRU alone (its
    reset_after is used). reset_after=None means True for arrays. kwargs: input_size, hidden_size, bias,
    linear_before_reset (= reset_after) (and batch_first, from a layer object). weights: torch names in
    torch's gate order r, z, n.
    """
    extra = {}
    if _is_layer(kernel):
        layer_reset_after = bool(getattr(kernel, "reset_after", True))
        if reset_after is not None and bool(reset_after) != layer_reset_after:
            raise ValueError(f"reset_after={reset_after!r} contradicts the Keras GRU's reset_after="
                             f"{layer_reset_after}; leave it out when passing a layer")
        reset_after = layer_reset_after
        kernel, recurrent_kernel, bias, extra = _layer_arrays(kernel, "GRU", recurrent_kernel, bias)
    elif recurrent_kernel is None:
        raise TypeError("from_keras needs kernel and recurrent_kernel arrays, or a keras.layers.GRU")
    reset_after = True if reset_after is None else bool(reset_after)
    kernel, recurrent_kernel, H, G = _shapes(kernel, recurrent_kernel, 3, "GRU")
    order = (1, 0, 2)  # Keras z, r, h -> torch r, z, n
    weights = {"weight_ih_l0": _rows(kernel.T, order, H), "weight_hh_l0": _rows(recurrent_kernel.T, order, H)}
    if bias is not None:
        b = to_numpy(bias, "bias")
        if reset_after:
            if b.shape == (2 * G,):
                b = b.reshape(2, G)
            if b.shape != (2, G):
                hint = " (a (3H,) bias belongs to reset_after=False)" if b.shape == (G,) else ""
                raise FormatError(f"bias has shape {b.shape}; a Keras GRU with reset_after=True and H = {H} has "
                                  f"bias (2, 3H) = (2, {G}){hint}")
            weights["bias_ih_l0"], weights["bias_hh_l0"] = _rows(b[0], order, H), _rows(b[1], order, H)
        else:
            if b.shape != (G,):
                hint = " (a (2, 3H) bias belongs to reset_after=True)" if b.shape in ((2, G), (2 * G,)) else ""
                raise FormatError(f"bias has shape {b.shape}; a Keras GRU with reset_after=False and H = {H} has "
                                  f"bias (3H,) = ({G},){hint}")
            weights["bias_ih_l0"] = _rows(b, order, H)
            weights["bias_hh_l0"] = np.zeros_like(weights["bias_ih_l0"])
    kwargs = dict(input_size=int(kernel.shape[0]), hidden_size=int(H), bias=bias is not None,
                  linear_before_reset=reset_after, **extra)
    return kwargs, weights
