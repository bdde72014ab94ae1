"""st.linalg: inv, det, slogdet, solve, solve_triangular, cholesky, tril/triu. Values and dtypes
against NumPy/SciPy (hypothesis-drawn sizes), gradients (first and second order, including
the one-triangle structure of cholesky and symmetric solves), R_op, infer_shape and errors."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.testing import check_op
from symgraph.tensor import linalg as la

SETTINGS = settings(max_examples=25, deadline=None)


def well_conditioned(n, rng, dtype="float64"):
    """A random matrix far from singular (diagonally dominant)."""
    return (rng.normal(size=(n, n)) + n * np.eye(n)).astype(dtype)


def spd(n, rng, dtype="float64"):
    x = rng.normal(size=(n, n))
    return (x @ x.T + n * np.eye(n)).astype(dtype)


def with_noise_outside(a, lower, rng):
    """``a`` with random values in the triangle a one-triangle routine does not read."""
    noise = rng.normal(size=a.shape)
    return a + (np.triu(noise, 1) if lower else np.tril(noise, -1))


sizes = hst.integers(1, 5)
seeds = hst.integers(0, 2**16)


# --------------------------------------------------------------------------- inv, det, slogdet


@SETTINGS
@given(sizes, seeds)
def test_inv_matches_numpy_with_grad_rop_shape(n, seed):
    rng = np.random.default_rng(seed)
    check_op(la.inv, [well_conditioned(n, rng)], np.linalg.inv)


@SETTINGS
@given(sizes, seeds)
def test_det_matches_numpy_with_grad_rop_shape(n, seed):
    rng = np.random.default_rng(seed)
    check_op(la.det, [well_conditioned(n, rng)], np.linalg.det)


@SETTINGS
@given(sizes, seeds, hst.booleans())
def test_slogdet_matches_numpy_with_grad_rop_shape(n, seed, negate):
    rng = np.random.default_rng(seed)
    a = well_conditioned(n, rng)
    if negate:  # a negative determinant
        a[0] = -a[0]
    check_op(lambda x: la.slogdet(x)[1], [a], lambda x: np.linalg.slogdet(x)[1])
    check_op(lambda x: la.slogdet(x)[0], [a], lambda x: np.linalg.slogdet(x)[0])
    check_op(lambda x: la.slogdet(x)[0] * la.slogdet(x)[1], [a], lambda x: np.prod(np.linalg.slogdet(x)))


def test_slogdet_sign_has_zero_gradient_and_matches_det():
    a = st.matrix("a")
    sign, logabsdet = la.slogdet(a)
    g = sg.grad(sign, a)
    rng = np.random.default_rng(0)
    av = well_conditioned(3, rng)
    np.testing.assert_array_equal(sg.function([a], g)(av), np.zeros((3, 3)))
    got = sg.function([a], sign * st.exp(logabsdet))(av)
    np.testing.assert_allclose(got, np.linalg.det(av))
    assert str(sign.owner.op) == "SlogDet" and sign.owner is logabsdet.owner


@pytest.mark.parametrize("build", [la.inv, la.det, lambda a: la.slogdet(a)[1], lambda a: la.cholesky(a), la.tril])
def test_second_order(build):
    rng = np.random.default_rng(5)
    a = spd(3, rng)

    def first(x):
        z = build(x)
        return sg.grad((z * z).sum(), x)

    sg.verify_grad(first, [a], rng=2)


def test_det_of_empty_matrix_is_one():
    a = st.matrix("a")
    assert sg.function([a], la.det(a))(np.zeros((0, 0))) == 1.0


# --------------------------------------------------------------------------- solve


@SETTINGS
@given(sizes, seeds, hst.sampled_from([None, 1, 3]))
def test_solve_general_matches_scipy_with_grad_rop_shape(n, seed, k):
    rng = np.random.default_rng(seed)
    a = well_conditioned(n, rng)
    b = rng.normal(size=(n,) if k is None else (n, k))
    check_op(la.solve, [a, b], np.linalg.solve)


@SETTINGS
@given(sizes, seeds, hst.sampled_from(["sym", "pos"]), hst.booleans(), hst.booleans())
def test_solve_symmetric_reads_one_triangle(n, seed, assume_a, lower, vector_rhs):
    rng = np.random.default_rng(seed)
    # Noise in the other triangle: the result must ignore it and so must the gradient.
    a = with_noise_outside(spd(n, rng), lower, rng)
    b = rng.normal(size=(n,) if vector_rhs else (n, 2))

    def reference(x, y):
        return scipy.linalg.solve(x, y, assume_a=assume_a, lower=lower)

    check_op(lambda x, y: la.solve(x, y, assume_a=assume_a, lower=lower), [a, b], reference)
    sym = np.tril(a) + np.tril(a, -1).T if lower else np.triu(a) + np.triu(a, 1).T
    np.testing.assert_allclose(reference(a, b), np.linalg.solve(sym, b), rtol=1e-8)


def test_solve_symmetric_gradient_through_symmetric_build():
    rng = np.random.default_rng(3)
    x0, b0 = rng.normal(size=(4, 4)), rng.normal(size=(4, 2))
    for assume_a in ("gen", "sym", "pos"):
        sg.verify_grad(lambda x, b: la.solve(x @ x.T + 4 * np.eye(4), b, assume_a=assume_a), [x0, b0], rng=0)


def test_solve_second_order():
    rng = np.random.default_rng(4)
    a, b = well_conditioned(3, rng), rng.normal(size=(3, 2))

    def first(x, y):
        z = la.solve(x, y)
        return sg.grad((z * z).sum(), x)

    sg.verify_grad(first, [a, b], rng=1)


@SETTINGS
@given(sizes, seeds, hst.booleans(), hst.sampled_from([0, 1, "N", "T"]), hst.booleans())
def test_solve_triangular_matches_scipy_with_grad_rop_shape(n, seed, lower, trans, vector_rhs):
    rng = np.random.default_rng(seed)
    t = with_noise_outside(well_conditioned(n, rng), lower, rng)
    b = rng.normal(size=(n,) if vector_rhs else (n, 3))
    check_op(
        lambda x, y: la.solve_triangular(x, y, lower=lower, trans=trans),
        [t, b],
        lambda x, y: scipy.linalg.solve_triangular(x, y, lower=lower, trans=trans),
    )


def test_solve_printing_and_props():
    a, b = st.matrix("a"), st.vector("b")
    assert str(la.solve(a, b).owner.op) == "Solve"
    assert str(la.solve(a, b, assume_a="pos", lower=True).owner.op) == "Solve{assume_a='pos', lower=True}"
    assert la.Solve("her") == la.Solve("sym")
    assert str(la.solve_triangular(a, b, lower=True).owner.op) == "SolveTriangular{lower=True, transposed=False}"
    assert la.solve(a, b) is la.solve(a, b)


# --------------------------------------------------------------------------- cholesky


@SETTINGS
@given(sizes, seeds, hst.booleans())
def test_cholesky_matches_scipy_with_grad_rop_shape(n, seed, lower):
    rng = np.random.default_rng(seed)
    # The other triangle is noise: Cholesky reads one triangle, its gradient is zero on the other.
    a = with_noise_outside(spd(n, rng), lower, rng)
    check_op(lambda x: la.cholesky(x, lower=lower), [a], lambda x: scipy.linalg.cholesky(x, lower=lower))


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_gradient_on_symmetric_input_built_inside(lower):
    rng = np.random.default_rng(11)
    x0 = rng.normal(size=(4, 4))
    check_op(
        lambda x: la.cholesky(x @ x.T + 4 * np.eye(4), lower=lower),
        [x0],
        lambda x: scipy.linalg.cholesky(x @ x.T + 4 * np.eye(4), lower=lower),
    )


def test_cholesky_reconstructs_and_defaults_to_lower():
    a = st.matrix("a")
    chol = la.cholesky(a)
    assert str(chol.owner.op) == "Cholesky{lower=True}"
    rng = np.random.default_rng(1)
    av = spd(4, rng)
    lv = sg.function([a], chol)(av)
    np.testing.assert_allclose(lv @ lv.T, av)
    assert np.all(np.triu(lv, 1) == 0)


# --------------------------------------------------------------------------- tril / triu


@SETTINGS
@given(
    hst.lists(hst.integers(1, 4), min_size=2, max_size=4).map(tuple),
    hst.integers(-3, 3),
    hst.booleans(),
    seeds,
)
def test_tril_triu_match_numpy_with_grad_rop_shape(shape, k, lower, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    fn, ref = (la.tril, np.tril) if lower else (la.triu, np.triu)
    check_op(lambda v: fn(v, k), [x], lambda v: ref(v, k))


def test_tril_keeps_dtype_and_rejects_vectors():
    check_op(la.tril, [np.arange(9, dtype="int32").reshape(3, 3)], np.tril)
    assert str(la.Tri(False, -1)) == "Triu{k=-1}"
    with pytest.raises(TypeError, match="rank >= 2"):
        la.tril(st.vector("v"))
    with pytest.raises(TypeError, match="k must be an int"):
        la.tril(st.matrix("m"), 1.5)


# --------------------------------------------------------------------------- dtypes and errors


@pytest.mark.parametrize(
    "dtype, out_dtype", [("float32", "float32"), ("float64", "float64"), ("int32", "float64"), ("int8", "float64")]
)
def test_dtypes_follow_numpy(dtype, out_dtype):
    rng = np.random.default_rng(2)
    a = (3 * np.eye(3) + np.triu(np.ones((3, 3)))).astype(dtype)
    b = np.ones((3, 2), dtype=dtype)
    cases = [
        (la.inv, np.linalg.inv, [a]),
        (la.det, np.linalg.det, [a]),
        (lambda x: la.slogdet(x)[1], lambda x: np.linalg.slogdet(x.astype(out_dtype))[1], [a]),
        (la.solve, np.linalg.solve, [a, b]),
        (lambda x, y: la.solve_triangular(x, y), scipy.linalg.solve_triangular, [a, b]),
        (la.cholesky, lambda x: np.linalg.cholesky(x.astype(out_dtype)), [(a @ a.T).astype(dtype)]),
    ]
    for build, ref, values in cases:
        sym = [st.tensor(f"x{i}", dtype=dtype, shape=(None, None)) for i in range(len(values))]
        out = build(*sym)
        assert out.dtype == out_dtype
        got = sg.function(sym, out)(*values)
        assert got.dtype == out_dtype
        rtol = 1e-4 if out_dtype == "float32" else 1e-10
        np.testing.assert_allclose(got, np.asarray(ref(*values), dtype=out_dtype), rtol=rtol)
    if dtype == "float32":
        x = rng.normal(size=(3, 3)).astype("float32") + 3 * np.eye(3, dtype="float32")
        check_op(la.inv, [x], np.linalg.inv)


def test_build_time_errors():
    v, t = st.vector("v"), st.tensor3("t")
    rect = st.matrix("r", shape=(2, 3))
    for fn in (la.inv, la.det, la.slogdet, la.cholesky):
        with pytest.raises(TypeError, match="2-d matrix"):
            fn(v)
        with pytest.raises(TypeError, match="batched inputs are not supported"):
            fn(t)
        with pytest.raises(ValueError, match=r"must be square, got static shape \(2, 3\)"):
            fn(rect)
    sq = st.matrix("s", shape=(3, 3))
    with pytest.raises(ValueError, match="sizes 3 and 4 differ"):
        la.solve(sq, st.vector("b", shape=(4,)))
    with pytest.raises(ValueError, match="sizes 3 and 2 differ"):
        la.solve_triangular(sq, st.matrix("b", shape=(2, 5)))
    with pytest.raises(TypeError, match="right-hand side must be 1-d or 2-d"):
        la.solve(sq, t)
    with pytest.raises(ValueError, match="assume_a must be one of"):
        la.solve(sq, v, assume_a="banded")
    with pytest.raises(ValueError, match="trans must be"):
        la.solve_triangular(sq, v, trans=3)


def test_run_time_errors():
    a, b = st.matrix("a"), st.matrix("b")
    inv_f = sg.function([a], la.inv(a))
    with pytest.raises(ValueError, match=r"MatrixInverse: the matrix must be square, got shape \(2, 3\)"):
        inv_f(np.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="MatrixInverse: .*singular"):
        inv_f(np.zeros((2, 2)))
    chol_f = sg.function([a], la.cholesky(a))
    with pytest.raises(np.linalg.LinAlgError, match="Cholesky.*positive definite"):
        chol_f(-np.eye(2))
    assert issubclass(np.linalg.LinAlgError, ValueError)
    solve_f = sg.function([a, b], la.solve(a, b))
    with pytest.raises(ValueError, match=r"shape \(3, 3\) cannot solve a right-hand side of shape \(2, 1\)"):
        solve_f(np.eye(3), np.ones((2, 1)))
    det_f = sg.function([a], la.det(a))
    with pytest.raises(ValueError, match="must be square"):
        det_f(np.ones((3, 2)))


def test_inputs_are_not_modified():
    a, b = st.matrix("a"), st.matrix("b")
    f = sg.function([a, b], [la.solve(a, b), la.inv(a), la.cholesky(a), la.det(a), la.solve_triangular(a, b)])
    rng = np.random.default_rng(9)
    av, bv = spd(3, rng), rng.normal(size=(3, 2))
    keep_a, keep_b = av.copy(), bv.copy()
    f(av, bv)
    np.testing.assert_array_equal(av, keep_a)
    np.testing.assert_array_equal(bv, keep_b)


def test_slogdet_gradient_with_only_the_sign_connected():
    from symgraph.graph.null_type import disconnected_type

    a = st.matrix("a")
    sign, logabsdet = la.slogdet(a)
    (g,) = sign.owner.op.L_op([a], [sign, logabsdet], [st.scalar("gs"), disconnected_type()])
    assert g.type == a.type
    np.testing.assert_array_equal(sg.function([a], g)(np.eye(2)), np.zeros((2, 2)))
