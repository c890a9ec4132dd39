"""The parameter bookkeeping shared by the recurrent layers, Linear and Embedding: .params, .grads, zero_grad,
state dicts.

A module keeps its parameters in `self.params` {name: array} and their gradients, same keys and shapes, in
`self.grads`; backward ADDS to the gradients and zero_grad() clears them (as torch and the recurrent layers).
A subclass lists in `_fixed` the configuration attributes that fix its parameter shapes: once set by the
constructor they cannot be reassigned. checked_params() is the per-call check that params still holds, under
every name, an array of the shape and dtype the module was built with (a user may replace one).
"""
import numpy as np

from . import _validation as v


class Module:
    """Base of the small trainable modules; subclasses call super().__init__(params) with {name: array}."""

    _fixed = frozenset()   # configuration attributes set once by the constructor

    def __init__(self, params):
        self.params = params
        # np.zeros, not zeros_like: its pages are mapped lazily, so inference-only layers pay nothing for grads
        self.grads = {name: np.zeros(value.shape, value.dtype) for name, value in params.items()}
        self._param_specs = {name: (value.shape, value.dtype) for name, value in params.items()}

    def __setattr__(self, name, value):
        if name in self._fixed and name in self.__dict__:
            raise AttributeError(f"{name} is fixed once the {type(self).__name__} is built (it sets the parameter "
                                 f"shapes); build a new {type(self).__name__} instead")
        super().__setattr__(name, value)

    def checked_params(self):
        """self.params, after checking that every parameter is still an array of its shape and dtype
        (ValueError naming the one that is not)."""
        return self._checked_arrays("params", self.params, writeable=False)

    def checked_grads(self):
        """self.grads, after checking that every gradient is still a writeable array of its parameter's shape
        and dtype (backward adds into them)."""
        return self._checked_arrays("grads", self.grads, writeable=True)

    def _checked_arrays(self, what, arrays, writeable):
        for name, (shape, dtype) in self._param_specs.items():
            a = arrays.get(name)
            if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype or \
                    (writeable and not a.flags.writeable):
                got = "missing" if a is None else f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
                if type(a) is np.ndarray and writeable and not a.flags.writeable:
                    got += ", read-only"
                raise ValueError(f"{what}[{name!r}] of this {type(self).__name__} must be a "
                                 f"{'writeable ' if writeable else ''}{dtype} array of shape {shape}; got {got}")
        return arrays

    def __getstate__(self):
        """Pickle support: everything but the gradients that are zero (they are zeros again on load)."""
        state = dict(self.__dict__)
        state["grads"] = {name: g for name, g in self.grads.items() if g.any()}
        return state

    def __setstate__(self, state):
        grads = state.pop("grads")
        self.__dict__.update(state)
        self.__dict__["grads"] = {name: grads[name] if name in grads else np.zeros(p.shape, p.dtype)
                                  for name, p in self.params.items()}

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
