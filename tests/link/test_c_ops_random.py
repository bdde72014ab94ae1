"""Random variables in C (symgraph/link/c/ops_random.py, c_backend/sg_random.h).

The oracle is the Python implementation (``RandomVariable.perform``, which calls
``numpy.random.Generator``): for the same generator state C must give exactly the same draws
and leave the generator in exactly the same state, for every distribution, dtype, parameter
shape (broadcast, strided, 1-element, empty) and NumPy code path.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor import random as sr
from symgraph.tensor.random import RandomVariable, random_generator_type
from symgraph.testing import compile_c_and_py


def _generator_states_equal(a, b):
    return random_generator_type.values_eq(a, b)


def _compile(params, build, sized_inputs=()):
    """(f_c, f_py) of ``[next_rng, draws] = build(rng, *params)`` with the generator an input."""
    rng = random_generator_type("rng")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # several draws from one generator: intended here
        next_rng, draws = build(rng, *params)
    return compile_c_and_py([rng, *params, *sized_inputs], [next_rng, draws], (RandomVariable,))


def _assert_same_run(f_c, f_py, seed, *values):
    g = np.random.default_rng(seed)
    before = np.random.default_rng(seed)
    c_rng, c_draws = f_c(g, *values)
    p_rng, p_draws = f_py(g, *values)
    assert _generator_states_equal(g, before), "the input generator was advanced"
    assert c_draws.dtype == p_draws.dtype and c_draws.shape == p_draws.shape
    np.testing.assert_array_equal(c_draws, p_draws)
    assert _generator_states_equal(c_rng, p_rng), "C and Python left the generator in different states"
    assert c_rng is not g
    return c_draws


@pytest.mark.parametrize("dist", ["normal", "uniform"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_continuous_draws_equal_python(dist, dtype):
    loc = st.dmatrix("loc")
    scale = st.dvector("scale")
    fn = getattr(sr, dist)
    if dist == "uniform":
        build = lambda rng, a, b: fn(rng, a, a + b, size=None, dtype=dtype)  # noqa: E731
    else:
        build = lambda rng, a, b: fn(rng, a, b, dtype=dtype)  # noqa: E731
    f_c, f_py = _compile([loc, scale], build)
    r = np.random.default_rng(0)
    for seed, (n, m) in enumerate([(3, 4), (1, 4), (5, 1), (0, 3), (2, 0)]):
        a = r.normal(size=(n, m))
        b = np.abs(r.normal(size=(m,)))
        _assert_same_run(f_c, f_py, seed, a, b)
    # non-contiguous and negative-stride parameters
    a = r.normal(size=(6, 8))[::2, ::-2]
    b = np.abs(r.normal(size=(8,)))[::2]
    _assert_same_run(f_c, f_py, 99, a, b)


@pytest.mark.parametrize("dist", ["normal", "uniform", "bernoulli"])
def test_sized_draws_with_broadcast_parameters(dist):
    p = st.dvector("p")
    n0 = st.lscalar("n0")
    if dist == "bernoulli":
        build = lambda rng, p_: sr.bernoulli(rng, p_, size=(n0, p_.shape[0]))  # noqa: E731
    elif dist == "uniform":
        build = lambda rng, p_: sr.uniform(rng, p_, 2.0, size=(n0, p_.shape[0]))  # noqa: E731
    else:
        build = lambda rng, p_: sr.normal(rng, 0.0, p_, size=(n0, p_.shape[0]))  # noqa: E731
    f_c, f_py = _compile([p], build, sized_inputs=[n0])
    r = np.random.default_rng(1)
    for seed, (n, m) in enumerate([(4, 3), (1, 1), (0, 5), (3, 0), (7, 2)]):
        _assert_same_run(f_c, f_py, seed, r.uniform(0, 1, size=m), n)
    # p = 1 and p = 0 exactly (the binomial's edge cases) and a scalar-like vector
    _assert_same_run(f_c, f_py, 5, np.array([0.0, 1.0, 0.5]), 3)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
def test_integers_equal_python_on_every_numpy_path(dtype):
    low = st.lvector("low")
    high = st.lvector("high")
    n0 = st.lscalar("n0")
    sized = lambda rng, a, b: sr.integers(rng, a, b, size=(n0, 3), dtype=dtype)  # noqa: E731
    f_c, f_py = _compile([low, high], sized, sized_inputs=[n0])
    hi = 100 if dtype in ("int8", "uint8") else 10_000
    for seed, (lo_v, hi_v, n) in enumerate([
        ([0, 1, 2], [10, 20, 30], 4),  # broadcast path, element by element
        ([5], [6], 3),  # 1-element bounds with a size: NumPy's scalar path; range 0
        ([3], [hi], 5),  # scalar path, buffered narrow types
        ([0], [2], 0),  # empty size: no draws at all
        ([1, 2, 3], [hi, hi, hi], 9),
    ]):
        _assert_same_run(f_c, f_py, seed, np.array(lo_v), np.array(hi_v), n)
    unsized = lambda rng, a, b: sr.integers(rng, a, b, dtype=dtype)  # noqa: E731
    lo_s, hi_s = st.lscalar("lo"), st.lscalar("hi")
    f_c, f_py = _compile([lo_s, hi_s], unsized)
    for seed, (a, b) in enumerate([(0, 1), (0, 2), (-3 if dtype != "uint8" else 3, 50), (0, hi)]):
        _assert_same_run(f_c, f_py, seed, a, b)


def test_integers_full_int64_range_does_not_overflow():
    lo, hi = st.lscalar("lo"), st.lscalar("hi")
    f_c, f_py = _compile([lo, hi], lambda rng, a, b: sr.integers(rng, a, b, size=(64,)))
    info = np.iinfo(np.int64)
    _assert_same_run(f_c, f_py, 3, info.min, info.max)


def test_categorical_equal_python():
    p = st.dmatrix("p")
    n0 = st.lscalar("n0")
    f_c, f_py = _compile([p], lambda rng, p_: sr.categorical(rng, p_))
    f_cs, f_pys = _compile([p], lambda rng, p_: sr.categorical(rng, p_, size=(n0, p_.shape[0])), sized_inputs=[n0])
    r = np.random.default_rng(2)
    for seed, (n, k) in enumerate([(5, 3), (1, 1), (4, 7), (0, 2)]):
        w = r.uniform(0, 1, size=(n, k))
        w[:, 0] = 0.0  # a zero-weight category is never drawn
        if k == 1:
            w[:, 0] = 2.0
        draws = _assert_same_run(f_c, f_py, seed, w)
        if k > 1:
            assert not np.any(draws == 0)
        _assert_same_run(f_cs, f_pys, seed, w, 6)
    _assert_same_run(f_c, f_py, 11, r.uniform(0, 1, size=(4, 6))[:, ::-2])  # strided rows


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_categorical_logits_equal_python(dtype):
    logits = st.matrix("logits", dtype=dtype)
    f_c, f_py = _compile([logits], lambda rng, x: sr.categorical(rng, logits=x))
    r = np.random.default_rng(3)
    for seed in range(3):
        x = r.normal(size=(50, 5)).astype(dtype) * 3
        x[0, 1] = -np.inf
        _assert_same_run(f_c, f_py, seed, x)


def test_chained_draws_and_default_updates_match_python():
    """Two chained draws inside one C region; the shared generator advances on every call."""
    mu = st.dvector("mu")
    results = {}
    for linker in ("c", "py"):
        rng = sg.shared(np.random.default_rng(2024))
        r1, x = sr.normal(rng, mu, 1.0)
        _, k = sr.integers(r1, 0, 5, size=(4,))
        f = sg.function([mu], [st.exp(x) * 2.0, k], mode=sg.Mode(linker=linker))
        if linker == "c":
            impls = dict(zip(map(str, f.maker.fgraph.toposort()), f.implementations()))
            assert all(v == "c" for v in impls.values()), impls
        results[linker] = [f(np.arange(3.0)) for _ in range(4)]
        results[linker + "_state"] = rng.get_value()
    for (xc, kc), (xp, kp) in zip(results["c"], results["py"]):
        np.testing.assert_allclose(xc, xp, rtol=1e-15)
        np.testing.assert_array_equal(kc, kp)
    assert not np.array_equal(results["c"][0][0], results["c"][1][0]), "the generator did not advance"
    assert _generator_states_equal(results["c_state"], results["py_state"])


@pytest.mark.parametrize(
    "build, values, match",
    [
        (lambda rng, a, b: sr.normal(rng, a, b), (np.zeros(3), np.array([1.0, -1.0, 1.0])), "scale must be non-negative"),
        (lambda rng, a, b: sr.normal(rng, a, b), (np.zeros(3), np.array([1.0, np.nan, 1.0])), "scale must be non-negative"),
        (lambda rng, a, b: sr.uniform(rng, a, b), (np.ones(2), np.zeros(2)), "low must not exceed high"),
        (lambda rng, a, b: sr.uniform(rng, a, b), (np.array([0.0, np.inf]), np.ones(2)), "must be finite"),
        # finite bounds whose difference overflows: NumPy raises OverflowError, C gave inf
        (lambda rng, a, b: sr.uniform(rng, a, b), (np.array([0.0, -1e308]), np.array([1.0, 1e308])), "range overflows"),
        (lambda rng, a, b: sr.normal(rng, a, b), (np.zeros(3), np.ones(2)), "do not broadcast"),
        (lambda rng, a, b: sr.normal(rng, a, b, size=(4,)), (np.zeros(3), np.ones(3)), "not compatible"),
    ],
)
def test_invalid_values_raise_the_python_error(build, values, match):
    a, b = st.dvector("a"), st.dvector("b")
    f_c, f_py = _compile([a, b], build)
    g = np.random.default_rng(0)
    for f in (f_c, f_py):
        with pytest.raises(ValueError, match=match):
            f(g, *values)


def test_invalid_discrete_values_raise_the_python_error():
    p = st.dvector("p")
    f_c, f_py = _compile([p], lambda rng, p_: sr.bernoulli(rng, p_))
    lo, hi = st.lvector("lo"), st.lvector("hi")
    i_c, i_py = _compile([lo, hi], lambda rng, a, b: sr.integers(rng, a, b, dtype="int8"))
    g = np.random.default_rng(0)
    for f in (f_c, f_py):
        with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
            f(g, np.array([0.5, 1.5]))
    for f in (i_c, i_py):
        with pytest.raises(ValueError, match="less than high"):
            f(g, np.array([3, 3]), np.array([4, 3]))
        with pytest.raises(ValueError, match="must fit in int8"):
            f(g, np.array([0]), np.array([300]))
    n0 = st.lscalar("n0")
    s_c, s_py = _compile([p], lambda rng, p_: sr.bernoulli(rng, p_, size=(n0,)), sized_inputs=[n0])
    for f in (s_c, s_py):
        with pytest.raises(ValueError, match="non-negative"):
            f(g, np.array([0.5]), -2)
    c = st.dmatrix("c")
    c_c, c_py = _compile([c], lambda rng, p_: sr.categorical(rng, p_))
    for f in (c_c, c_py):
        with pytest.raises(ValueError, match="must not all be zero"):
            f(g, np.array([[0.5, 0.5], [0.0, 0.0]]))


def test_check_mode_compares_generators_and_draws():
    mu = st.dvector("mu")
    rng = sg.shared(np.random.default_rng(5))
    r1, x = sr.normal(rng, mu, 1.0)
    _, c = sr.categorical(r1, st.softmax(mu), size=(3,))
    f = sg.function([mu], [x, c], mode=sg.Mode(linker="check"))
    assert "c" in f.implementations()
    for _ in range(3):
        f(np.arange(4.0))
