"""Reductions (sum, prod, max, min, all, any, logsumexp, argmax/argmin), mean/var/std and
:func:`unbroadcast`.

Softmax, log-softmax and the cumulative sums/products are in :mod:`symgraph.tensor.special`
(built on this module's axis and dtype rules); their names stay importable from here.

One op class, :class:`Reduce`, computes every reduction; a row of :data:`REDUCTIONS`
(a :class:`ReductionSpec`) gives the NumPy function, the output dtype rule and the
derivative rules of each kind. The op always drops the reduced axes; ``keepdims=True``
is a :class:`~symgraph.tensor.elemwise.DimShuffle` after it, as in PyTensor.

Derivative conventions (all checked by the tests):

- ``max``/``min``: the gradient goes to every position equal to the extremum, so tied
  positions each receive the full output gradient (PyTensor's rule). The R_op is the exact
  one-sided directional derivative ``max(v[i] for tied i)`` (``min`` for ``min``), equal
  to ``v`` at the extremum when there is no tie.
- ``prod``: exact with zeros in the input: with one zero in a reduced group, that
  position's partial derivative is the product of the others and every other one is 0;
  with two or more zeros, all are 0.
- Integer and boolean outputs (``argmax``, ``all``, integer sums...) and integer inputs
  get zero gradients, as in PyTensor.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, cast, constant, eq, exp, maximum, sqrt, switch
from symgraph.tensor.creation import zeros_like
from symgraph.tensor.elemwise import DimShuffle
from symgraph.tensor.scalar_ops import upgrade_to_float
from symgraph.tensor.shape import broadcast_to, shape_i
from symgraph.tensor.shape import shape as shape_of
from symgraph.tensor.type import TensorType, normalize_dtype
from symgraph.tensor.variable import TensorVariable, tensor_method

__all__ = [
    "ReductionSpec",
    "REDUCTIONS",
    "Reduce",
    "Argmax",
    "sum",
    "prod",
    "max",
    "min",
    "all",
    "any",
    "logsumexp",
    "argmax",
    "argmin",
    "mean",
    "var",
    "std",
    "unbroadcast",
    "normalize_axis",
]

_DISCRETE_KINDS = "biu"


def _is_discrete(dtype: str) -> bool:
    return np.dtype(dtype).kind in _DISCRETE_KINDS


# --------------------------------------------------------------------------- axes


def normalize_axis(axis: Any, ndim: int, who: str = "reduction") -> tuple[int, ...]:
    """``axis`` (``None``, an int or a sequence of ints, negatives allowed) as a sorted
    tuple of distinct non-negative axes; ``None`` means all axes.

    Raises ``ValueError`` for out-of-range or repeated axes, ``TypeError`` for non-ints.
    """
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (list, tuple)) else (axis,)
    out = []
    for ax in items:
        if isinstance(ax, Variable):
            if ax.owner is None and hasattr(ax, "data"):
                ax = ax.data.item()
            else:
                raise TypeError(f"{who}: axis must be known when the graph is built, got the variable {ax}")
        if isinstance(ax, (bool, np.bool_)) or not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{who}: axis entries must be ints, got {ax!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"{who}: axis {int(ax)} is out of range for a {ndim}-d tensor")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: axis {axis!r} repeats a dimension")
    return tuple(sorted(out))


def _single_axis(x: TensorVariable, axis: Any, who: str) -> int | None:
    """``axis`` (None or one int, negatives allowed) normalised for ``x``."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        raise TypeError(f"{who}: axis must be None or an int, got {axis!r}")
    return normalize_axis(axis, x.ndim, who)[0]


def keepdims_order(axes: tuple[int, ...], ndim: int) -> tuple:
    """The DimShuffle order putting the ``axes`` a reduction of a ``ndim``-d tensor removed
    back as size-1 (``"x"``) dimensions: what ``keepdims=True`` appends to a reduction."""
    order: list[Any] = []
    k = 0
    for d in range(ndim):
        if d in axes:
            order.append("x")
        else:
            order.append(k)
            k += 1
    return tuple(order)


def _expand(var: TensorVariable, axes: tuple[int, ...], ndim: int) -> TensorVariable:
    """``var`` (the result of reducing a ``ndim``-d tensor over ``axes``) with the reduced
    axes put back as size-1 dimensions."""
    if not axes:
        return var
    return DimShuffle(var.ndim, keepdims_order(axes, ndim))(var)


def _keepdims(out: TensorVariable, axes: tuple[int, ...], ndim: int, keepdims: bool) -> TensorVariable:
    return _expand(out, axes, ndim) if keepdims else out


def _drop_static(shape: tuple, axes: tuple[int, ...]) -> tuple:
    return tuple(s for d, s in enumerate(shape) if d not in axes)


# --------------------------------------------------------------------------- gradient helpers


def _broadcast_like(g: TensorVariable, x: TensorVariable, axes: tuple[int, ...]) -> TensorVariable:
    """``g`` (``x``'s rank, size 1 on ``axes``) broadcast to ``x``'s shape."""
    if builtins.all(x.type.shape[a] == 1 for a in axes):
        return g
    return broadcast_to(g, shape_of(x))


def _cast(x: TensorVariable, dtype: str) -> TensorVariable:
    return x if x.dtype == dtype else cast(x, dtype)


def _discrete_input_grad(x: TensorVariable) -> TensorVariable:
    """The gradient w.r.t. an integer or boolean input: zeros (PyTensor returns floatX zeros)."""
    return zeros_like(x, dtype=config.floatX)


# --------------------------------------------------------------------------- dtype rules


def _accumulate_dtype(dtype: str) -> str:
    """NumPy's ``sum``/``prod``/``cumsum`` dtype: small ints and bool widen to int64.

    NumPy gives ``uint64`` for unsigned inputs; uint64 is not a supported dtype, so
    ``uint8`` also goes to ``int64``.
    """
    return dtype if np.dtype(dtype).kind == "f" else "int64"


_DTYPE_RULES: dict[str, Callable[[str], str]] = {
    "accumulate": _accumulate_dtype,
    "same": lambda dtype: dtype,
    "bool": lambda dtype: "bool",
    "float": upgrade_to_float,
}


# --------------------------------------------------------------------------- derivative rules
# Each rule gets the input x, the output expanded back to x's rank (``out_x``) and the
# reduced axes; gradient rules also get the output gradient expanded the same way (``g_x``),
# R_op rules the direction ``ev`` (x's shape) and return the reduced result.


def _sum_grad(x, out_x, g_x, axes):
    return _broadcast_like(g_x, x, axes)


def _sum_rop(x, out_x, ev, axes):
    return sum(ev, axis=axes)


def _prod_partials(x: TensorVariable, axes: tuple[int, ...]) -> TensorVariable:
    """d prod(x, axes) / d x, elementwise and exact with zeros (see the module docstring).

    ``prod(x)/x`` fails at zeros, so the product of the non-zero entries and the number of
    zeros per reduced group choose between the three cases.
    """
    is_zero = eq(x, 0)
    x_safe = switch(is_zero, 1, x)
    prod_nonzero = _expand(prod(x_safe, axis=axes), axes, x.ndim)
    n_zeros = _expand(sum(is_zero, axis=axes), axes, x.ndim)
    one_zero_here = is_zero & eq(n_zeros, 1)
    return switch(eq(n_zeros, 0), prod_nonzero / x_safe, switch(one_zero_here, prod_nonzero, 0))


def _prod_grad(x, out_x, g_x, axes):
    return g_x * _prod_partials(x, axes)


def _prod_rop(x, out_x, ev, axes):
    return sum(_prod_partials(x, axes) * ev, axis=axes)


def _extremum_grad(x, out_x, g_x, axes):
    # Every position equal to the extremum gets the whole gradient (PyTensor's tie rule).
    return switch(eq(x, out_x), g_x, 0)


@dataclass(frozen=True)
class _ExtremumRop:
    """R_op of max/min: the one-sided directional derivative, i.e. the best direction among
    the tied positions. A class, not a closure, so ops holding their table row pickle."""

    kind: str

    def __call__(self, x, out_x, ev, axes):
        fill = -np.inf if self.kind == "max" else np.inf
        return REDUCE_FUNCTIONS[self.kind](switch(eq(x, out_x), ev, fill), axis=axes)


def _extremum_rop(kind: str) -> _ExtremumRop:
    return _ExtremumRop(kind)


def _logsumexp_weights(x, out_x):
    return exp(x - out_x)  # the softmax of x over the reduced axes


def _logsumexp_grad(x, out_x, g_x, axes):
    return g_x * _logsumexp_weights(x, out_x)


def _logsumexp_rop(x, out_x, ev, axes):
    return sum(_logsumexp_weights(x, out_x) * ev, axis=axes)


# --------------------------------------------------------------------------- NumPy implementations


def _np_logsumexp(x: np.ndarray, axis: tuple[int, ...], dtype: str) -> np.ndarray:
    x = x.astype(dtype, copy=False)
    if builtins.any(x.shape[a] == 0 for a in axis):
        # log(sum over nothing) = log(0).
        return np.full(_drop_static(x.shape, axis), -np.inf, dtype=dtype)
    m = np.max(x, axis=axis, keepdims=True)
    # An infinite maximum would make x - m nan (inf - inf); shifting by 0 there gives the
    # right limit (-inf for all -inf, +inf when a +inf is present).
    m = np.where(np.isfinite(m), m, 0).astype(dtype, copy=False)
    with np.errstate(divide="ignore"):
        res = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return res.reshape(_drop_static(x.shape, axis))


@dataclass(frozen=True)
class _NumpyReduction:
    """A NumPy reduction called as ``(x, axis, dtype)``. A class rather than a lambda so
    ops holding their table row pickle (compiled functions must)."""

    fn: Callable
    takes_dtype: bool

    def __call__(self, x, axis, dtype):
        if self.takes_dtype:
            return self.fn(x, axis=axis, dtype=dtype)
        return self.fn(x, axis=axis)


def _with_dtype(fn):
    return _NumpyReduction(fn, True)


def _without_dtype(fn):
    return _NumpyReduction(fn, False)


@dataclass(frozen=True)
class ReductionSpec:
    """One kind of reduction.

    Attributes
    ----------
    name
        ``"sum"``, ``"max"``...; also the public function's name.
    impl
        ``impl(x, axis_tuple, out_dtype) -> array`` (NumPy).
    identity
        The result over an empty axis, or ``None`` when there is none (``max`` of nothing
        raises ``ValueError``, as in NumPy).
    dtype_rule
        A key of the dtype rules: ``"accumulate"`` (NumPy's sum: ints to int64), ``"same"``,
        ``"bool"`` or ``"float"`` (the elementwise ``"float"`` rule).
    grad
        ``grad(x, out_x, g_x, axes) -> gx`` or ``None`` for outputs without a gradient.
    rop
        ``rop(x, out_x, ev, axes) -> reduced directional derivative`` or ``None``.
    """

    name: str
    impl: Callable[[np.ndarray, tuple[int, ...], str], Any]
    identity: Any
    dtype_rule: str
    grad: Callable[..., TensorVariable] | None
    rop: Callable[..., TensorVariable] | None


# fmt: off
REDUCTIONS: dict[str, ReductionSpec] = {spec.name: spec for spec in (
    #             name         numpy implementation        identity  dtype rule    grad             R_op
    ReductionSpec("sum",       _with_dtype(np.sum),        0,        "accumulate", _sum_grad,       _sum_rop),
    ReductionSpec("prod",      _with_dtype(np.prod),       1,        "accumulate", _prod_grad,      _prod_rop),
    ReductionSpec("max",       _without_dtype(np.max),     None,     "same",       _extremum_grad,  _extremum_rop("max")),
    ReductionSpec("min",       _without_dtype(np.min),     None,     "same",       _extremum_grad,  _extremum_rop("min")),
    ReductionSpec("all",       _without_dtype(np.all),     True,     "bool",       None,            None),
    ReductionSpec("any",       _without_dtype(np.any),     False,    "bool",       None,            None),
    ReductionSpec("logsumexp", _np_logsumexp,              -np.inf,  "float",      _logsumexp_grad, _logsumexp_rop),
)}
# fmt: on


class Reduce(Op):
    """Reduce a tensor over ``axis`` (a sorted tuple of axes) with one of :data:`REDUCTIONS`.

    Parameters
    ----------
    kind
        A key of :data:`REDUCTIONS`.
    axis
        The axes to reduce, normalised (non-negative, sorted, distinct). The output drops
        them; use the public functions for ``keepdims``.
    dtype
        Output dtype, or ``None`` for the kind's dtype rule (NumPy's).
    """

    __props__ = ("kind", "axis", "dtype")

    def __init__(self, kind: str, axis: Sequence[int], dtype: str | None = None):
        if kind not in REDUCTIONS:
            raise ValueError(f"Reduce: unknown reduction {kind!r}; known: {', '.join(REDUCTIONS)}")
        axis = tuple(int(a) for a in axis)
        if list(axis) != sorted(set(axis)) or builtins.any(a < 0 for a in axis):
            raise ValueError(f"Reduce: axis must be sorted, distinct and non-negative, got {axis}")
        self.kind = kind
        self.axis = axis
        self.dtype = None if dtype is None else normalize_dtype(dtype)
        self.spec = REDUCTIONS[kind]

    def __str__(self) -> str:
        name = self.kind.capitalize() if self.kind != "logsumexp" else "LogSumExp"
        axes = f"axis={self.axis[0]}" if len(self.axis) == 1 else f"axes={self.axis}"
        return f"{name}{{{axes}{f', dtype={self.dtype}' if self.dtype else ''}}}"

    def output_dtype(self, input_dtype: str) -> str:
        """The output dtype for an input of ``input_dtype``."""
        return self.dtype or _DTYPE_RULES[self.spec.dtype_rule](input_dtype)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.axis and self.axis[-1] >= x.ndim:
            raise ValueError(f"{self}: axis {self.axis[-1]} is out of range for {x} of type {x.type}")
        out_type = TensorType(self.output_dtype(x.dtype), _drop_static(x.type.shape, self.axis))
        return Apply(self, [x], [out_type()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        out_dtype = node.outputs[0].type.dtype
        if self.spec.identity is None and builtins.any(x.shape[a] == 0 for a in self.axis):
            raise ValueError(
                f"{self}: cannot reduce an input of shape {x.shape} over an empty axis; "
                f"{self.kind} has no identity value"
            )
        result = self.spec.impl(x, self.axis, out_dtype)
        output_storage[0][0] = np.asarray(result, dtype=out_dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        return [tuple(s for d, s in enumerate(input_shapes[0]) if d not in self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (g,) = inputs, outputs, output_grads
        if _is_discrete(x.dtype) or _is_discrete(out.dtype) or self.spec.grad is None:
            return [_discrete_input_grad(x) if _is_discrete(x.dtype) else zeros_like(x)]
        out_x = _expand(out, self.axis, x.ndim)
        g_x = _expand(g, self.axis, x.ndim)
        gx = self.spec.grad(x, out_x, g_x, self.axis)
        return [_cast(gx, x.dtype)]

    def R_op(self, inputs, eval_points):
        (x,), (ev,) = inputs, eval_points
        if ev is None:
            return [None]
        out = self(x)
        if _is_discrete(out.dtype) or self.spec.rop is None:
            return [zeros_like(out, dtype=config.floatX if _is_discrete(out.dtype) else None)]
        res = self.spec.rop(x, _expand(out, self.axis, x.ndim), ev, self.axis)
        return [_cast(res, out.dtype)]


def _reduction_function(kind: str, with_dtype: bool):
    spec = REDUCTIONS[kind]

    def reduce(x: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> TensorVariable:
        x = as_tensor_variable(x)
        axes = normalize_axis(axis, x.ndim, kind)
        op = Reduce(kind, axes)
        if dtype is not None:
            dtype = normalize_dtype(dtype)
            if dtype != op.output_dtype(x.dtype):
                op = Reduce(kind, axes, dtype)
        return _keepdims(op(x), axes, x.ndim, keepdims)

    if with_dtype:
        fn = reduce
    else:

        def fn(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
            return reduce(x, axis, None, keepdims)

    fn.__name__ = fn.__qualname__ = kind
    fn.__module__ = __name__
    empty = "raises ValueError" if spec.identity is None else f"gives {spec.identity!r}"
    fn.__doc__ = (
        f"``{kind}`` of ``x`` over ``axis`` (None: all axes; an int or a tuple, negatives allowed).\n\n"
        f"``keepdims=True`` keeps the reduced axes with size 1. Output dtype rule: "
        f"{spec.dtype_rule!r}{' (or ``dtype``)' if with_dtype else ''}. Reducing over an empty "
        f"axis {empty}."
    )
    return fn


sum = _reduction_function("sum", with_dtype=True)
prod = _reduction_function("prod", with_dtype=True)
max = _reduction_function("max", with_dtype=False)
min = _reduction_function("min", with_dtype=False)
all = _reduction_function("all", with_dtype=False)
any = _reduction_function("any", with_dtype=False)
logsumexp = _reduction_function("logsumexp", with_dtype=False)
logsumexp.__doc__ = (
    "``log(sum(exp(x)))`` over ``axis``, computed stably (the maximum is subtracted first).\n\n"
    "Its gradient is the softmax of ``x`` over ``axis`` times the output gradient. Integer\n"
    "inputs give floats (the elementwise ``'float'`` rule); an empty axis gives ``-inf``."
)
REDUCE_FUNCTIONS: dict[str, Callable[..., TensorVariable]] = {
    "sum": sum, "prod": prod, "max": max, "min": min, "all": all, "any": any, "logsumexp": logsumexp,
}


# --------------------------------------------------------------------------- unbroadcast


def unbroadcast(g: Any, like: Any) -> TensorVariable:
    """Sum ``g`` down to the broadcast pattern of ``like`` (a tensor variable or TensorType).

    ``g`` is the gradient of a broadcast result; ``like`` the operand that was broadcast.
    Leading dimensions of ``g`` beyond ``like``'s rank are summed away, and so are the
    dimensions where ``like`` is statically of size 1 but ``g`` is not (kept with size 1).
    The result has ``like``'s rank and ``g``'s dtype.
    """
    g = as_tensor_variable(g)
    like_type = like if isinstance(like, TensorType) else as_tensor_variable(like).type
    extra = g.ndim - like_type.ndim
    if extra < 0:
        raise ValueError(f"unbroadcast: {g} of type {g.type} has fewer dimensions than {like_type}")
    summed = tuple(range(extra)) + tuple(
        extra + d for d, size in enumerate(like_type.shape) if size == 1 and g.type.shape[extra + d] != 1
    )
    if not summed:
        return g
    out = sum(g, axis=summed, dtype=g.dtype)
    # The summed-over dims of `like` come back with size 1; the leading extra dims are gone.
    return _expand(out, tuple(d - extra for d in summed if d >= extra), like_type.ndim)


# --------------------------------------------------------------------------- argmax / argmin


class Argmax(Op):
    """Index of the maximum (``kind="argmax"``) or minimum (``"argmin"``) along ``axis``.

    ``axis`` is a non-negative int, or ``None`` for the index into the flattened input (as
    NumPy). The output is int64 and the first occurrence wins ties. The gradient is zero and
    so is the R_op: the output is integer-valued (as in PyTensor).
    """

    __props__ = ("kind", "axis")

    def __init__(self, kind: str, axis: int | None):
        if kind not in ("argmax", "argmin"):
            raise ValueError(f"Argmax: kind must be 'argmax' or 'argmin', got {kind!r}")
        if axis is not None and (not isinstance(axis, (int, np.integer)) or axis < 0):
            raise ValueError(f"Argmax: axis must be None or a non-negative int, got {axis!r}")
        self.kind = kind
        self.axis = None if axis is None else int(axis)

    def __str__(self) -> str:
        return f"{self.kind.capitalize()}{{axis={self.axis}}}"

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return tuple(range(ndim)) if self.axis is None else (self.axis,)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.axis is not None and self.axis >= x.ndim:
            raise ValueError(f"{self}: axis {self.axis} is out of range for {x} of type {x.type}")
        out_shape = _drop_static(x.type.shape, self._axes(x.ndim))
        return Apply(self, [x], [TensorType("int64", out_shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        if builtins.any(x.shape[a] == 0 for a in self._axes(x.ndim)) or (self.axis is None and x.size == 0):
            raise ValueError(f"{self}: cannot take the {self.kind} of an input of shape {x.shape} over an empty axis")
        fn = np.argmax if self.kind == "argmax" else np.argmin
        output_storage[0][0] = np.asarray(fn(x, axis=self.axis), dtype=np.int64)

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        axes = self._axes(node.inputs[0].ndim)
        return [tuple(s for d, s in enumerate(input_shapes[0]) if d not in axes)]

    def grad(self, inputs, output_grads):
        (x,) = inputs
        return [_discrete_input_grad(x) if _is_discrete(x.dtype) else zeros_like(x)]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [zeros_like(self(inputs[0]), dtype=config.floatX)]


def _arg_function(kind: str):
    def fn(x: Any, axis: Any = None, keepdims: bool = False) -> TensorVariable:
        x = as_tensor_variable(x)
        op_axis = _single_axis(x, axis, kind)
        axes = tuple(range(x.ndim)) if op_axis is None else (op_axis,)
        return _keepdims(Argmax(kind, op_axis)(x), axes, x.ndim, keepdims)

    fn.__name__ = fn.__qualname__ = kind
    fn.__module__ = __name__
    extremum = "maximum" if kind == "argmax" else "minimum"
    fn.__doc__ = (
        f"Index (int64) of the first {extremum} of ``x`` along ``axis`` (an int), or into the\n"
        f"flattened ``x`` when ``axis`` is None. ``keepdims`` keeps the reduced axes with size 1.\n"
        "The gradient is zero."
    )
    return fn


argmax = _arg_function("argmax")
argmin = _arg_function("argmin")


# --------------------------------------------------------------------------- mean, var, std


def _count(x: TensorVariable, axes: tuple[int, ...], dtype: str) -> TensorVariable:
    """The number of elements reduced over ``axes``, as a ``dtype`` scalar (a constant when
    the sizes are static)."""
    sizes = [x.type.shape[a] for a in axes]
    if None not in sizes:
        return constant(np.prod(sizes, dtype=np.int64).astype(dtype))
    n: Any = 1
    for a, size in zip(axes, sizes):
        n = n * (shape_i(x, a) if size is None else size)
    return _cast(n, dtype)


def _mean_dtype(dtype: str) -> str:
    # NumPy: integer and boolean means are float64; float dtypes stay.
    return dtype if np.dtype(dtype).kind == "f" else "float64"


def mean(x: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> TensorVariable:
    """Arithmetic mean over ``axis`` (None: all axes; int or tuple, negatives allowed).

    The dtype follows NumPy: float inputs keep their dtype, integers and booleans give
    float64; ``dtype`` overrides it (and is the accumulation dtype). An empty axis gives nan.
    """
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "mean")
    out_dtype = _mean_dtype(x.dtype) if dtype is None else normalize_dtype(dtype)
    total = sum(x, axis=axes, dtype=out_dtype)
    if not axes:
        return _keepdims(total, axes, x.ndim, keepdims)
    # The cast only matters for an integer ``dtype`` (true division gives floats).
    return _keepdims(_cast(total / _count(x, axes, out_dtype), out_dtype), axes, x.ndim, keepdims)


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> TensorVariable:
    """Variance over ``axis``: ``sum((x - mean)**2) / (n - ddof)``, as ``np.var``.

    Integer inputs give float64. Built from :func:`mean` and :func:`sum`, so its gradients
    (of any order) follow from theirs. ``n - ddof`` below zero is taken as zero (NumPy).
    """
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "var")
    x = _cast(x, _mean_dtype(x.dtype))
    centred = x - mean(x, axis=axes, keepdims=True)
    total = sum(centred * centred, axis=axes)
    sizes = [x.type.shape[a] for a in axes]
    if None not in sizes:
        denom: Any = constant(float(builtins.max(int(np.prod(sizes, dtype=np.int64)) - ddof, 0)), dtype=x.dtype)
    else:
        denom = maximum(_count(x, axes, x.dtype) - ddof, 0)
    return _keepdims(total / denom, axes, x.ndim, keepdims)


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> TensorVariable:
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof))``, as ``np.std``."""
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


# --------------------------------------------------------------------------- methods


def _register_methods(functions: dict[str, Callable[..., TensorVariable]], module: str = __name__) -> None:
    """Attach NumPy-style methods (``x.sum()``, ``x.argmax()``...) to TensorVariable, each
    calling ``functions[name]`` (documented in ``module``)."""
    for name, fn in functions.items():

        def method(self, *args, _fn=fn, **kwargs):
            return _fn(self, *args, **kwargs)

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"``st.{name}(self, ...)``; see :func:`{module}.{name}`."
        tensor_method(name)(method)


_register_methods({
    "sum": sum, "prod": prod, "mean": mean, "var": var, "std": std, "max": max, "min": min,
    "argmax": argmax, "argmin": argmin, "all": all, "any": any,
})


# --------------------------------------------------------------------------- moved names

# Softmax, log-softmax and the cumulative ops live in symgraph.tensor.special, which imports
# this module: they are re-exported lazily, without an import cycle
# (``from symgraph.tensor.reduction import Softmax`` still works).
_MOVED_TO_SPECIAL = frozenset({"Softmax", "LogSoftmax", "CumOp", "softmax", "log_softmax", "cumsum", "cumprod"})


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_SPECIAL:
        from symgraph.tensor import special

        return getattr(special, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
