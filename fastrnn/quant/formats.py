"""Weight formats of quantized layers: converting float weights, checking stored ones.

Every quantized matrix W [N, K] is stored as two entries: its values under the float layer's name and a float32
scale per row under that name + "_scale"; the matrix it stands for is scale[:, None] * values.
  "int8"      int8 values in [-128, 127] (fastrnn writes [-127, 127]), scale = max|row| / 127 (rows of zeros:
              scale 1); torch's per-tensor scales become one scale repeated per row
  "bfloat16"  bfloat16 values, held in memory as their 16 bits (dtype BFLOAT16, written to safetensors as BF16;
              reading a BF16 tensor gives float32 values, which are accepted when every one is a bfloat16)
  "float16"   float16 values
Rounding is to nearest, ties to even, everywhere (the same as torch's).
"""
import numpy as np


WEIGHT_FORMATS = ("int8", "bfloat16", "float16")
SCALE_SUFFIX = "_scale"
# bfloat16 held as its 16 bits (NumPy has no bfloat16); fastrnn.save writes this dtype as safetensors' BF16
BFLOAT16 = np.dtype([("bfloat16", "<u2")])
# The smallest int8 scale: float32's smallest subnormal (rows whose max / 127 would underflow to zero use it)
TINIEST_SCALE = np.float32(np.finfo(np.float32).smallest_subnormal)


def check_format(dtype):
    """The weight format named by quantize_dynamic's dtype argument ("int8", "bfloat16", "float16")."""
    names = {"int8": "int8", "qint8": "int8", "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16",
             "half": "float16", "fp16": "float16"}
    key = getattr(dtype, "__name__", None) or str(dtype).replace("torch.", "")
    if key not in names:
        raise ValueError(f"dtype must be one of {', '.join(repr(f) for f in WEIGHT_FORMATS)}; got {dtype!r}")
    return names[key]


def bf16_bits(w):
    """The bfloat16 bits (uint16) nearest to float32 w, ties to even (w finite); values beyond the largest
    bfloat16 (3.3895e38) saturate to it instead of rounding up to infinity (as csrc/quant.c does)."""
    bits = np.ascontiguousarray(w, np.float32).view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    return rounded - ((rounded & np.uint16(0x7F80)) == np.uint16(0x7F80)).astype(np.uint16)


def bf16_to_f32(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def check_finite_rows(w, name):
    """Raise ValueError naming the first row of float32 matrix w [N, K] that holds NaN or infinity."""
    bad = np.flatnonzero(~np.isfinite(w).all(axis=1))
    if bad.size:
        raise ValueError(f"{name} row {bad[0]} contains NaN or infinity ({bad.size} such row"
                         f"{'s' if bad.size > 1 else ''}): only finite weights can be quantized or loaded")


def quantize_matrix(w, fmt, name="the matrix"):
    """(values, scale) of float matrix w [N, K], the parameter `name`, in format fmt; see the module docstring.
    Non-finite values (float64 beyond float32's range included) raise ValueError naming the row."""
    with np.errstate(over="ignore"):
        w = np.asarray(w, np.float32)
    check_finite_rows(w, name)
    if fmt == "int8":
        amax = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(w.shape[0], np.float32)
        # max / 127 underflows to 0 for rows below 127 subnormal steps (max < 1.8e-43): the smallest subnormal
        # still represents them (values up to 127 of its steps); rows of zeros get scale 1
        scale = np.where(amax > 0, np.maximum(amax / np.float32(127), TINIEST_SCALE), np.float32(1))
        scale = scale.astype(np.float32)
        # a subnormal scale has few significant bits: rounded down, max / scale would pass 127 and be clipped
        low = (scale < np.finfo(np.float32).tiny) & (scale * np.float32(127) < amax)
        scale[low] = np.nextafter(scale[low], np.float32(np.inf))
        values = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
        return values, scale
    scale = np.ones(w.shape[0], np.float32)
    if fmt == "bfloat16":
        return bf16_bits(w).view(BFLOAT16), scale
    if np.abs(w).max(initial=0) > np.finfo(np.float16).max:
        raise ValueError(f"weights up to {np.abs(w).max():.4g} do not fit float16 (largest 65504); "
                         f"use dtype='bfloat16' or 'int8'")
    return w.astype(np.float16), scale


def dequantize(values, scale):
    """The float32 matrix scale[:, None] * values that stored weights stand for."""
    floats = bf16_to_f32(values.view(np.uint16)) if values.dtype == BFLOAT16 else values.astype(np.float32)
    return floats * scale[:, None]


def raw_values(values):
    """What the kernels take: int8 as is, the uint16 bits of bfloat16 and float16."""
    if values.dtype == np.int8:
        return values
    return values.view(np.uint16)


def stored_format(values, key):
    """The format of stored weight values by dtype (float32 values must all be bfloat16 numbers)."""
    if values.dtype == np.int8:
        return "int8"
    if values.dtype == np.float16:
        return "float16"
    if values.dtype == BFLOAT16:
        return "bfloat16"
    if values.dtype == np.float32:
        bits = np.ascontiguousarray(values).view(np.uint32)
        if not (bits & np.uint32(0xFFFF)).any():
            return "bfloat16"
        raise ValueError(f"{key!r} is float32 with a {key + SCALE_SUFFIX!r} beside it, but not every value is a "
                         f"bfloat16 number: quantized weights are int8, float16 or bfloat16")
    raise TypeError(f"{key!r} has dtype {values.dtype}; quantized weights are int8, float16 or bfloat16")


def as_stored(values, key, fmt):
    """values converted to the in-memory dtype of fmt (float32 bfloat16 numbers -> BFLOAT16 bits)."""
    if fmt == "bfloat16" and values.dtype == np.float32:
        return np.ascontiguousarray(values).view(np.uint32).__rshift__(16).astype(np.uint16).view(BFLOAT16)
    return np.ascontiguousarray(values)


def check_scale(scale, key, rows):
    """A stored scale: float32 [rows], finite and positive (else ValueError naming the key)."""
    scale = np.asarray(scale)
    if scale.dtype.kind != "f" or scale.shape != (rows,):
        raise ValueError(f"{key!r} must be a float array of shape ({rows},), one scale per row of the weights; "
                         f"got {scale.dtype} {scale.shape}")
    scale = np.ascontiguousarray(scale, np.float32)
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"{key!r} must hold finite positive scales")
    return scale


def check_values(values, key, fmt):
    """float16 and bfloat16 weights must be finite (int8 always is); else ValueError naming the entry and row."""
    if fmt == "int8":
        return
    floats = values.astype(np.float32) if fmt == "float16" else bf16_to_f32(values.view(np.uint16))
    check_finite_rows(floats.reshape(len(floats), -1), f"state dict entry {key!r}")
