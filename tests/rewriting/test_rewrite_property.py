"""Property test: FAST_RUN computes what FAST_COMPILE computes, on random expression graphs.

Hypothesis draws a small program: a few steps, each applying an op (elementwise ops from
the table, reductions, dimshuffles, indexing, inc/set-subtensor, dot, and the patterns the
stabiliser looks for) to earlier values, over three inputs whose shapes broadcast against
each other. Optionally the gradient of the result is added to the outputs, since gradient
graphs are what rewrites see most. ``symgraph.testing.check_rewrite`` compiles the graph in
both modes and compares values and dtypes.

Values stay finite by construction: every step tracks an upper bound of its magnitude and
an op that could overflow (or leave the domain of log) is not drawn, so a legitimate
stabilisation (log(exp(1000)) -> 1000 instead of inf) or a legitimate simplification of NaN
(x - x -> 0) cannot be mistaken for a bug. The tolerance allows for reassociated sums on
magnitudes up to the bound.

The FAST_RUN function is also called on the caller's own arrays (not copies), twice, to check
that no input is modified and that reused output buffers do not change results.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import symgraph
from symgraph.compile.mode import FAST_RUN
import symgraph.tensor as st
from symgraph import function
from symgraph.testing import check_rewrite, symbolic_inputs

# Shapes of the three inputs: chosen so that many pairs broadcast.
SHAPE_SETS = [
    ((3, 4), (4,), (3, 1)),
    ((2, 3), (2, 1), ()),
    ((5,), (5,), (1,)),
    ((2, 3, 2), (3, 2), (2, 1, 1)),
    ((4, 4), (4, 1), (4,)),
]

BOUND = 1e6  # no value's magnitude may exceed this (keeps every value finite and well-scaled)


class Value:
    """A symbolic value with its concrete shape and an upper bound of its magnitude."""

    def __init__(self, var, shape, bound):
        self.var = var
        self.shape = tuple(shape)
        self.bound = float(bound)


def _broadcast(a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        return None


def _size(shape):
    return int(np.prod(shape)) if shape else 1


# Each builder takes (pick, a, b) and returns a Value or None when not applicable. ``a`` and
# ``b`` are drawn from the values built so far; ``pick(options)`` chooses one of a list (through
# hypothesis in the property test, so failures shrink).


def _binary(fn, bound):
    def build(pick, a, b):
        shape = _broadcast(a, b)
        if shape is None:
            return None
        return Value(fn(a.var, b.var), shape, bound(a.bound, b.bound))

    return build


def _unary(fn, bound, ok=lambda a: True):
    def build(pick, a, b):
        if not ok(a):
            return None
        return Value(fn(a.var), a.shape, bound(a.bound))

    return build


def _with_constant(pick, a, b):
    c = pick([0.0, 1.0, -1.0, 2.0, 0.5])
    op = pick(["add", "mul", "sub", "rsub", "div"])
    const = np.float64(c)
    if op == "add":
        return Value(a.var + const, a.shape, a.bound + abs(c))
    if op == "mul":
        return Value(a.var * const, a.shape, a.bound * abs(c))
    if op == "sub":
        return Value(a.var - const, a.shape, a.bound + abs(c))
    if op == "rsub":
        return Value(const - a.var, a.shape, a.bound + abs(c))
    if c == 0.0:
        return None
    return Value(a.var / const, a.shape, a.bound / abs(c))


def _pow(pick, a, b):
    k = pick([1, 2, 3, 4])
    return Value(st.pow(a.var, np.int64(k) if pick([False, True]) else np.float64(k)), a.shape, a.bound**k)


def _where(pick, a, b):
    shape = _broadcast(a, b)
    if shape is None:
        return None
    kind = pick(["compare", "constant"])
    if kind == "compare":
        cond = st.gt(a.var, b.var)
    else:
        cond = st.constant(np.bool_(pick([False, True])))
    return Value(st.where(cond, a.var, b.var), shape, max(a.bound, b.bound))


def _reduce(pick, a, b):
    if not a.shape:
        return None
    kind = pick(["sum", "mean", "max", "min", "prod"])
    axis = pick([None] + list(range(len(a.shape))))
    keepdims = pick([False, True])
    n = _size(a.shape) if axis is None else a.shape[axis]
    bound = {"sum": a.bound * n, "mean": a.bound, "max": a.bound, "min": a.bound, "prod": a.bound**n}[kind]
    var = getattr(st, kind)(a.var, axis=axis, keepdims=keepdims)
    if axis is None:
        shape = (1,) * len(a.shape) if keepdims else ()
    else:
        shape = list(a.shape)
        if keepdims:
            shape[axis] = 1
        else:
            del shape[axis]
    return Value(var, shape, bound)


def _dimshuffle(pick, a, b):
    kind = pick(["transpose", "expand", "double_transpose", "expand_squeeze"])
    if kind in ("transpose", "double_transpose"):
        if len(a.shape) < 2:
            return None
        var = a.var.T if kind == "transpose" else a.var.T.T
        shape = a.shape[::-1] if kind == "transpose" else a.shape
        return Value(var, shape, a.bound)
    if len(a.shape) > 2:
        return None
    expanded = st.expand_dims(a.var, 0)
    if kind == "expand":
        return Value(expanded, (1,) + a.shape, a.bound)
    # a dimshuffle that adds then drops a broadcastable axis: an identity to canonicalise
    return Value(expanded.dimshuffle(*range(1, len(a.shape) + 1)), a.shape, a.bound)


def _index(pick, a, b):
    if not a.shape:
        return None
    kind = pick(["tail", "reverse", "first", "last_column", "inc", "set"])
    probe = np.empty(a.shape)
    if kind == "tail":
        idx = (slice(1, None),)
    elif kind == "reverse":
        idx = (slice(None, None, -1),)
    elif kind == "first":
        idx = (0,)
    elif kind == "last_column":
        if len(a.shape) < 2:
            return None
        idx = (slice(None), -1)
    else:
        idx = (slice(None, 1),)
        part = probe[idx].shape
        try:
            if np.broadcast_shapes(part, b.shape) != part:
                return None
        except ValueError:
            return None
        if kind == "inc":
            return Value(st.inc_subtensor(a.var[idx], b.var), a.shape, a.bound + b.bound)
        return Value(st.set_subtensor(a.var[idx], b.var), a.shape, max(a.bound, b.bound))
    shape = probe[idx].shape
    if _size(shape) == 0:
        return None
    return Value(a.var[idx], shape, a.bound)


def _dot(pick, a, b):
    if not a.shape or not b.shape or len(a.shape) > 2 or len(b.shape) > 2:
        return None
    k = a.shape[-1]
    if (b.shape[0] if len(b.shape) == 1 else b.shape[-2]) != k:
        return None
    shape = np.empty(a.shape).dot(np.empty(b.shape)).shape
    return Value(st.dot(a.var, b.var), shape, a.bound * b.bound * k)


def _shape_scale(pick, a, b):
    # multiply by a length read from another value's shape: shape-of rewrites see it
    if not b.shape:
        return None
    axis = pick(list(range(len(b.shape))))
    return Value(a.var * st.shape(b.var)[axis], a.shape, a.bound * b.shape[axis])


def _alloc_like(pick, a, b):
    shape = _broadcast(a, b)
    if shape is None:
        return None
    if pick([False, True]):
        return Value(st.ones_like(a.var) * b.var, shape, b.bound)
    return Value(st.zeros_like(a.var) + b.var, shape, b.bound)


def _pattern(pick, a, b):
    """The expressions the stabiliser rewrites, on values where they are finite."""
    kind = pick(["log1p", "expm1", "log_sigmoid", "log1m_sigmoid", "logsumexp", "log_softmax", "log_exp", "softmax"])
    x = a.var
    if kind == "log1p":  # log(1 + x) with x >= 0
        return Value(st.log(1 + st.sqr(x)), a.shape, math.log1p(a.bound**2))
    if kind == "expm1":
        if a.bound > 13:
            return None
        return Value(st.exp(x) - 1, a.shape, math.exp(a.bound) + 1)
    if kind == "log_sigmoid":
        return Value(st.log(st.sigmoid(x)), a.shape, a.bound + 1)
    if kind == "log1m_sigmoid":
        return Value(st.log(1 - st.sigmoid(x)), a.shape, a.bound + 1)
    if kind == "log_exp":
        if a.bound > 13:
            return None
        return Value(st.log(st.exp(x)), a.shape, a.bound)
    if not a.shape:
        return None
    if kind == "logsumexp":
        if a.bound > 13:
            return None
        axis = pick(list(range(len(a.shape))))
        shape = a.shape[:axis] + a.shape[axis + 1 :]
        return Value(st.log(st.sum(st.exp(x), axis=axis)), shape, a.bound + math.log(a.shape[axis]) + 1)
    if kind == "log_softmax":
        return Value(st.log(st.softmax(x, axis=-1)), a.shape, 2 * a.bound + math.log(a.shape[-1]) + 1)
    return Value(st.softmax(x, axis=-1), a.shape, 1.0)


OPS = {
    "add": _binary(st.add, lambda p, q: p + q),
    "sub": _binary(st.sub, lambda p, q: p + q),
    "mul": _binary(st.mul, lambda p, q: p * q),
    # dividing by 1 + b**2 keeps the value finite
    "true_div": _binary(lambda p, q: st.true_div(p, 1 + st.sqr(q)), lambda p, q: p),
    "maximum": _binary(st.maximum, max),
    "minimum": _binary(st.minimum, max),
    "exp": _unary(st.exp, math.exp, ok=lambda a: a.bound <= 13),
    "log_abs_1": _unary(lambda x: st.log(st.abs(x) + 1), lambda p: math.log1p(p)),
    "tanh": _unary(st.tanh, lambda p: 1.0),
    "sigmoid": _unary(st.sigmoid, lambda p: 1.0),
    "neg": _unary(st.neg, lambda p: p),
    "neg_neg": _unary(lambda x: st.neg(st.neg(x)), lambda p: p),
    "sqr": _unary(st.sqr, lambda p: p * p),
    "abs": _unary(st.abs, lambda p: p),
    "sqrt_abs": _unary(lambda x: st.sqrt(st.abs(x)), math.sqrt),
    "pow": _pow,
    "constant": _with_constant,
    "where": _where,
    "reduce": _reduce,
    "dimshuffle": _dimshuffle,
    "index": _index,
    "dot": _dot,
    "shape_scale": _shape_scale,
    "alloc_like": _alloc_like,
    "pattern": _pattern,
}


def _build(pick, shapes, seed, steps):
    """Inputs, outputs and input values of a program of ``steps`` random steps."""
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-2.0, 2.0, size=s) for s in shapes]
    inputs = symbolic_inputs(values, names=["x", "y", "z"])
    pool = [Value(v, s, 2.0) for v, s in zip(inputs, shapes)]
    for _ in range(steps):
        for _attempt in range(5):
            name = pick(sorted(OPS))
            # favour recent values (listed first) so graphs get deep, not only wide
            a = pick(pool[::-1])
            b = pick(pool)
            new = OPS[name](pick, a, b)
            if new is not None and new.bound <= BOUND:
                pool.append(new)
                break
    produced = pool[len(inputs) :] or pool[:1]
    outputs = [produced[-1].var]
    if len(produced) > 1 and pick([False, True]):
        outputs.append(pick(produced[:-1]).var)
    if pick([False, True]):
        cost = st.sum(produced[-1].var)
        outputs.extend(symgraph.grad(cost, inputs, disconnected_inputs="ignore"))
    return inputs, outputs, values


def _check(inputs, outputs, values, mode="FAST_RUN"):
    check_rewrite(inputs, outputs, values, rtol=1e-7, atol=1e-7, mode=mode)
    # The caller's arrays themselves (check_rewrite passes copies) must not be modified, and a
    # second call (reusing output buffers) must give the same results.
    f = function(inputs, outputs, on_unused_input="ignore")
    originals = [v.copy() for v in values]
    first = [np.array(r, copy=True) for r in f(*values)]
    second = f(*values)
    for v, o in zip(values, originals):
        np.testing.assert_array_equal(v, o, err_msg="a FAST_RUN function modified its input")
    for r1, r2 in zip(first, second):
        np.testing.assert_array_equal(r1, np.asarray(r2), err_msg="second call differs")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=hst.data())
def test_fast_run_agrees_with_fast_compile_on_random_graphs(data):
    def pick(options):
        return data.draw(hst.sampled_from(options))

    shapes = pick(SHAPE_SETS)
    seed = data.draw(hst.integers(0, 2**31 - 1), label="seed")
    steps = data.draw(hst.integers(1, 8), label="steps")
    _check(*_build(pick, shapes, seed, steps))


def test_every_builder_applies_and_agrees():
    """Each builder with each of its choices at least once, deterministically, so a builder
    that never applies (or a rule it exposes) cannot hide behind the random draw."""
    rng = np.random.default_rng(7)
    for name in sorted(OPS):
        applied = 0
        for trial in range(12):
            shapes = SHAPE_SETS[trial % len(SHAPE_SETS)]
            values = [rng.uniform(-2.0, 2.0, size=s) for s in shapes]
            inputs = symbolic_inputs(values, names=["x", "y", "z"])
            pool = [Value(v, s, 2.0) for v, s in zip(inputs, shapes)]
            choice = np.random.default_rng(trial)

            def pick(options):
                return options[int(choice.integers(len(options)))]

            new = OPS[name](pick, pool[trial % 3], pool[(trial + 1) % 3])
            if new is None or new.bound > BOUND:
                continue
            applied += 1
            outputs = [new.var]
            if trial % 2:
                outputs += symgraph.grad(st.sum(new.var), inputs, disconnected_inputs="ignore")
            # The rewrites are the subject here, so the Python linker runs them (a compiler run
            # per graph would make this the slowest test of the suite); the random graphs of
            # the test above go through the C linker.
            _check(inputs, outputs, values, mode=FAST_RUN.clone(linker="py"))
        assert applied, f"the builder {name!r} never applied"
