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
=================================  =============================================

Semantics kept: integer powers keep NumPy's wrap-around (``x*x*x`` and ``x**3`` agree
modulo 2**bits); negative powers are only rewritten for float results (NumPy rejects
integers to negative integer powers); ``x ** 0`` is 1 even for NaN, as in NumPy. One
documented difference: ``(-inf) ** 0.5`` is ``inf`` but ``sqrt(-inf)`` is NaN (PyTensor makes
the same trade); ``x ** -0.5`` is not rewritten because ``1/sqrt(-0.0)`` is ``-inf``.

Not done, on purpose: a ``Gemv`` op for ``dot(matrix, vector)`` (+ ``beta * y``). Measured
on this machine (NumPy 2.4, scipy's ``dgemv``), ``np.dot(A, x) + y`` and
``dgemv(1, A.T, x, 1, y, trans=1)`` take the same time within noise at 10x10 to 2000x500
(``np.dot`` already calls BLAS gemv; the add is O(m) against gemv's O(mn)), so the op would
only add code.
"""

from __future__ import annotations

import numpy as np

from symgraph.rewriting.basic import RulePass, node_rewriter
from symgraph.rewriting.stabilize import _as_dtype, _is_float, elemwise_node, fit_like, scalar_constant
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.reduction import Reduce

__all__ = ["SPECIALIZE", "local_pow_specialize", "local_mul_self", "local_sqrt_sqr", "local_sum_mul_to_dot"]


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
    from symgraph.tensor.products import Dot

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


SPECIALIZE = RulePass("specialize", [local_pow_specialize, local_mul_self, local_sqrt_sqr, local_sum_mul_to_dot])
