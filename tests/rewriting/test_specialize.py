"""Tests of the specialise pass (symgraph/rewriting/specialize.py): each rule's structure
(checked before fusion, which would fold the elementwise results into Composites) and values
against the unrewritten FAST_COMPILE graph, including the cases where a rule must not fire."""

import warnings

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph.compile.function import function
from symgraph.compile.mode import get_mode
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.products import Dot
from symgraph.tensor.reduction import Reduce
from symgraph.testing import check_rewrite as _check_rewrite

UNFUSED = get_mode("FAST_RUN").excluding("fusion", "inplace")
RNG = np.random.default_rng(7)
SPECIAL = np.array([-0.0, 0.0, 1.5, -2.0, np.nan, np.inf, -np.inf, 1e-3])


def check_rewrite(inputs, outputs, values, **kwargs):
    """Structure and values with fusion off, then values through the whole FAST_RUN."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        fg = _check_rewrite(inputs, outputs, values, mode=UNFUSED, **kwargs)
        kwargs.pop("present", None)
        kwargs.pop("absent", None)
        _check_rewrite(inputs, outputs, values, **kwargs)
    return fg


def ew(name):
    return lambda op: isinstance(op, Elemwise) and op.scalar_op.name == name


POWER = ew("power")


@pytest.mark.parametrize(
    "k, present",
    [
        (0, [ew("second")]),
        (1, []),
        (2, [ew("square")]),
        (3, [ew("square"), ew("mul")]),
        (4, [ew("square")]),
        (-1, [ew("reciprocal")]),
        (-2, [ew("square"), ew("reciprocal")]),
        (-3, [ew("square"), ew("mul"), ew("reciprocal")]),
        (-4, [ew("square"), ew("reciprocal")]),
        (0.5, [ew("sqrt")]),
        (2.0, [ew("square")]),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_power_by_small_constants(k, present, dtype):
    x = st.matrix("x", dtype=dtype)
    vals = RNG.uniform(0.1, 3, size=(3, 4)).astype(dtype)
    fg = check_rewrite([x], x**k, [vals], present=present, absent=[POWER])
    assert fg.outputs[0].type == (x**k).type


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, -1, -2, -3, -4])
def test_power_special_values_kept(k):
    # NaN, +-inf, +-0: the products and reciprocals give NumPy's power results exactly.
    x = st.vector("x")
    check_rewrite([x], x**k, [SPECIAL], absent=[POWER])


def test_sqrt_special_values():
    x = st.vector("x")
    vals = SPECIAL[SPECIAL != -np.inf]  # (-inf) ** 0.5 is inf, sqrt(-inf) NaN: documented
    check_rewrite([x], x**0.5, [vals], present=[ew("sqrt")], absent=[POWER])


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_integer_powers_keep_wraparound(dtype):
    x = st.vector("x", dtype=dtype)
    vals = np.array([-128, -3, 0, 2, 100, 127]).astype(dtype)
    for k in (0, 1, 2, 3, 4):
        fg = check_rewrite([x], x**k, [vals], absent=[POWER])
        assert fg.outputs[0].type.dtype == dtype


def test_not_rewritten():
    x = st.vector("x")
    i = st.vector("i", dtype="int32")
    vals = RNG.uniform(0.5, 2, size=5)
    # other exponents, a non-constant exponent, x ** -0.5 (1/sqrt(-0.0) = -inf) and
    # integers to negative powers (NumPy raises) stay powers.
    for expr in (x**5, x**1.5, x**x, x**-0.5):
        check_rewrite([x], expr, [vals], present=[POWER])
    fg = function([i], i**-1, mode=UNFUSED).maker.fgraph
    assert any(POWER(n.op) for n in fg.toposort())
    b = st.vector("b", dtype="bool")
    check_rewrite([b], b**2, [np.array([True, False])], present=[POWER])


def test_power_with_upcasting_constant():
    # float32 ** float64 constant is float64: the base is cast, the dtype kept.
    x = st.vector("x", dtype="float32")
    out = x ** st.constant(np.float64(2.0))
    fg = check_rewrite([x], out, [RNG.uniform(0, 2, 4).astype("float32")], present=[ew("square")], absent=[POWER])
    assert fg.outputs[0].type.dtype == out.type.dtype == "float64"


def test_mul_self_is_square():
    x = st.matrix("x")
    check_rewrite([x], x * x, [RNG.normal(size=(2, 3))], present=[ew("square")], absent=[ew("mul")])


def test_sqrt_of_square_is_abs():
    x = st.vector("x")
    check_rewrite([x], st.sqrt(st.sqr(x)), [SPECIAL], present=[ew("abs")], absent=[ew("sqrt")])
    # where x*x overflows the abs form is right, the unrewritten one is inf
    big = np.array([1e200, -1e200, 1e-200])
    got = function([x], st.sqrt(x**2))(big)
    np.testing.assert_array_equal(got, np.abs(big))


def test_sqrt_of_integer_square_not_rewritten():
    x = st.vector("x", dtype="int8")
    vals = np.array([100, -128, 3], dtype="int8")  # int8 100*100 wraps: sqrt of the wrapped value
    check_rewrite([x], st.sqrt(st.sqr(x)), [vals], present=[ew("sqrt")], rtol=1e-6)


def is_sum(op):
    return isinstance(op, Reduce) and op.kind == "sum"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sum_of_product_is_dot(dtype):
    x, y = st.vector("x", dtype=dtype), st.vector("y", dtype=dtype)
    vals = [RNG.normal(size=50).astype(dtype), RNG.normal(size=50).astype(dtype)]
    check_rewrite([x, y], st.sum(x * y), vals, present=[Dot], absent=[is_sum, ew("mul")], rtol=1e-5 if dtype == "float32" else 1e-12)


def test_sum_of_product_not_rewritten():
    x, y = st.vector("x"), st.vector("y")
    one = st.tensor("one", shape=(1,))
    m = st.matrix("m")
    v = RNG.normal(size=4)
    # a broadcasting operand, three factors, a matrix product, an explicit dtype, integers
    check_rewrite([x, one], st.sum(x * one), [v, np.array([2.0])], absent=[Dot])
    check_rewrite([x, y], st.sum(x * y * x), [v, v], absent=[Dot])
    check_rewrite([m], st.sum(m * m), [RNG.normal(size=(2, 2))], absent=[Dot])
    xf = st.vector("xf", dtype="float32")
    check_rewrite([xf], st.sum(xf * xf * 2, dtype="float64"), [v.astype("float32")], absent=[Dot])
    i, j = st.vector("i", dtype="int8"), st.vector("j", dtype="int8")
    iv = np.array([100, 100, -7], dtype="int8")
    check_rewrite([i, j], st.sum(i * j), [iv, iv], absent=[Dot])


def test_lone_matrix_vector_dot_left_as_dot():
    # A dot with nothing to accumulate into stays a Dot (Gemv would not pay); dot + y becomes
    # a Gemv (tests/rewriting/test_gemv_rewrite.py).
    a, v = st.matrix("a"), st.vector("v")
    check_rewrite([a, v], st.tanh(st.dot(a, v)), [RNG.normal(size=(3, 3)), RNG.normal(size=3)], present=[Dot])
