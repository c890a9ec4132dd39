"""fastrnn: fast CPU recurrent networks (LSTM, GRU, RNN) with torch-compatible weights, no torch needed.

Public names only; see README.md for the formulas and DESIGN notes.
"""
from ._blas import set_num_threads, get_num_threads
from .layers import RNN, LSTM, GRU
from .io import load, save, find_recurrent_layers, FormatError, UnsafeFileError
from .quant import quantize_dynamic

__version__ = "0.1.0"

__all__ = [
    "RNN", "LSTM", "GRU",
    "load", "save", "find_recurrent_layers", "FormatError", "UnsafeFileError",
    "set_num_threads", "get_num_threads",
    "quantize_dynamic",
    "__version__",
]
