"""Symbolic tensors: :class:`TensorVariable` and :class:`TensorConstant`.

Python operators on tensor variables build elementwise nodes (``x + y`` is
``st.add(x, y)``). Python numbers mixed with tensors are "weak" as in NumPy 2: they take
the tensor's dtype when their value fits (``float32 + 1.0`` stays float32) and only
promote across kinds (``int32 + 1.5`` is float64).

These classes deliberately define no ``__init__``, ``__eq__`` or ``__hash__``: variables
compare by identity (node interning relies on it) and constants are built, and interned,
in :meth:`Constant.__new__ <symgraph.graph.basic.Constant.__new__>`.
"""

from __future__ import annotations

from typing import Any

from symgraph.graph.basic import Constant, Variable

__all__ = ["TensorVariable", "TensorConstant", "tensor_method"]


def _basic():
    # The operator functions live in symgraph.tensor.basic, which imports this module.
    from symgraph.tensor import basic

    return basic


def _binary(fn_name: str, reflected: bool):
    """A Python operator method applying ``basic.<fn_name>`` (operands swapped if reflected)."""

    def method(self, other):
        basic = _basic()
        try:
            other = basic.as_operand(other)
        except TypeError:
            # Not something we can turn into a tensor: let Python try the other operand.
            return NotImplemented
        fn = getattr(basic, fn_name)
        return fn(other, self) if reflected else fn(self, other)

    method.__name__ = f"__{'r' if reflected else ''}{fn_name}__"
    method.__doc__ = f"``st.{fn_name}`` with the operands {'swapped' if reflected else 'in order'}."
    return method


class TensorVariable(Variable):
    """A symbolic n-dimensional array, of :class:`~symgraph.tensor.type.TensorType`.

    Supports ``+ - * / // % **``, ``< <= > >=``, ``& | ^`` (also with the tensor on the
    right), unary ``-``, ``~`` and ``abs()``, :meth:`astype`, ``.T``, :meth:`dimshuffle` and
    :meth:`transpose`; other modules add more through :func:`tensor_method`. ``==`` and
    ``!=`` compare variables by identity (use ``st.eq``/``st.neq`` for elementwise tests). Truth testing raises ``TypeError``: a symbolic
    value has no truth value until it is computed.
    """

    # NumPy arrays on the left of an operator defer to our reflected methods instead of
    # looping over the tensor as an object.
    __array_ufunc__ = None

    # ------------------------------------------------------------------ type shortcuts

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.type.ndim

    @property
    def dtype(self) -> str:
        """Name of the element dtype (``"float64"``)."""
        return self.type.dtype

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        """Per dimension, whether its size is statically 1."""
        return self.type.broadcastable

    def __bool__(self):
        raise TypeError(
            f"the truth value of the symbolic variable {self} is unknown until the graph is "
            "computed; use symbolic comparisons instead of if/and/or/not on variables"
        )

    # ------------------------------------------------------------------ arithmetic

    __add__ = _binary("add", reflected=False)
    __radd__ = _binary("add", reflected=True)
    __sub__ = _binary("sub", reflected=False)
    __rsub__ = _binary("sub", reflected=True)
    __mul__ = _binary("mul", reflected=False)
    __rmul__ = _binary("mul", reflected=True)
    __truediv__ = _binary("true_div", reflected=False)
    __rtruediv__ = _binary("true_div", reflected=True)
    __floordiv__ = _binary("floor_divide", reflected=False)
    __rfloordiv__ = _binary("floor_divide", reflected=True)
    __mod__ = _binary("mod", reflected=False)
    __rmod__ = _binary("mod", reflected=True)
    __pow__ = _binary("power", reflected=False)
    __rpow__ = _binary("power", reflected=True)

    def __neg__(self):
        return _basic().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _basic().abs(self)

    # ------------------------------------------------------------------ comparisons and bits
    # ``==`` and ``!=`` are deliberately absent: variables compare by identity (graphs and
    # dicts rely on it); use st.eq / st.neq. Python reflects ``1 < x`` to ``x > 1`` itself.

    __lt__ = _binary("lt", reflected=False)
    __le__ = _binary("le", reflected=False)
    __gt__ = _binary("gt", reflected=False)
    __ge__ = _binary("ge", reflected=False)
    __and__ = _binary("bitwise_and", reflected=False)
    __rand__ = _binary("bitwise_and", reflected=True)
    __or__ = _binary("bitwise_or", reflected=False)
    __ror__ = _binary("bitwise_or", reflected=True)
    __xor__ = _binary("bitwise_xor", reflected=False)
    __rxor__ = _binary("bitwise_xor", reflected=True)

    def __invert__(self):
        return _basic().invert(self)

    def astype(self, dtype: Any) -> "TensorVariable":
        """This tensor converted to ``dtype`` (``st.cast``); itself if it has that dtype."""
        return _basic().cast(self, dtype)

    # ------------------------------------------------------------------ dimension shuffling

    def dimshuffle(self, *pattern: Any) -> "TensorVariable":
        """Reorder, insert and drop dimensions.

        ``pattern`` lists, for each output dimension, the input dimension it takes (an int)
        or ``"x"`` for a new dimension of size 1; input dimensions left out are dropped and
        must be statically of size 1. A single list/tuple argument is also accepted:
        ``m.dimshuffle(1, "x", 0)`` turns a ``(a, b)`` matrix into ``(b, 1, a)``.
        An identity pattern returns the variable itself.
        """
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = tuple(pattern[0])
        from symgraph.tensor.elemwise import DimShuffle

        if tuple(pattern) == tuple(range(self.ndim)):
            return self
        return DimShuffle(self.ndim, pattern)(self)

    def transpose(self, *axes: Any) -> "TensorVariable":
        """Permute the dimensions (reverse them when no ``axes`` are given), like NumPy."""
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        normalized = []
        for ax in axes:
            if not isinstance(ax, int) or isinstance(ax, bool) or not -self.ndim <= ax < self.ndim:
                raise ValueError(f"transpose: axis {ax!r} is out of range for a {self.ndim}-d tensor")
            normalized.append(ax % self.ndim)
        if sorted(normalized) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {self.ndim} dimensions")
        return self.dimshuffle(*normalized)

    @property
    def T(self) -> "TensorVariable":
        """The transpose (dimensions reversed)."""
        return self.transpose()


class TensorConstant(TensorVariable, Constant):
    """A tensor with a fixed value, ``data`` (a read-only ndarray).

    Tensor constants are interned like all constants: ``st.constant(2.0) is st.constant(2.0)``.
    Their type has a fully static shape (the shape of the data).
    """


def tensor_method(name: str | None = None, *, as_property: bool = False):
    """Attach a function to :class:`TensorVariable` as a method (or a read-only property).

    Modules of the tensor library register their methods this way (``x.sum()``,
    ``x.reshape(...)``, ``x.shape``) so each op family keeps its methods next to its ops::

        @tensor_method("sum")
        def _sum_method(self, axis=None, keepdims=False): ...
    """

    def attach(fn):
        attr = name or fn.__name__
        if attr in TensorVariable.__dict__:
            raise AttributeError(f"TensorVariable.{attr} is already defined")
        setattr(TensorVariable, attr, property(fn) if as_property else fn)
        return fn

    return attach

