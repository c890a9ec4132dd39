"""The base of the pieces without parameters (activations, Dropout, pooling): nothing to load, but their
from_state_dict checks that the state dict holds nothing under their prefix, as every piece's does."""
from typing import Any, Mapping, Type, TypeVar

from .._torch_habits import TorchHabits
from .state_dict import weights_under

Piece = TypeVar("Piece", bound="Parameterless")


class Parameterless(TorchHabits):
    """A piece with no parameters; subclasses define __init__ (their options) and __call__. train()/eval() and
    to(dtype) are accepted (nothing to change), as torch's modules."""

    params: Mapping[str, Any] = {}   # read-only: no parameters

    def _to_dtype(self, dtype):
        pass

    @classmethod
    def from_state_dict(cls: Type[Piece], state_dict: Mapping[str, Any], prefix: str = "", **options: Any) -> Piece:
        """cls(**options), after checking that no key starts with `prefix` (FormatError names one): with
        prefix "" the state dict must be empty, as a parameterless torch module's."""
        weights_under(state_dict, prefix, cls.__name__, ())
        return cls(**options)

    def __setstate__(self, state):
        """Unpickling runs the constructor on the restored options (each piece keeps exactly its constructor's
        arguments as attributes), so a pickle passes the same checks as a call."""
        if not isinstance(state, dict):
            raise TypeError(f"unpickled {type(self).__name__} state must be a dict of options; got "
                            f"{type(state).__name__}")
        options = {name: value for name, value in state.items() if name != "training"}
        try:
            self.__init__(**options)
        except TypeError as err:
            raise TypeError(f"unpickled {type(self).__name__} state {sorted(state)} does not fit its constructor: "
                            f"{err}") from None
        self.train(state.get("training", True))

    def __repr__(self):
        options = ", ".join(f"{name}={value!r}" for name, value in vars(self).items() if name != "training")
        return f"{type(self).__name__}({options})"
