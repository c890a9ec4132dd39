"""safetensors files, read and written here (no dependency): an 8-byte little-endian header size N, N bytes of
JSON {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the tensors' bytes, C order, little-endian, offsets relative to the end of the header.

Own reader rather than the `safetensors` package because its NumPy API refuses bfloat16 (NumPy has no such
dtype) while torch users save bfloat16 weights; because the same bounds-checked, memory-mapped reading as the
torch reader serves it; and because deployment machines then need nothing beyond NumPy. The format is one page;
tests check files written by the `safetensors` package read here and files written here read there.
Reading validates what the reference implementation validates: header size, JSON, known dtypes, every tensor's
byte range equal to its shape's size, ranges inside the data and neither overlapping nor leaving holes.
"""
import json
import math
import struct

import numpy as np

from .atomic import atomic_write
from .errors import FormatError
from .source import check_shape

HEADER_LIMIT = 100 * 1024 * 1024  # the reference implementation's limit on the JSON header
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "C64": "<c8",
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items() if v != "bfloat16"}
# bfloat16 as its 16 bits: how fastrnn's bfloat16 weights are held (fastrnn/quant/formats.py); written as BF16
BFLOAT16 = np.dtype([("bfloat16", "<u2")])
_NAMES[BFLOAT16] = "BF16"


def _unique_keys(pairs):
    """json object hook: a dict, refusing duplicate keys (which would leave a tensor ambiguous)."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def looks_like(head, file_size):
    """True if the first bytes `head` (>= 9) start a safetensors file of `file_size` bytes."""
    if len(head) < 9:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    return 2 <= n <= min(HEADER_LIMIT, file_size - 8) and head[8:9] == b"{"


def read(source):
    """(tensors {name: array} in file order, metadata {str: str}) of the safetensors file open in `source`."""
    name = source.name
    n = struct.unpack("<Q", source.read(0, 8, "safetensors header size"))[0]
    if n > HEADER_LIMIT:
        raise FormatError(f"{name}: safetensors header of {n} bytes exceeds the {HEADER_LIMIT}-byte limit")
    raw = source.read(8, n, "safetensors header")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"{name}: the safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{name}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise FormatError(f"{name}: safetensors __metadata__ must map strings to strings")
    start = 8 + n
    data_size = source.size - start
    entries = []
    for key, entry in header.items():
        what = f"safetensors tensor {key!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{name}: {what}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _DTYPES:
            raise FormatError(f"{name}: {what} has dtype {dtype!r}, which fastrnn does not read "
                              f"(supported: {', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise FormatError(f"{name}: {what} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise FormatError(f"{name}: {what} has data_offsets {offsets!r} outside the {data_size} data bytes")
        raw_dtype = np.dtype("<u2" if dtype == "BF16" else _DTYPES[dtype])
        nbytes = math.prod(shape) * raw_dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise FormatError(f"{name}: {what} of shape {tuple(shape)} and dtype {dtype} needs {nbytes} bytes; "
                              f"its data_offsets span {offsets[1] - offsets[0]}")
        check_shape(shape, raw_dtype.itemsize, f"{name}: {what}")
        entries.append((offsets[0], offsets[1], key, dtype, tuple(shape), raw_dtype))
    entries.sort()
    position = 0
    for begin, end, key, *_ in entries:
        if begin != position:
            problem = "overlaps the previous tensor" if begin < position else "leaves a hole before it"
            raise FormatError(f"{name}: safetensors tensor {key!r} at bytes [{begin}, {end}) {problem}")
        position = end
    if position != data_size:
        raise FormatError(f"{name}: safetensors tensors cover {position} of the {data_size} data bytes")
    tensors = {}
    for begin, end, key, dtype, shape, raw_dtype in entries:
        arr = source.array(start + begin, end - begin, raw_dtype, f"safetensors tensor {key!r}").reshape(shape)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        tensors[key] = arr
    return tensors, metadata


def write(path, tensors, metadata=None):
    """Write {name: ndarray} (already NumPy arrays) as safetensors to `path` (written whole, then renamed)."""
    arrays = {}
    for key, arr in tensors.items():
        dt = arr.dtype.newbyteorder("<")  # little-endian, whatever the machine
        if dt not in _NAMES:
            raise TypeError(f"{key!r} has dtype {arr.dtype}, which safetensors cannot hold here "
                            f"(supported: {', '.join(str(d) for d in _NAMES)})")
        arrays[key] = np.asarray(arr, dtype=dt, order="C")  # (ascontiguousarray would make 0-d 1-d)
    # widest dtype first keeps every tensor aligned to its item size (the data starts 8-byte aligned)
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header, position = {}, 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    for key in order:
        arr = arrays[key]
        header[key] = {"dtype": _NAMES[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [position, position + arr.nbytes]}
        position += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for key in order:
            if arrays[key].nbytes:
                f.write(arrays[key].data)
