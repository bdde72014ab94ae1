"""cumsum and cumprod (CumOp): values and dtypes against NumPy, the reverse mode,
gradients, R_op, infer_shape, errors and printing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.reduction import CumOp
from symgraph.testing import check_op

RNG = np.random.default_rng(7)


def compute(build, x):
    xs = st.tensor("x", dtype=x.dtype.name, shape=(None,) * x.ndim)
    out = build(xs)
    return sg.function([xs], out)(x), out



@hst.composite
def shape_and_axis(draw):
    ndim = draw(hst.integers(0, 3))
    shape = tuple(draw(hst.lists(hst.integers(0, 4), min_size=ndim, max_size=ndim)))
    choices = [hst.none()] + ([hst.integers(-ndim, ndim - 1)] if ndim else [])
    return shape, draw(hst.one_of(*choices))


@settings(max_examples=40, deadline=None)
@given(
    name=hst.sampled_from(["cumsum", "cumprod"]),
    shape_axis=shape_and_axis(),
    dtype=hst.sampled_from(["float64", "float32", "int8", "int32", "uint8", "bool"]),
)
def test_values_and_dtypes_match_numpy(name, shape_axis, dtype):
    shape, axis = shape_axis
    if dtype == "bool":
        x = RNG.random(shape) < 0.5
    elif dtype in ("int8", "int32", "uint8"):
        x = RNG.integers(0, 4, size=shape).astype(dtype)
    else:
        x = RNG.normal(size=shape).astype(dtype)
    value, out = compute(lambda v: getattr(st, name)(v, axis=axis), x)
    expected = getattr(np, name)(x, axis=axis)
    if expected.dtype == np.uint64:
        expected = expected.astype("int64")  # uint64 is not supported (documented)
    assert value.dtype == expected.dtype and out.type.dtype == expected.dtype.name
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("mode,np_fn", [("add", np.cumsum), ("mul", np.cumprod)])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reverse_mode(mode, np_fn, axis):
    x = RNG.normal(size=(3, 4))
    value, _ = compute(lambda v: CumOp(mode, axis, reverse=True)(v), x)
    if axis is None:
        expected = np_fn(x.ravel()[::-1])[::-1]
    else:
        expected = np.flip(np_fn(np.flip(x, axis), axis=axis), axis)
    np.testing.assert_allclose(value, expected)


def test_static_shapes_props_and_str():
    x = st.tensor("x", shape=(2, None))
    assert st.cumsum(x, axis=0).type.shape == (2, None)
    assert st.cumsum(x).type.shape == (None,)
    assert st.cumsum(st.tensor("y", shape=(2, 3))).type.shape == (6,)
    assert st.cumprod(st.scalar("s")).type.shape == (1,)
    assert st.cumsum(x, axis=-1).owner.op == CumOp("add", 1)
    assert x.cumsum(axis=1) is st.cumsum(x, axis=1)
    assert str(CumOp("add", 1)) == "CumSum{axis=1}"
    assert str(CumOp("mul", None, True)) == "CumProd{axis=None, reverse}"
    with pytest.raises(ValueError, match="out of range"):
        st.cumsum(x, axis=2)
    with pytest.raises(ValueError, match="mode"):
        CumOp("max", 0)
    with pytest.raises(ValueError, match="non-negative"):
        CumOp("add", -1)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_check_op(name, axis):
    x = RNG.uniform(0.5, 1.5, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
    check_op(lambda v: getattr(st, name)(v, axis=axis), [x], lambda a: getattr(np, name)(a, axis=axis))


@pytest.mark.parametrize("mode", ["add", "mul"])
@pytest.mark.parametrize("axis", [None, 0, 2])
def test_check_op_reverse_3d(mode, axis):
    x = RNG.uniform(0.5, 1.5, size=(2, 3, 2))
    np_fn = np.cumsum if mode == "add" else np.cumprod
    if axis is None:
        ref = lambda a: np_fn(a.ravel()[::-1])[::-1]  # noqa: E731
    else:
        ref = lambda a: np.flip(np_fn(np.flip(a, axis), axis=axis), axis)  # noqa: E731
    check_op(lambda v: CumOp(mode, axis, reverse=True)(v), [x], ref)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_check_op_float32_and_scalar(name):
    check_op(lambda v: getattr(st, name)(v, axis=0), [RNG.uniform(0.5, 1.5, size=(4, 2)).astype("float32")],
             lambda a: getattr(np, name)(a, axis=0))
    check_op(lambda v: getattr(st, name)(v), [np.array(1.3)], lambda a: getattr(np, name)(a))


def test_cumsum_second_order():
    x = RNG.normal(size=(3, 4))
    sg.verify_grad(lambda v: sg.grad(st.sum(st.cumsum(v, axis=1) ** 2), v), [x], rng=2)
    sg.verify_grad(lambda v: sg.grad(st.sum(st.cumprod(v, axis=0) ** 2), v), [x + 3.0], rng=3)


def test_cumprod_gradient_exact_without_zeros():
    x = st.vector("x")
    a = np.array([2.0, 3.0, 4.0])
    g = sg.function([x], sg.grad(st.sum(st.cumprod(x)), x))(a)
    # d/dx (x0 + x0 x1 + x0 x1 x2)
    np.testing.assert_allclose(g, [1 + 3 + 12, 2 + 8, 6])


def test_integer_input_gradient_is_zero():
    x = st.lvector("x")
    out = st.cumsum(x)
    (g,) = out.owner.op.L_op([x], [out], [st.ones_like(out)])
    np.testing.assert_array_equal(sg.function([x], g)(np.arange(3)), np.zeros(3))
