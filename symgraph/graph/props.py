"""Equality, hashing and printing derived from ``__props__`` (for Ops and Types)."""

from __future__ import annotations


class PropsMixin:
    """If a class defines ``__props__`` (a tuple of attribute names), two instances of it are
    equal when they have the same class and equal values of those attributes, and they
    hash alike. A class without ``__props__`` compares by identity.
    """

    def _props(self) -> tuple:
        return tuple(getattr(self, name) for name in type(self).__props__)

    def _props_dict(self) -> dict:
        return {name: getattr(self, name) for name in type(self).__props__}

    def __eq__(self, other):
        if self is other:
            return True
        props = getattr(type(self), "__props__", None)
        if props is None or type(self) is not type(other):
            return False
        try:
            return bool(self._props() == other._props())
        except ValueError:  # props holding arrays
            return False

    def __hash__(self):
        props = getattr(type(self), "__props__", None)
        if props is None:
            return object.__hash__(self)
        # Ops and types are values fixed at construction, and every node built or looked
        # up hashes its op (nested props make that costly): compute the hash once.
        cached = self.__dict__.get("_props_hash") if hasattr(self, "__dict__") else None
        if cached is None:
            cached = hash((type(self), self._props()))
            if hasattr(self, "__dict__"):
                self.__dict__["_props_hash"] = cached
        return cached

    def __getstate__(self):
        # A hash cached in one process is not valid in another (string hashing is salted).
        state = dict(self.__dict__)
        state.pop("_props_hash", None)
        return state

    def __str__(self):
        props = getattr(type(self), "__props__", None)
        name = type(self).__name__
        if not props:
            return name
        return f"{name}{{{', '.join(f'{k}={v!r}' for k, v in self._props_dict().items())}}}"

    def __repr__(self):
        return str(self)
