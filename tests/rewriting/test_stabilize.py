"""Tests of the stabilise pass (symgraph/rewriting/stabilize.py).

Each rule gets (1) a structure-and-values test with ``check_rewrite`` on random moderate
inputs, where the unrewritten graph is accurate, and (2) where the rule is about
overflow/underflow, a test at x = +-1000 showing the unrewritten (FAST_COMPILE) graph gives
inf/-inf/nan while the rewritten (FAST_RUN) one is finite and matches an analytically stable
SciPy/NumPy reference.
"""

import warnings

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

import symgraph.tensor as st
from symgraph.compile.function import function
from symgraph.gradient import grad
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.reduction import LogSoftmax, Reduce, Softmax
from symgraph.compile.mode import get_mode
from symgraph.testing import check_rewrite as _check_rewrite

# Structure is checked before fusion and in-place (fusion folds the rewritten elementwise ops
# into Composites); values are checked both there and in the full FAST_RUN pipeline.
UNFUSED = get_mode("FAST_RUN").excluding("fusion", "inplace")


def check_rewrite(inputs, outputs, values, **kwargs):
    fg = _check_rewrite(inputs, outputs, values, mode=UNFUSED, **kwargs)
    kwargs.pop("present", None)
    kwargs.pop("absent", None)
    _check_rewrite(inputs, outputs, values, **kwargs)
    return fg

RNG = np.random.default_rng(42)
EXTREME = np.array([-1000.0, -30.0, -1.0, 0.0, 0.5, 30.0, 1000.0])


def ew(name):
    """Pattern: an Elemwise applying the scalar op ``name``."""
    return lambda op: isinstance(op, Elemwise) and op.scalar_op.name == name


def reduce_kind(kind):
    return lambda op: isinstance(op, Reduce) and op.kind == kind


def both_modes(inputs, output, values):
    """(FAST_RUN value, FAST_COMPILE value), with NumPy's overflow warnings silenced."""
    fast = function(inputs, output)
    slow = function(inputs, output, mode="FAST_COMPILE")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fast(*values), slow(*values)


def assert_stabilised(got, naive, reference, rtol=1e-12):
    """The rewritten value is finite and right; the naive one was not finite somewhere."""
    reference = np.asarray(reference)
    assert np.all(np.isfinite(reference))
    assert not np.all(np.isfinite(naive)), f"the unrewritten graph was already finite: {naive}"
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, reference, rtol=rtol, atol=1e-300)


def moderate(*shape, low=-3.0, high=3.0, dtype="float64"):
    return RNG.uniform(low, high, size=shape).astype(dtype)


# --------------------------------------------------------------------------- log1p


@pytest.mark.parametrize("build", [lambda x: st.log(1 + x), lambda x: st.log(x + 1)], ids=["1+x", "x+1"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log1p_structure_and_values(build, dtype):
    x = st.matrix("x", dtype=dtype)
    fg = check_rewrite([x], build(x), [moderate(3, 4, low=-0.9, high=3, dtype=dtype)], present=[ew("log1p")], absent=[ew("log"), ew("add")])
    assert fg.outputs[0].type.dtype == dtype


def test_log1p_more_terms():
    x, y = st.vector("x"), st.vector("y")
    check_rewrite([x, y], st.log(x + 1 + y), [moderate(5, low=0, high=1), moderate(5, low=0, high=1)], present=[ew("log1p")], absent=[ew("log")])


def test_log1p_accuracy_near_zero():
    x = st.vector("x")
    vals = np.array([1e-20, -1e-18, 1e-10])
    got, naive = both_modes([x], st.log(1 + x), [vals])
    np.testing.assert_allclose(got, np.log1p(vals), rtol=1e-15)
    assert naive[0] == 0.0  # 1 + 1e-20 rounds to 1


def test_log1p_not_for_integers():
    # int8 1 + 127 wraps to -128 where log1p(127) would not: the rule must not fire.
    x = st.vector("x", dtype="int8")
    check_rewrite([x], st.log(1 + x), [np.array([1, 5, 100], dtype="int8")], present=[ew("log")], absent=[ew("log1p")])


def test_log_one_minus_x():
    x = st.vector("x")
    check_rewrite([x], st.log(1 - x), [moderate(6, low=-2, high=0.9)], present=[ew("log1p")], absent=[ew("log")])


# --------------------------------------------------------------------------- expm1


@pytest.mark.parametrize(
    "build", [lambda x: st.exp(x) - 1, lambda x: st.exp(x) + (-1), lambda x: -1 + st.exp(x)], ids=["sub", "add-1", "-1+"]
)
def test_expm1_structure_and_values(build):
    x = st.matrix("x")
    check_rewrite([x], build(x), [moderate(3, 3)], present=[ew("expm1")], absent=[ew("exp")])


def test_expm1_with_other_terms():
    x, y = st.vector("x"), st.vector("y")
    check_rewrite([x, y], st.exp(x) + y + (-1), [moderate(4), moderate(4)], present=[ew("expm1")], absent=[ew("exp")])


def test_expm1_accuracy_near_zero():
    x = st.vector("x")
    vals = np.array([1e-20, -1e-17, 3e-12])
    got, naive = both_modes([x], st.exp(x) - 1, [vals])
    np.testing.assert_allclose(got, np.expm1(vals), rtol=1e-15)
    assert naive[0] == 0.0


def test_expm1_float32_keeps_dtype():
    x = st.vector("x", dtype="float32")
    fg = check_rewrite([x], st.exp(x) - 1, [moderate(5, dtype="float32")], present=[ew("expm1")])
    assert fg.outputs[0].type.dtype == "float32"


# --------------------------------------------------------------------------- sigmoid


def test_log_sigmoid_structure_and_values():
    x = st.matrix("x")
    check_rewrite([x], st.log(st.sigmoid(x)), [moderate(3, 4, low=-10, high=10)], present=[ew("softplus")], absent=[ew("log"), ew("sigmoid")])


def test_log_sigmoid_stable():
    x = st.vector("x")
    got, naive = both_modes([x], st.log(st.sigmoid(x)), [EXTREME])
    assert_stabilised(got, naive, sps.log_expit(EXTREME))


@pytest.mark.parametrize("build", [lambda x: st.log(1 - st.sigmoid(x)), lambda x: st.log1p(-st.sigmoid(x))], ids=["log(1-s)", "log1p(-s)"])
def test_log_one_minus_sigmoid(build):
    x = st.vector("x")
    check_rewrite([x], build(x), [moderate(7, low=-10, high=10)], present=[ew("softplus")], absent=[ew("log"), ew("log1p"), ew("sigmoid")])
    got, naive = both_modes([x], build(x), [EXTREME])
    assert_stabilised(got, naive, sps.log_expit(-EXTREME))


def test_log_sigmoid_of_integer_input_is_cast_first():
    # neg(int8 -128) wraps to -128; the rule casts to the float output dtype before negating.
    x = st.vector("x", dtype="int8")
    check_rewrite([x], st.log(st.sigmoid(x)), [np.array([-5, 0, 3], dtype="int8")], present=[ew("softplus")], atol=1e-7)
    vals = np.array([-128, 127], dtype="int8")
    got, naive = both_modes([x], st.log(st.sigmoid(x)), [vals])
    assert got.dtype == naive.dtype == np.float32
    np.testing.assert_allclose(got, sps.log_expit(vals.astype("float64")), rtol=1e-6, atol=1e-30)


def test_log_one_plus_exp_is_softplus():
    x = st.vector("x")
    check_rewrite([x], st.log(1 + st.exp(x)), [moderate(6)], present=[ew("softplus")], absent=[ew("log"), ew("exp")])
    got, naive = both_modes([x], st.log(1 + st.exp(x)), [EXTREME])
    assert_stabilised(got, naive, np.logaddexp(0, EXTREME))


def test_log_one_minus_exp_is_log1mexp():
    x = st.vector("x")
    check_rewrite([x], st.log(1 - st.exp(x)), [moderate(6, low=-5, high=-0.01)], present=[ew("log1mexp")], absent=[ew("log"), ew("exp")])
    tiny = np.array([-1e-20, -1e-5, -3.0])
    got, naive = both_modes([x], st.log(1 - st.exp(x)), [tiny])
    assert_stabilised(got, naive, np.log(-np.expm1(tiny)))


# --------------------------------------------------------------------------- logsumexp


@pytest.mark.parametrize("axis", [0, 1, None, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_structure_and_values(axis, keepdims):
    x = st.matrix("x")
    out = st.log(st.sum(st.exp(x), axis=axis, keepdims=keepdims))
    check_rewrite([x], out, [moderate(3, 4)], present=[reduce_kind("logsumexp")], absent=[reduce_kind("sum"), ew("exp"), ew("log")])


def test_logsumexp_stable():
    x = st.matrix("x")
    vals = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -1000.0]])
    got, naive = both_modes([x], st.log(st.sum(st.exp(x), axis=1)), [vals])
    assert_stabilised(got, naive, sps.logsumexp(vals, axis=1))


def test_logsumexp_not_with_explicit_accumulation_dtype():
    x = st.vector("x", dtype="float32")
    out = st.log(st.sum(st.exp(x), dtype="float64"))
    check_rewrite([x], out, [moderate(4, dtype="float32")], present=[ew("log")], absent=[reduce_kind("logsumexp")])


# --------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("axis", [0, 1, None])
def test_softmax_by_hand(axis):
    x = st.matrix("x")
    e = st.exp(x)
    out = e / st.sum(e, axis=axis, keepdims=True)
    check_rewrite([x], out, [moderate(3, 4)], present=[Softmax], absent=[ew("exp"), ew("true_div")])


def test_softmax_by_hand_stable():
    x = st.matrix("x")
    e = st.exp(x)
    vals = np.array([[1000.0, 0.0, -5.0], [-1000.0, -1001.0, -1000.0]])
    got, naive = both_modes([x], e / st.sum(e, axis=1, keepdims=True), [vals])
    assert_stabilised(got, naive, sps.softmax(vals, axis=1))


def test_softmax_op_is_already_stable():
    x = st.matrix("x")
    vals = np.array([[1000.0, 0.0], [-1000.0, -1000.0]])
    got, slow = both_modes([x], st.softmax(x, axis=1), [vals])
    np.testing.assert_allclose(got, sps.softmax(vals, axis=1))
    np.testing.assert_allclose(slow, sps.softmax(vals, axis=1))


def test_softmax_by_hand_not_for_other_patterns():
    x, y = st.matrix("x"), st.matrix("y")
    mixed = st.exp(x) / st.sum(st.exp(y), axis=1, keepdims=True)  # different exponentials
    check_rewrite([x, y], mixed, [moderate(2, 3), moderate(2, 3)], absent=[Softmax])
    t = st.tensor3("t")
    two_axes = st.exp(t) / st.sum(st.exp(t), axis=(1, 2), keepdims=True)  # Softmax takes one axis
    check_rewrite([t], two_axes, [moderate(2, 3, 4)], absent=[Softmax])


@pytest.mark.parametrize("axis", [0, 1, None])
def test_log_softmax(axis):
    x = st.matrix("x")
    check_rewrite([x], st.log(st.softmax(x, axis=axis)), [moderate(3, 4)], present=[LogSoftmax], absent=[Softmax, ew("log")])


def test_log_softmax_stable():
    x = st.matrix("x")
    vals = np.array([[0.0, -1000.0, 3.0], [1000.0, -1000.0, 0.0]])
    got, naive = both_modes([x], st.log(st.softmax(x, axis=1)), [vals])
    assert_stabilised(got, naive, sps.log_softmax(vals, axis=1))


def test_log_of_hand_written_softmax():
    x = st.matrix("x")
    e = st.exp(x)
    out = st.log(e / st.sum(e, axis=1, keepdims=True))
    check_rewrite([x], out, [moderate(3, 4)], present=[LogSoftmax], absent=[ew("log"), ew("exp")])


# --------------------------------------------------------------------------- log(exp(x))


def test_log_exp():
    x = st.matrix("x")
    fg = check_rewrite([x], st.log(st.exp(x)), [moderate(2, 3)], absent=[ew("log"), ew("exp")])
    assert fg.outputs[0] is fg.inputs[0]
    v = st.vector("v")
    got, naive = both_modes([v], st.log(st.exp(v)), [EXTREME])
    assert_stabilised(got, naive, EXTREME)


def test_exp_log_is_not_rewritten():
    # exp(log(x)) is NaN for x < 0, not x: no rule may remove it.
    x = st.vector("x")
    check_rewrite([x], st.exp(st.log(x)), [np.array([-1.0, 0.0, 2.0])], present=[ew("exp"), ew("log")])


# --------------------------------------------------------------------------- gradients and properties


@pytest.mark.parametrize(
    "build, dloss",
    [
        (lambda x: st.log(st.sigmoid(x)), lambda v: sps.expit(-v)),
        (lambda x: st.log(1 - st.sigmoid(x)), lambda v: -sps.expit(v)),
    ],
    ids=["log(s)", "log(1-s)"],
)
def test_gradient_of_log_sigmoid_is_stabilised(build, dloss):
    # The gradient is built from the unrewritten graph: g * reciprocal(s) * s * (1 - s),
    # which is inf * 0 = nan where s underflows; the reciprocal pair must cancel.
    x = st.vector("x")
    loss = st.sum(build(x))
    g = grad(loss, x)
    check_rewrite([x], g, [moderate(5)], absent=[ew("reciprocal")])
    got, naive = both_modes([x], [loss, g], [EXTREME])
    assert np.isfinite(got[0]) and not np.isfinite(naive[0])
    assert not np.all(np.isfinite(naive[1]))
    np.testing.assert_allclose(got[1], dloss(EXTREME), rtol=1e-12, atol=1e-300)
    # A NaN input still gives a NaN gradient (another factor reads the same sigmoid).
    nan_grad = function([x], g)(np.array([np.nan, 0.0]))
    assert np.isnan(nan_grad[0]) and np.isfinite(nan_grad[1])


_UNARY = {
    "log1p_pattern": lambda v: st.log(1 + st.abs(v)),
    "expm1_pattern": lambda v: st.exp(v) - 1,
    "logsig": lambda v: st.log(st.sigmoid(v)),
    "log1msig": lambda v: st.log(1 - st.sigmoid(v)),
    "softplus": lambda v: st.log(1 + st.exp(v)),
    "logexp": lambda v: st.log(st.exp(v)),
    "tanh": st.tanh,
    "neg": lambda v: -v,
    "half": lambda v: v * 0.5,
}
_REDUCING = {
    "lse": lambda v: st.log(st.sum(st.exp(v), axis=1, keepdims=True)),
    "logsm": lambda v: st.log(st.softmax(v, axis=1)),
    "sm": lambda v: st.exp(v) / st.sum(st.exp(v), axis=1, keepdims=True),
}


@settings(max_examples=25, deadline=None)
@given(
    ops=hs.lists(hs.sampled_from(sorted(_UNARY) + sorted(_REDUCING)), min_size=1, max_size=4),
    seed=hs.integers(0, 2**16),
)
def test_random_compositions_match_fast_compile(ops, seed):
    """Random chains of the patterns (and neutral ops) give the same values rewritten or not,
    on inputs small enough for the unrewritten graph to be accurate."""
    x = st.matrix("x")
    out = x
    for name in ops:
        out = {**_UNARY, **_REDUCING}[name](out)
    vals = np.random.default_rng(seed).uniform(-2, 2, size=(3, 4))
    with np.errstate(all="ignore"):
        # The premise: the unrewritten graph is accurate on these inputs. Chained patterns
        # (exp(exp(x) - 1) - 1 ...) can overflow it, where only the rewritten graph is right.
        unrewritten = function([x], out, mode="FAST_COMPILE")(vals)
        assume(np.all(np.isfinite(unrewritten)))
        check_rewrite([x], out, [vals], rtol=1e-8, atol=1e-12)
