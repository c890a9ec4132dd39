"""Inference pieces around the recurrent layers, with torch's parameter names: a whole model without torch.

    Embedding, Linear        (the training module's classes, also usable for inference)
    LayerNorm                layer_norm.py
    relu, gelu, sigmoid, tanh, softmax, log_softmax and the modules ReLU, GELU, ...   activations.py
    Dropout                  dropout.py (the identity in inference)
    mean_pool, max_pool, last_step and MeanPool, MaxPool, LastStep   pooling.py (respect lengths)
    AdditiveAttention        attention.py (Bahdanau attention pooling, masked by lengths)
    LSTMCell, GRUCell, RNNCell   cells.py (torch-shaped cells: states (B, H))
    Sequential               sequential.py (composes them; loads a torch model's state dict by name)

Every piece has from_state_dict(state_dict, prefix=...) reading its weights (and sizes) from a whole-model
state dict under a prefix such as "fc."; state_dict.py says how keys are matched.
"""
from ..train.embedding import Embedding
from ..train.linear import Linear
from .activations import (GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh, gelu, log_softmax, relu, sigmoid,
                          softmax, tanh)
from .attention import AdditiveAttention
from .cells import GRUCell, LSTMCell, RNNCell
from .dropout import Dropout
from .layer_norm import LayerNorm
from .pooling import LastStep, MaxPool, MeanPool, last_step, max_pool, mean_pool
from .sequential import Sequential

__all__ = [
    "Embedding", "Linear", "LayerNorm", "Dropout",
    "relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax",
    "ReLU", "GELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "mean_pool", "max_pool", "last_step", "MeanPool", "MaxPool", "LastStep",
    "AdditiveAttention",
    "LSTMCell", "GRUCell", "RNNCell",
    "Sequential",
]
