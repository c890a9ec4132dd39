""".npz archives (numpy.savez) and single .npy arrays, read without pickles and without trusting sizes.

numpy.load(allow_pickle=False) would be safe from code execution, but for an archive member it allocates the
shape its header declares before reading (a 12-byte header can ask for terabytes). Here the .npy header
(magic, version, a Python-literal dict parsed by ast.literal_eval) is read first and the declared size is checked
against the member's real size; then the data is a view of the mapped file (stored members, as numpy.savez
writes them) or one decompression (numpy.savez_compressed). Object and structured dtypes are refused.
"""
import ast
import math
import struct
import zipfile

import numpy as np

from .atomic import atomic_write
from .errors import FormatError
from .source import check_shape
from .ziparchive import ZIP_ERRORS

NPY_MAGIC = b"\x93NUMPY"
_HEADER_LIMIT = 1 << 16  # bytes of the header dict (numpy's own default limit is 10000)


def parse_header(head, what):
    """(dtype, shape, fortran_order, header_length) from the first bytes `head` of a .npy stream.

    `head` must hold the whole header (at most _HEADER_LIMIT + 12 bytes are ever needed)."""
    if not head.startswith(NPY_MAGIC) or len(head) < 10:
        raise FormatError(f"{what}: not a .npy array (bad magic)")
    major = head[6]
    if major == 1:
        size, start = struct.unpack("<H", head[8:10])[0], 10
    elif major in (2, 3):
        if len(head) < 12:
            raise FormatError(f"{what}: truncated .npy header")
        size, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        raise FormatError(f"{what}: unknown .npy format version {major}.{head[7]}")
    if size > _HEADER_LIMIT:
        raise FormatError(f"{what}: .npy header of {size} bytes exceeds the {_HEADER_LIMIT}-byte limit")
    if len(head) < start + size:
        raise FormatError(f"{what}: truncated .npy header")
    try:
        text = head[start:start + size].decode("utf-8" if major == 3 else "latin1")
        header = ast.literal_eval(text)
    except (UnicodeDecodeError, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise FormatError(f"{what}: unreadable .npy header: {exc}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise FormatError(f"{what}: .npy header must hold exactly descr, fortran_order, shape")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise FormatError(f"{what}: structured dtype {descr!r} is not read (numbers only)")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise FormatError(f"{what}: unknown dtype {descr!r}") from None
    if dtype.kind not in "biufc" or dtype.hasobject:
        raise FormatError(f"{what}: dtype {dtype} is not read (numbers and booleans only; no pickled objects)")
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise FormatError(f"{what}: invalid shape {shape!r}")
    check_shape(shape, dtype.itemsize, what)
    if not isinstance(fortran, bool):
        raise FormatError(f"{what}: fortran_order must be True or False")
    return dtype, shape, fortran, start + size


def _shaped(flat, shape, fortran):
    """The array of `shape` from its flat data, in native byte order (a '>f4' file written on a big-endian
    machine is converted, a copy, as torch files are: the kernels read native bytes)."""
    if not flat.dtype.isnative:
        flat = flat.astype(flat.dtype.newbyteorder("="))
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


def _array_at(source, offset, available, what):
    """The .npy array stored at [offset, offset + available) of the file in `source`."""
    head = source.read(offset, min(available, _HEADER_LIMIT + 12), what)
    dtype, shape, fortran, header_length = parse_header(head, what)
    nbytes = math.prod(shape) * dtype.itemsize
    if header_length + nbytes > available:
        raise FormatError(f"{source.name}: {what} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                          f"{available - header_length} (corrupt or truncated)")
    flat = source.array(offset + header_length, nbytes, dtype, what)
    return _shaped(flat, shape, fortran)


def read_npy(source):
    """The array of the .npy file open in `source`."""
    return _array_at(source, 0, source.size, ".npy array")


def read_npz(archive):
    """{name: array} of the .npz archive (a ziparchive.ZipArchive), in archive order."""
    arrays = {}
    for name, info in archive.infos.items():
        if not name.endswith(".npy"):
            raise FormatError(f"{archive.source.name}: .npz member {name!r} is not a .npy array")
        key, what = name[:-4], f".npz member {name!r}"
        if info.compress_type == zipfile.ZIP_STORED:
            arrays[key] = _array_at(archive.source, archive.data_offset(name, what), info.file_size, what)
            continue
        with archive.open_member(name, what) as member:
            try:
                head = member.read(_HEADER_LIMIT + 12)
            except ZIP_ERRORS as exc:
                raise FormatError(f"{archive.source.name}: {what}: {exc}") from None
        dtype, shape, fortran, header_length = parse_header(head, what)
        nbytes = math.prod(shape) * dtype.itemsize
        if header_length + nbytes > info.file_size:
            raise FormatError(f"{archive.source.name}: {what} declares shape {shape} of {dtype} ({nbytes} bytes) "
                              f"but holds {info.file_size - header_length} (corrupt or truncated)")
        data = archive.member_array(name, "u1", what, nbytes=header_length + nbytes)
        arrays[key] = _shaped(data[header_length:].view(dtype), shape, fortran)
    return arrays


def write_npz(path, tensors):
    """Write {name: ndarray} as an uncompressed .npz (what numpy.savez writes; numpy.load reads it back)."""
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, arr in tensors.items():
                if arr.dtype.kind not in "biufc":
                    raise TypeError(f"{key!r} has dtype {arr.dtype}; only numbers and booleans are saved")
                with archive.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
