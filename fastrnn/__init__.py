"""fastrnn: fast CPU recurrent networks (LSTM, GRU, RNN) with torch-compatible weights, no torch needed.

Public names only; see README.md for the formulas and ARCHITECTURE.md for how the code is organised.
"""
from ._blas import get_low_latency, get_num_threads, set_low_latency, set_num_threads
from .layers import RNN, LSTM, GRU
from .io import load, save, find_recurrent_layers, from_onnx, FormatError, UnsafeFileError
from . import nn
from .nn import LSTMCell, GRUCell, RNNCell
from .quant import quantize_dynamic
from .onnx_session import InferenceSession

__version__ = "0.1.0"

__all__ = [
    "RNN", "LSTM", "GRU",
    "LSTMCell", "GRUCell", "RNNCell", "nn",
    "load", "save", "find_recurrent_layers", "from_onnx", "FormatError", "UnsafeFileError",
    "set_num_threads", "get_num_threads", "set_low_latency", "get_low_latency",
    "quantize_dynamic",
    "InferenceSession",
    "__version__",
]
