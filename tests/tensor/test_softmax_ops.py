"""Softmax and LogSoftmax: values against SciPy, stability, gradients (first and second
order), R_op, infer_shape, errors and printing."""

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.reduction import LogSoftmax, Softmax
from symgraph.testing import check_op

RNG = np.random.default_rng(99)

FUNCS = {"softmax": (st.softmax, scipy.special.softmax), "log_softmax": (st.log_softmax, scipy.special.log_softmax)}


def compute(build, x):
    xs = st.tensor("x", dtype=x.dtype.name, shape=(None,) * x.ndim)
    out = build(xs)
    return sg.function([xs], out)(x), out



@hst.composite
def shape_and_axis(draw):
    ndim = draw(hst.integers(0, 3))
    shape = tuple(draw(hst.lists(hst.integers(1, 4), min_size=ndim, max_size=ndim)))
    choices = [hst.none()] + ([hst.integers(-ndim, ndim - 1)] if ndim else [])
    return shape, draw(hst.one_of(*choices))


@settings(max_examples=40, deadline=None)
@given(name=hst.sampled_from(sorted(FUNCS)), shape_axis=shape_and_axis(), dtype=hst.sampled_from(["float64", "float32"]))
def test_values_match_scipy(name, shape_axis, dtype):
    shape, axis = shape_axis
    fn, ref = FUNCS[name]
    x = (RNG.normal(size=shape) * 5).astype(dtype)
    value, out = compute(lambda v: fn(v, axis=axis), x)
    assert value.dtype == np.dtype(dtype) and out.type.dtype == dtype and value.shape == x.shape
    np.testing.assert_allclose(value, ref(x.astype("float64"), axis=axis), rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_stable_at_large_magnitudes(name):
    fn, ref = FUNCS[name]
    x = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -999.0]])
    value, _ = compute(lambda v: fn(v, axis=1), x)
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, ref(x, axis=1), rtol=1e-12)
    # Over all elements too.
    value_all, _ = compute(lambda v: fn(v, axis=None), x)
    assert np.all(np.isfinite(value_all))
    np.testing.assert_allclose(value_all, ref(x, axis=None), rtol=1e-12)


def test_minus_infinity_entries():
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]])
    sm, _ = compute(lambda v: st.softmax(v), x)
    ls, _ = compute(lambda v: st.log_softmax(v), x)
    np.testing.assert_allclose(sm, scipy.special.softmax(x, axis=-1))
    np.testing.assert_allclose(ls, scipy.special.log_softmax(x, axis=-1))
    assert sm[1].tolist() == [0.0, 0.0, 1.0] and ls[1, 2] == 0.0


def test_integer_input_becomes_float_and_empty_input():
    value, out = compute(lambda v: st.softmax(v), np.array([1, 2, 3], dtype="int64"))
    assert out.dtype == "float64"
    np.testing.assert_allclose(value, scipy.special.softmax([1.0, 2.0, 3.0]))
    assert st.softmax(st.bvector()).dtype == "float32"
    for fn in (st.softmax, st.log_softmax):
        value, _ = compute(lambda v: fn(v, axis=0), np.zeros((0, 3)))
        assert value.shape == (0, 3)


def test_ops_props_and_str():
    x = st.matrix("x")
    assert st.softmax(x).owner.op == Softmax(1)
    assert st.softmax(x, axis=-1) is st.softmax(x, axis=1)
    assert st.log_softmax(x, axis=None).owner.op == LogSoftmax(None)
    assert str(Softmax(1)) == "Softmax{axis=1}" and str(LogSoftmax(None)) == "LogSoftmax{axis=None}"
    with pytest.raises(ValueError, match="out of range"):
        st.softmax(x, axis=2)
    with pytest.raises(ValueError, match="non-negative"):
        Softmax(-1)
    with pytest.raises(TypeError, match="None or an int"):
        st.softmax(x, axis=(0, 1))
    with pytest.raises(ValueError, match="out of range"):
        Softmax(0)(st.scalar())


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_check_op(name, axis):
    fn, ref = FUNCS[name]
    x = RNG.normal(size=(3, 4))
    check_op(lambda v: fn(v, axis=axis), [x], lambda a: ref(a, axis=axis))


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_check_op_float32_and_3d(name):
    fn, ref = FUNCS[name]
    check_op(lambda v: fn(v, axis=1), [RNG.normal(size=(2, 3, 2)).astype("float32")], lambda a: ref(a, axis=1))
    check_op(lambda v: fn(v, axis=None), [RNG.normal(size=(2, 1, 3))], lambda a: ref(a, axis=None))
    check_op(lambda v: fn(v, axis=None), [np.array(0.7)], lambda a: ref(a, axis=None))


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("axis", [None, 1])
def test_second_order(name, axis):
    fn, _ = FUNCS[name]
    x = RNG.normal(size=(2, 3))
    w = RNG.normal(size=(2, 3))
    # The gradient of a nonlinear function of the output, differentiated again: checks
    # the L_op's own gradient (the Hessian) against finite differences.
    sg.verify_grad(lambda v: sg.grad(st.sum(fn(v, axis=axis) ** 2 * w), v), [x], rng=1)
    # And the R_op of the gradient graph (forward over reverse).
    check_op(lambda v: sg.grad(st.sum(fn(v, axis=axis) ** 2 * w), v), [x], grad=False)


def test_gradient_values():
    x = st.vector("x")
    a = np.array([0.3, -1.0, 2.0])
    sm = scipy.special.softmax(a)
    e0 = np.eye(3)[0]
    g = sg.function([x], sg.grad(st.sum(st.softmax(x) * e0), x))(a)
    np.testing.assert_allclose(g, sm[0] * (e0 - sm))  # d sm_0 / dx = sm_0 * (e_0 - sm)
    # The gradient of sum(log_softmax) is 1 - n * softmax.
    g2 = sg.function([x], sg.grad(st.sum(st.log_softmax(x)), x))(a)
    np.testing.assert_allclose(g2, 1 - 3 * sm)
    # Softmax sums to one: the gradient of its sum is zero.
    g3 = sg.function([x], sg.grad(st.sum(st.softmax(x)), x))(a)
    np.testing.assert_allclose(g3, np.zeros(3), atol=1e-15)
