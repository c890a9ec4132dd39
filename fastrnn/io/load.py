"""fastrnn.load and fastrnn.save: weights files recognised by their content, never by their extension.

Read: torch.save files (zip format; legacy pre-1.6 files too), safetensors, .npz, .npy. Recognised and refused
with a message saying what they are and how to convert: TorchScript archives, plain pickles, HDF5 (Keras .h5),
Keras 3 .keras archives, ONNX models (read by fastrnn.from_onnx). Written: safetensors, or .npz when the path
ends in ".npz".
"""
import os
from collections.abc import Mapping

from . import npz, safetensors_io, torch_legacy, torch_pickle
from .errors import FormatError
from .onnx_import import looks_like_onnx
from .source import Source
from .tree import flatten
from .ziparchive import ZipArchive

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load(path, mmap=True):
    """See fastrnn.load (fastrnn/io/__init__.py)."""
    with Source(path, use_mmap=mmap) as source:
        return _load(source)[0]


def load_with_format(path, mmap=True):
    """(object, format name, extra) — what `load` returns plus a description for `fastrnn inspect`."""
    with Source(path, use_mmap=mmap) as source:
        return _load(source)


def _load(source):
    head = source.read(0, min(source.size, 512), "file header")
    if not head:
        raise FormatError(f"{source.name}: empty file")
    if head.startswith(_ZIP_MAGICS):
        return _load_zip(source)
    if safetensors_io.looks_like(head, source.size):
        tensors, metadata = safetensors_io.read(source)
        return tensors, "safetensors", {"metadata": metadata}
    if head.startswith(npz.NPY_MAGIC):
        return npz.read_npy(source), "npy", {}
    if torch_legacy.looks_like(head):
        return torch_legacy.load(source), "torch legacy (pre-1.6) torch.save file", {}
    if head.startswith(_HDF5_MAGIC):
        raise FormatError(f"{source.name}: an HDF5 file (Keras .h5 weights?), which fastrnn does not read: read "
                          f"the arrays with h5py or Keras (layer.get_weights()) and pass them to "
                          f"fastrnn.LSTM.from_keras / GRU.from_keras, or save them with fastrnn.save")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise FormatError(f"{source.name}: a plain Python pickle, not a torch.save weights file; fastrnn never "
                          f"unpickles arbitrary pickles. Save tensors with torch.save(model.state_dict(), path), "
                          f"safetensors or numpy.savez")
    if len(head) >= 265 and head[257:262] == b"ustar":
        raise FormatError(f"{source.name}: a tar archive (torch's oldest, pre-0.4 save format?); load it with "
                          f"that torch and re-save: torch.save(model.state_dict(), path)")
    if looks_like_onnx(head):
        raise FormatError(f"{source.name}: an ONNX model, not a weights file: read its LSTM/GRU/RNN nodes with "
                          f"fastrnn.from_onnx(path)")
    raise FormatError(f"{source.name}: not a weights file fastrnn reads (torch.save zip or legacy, safetensors, "
                      f".npz, .npy); it starts with {head[:16]!r}")


def _load_zip(source):
    archive = ZipArchive(source)
    names = archive.names
    if not names:
        raise FormatError(f"{source.name}: an empty zip archive")
    if any(n.endswith("data.pkl") or n.endswith("constants.pkl") for n in names):
        return torch_pickle.load_zip(archive), "torch.save (zip)", {}
    if all(n.endswith(".npy") for n in names):
        return npz.read_npz(archive), "npz", {}
    if "config.json" in names and any(n.endswith(".h5") for n in names):
        raise FormatError(f"{source.name}: a Keras .keras archive (config + HDF5 weights), which fastrnn does "
                          f"not read: get the arrays with layer.get_weights() and pass them to "
                          f"fastrnn.LSTM.from_keras / GRU.from_keras, or fastrnn.save them")
    return torch_pickle.load_zip(archive), "torch.save (zip)", {}  # raises: no data.pkl, names the members


def save(path, tensors, metadata=None):
    """See fastrnn.save (fastrnn/io/__init__.py)."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors must be a mapping of names to arrays; got {type(tensors).__name__}")
    arrays, others = flatten(tensors)
    if others:
        keys = ", ".join(repr(k) for k in list(others)[:5])
        raise TypeError(f"save writes arrays only; these entries are not arrays: {keys}"
                        f"{' ...' if len(others) > 5 else ''}")
    if os.fspath(path).lower().endswith(".npz"):
        if metadata:
            raise ValueError("metadata is stored only in safetensors files, not in .npz")
        npz.write_npz(path, arrays)
    else:
        safetensors_io.write(path, arrays, metadata)
