"""Weight formats: torch.save files read without torch (restricted unpickler), safetensors, .npz, Keras arrays;
layer configurations inferred from state-dict keys and shapes.

  load(path)                      the tensors of a torch.save / safetensors / .npz / .npy file as NumPy arrays
  save(path, tensors)             safetensors (or .npz by extension)
  find_recurrent_layers(sd)       every RNN/LSTM/GRU (or cell) in a state dict: prefix, mode, config
  from_onnx(path)                 the LSTM/GRU/RNN nodes of an ONNX file as layers (needs the onnx package)
  FormatError, UnsafeFileError    malformed/unsupported file; a file that asks to run code (nothing ran)

Modules, one job each: errors; source (bounds-checked, memory-mapped file access); ziparchive (zip members as
arrays, never extracted); pickle_scan (opcode scan before unpickling); torch_unpickler (the restricted unpickler),
torch_globals (what the globals it allows become), torch_dtypes (torch's dtypes, storages as arrays); torch_pickle
(torch.save zip files); torch_legacy (pre-1.6 torch.save files); safetensors_io; npz (.npz/.npy); load (format
sniffing, load/save); tree (nested checkpoints, array conversion); atomic (write-then-rename); infer
(config_from_state_dict, find_recurrent_layers); keras (lstm_from_keras, gru_from_keras); onnx_import
(from_onnx), onnx_file (an ONNX file read and checked: text, unique names, external data), onnx_constants (an
ONNX graph's constant values) and reversed_layers (layers that run backwards in time, for ONNX reverse nodes);
cli (fastrnn inspect / convert).
Importing this package is cheap: the readers are imported on first use. torch is never imported.
"""
import os
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Union

from .errors import FormatError, UnsafeFileError

if TYPE_CHECKING:
    from ..layers import GRU, LSTM, RNN

PathLike = Union[str, "os.PathLike[str]"]
# What load returns: {name: array} (safetensors, .npz), an array (.npy), or the object a torch.save file holds
# with every tensor as an array: usually a state dict (an OrderedDict), else containers, numbers, strings or None.
# Typed Any, as json.load's result: what it holds depends on the file, so `LSTM.from_state_dict(load(path))`
# type-checks (mypy --strict) and is checked at run time instead (a non-mapping raises TypeError there).
Loaded = Any

__all__ = ["load", "save", "find_recurrent_layers", "from_onnx", "FormatError", "UnsafeFileError"]


def load(path: PathLike, mmap: bool = True) -> Loaded:
    """The tensors of a weights file as NumPy arrays, in the structure the file holds. Recognised by content.

    - torch.save files, zip (torch >= 1.6) or legacy format — read without torch, and nothing in the file can
      run: the saved object with each tensor replaced by an ndarray (a state dict becomes an OrderedDict of
      arrays; a checkpoint {"model": sd, "epoch": 3, "optimizer": ...} keeps its nesting). float16 stays
      float16, bfloat16 becomes float32 (exactly); tensors sharing a storage share memory.
    - safetensors and .npz: {name: array}; .npy: the array.
    mmap=True maps the file copy-on-write: arrays are views whose pages are read on first touch, and writing into
    them never changes the file (if another program truncates the file meanwhile, touching them faults: use
    mmap=False, which reads each storage into memory once).
    Raises FormatError (malformed, truncated or unsupported file, with what it is and how to convert it),
    UnsafeFileError (the file asks for a global such as os.system; refused before anything ran), OSError.
    """
    from .load import load as _load
    return _load(path, mmap=mmap)


def save(path: PathLike, tensors: Mapping[str, Any],
         metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write arrays to `path`: safetensors (any extension but ".npz"), or an uncompressed .npz.

    tensors: {name: array} of NumPy arrays or torch tensors (bfloat16 saved as float32); nested mappings are
    flattened with "." ("model.lstm.weight_ih_l0"); entries that are not arrays raise TypeError naming them.
    metadata: {str: str} for the safetensors header. Written to a temporary file beside `path`, then renamed.
    """
    from .load import save as _save
    return _save(path, tensors, metadata=metadata)


def find_recurrent_layers(state_dict: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Every RNN / LSTM / GRU (or torch cell module) in a state dict, nested checkpoints flattened with ".".

    Returns [{"prefix": "encoder.lstm.", "mode": "LSTM", "config": {input_size, hidden_size, num_layers, bias,
    bidirectional, (proj_size, peephole)}, "cell": bool, "note": what the weights do not tell, or ""}, ...].
    The mode comes from the shapes: G = rows of weight_hh / H (H = columns of weight_hr, else of weight_hh)
    is 4 for an LSTM, 3 for a GRU, 1 for an RNN. Groups that do not form a valid layer have mode None and an
    "error" message. Build a layer with fastrnn.LSTM.from_state_dict(sd, prefix=entry["prefix"]).
    """
    from .infer import find_recurrent_layers as _find
    return _find(state_dict)


def from_onnx(path: PathLike) -> "Dict[str, Union[LSTM, GRU, RNN]]":
    """The LSTM, GRU and RNN nodes of an ONNX file as fastrnn layers: {node name: layer}, in graph order.

    Each node becomes a one-layer fastrnn.LSTM / GRU / RNN computing what the node computes (gate orders,
    biases, peepholes, GRU linear_before_reset 0 or 1, RNN Tanh or Relu; layout 1 gives batch_first=True);
    a direction="reverse" node gives a layer that runs backwards in time. Each layer has a `direction`
    attribute ("forward", "reverse" or "bidirectional") and is called like any other: layer(x, hx, lengths)
    with states (D, B, H) (ONNX's initial_h / initial_c; transpose layout-1 (B, D, H) ones) and lengths =
    sequence_lens; its output (T, B, D*H) is ONNX's Y (T, D, B, H) with directions merged, its states Y_h, Y_c.
    Other nodes are skipped, with a warning naming their op types (fastrnn.InferenceSession runs the whole graph).
    Needs the onnx package (pip install "fastrnn[onnx]").
    Raises FormatError for a file that is not ONNX, for weights the graph computes from its inputs (stored weights
    moved by Slice/Concat/... nodes are evaluated and read), and for attributes fastrnn does not compute
    (activations other than the defaults, clip, input_forget), naming the node and the attribute.
    """
    from .onnx_import import from_onnx as _from_onnx
    return _from_onnx(path)
