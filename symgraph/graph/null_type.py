"""Types marking gradients that do not exist: :class:`NullType` and :class:`DisconnectedType`.

They live in the graph layer so any Op's ``L_op``/``grad`` can return them without
importing the autodiff module, which sits above the tensor library.
"""

from __future__ import annotations

from symgraph.graph.basic import Variable
from symgraph.graph.op import Op
from symgraph.graph.type import Type

__all__ = [
    "NullType",
    "DisconnectedType",
    "disconnected_type",
    "grad_undefined",
    "grad_not_implemented",
]


class NullType(Type):
    """The type of a gradient that is undefined or not implemented; ``why_null`` says why.

    A NullType variable has no values: using it in a computation is an error, and
    :func:`symgraph.gradient.grad` raises with ``why_null`` when one reaches a requested
    gradient (unless ``null_gradients='return'``).
    """

    __props__ = ("why_null",)

    def __init__(self, why_null: str = "(no explanation given)"):
        self.why_null = why_null

    def filter(self, data, strict=False, allow_downcast=None):
        raise ValueError(f"NullType has no values: {self.why_null}")

    def filter_variable(self, other, allow_convert=True):
        raise ValueError(f"NullType has no values: {self.why_null}")

    def __str__(self):
        return f"NullType({self.why_null})"


class DisconnectedType(Type):
    """The type of the gradient of an output w.r.t. an input it does not depend on."""

    def filter(self, data, strict=False, allow_downcast=None):
        raise TypeError("a DisconnectedType variable has no values")

    def __str__(self):
        return "Disconnected"


def disconnected_type() -> Variable:
    """A new variable meaning "this output does not depend on this input"."""
    return DisconnectedType()()


def grad_undefined(op: Op, x_pos: int, x: Variable, comment: str = "") -> Variable:
    """The gradient of ``op`` w.r.t. input ``x_pos`` is mathematically undefined."""
    why = f"{op}.grad: the gradient w.r.t. input {x_pos} ({x}) is mathematically undefined"
    return NullType(why + (f": {comment}" if comment else ""))()


def grad_not_implemented(op: Op, x_pos: int, x: Variable, comment: str = "") -> Variable:
    """The gradient of ``op`` w.r.t. input ``x_pos`` exists but is not implemented."""
    why = f"{op}.grad: the gradient w.r.t. input {x_pos} ({x}) is not implemented"
    return NullType(why + (f": {comment}" if comment else ""))()
