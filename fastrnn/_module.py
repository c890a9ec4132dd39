"""The parameter bookkeeping shared by the recurrent layers, Linear and Embedding: .params, .grads, zero_grad,
state dicts.

A module keeps its parameters in `self.params` {name: array} and their gradients, same keys and shapes, in
`self.grads`; backward ADDS to the gradients and zero_grad() clears them (as torch and the recurrent layers).
A subclass lists in `_fixed` the configuration attributes that fix its parameter shapes: once set by the
constructor they cannot be reassigned. checked_params() is the per-call check that params still holds, under
every name, an array of the shape and dtype the module was built with (a user may replace one).
"""
from typing import TYPE_CHECKING, Any, Dict, Mapping

import numpy as np

from . import _kernels
from . import _validation as v
from ._torch_habits import IncompatibleKeys, TorchHabits


class Module(TorchHabits):
    """Base of the small trainable modules; subclasses call super().__init__(params) with {name: array}.
    The parameters are also attributes (module.weight), as torch's."""

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
        params = self.__dict__.get("params")
        if params is not None and name not in self.__dict__ and name in params:
            params[name] = value   # module.weight = array, as torch: checked at the next call
            return
        super().__setattr__(name, value)

    if not TYPE_CHECKING:   # hidden from type checkers, which would otherwise accept any misspelt attribute
        def __getattr__(self, name):
            """A parameter by name (module.weight_ih_l0), as torch's attributes; only called for other names."""
            params = self.__dict__.get("params")
            if params is not None and not name.startswith("__") and name in params:
                return params[name]
            raise AttributeError(f"{type(self).__name__} has no attribute or parameter {name!r}")

    def _to_dtype(self, dtype):
        """Replace every parameter (and gradient) by a copy in `dtype`; ValueError, with nothing changed, when a
        value does not fit (float64 beyond float32's range)."""
        if dtype == self.dtype:
            return
        converted = {}
        for name, value in self.params.items():
            with np.errstate(over="ignore"):
                converted[name] = np.ascontiguousarray(value, dtype)
            if not _kernels.all_finite(converted[name]):
                raise ValueError(f"parameter {name!r} does not fit {dtype} (values up to "
                                 f"{np.abs(value).max():.4g})")
        self.params.update(converted)
        self.__dict__["grads"] = {name: g.astype(dtype) for name, g in self.grads.items()}
        self.__dict__["_param_specs"] = {name: (a.shape, a.dtype) for name, a in converted.items()}
        self.__dict__["dtype"] = dtype

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
        """Unpickling: a pickle is data from outside, so what it restores is checked as the constructor would
        build it (_check_restored) before anything computes with it."""
        grads = state.pop("grads", None)
        self.__dict__.update(state)
        self._check_restored(grads if isinstance(grads, dict) else {})

    def _expected_specs(self):
        """{name: (shape, dtype)} the configuration gives the parameters; subclasses whose configuration fixes
        the shapes derive it from that (the default trusts the specs recorded at construction)."""
        return self.__dict__.get("_param_specs", {})

    def _check_restored(self, grads):
        """ValueError unless every parameter is a finite array of the shape and dtype _expected_specs() gives
        (no more, no fewer) and every restored gradient matches its parameter; missing gradients are zeros."""
        owner = type(self).__name__
        expected = self._expected_specs()
        params = self.__dict__.get("params")
        if not hasattr(params, "keys") or set(params.keys()) != set(expected):
            got = sorted(params.keys()) if hasattr(params, "keys") else type(params).__name__
            raise ValueError(f"unpickled {owner} state has parameters {got}; its configuration has "
                             f"{sorted(expected)}")
        for name, (shape, dtype) in expected.items():
            a = params[name]
            if not (type(a) is np.ndarray and a.shape == tuple(shape) and a.dtype == dtype):
                got = f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}"
                raise ValueError(f"unpickled {owner} state: parameter {name!r} must be a {np.dtype(dtype)} array "
                                 f"of shape {tuple(shape)}; got {got}")
            if not _kernels.all_finite(np.ascontiguousarray(a)):
                raise ValueError(f"unpickled {owner} state: parameter {name!r} contains NaN or infinity")
        for name, g in grads.items():
            p = params.get(name) if name in expected else None
            if p is None or type(g) is not np.ndarray or g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"unpickled {owner} state: gradient {name!r} does not match a parameter")
        self.__dict__["_param_specs"] = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype)
                                         in expected.items()}
        self.__dict__["grads"] = {name: grads[name] if name in grads else np.zeros(p.shape, p.dtype)
                                  for name, p in params.items()}

    def zero_grad(self):
        """Set every accumulated gradient in self.grads to zero (in place)."""
        for value in self.grads.values():
            value.fill(0)

    def state_dict(self) -> Dict[str, np.ndarray]:
        """A copy of the parameters as {torch name: NumPy array}."""
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, mapping: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy parameters from a mapping of names to array-likes (NumPy arrays, torch tensors), in place.

        Shapes must match exactly; values must be finite. strict=True also refuses missing and unexpected keys.
        Returns (missing_keys, unexpected_keys), torch's named tuple.
        """
        return IncompatibleKeys(*v.load_into(self.params, mapping, strict, self))
