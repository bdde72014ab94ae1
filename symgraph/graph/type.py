"""The :class:`Type` contract: what values a variable may hold and how they are checked."""

from __future__ import annotations

from typing import Any

from symgraph.graph.basic import Constant, Variable
from symgraph.graph.props import PropsMixin
from symgraph.graph.utils import add_tag_trace

__all__ = ["Type", "GenericType", "generic"]


class Type(PropsMixin):
    """Describes the set of values a :class:`Variable` may take.

    Subclasses set ``__props__`` (equality, hashing and ``str`` follow from it) and
    implement :meth:`filter`. ``variable_type``/``constant_type`` are the classes
    :meth:`make_variable`/:meth:`make_constant` instantiate.
    """

    __props__: tuple = ()
    variable_type: type = Variable
    constant_type: type = Constant

    def filter(self, data: Any, strict: bool = False, allow_downcast: bool | None = None) -> Any:
        """Return ``data`` as a valid value of this type, or raise ``TypeError``/``ValueError``.

        ``strict`` forbids any conversion; ``allow_downcast`` allows lossy casts
        (``None``: only of Python floats to the type's float dtype).
        """
        raise NotImplementedError(f"{type(self).__name__}.filter")

    def filter_variable(self, other: Variable, allow_convert: bool = True) -> Variable:
        """Return ``other`` as a variable of this type, or raise ``TypeError`` saying why not."""
        if not isinstance(other, Variable):
            other = self.make_constant(other)
        if other.type == self:
            return other
        if allow_convert:
            converted = self.convert_variable(other)
            if converted is not None:
                return converted
        raise TypeError(
            f"cannot convert {other} of type {other.type} to type {self}"
            + ("" if allow_convert else " (conversion not allowed)")
        )

    def convert_variable(self, var: Variable) -> Variable | None:
        """``var`` usable where this type is expected, or ``None`` if it is not compatible."""
        if self.is_super(var.type):
            return var
        return None

    def is_super(self, otype: "Type") -> bool | None:
        """Whether every value of ``otype`` is also a value of this type."""
        return self == otype

    def in_same_class(self, otype: "Type") -> bool:
        return self == otype

    def is_valid_value(self, data: Any, strict: bool = True) -> bool:
        try:
            self.filter(data, strict=strict)
            return True
        except (TypeError, ValueError):
            return False

    def values_eq(self, a: Any, b: Any) -> bool:
        return bool(a == b)

    def values_eq_approx(self, a: Any, b: Any) -> bool:
        return self.values_eq(a, b)

    def make_variable(self, name: str | None = None) -> Variable:
        """A new root variable of this type, tagged with where user code created it."""
        return add_tag_trace(self.variable_type(self, None, name=name))

    def make_constant(self, value: Any, name: str | None = None) -> Constant:
        return self.constant_type(self, value, name=name)

    def __call__(self, name: str | None = None) -> Variable:
        return self.make_variable(name)

    def clone(self, **kwargs) -> "Type":
        values = dict(self._props_dict(), **kwargs)
        return type(self)(**values)


class GenericType(Type):
    """Any Python object. Used for shared values and op inputs that are not tensors."""

    def filter(self, data, strict=False, allow_downcast=None):
        return data

    def values_eq(self, a, b):
        try:
            return bool(a == b)
        except Exception:
            return a is b

    def __str__(self):
        return "Generic"


generic = GenericType()
