"""torch.save files (zip format, torch >= 1.6) read WITHOUT torch, by a restricted unpickler.

Layout of such a file (a zip archive whose members share one top folder, e.g. "archive/" or "model/"):
  archive/data.pkl        the pickled object; each tensor storage is a persistent id
                          ('storage', <torch.FloatStorage-like type>, key, location, numel)
  archive/data/<key>      the raw bytes of storage `key` (stored uncompressed, 64-byte aligned)
  archive/byteorder       "little" or "big" (absent in old files: little)
  archive/version, .format_version, .storage_alignment, .data/serialization_id   (not needed here)

The object in data.pkl is rebuilt by the restricted unpickler (torch_unpickler); each storage is read once, as an
array (torch_dtypes: bfloat16 -> float32, big-endian -> native order), a view of the mapped file when possible.
The opcode stream is scanned first (pickle_scan) so length fields and memo indices that would make the C
unpickler allocate more than the data justifies are refused before it runs.
"""
from .errors import FormatError, short_repr
from .pickle_scan import prescan
from .torch_dtypes import raw_dtype, to_native
from .torch_unpickler import unpickle

DATA_PKL_LIMIT = 1 << 30  # bytes; a state dict's pickle is kilobytes to a few megabytes


def _find_prefix(archive):
    """The archive's top folder (with "/"): the one holding data.pkl. Refuses TorchScript archives."""
    names = archive.names
    if any(n.endswith("/constants.pkl") or n == "constants.pkl" or "/code/" in n for n in names):
        raise FormatError(f"{archive.source.name}: a TorchScript archive (torch.jit.save), not a torch.save file. "
                          f"Re-save its weights in Python: torch.save(torch.jit.load(path).state_dict(), "
                          f"'weights.pt')")
    tops = [n[:-len("data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if not tops:
        raise FormatError(f"{archive.source.name}: a zip archive without a data.pkl record: not a torch.save "
                          f"file (members: {short_repr(names[:8])})")
    if len(tops) > 1:
        raise FormatError(f"{archive.source.name}: a zip archive with several data.pkl records {tops}")
    return tops[0]


def load_zip(archive):
    """The object saved in the torch.save zip archive `archive` (a ziparchive.ZipArchive), tensors as arrays."""
    name = archive.source.name
    prefix = _find_prefix(archive)
    byteorder = "little"
    if prefix + "byteorder" in archive.infos:
        byteorder = archive.member_bytes(prefix + "byteorder", 16, "byteorder record").decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise FormatError(f"{name}: unknown byteorder record {byteorder!r}")
    storages = {}

    def storage_array(ref, dtype_name):
        cache_key = (ref.key, dtype_name)
        if cache_key not in storages:
            storages[cache_key] = _read_storage(archive, prefix, ref, dtype_name, byteorder)
        return storages[cache_key]

    data = archive.member_bytes(prefix + "data.pkl", DATA_PKL_LIMIT, "data.pkl")
    end = prescan(data, f"{name}: data.pkl")
    if end != len(data):
        raise FormatError(f"{name}: data.pkl has {len(data) - end} bytes after the end of its pickle")
    return unpickle(data, storage_array, name)


def _read_storage(archive, prefix, ref, dtype_name, byteorder):
    """Storage `ref` as a 1-D array of dtype_name (bfloat16 -> float32, big-endian -> native)."""
    name = archive.source.name
    member = f"{prefix}data/{ref.key}"
    info = archive.info(member, f"storage {ref.key!r} named in data.pkl")
    raw = raw_dtype(dtype_name, byteorder)
    # the record's element count: of the typed storage, or bytes for an untyped one
    declared = ref.numel * (1 if ref.dtype == "untyped" else raw.itemsize)
    if declared > info.file_size:
        raise FormatError(f"{name}: storage {ref.key!r} declares {declared} bytes but its record holds "
                          f"{info.file_size} (corrupt or truncated file)")
    usable = declared - declared % raw.itemsize
    if info.compress_type == 0:
        offset = archive.data_offset(member, f"storage {ref.key!r}")
        arr = archive.source.array(offset, usable, raw, f"storage {ref.key!r}")
    else:
        arr = archive.member_array(member, "u1", f"storage {ref.key!r}", nbytes=usable).view(raw)
    return to_native(arr, dtype_name)
