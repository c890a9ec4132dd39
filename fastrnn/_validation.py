"""Every input check of the public API, in one place. Messages name the argument, the expected and the actual.

Conventions: arrays that reach the kernels are C-contiguous, aligned, of the layer's dtype, finite. Inputs are
converted only where that loses nothing (float16 -> float32 -> float64); anything else is a TypeError that says
how to convert. Read-only, non-contiguous and negative-stride arrays are accepted (copied where needed).
"""
import operator
import os

import numpy as np

from . import _kernels

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
MERGE_MODES = ("concat", "sum", "mean", "mul")


def to_numpy(value, name, dtype=None):
    """A NumPy array from an array-like: ndarray, torch tensor (without importing torch), nested sequences.

    Plain Python sequences carry no dtype of their own: they become `dtype` (when given).
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor or parameter
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array-like of numbers; got {type(value).__name__}")
    try:
        arr = np.asarray(value)
        if dtype is not None and not hasattr(value, "dtype") and arr.dtype.kind in "biuf":
            arr = arr.astype(dtype)
        return arr
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array-like of numbers; got {type(value).__name__}: {exc}") from None


def as_dtype(dtype):
    """The layer dtype: float32 or float64, given as a NumPy dtype, its name, or torch.float32/torch.float64
    (torch's constructor arguments); None is torch's default, float32."""
    if dtype is None:
        return FLOAT_DTYPES[0]
    torch_name = str(dtype)
    if torch_name.startswith("torch."):
        dtype = torch_name[len("torch."):]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64; got {dt}")
    return dt


def as_float_array(value, name, dtype, shape_text):
    """value as a C-contiguous finite array of `dtype`, converting only losslessly.

    shape_text names the expected shape in error messages, e.g. "(T, B, I)".
    """
    arr = to_numpy(value, name, dtype)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a float32 or float64 array {shape_text}; got dtype {arr.dtype}")
    if arr.dtype != dtype or not arr.flags.c_contiguous:   # a copy is made: a broadcast view may be huge
        check_fits_memory(arr.size * np.dtype(dtype).itemsize, f"a contiguous {dtype} copy of {name} "
                                                               f"{arr.shape}")
    if arr.dtype != dtype:
        if not np.can_cast(arr.dtype, dtype, casting="safe"):
            raise TypeError(f"{name} has dtype {arr.dtype} but the layer computes in {dtype}: pass "
                            f"{name}.astype(np.{dtype}) or build the layer with dtype=np.{arr.dtype}")
        arr = arr.astype(dtype)
    arr = np.ascontiguousarray(arr)
    if not _kernels.all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def check_shape(arr, name, expected, legend):
    """Raise unless arr.shape == expected; legend spells the expected shape in letters, e.g. "(L*D, B, H)"."""
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} has shape {arr.shape}; expected {legend} = {tuple(expected)}")


def as_input(x, dtype, input_size, batch_first):
    """x as a time-major (T, B, I) array; returns (x, unbatched). 2-D x is one unbatched sequence (T, I)."""
    legend = "(B, T, I)" if batch_first else "(T, B, I)"
    arr = to_numpy(x, "x", dtype)
    if arr.ndim not in (2, 3):
        raise ValueError(f"x must be 3-D {legend} (or 2-D (T, I) for one sequence); got shape {arr.shape}")
    if arr.shape[-1] != input_size:
        raise ValueError(f"x has shape {arr.shape}; expected {legend} with I = input_size = {input_size}")
    unbatched = arr.ndim == 2
    if unbatched:
        arr = arr[:, None, :]
    elif batch_first:
        arr = arr.transpose(1, 0, 2)
    return as_float_array(arr, "x", dtype, legend), unbatched


def as_state(value, name, expected, legend, dtype, unbatched):
    """An initial state (h0 or c0) as a fresh C-contiguous array of shape `expected`, safe to update in place."""
    arr = to_numpy(value, name, dtype)
    if unbatched and arr.ndim == 2:
        arr = arr[:, None, :]
    check_shape(arr, name, expected, legend)
    return as_float_array(arr, name, dtype, legend).copy()


def as_lengths(lengths, batch, steps):
    """lengths (B,) of ints in [1, T] as an intp array."""
    arr = to_numpy(lengths, "lengths")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.intp)
        elif arr.size:
            raise TypeError(f"lengths must be integers; got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ValueError(f"lengths has shape {arr.shape}; expected (B,) = ({batch},)")
    arr = arr.astype(np.intp)
    if arr.size and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(f"lengths must lie in [1, T] = [1, {steps}]; got min {arr.min()}, max {arr.max()}")
    return arr


def as_positive_int(value, name, minimum=1):
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int; got {type(value).__name__}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {number}")
    return number


def check_device(device):
    """torch's `device` argument: fastrnn computes on the CPU, so None or "cpu" (a torch.device too)."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device must be None or 'cpu' (fastrnn runs on the CPU); got {device!r}")


def as_probability(value, name):
    """A float in [0, 1), e.g. a dropout probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1); got {type(value).__name__}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must lie in [0, 1); got {value}")
    return float(value)


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def as_weight(value, key, shape, dtype):
    """A state-dict value as a C-contiguous finite float array of the given shape, converted to the layer dtype.

    Integer values are refused: in a state dict they are quantized weights whose scales are missing (read as
    floats they would be the raw integers)."""
    arr = to_numpy(value, key)
    if arr.dtype.kind in "iub":
        raise TypeError(f"state dict entry {key!r} holds {arr.dtype} values: quantized weights need their per-row "
                        f"scales {key + '_scale'!r} beside them (see fastrnn.quantize_dynamic), and a float layer "
                        f"takes float weights")
    if arr.dtype.kind != "f":
        raise TypeError(f"state dict entry {key!r} must be a real-valued array; got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"state dict entry {key!r} has shape {arr.shape}; expected {tuple(shape)}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not _kernels.all_finite(arr):
        raise ValueError(f"state dict entry {key!r} contains NaN or infinity")
    return arr


def check_keys(names, mapping, strict, owner):
    """(missing_keys, unexpected_keys) of a state dict `mapping` against the parameter names `names`; strict:
    KeyError naming them when there are any."""
    if not hasattr(mapping, "keys") or not hasattr(mapping, "__getitem__"):
        raise TypeError(f"state_dict must be a mapping of parameter names to arrays; got {type(mapping).__name__}")
    missing = [k for k in names if k not in mapping]
    unexpected = [k for k in mapping.keys() if k not in names]
    if strict and (missing or unexpected):
        problems = ([f"missing keys {missing}"] if missing else []) + \
                   ([f"unexpected keys {unexpected}"] if unexpected else [])
        raise KeyError(f"state dict does not match {owner!r}: " + "; ".join(problems))
    return missing, unexpected


def load_into(params, mapping, strict, owner):
    """Copy a state dict into the arrays of `params` in place (layers' and modules' load_state_dict).

    Every entry is checked (shape, real dtype, finite) before any is copied, so a failed load changes nothing.
    strict: missing or unexpected keys raise KeyError. Returns (missing_keys, unexpected_keys).
    """
    missing, unexpected = check_keys(params, mapping, strict, owner)
    for key, p in params.items():   # the arrays copied into (a user may have replaced one)
        if key in mapping and not isinstance(p, np.ndarray):
            raise ValueError(f"params[{key!r}] must be a NumPy array to load into; got {type(p).__name__}")
        if key in mapping and not p.flags.writeable:
            raise ValueError(f"params[{key!r}] is read-only, so the state dict cannot be copied into it: assign a "
                             f"writeable array (params[{key!r}] = params[{key!r}].copy()) first")
    loaded = {k: as_weight(mapping[k], k, p.shape, p.dtype) for k, p in params.items() if k in mapping}
    for key, value in loaded.items():
        np.copyto(params[key], value)
    return missing, unexpected


def physical_memory_bytes():
    """This machine's physical memory (a generous bound where the platform cannot say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 40


def check_fits_memory(nbytes, what):
    """Refuse (ValueError), before allocating, `nbytes` that cannot fit in this machine's memory: a broadcast
    view of a few bytes can stand for an input of any size, and copying it would exhaust memory."""
    available = physical_memory_bytes()
    if nbytes > available:
        raise ValueError(f"{what} needs {nbytes / 2**30:,.1f} GiB, more than this machine's "
                         f"{available / 2**30:.1f} GiB of memory")


def check_parameter_count(owner, count, dtype):
    """Refuse, before allocating anything, `count` parameters of `dtype` that cannot fit in this machine's memory
    (random initialisation draws float64 values first). owner names the module, e.g. "Linear(4, 8)"."""
    needed = count * max(np.dtype(dtype).itemsize, 8)
    available = physical_memory_bytes()
    if needed > available:
        raise ValueError(f"{owner} needs {count:,} parameters, about {needed / 2**30:,.1f} GiB, more than this "
                         f"machine's {available / 2**30:.1f} GiB of memory")


def as_rng(seed, rng):
    """A constructor's random generator: `rng` when given (a numpy.random.Generator or RandomState), else a
    Generator seeded by `seed` (None: fresh entropy)."""
    if rng is not None:
        if not all(hasattr(rng, name) for name in ("uniform", "standard_normal", "random")):
            raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        return rng
    try:
        return np.random.default_rng(seed)
    except TypeError:
        raise TypeError(f"seed must be None or a non-negative int; got {type(seed).__name__}") from None
    except ValueError:
        raise ValueError(f"seed must be None or a non-negative int; got {seed!r}") from None
