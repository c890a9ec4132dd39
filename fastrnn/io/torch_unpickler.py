"""The restricted unpickler of torch.save files (torch_pickle: zip files, torch_legacy: pre-1.6 files).

Tensors are rebuilt by torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) (typed storages) or
_rebuild_tensor_v3(..., dtype) (untyped storages of the newer dtypes); here each becomes a NumPy view
(np.lib.stride_tricks.as_strided) of its storage's array after a bounds check, so tensors sharing a storage
share memory, as they do in torch. Each storage is read once (a view of the mapped file when possible).

Safety: the unpickler resolves globals from its own table only. Allowed: containers and primitives
(dict/OrderedDict/list/tuple/set, numbers, str, bytes), torch's tensor and parameter rebuild functions, storage
types and dtypes by name, torch.Size, torch.device, torch.Tensor/Parameter as type markers — all implemented
in a few lines each (torch_globals, and the rebuild methods here), none of torch's code. Every other global
(os.system, builtins.eval, a class of the user's program, numpy objects, ...) raises UnsafeFileError naming it,
before anything in the file runs; torch objects that are safe but not tensors of plain layout (sparse, quantized,
nested tensors) raise FormatError.
The callers scan the opcode stream first (pickle_scan), so the C unpickler never allocates more than the data
justifies.
"""
import collections
import io
import pickle
import re

import numpy as np

from .errors import FormatError, UnsafeFileError, short_repr
from . import torch_quantized
from .source import check_shape
from .torch_dtypes import _DTYPES, _STORAGE_TYPES, _UNSUPPORTED_DTYPES, _UNSUPPORTED_STORAGES
from .torch_globals import (_DTypeName, _Marker, _StorageRef, _bytearray, _bytes_from_codec, _collection, _complex,
                            _mapping, _torch_device, _torch_size)

_UNSUPPORTED_REBUILDS = {
    "_rebuild_qtensor": "a quantized tensor", "_rebuild_sparse_tensor": "a sparse tensor",
    "_rebuild_sparse_csr_tensor": "a sparse tensor", "_rebuild_nested_tensor": "a nested tensor",
    "_rebuild_meta_tensor_no_storage": "a meta tensor (no data)",
    "_rebuild_wrapper_subclass": "a tensor subclass without storage",
    "_rebuild_device_tensor_from_numpy": "a device tensor pickled through NumPy",
    "_rebuild_device_tensor_from_cpu_tensor": "a device tensor", "_rebuild_mkldnn_tensor": "an MKL-DNN tensor",
    "_rebuild_xla_tensor": "an XLA tensor", "_rebuild_mtia_tensor": "an MTIA tensor",
}
_STORAGE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_RESAVE = "re-save the weights with torch: torch.save(model.state_dict(), path)"


class _TorchUnpickler(pickle.Unpickler):
    """Unpickles data.pkl of a torch.save archive; `storage_array(ref)` gives a storage's 1-D NumPy array."""

    def __init__(self, data, storage_array, name):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._storage_array = storage_array
        self._name = name
        self._globals = self._global_table()

    # --------------------------------------------------------------------------------------------- globals
    def _global_table(self):
        table = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("collections", "Counter"): _mapping(collections.Counter),
            ("torch", "Size"): _torch_size,
            ("torch", "device"): _torch_device,
            ("torch", "Tensor"): _Marker("tensor type", "Tensor"),
            ("torch._tensor", "Tensor"): _Marker("tensor type", "Tensor"),
            ("torch.nn.parameter", "Parameter"): _Marker("tensor type", "nn.Parameter"),
            ("_codecs", "encode"): _bytes_from_codec,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor_v3"): self._rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
            ("torch._tensor", "_rebuild_from_type_v2"): self._rebuild_from_type_v2,
            ("torch.storage", "UntypedStorage"): _Marker("storage", "UntypedStorage", "untyped"),
        }
        for builtins in ("builtins", "__builtin__"):
            table[(builtins, "set")] = _collection(set)
            table[(builtins, "frozenset")] = _collection(frozenset)
            table[(builtins, "bytearray")] = _bytearray
            table[(builtins, "complex")] = _complex
        for storage, dtype in _STORAGE_TYPES.items():
            table[("torch", storage)] = _Marker("storage", storage, dtype)
            table[("torch.cuda", storage)] = _Marker("storage", storage, dtype)
        for dtype in _DTYPES:
            table[("torch", dtype)] = _DTypeName(dtype)
        table.update(torch_quantized.globals_table(self._view, lambda name, dtype: _Marker("storage", name, dtype)))
        return table

    def find_class(self, module, name):
        try:
            return self._globals[(module, name)]
        except (KeyError, TypeError):
            pass
        if module == "torch._utils" and name in _UNSUPPORTED_REBUILDS:
            raise FormatError(f"{self._name}: holds {_UNSUPPORTED_REBUILDS[name]} (torch._utils.{name}), which "
                              f"fastrnn does not read; convert it to a dense CPU tensor and {_RESAVE}")
        if module in ("torch", "torch.cuda") and (name in _UNSUPPORTED_STORAGES or name in _UNSUPPORTED_DTYPES):
            raise FormatError(f"{self._name}: holds a tensor of type torch.{name}, which fastrnn does not read; "
                              f"convert it to float32 and {_RESAVE}")
        if (module, name) in (("torch.serialization", "_get_layout"), ("torch", "per_tensor_affine"),
                              ("torch", "per_channel_affine"), ("torch", "per_tensor_symmetric"),
                              ("torch", "per_channel_symmetric"), ("torch", "per_channel_affine_float_qparams")):
            raise FormatError(f"{self._name}: holds a sparse or quantized tensor ({module}.{name}), which fastrnn "
                              f"does not read; convert it to a dense float tensor and {_RESAVE}")
        if str(module).split(".")[0] in ("numpy", "np"):
            hint = (" (NumPy objects inside a torch checkpoint are not read: store numbers as Python numbers "
                    "or tensors)")
        else:
            hint = (" If this is your own file holding a whole pickled object (torch.save(model)), save the "
                    "weights only: torch.save(model.state_dict(), path).")
        raise UnsafeFileError(f"{self._name}: refused to load global {module}.{name}: a weights file holds only "
                              f"tensors, containers and numbers, and this global could run code. Nothing in the "
                              f"file was executed.{hint}")

    # ------------------------------------------------------------------------------------------- storages
    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
            raise FormatError(f"{self._name}: data.pkl has an unknown persistent record {short_repr(pid)}")
        _, storage_type, key, location, numel = pid[:5]
        if not isinstance(storage_type, _Marker) or storage_type.kind != "storage":
            raise FormatError(f"{self._name}: storage record {short_repr(pid)} does not name a torch storage type")
        if not isinstance(key, str) or not _STORAGE_KEY.fullmatch(key):
            raise FormatError(f"{self._name}: storage record has an invalid key {short_repr(key)}")
        if not isinstance(location, str):
            raise FormatError(f"{self._name}: storage record {key!r} has a non-string location")
        if type(numel) is not int or numel < 0:
            raise FormatError(f"{self._name}: storage record {key!r} has an invalid element count {short_repr(numel)}")
        if len(pid) == 6 and pid[5] is not None:  # legacy files: a view into another storage
            raise FormatError(f"{self._name}: storage {key!r} is a legacy storage view, which fastrnn does not "
                              f"read; {_RESAVE}")
        return _StorageRef(key, storage_type.dtype, numel)

    # ------------------------------------------------------------------------------------ tensor rebuilding
    def _rebuild_tensor(self, storage, storage_offset, size, stride, *_ignored):
        if not isinstance(storage, _StorageRef) or storage.dtype == "untyped":
            raise FormatError(f"{self._name}: a tensor is rebuilt from {short_repr(storage)}, not a typed storage")
        return self._view(storage, storage.dtype, storage_offset, size, stride)

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                           metadata=None):
        return self._rebuild_tensor(storage, storage_offset, size, stride)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                           metadata=None):
        if not isinstance(storage, _StorageRef):
            raise FormatError(f"{self._name}: a tensor is rebuilt from {short_repr(storage)}, not a storage")
        if not isinstance(dtype, _DTypeName):
            raise FormatError(f"{self._name}: a tensor names dtype {short_repr(dtype)}, not a torch dtype")
        if storage.dtype not in ("untyped", dtype.dtype):
            raise FormatError(f"{self._name}: storage {storage.key!r} holds {storage.dtype} but a tensor reads "
                              f"it as {dtype.dtype}")
        return self._view(storage, dtype.dtype, storage_offset, size, stride)

    def _rebuild_from_type_v2(self, func, new_type, args, state=None):
        """A tensor with Python attributes (or a Parameter): the plain tensor; its attributes are dropped."""
        rebuilds = (self._rebuild_tensor, self._rebuild_tensor_v2, self._rebuild_tensor_v3, _rebuild_parameter)
        if func not in rebuilds or not isinstance(new_type, _Marker) or not isinstance(args, tuple):
            raise FormatError(f"{self._name}: _rebuild_from_type_v2 is asked to call {short_repr(func)} for "
                              f"{short_repr(new_type)}; only plain tensors and parameters are read")
        return func(*args)

    def _view(self, storage, dtype_name, offset, size, stride):
        """The tensor (size, stride, offset in elements) as a strided view of the storage's array."""
        ints = (lambda v: isinstance(v, (tuple, list)) and all(type(i) is int and i >= 0 for i in v))
        if type(offset) is not int or offset < 0 or not ints(size) or not ints(stride) or len(size) != len(stride):
            raise FormatError(f"{self._name}: tensor of storage {storage.key!r} has an invalid layout: "
                              f"offset {short_repr(offset)}, size {short_repr(size)}, stride {short_repr(stride)}")
        check_shape(size, 1, f"{self._name}: tensor of storage {storage.key!r}")
        base = self._storage_array(storage, dtype_name)  # 1-D, checked against the member's size
        if base is None:  # a recording pass (legacy files): storages noted, no views built
            return np.zeros(0)
        size, stride = tuple(size), tuple(stride)
        if 0 not in size:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= base.size:
                raise FormatError(f"{self._name}: tensor of shape {size}, stride {stride}, offset {offset} needs "
                                  f"element {last} of storage {storage.key!r}, which holds {base.size} "
                                  f"(corrupt or truncated file)")
        elif offset > base.size:
            raise FormatError(f"{self._name}: empty tensor at offset {offset} past the end of storage "
                              f"{storage.key!r} ({base.size} elements)")
        if 0 in size:
            return np.zeros(size, base.dtype)
        numel = 1
        for n in size:
            numel *= n
        if stride == _contiguous_strides(size):  # the common case, and faster than as_strided
            return base[offset:offset + numel].reshape(size)
        item = base.itemsize
        return np.lib.stride_tricks.as_strided(base[offset:], shape=size, strides=tuple(s * item for s in stride),
                                               writeable=base.flags.writeable)


def _contiguous_strides(size):
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """A Parameter is its data here."""
    if not isinstance(data, np.ndarray):
        raise FormatError(f"a parameter is rebuilt from {short_repr(data)}, not a tensor")
    return data



def unpickle(data, storage_array, name):
    """Run the restricted unpickler over `data` (already prescanned). storage_array(ref, dtype_name) gives the
    1-D array of a storage (or None: a recording pass, tensors become empty placeholders); None for pickles
    that must hold no storages."""
    if storage_array is None:
        storage_array = _no_storages(name)
    try:
        return torch_quantized.unwrap(_TorchUnpickler(data, storage_array, name).load())
    except (FormatError, UnsafeFileError) as exc:
        if str(exc).startswith(name):
            raise
        raise type(exc)(f"{name}: {exc}") from None
    except RecursionError:
        raise FormatError(f"{name}: the pickle nests too deeply") from None
    except MemoryError:
        raise FormatError(f"{name}: the pickle asks for more memory than is available") from None
    except Exception as exc:  # UnpicklingError, TypeError, AttributeError, ... from hostile or corrupt pickles
        raise FormatError(f"{name}: the pickle is malformed: {type(exc).__name__}: {exc}") from None


def _no_storages(name):
    def storage_array(ref, dtype_name):
        raise FormatError(f"{name}: a tensor where the file format allows none")
    return storage_array
