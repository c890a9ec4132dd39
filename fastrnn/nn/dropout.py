"""Dropout for inference: the identity, as torch.nn.Dropout in eval mode (inverted dropout scales at training
time, so inference uses x unchanged; fastrnn.train.dropout is the training-time function)."""
import numbers
from typing import TypeVar

from .parameterless import Parameterless


X = TypeVar("X")


class Dropout(Parameterless):
    """torch.nn.Dropout(p=0.5, inplace=False) in eval mode: returns x itself. p must lie in [0, 1]."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be a number in [0, 1]; got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)

    def __call__(self, x: X) -> X:
        return x
