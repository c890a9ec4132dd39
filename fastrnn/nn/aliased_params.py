"""A piece's `params` that are another module's parameters under other names, read and written through.

A cell's weight_ih is its one-layer layer's weight_ih_l0; an attention's proj.weight is its Linear's weight.
AliasedParams maps each of the piece's names to (attribute of the piece holding a module, that module's name):
reading gives the module's current array, and assigning (params[k] = new array) assigns it in the module, which
checks it at its next call. So a replaced array is never silently ignored, and the piece's state_dict() never
shows an array that is not the one computing.
"""
from collections.abc import MutableMapping


class AliasedParams(MutableMapping):
    """{piece name: array}, each living in getattr(piece, holder).params[name], for names
    {piece name: (holder, name)}."""

    def __init__(self, piece, names):
        self._piece, self._names = piece, dict(names)

    def _where(self, key):
        if key not in self._names:
            raise KeyError(key)
        holder, name = self._names[key]
        return getattr(self._piece, holder).params, name

    def __getitem__(self, key):
        params, name = self._where(key)
        return params[name]

    def __setitem__(self, key, value):
        if key not in self._names:
            raise KeyError(f"{type(self._piece).__name__} has no parameter {key!r}; its parameters: "
                           f"{', '.join(self._names)}")
        params, name = self._where(key)
        params[name] = value

    def __delitem__(self, key):
        raise TypeError(f"the parameters of a {type(self._piece).__name__} cannot be deleted ({key!r})")

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __repr__(self):
        return repr(dict(self.items()))
