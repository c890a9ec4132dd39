"""The parameter bookkeeping shared by the recurrent layers, Linear and Embedding: .params, .grads, zero_grad,
state dicts.

A module keeps its parameters in `self.params` {name: array} and their gradients, same keys and shapes, in
`self.grads`; backward ADDS to the gradients and zero_grad() clears them (as torch and the recurrent layers).
"""
import numpy as np

from . import _validation as v


class Module:
    """Base of the small trainable modules; subclasses call super().__init__(params) with {name: array}."""

    def __init__(self, params):
        self.params = params
        # np.zeros, not zeros_like: its pages are mapped lazily, so inference-only layers pay nothing for grads
        self.grads = {name: np.zeros(value.shape, value.dtype) for name, value in params.items()}

    def zero_grad(self):
        """Set every accumulated gradient in self.grads to zero (in place)."""
        for value in self.grads.values():
            value.fill(0)

    def state_dict(self):
        """A copy of the parameters as {torch name: NumPy array}."""
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, mapping, strict=True):
        """Copy parameters from a mapping of names to array-likes (NumPy arrays, torch tensors), in place.

        Shapes must match exactly; values must be finite. strict=True also refuses missing and unexpected keys.
        Returns (missing_keys, unexpected_keys).
        """
        return v.load_into(self.params, mapping, strict, self)
