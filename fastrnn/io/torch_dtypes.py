"""torch's dtypes and storage types by name, and the NumPy arrays their storages are read as.

float16 stays float16; bfloat16, which NumPy lacks, becomes float32 (exactly); big-endian files are converted
to native order. Used by the restricted unpickler (torch_unpickler) and the readers of both torch.save formats
(torch_pickle, torch_legacy).
"""
import numpy as np

# torch dtype name -> NumPy dtype ("bfloat16" is converted to float32 after reading its raw uint16 bits)
_DTYPES = {
    "float64": "<f8", "double": "<f8", "float32": "<f4", "float": "<f4", "float16": "<f2", "half": "<f2",
    "bfloat16": "bfloat16", "int64": "<i8", "long": "<i8", "int32": "<i4", "int": "<i4", "int16": "<i2",
    "short": "<i2", "int8": "i1", "uint8": "u1", "bool": "?", "complex64": "<c8", "cfloat": "<c8",
    "complex128": "<c16", "cdouble": "<c16", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
}
# torch dtypes that exist but are not read here (a FormatError, not an UnsafeFileError)
_UNSUPPORTED_DTYPES = {
    "complex32", "chalf", "qint8", "qint32", "quint8", "quint4x2", "quint2x4", "float8_e4m3fn",
    "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "bits1x8",
    "bits2x4", "bits4x2", "bits8", "bits16", "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    "int1", "int2", "int3", "int4", "int5", "int6", "int7",
}
# legacy typed storage class name -> torch dtype name
_STORAGE_TYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
_UNSUPPORTED_STORAGES = {"QInt8Storage", "QInt32Storage", "QUInt8Storage", "QUInt4x2Storage",
                         "QUInt2x4Storage"}


def raw_dtype(dtype_name, byteorder="little"):
    """The NumPy dtype a storage of torch dtype `dtype_name` is stored in (bfloat16: its uint16 bits)."""
    raw = np.dtype("<u2" if dtype_name == "bfloat16" else _DTYPES[dtype_name])
    return raw.newbyteorder(">") if byteorder == "big" else raw


def to_native(arr, dtype_name):
    """A storage's raw array as the NumPy array fastrnn returns: bfloat16 -> float32, big-endian -> native."""
    if dtype_name == "bfloat16":
        return (arr.astype(np.uint32) << 16).view(np.float32)
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr
