"""Input and output specifications for :func:`symgraph.function`: :class:`In` and :class:`Out`."""

from __future__ import annotations

from typing import Any

from symgraph.graph.basic import Variable

__all__ = ["In", "Out"]


class In:
    """How a compiled function receives one input.

    Parameters
    ----------
    variable
        The symbolic input variable.
    name
        The keyword the argument can be passed by (default: ``variable.name``).
    value
        A default used when the argument is omitted (``None``: the argument is required).
        It is filtered through the variable's type when the function is compiled.
    update
        An expression of the function's inputs. After every call, the value it computed
        becomes the input's new default, making the input a piece of internal state
        (``value`` is then required).
    mutable
        The function may overwrite the array passed for this input (in-place ops). A
        default value is copied before each call so it survives. Implies ``borrow``.
    strict
        Arguments must already have exactly the input's type; nothing is converted.
    allow_downcast
        Allow lossy casts of arguments (``None``: only Python floats to the float dtype;
        the function's ``allow_input_downcast`` applies when this is ``None``).
    borrow
        The function may keep and alias the given value instead of copying it.

    ``function()`` adds an ``In`` with ``implicit=True`` and ``shared=True`` for each shared
    variable the graph uses; those are not parameters of the compiled function.
    """

    def __init__(
        self,
        variable: Variable,
        name: str | None = None,
        value: Any = None,
        update: Any = None,
        mutable: bool = False,
        strict: bool = False,
        allow_downcast: bool | None = None,
        borrow: bool = False,
    ):
        if not isinstance(variable, Variable):
            raise TypeError(f"In: expected a symbolic Variable, got {type(variable).__name__} {variable!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"In: name must be a string, got {name!r}")
        self.variable = variable
        self.name = variable.name if name is None else name
        self.value = value
        self.update = update
        self.mutable = bool(mutable)
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast
        # An input the function may overwrite is necessarily one it may alias.
        self.borrow = bool(borrow) or self.mutable
        # Set by function() for the shared variables it adds as inputs of its own.
        self.implicit = False
        self.shared = False

    def __repr__(self) -> str:
        flags = [
            f"{k}=True" for k in ("mutable", "strict", "borrow", "implicit") if getattr(self, k)
        ]
        extra = (", " + ", ".join(flags)) if flags else ""
        value = "" if self.value is None else f", value={self.value!r}"
        update = "" if self.update is None else f", update={self.update}"
        return f"In({self.variable}, name={self.name!r}{value}{update}{extra})"


class Out:
    """How a compiled function returns one output.

    Parameters
    ----------
    variable
        The symbolic output variable.
    borrow
        The returned value may alias the function's internal storage, its inputs or
        other outputs, and the next call may overwrite it. Saves a copy; use only when
        the value is consumed before the next call.
    """

    def __init__(self, variable: Variable, borrow: bool = False):
        if not isinstance(variable, Variable):
            raise TypeError(f"Out: expected a symbolic Variable, got {type(variable).__name__} {variable!r}")
        self.variable = variable
        self.borrow = bool(borrow)

    def __repr__(self) -> str:
        return f"Out({self.variable}{', borrow=True' if self.borrow else ''})"
