"""What the restricted unpickler (torch_unpickler) returns for the globals a torch pickle may name: markers for
torch's storage types, dtypes and Tensor classes, a storage named by a persistent id, and checked stand-ins for
the constructors of bytes, bytearray, complex, set, frozenset, Counter, torch.Size and torch.device. Each is a
few lines, none of torch's code, and refuses arguments that are not what torch writes (FormatError).
"""
from .errors import FormatError


# ------------------------------------------------------------------------------------------ the marker types
class _Marker:
    """A named placeholder for a torch object the pickle refers to (a storage type, dtype, Tensor class)."""
    __slots__ = ("kind", "name", "dtype")

    def __init__(self, kind, name, dtype=None):
        self.kind, self.name, self.dtype = kind, name, dtype

    def __repr__(self):
        return f"torch.{self.name}"

    def __reduce__(self):
        raise TypeError("not picklable")

    def __setstate__(self, state):
        raise FormatError(f"data.pkl sets state on {self!r}")


class _DTypeName(str):
    """A torch dtype named in the pickle: the string "torch.float32" (what a checkpoint holding a dtype gets
    back), carrying the dtype's name for _rebuild_tensor_v3."""

    def __new__(cls, name):
        self = super().__new__(cls, f"torch.{name}")
        self.dtype = name
        return self

    def __setstate__(self, state):
        raise FormatError(f"data.pkl sets state on {self}")


class _StorageRef:
    """A storage named by a persistent id: its key, dtype ("untyped" for UntypedStorage) and element count."""
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel

    def __setstate__(self, state):
        raise FormatError("data.pkl sets state on a storage")


def _bytes_from_codec(text, encoding="latin1"):
    """_codecs.encode as protocol 2 pickles bytes: (str, 'latin1') only, no codec lookup by name."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise FormatError("data.pkl calls _codecs.encode with something other than (str, 'latin1')")
    return text.encode("latin-1")


def _bytearray(data=b"", *args):
    """builtins.bytearray for pickled bytearrays (never bytearray(n), which would allocate n bytes)."""
    if isinstance(data, str) and args:
        data = _bytes_from_codec(data, *args)
    if not isinstance(data, (bytes, bytearray)):
        raise FormatError("data.pkl builds a bytearray from something other than bytes")
    return bytearray(data)


def _complex(real=0.0, imag=0.0):
    if not isinstance(real, (int, float)) or not isinstance(imag, (int, float)):
        raise FormatError("data.pkl builds a complex number from something other than numbers")
    return complex(real, imag)


def _collection(kind):
    def build(items=()):
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise FormatError(f"data.pkl builds a {kind.__name__} from a {type(items).__name__}")
        return kind(items)
    return build


def _mapping(kind):
    def build(items=()):
        if not isinstance(items, (list, tuple, dict)):
            raise FormatError(f"data.pkl builds a {kind.__name__} from a {type(items).__name__}")
        return kind(items)
    build.__name__ = kind.__name__
    return build


def _torch_size(dims=()):
    if not isinstance(dims, (list, tuple)) or not all(type(d) is int for d in dims):
        raise FormatError("data.pkl builds a torch.Size from something other than integers")
    return tuple(dims)


def _torch_device(kind="cpu", index=None):
    """torch.device as its string ("cpu", "cuda:0"): tensors load to the CPU here whatever their device."""
    if not isinstance(kind, str) or (index is not None and type(index) is not int):
        raise FormatError("data.pkl builds a torch.device from something other than (str, int)")
    return kind if index is None else f"{kind}:{index}"
