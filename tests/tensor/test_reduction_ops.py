"""Reductions: sum, prod, max, min, all, any, logsumexp, argmax/argmin, mean, var, std and
unbroadcast; values and dtypes against NumPy/SciPy, gradients (first and second order),
R_op, infer_shape, errors and printing."""

import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.reduction import REDUCTIONS, Argmax, Reduce, normalize_axis, unbroadcast
from symgraph.testing import check_op
from symgraph.testing import random_array as _shared_random_array

RNG = np.random.default_rng(1234)
SETTINGS = settings(max_examples=30, deadline=None)

DTYPES = ["float64", "float32", "int8", "int32", "int64", "uint8", "bool"]


def compute(build, *values):
    """Compile ``build(*symbolic inputs)`` and run it on ``values``."""
    sym = [st.tensor(f"x{i}", dtype=v.dtype.name, shape=(None,) * v.ndim) for i, v in enumerate(values)]
    out = build(*sym)
    return sg.function(sym, out)(*values), out



def random_array(shape, dtype, rng=RNG):
    return _shared_random_array(rng, shape, dtype, int_range=(-3, 4))


@hst.composite
def shapes_and_axes(draw, min_side=0, allow_none=True):
    """A shape (rank 0-4, sizes from min_side to 4) and an axis spec valid for it."""
    ndim = draw(hst.integers(0, 4))
    shape = tuple(draw(hst.lists(hst.integers(min_side, 4), min_size=ndim, max_size=ndim)))
    choices = [hst.none()] if allow_none else []
    if ndim:
        choices.append(hst.integers(-ndim, ndim - 1))
        choices.append(
            hst.lists(hst.integers(0, ndim - 1), unique=True, max_size=ndim).map(
                lambda axes: tuple(a - ndim if k % 2 else a for k, a in enumerate(axes))
            )
        )
    axis = draw(hst.one_of(*choices)) if choices else None
    return shape, axis


def np_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


# --------------------------------------------------------------------------- values and dtypes


@SETTINGS
@given(
    kind=hst.sampled_from(["sum", "prod", "max", "min", "all", "any"]),
    dtype=hst.sampled_from(DTYPES),
    shape_axis=shapes_and_axes(),
    keepdims=hst.booleans(),
)
def test_reduction_values_and_dtypes_match_numpy(kind, dtype, shape_axis, keepdims):
    shape, axis = shape_axis
    x = random_array(shape, dtype)
    np_fn = getattr(np, kind)
    try:
        expected = np.asarray(np_fn(x, axis=axis, keepdims=keepdims))
    except ValueError:
        # max/min over an empty axis: no identity, NumPy raises and so do we (at run time).
        with pytest.raises(ValueError, match="empty axis"):
            compute(lambda v: getattr(st, kind)(v, axis=axis, keepdims=keepdims), x)
        return
    value, out = compute(lambda v: getattr(st, kind)(v, axis=axis, keepdims=keepdims), x)
    if kind in ("sum", "prod") and expected.dtype == np.uint64:
        expected = expected.astype("int64")  # uint64 is not supported: int64 (documented)
    assert out.type.dtype == expected.dtype.name
    assert value.dtype == expected.dtype and value.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(value, expected, rtol=1e-5 if dtype == "float32" else 1e-12)
    else:
        np.testing.assert_array_equal(value, expected)


@SETTINGS
@given(dtype=hst.sampled_from(["float64", "float32", "int32", "bool"]), shape_axis=shapes_and_axes(), keepdims=hst.booleans())
def test_logsumexp_matches_scipy(dtype, shape_axis, keepdims):
    shape, axis = shape_axis
    x = random_array(shape, dtype)
    value, out = compute(lambda v: st.logsumexp(v, axis=axis, keepdims=keepdims), x)
    with np.errstate(divide="ignore"):
        # The naive formula is exact enough for these small values and, unlike SciPy,
        # handles 0-d and empty inputs like NumPy reductions do.
        expected = np.log(np.sum(np.exp(x.astype("float64")), axis=axis, keepdims=keepdims))
    assert out.type.dtype == ("float64" if dtype in ("float64", "int32") else "float32")
    assert value.shape == np.shape(expected)
    np.testing.assert_allclose(value, expected, rtol=1e-5 if out.type.dtype == "float32" else 1e-12)


@SETTINGS
@given(
    fn=hst.sampled_from(["mean", "var", "std"]),
    dtype=hst.sampled_from(["float64", "float32", "int16", "int64", "bool"]),
    shape_axis=shapes_and_axes(min_side=1),
    keepdims=hst.booleans(),
    ddof=hst.integers(0, 1),
)
def test_mean_var_std_match_numpy(fn, dtype, shape_axis, keepdims, ddof):
    shape, axis = shape_axis
    x = random_array(shape, dtype)
    kwargs = {"axis": axis, "keepdims": keepdims}
    if fn != "mean":
        kwargs["ddof"] = ddof
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "degrees of freedom <= 0"
        expected = np.asarray(getattr(np, fn)(x, **kwargs))
        value, out = compute(lambda v: getattr(st, fn)(v, **kwargs), x)
    assert value.dtype == expected.dtype and out.type.dtype == expected.dtype.name
    np.testing.assert_allclose(value, expected, rtol=1e-4 if expected.dtype == np.float32 else 1e-10, atol=1e-6)


def test_mean_with_static_and_symbolic_sizes_agree():
    x = RNG.normal(size=(3, 4))
    for shape in [(3, 4), (None, None), (3, None)]:
        xs = st.tensor("x", shape=shape)
        f = sg.function([xs], [st.mean(xs, axis=1), st.var(xs, axis=(0, 1), ddof=1)])
        m, v = f(x)
        np.testing.assert_allclose(m, x.mean(axis=1))
        np.testing.assert_allclose(v, x.var(ddof=1))


def test_empty_mean_is_nan_and_empty_sum_is_identity():
    x = np.zeros((0, 3))
    with np.errstate(invalid="ignore"):
        m, _ = compute(lambda v: st.mean(v, axis=0), x)
    assert np.all(np.isnan(m)) and m.shape == (3,)
    s, _ = compute(lambda v: st.sum(v, axis=0), x)
    p, _ = compute(lambda v: st.prod(v, axis=0), x)
    a, _ = compute(lambda v: st.all(v, axis=0), x)
    lse, _ = compute(lambda v: st.logsumexp(v, axis=0), x)
    np.testing.assert_array_equal(s, np.zeros(3))
    np.testing.assert_array_equal(p, np.ones(3))
    np.testing.assert_array_equal(a, np.ones(3, bool))
    np.testing.assert_array_equal(lse, np.full(3, -np.inf))


@pytest.mark.parametrize("kind", ["sum", "prod"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_explicit_dtype(kind, dtype):
    x = np.arange(1, 7, dtype="int8").reshape(2, 3)
    value, out = compute(lambda v: getattr(st, kind)(v, axis=1, dtype=dtype), x)
    expected = getattr(np, kind)(x, axis=1, dtype=dtype)
    assert out.type.dtype == dtype and value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)
    # The default dtype spelled explicitly is the same op (so nodes are shared).
    v = st.bmatrix("v")
    assert st.sum(v, dtype="int64") is st.sum(v)


@SETTINGS
@given(
    kind=hst.sampled_from(["argmax", "argmin"]),
    dtype=hst.sampled_from(["float64", "int8", "bool"]),
    shape_axis=shapes_and_axes(min_side=1),
    keepdims=hst.booleans(),
)
def test_argmax_argmin_match_numpy(kind, dtype, shape_axis, keepdims):
    shape, axis = shape_axis
    if isinstance(axis, tuple):
        axis = axis[0] if axis else None
    x = random_array(shape, dtype)
    value, out = compute(lambda v: getattr(st, kind)(v, axis=axis, keepdims=keepdims), x)
    expected = getattr(np, kind)(x, axis=axis, keepdims=keepdims)
    assert value.dtype == np.int64 and out.type.dtype == "int64"
    np.testing.assert_array_equal(value, expected)


def test_argmax_ties_take_the_first_and_empty_raises():
    value, _ = compute(lambda v: st.argmax(v, axis=1), np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]))
    np.testing.assert_array_equal(value, [1, 0])
    with pytest.raises(ValueError, match="empty axis"):
        compute(lambda v: st.argmin(v, axis=0), np.zeros((0, 2)))
    with pytest.raises(TypeError, match="None or an int"):
        st.argmax(st.matrix(), axis=(0, 1))


def test_stability_at_large_magnitudes():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    value, _ = compute(lambda v: st.logsumexp(v, axis=1), x)
    np.testing.assert_allclose(value, scipy.special.logsumexp(x, axis=1))
    assert np.all(np.isfinite(value))
    inf_value, _ = compute(lambda v: st.logsumexp(v, axis=1), np.array([[-np.inf, -np.inf], [np.inf, 0.0]]))
    np.testing.assert_array_equal(inf_value, [-np.inf, np.inf])


# --------------------------------------------------------------------------- the op itself


def test_props_hold_normalized_axes_and_nodes_are_shared():
    x = st.tensor3("x")
    assert st.sum(x, axis=(-1, 0)).owner.op == Reduce("sum", (0, 2))
    assert st.sum(x, axis=(2, 0)) is st.sum(x, axis=(0, -1))
    assert st.sum(x).owner.op.axis == (0, 1, 2)
    assert x.sum(axis=1) is st.sum(x, axis=1)
    assert x.max(1, keepdims=True) is st.max(x, axis=1, keepdims=True)
    assert normalize_axis(None, 2) == (0, 1) and normalize_axis([-1], 3) == (2,)
    with pytest.raises(ValueError, match="out of range"):
        st.sum(x, axis=3)
    with pytest.raises(ValueError, match="repeats"):
        st.sum(x, axis=(0, -3))
    with pytest.raises(TypeError, match="ints"):
        st.sum(x, axis=1.0)
    with pytest.raises(ValueError, match="sorted"):
        Reduce("sum", (1, 0))
    with pytest.raises(ValueError, match="unknown reduction"):
        Reduce("median", (0,))


def test_static_shapes_and_str():
    x = st.tensor("x", shape=(2, None, 4))
    assert st.sum(x, axis=1).type.shape == (2, 4)
    assert st.sum(x, axis=1, keepdims=True).type.shape == (2, 1, 4)
    assert st.argmax(x, axis=None, keepdims=True).type.shape == (1, 1, 1)
    assert str(Reduce("sum", (0, 1))) == "Sum{axes=(0, 1)}"
    assert str(Reduce("max", (1,))) == "Max{axis=1}"
    assert str(Reduce("logsumexp", (0,), "float32")) == "LogSumExp{axis=0, dtype=float32}"
    assert str(Argmax("argmin", None)) == "Argmin{axis=None}"
    text = sg.printing.debugprint(st.sum(x, axis=1), file="str")
    assert "Sum{axis=1}" in text


def test_methods_exist_for_every_reduction():
    x = st.matrix("x")
    for name in ["sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "all", "any", "cumsum", "cumprod"]:
        assert callable(getattr(x, name)), name
    value = sg.function([x], [x.mean(axis=0), x.std(ddof=1), x.argmin(axis=1)])(np.array([[1.0, 2.0], [3.0, 0.0]]))
    np.testing.assert_allclose(value[0], [2.0, 1.0])
    np.testing.assert_allclose(value[1], np.std([1.0, 2.0, 3.0, 0.0], ddof=1))
    np.testing.assert_array_equal(value[2], [0, 1])


def test_perform_returns_ndarrays_of_the_declared_dtype():
    x = st.vector("x", dtype="float32")
    for out in [st.sum(x), st.prod(x), st.max(x), st.all(x), st.logsumexp(x), st.argmax(x)]:
        value = sg.function([x], out)(np.ones(3, dtype="float32"))
        assert isinstance(value, np.ndarray) and value.dtype == out.type.numpy_dtype and value.ndim == 0


def test_reduction_table_rows_are_complete():
    assert set(REDUCTIONS) == {"sum", "prod", "max", "min", "all", "any", "logsumexp"}
    for spec in REDUCTIONS.values():
        assert (spec.grad is None) == (spec.rop is None) == (spec.name in ("all", "any"))


# --------------------------------------------------------------------------- unbroadcast


def test_unbroadcast_sums_leading_and_broadcast_dims():
    g = st.tensor("g", shape=(None, None, None))
    like = st.tensor("l", shape=(1, None))
    u = unbroadcast(g, like)
    assert u.type.shape == (1, None) and u.dtype == g.dtype
    a = RNG.normal(size=(2, 3, 4))
    np.testing.assert_allclose(sg.function([g], u)(a), a.sum(axis=(0, 1))[None, :])
    # A TensorType works too, and nothing is summed when the patterns already agree.
    m = st.matrix("m")
    assert unbroadcast(m, st.TensorType("float64", (None, None))) is m
    # Dims where g is statically 1 need no sum either.
    col = st.tensor("c", shape=(None, 1))
    assert unbroadcast(col, st.tensor("k", shape=(None, 1))) is col
    # Integer gradients keep their dtype.
    ig = st.tensor("ig", dtype="int8", shape=(None, None))
    assert unbroadcast(ig, st.tensor("v", shape=(None,))).dtype == "int8"
    with pytest.raises(ValueError, match="fewer dimensions"):
        unbroadcast(st.vector(), st.matrix())


def test_unbroadcast_to_scalar():
    g = st.matrix("g")
    u = unbroadcast(g, st.scalar("s"))
    assert u.ndim == 0
    a = RNG.normal(size=(3, 2))
    np.testing.assert_allclose(sg.function([g], u)(a), a.sum())


# --------------------------------------------------------------------------- gradients, R_op, infer_shape


AXES_3D = [None, 0, -1, (0, 2), (1, -1), (0, 1, 2), ()]


@pytest.mark.parametrize("axis", AXES_3D)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "logsumexp", "mean", "var", "std"])
def test_check_op_float_reductions(kind, axis, keepdims):
    x = RNG.normal(size=(2, 3, 4))
    if kind in ("max", "min"):
        x = RNG.permutation(24).reshape(2, 3, 4) * 0.1 + RNG.uniform(0, 0.01, size=(2, 3, 4))  # no ties
    if kind == "std" and axis == ():
        return  # std over nothing is sqrt(0): not differentiable
    np_fn = {"logsumexp": scipy.special.logsumexp}.get(kind, getattr(np, kind, None))
    check_op(
        lambda v: getattr(st, kind)(v, axis=axis, keepdims=keepdims),
        [x],
        lambda a: np_fn(a, axis=axis, keepdims=keepdims),
    )


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "logsumexp"])
def test_check_op_float32(kind):
    x = RNG.permutation(12).reshape(3, 4).astype("float32") * 0.1 + 0.5
    np_fn = {"logsumexp": scipy.special.logsumexp}.get(kind, getattr(np, kind, None))
    value = check_op(lambda v: getattr(st, kind)(v, axis=1), [x], lambda a: np_fn(a, axis=1))
    assert value.dtype == np.float32


@pytest.mark.parametrize(
    "x",
    [
        np.array([[0.5, 2.0, -1.5], [1.2, -0.7, 3.0]]),  # no zeros
        np.array([[0.0, 2.0, -1.5], [1.2, -0.7, 0.0]]),  # one zero per row
        np.array([[0.0, 0.0, -1.5], [0.0, -0.7, 0.0]]),  # two zeros per row
        np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]]),
    ],
    ids=["no-zeros", "one-zero", "two-zeros", "mixed"],
)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_prod_gradient_with_zeros(x, axis):
    check_op(lambda v: st.prod(v, axis=axis), [x], lambda a: np.prod(a, axis=axis))


def test_prod_gradient_exact_values_at_zeros():
    x = st.vector("x")
    g = sg.function([x], sg.grad(st.prod(x), x))
    np.testing.assert_array_equal(g(np.array([2.0, 0.0, 3.0])), [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(g(np.array([2.0, 0.0, 0.0])), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g(np.array([2.0, 4.0, 3.0])), [12.0, 6.0, 8.0])


def test_max_gradient_goes_to_every_tied_position():
    x = st.matrix("x")
    g = sg.function([x], sg.grad(st.max(x, axis=1).sum(), x))
    np.testing.assert_array_equal(g(np.array([[1.0, 3.0, 3.0], [5.0, 0.0, 1.0]])), [[0, 1, 1], [1, 0, 0]])
    gmin = sg.function([x], sg.grad(st.min(x).sum(), x))
    np.testing.assert_array_equal(gmin(np.array([[1.0, 3.0], [1.0, 2.0]])), [[1, 0], [1, 0]])


def test_max_rop_is_the_one_sided_derivative_at_ties():
    x, v = st.vector("x"), st.vector("v")
    f = sg.function([x, v], sg.Rop(st.max(x), x, v))
    assert f(np.array([1.0, 3.0, 3.0]), np.array([5.0, -1.0, 2.0])) == 2.0
    fmin = sg.function([x, v], sg.Rop(st.min(x), x, v))
    assert fmin(np.array([1.0, 1.0, 3.0]), np.array([5.0, -1.0, 2.0])) == -1.0


@pytest.mark.parametrize("fn", [st.argmax, st.argmin, st.all, st.any])
def test_integer_valued_reductions_have_zero_gradients(fn):
    x = st.matrix("x")
    out = fn(x, axis=0)
    (g,) = out.owner.op.L_op([x], out.owner.outputs, [st.zeros_like(out, dtype="float64")])
    value = sg.function([x], g)(RNG.normal(size=(2, 3)))
    np.testing.assert_array_equal(value, np.zeros((2, 3)))
    cost = st.sum(x) + st.cast(out, "float64").sum()
    np.testing.assert_array_equal(sg.function([x], sg.grad(cost, x))(RNG.normal(size=(2, 3))), np.ones((2, 3)))


def test_integer_input_gets_zero_gradient():
    x = st.lmatrix("x")
    out = st.sum(x)
    (g,) = out.owner.op.L_op([x], [out], [st.ones_like(out)])
    assert sg.function([x], g)(np.ones((2, 2), dtype="int64")).tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("kind", ["argmax", "all"])
def test_integer_valued_shapes_are_inferred(kind):
    x = RNG.normal(size=(3, 2, 4))
    check_op(lambda v: getattr(st, kind)(v, axis=1), [x], lambda a: getattr(np, kind)(a, axis=1))
    check_op(lambda v: getattr(st, kind)(v, axis=None, keepdims=True), [x], lambda a: getattr(np, kind)(a, axis=None, keepdims=True))


@settings(max_examples=15, deadline=None)
@given(shape_axis=shapes_and_axes(min_side=1), kind=hst.sampled_from(["sum", "prod", "logsumexp", "mean", "var"]))
def test_check_op_hypothesis_shapes(shape_axis, kind):
    shape, axis = shape_axis
    x = RNG.uniform(0.5, 1.5, size=shape) * RNG.choice([-1, 1], size=shape)
    np_fn = {"logsumexp": scipy.special.logsumexp}.get(kind, getattr(np, kind, None))
    check_op(lambda v: getattr(st, kind)(v, axis=axis), [x], lambda a: np_fn(a, axis=axis))


# --------------------------------------------------------------------------- second order


@pytest.mark.parametrize(
    "build",
    [
        lambda v: st.sum(v, axis=1) * st.sum(v, axis=1),
        lambda v: st.mean(v, axis=0) ** 2,
        lambda v: st.var(v, axis=1),
        lambda v: st.var(v, axis=None, ddof=1),
        lambda v: st.std(v, axis=0),
        lambda v: st.logsumexp(v, axis=1),
        lambda v: st.logsumexp(v),
        lambda v: st.prod(v, axis=0),
    ],
    ids=["sum", "mean", "var", "var-ddof", "std", "logsumexp", "logsumexp-all", "prod"],
)
def test_second_order_gradients(build):
    x = RNG.uniform(0.5, 1.5, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
    # Differentiating the gradient checks the Hessian against finite differences of it.
    sg.verify_grad(lambda v: sg.grad(st.sum(build(v) * build(v)), v), [x], rng=0)


def test_var_gradient_value():
    x = st.vector("x")
    a = np.array([1.0, 2.0, 4.0, 7.0])
    g = sg.function([x], sg.grad(st.var(x, ddof=1), x))(a)
    np.testing.assert_allclose(g, 2 * (a - a.mean()) / 3)
