"""symgraph.tensor.creation: Alloc and the zeros/ones/full family, ARange and Eye; values
and dtypes against NumPy, gradients, R_op, infer_shape and Alloc's constant folding rule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.gradient import NullTypeGradError, grad
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.null_type import DisconnectedType, NullType
from symgraph.tensor.creation import Alloc, ARange, Eye
from symgraph.testing import check_op

from shape_checks import check_shape

RNG = np.random.default_rng(99)
SETTINGS = settings(max_examples=30, deadline=None)


# --------------------------------------------------------------------------- alloc


def test_alloc_values_static_shape_and_copy():
    v = st.vector("v")
    n = st.lscalar("n")
    out = st.alloc(v, n, 3)
    assert out.type.shape == (None, 3) and isinstance(out.owner.op, Alloc)
    a = np.array([1.0, 2.0, 3.0])
    res = sg.function([v, n], out)(a, 2)
    np.testing.assert_array_equal(res, np.broadcast_to(a, (2, 3)))
    assert res.flags.writeable and not np.shares_memory(res, a)
    check_shape(out, [v, n], [a, 2])
    assert st.alloc(0.0, 2, 3).type.shape == (2, 3)
    assert st.alloc(st.tensor("w", shape=(None, 4)), 5, st.lscalar("m")).type.shape == (5, 4)
    # One shape sequence is accepted too.
    assert st.alloc(1.0, (2, 3)).type.shape == (2, 3)


def test_alloc_grad_rop_shape():
    check_op(lambda x: st.alloc(x, 2, 4, 3), [RNG.normal(size=(1, 3))], lambda x: np.broadcast_to(x, (2, 4, 3)))
    check_op(lambda x: st.alloc(x, 3, 2), [RNG.normal(size=(3, 1))], lambda x: np.broadcast_to(x, (3, 2)))
    check_op(lambda x: st.alloc(x, 4), [np.array(1.5)], lambda x: np.full(4, x))
    # Symbolic sizes get disconnected gradients.
    v = st.vector("v")
    n = st.lscalar("n")
    node = st.alloc(v, n, 3).owner
    assert node.op.connection_pattern(node) == [[True], [False], [False]]
    grads = node.op.L_op(node.inputs, node.outputs, [node.outputs[0].type()])
    assert all(isinstance(g.type, DisconnectedType) for g in grads[1:])


def test_alloc_runtime_broadcast_gradient():
    x = st.matrix("x")
    y = st.alloc(x, 4, 3)
    g = sg.function([x], grad((y * np.arange(12.0).reshape(4, 3)).sum(), x))
    np.testing.assert_allclose(g(np.ones((1, 3))), [[18.0, 22.0, 26.0]])


def test_alloc_errors():
    with pytest.raises(ValueError, match="cannot broadcast"):
        st.alloc(st.tensor("x", shape=(2,)), 3)
    with pytest.raises(ValueError, match="more dimensions"):
        st.alloc(st.matrix("x"), 3)
    with pytest.raises(ValueError, match="negative size"):
        st.alloc(1.0, -1)
    with pytest.raises(TypeError, match="integer"):
        st.alloc(1.0, 2.5)
    n = st.lscalar("n")
    v = st.vector("v")
    f = sg.function([v, n], st.alloc(v, n, 3))
    with pytest.raises(ValueError, match=r"alloc: cannot broadcast an array of shape \(2,\) to shape \(1, 3\)"):
        f(np.ones(2), 1)


def test_alloc_do_constant_folding():
    op = Alloc()
    a = st.alloc(1.0, 2, 3)
    # A graph output: not folded (the constant would have to be copied on every call).
    assert op.do_constant_folding(FunctionGraph([], [a], clone=False), a.owner) is False
    # Feeding an elementwise op (it can be lifted through it): not folded.
    x = st.matrix("x")
    assert op.do_constant_folding(FunctionGraph([x], [a + x], clone=False), a.owner) is False
    # Feeding an op it cannot be lifted through: folded.
    r = st.reshape(a, (-1,))
    assert op.do_constant_folding(FunctionGraph([], [r], clone=False), a.owner) is True
    # As the buffer of a set_subtensor: not folded.
    if hasattr(st, "set_subtensor"):
        s = st.set_subtensor(a[0], x[0])
        assert op.do_constant_folding(FunctionGraph([x], [s.sum()], clone=False), a.owner) is False
        s2 = st.set_subtensor(x[0], a[0])
        fg = FunctionGraph([x], [s2], clone=False)
        assert op.do_constant_folding(fg, a.owner) is True


# --------------------------------------------------------------------------- zeros, ones, full


@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_zeros_ones_default_dtype_follows_floatx(name):
    fn = getattr(st, name)
    np_fn = getattr(np, name)
    out = fn((2, 3))
    assert out.dtype == config.floatX == "float64" and out.type.shape == (2, 3)
    np.testing.assert_array_equal(sg.function([], out)(), np_fn((2, 3)))
    with config.change_flags(floatX="float32"):
        assert fn(4).dtype == "float32"
    assert fn(3, dtype="int32").dtype == "int32"
    n = st.lscalar("n")
    res = sg.function([n], fn((n, 2), dtype="int8"))(3)
    assert res.dtype == np.int8 and res.shape == (3, 2)


@pytest.mark.parametrize(
    "fill, dtype",
    [(7, None), (2.5, None), (True, None), (2.5, "int64"), (3, "float32"), (np.float32(1.5), None)],
)
def test_full_matches_numpy(fill, dtype):
    out = sg.function([], st.full((2, 2), fill, dtype))()
    expected = np.full((2, 2), fill, dtype)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


def test_full_with_symbolic_fill_and_shape_vector():
    v = st.scalar("v")
    s = st.lvector("s", shape=(2,))
    out = st.full(s, v)
    res = sg.function([s, v], out)(np.array([2, 3]), 4.0)
    np.testing.assert_array_equal(res, np.full((2, 3), 4.0))
    check_shape(out, [s, v], [np.array([2, 3]), 4.0])
    check_op(lambda x: st.full((3, 2), x), [np.array(0.7)], lambda x: np.full((3, 2), x))
    i = st.iscalar("i")
    assert st.full(2, i, dtype="float64").dtype == "float64"


@pytest.mark.parametrize("name", ["zeros_like", "ones_like"])
def test_like_functions(name):
    fn, np_fn = getattr(st, name), getattr(np, name)
    x = st.tensor("x", dtype="int32", shape=(None, 3))
    out = fn(x)
    assert out.dtype == "int32" and out.type.shape == (None, 3)
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(sg.function([x], out)(a), np_fn(a))
    assert fn(x, dtype="float32").dtype == "float32"
    check_shape(out, [x], [a])


def test_full_like_casts_like_numpy():
    x = st.lvector("x")
    a = np.arange(3)
    out = sg.function([x], st.full_like(x, 2.5))(a)
    np.testing.assert_array_equal(out, np.full_like(a, 2.5))
    assert out.dtype == np.int64
    f = st.vector("f")
    check_op(lambda v: st.full_like(v, 3.0) * v, [RNG.normal(size=4)], lambda v: 3.0 * v)
    # The values of x do not matter to full_like: its gradient w.r.t. x is zero.
    g = sg.function([f], grad((st.full_like(f, 2.0) + f).sum(), f))(np.ones(3))
    np.testing.assert_array_equal(g, np.ones(3))


# --------------------------------------------------------------------------- arange


@SETTINGS
@given(hst.integers(-10, 10), hst.integers(-10, 10), hst.integers(-4, 4).filter(bool))
def test_arange_int_matches_numpy(start, stop, step):
    expected = np.arange(start, stop, step)
    out = st.arange(start, stop, step)
    assert out.dtype == expected.dtype.name and out.type.shape == expected.shape
    np.testing.assert_array_equal(sg.function([], out)(), expected)
    # Symbolic bounds: static shape unknown, infer_shape must get the length right.
    a, b, c = st.lscalar("a"), st.lscalar("b"), st.lscalar("c")
    sym = st.arange(a, b, c)
    assert sym.type.shape == (None,)
    np.testing.assert_array_equal(sg.function([a, b, c], sym)(start, stop, step), expected)
    check_shape(sym, [a, b, c], [start, stop, step])


@SETTINGS
@given(
    hst.floats(-5, 5),
    hst.floats(-5, 5),
    hst.floats(0.1, 2.0),
    hst.booleans(),
)
def test_arange_float_matches_numpy(start, stop, step, negative):
    step = -step if negative else step
    expected = np.arange(start, stop, step)
    out = st.arange(start, stop, step)
    assert out.type.shape == expected.shape
    np.testing.assert_allclose(sg.function([], out)(), expected)
    a, b, c = st.dscalar("a"), st.dscalar("b"), st.dscalar("c")
    sym = st.arange(a, b, c)
    np.testing.assert_allclose(sg.function([a, b, c], sym)(start, stop, step), expected)
    check_shape(sym, [a, b, c], [start, stop, step])


def test_arange_dtypes():
    assert st.arange(5).dtype == "int64"
    assert st.arange(5.0).dtype == config.floatX
    with config.change_flags(floatX="float32"):
        assert st.arange(0.5, 3).dtype == "float32"
    assert st.arange(st.iscalar("n")).dtype == "int32"  # variables keep their dtype
    assert st.arange(st.iscalar("n"), 10.0).dtype == "float64"
    assert st.arange(st.fscalar("x"), 3).dtype == "float32"
    assert st.arange(4, dtype="float32").dtype == "float32"
    out = sg.function([], st.arange(0.5, 3, dtype="int64"))()
    np.testing.assert_array_equal(out, np.arange(0.5, 3, dtype="int64"))
    assert str(st.arange(3).owner.op) == "ARange{int64}"


def test_arange_errors():
    with pytest.raises(ValueError, match="step must not be zero"):
        st.arange(0, 5, 0)
    c = st.lscalar("c")
    f = sg.function([c], st.arange(0, 5, c))
    with pytest.raises(ValueError, match="step must not be zero"):
        f(0)
    with pytest.raises(TypeError, match="scalar"):
        st.arange(st.vector("v"))


def test_arange_grad_and_rop():
    # out[i] = start + i * step: d/dstart sums the output gradient, d/dstep weights it by i.
    check_op(lambda a, c: st.arange(a, 4.0, c), [np.array(0.3), np.array(0.7)], lambda a, c: np.arange(a, 4.0, c))
    check_op(lambda a: st.arange(a, -3.0, -0.5), [np.array(1.1)], lambda a: np.arange(a, -3.0, -0.5))
    node = st.arange(st.dscalar("a"), st.dscalar("b"), 0.5).owner
    assert node.op.connection_pattern(node) == [[True], [False], [True]]


def test_arange_integer_gradient_is_zero():
    a = st.lscalar("a")
    node = st.arange(a, 10).owner
    g_start, g_stop, g_step = node.op.L_op(node.inputs, node.outputs, [node.outputs[0].type()])
    assert isinstance(g_stop.type, DisconnectedType)
    assert g_start.eval() == 0 and g_start.dtype == config.floatX


# --------------------------------------------------------------------------- eye


@SETTINGS
@given(hst.integers(0, 5), hst.one_of(hst.none(), hst.integers(0, 5)), hst.integers(-6, 6))
def test_eye_matches_numpy(n, m, k):
    expected = np.eye(n, m, k)
    out = st.eye(n, m, k)
    assert out.dtype == config.floatX and out.type.shape == expected.shape
    np.testing.assert_array_equal(sg.function([], out)(), expected)
    a, b, c = st.lscalar("a"), st.lscalar("b"), st.lscalar("c")
    sym = st.eye(a, b, c, dtype="int32")
    res = sg.function([a, b, c], sym)(n, expected.shape[1], k)
    assert res.dtype == np.int32
    np.testing.assert_array_equal(res, expected)
    check_shape(sym, [a, b, c], [n, expected.shape[1], k])


def test_eye_identity_errors_and_gradients():
    np.testing.assert_array_equal(sg.function([], st.identity(3, dtype="int8"))(), np.identity(3, dtype=np.int8))
    with pytest.raises(ValueError, match="negative"):
        st.eye(-1)
    n = st.lscalar("n")
    with pytest.raises(ValueError, match="negative"):
        sg.function([n], st.eye(n))(-2)
    node = st.eye(n).owner
    grads = node.op.L_op(node.inputs, node.outputs, [node.outputs[0].type()])
    assert all(isinstance(g.type, NullType) for g in grads)
    assert node.op.R_op(node.inputs, [None, None, None]) == [None]
    assert str(node.op) == "Eye{float64}"
    # Differentiating through eye's values w.r.t. something else works; w.r.t. n it cannot.
    x = st.scalar("x")
    g = sg.function([x, n], grad((st.eye(n) * x).sum(), x))(2.0, 3)
    assert g == 3.0
    assert Eye("int32") == Eye("int32") and ARange("int64") != ARange("int32")
    with pytest.raises((NullTypeGradError, TypeError)):
        grad(st.eye(n).sum(), n)


def test_float32_alloc_and_arange():
    out = check_op(lambda v: st.alloc(v, 2, 3), [RNG.normal(size=(3,)).astype("float32")],
                   lambda v: np.broadcast_to(v, (2, 3)))
    assert out.dtype == np.float32
    out = check_op(lambda a: st.arange(a, 3.0, 0.5), [np.array(0.25, dtype="float32")],
                   lambda a: np.arange(a, 3.0, 0.5).astype("float32"))
    assert out.dtype == np.float32
