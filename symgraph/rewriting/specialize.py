"""Pass 5, specialise: replace general ops by cheaper special cases.

=================================  =============================================
before                             after
=================================  =============================================
``x ** 0``                         ``ones`` of ``x``'s shape (``second(x, 1)``)
``x ** 1``                         ``x``
``x ** 2``                         ``sqr(x)``
``x ** 3``                         ``sqr(x) * x``
``x ** 4``                         ``sqr(sqr(x))``
``x ** -k`` (k = 1..4, floats)     ``reciprocal(x ** k as above)``
``x ** 0.5`` (floats)              ``sqrt(x)``
``x * x``                          ``sqr(x)``
``sqrt(sqr(x))`` (floats)          ``abs(x)`` (no overflow of ``x * x``)
``sum(x * y)`` of two vectors      ``dot(x, y)`` (no temporary, one BLAS call)
``y + dot(A, x)`` (A matrix)       ``Gemv(y, 1, A, x, 1)`` (also ``-``, ``c * dot``, ``c * y``)
=================================  =============================================

Semantics kept: integer powers keep NumPy's wrap-around (``x*x*x`` and ``x**3`` agree
modulo 2**bits); negative powers are only rewritten for float results (NumPy rejects
integers to negative integer powers); ``x ** 0`` is 1 even for NaN, as in NumPy. One
documented difference: ``(-inf) ** 0.5`` is ``inf`` but ``sqrt(-inf)`` is NaN (PyTensor makes
the same trade); ``x ** -0.5`` is not rewritten because ``1/sqrt(-0.0)`` is ``-inf``.

``y + dot(A, x)`` (and ``y - dot(A, x)``, ``dot(A, x) - y``, constant scale factors on
either term, more terms in the sum) becomes one :class:`~symgraph.tensor.blas.Gemv` node
(``beta * y + alpha * dot(A, x)`` in one BLAS call, no temporary for ``dot(A, x)``) when the
dot of a float matrix and vector has no other reader; see :data:`local_add_dot_to_gemv`. A
lone ``dot(A, x)`` is left alone: ``np.dot`` already calls BLAS gemv.
"""

from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Variable
from symgraph.rewriting.basic import RulePass, node_rewriter
from symgraph.rewriting.stabilize import _as_dtype, _is_float, elemwise_node, fit_like, scalar_constant
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.reduction import Reduce
from symgraph.tensor.products import Dot

__all__ = ["SPECIALIZE", "local_pow_specialize", "local_mul_self", "local_sqrt_sqr", "local_sum_mul_to_dot", "local_add_dot_to_gemv"]


def _st():
    import symgraph.tensor as st

    return st


def _positive_power(x, k: int):
    """``x ** k`` for k in 1..4 by squaring and multiplying."""
    st = _st()
    if k == 1:
        return x
    if k == 2:
        return st.sqr(x)
    if k == 3:
        return st.mul(st.sqr(x), x)
    return st.sqr(st.sqr(x))  # k == 4


@node_rewriter([Elemwise])
def local_pow_specialize(ctx, node):
    """``x ** k`` for a constant k in {0, +-1, +-2, +-3, +-4, 0.5} -> products, sqrt, reciprocal."""
    if node.op.inplace_pattern or node.op.scalar_op.name != "power":
        return None
    base, exponent = node.inputs
    out = node.outputs[0]
    k = scalar_constant(exponent)
    if k is None or isinstance(k, (bool, complex)) or base.type.dtype == "bool":
        return None
    st = _st()
    x = _as_dtype(base, out.type.dtype)
    floats = _is_float(out)
    if k == 0:
        # The one is built with x's rank so no DimShuffle node (constant folding ran already).
        new = st.second(x, st.constant(np.ones((1,) * x.type.ndim, dtype=out.type.dtype)))
    elif k == 0.5 and floats:
        new = st.sqrt(x)
    elif k == int(k) and 1 <= k <= 4:
        new = _positive_power(x, int(k))
    elif k == int(k) and -4 <= k <= -1 and floats:
        new = st.reciprocal(_positive_power(x, -int(k)))
    else:
        return None
    fitted = fit_like(new, out)
    return None if fitted is None else [fitted]


@node_rewriter([Elemwise])
def local_mul_self(ctx, node):
    """``x * x`` -> ``sqr(x)`` (one read of x; the same single rounding)."""
    if node.op.inplace_pattern or node.op.scalar_op.name != "mul" or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if a is not b or a.type.dtype == "bool":
        return None
    fitted = fit_like(_st().sqr(a), node.outputs[0])
    return None if fitted is None else [fitted]


@node_rewriter([Elemwise])
def local_sqrt_sqr(ctx, node):
    """``sqrt(sqr(x))`` -> ``abs(x)`` for floats: exact where ``x * x`` over- or underflows."""
    if node.op.inplace_pattern or node.op.scalar_op.name != "sqrt":
        return None
    inner = elemwise_node(node.inputs[0], "square")
    out = node.outputs[0]
    if inner is None or not _is_float(out):
        return None
    x = inner.inputs[0]
    if x.type.dtype != out.type.dtype:
        return None  # an integer square (which wraps around) or a widening cast
    fitted = fit_like(_st().abs(x), out)
    return None if fitted is None else [fitted]


@node_rewriter([Reduce])
def local_sum_mul_to_dot(ctx, node):
    """``sum(x * y)`` of two float vectors of equal length -> ``dot(x, y)``."""

    if node.op.kind != "sum" or node.op.axis != (0,):
        return None
    (prod,), out = node.inputs, node.outputs[0]
    mul = elemwise_node(prod, "mul")
    if mul is None or len(mul.inputs) != 2 or prod.type.ndim != 1 or not _is_float(out):
        return None
    if out.type.dtype != prod.type.dtype:
        return None  # an explicit accumulation dtype
    x, y = mul.inputs
    if x.type.dtype != prod.type.dtype or y.type.dtype != prod.type.dtype:
        return None
    if (x.type.shape[0] == 1) != (y.type.shape[0] == 1):
        return None  # one side broadcasts: dot would need equal lengths
    fitted = fit_like(Dot()(x, y), out)
    return None if fitted is None else [fitted]


# --------------------------------------------------------------------------- gemv


def _scaled(ctx, var: Variable):
    """``(c, v)`` when ``var`` is ``c * v`` for a one-element constant ``c`` (``-v`` gives
    ``c = -1``) and the product has no other reader; otherwise ``(1, var)``. The scale is
    then applied by BLAS instead of by a separate elementwise node."""
    if ctx.n_clients(var) == 1:
        neg = elemwise_node(var, "neg")
        if neg is not None and neg.inputs[0].type == var.type:
            return -1.0, neg.inputs[0]
        mul = elemwise_node(var, "mul")
        if mul is not None and len(mul.inputs) == 2:
            for c, v in (mul.inputs, mul.inputs[::-1]):
                k = scalar_constant(c)
                # Only a float constant of the vector's own dtype: an int or wider constant would
                # have changed the product's dtype or rounding (v must already have var's type).
                if k is not None and not isinstance(k, (bool, complex)) and v.type == var.type and c.type.dtype == var.type.dtype:
                    return float(k), v
    return 1.0, var


def _matrix_vector_dot(ctx, var: Variable):
    """``(alpha, A, x)`` when ``var`` is ``alpha * dot(A, x)`` of a float matrix and vector of
    ``var``'s dtype whose product (and scaling) nobody else reads, else ``None``."""

    alpha, inner = _scaled(ctx, var)
    node = inner.owner
    if node is None or not isinstance(node.op, Dot) or ctx.n_clients(inner) != 1:
        return None
    A, x = node.inputs
    dtype = var.type.dtype
    if A.type.ndim != 2 or x.type.ndim != 1 or A.type.dtype != dtype or x.type.dtype != dtype:
        return None
    return alpha, A, x


@node_rewriter([Elemwise])
def local_add_dot_to_gemv(ctx, node):
    """``y + alpha * dot(A, x)`` -> ``Gemv(y, alpha, A, x, beta)`` for float vectors ``y``.

    Applies to ``add`` (any number of terms: one dot term and one vector term are folded, the
    rest stay in the sum) and to two-term ``sub``. ``alpha``/``beta`` come from constant scale
    factors or negations. Conditions: the dot (and any scaling node) has exactly one reader,
    so its result is never needed on its own; everything has the sum's float dtype; and ``y``
    and the dot have the same static broadcast pattern (a length-1 ``y`` broadcasting against
    the dot, or the reverse, is not what Gemv computes).
    """
    op = node.op
    if op.inplace_pattern or op.scalar_op.name not in ("add", "sub"):
        return None
    out = node.outputs[0]
    if out.type.ndim != 1 or not _is_float(out):
        return None
    inputs = list(node.inputs)
    if op.scalar_op.name == "sub" and len(inputs) != 2:
        return None
    for i, term in enumerate(inputs):
        if term.type.dtype != out.type.dtype:
            continue
        found = _matrix_vector_dot(ctx, term)
        if found is None:
            continue
        alpha, A, x = found
        for j, other in enumerate(inputs):
            if j == i or other.type.ndim != 1 or other.type.dtype != out.type.dtype:
                continue
            if (other.type.shape[0] == 1) != (term.type.shape[0] == 1):
                continue
            beta, y = _scaled(ctx, other)
            if op.scalar_op.name == "sub":
                # y - a dot -> (y, -a); a dot - y -> (y, a) with beta negated.
                if i == 1:
                    alpha = -alpha
                else:
                    beta = -beta
            from symgraph.tensor.blas import gemv

            dtype = out.type.dtype
            new = gemv(y, np.asarray(alpha, dtype=dtype), A, x, np.asarray(beta, dtype=dtype))
            rest = [v for k, v in enumerate(inputs) if k not in (i, j)]
            if rest:
                new = _st().add(*rest, new)
            fitted = fit_like(new, out)
            if fitted is not None:
                return [fitted]
    return None


SPECIALIZE = RulePass(
    "specialize", [local_pow_specialize, local_mul_self, local_sqrt_sqr, local_sum_mul_to_dot, local_add_dot_to_gemv]
)
