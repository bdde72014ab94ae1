"""Python operators on tensor variables: ** // % < <= > >= & | ^ ~ abs(), reflected forms,
NumPy values and dtypes, and astype."""

import itertools
import operator

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.elemwise import Elemwise

BINARY = [
    (operator.pow, "power"), (operator.floordiv, "floor_divide"), (operator.mod, "mod"),
    (operator.lt, "lt"), (operator.le, "le"), (operator.gt, "gt"), (operator.ge, "ge"),
    (operator.and_, "bitwise_and"), (operator.or_, "bitwise_or"), (operator.xor, "bitwise_xor"),
]
# Python reflects comparisons: ``2 < x`` is ``x > 2``.
REFLECTED_COMPARISON = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


@pytest.mark.parametrize("op, name", BINARY, ids=[n for _, n in BINARY])
def test_binary_operators_build_the_right_node(op, name):
    x, y = st.lvector("x"), st.lvector("y")
    z = op(x, y)
    assert z.owner.op == Elemwise(name) and z.owner.inputs == (x, y)
    r = op(2, x)
    if name in REFLECTED_COMPARISON:
        assert r.owner.op == Elemwise(REFLECTED_COMPARISON[name]) and r.owner.inputs[0] is x
    else:
        assert r.owner.op == Elemwise(name) and r.owner.inputs[1] is x
        assert r.owner.inputs[0].owner.inputs[0] is st.constant(2)  # int64, broadcast


def test_unary_operators():
    x = st.lvector("x")
    assert abs(x).owner.op == Elemwise("abs")
    assert (~x).owner.op == Elemwise("invert")
    assert (~st.tensor("b", dtype="bool", shape=(None,))).dtype == "bool"


def test_eq_and_ne_stay_identity():
    x, y = st.vector("x"), st.vector("y")
    assert (x == x) is True and (x == y) is False and (x != y) is True
    assert len({x, y, x}) == 2


@pytest.mark.parametrize("a, b", list(itertools.product(["int8", "uint8", "int64", "float32", "float64", "bool"], repeat=2)))
@pytest.mark.parametrize("op", [operator.pow, operator.floordiv, operator.mod, operator.lt, operator.ge,
                                operator.and_, operator.or_, operator.xor])
def test_operator_dtypes_and_values_match_numpy(a, b, op):
    rng = np.random.default_rng(0)
    xv = np.asarray(rng.integers(1, 4, size=5)).astype(a)
    yv = np.asarray(rng.integers(1, 3, size=5)).astype(b)
    x, y = st.tensor("x", dtype=a, shape=(None,)), st.tensor("y", dtype=b, shape=(None,))
    try:
        expected = op(xv, yv)
    except TypeError:  # NumPy refuses (floats in bitwise ops, bool - ...): so do we, when building
        with pytest.raises(TypeError):
            op(x, y)
        return
    z = op(x, y)
    assert z.dtype == expected.dtype.name
    out = sg.function([x, y], z)(xv, yv)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def test_reflected_with_numpy_arrays_and_scalars():
    x = st.dvector("x")
    xv = np.array([1.0, 2.0, 3.0])
    arr = np.array([2.0, 2.0, 2.0])
    exprs = [arr < x, arr ** x, 2.0 ** x, 7.0 // x, 7.0 % x, 2 <= x, abs(-x), x ** 2, x % 2.0, x // 2]
    assert all(isinstance(e, st.TensorVariable) for e in exprs)
    out = sg.function([x], exprs)(xv)
    expected = [arr < xv, arr ** xv, 2.0 ** xv, 7.0 // xv, 7.0 % xv, 2 <= xv, abs(-xv), xv ** 2, xv % 2.0, xv // 2]
    for o, e in zip(out, expected):
        np.testing.assert_array_equal(o, e)
        assert o.dtype == np.asarray(e).dtype


def test_bitwise_operators_on_booleans_and_ints():
    b = st.tensor("b", dtype="bool", shape=(None,))
    i = st.tensor("i", dtype="int16", shape=(None,))
    bv = np.array([True, False, True])
    iv = np.array([5, -3, 0], dtype="int16")
    exprs = [b & ~b, b | False, b ^ True, i & 3, 6 | i, i ^ i, ~i]
    out = sg.function([b, i], exprs)(bv, iv)
    expected = [bv & ~bv, bv | False, bv ^ True, iv & 3, 6 | iv, iv ^ iv, ~iv]
    for o, e in zip(out, expected):
        assert o.dtype == e.dtype
        np.testing.assert_array_equal(o, e)
    with pytest.raises(TypeError, match="integer or boolean"):
        st.dvector("f") & b
    with pytest.raises(TypeError, match="integer or boolean"):
        ~st.dvector("f")


def test_operators_refuse_unconvertible_operands():
    x = st.lvector("x")
    for op in (operator.pow, operator.floordiv, operator.mod, operator.lt, operator.and_):
        with pytest.raises(TypeError):
            op(x, "abc")
        with pytest.raises(TypeError):
            op(object(), x)


def test_astype():
    x = st.lvector("x")
    assert x.astype("int64") is x
    z = x.astype("float32")
    assert z.dtype == "float32" and str(z.owner.op) == "Cast{float32}"
    out = sg.function([x], [z, x.astype(bool), (x / 2).astype("int8")])(np.array([-3, 0, 5]))
    np.testing.assert_array_equal(out[0], [-3.0, 0.0, 5.0])
    np.testing.assert_array_equal(out[1], [True, False, True])
    np.testing.assert_array_equal(out[2], [-1, 0, 2])  # truncation toward zero, as astype
