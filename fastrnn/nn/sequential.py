"""Sequential: a whole model as pieces applied in order, loaded from a torch model's state dict by name.

    model = Sequential({"embedding": Embedding(V, E), "lstm": fastrnn.LSTM(E, H, batch_first=True),
                        "pool": LastStep(batch_first=True), "fc": Linear(H, 1), "out": Sigmoid()})
    model.load_state_dict(torch_model_state_dict)   # keys "embedding.weight", "lstm.weight_ih_l0", "fc.bias"...
    probs = model(ids, lengths=lengths)             # ids (B, T) -> (B, 1)

or in one step, sizes read from the weights (each piece's from_state_dict under "<name>."):

    model = Sequential.from_state_dict(sd, [("embedding", Embedding), ("lstm", fastrnn.LSTM, {"batch_first": True}),
                                            ("pool", LastStep, {"batch_first": True}), ("fc", Linear),
                                            ("out", Sigmoid)])

How pieces are called: a recurrent layer (fastrnn.RNN/LSTM/GRU) as layer(x, lengths=lengths), keeping its
output and dropping its final state; a piece with `takes_lengths` (pooling, attention) as piece(x, lengths),
after which the time axis is gone and lengths are spent; any other piece as piece(x).
"""
from collections.abc import Mapping
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from numpy.typing import ArrayLike, NDArray

from .. import _validation as v
from .._torch_habits import IncompatibleKeys, TorchHabits
from ..io.errors import FormatError
from ..layers import _RecurrentLayer
from .pooling import LastStep, last_step
from .state_dict import flat_arrays


class Sequential(TorchHabits):
    """Pieces applied in order; `pieces` is the {name: piece} dict.

    Sequential(a, b, c) names the pieces "0", "1", "2" as torch.nn.Sequential does; Sequential({name: piece})
    keeps the names (a torch model's attribute names, so its state dict loads as is). model(x, lengths=None).
    The state dict holds every piece's parameters under "<name>.". A piece is read as model.fc, model["fc"] or
    model[2], and replaced by assigning to any of them (checked as at construction); train(), eval(), to(),
    parameters() and named_parameters() reach every piece, as torch's.
    """

    def __init__(self, *pieces: Any) -> None:
        if len(pieces) == 1 and isinstance(pieces[0], Mapping):
            named = dict(pieces[0])
        else:
            named = {str(i): piece for i, piece in enumerate(pieces)}
        _check_pieces(named)
        self.__dict__["pieces"] = named

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], layout: Iterable[Tuple[Any, ...]],
                        prefix: str = "") -> "Sequential":
        """The model whose pieces are built by their from_state_dict under "<prefix><name>.".

        layout: a list of (name, piece class) or (name, piece class, {options}), e.g.
        ("lstm", fastrnn.LSTM, {"batch_first": True}). Every key under `prefix` must belong to a piece: an extra
        key (a state dict of another architecture) raises fastrnn.FormatError naming it, as does a missing one.
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string such as 'model.'; got {type(prefix).__name__}")
        arrays = flat_arrays(state_dict, prefix)
        pieces = {}
        for entry in layout:
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
                raise TypeError(f"layout entries must be (name, class) or (name, class, options); got {entry!r}")
            name, piece_class, options = (*entry, {}) if len(entry) == 2 else entry
            if name in pieces:
                raise ValueError(f"layout names the piece {name!r} twice")
            if not hasattr(piece_class, "from_state_dict"):
                raise TypeError(f"layout entry {name!r}: {piece_class!r} has no from_state_dict")
            pieces[name] = piece_class.from_state_dict(arrays, prefix=f"{prefix}{name}.", **options)
        model = cls(pieces)
        own = {prefix + key for key in model.params}
        for key in arrays:
            if key.startswith(prefix) and key not in own:
                piece = key[len(prefix):].split(".")[0]
                why = (f"piece {piece!r} has no such parameter" if piece in pieces
                       else f"the layout has no piece named {piece!r} (pieces: {', '.join(pieces)})")
                raise FormatError(f"unexpected key {key!r} in the state dict: {why}")
        return model

    def __call__(self, x: ArrayLike, lengths: Optional[ArrayLike] = None) -> Any:
        """The last piece's output for input x (what the first piece takes) and optional lengths (B,)."""
        halves = _check_pieces(self.pieces)   # `pieces` may have been changed since construction
        if lengths is not None and not any(_takes_lengths(piece) for piece in self.pieces.values()):
            raise ValueError("lengths were given but no piece of this model takes them (a recurrent layer, "
                             "pooling or attention)")
        for name, piece in self.pieces.items():
            if isinstance(piece, _RecurrentLayer):
                x = piece(x, lengths=lengths)[0]
            elif name in halves:   # a LastStep reading the layer before it as one or two directions
                x = last_step(x, lengths, piece.batch_first, halves[name])
                lengths = None
            elif _takes_lengths(piece):
                x = piece(x, lengths)
                lengths = None   # the time axis is gone
            else:
                x = piece(x)
        return x

    @property
    def params(self) -> Dict[str, NDArray[Any]]:
        """{"<name>.<parameter>": array} of every piece's parameters (the arrays themselves)."""
        return {f"{name}.{key}": value for name, piece in self.pieces.items()
                for key, value in getattr(piece, "params", {}).items()}

    def state_dict(self) -> Dict[str, NDArray[Any]]:
        """A copy of every parameter as {"<name>.<parameter>": NumPy array} (torch's names)."""
        return {key: value.copy() for key, value in self.params.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Tuple[List[str], List[str]]:
        """Copy a (whole-model) state dict into the pieces' parameters, in place. strict=True refuses missing
        and unexpected keys (KeyError naming them); shapes must match. Returns (missing_keys, unexpected_keys).
        Everything is checked before anything changes. Quantized layers (read-only weights) take their part
        through their own load_state_dict, which replaces their arrays; every other piece's are copied into.
        Returns torch's (missing_keys, unexpected_keys) named tuple."""
        from ..quant.layers import _QuantizedLayer
        arrays = flat_arrays(state_dict)
        params = self.params
        missing, unexpected = v.check_keys(params, arrays, strict, self)
        quantized = {name: piece for name, piece in self.pieces.items() if isinstance(piece, _QuantizedLayer)}
        checked = {}   # name: the quantized piece's loaded parameters, checked, not yet in place
        for name, piece in quantized.items():
            part = {key[len(name) + 1:]: value for key, value in arrays.items() if key.startswith(name + ".")}
            checked[name], _, _ = piece.checked_state(part, strict=False)
        v.load_into({k: p for k, p in params.items() if k.split(".")[0] not in quantized},
                    {k: a for k, a in arrays.items() if k.split(".")[0] not in quantized}, False, self)
        for name, loaded in checked.items():
            quantized[name].replace_params(loaded)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------------------- torch's habits
    def children(self) -> Any:
        return iter(list(self.pieces.values()))

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Any:
        for name, piece in self.pieces.items():
            if hasattr(piece, "named_parameters"):
                yield from piece.named_parameters(prefix=f"{prefix}{name}.")

    def _to_dtype(self, dtype):
        for name, piece in self.pieces.items():
            if not hasattr(piece, "to"):
                raise TypeError(f"piece {name!r} ({type(piece).__name__}) has no to(): convert it yourself")
        for piece in self.pieces.values():
            piece.to(dtype)

    def __setattr__(self, name, value):
        """model.fc = piece replaces the piece "fc" (checked as at construction); other names as usual."""
        pieces = self.__dict__.get("pieces")
        if pieces is not None and name in pieces:
            self[name] = value
            return
        if name == "pieces":
            _check_pieces(value)
        super().__setattr__(name, value)

    def __setitem__(self, key: Union[int, str], piece: Any) -> None:
        """model["fc"] = piece or model[2] = piece: replace that piece (checked as at construction)."""
        name = list(self.pieces)[key] if isinstance(key, int) and not isinstance(key, bool) and \
            -len(self.pieces) <= key < len(self.pieces) else key
        if name not in self.pieces:
            raise KeyError(f"no piece named {key!r} to replace; pieces: {', '.join(self.pieces)}")
        named = dict(self.pieces)
        named[name] = piece
        _check_pieces(named)
        self.__dict__["pieces"] = named

    def __setstate__(self, state):
        """Unpickling checks the pieces as the constructor does (each piece checked its own state)."""
        pieces = state.get("pieces") if isinstance(state, dict) else None
        _check_pieces(pieces)
        self.__dict__["pieces"] = pieces
        self.__dict__["training"] = bool(state.get("training", True))

    def __getattr__(self, name):
        pieces = self.__dict__.get("pieces", {})
        if name in pieces:
            return pieces[name]
        raise AttributeError(f"Sequential has no attribute or piece {name!r}")

    def __getitem__(self, key: Union[int, str]) -> Any:
        """A piece by name, or by position (an int)."""
        if isinstance(key, int) and not isinstance(key, bool):
            pieces = list(self.pieces.values())
            if not -len(pieces) <= key < len(pieces):
                raise IndexError(f"piece index {key} is out of range for a Sequential of {len(pieces)} pieces")
            return pieces[key]
        if not isinstance(key, str):
            raise TypeError(f"a piece is named by a string or an int position; got {type(key).__name__}")
        if key not in self.pieces:
            raise KeyError(f"no piece named {key!r}; pieces: {', '.join(self.pieces)}")
        return self.pieces[key]

    def __len__(self) -> int:
        return len(self.pieces)

    def __repr__(self):
        lines = "".join(f"\n  ({name}): {piece!r}" for name, piece in self.pieces.items())
        return f"Sequential({lines}\n)"


def _takes_lengths(piece):
    return isinstance(piece, _RecurrentLayer) or getattr(piece, "takes_lengths", False)


def _check_pieces(named):
    """ValueError or TypeError unless `named` is a non-empty dict of callable pieces under names without '.',
    chained as _check_chain requires; returns _check_chain's {LastStep name: two halves}."""
    if not isinstance(named, dict):
        raise TypeError(f"Sequential.pieces must be a dict {{name: piece}}; got {type(named).__name__}")
    for name, piece in named.items():
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"piece names must be non-empty strings without '.'; got {name!r}")
        if not callable(piece):
            raise TypeError(f"piece {name!r} must be callable (a layer, Linear, activation, ...); got "
                            f"{type(piece).__name__}")
    if not named:
        raise ValueError("Sequential needs at least one piece")
    return _check_chain(named)


def _check_chain(named):
    """Pooling and attention read the layout of the recurrent layer before them: batch_first (and for
    LastStep, whether the output holds two concatenated directions) must agree, else ValueError. Returns
    {name: bool} for each LastStep after a recurrent layer: whether it reads two halves (its bidirectional when
    given, else the layer's)."""
    halves = {}
    layer = None
    for name, piece in named.items():
        if isinstance(piece, _RecurrentLayer):
            layer = piece
        elif layer is not None and getattr(piece, "takes_lengths", False):
            if piece.batch_first != layer.batch_first:
                raise ValueError(f"piece {name!r} has batch_first={piece.batch_first} but the recurrent layer "
                                 f"before it has batch_first={layer.batch_first}: they must agree")
            two_halves = layer.bidirectional and layer.merge_mode == "concat"
            if isinstance(piece, LastStep):
                halves[name] = two_halves
            if isinstance(piece, LastStep) and piece.bidirectional not in (None, two_halves):
                raise ValueError(f"piece {name!r} has bidirectional={piece.bidirectional} but the recurrent layer "
                                 f"before it outputs {'two concatenated directions' if two_halves else 'one'}: "
                                 f"build LastStep(bidirectional={two_halves})")
            layer = None
    return halves
