"""Pass 4, stabilise: rewrite numerically fragile expressions into stable equivalents.

Each rule replaces a formula that overflows, underflows or cancels where the mathematical
value is finite (``log(sigmoid(-1000))`` is ``-1000``, but ``sigmoid(-1000)`` rounds to 0
and its log to ``-inf``) by an op that computes the same function without the round trip:

=====================================  =========================================
before                                 after
=====================================  =========================================
``log(1 + x)``, ``log(x + 1)``         ``log1p(x)``
``exp(x) - 1``                         ``expm1(x)``
``log(sigmoid(x))``                    ``-softplus(-x)``
``log(1 - sigmoid(x))``                ``-softplus(x)``
``1 - sigmoid(x)``                     ``sigmoid(-x)``
``log(1 + exp(x))``                    ``softplus(x)`` (via ``log1p(exp(x))``)
``log(1 - exp(x))``                    ``log1mexp(x)`` (via ``log1p(-exp(x))``)
``log(sum(exp(x), axis))``             ``logsumexp(x, axis)`` (keepdims too)
``exp(x) / sum(exp(x), axis, keep)``   ``softmax(x, axis)``
``log(softmax(x))``                    ``log_softmax(x)``
``log(exp(x))``                        ``x``
``reciprocal(s) * s * rest``           ``rest`` (``s`` = ``sigmoid(x)`` or ``1 - s``;
                                       the gradients of the log-sigmoid forms)
=====================================  =========================================

``exp(log(x)) -> x`` is deliberately absent: it is wrong (NaN vs ``x``) for ``x < 0``.
The :class:`~symgraph.tensor.reduction.Softmax` op itself already subtracts the maximum
before exponentiating, so "softmax with max subtraction" is the hand-written-softmax rule.

Rules are conservative: they only fire on float results (integer ``1 + x`` may wrap around
where ``log1p`` would not), keep the replaced value's dtype (casting the new input where a
constant had upcast it), and decline (return ``None``) when the replacement's static type
would be less specific than the original's. The shared matching helpers here
(:func:`scalar_constant`, :func:`elemwise_node`, :func:`fit_like`) are also used by
:mod:`symgraph.rewriting.specialize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.graph.basic import Constant, Variable
from symgraph.rewriting.basic import RulePass, node_rewriter
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.reduction import LogSoftmax, Reduce, Softmax, keepdims_order

__all__ = [
    "STABILIZE",
    "scalar_constant",
    "elemwise_node",
    "fit_like",
    "local_log_rules",
    "local_log1p_rules",
    "local_expm1",
    "local_softmax_by_hand",
    "local_mul_sigmoid_reciprocal",
    "local_one_minus_sigmoid",
]

# --------------------------------------------------------------------------- matching helpers


def _st():
    # Imported lazily: symgraph.tensor imports the compile layer indirectly in places, and the
    # rewriting package is imported by the compiler's pass registry.
    import symgraph.tensor as st

    return st


def elemwise_node(var: Any, *names: str):
    """``var``'s owner if it is a (non in-place) Elemwise applying one of the scalar ops
    ``names``, else ``None``."""
    node = getattr(var, "owner", None)
    if node is None or not isinstance(node.op, Elemwise) or node.op.inplace_pattern:
        return None
    return node if node.op.scalar_op.name in names else None


def scalar_constant(var: Any) -> Any:
    """The Python value of ``var`` if it is a one-element constant, possibly seen through
    DimShuffles (Elemwise pads constants with them); else ``None``.

    A one-element operand of an Elemwise never determines the output's shape (all its
    dimensions are statically 1), so dropping it cannot change the output's type.
    """
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        if data.size == 1:
            return data.reshape(()).item()
    return None


def _is_const(var: Any, value: float) -> bool:
    c = scalar_constant(var)
    return c is not None and not isinstance(c, complex) and c == value


def _is_float(var: Variable) -> bool:
    return var.type.dtype in ("float32", "float64")


def fit_like(new: Variable, old: Variable) -> Variable | None:
    """``new`` cast to ``old``'s dtype, or ``None`` when its static type is not at least as
    specific as ``old``'s (the rule then declines rather than fail)."""
    if new.type.dtype != old.type.dtype:
        new = _st().cast(new, old.type.dtype)
    if new.type != old.type and not old.type.is_super(new.type):
        return None
    return new


def _as_dtype(var: Variable, dtype: str) -> Variable:
    return var if var.type.dtype == dtype else _st().cast(var, dtype)


def _negated(var: Variable) -> Variable | None:
    """``y`` when ``var`` is ``-y`` (``neg(y)`` or ``-1 * y``), else ``None``."""
    node = elemwise_node(var, "neg")
    if node is not None:
        return node.inputs[0]
    node = elemwise_node(var, "mul")
    if node is not None and len(node.inputs) == 2:
        a, b = node.inputs
        if _is_const(a, -1) and b.type == var.type:
            return b
        if _is_const(b, -1) and a.type == var.type:
            return a
    return None


def _negate(var: Variable) -> Variable:
    """``-var``, folding a double negation instead of building one."""
    inner = _negated(var)
    return inner if inner is not None else _st().neg(var)


def _one_plus(var: Variable) -> Variable | None:
    """``y`` when ``var`` is ``1 + y`` (an add with a constant-1 term; other terms summed)."""
    node = elemwise_node(var, "add")
    if node is None or not _is_float(var):
        return None
    for k, term in enumerate(node.inputs):
        if _is_const(term, 1):
            rest = node.inputs[:k] + node.inputs[k + 1 :]
            rest_sum = rest[0] if len(rest) == 1 else _st().add(*rest)
            return _as_dtype(rest_sum, var.type.dtype)
    return None


def _one_minus(var: Variable) -> Variable | None:
    """``y`` when ``var`` is ``1 - y`` (``sub(1, y)`` or ``1 + (-y)``)."""
    if not _is_float(var):
        return None
    node = elemwise_node(var, "sub")
    if node is not None and _is_const(node.inputs[0], 1):
        return node.inputs[1]
    rest = _one_plus(var)
    if rest is not None:
        return _negated(rest)
    return None


# --------------------------------------------------------------------------- log rules


def _log_of_sigmoid(ctx, arg: Variable, out: Variable) -> Variable | None:
    """log(sigmoid(x)) -> -softplus(-x); log(1 - sigmoid(x)) -> -softplus(x)."""
    st = _st()
    node = elemwise_node(arg, "sigmoid")
    if node is not None:
        x = _as_dtype(node.inputs[0], out.type.dtype)
        return st.neg(st.softplus(_negate(x)))
    y = _one_minus(arg)
    if y is not None:
        node = elemwise_node(y, "sigmoid")
        if node is not None:
            x = _as_dtype(node.inputs[0], out.type.dtype)
            return st.neg(st.softplus(x))
    return None


def _log_of_sum_exp(ctx, arg: Variable, out: Variable) -> Variable | None:
    """log(sum(exp(x), axis)) -> logsumexp(x, axis), also through keepdims' DimShuffle."""

    shuffle = None
    if arg.owner is not None and isinstance(arg.owner.op, DimShuffle):
        shuffle = arg.owner.op
        arg = arg.owner.inputs[0]
    node = arg.owner
    if node is None or not isinstance(node.op, Reduce) or node.op.kind != "sum" or not node.op.axis:
        return None
    if node.outputs[0].type.dtype != node.inputs[0].type.dtype:
        return None  # a sum with an explicit (different) accumulation dtype
    exp_node = elemwise_node(node.inputs[0], "exp")
    if exp_node is None:
        return None
    x = _as_dtype(exp_node.inputs[0], exp_node.outputs[0].type.dtype)
    result = Reduce("logsumexp", node.op.axis)(x)
    if shuffle is not None:
        result = shuffle(result)
    return result


def _log_of_softmax(ctx, arg: Variable, out: Variable) -> Variable | None:

    node = arg.owner
    if node is not None and type(node.op) is Softmax:
        return LogSoftmax(node.op.axis)(node.inputs[0])
    return None


def _log_of_exp(ctx, arg: Variable, out: Variable) -> Variable | None:
    """log(exp(x)) -> x (exact, NaN and infinities included)."""
    node = elemwise_node(arg, "exp")
    if node is not None:
        return node.inputs[0]
    return None


def _log_of_one_plus(ctx, arg: Variable, out: Variable) -> Variable | None:
    """log(1 + y) -> log1p(y); the log1p rules below then look at y."""
    y = _one_plus(arg)
    if y is not None:
        return _st().log1p(y)
    y = _one_minus(arg)
    if y is not None:
        return _st().log1p(_negate(y))
    return None


_LOG_MATCHERS = (_log_of_sigmoid, _log_of_sum_exp, _log_of_softmax, _log_of_exp, _log_of_one_plus)


@node_rewriter([Elemwise])
def local_log_rules(ctx, node):
    """The ``log(...)`` stabilisations, tried in order (sigmoid forms before the generic
    ``log(1 + y)`` so that ``log(1 - sigmoid(x))`` becomes ``-softplus(x)`` directly)."""
    if node.op.inplace_pattern or node.op.scalar_op.name != "log":
        return None
    (arg,), out = node.inputs, node.outputs[0]
    if not _is_float(out):
        return None
    for matcher in _LOG_MATCHERS:
        new = matcher(ctx, arg, out)
        if new is not None:
            fitted = fit_like(new, out)
            if fitted is not None:
                return [fitted]
    return None


@node_rewriter([Elemwise])
def local_log1p_rules(ctx, node):
    """log1p(exp(x)) -> softplus(x); log1p(-exp(x)) -> log1mexp(x);
    log1p(-sigmoid(x)) -> -softplus(x) (what ``log(1 - sigmoid(x))`` becomes if the
    canonicaliser or the user wrote it as ``log1p``)."""
    if node.op.inplace_pattern or node.op.scalar_op.name != "log1p":
        return None
    (arg,), out = node.inputs, node.outputs[0]
    if not _is_float(out):
        return None
    st = _st()
    new = None
    exp_node = elemwise_node(arg, "exp")
    if exp_node is not None:
        new = st.softplus(_as_dtype(exp_node.inputs[0], out.type.dtype))
    else:
        inner = _negated(arg)
        if inner is not None:
            if elemwise_node(inner, "exp") is not None:
                new = st.log1mexp(_as_dtype(inner.owner.inputs[0], out.type.dtype))
            elif elemwise_node(inner, "sigmoid") is not None:
                new = st.neg(st.softplus(_as_dtype(inner.owner.inputs[0], out.type.dtype)))
    if new is None:
        return None
    fitted = fit_like(new, out)
    return None if fitted is None else [fitted]


# --------------------------------------------------------------------------- expm1


@node_rewriter([Elemwise])
def local_expm1(ctx, node):
    """exp(x) - 1 -> expm1(x), also as ``exp(x) + (-1)`` and with further add terms."""
    if node.op.inplace_pattern or not _is_float(node.outputs[0]):
        return None
    name = node.op.scalar_op.name
    out = node.outputs[0]
    st = _st()
    new = None
    if name == "sub":
        a, b = node.inputs
        e = elemwise_node(a, "exp")
        if e is not None and _is_const(b, 1):
            new = st.expm1(_as_dtype(e.inputs[0], out.type.dtype))
    elif name == "add":
        terms = list(node.inputs)
        minus_one = next((k for k, t in enumerate(terms) if _is_const(t, -1)), None)
        exp_k = next((k for k, t in enumerate(terms) if elemwise_node(t, "exp") is not None), None)
        if minus_one is not None and exp_k is not None:
            em1 = st.expm1(_as_dtype(terms[exp_k].owner.inputs[0], out.type.dtype))
            rest = [t for k, t in enumerate(terms) if k not in (minus_one, exp_k)]
            new = st.add(em1, *rest) if rest else em1
    if new is None:
        return None
    fitted = fit_like(new, out)
    return None if fitted is None else [fitted]


# --------------------------------------------------------------------------- softmax


def _reduced_and_restored(denominator: Variable):
    """``(sum node, axes)`` when ``denominator`` is ``sum(v, axes)`` with exactly those axes put
    back as size-1 dimensions in place (keepdims), else ``None``."""

    if denominator.owner is None or not isinstance(denominator.owner.op, DimShuffle):
        return None
    shuffle = denominator.owner.op
    inner = denominator.owner.inputs[0]
    node = inner.owner
    if node is None or not isinstance(node.op, Reduce) or node.op.kind != "sum":
        return None
    axes = node.op.axis
    if shuffle.new_order != keepdims_order(axes, node.inputs[0].type.ndim):
        return None
    return node, axes


@node_rewriter([Elemwise])
def local_softmax_by_hand(ctx, node):
    """exp(x) / sum(exp(x), axis, keepdims=True) -> softmax(x, axis) (the Softmax op
    subtracts the maximum first, so it neither overflows nor divides inf by inf)."""

    if node.op.inplace_pattern or node.op.scalar_op.name != "true_div":
        return None
    out = node.outputs[0]
    if not _is_float(out):
        return None
    numerator, denominator = node.inputs
    exp_node = elemwise_node(numerator, "exp")
    found = _reduced_and_restored(denominator)
    if exp_node is None or found is None:
        return None
    sum_node, axes = found
    if not axes or sum_node.inputs[0] is not numerator or sum_node.outputs[0].type.dtype != numerator.type.dtype:
        return None
    ndim = numerator.type.ndim
    if axes == tuple(range(ndim)):
        axis = None
    elif len(axes) == 1:
        axis = axes[0]
    else:
        return None  # Softmax normalises over one axis or all of them
    x = _as_dtype(exp_node.inputs[0], numerator.type.dtype)
    fitted = fit_like(Softmax(axis)(x), out)
    return None if fitted is None else [fitted]


# --------------------------------------------------------------------------- sigmoid gradients


def _sigmoid_arg(var: Variable) -> Variable | None:
    """``x`` when ``var`` is ``sigmoid(+-x)`` or ``1 - sigmoid(+-x)``, else ``None``."""
    node = elemwise_node(var, "sigmoid")
    if node is None:
        y = _one_minus(var)
        node = elemwise_node(y, "sigmoid") if y is not None else None
    if node is None:
        return None
    x = node.inputs[0]
    inner = _negated(x)
    return x if inner is None else inner


@node_rewriter([Elemwise])
def local_one_minus_sigmoid(ctx, node):
    """``1 - sigmoid(x)`` -> ``sigmoid(-x)``: exact, without the cancellation of ``1 - s`` for
    large ``x`` (``1 - sigmoid(30)`` loses three digits)."""
    if node.op.inplace_pattern or node.op.scalar_op.name not in ("sub", "add"):
        return None
    out = node.outputs[0]
    y = _one_minus(out) if (node.op.scalar_op.name == "sub" or len(node.inputs) == 2) else None
    sig = elemwise_node(y, "sigmoid") if y is not None else None
    if sig is None:
        return None
    fitted = fit_like(_st().sigmoid(_negate(_as_dtype(sig.inputs[0], out.type.dtype))), out)
    return None if fitted is None else [fitted]


def _flat_factors(var: Variable, dtype: str, depth: int = 3) -> tuple[bool, list[Variable]]:
    """``(negative, factors)`` with ``var == (-1 if negative) * prod(factors)``, looking through
    nested products and negations of the same dtype (the gradient builds ``g * -(a * b)``)."""
    if depth > 0 and var.type.dtype == dtype:
        node = elemwise_node(var, "mul", "neg")
        if node is not None:
            negative, factors = node.op.scalar_op.name == "neg", []
            for inp in node.inputs:
                neg_inner, inner = _flat_factors(inp, dtype, depth - 1)
                negative ^= neg_inner
                factors.extend(inner)
            return negative, factors
    return False, [var]


@node_rewriter([Elemwise])
def local_mul_sigmoid_reciprocal(ctx, node):
    """``reciprocal(f) * f * rest`` -> ``rest`` for ``f = sigmoid(x)`` or ``1 - sigmoid(x)``.

    The gradient of ``log(sigmoid(x))`` is built (before any rewriting) as
    ``g * reciprocal(s) * s * (1 - s)``; at ``x = -1000`` ``s`` underflows to 0 and the product
    is ``inf * 0 = nan`` although the gradient is 1. ``f`` is never 0 mathematically, so the
    pair cancels exactly. The rule only fires when another factor of the product still reads
    a sigmoid of the same ``x`` (``s``, ``1 - s`` or ``sigmoid(-x)``), so a NaN ``x`` still
    gives NaN. Nested products and negations are looked through.
    """
    if node.op.inplace_pattern or node.op.scalar_op.name != "mul":
        return None
    out = node.outputs[0]
    if not _is_float(out):
        return None
    if not any(elemwise_node(i, "reciprocal", "mul", "neg") is not None for i in node.inputs):
        return None  # cheap exit before flattening
    negative, factors = _flat_factors(out, out.type.dtype)
    if len(factors) < 3:
        return None
    for k, factor in enumerate(factors):
        rec = elemwise_node(factor, "reciprocal")
        if rec is None:
            continue
        f = rec.inputs[0]
        x = _sigmoid_arg(f)
        if x is None or f not in factors:
            continue
        j = factors.index(f)
        rest = [t for i, t in enumerate(factors) if i not in (k, j)]
        if not any(_sigmoid_arg(t) is x for t in rest):
            continue
        new = rest[0] if len(rest) == 1 else _st().mul(*rest)
        if negative:
            new = _st().neg(new)
        fitted = fit_like(new, out)
        if fitted is not None:
            return [fitted]
    return None


STABILIZE = RulePass(
    "stabilize",
    [
        local_softmax_by_hand,
        local_one_minus_sigmoid,
        local_log_rules,
        local_log1p_rules,
        local_expm1,
        local_mul_sigmoid_reciprocal,
    ],
)
