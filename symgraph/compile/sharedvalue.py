"""Shared variables: symbolic variables with a value that persists between function calls.

A :class:`SharedVariable` owns a :class:`Container`, whose one-element ``storage`` list is
the very cell compiled functions read the value from and write updates into, so every
function using the variable sees the same, current value. :func:`shared` makes one from a
value, picking the variable class through a small constructor registry
(:func:`shared_constructor`) that other modules extend for their own value types.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Variable
from symgraph.graph.type import generic
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Container",
    "SharedVariable",
    "TensorSharedVariable",
    "shared",
    "shared_constructor",
]


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


class TensorSharedVariable(SharedVariable, TensorVariable):
    """A shared tensor: a :class:`SharedVariable` with the tensor operators (``w * 2``)."""


class GenericSharedVariable(SharedVariable):
    """A shared arbitrary Python object (of type ``generic``)."""


# --------------------------------------------------------------------------- constructors

# Tried newest first; each raises TypeError for values it does not handle.
_constructors: list[Callable[..., SharedVariable]] = []


def shared_constructor(fn: Callable[..., SharedVariable]) -> Callable[..., SharedVariable]:
    """Register ``fn(value, name=None, strict=False, allow_downcast=None, borrow=False,
    shape=None)`` as a way to make shared variables (usable as a decorator).

    :func:`shared` tries registered constructors newest first; a constructor raises
    ``TypeError`` for values it does not handle. Returns ``fn``.
    """
    if not callable(fn):
        raise TypeError(f"shared_constructor: {fn!r} is not callable")
    if fn not in _constructors:
        _constructors.append(fn)
    return fn


def shared(
    value: Any,
    name: str | None = None,
    strict: bool = False,
    allow_downcast: bool | None = None,
    borrow: bool = False,
    shape: Any = None,
) -> SharedVariable:
    """A shared variable holding ``value``.

    NumPy arrays and Python or NumPy numbers give a tensor shared variable (supporting the
    tensor operators) of the value's dtype, Python floats taking ``config.floatX``; its
    static shape is all ``None`` (any size) unless ``shape`` is given. Other objects give a
    generic shared variable. The value is copied unless ``borrow=True``. ``strict`` and
    ``allow_downcast`` control how :meth:`SharedVariable.set_value` converts later values.
    """
    if isinstance(value, Variable):
        raise TypeError(
            f"shared() takes a value, not the symbolic variable {value}; shared variables are "
            "initialised with concrete data"
        )
    for constructor in reversed(_constructors):
        try:
            return constructor(
                value, name=name, strict=strict, allow_downcast=allow_downcast, borrow=borrow, shape=shape
            )
        except TypeError:
            continue
    return _generic_constructor(value, name=name, strict=strict, allow_downcast=allow_downcast, borrow=borrow, shape=shape)


def _generic_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, shape=None):
    if shape is not None:
        raise TypeError(f"shared(): shape= applies to array values only, not to {type(value).__name__}")
    return GenericSharedVariable(
        generic, value if borrow else copy.deepcopy(value), strict=strict, allow_downcast=allow_downcast, name=name
    )


@shared_constructor
def tensor_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, shape=None):
    """Shared tensors from NumPy arrays and Python/NumPy numbers."""
    from symgraph.tensor.type import TensorType

    if isinstance(value, np.ndarray):
        data = value
    elif isinstance(value, (bool, int, float, np.generic)):
        if isinstance(value, float):
            data = np.asarray(value, dtype=config.floatX)
        else:
            data = np.asarray(value)
    else:
        raise TypeError(f"not an array or number: {type(value).__name__}")
    if shape is None:
        shape = (None,) * data.ndim
    try:
        type_ = TensorType(data.dtype, shape)
    except (TypeError, ValueError) as exc:
        # A ValueError, not a TypeError: the value is an array, so falling back to a
        # generic shared variable would hide the problem.
        raise ValueError(f"shared(): cannot make a tensor of {type(value).__name__} value: {exc}") from exc
    if len(type_.shape) != data.ndim:
        raise ValueError(f"shared(): shape={shape!r} has {len(type_.shape)} entries for a {data.ndim}-d value")
    data = type_.filter(data, strict=False, allow_downcast=allow_downcast)
    if not borrow and _aliases(data, value):
        data = data.copy()
    return TensorSharedVariable(type_, data, strict=strict, allow_downcast=allow_downcast, name=name)


@shared_constructor
def random_generator_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, shape=None):
    """Shared random generators from ``numpy.random.Generator`` values (copied unless ``borrow``).

    The variable's type is :class:`symgraph.tensor.random.RandomGeneratorType`; random ops
    applied to it set its ``default_update`` so compiled functions advance it on each call.
    """
    if not isinstance(value, np.random.Generator) or shape is not None:
        # shape= falls through to the generic constructor, which explains it applies to arrays.
        raise TypeError(f"not a numpy.random.Generator: {type(value).__name__}")
    # Imported here: the tensor library sits above the compile layer's import of this module.
    from symgraph.tensor.random import RandomGeneratorSharedVariable, random_generator_type

    return RandomGeneratorSharedVariable(
        random_generator_type,
        value if borrow else copy.deepcopy(value),
        strict=strict,
        allow_downcast=allow_downcast,
        name=name,
    )
