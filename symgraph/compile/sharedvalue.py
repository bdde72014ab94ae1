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
from symgraph.graph.shared import Container, SharedVariable, _aliases
from symgraph.graph.type import generic
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Container",
    "SharedVariable",
    "TensorSharedVariable",
    "shared",
    "shared_constructor",
]


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
