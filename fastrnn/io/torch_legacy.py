"""torch.save files in the legacy (pre-1.6, non-zip) format, read without torch by the same restricted unpickler.

Such a file is a sequence of pickles followed by raw storages:
  pickle 1  the magic number 0x1950a86a20f9469cfc6c      pickle 2  the protocol version 1001
  pickle 3  system info {"little_endian": ..., ...}      pickle 4  the object; storages are persistent ids
                                                                   ('storage', type, key, location, numel, view)
  pickle 5  the storage keys, sorted
  then, per key in that order: numel as a little-endian int64, then numel elements (little-endian)
Storage offsets depend on every storage's element size, which only pickle 4 tells: so pickle 4 is unpickled
twice, first recording its storage records (building nothing), then for real once the offsets are known.
Each pickle is scanned (pickle_scan) before it runs, its length found without trusting any length field.
"""
import struct

from . import torch_pickle
from .pickle_scan import prescan
from .errors import FormatError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_MAGIC_LONG = b"\x8a\x0a" + MAGIC_NUMBER.to_bytes(10, "little")  # LONG1 opcode of the magic number
_PICKLE_LIMIT = 1 << 30


def looks_like(head):
    """True if the first bytes `head` start a legacy torch.save file."""
    return len(head) >= 2 and head[0] == 0x80 and _MAGIC_LONG in head[:32]


def _next_pickle(source, start):
    """The bytes of the pickle starting at `start` (scanned, not run), reading only as far as needed."""
    chunk_size = 1 << 16
    while True:
        chunk = source.read(start, min(chunk_size, source.size - start), "pickle")
        try:
            end = prescan(chunk, source.name)
            return chunk[:end]
        except FormatError:
            if start + len(chunk) >= source.size or chunk_size >= _PICKLE_LIMIT:
                raise
            chunk_size *= 4  # the pickle may just continue past this chunk


class _Recorder:
    """storage_array callback of the first pass: records each storage's dtype and numel, builds nothing
    (returning None makes the unpickler put an empty placeholder where each tensor goes)."""

    def __init__(self):
        self.storages = {}

    def __call__(self, ref, dtype_name):
        self.storages.setdefault(ref.key, (ref, dtype_name))
        return None


def load(source):
    """The object saved in the legacy torch.save file open in `source`, tensors as NumPy arrays."""
    name = source.name
    position, values = 0, []
    for _ in range(3):  # magic number, protocol version, system info
        data = _next_pickle(source, position)
        values.append(torch_pickle.unpickle(data, None, name))
        position += len(data)
    magic, version, info = values
    if magic != MAGIC_NUMBER:
        raise FormatError(f"{name}: bad magic number: not a legacy torch.save file")
    if version != PROTOCOL_VERSION:
        raise FormatError(f"{name}: legacy torch.save protocol version {version!r}; only {PROTOCOL_VERSION} "
                          f"is read")
    if not isinstance(info, dict):
        raise FormatError(f"{name}: legacy torch.save system info is not a dict")
    main = _next_pickle(source, position)
    position += len(main)
    recorder = _Recorder()
    torch_pickle.unpickle(main, recorder, name)  # first pass: storage records only, no views
    keys_data = _next_pickle(source, position)
    position += len(keys_data)
    keys = torch_pickle.unpickle(keys_data, None, name)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise FormatError(f"{name}: the legacy storage key list is not a list of strings")
    offsets = {}
    for key in keys:
        numel = struct.unpack("<q", source.read(position, 8, f"legacy storage {key!r} size"))[0]
        if key not in recorder.storages:
            raise FormatError(f"{name}: legacy storage {key!r} is listed but no tensor uses it")
        ref, dtype_name = recorder.storages[key]
        itemsize = 1 if ref.dtype == "untyped" else torch_pickle.raw_dtype(ref.dtype).itemsize
        if numel != ref.numel:
            raise FormatError(f"{name}: legacy storage {key!r} records {numel} elements, data.pkl {ref.numel}")
        nbytes = numel * itemsize
        source.check_region(position + 8, nbytes, f"legacy storage {key!r}")
        offsets[key] = (position + 8, nbytes)
        position += 8 + nbytes
    storages = {}

    def storage_array(ref, dtype_name):
        if ref.key not in offsets:
            raise FormatError(f"{name}: a tensor uses storage {ref.key!r}, which the file does not hold")
        cache_key = (ref.key, dtype_name)
        if cache_key not in storages:
            offset, nbytes = offsets[ref.key]
            raw = torch_pickle.raw_dtype(dtype_name)  # legacy files are little-endian
            nbytes -= nbytes % raw.itemsize
            arr = source.array(offset, nbytes, raw, f"legacy storage {ref.key!r}")
            storages[cache_key] = torch_pickle.to_native(arr, dtype_name)
        return storages[cache_key]

    return torch_pickle.unpickle(main, storage_array, name)
