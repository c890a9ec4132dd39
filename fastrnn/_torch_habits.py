"""torch.nn.Module's habits, for code ported from torch: eval() / train(mode), parameters() and
named_parameters() in torch's order and names, the parameters as attributes (layer.weight_ih_l0), float() /
double() / to(dtype or "cpu"), and load_state_dict's (missing_keys, unexpected_keys) named tuple.

Mixed into fastrnn's Module (layers and the pieces with parameters) and Sequential. A module converted by
float(), double() or to() keeps its identity, as in torch: its parameter arrays are replaced by converted ones
(and its kernels rebuilt on the next call).
"""
from typing import Any, Iterator, List, NamedTuple, Tuple, TypeVar

import numpy as np

from . import _validation as v

Self = TypeVar("Self", bound="TorchHabits")


class IncompatibleKeys(NamedTuple):
    """What load_state_dict returns, as torch's: the keys the module has and the state dict lacked, and the
    keys of the state dict the module does not have (both empty when strict=True succeeded)."""
    missing_keys: List[str]
    unexpected_keys: List[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def dtype_and_device(args: Tuple[Any, ...], kwargs: Any) -> Any:
    """The dtype of a torch-style to(...) call: to(dtype), to(device), to(device, dtype), to(dtype=..., device=...);
    device must be the CPU (ValueError otherwise); returns None when no dtype was given."""
    unknown = set(kwargs) - {"dtype", "device", "non_blocking", "copy"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(unknown)}")
    dtype, device = kwargs.get("dtype"), kwargs.get("device")
    for arg in args:
        text = str(arg)
        if isinstance(arg, str) or type(arg).__name__ == "device" or text.startswith(("cpu", "cuda", "mps")):
            device = arg
        else:
            dtype = arg
    v.check_device(device)
    return None if dtype is None else v.as_dtype(dtype)


class TorchHabits:
    """eval/train, parameters/named_parameters, float/double/to; subclasses provide `params` and
    _to_dtype(dtype) (convert in place), and children() when they hold other modules."""

    training = True   # torch's default; eval() clears it

    def train(self: Self, mode: bool = True) -> Self:
        """Training mode (mode=True, as torch's default) or evaluation mode; returns the module. In training
        mode a recurrent layer's forward_train applies its inter-layer dropout; calls are unaffected."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode) takes a bool; got {type(mode).__name__}")
        self.__dict__["training"] = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self: Self) -> Self:
        """train(False): evaluation mode (forward_train without dropout); returns the module."""
        return self.train(False)

    def children(self) -> Iterator[Any]:
        """The modules this one holds (none by default)."""
        return iter(())

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[Tuple[str, np.ndarray]]:
        """(name, array) of every parameter, in torch's order and under torch's names (the arrays themselves)."""
        for name, value in self.params.items():
            yield prefix + name, value

    def parameters(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """Every parameter array, in named_parameters() order."""
        for _, value in self.named_parameters(recurse=recurse):
            yield value

    def float(self: Self) -> Self:
        """Convert the parameters to float32 (in place: the module itself is returned, as torch's)."""
        return self.to(np.float32)

    def double(self: Self) -> Self:
        """Convert the parameters to float64 (in place: the module itself is returned, as torch's)."""
        return self.to(np.float64)

    def to(self: Self, *args: Any, **kwargs: Any) -> Self:
        """torch's to(): a dtype (np.float32/np.float64, their names, torch.float32/torch.float64) converts the
        parameters in place; a device must be "cpu" (fastrnn runs on the CPU). Returns the module."""
        dtype = dtype_and_device(args, kwargs)
        if dtype is not None:
            self._to_dtype(dtype)
        return self

    def _to_dtype(self, dtype: np.dtype) -> None:
        raise NotImplementedError
