"""Shared variables: root variables whose value lives in a :class:`Container`.

They belong to the graph layer because any layer may hold one (random generators in the
tensor library do); the constructor :func:`symgraph.shared` lives in the compiler, which
picks a variable class per value type.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from symgraph.graph.basic import Variable

__all__ = ["Container", "SharedVariable"]


class Container:
    """The storage of one value of a given type: ``storage`` is a one-element list (a cell).

    Assigning ``container.value`` filters the value through ``type`` (with this container's
    ``strict`` and ``allow_downcast``); writing ``storage[0]`` directly does not.
    """

    def __init__(
        self,
        type: Any,
        storage: list | None = None,
        name: str | None = None,
        strict: bool = False,
        allow_downcast: bool | None = None,
    ):
        self.type = type
        self.storage = storage if storage is not None else [None]
        if len(self.storage) != 1:
            raise ValueError("a container's storage must be a one-element list")
        self.name = name
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast

    @property
    def value(self) -> Any:
        return self.storage[0]

    @value.setter
    def value(self, value: Any) -> None:
        self.storage[0] = self.type.filter(value, strict=self.strict, allow_downcast=self.allow_downcast)

    data = value

    def __repr__(self) -> str:
        return f"Container({self.name or self.type}: {self.storage[0]!r})"


def _copy_value(value: Any) -> Any:
    if type(value) is np.ndarray:
        return value.copy()
    return copy.deepcopy(value)


def _aliases(a: Any, b: Any) -> bool:
    """Whether ``a`` may share memory with ``b`` (so one cannot be changed safely alone)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    return False


class SharedVariable(Variable):
    """A root variable whose value lives in :attr:`container` and persists across calls.

    Parameters
    ----------
    type
        The variable's type.
    value
        Its initial value, filtered through ``type`` (stored as given: the caller copies).
    strict, allow_downcast
        How later values are filtered (see :meth:`set_value`).
    container
        An existing container to share instead of making one (``value`` is then ignored).
    name
        Optional name.

    ``default_update`` (``None`` by default) may be set to an expression: functions using
    this variable then update it with that expression after each call, unless compiled
    with ``no_default_updates``.
    """

    def __init__(
        self,
        type: Any,
        value: Any = None,
        strict: bool = False,
        allow_downcast: bool | None = None,
        container: Container | None = None,
        name: str | None = None,
    ):
        super().__init__(type, None, None, name)
        if container is None:
            container = Container(
                type,
                [type.filter(value, strict=strict, allow_downcast=allow_downcast)],
                name=name,
                strict=strict,
                allow_downcast=allow_downcast,
            )
        self.container = container
        self.default_update = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        """The current value; a copy unless ``borrow`` (then mutating it changes the variable)."""
        value = self.container.storage[0]
        return value if borrow else _copy_value(value)

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Set the value, filtered through the type (converting when safe, see ``strict``).

        The value is copied unless ``borrow`` (then later changes to ``value`` may show
        through, and the variable may keep a reference to it).
        """
        container = self.container
        filtered = self.type.filter(value, strict=container.strict, allow_downcast=container.allow_downcast)
        if not borrow and _aliases(filtered, value):
            filtered = _copy_value(filtered)
        container.storage[0] = filtered

    def clone(self, **kwargs) -> "SharedVariable":
        """A new variable sharing this one's container (and so its value); no default update."""
        name = kwargs.pop("name", self.name)
        cp = type(self)(self.type, None, container=self.container, name=name)
        for key, value in self.tag.__dict__.items():
            if not key.startswith("_"):
                object.__setattr__(cp.tag, key, value)
        for key, value in kwargs.items():
            setattr(cp, key, value)
        return cp

    @property
    def value(self) -> Any:
        """The current value, not copied (same as ``get_value(borrow=True)``)."""
        return self.container.storage[0]

    def __str__(self) -> str:
        return self.name if self.name is not None else f"<shared {self.type}>"
