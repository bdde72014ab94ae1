"""The table of scalar operations that elementwise tensor ops are built from.

Each row of :data:`SCALAR_OP_TABLE` (a :class:`ScalarOpSpec`) describes one operation on
scalars: its name, how many inputs it takes, the NumPy/SciPy function computing it, the rule
giving its output dtype, a C expression template for the C backend, and its partial
derivatives. Adding a row is all it takes to get a new elementwise op: :class:`ScalarOp`
objects, the module-level names here (``scalar_ops.add``...), the tensor functions in
:mod:`symgraph.tensor.basic` (``st.add``...) and the gradients of
:class:`~symgraph.tensor.elemwise.Elemwise` all come from the table.

Dtype rules
-----------
``"upcast"``
    ``np.result_type`` of the input dtypes (NumPy 2 promotion), then, for ufuncs, NumPy's
    own loop selection: ``power``/``square``/``floor_divide``/``mod`` of booleans give
    ``int8`` and ``sub``/``neg``/``sign`` of booleans are rejected, as in NumPy. Unary ops
    under this rule keep their input dtype (``abs``, ``sign``, ``floor``, ``ceil``,
    ``round``: identity-like on integers, as in NumPy 2).
``"float"``
    The upcast, then integers and booleans become floats: ``bool``, ``int8``, ``int16`` and
    ``uint8`` become ``float32`` (exactly representable there), ``int32`` and ``int64``
    become ``float64``; float dtypes stay. This differs from NumPy for small integers
    (NumPy gives ``float16``/``float64``) on purpose: float16 is not supported, and this is
    the convention PyTensor uses.
``"bool"``
    Comparisons, logical ops and ``isnan``...: the output is ``bool``; inputs are compared in
    their common (upcast) dtype, as NumPy does.
``"int_or_bool"``
    Bitwise ops: the upcast, which must be an integer or ``bool`` dtype (floats are rejected
    with ``TypeError`` when the graph is built).
``"switch"``
    ``where``: the first input is a condition of any dtype (non-zero means true) and takes no
    part in promotion; the output is the upcast of the two branches.
``"second"``
    ``second(a, b)``: the dtype of ``b`` (``a`` only lends its shape).
``"to_<dtype>"`` (``"to_float32"``...)
    The cast rows: the output has that dtype whatever the input.

Weak Python scalars (``x + 1.0``) are given a dtype before these rules run; see
:func:`symgraph.tensor.elemwise._convert_inputs`.

Derivatives
-----------
The ``derivative`` slot is ``None`` (every partial derivative is zero: piecewise-constant or
boolean ops) or a function ``derivative(T, inputs, output)`` returning one entry per input,
where ``T`` is the :mod:`symgraph.tensor.basic` module (passed in because this module sits
below it in the import order), ``inputs`` the node's input variables (all of the output's
rank) and ``output`` its output variable. Each entry is

- a symbolic tensor: the partial derivative of the output w.r.t. that input, elementwise
  (it may broadcast against the output). It must be built from differentiable ops so that
  second derivatives are right;
- a Python number: a constant partial derivative (``1`` and ``-1`` build no product);
- :data:`ZERO` (``None``): the partial derivative is zero (e.g. the condition of ``where``);
- :data:`UNDEFINED`: it does not exist (e.g. the integer order of ``polygamma``); the
  gradient is then :func:`~symgraph.graph.null_type.grad_undefined`.

:class:`~symgraph.tensor.elemwise.Elemwise` uses the entries for both its L_op
(``sum over outputs of gout * partial``, reduced to the input's broadcast pattern) and its
R_op (``sum_i partial_i * eval_point_i``). Partials are only asked for when the output has
a float dtype; integer and boolean inputs and outputs always get zero gradients.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.special as sps

from symgraph.graph.props import PropsMixin

__all__ = [
    "VARIADIC",
    "ZERO",
    "UNDEFINED",
    "ScalarOpSpec",
    "ScalarOp",
    "SCALAR_OP_TABLE",
    "SUPPORTED_DTYPES",
    "get_scalar_op",
    "all_scalar_ops",
    "cast_op_name",
    "upcast",
    "upgrade_to_float",
]

#: ``nin`` value of an operation taking any number (at least one) of inputs.
VARIADIC = -1

#: The dtypes tensors may have. Kept here because the dtype rules must stay inside it.
SUPPORTED_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")

#: A derivative entry meaning "the partial derivative is zero".
ZERO = None


class _Undefined:
    """The :data:`UNDEFINED` marker (a singleton with a readable repr)."""

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self):
        return "UNDEFINED"


#: A derivative entry meaning "the partial derivative does not exist".
UNDEFINED = _Undefined()


def upcast(*dtypes: str) -> str:
    """The dtype NumPy 2 promotes ``dtypes`` to (all given as dtype names)."""
    return np.result_type(*(np.dtype(d) for d in dtypes)).name


# Integers whose values all fit exactly in float32's 24-bit mantissa go to float32.
_FLOAT_OF = {
    "bool": "float32",
    "int8": "float32",
    "int16": "float32",
    "uint8": "float32",
    "int32": "float64",
    "int64": "float64",
    "float32": "float32",
    "float64": "float64",
}


def upgrade_to_float(*dtypes: str) -> str:
    """The ``"float"`` rule: the upcast of ``dtypes``, moved to a float dtype if it is not one."""
    return _FLOAT_OF[upcast(*dtypes)]


def _is_float(dtype: str) -> bool:
    return np.dtype(dtype).kind == "f"


def cast_op_name(dtype: str) -> str:
    """The name of the scalar op casting to ``dtype`` (``"cast_float32"``)."""
    return f"cast_{dtype}"


# --------------------------------------------------------------------------- implementations
# NumPy functions for the rows that are not a single ufunc. None may return an input array
# (Elemwise declares no view_map).


def _softplus(x):
    # log(1 + exp(x)) without overflow for large x nor loss for very negative x.
    return np.logaddexp(0, x)


_LOG_HALF = -math.log(2.0)


def _log1mexp(x):
    # log(1 - exp(x)) for x <= 0: log(-expm1(x)) is accurate near 0, log1p(-exp(x)) far from
    # it (Maechler's split at -log 2). Both branches are computed, hence the errstate (the
    # result is NaN for x > 0, outside the domain, as log of a negative number is).
    with np.errstate(all="ignore"):
        return np.where(x > _LOG_HALF, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _round_half_to_even(x):
    # np.round gives float16 for booleans; rint is the half-to-even rounding for floats and
    # integers are already round.
    return np.rint(x) if x.dtype.kind == "f" else x.copy()


def _reciprocal(x):
    # True reciprocal (np.reciprocal of an integer array is an integer division).
    return np.true_divide(1, x)


def _polygamma(n, x):
    return sps.polygamma(n, x)


def _second(a, b):
    # ``b`` broadcast against ``a`` (PyTensor's ``second``/``fill``): a fresh array, never a view.
    return np.array(np.broadcast_arrays(a, b)[1], copy=True)


def _make_cast(dtype: str) -> Callable[[np.ndarray], np.ndarray]:
    np_dtype = np.dtype(dtype)

    def cast(x):
        return x.astype(np_dtype)  # always a copy

    cast.__name__ = f"cast_{dtype}"
    return cast


# --------------------------------------------------------------------------- derivatives
# ``T`` is symgraph.tensor.basic; ``xs`` the inputs, ``o`` the output. Python numbers used in
# these expressions are weak, so they take the tensors' dtype (float32 stays float32).

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0


def _d_mul(T, xs, o):
    if len(xs) == 1:
        return (1,)
    return tuple(T.mul(*(x for j, x in enumerate(xs) if j != i)) for i in range(len(xs)))


def _d_power(T, xs, o):
    x, y = xs
    # d/dy = log(x) * x**y is only real for x > 0 (NaN for x < 0, as NumPy's log gives).
    return T.mul(y, T.power(x, T.sub(y, 1))), T.mul(T.log(x), o)


def _d_arctan2(T, xs, o):
    y, x = xs  # arctan2(y, x) = angle of the point (x, y)
    r2 = T.add(T.square(x), T.square(y))
    return T.true_div(x, r2), T.neg(T.true_div(y, r2))


def _d_maximum_minimum(T, xs, o):
    # Ties send the whole gradient to the first input, as in PyTensor.
    x, _ = xs
    first = T.cast(T.eq(o, x), o.dtype)
    return first, T.sub(1, first)


def _d_clip(T, xs, o):
    # clip(x, lo, hi) = minimum(maximum(x, lo), hi) as in NumPy (so hi wins when lo > hi).
    # Where the bounds are reached x gets the gradient (PyTensor's rule: lo <= x <= hi).
    x, lo, hi = xs
    dx = T.logical_and(T.ge(x, lo), T.le(x, hi))
    dlo = T.logical_and(T.lt(x, lo), T.le(lo, hi))
    dhi = T.gt(T.maximum(x, lo), hi)
    return tuple(T.cast(d, o.dtype) for d in (dx, dlo, dhi))


def _d_where(T, xs, o):
    c = T.cast(xs[0], "bool")
    return ZERO, T.cast(c, o.dtype), T.cast(T.logical_not(c), o.dtype)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ScalarOpSpec:
    """One row of the scalar operation table.

    Attributes
    ----------
    name
        Lower-case identifier; also the tensor function's name (``st.add``).
    nin
        Number of inputs, or :data:`VARIADIC` for "one or more" (folded left to right).
    impl
        NumPy function of ``nin`` arrays (binary for variadic ops). It must return a new
        array, never one of its inputs.
    dtype_rule
        A dtype rule (see the module docstring).
    c_template
        C expression with ``%(i0)s``, ``%(i1)s``... for the inputs and ``%(o)s`` for the C
        output type; variadic ops give the binary form and are chained. Functions named
        ``sg_*`` are helpers the C runtime defines (listed in ``doc``).
    doc
        One line for the generated tensor function's docstring.
    aliases
        Extra names for the tensor function (NumPy and PyTensor spellings).
    derivative
        The partial derivatives (see the module docstring); ``None`` when all are zero.
    label
        How the op prints (default: the CamelCase of ``name``).
    public
        Whether :mod:`symgraph.tensor.basic` makes a tensor function for the row (the cast
        rows are reached through ``st.cast`` instead).
    """

    name: str
    nin: int
    impl: Callable[..., Any]
    dtype_rule: str
    c_template: str
    doc: str
    aliases: tuple[str, ...] = ()
    derivative: Callable[..., Any] | None = None
    label: str | None = None
    public: bool = True


S = ScalarOpSpec

# fmt: off
_ARITHMETIC = (
    S("add", VARIADIC, np.add, "upcast", "(%(i0)s + %(i1)s)", "Elementwise sum of the inputs.",
      derivative=lambda T, xs, o: (1,) * len(xs)),
    S("sub", 2, np.subtract, "upcast", "(%(i0)s - %(i1)s)", "Elementwise difference ``a - b``.",
      aliases=("subtract",), derivative=lambda T, xs, o: (1, -1)),
    S("mul", VARIADIC, np.multiply, "upcast", "(%(i0)s * %(i1)s)", "Elementwise product of the inputs.",
      aliases=("multiply",), derivative=_d_mul),
    S("true_div", 2, np.true_divide, "float", "((%(o)s)%(i0)s / (%(o)s)%(i1)s)",
      "Elementwise true (float) division ``a / b``.", aliases=("true_divide", "divide"),
      derivative=lambda T, xs, o: (T.reciprocal(xs[1]), T.neg(T.true_div(o, xs[1])))),
    S("floor_divide", 2, np.floor_divide, "upcast", "sg_floor_divide(%(i0)s, %(i1)s)",
      "Elementwise floor division ``a // b`` (C helper sg_floor_divide).", aliases=("floor_div", "int_div")),
    S("mod", 2, np.remainder, "upcast", "sg_mod(%(i0)s, %(i1)s)",
      "Elementwise remainder ``a % b``, with the sign of ``b`` as in Python (C helper sg_mod).",
      aliases=("remainder",), derivative=lambda T, xs, o: (1, T.neg(T.floor_divide(xs[0], xs[1])))),
    S("power", 2, np.power, "upcast", "sg_pow(%(i0)s, %(i1)s)",
      "Elementwise power ``a ** b`` (the derivative w.r.t. ``b`` needs ``a > 0``).",
      aliases=("pow",), derivative=_d_power),
    S("neg", 1, np.negative, "upcast", "(-%(i0)s)", "Elementwise negation ``-a``.",
      aliases=("negative",), derivative=lambda T, xs, o: (-1,)),
    S("abs", 1, np.absolute, "upcast", "sg_abs(%(i0)s)", "Elementwise absolute value (C helper sg_abs).",
      aliases=("absolute",), derivative=lambda T, xs, o: (T.sign(xs[0]),)),
    S("sign", 1, np.sign, "upcast", "sg_sign(%(i0)s)", "Elementwise sign: -1, 0 or 1 (C helper sg_sign)."),
    S("square", 1, np.square, "upcast", "(%(i0)s * %(i0)s)", "Elementwise square.",
      aliases=("sqr",), derivative=lambda T, xs, o: (T.mul(xs[0], 2),)),
    S("reciprocal", 1, _reciprocal, "float", "(1.0 / (%(o)s)%(i0)s)",
      "Elementwise reciprocal ``1 / a`` (a true division, also for integers).",
      derivative=lambda T, xs, o: (T.neg(T.square(o)),)),
    S("maximum", 2, np.maximum, "upcast", "sg_maximum(%(i0)s, %(i1)s)",
      "Elementwise maximum, propagating NaN (C helper sg_maximum). Ties send the gradient to ``a``.",
      derivative=_d_maximum_minimum),
    S("minimum", 2, np.minimum, "upcast", "sg_minimum(%(i0)s, %(i1)s)",
      "Elementwise minimum, propagating NaN (C helper sg_minimum). Ties send the gradient to ``a``.",
      derivative=_d_maximum_minimum),
    S("clip", 3, np.clip, "upcast", "sg_clip(%(i0)s, %(i1)s, %(i2)s)",
      "Elementwise ``minimum(maximum(x, lo), hi)`` (C helper sg_clip); the gradient goes to ``x`` "
      "where ``lo <= x <= hi``.", derivative=_d_clip),
    S("where", 3, np.where, "switch", "(%(i0)s ? %(i1)s : %(i2)s)",
      "Elementwise choice: ``a`` where ``cond`` is non-zero, else ``b``. No gradient reaches ``cond``.",
      aliases=("switch",), derivative=_d_where),
    S("second", 2, _second, "second", "%(i1)s",
      "``b`` broadcast against ``a`` (its values are ignored, only its shape counts).",
      aliases=("fill",), derivative=lambda T, xs, o: (ZERO, 1)),
)

_TRANSCENDENTAL = (
    S("exp", 1, np.exp, "float", "exp((%(o)s)%(i0)s)", "Elementwise exponential.",
      derivative=lambda T, xs, o: (o,)),
    S("exp2", 1, np.exp2, "float", "exp2((%(o)s)%(i0)s)", "Elementwise ``2 ** a``.",
      derivative=lambda T, xs, o: (T.mul(o, _LN2),)),
    S("expm1", 1, np.expm1, "float", "expm1((%(o)s)%(i0)s)", "Elementwise ``exp(a) - 1``, accurate near 0.",
      derivative=lambda T, xs, o: (T.add(o, 1),)),
    S("log", 1, np.log, "float", "log((%(o)s)%(i0)s)", "Elementwise natural logarithm.",
      derivative=lambda T, xs, o: (T.reciprocal(xs[0]),)),
    S("log2", 1, np.log2, "float", "log2((%(o)s)%(i0)s)", "Elementwise base-2 logarithm.",
      derivative=lambda T, xs, o: (T.reciprocal(T.mul(xs[0], _LN2)),)),
    S("log10", 1, np.log10, "float", "log10((%(o)s)%(i0)s)", "Elementwise base-10 logarithm.",
      derivative=lambda T, xs, o: (T.reciprocal(T.mul(xs[0], _LN10)),)),
    S("log1p", 1, np.log1p, "float", "log1p((%(o)s)%(i0)s)", "Elementwise ``log(1 + a)``, accurate near 0.",
      derivative=lambda T, xs, o: (T.reciprocal(T.add(xs[0], 1)),)),
    S("sqrt", 1, np.sqrt, "float", "sqrt((%(o)s)%(i0)s)", "Elementwise square root.",
      derivative=lambda T, xs, o: (T.true_div(0.5, o),)),
    S("sin", 1, np.sin, "float", "sin((%(o)s)%(i0)s)", "Elementwise sine.",
      derivative=lambda T, xs, o: (T.cos(xs[0]),)),
    S("cos", 1, np.cos, "float", "cos((%(o)s)%(i0)s)", "Elementwise cosine.",
      derivative=lambda T, xs, o: (T.neg(T.sin(xs[0])),)),
    S("tan", 1, np.tan, "float", "tan((%(o)s)%(i0)s)", "Elementwise tangent.",
      derivative=lambda T, xs, o: (T.add(T.square(o), 1),)),
    S("arcsin", 1, np.arcsin, "float", "asin((%(o)s)%(i0)s)", "Elementwise inverse sine.", aliases=("asin",),
      derivative=lambda T, xs, o: (T.reciprocal(T.sqrt(T.sub(1, T.square(xs[0])))),)),
    S("arccos", 1, np.arccos, "float", "acos((%(o)s)%(i0)s)", "Elementwise inverse cosine.", aliases=("acos",),
      derivative=lambda T, xs, o: (T.neg(T.reciprocal(T.sqrt(T.sub(1, T.square(xs[0]))))),)),
    S("arctan", 1, np.arctan, "float", "atan((%(o)s)%(i0)s)", "Elementwise inverse tangent.", aliases=("atan",),
      derivative=lambda T, xs, o: (T.reciprocal(T.add(T.square(xs[0]), 1)),)),
    S("arctan2", 2, np.arctan2, "float", "atan2((%(o)s)%(i0)s, (%(o)s)%(i1)s)",
      "Elementwise angle of the point ``(b, a)``: ``arctan(a / b)`` in the right quadrant.",
      aliases=("atan2",), derivative=_d_arctan2),
    S("sinh", 1, np.sinh, "float", "sinh((%(o)s)%(i0)s)", "Elementwise hyperbolic sine.",
      derivative=lambda T, xs, o: (T.cosh(xs[0]),)),
    S("cosh", 1, np.cosh, "float", "cosh((%(o)s)%(i0)s)", "Elementwise hyperbolic cosine.",
      derivative=lambda T, xs, o: (T.sinh(xs[0]),)),
    S("tanh", 1, np.tanh, "float", "sg_tanh((%(o)s)%(i0)s)", "Elementwise hyperbolic tangent.",
      derivative=lambda T, xs, o: (T.sub(1, T.square(o)),)),
    S("arcsinh", 1, np.arcsinh, "float", "asinh((%(o)s)%(i0)s)", "Elementwise inverse hyperbolic sine.",
      aliases=("asinh",), derivative=lambda T, xs, o: (T.reciprocal(T.sqrt(T.add(T.square(xs[0]), 1))),)),
    S("arccosh", 1, np.arccosh, "float", "acosh((%(o)s)%(i0)s)", "Elementwise inverse hyperbolic cosine.",
      aliases=("acosh",), derivative=lambda T, xs, o: (T.reciprocal(T.sqrt(T.sub(T.square(xs[0]), 1))),)),
    S("arctanh", 1, np.arctanh, "float", "atanh((%(o)s)%(i0)s)", "Elementwise inverse hyperbolic tangent.",
      aliases=("atanh",), derivative=lambda T, xs, o: (T.reciprocal(T.sub(1, T.square(xs[0]))),)),
    S("sigmoid", 1, sps.expit, "float", "sg_sigmoid((%(o)s)%(i0)s)",
      "Elementwise logistic sigmoid ``1 / (1 + exp(-a))`` (C helper sg_sigmoid).", aliases=("expit",),
      derivative=lambda T, xs, o: (T.mul(o, T.sub(1, o)),)),
    S("softplus", 1, _softplus, "float", "sg_softplus((%(o)s)%(i0)s)",
      "Elementwise ``log(1 + exp(a))``, computed without overflow (C helper sg_softplus).",
      derivative=lambda T, xs, o: (T.sigmoid(xs[0]),)),
    S("log1mexp", 1, _log1mexp, "float", "sg_log1mexp((%(o)s)%(i0)s)",
      "Elementwise ``log(1 - exp(a))`` for ``a <= 0``, computed stably (C helper sg_log1mexp).",
      derivative=lambda T, xs, o: (T.neg(T.reciprocal(T.expm1(T.neg(xs[0])))),)),
    S("logaddexp", 2, np.logaddexp, "float", "sg_logaddexp((%(o)s)%(i0)s, (%(o)s)%(i1)s)",
      "Elementwise ``log(exp(a) + exp(b))``, computed without overflow (C helper sg_logaddexp).",
      derivative=lambda T, xs, o: (T.exp(T.sub(xs[0], o)), T.exp(T.sub(xs[1], o)))),
    S("erf", 1, sps.erf, "float", "erf((%(o)s)%(i0)s)", "Elementwise error function.",
      derivative=lambda T, xs, o: (T.mul(T.exp(T.neg(T.square(xs[0]))), _TWO_OVER_SQRT_PI),)),
    S("erfc", 1, sps.erfc, "float", "erfc((%(o)s)%(i0)s)", "Elementwise complementary error function ``1 - erf(a)``.",
      derivative=lambda T, xs, o: (T.mul(T.exp(T.neg(T.square(xs[0]))), -_TWO_OVER_SQRT_PI),)),
    S("erfinv", 1, sps.erfinv, "float", "sg_erfinv((%(o)s)%(i0)s)",
      "Elementwise inverse error function, for ``-1 < a < 1`` (C helper sg_erfinv).",
      derivative=lambda T, xs, o: (T.mul(T.exp(T.square(o)), _SQRT_PI_OVER_TWO),)),
    S("gammaln", 1, sps.gammaln, "float", "sg_gammaln((%(o)s)%(i0)s)",
      "Elementwise log of the absolute value of the gamma function.",
      derivative=lambda T, xs, o: (T.digamma(xs[0]),)),
    S("digamma", 1, sps.psi, "float", "sg_digamma((%(o)s)%(i0)s)",
      "Elementwise digamma function, the derivative of gammaln (C helper sg_digamma).", aliases=("psi",),
      derivative=lambda T, xs, o: (T.polygamma(1, xs[0]),)),
    S("polygamma", 2, _polygamma, "float", "sg_polygamma((%(o)s)%(i0)s, (%(o)s)%(i1)s)",
      "Elementwise ``n``-th derivative of digamma at ``a``, for integer-valued ``n >= 0`` "
      "(C helper sg_polygamma). Not differentiable w.r.t. ``n``.",
      derivative=lambda T, xs, o: (UNDEFINED, T.polygamma(T.add(xs[0], 1), xs[1]))),
)

_PIECEWISE_CONSTANT = (
    S("floor", 1, np.floor, "upcast", "sg_floor(%(i0)s)", "Elementwise floor (integers are unchanged)."),
    S("ceil", 1, np.ceil, "upcast", "sg_ceil(%(i0)s)", "Elementwise ceiling (integers are unchanged)."),
    S("round", 1, _round_half_to_even, "upcast", "sg_rint(%(i0)s)",
      "Elementwise rounding to the nearest integer, halves to even like ``np.round`` "
      "(integers are unchanged).", aliases=("round_half_to_even",)),
)

_BOOLEAN = (
    S("eq", 2, np.equal, "bool", "(%(i0)s == %(i1)s)", "Elementwise ``a == b``.", aliases=("equal",)),
    S("neq", 2, np.not_equal, "bool", "(%(i0)s != %(i1)s)", "Elementwise ``a != b``.", aliases=("not_equal",)),
    S("lt", 2, np.less, "bool", "(%(i0)s < %(i1)s)", "Elementwise ``a < b``.", aliases=("less",)),
    S("le", 2, np.less_equal, "bool", "(%(i0)s <= %(i1)s)", "Elementwise ``a <= b``.", aliases=("less_equal",)),
    S("gt", 2, np.greater, "bool", "(%(i0)s > %(i1)s)", "Elementwise ``a > b``.", aliases=("greater",)),
    S("ge", 2, np.greater_equal, "bool", "(%(i0)s >= %(i1)s)", "Elementwise ``a >= b``.",
      aliases=("greater_equal",)),
    S("logical_and", 2, np.logical_and, "bool", "(%(i0)s && %(i1)s)", "Elementwise logical and (non-zero is true)."),
    S("logical_or", 2, np.logical_or, "bool", "(%(i0)s || %(i1)s)", "Elementwise logical or (non-zero is true)."),
    S("logical_xor", 2, np.logical_xor, "bool", "(!%(i0)s != !%(i1)s)",
      "Elementwise logical exclusive or (non-zero is true)."),
    S("logical_not", 1, np.logical_not, "bool", "(!%(i0)s)", "Elementwise logical not (non-zero is true)."),
    S("isnan", 1, np.isnan, "bool", "isnan((double)%(i0)s)", "Elementwise test for NaN."),
    S("isinf", 1, np.isinf, "bool", "isinf((double)%(i0)s)", "Elementwise test for positive or negative infinity."),
    S("isfinite", 1, np.isfinite, "bool", "isfinite((double)%(i0)s)", "Elementwise test for a finite value."),
    S("bitwise_and", 2, np.bitwise_and, "int_or_bool", "(%(i0)s & %(i1)s)",
      "Elementwise bitwise and of integers or booleans ``a & b``."),
    S("bitwise_or", 2, np.bitwise_or, "int_or_bool", "(%(i0)s | %(i1)s)",
      "Elementwise bitwise or of integers or booleans ``a | b``."),
    S("bitwise_xor", 2, np.bitwise_xor, "int_or_bool", "(%(i0)s ^ %(i1)s)",
      "Elementwise bitwise exclusive or of integers or booleans ``a ^ b``."),
    S("invert", 1, np.invert, "int_or_bool", "sg_invert(%(i0)s)",
      "Elementwise bitwise not ``~a`` of integers, logical not of booleans (C helper sg_invert).",
      aliases=("bitwise_not", "bitwise_invert")),
)

# One cast row per dtype: ``st.cast(x, dtype)`` applies them. Casting to a float passes the
# gradient through (cast back to the input's dtype by Elemwise); to a discrete dtype, zero.
_CASTS = tuple(
    S(cast_op_name(d), 1, _make_cast(d), f"to_{d}", "(%(i0)s != 0)" if d == "bool" else "((%(o)s)%(i0)s)",
      f"Elementwise conversion to {d}.",
      derivative=lambda T, xs, o: (1,), label=f"Cast{{{d}}}", public=False)
    for d in SUPPORTED_DTYPES
)
# fmt: on

SCALAR_OP_TABLE: tuple[ScalarOpSpec, ...] = _ARITHMETIC + _TRANSCENDENTAL + _PIECEWISE_CONSTANT + _BOOLEAN + _CASTS
del S


# --------------------------------------------------------------------------- dtype rules
# Each rule maps the input dtypes to (output dtype, dtypes the inputs are cast to before the
# NumPy function runs; None leaves an input as it is).


def _rule_upcast(spec: ScalarOpSpec, dtypes: tuple[str, ...]):
    out = upcast(*dtypes)
    if isinstance(spec.impl, np.ufunc):
        # NumPy's own loop choice: no bool loop means int8 (bool ** bool) or an error (bool - bool).
        nargs = spec.impl.nin
        out = spec.impl.resolve_dtypes((np.dtype(out),) * nargs + (None,))[-1].name
    return out, (out,) * len(dtypes)


def _rule_float(spec, dtypes):
    out = upgrade_to_float(*dtypes)
    return out, (out,) * len(dtypes)


def _rule_bool(spec, dtypes):
    return "bool", (None,) * len(dtypes)


def _rule_int_or_bool(spec, dtypes):
    out = upcast(*dtypes)
    if out not in ("bool", "int8", "int16", "int32", "int64", "uint8"):
        raise TypeError(
            f"{spec.name} needs integer or boolean inputs, got dtypes {', '.join(dtypes)} "
            f"(cast them first, e.g. st.cast(x, 'int64'))"
        )
    return out, (out,) * len(dtypes)


def _rule_switch(spec, dtypes):
    out = upcast(*dtypes[1:])
    return out, (None, out, out)


def _rule_second(spec, dtypes):
    return dtypes[1], (None, None)


_DTYPE_RULES: dict[str, Callable[..., tuple[str, tuple]]] = {
    "upcast": _rule_upcast,
    "float": _rule_float,
    "bool": _rule_bool,
    "int_or_bool": _rule_int_or_bool,
    "switch": _rule_switch,
    "second": _rule_second,
}
for _d in SUPPORTED_DTYPES:
    _DTYPE_RULES[f"to_{_d}"] = lambda spec, dtypes, _d=_d: (_d, (None,))
del _d

# Inputs whose dtype takes part in promoting weak Python scalars, per rule (default: all).
_PROMOTED_FROM = {"switch": 1, "second": 1}


class ScalarOp(PropsMixin):
    """A scalar operation: a row of :data:`SCALAR_OP_TABLE` with behaviour attached.

    Scalar ops are identified by name (``__props__ = ("name",)``), so two lookups of the
    same row are equal and hash alike, which lets the :class:`~symgraph.tensor.elemwise.Elemwise`
    ops holding them intern. Use :func:`get_scalar_op` (or the module-level names) rather
    than constructing them directly.
    """

    __props__ = ("name",)

    def __init__(self, spec: ScalarOpSpec):
        if spec.dtype_rule not in _DTYPE_RULES:
            raise ValueError(f"scalar op {spec.name!r}: unknown dtype rule {spec.dtype_rule!r}")
        self.spec = spec
        self.name = spec.name
        # input dtypes -> (output dtype, input casts), filled by check_dtypes
        self._checked: dict[tuple[str, ...], tuple[str, tuple]] = {}

    # Convenience accessors so callers need not reach into ``spec``.
    @property
    def nin(self) -> int:
        return self.spec.nin

    @property
    def variadic(self) -> bool:
        return self.spec.nin == VARIADIC

    @property
    def derivative(self):
        """The row's derivative rule (see the module docstring)."""
        return self.spec.derivative

    @property
    def promoted_from(self) -> int:
        """Index of the first input whose dtype takes part in promotion (``where``'s
        condition does not)."""
        return _PROMOTED_FROM.get(self.spec.dtype_rule, 0)

    def check_arity(self, n: int) -> None:
        """Raise ``TypeError`` unless the op accepts ``n`` inputs."""
        if self.variadic:
            if n < 1:
                raise TypeError(f"{self.name} takes at least 1 input, got {n}")
        elif n != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} input{'s' if self.nin != 1 else ''}, got {n}")

    def _resolve(self, dtypes: tuple[str, ...]) -> tuple[str, tuple]:
        try:
            out, casts = _DTYPE_RULES[self.spec.dtype_rule](self.spec, dtypes)
        except TypeError as exc:
            if str(exc).startswith(self.name):
                raise
            raise TypeError(f"{self.name} is not defined for inputs of dtype {', '.join(dtypes)}: {exc}") from None
        if out not in SUPPORTED_DTYPES:  # the rules are designed not to leave the set
            raise TypeError(f"{self.name}: inputs of dtypes {dtypes} would give unsupported dtype {out}")
        return out, casts

    def output_dtype(self, *dtypes: str) -> str:
        """The output dtype for inputs of ``dtypes``, following the row's dtype rule."""
        return self._resolve(tuple(dtypes))[0]

    def input_casts(self, *dtypes: str) -> tuple[str | None, ...]:
        """Per input, the dtype it is converted to before computing (``None``: unchanged)."""
        return self.check_dtypes_and_casts(*dtypes)[1]

    def check_dtypes(self, *dtypes: str) -> str:
        """The output dtype for inputs of ``dtypes``; ``TypeError`` if they are not supported.

        The NumPy function is tried once per dtype combination on empty arrays, so that
        e.g. negating booleans fails when the graph is built rather than when it runs.
        """
        return self.check_dtypes_and_casts(*dtypes)[0]

    def check_dtypes_and_casts(self, *dtypes: str) -> tuple[str, tuple]:
        """``(output dtype, input casts)`` for inputs of ``dtypes``, checked as in :meth:`check_dtypes`."""
        key = tuple(dtypes)
        found = self._checked.get(key)
        if found is None:
            self.check_arity(len(dtypes))
            found = self._resolve(key)
            try:
                with np.errstate(all="ignore"):
                    self.impl(*(np.zeros(0, dtype=d) for d in dtypes))
            except TypeError as exc:
                raise TypeError(f"{self.name} is not defined for inputs of dtype {', '.join(dtypes)}: {exc}") from None
            self._checked[key] = found
        return found

    def impl(self, *values: np.ndarray) -> Any:
        """Apply the NumPy function after converting the inputs as the dtype rule says.

        Most rules compute in the output dtype (which is what the C templates do too); for
        variadic ops this also avoids intermediate overflow when folding inputs of mixed
        dtypes left to right. The result may be a NumPy scalar for 0-d inputs, and may need
        converting to the output dtype (``Elemwise.perform`` does both).
        """
        values = [np.asarray(v) for v in values]
        key = tuple(v.dtype.name for v in values)
        found = self._checked.get(key)
        _, casts = found if found is not None else self._resolve(key)
        values = [v if c is None else v.astype(c, copy=False) for v, c in zip(values, casts)]
        if self.variadic:
            if len(values) == 1:
                # A one-input sum/product is the input itself; copy so the result never
                # aliases the input (Elemwise declares no view_map).
                return np.array(values[0], copy=True)
            return functools.reduce(self.spec.impl, values)
        return self.spec.impl(*values)

    def c_expr(self, inputs: list[str], output_type: str) -> str:
        """The C expression computing this op on the C expressions ``inputs``.

        ``output_type`` is the C type of the result (used by templates that cast).
        """
        self.check_arity(len(inputs))
        template = self.spec.c_template
        if not self.variadic:
            return template % dict({f"i{k}": v for k, v in enumerate(inputs)}, o=output_type)
        if len(inputs) == 1:
            return f"({inputs[0]})"
        expr = inputs[0]
        for nxt in inputs[1:]:
            expr = template % {"i0": expr, "i1": nxt, "o": output_type}
        return expr

    def __reduce__(self):
        # Unpickle to the registered instance: scalar ops are singletons per name.
        return (get_scalar_op, (self.name,))

    def __str__(self) -> str:
        if self.spec.label is not None:
            return self.spec.label
        # "true_div" -> "TrueDiv": the Elemwise prints as its scalar op.
        return "".join(part.capitalize() for part in self.name.split("_"))


_REGISTRY: dict[str, ScalarOp] = {}


def _register(spec: ScalarOpSpec) -> ScalarOp:
    if spec.name in _REGISTRY:
        raise ValueError(f"scalar op {spec.name!r} is defined twice")
    op = ScalarOp(spec)
    _REGISTRY[spec.name] = op
    return op


def get_scalar_op(name: str) -> ScalarOp:
    """The scalar op named ``name`` (e.g. ``"add"``); ``KeyError`` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no scalar op named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_scalar_ops() -> tuple[ScalarOp, ...]:
    """Every scalar op, in table order."""
    return tuple(_REGISTRY.values())


# Module-level names (``scalar_ops.add``, ...) come from the table, so a new row needs no
# other edit here.
for _spec in SCALAR_OP_TABLE:
    globals()[_spec.name] = _register(_spec)
    __all__.append(_spec.name)
del _spec
