"""Random variables (symgraph.tensor.random): generator type, shared generators, the
RandomVariable op family, default updates, RandomStream."""

import copy
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra import numpy as hnp

import symgraph as sg
import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.graph.basic import Constant
from symgraph.graph.null_type import DisconnectedType, NullType
from symgraph.tensor import random as sr
from symgraph.tensor.random import (
    DISTRIBUTIONS,
    RandomGeneratorConstant,
    RandomGeneratorSharedVariable,
    RandomGeneratorType,
    RandomStream,
    RandomVariable,
    random_generator_type,
)

# Branching a generator warns; no test here should do it by accident.
pytestmark = pytest.mark.filterwarnings("error:.*already consumed:UserWarning")


def gen(seed=0):
    return np.random.default_rng(seed)


def fresh(seed=0):
    """A new shared generator: independent draws each get their own (branching warns)."""
    return sg.shared(gen(seed))


def state(g):
    return copy.deepcopy(g.bit_generator.state)


def run_node(node, values):
    """Run one node's thunk on ``values`` (one per input); returns all outputs."""
    storage = {inp: [val] for inp, val in zip(node.inputs, values)}
    storage.update({out: [None] for out in node.outputs})
    node.op.make_thunk(node, storage, None, [])()
    return [storage[out][0] for out in node.outputs]


# --------------------------------------------------------------------------- the generator type


def test_type_filter_accepts_generators_only():
    t = random_generator_type
    g = gen()
    assert t.filter(g) is g
    assert t.filter(g, strict=True) is g
    for bad, words in [
        (np.random.RandomState(0), "RandomState"),
        (3, "seed"),
        (np.zeros(2), "ndarray"),
        ("rng", "str"),
    ]:
        with pytest.raises(TypeError, match=words) as info:
            t.filter(bad)
        assert "default_rng" in str(info.value)
    with pytest.raises(TypeError, match="symbolic"):
        t.filter(sg.shared(gen()))
    assert t.is_valid_value(g) and not t.is_valid_value(1.0)
    assert RandomGeneratorType() == t and hash(RandomGeneratorType()) == hash(t)
    assert str(t) == "RandomGeneratorType"


def test_type_values_eq_compares_state():
    t = random_generator_type
    a, b = gen(1), gen(1)
    assert t.values_eq(a, b) and t.values_eq_approx(a, b)
    b.normal()
    assert not t.values_eq(a, b)
    a.normal()
    assert t.values_eq(a, b)
    assert not t.values_eq(gen(1), gen(2))
    # Same seed, different bit generators: different streams.
    mt = np.random.Generator(np.random.MT19937(1))
    assert t.values_eq(mt, np.random.Generator(np.random.MT19937(1)))  # array-valued state
    assert not t.values_eq(gen(1), mt)
    assert not t.values_eq(gen(1), 1)


def test_constant_generator_is_a_private_copy():
    g = gen(5)
    c = random_generator_type.make_constant(g)
    assert isinstance(c, RandomGeneratorConstant) and c.data is not g
    g.normal(size=10)  # the caller keeps using its generator
    assert random_generator_type.values_eq(c.data, gen(5))
    # A raw Generator passed as rng becomes such a constant: same draws on every call.
    _, x = sr.normal(g, size=3)
    f = sg.function([], x)
    first = f()
    np.testing.assert_array_equal(f(), first)
    np.testing.assert_array_equal(first, copy.deepcopy(g).normal(size=3))


# --------------------------------------------------------------------------- shared generators


def test_shared_generator_constructor():
    g = gen(3)
    s = sg.shared(g, name="rng")
    assert isinstance(s, RandomGeneratorSharedVariable) and s.type == random_generator_type
    assert s.name == "rng" and s.default_update is None
    assert s.get_value(borrow=True) is not g  # copied by default
    assert random_generator_type.values_eq(s.get_value(), g)
    assert sg.shared(g, borrow=True).get_value(borrow=True) is g
    assert s.get_value() is not s.get_value(borrow=True)  # get_value copies
    with pytest.raises(TypeError, match="Generator"):
        s.set_value(np.random.RandomState(0))
    with pytest.raises(TypeError, match="shape"):
        sg.shared(gen(), shape=(2,))
    # RandomState is not a Generator: it stays a generic shared value, refused by the ops.
    legacy = sg.shared(np.random.RandomState(0))
    assert not isinstance(legacy, RandomGeneratorSharedVariable)
    with pytest.raises(TypeError, match="random generator variable"):
        sr.normal(legacy)


def test_rng_argument_checks():
    with pytest.raises(TypeError, match="rng is required"):
        sr.normal(None)
    with pytest.raises(TypeError, match="random generator variable"):
        sr.normal(st.dvector("v"))


# --------------------------------------------------------------------------- draws match NumPy

CASES = [
    # (name, build(rng), numpy reference(generator))
    ("uniform sized", lambda r: sr.uniform(r, -1.0, 2.0, size=(2, 3)), lambda g: g.uniform(-1.0, 2.0, size=(2, 3))),
    ("uniform default", lambda r: sr.uniform(r, size=4), lambda g: g.uniform(0.0, 1.0, size=4)),
    ("normal scalar", lambda r: sr.normal(r), lambda g: g.normal(0.0, 1.0)),
    (
        "normal broadcast params",
        lambda r: sr.normal(r, np.arange(3.0), np.array([[1.0], [2.0]])),
        lambda g: g.normal(np.arange(3.0), np.array([[1.0], [2.0]])),
    ),
    (
        "normal params to size",
        lambda r: sr.normal(r, np.arange(3.0), 2.0, size=(4, 3)),
        lambda g: g.normal(np.arange(3.0), 2.0, size=(4, 3)),
    ),
    (
        "bernoulli",
        lambda r: sr.bernoulli(r, np.array([[0.1], [0.9]]), size=(2, 4)),
        lambda g: g.binomial(1, np.array([[0.1], [0.9]]), size=(2, 4)),
    ),
    ("integers high only", lambda r: sr.integers(r, 10, size=5), lambda g: g.integers(10, size=5)),
    (
        "integers int32 broadcast",
        lambda r: sr.integers(r, [0, 10], 20, dtype="int32"),
        lambda g: g.integers([0, 10], 20, dtype="int32"),
    ),
    (
        "integers uint8",
        lambda r: sr.integers(r, 250, 256, size=(3,), dtype="uint8"),
        lambda g: g.integers(250, 256, size=3, dtype="uint8"),
    ),
    (
        "integers int8",
        lambda r: sr.integers(r, -128, 127, size=(2, 2), dtype="int8"),
        lambda g: g.integers(-128, 127, size=(2, 2), dtype="int8"),
    ),
]


@pytest.mark.parametrize("name,build,reference", CASES, ids=[c[0] for c in CASES])
def test_draws_match_numpy(name, build, reference):
    rng = sg.shared(gen(2024))
    next_rng, x = build(rng)
    assert next_rng.type == random_generator_type
    f = sg.function([], x)
    g = gen(2024)
    for _ in range(3):  # successive calls continue the stream like successive NumPy calls
        expected = np.asarray(reference(g))
        value = f()
        assert isinstance(value, np.ndarray)
        assert value.dtype == x.type.numpy_dtype == expected.dtype
        assert value.shape == expected.shape and value.ndim == x.ndim
        for static, actual in zip(x.type.shape, value.shape):
            assert static is None or static == actual
        np.testing.assert_array_equal(value, expected)


@settings(max_examples=25, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    seed=hst.integers(0, 2**32 - 1),
    dist=hst.sampled_from(["normal", "uniform"]),
)
def test_broadcast_params_match_numpy(shapes, seed, dist):
    a_shape, b_shape = shapes.input_shapes
    values = np.random.default_rng(seed)
    a = values.uniform(-5.0, 5.0, size=a_shape)
    b = values.uniform(5.0, 9.0, size=b_shape) if dist == "uniform" else values.uniform(0.1, 2.0, size=b_shape)
    a_var = st.tensor("a", dtype="float64", shape=tuple(1 if s == 1 else None for s in a_shape))
    b_var = st.tensor("b", dtype="float64", shape=tuple(1 if s == 1 else None for s in b_shape))
    fn = getattr(sr, dist)
    _, x = fn(fresh(seed), a_var, b_var)
    _, y = fn(fresh(seed), a_var, b_var, size=(2, *shapes.result_shape))
    assert x.ndim == len(shapes.result_shape)
    out = sg.function([a_var, b_var], [x, y], no_default_updates=True)(a, b)
    np.testing.assert_array_equal(out[0], getattr(gen(seed), dist)(a, b))
    np.testing.assert_array_equal(out[1], getattr(gen(seed), dist)(a, b, size=(2, *shapes.result_shape)))


def test_categorical_matches_inverse_cdf_reference():
    p = np.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    rng = sg.shared(gen(9))
    _, x = sr.categorical(rng, p=p, size=(5, 2))
    assert x.dtype == "int64" and x.type.shape == (5, 2)
    value = sg.function([], x)()
    g = gen(9)
    u = g.uniform(size=(5, 2))
    cdf = np.cumsum(p, axis=-1)
    expected = np.array([[np.searchsorted(cdf[j], u[i, j], side="right") for j in range(2)] for i in range(5)])
    np.testing.assert_array_equal(value, expected)
    assert np.all(value[:, 1] == 2)  # zero-probability categories are never drawn
    # Without size: the batch shape of p.
    _, y = sr.categorical(fresh(), p=p)
    assert y.type.shape == (2,)
    assert sg.function([], y)().shape == (2,)


def test_categorical_p_and_logits_agree():
    logits = np.random.default_rng(0).normal(size=(4, 6)) * 3
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    results = []
    for kwargs in [dict(p=p), dict(logits=logits), dict(p=7 * p), dict(logits=logits + 100.0)]:
        rng = sg.shared(gen(11))
        _, x = sr.categorical(rng, size=(500, 4), **kwargs)
        results.append(sg.function([], x)())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    # Huge logits would overflow a naive softmax.
    rng = sg.shared(gen(1))
    _, x = sr.categorical(rng, logits=np.array([1000.0, 1000.0, -np.inf]), size=200)
    value = sg.function([], x)()
    assert set(np.unique(value)) == {0, 1}


def test_dtypes():
    rng = sg.shared(gen(4))
    _, x = sr.uniform(rng, size=3, dtype="float32")
    assert x.dtype == "float32"
    np.testing.assert_array_equal(sg.function([], x)(), gen(4).uniform(size=3).astype("float32"))
    with config.change_flags(floatX="float32"):
        _, y = sr.normal(fresh(4), 0.1, 1.0, size=3)
        assert y.dtype == "float32"
        # Python floats stay float64 parameters, so the draws are NumPy's, then cast.
        np.testing.assert_array_equal(sg.function([], y)(), gen(4).normal(0.1, 1.0, size=3).astype("float32"))
    _, b = sr.bernoulli(fresh(), 0.5)
    _, c = sr.categorical(fresh(), p=[0.5, 0.5])
    _, i = sr.integers(fresh(), 3)
    assert b.dtype == c.dtype == i.dtype == "int64"
    assert b.ndim == c.ndim == i.ndim == 0
    with pytest.raises(TypeError, match="dtype"):
        sr.normal(rng, dtype="int64")
    with pytest.raises(TypeError, match="dtype"):
        sr.integers(rng, 3, dtype="float64")
    with pytest.raises(TypeError, match="integer"):
        sr.integers(rng, 0.5, 3)
    with pytest.raises(TypeError, match="numeric"):
        sr.normal(rng, "a")
    with pytest.raises(TypeError, match="exactly one"):
        sr.categorical(rng)
    with pytest.raises(TypeError, match="exactly one"):
        sr.categorical(rng, p=[1.0], logits=[0.0])
    with pytest.raises(ValueError, match="at least 1 dimension"):
        sr.categorical(rng, p=0.5)


# --------------------------------------------------------------------------- sizes and shapes


def test_symbolic_size_vector_and_scalar():
    rng = sg.shared(gen(6))
    size = st.tensor("size", dtype="int64", shape=(2,))
    _, x = sr.normal(rng, 1.0, 2.0, size=size)
    assert x.type.shape == (None, None)
    f = sg.function([size], x, no_default_updates=True)
    np.testing.assert_array_equal(f([2, 3]), gen(6).normal(1.0, 2.0, size=(2, 3)))
    assert f([0, 4]).shape == (0, 4)
    with pytest.raises(ValueError, match="non-negative"):
        f([-1, 2])
    n = st.lscalar("n")
    _, y = sr.uniform(fresh(6), size=n)
    assert y.ndim == 1
    np.testing.assert_array_equal(sg.function([n], y, no_default_updates=True)(4), gen(6).uniform(size=4))
    with pytest.raises(ValueError, match="must be known"):
        sr.normal(rng, size=st.lvector("s"))
    with pytest.raises(TypeError, match="integers"):
        sr.normal(rng, size=st.dvector("s", shape=(2,)))
    with pytest.raises(ValueError, match="non-negative"):
        sr.normal(rng, size=(2, -1))


def test_size_with_symbolic_entries():
    n = st.lscalar("n")
    _, x = sr.normal(fresh(6), size=(n, 3))
    assert x.type.shape == (None, 3)
    f = sg.function([n], x, no_default_updates=True)
    np.testing.assert_array_equal(f(2), gen(6).normal(size=(2, 3)))
    np.testing.assert_array_equal(f(0), np.zeros((0, 3)))
    # The entries are used directly for the shape (no indexing, no draw).
    assert x.owner.op.infer_shape(None, x.owner, [None] * len(x.owner.inputs))[1] == (n, 3)
    with pytest.raises(TypeError, match="integer scalars"):
        sr.normal(fresh(), size=(st.dscalar("d"), 2))


def test_static_shapes():
    rng = sg.shared(gen())
    _, x = sr.normal(fresh(), st.dvector("a", shape=(3,)), st.dmatrix("b", shape=(None, 1)))
    assert x.type.shape == (None, 3)
    _, x = sr.normal(fresh(), st.dvector("a", shape=(3,)), size=st.tensor("s", dtype="int64", shape=(2,)))
    assert x.type.shape == (None, 3)  # the parameter must broadcast to size
    _, x = sr.categorical(fresh(), p=st.dmatrix("p", shape=(4, None)))
    assert x.type.shape == (4,)
    _, x = sr.integers(fresh(), 0, st.lvector("h"), size=(2, 5))
    assert x.type.shape == (2, 5)
    with pytest.raises(ValueError, match="not compatible"):
        sr.normal(fresh(), st.dvector("a", shape=(3,)), size=(2, 4))
    with pytest.raises(ValueError, match="batch dimensions"):
        sr.normal(fresh(), st.dmatrix("a"), size=(4,))
    with pytest.raises(ValueError, match="broadcast"):
        sr.normal(fresh(), st.dvector("a", shape=(3,)), st.dvector("b", shape=(2,)))


def test_runtime_shape_and_value_errors():
    rng = sg.shared(gen())
    a, b = st.dvector("a"), st.dvector("b")
    _, x = sr.normal(rng, a, b)
    f = sg.function([a, b], x)
    with pytest.raises(ValueError, match="do not broadcast"):
        f(np.zeros(3), np.ones(2))
    _, y = sr.normal(fresh(), a, 1.0, size=(2, 4))
    g = sg.function([a], y)
    with pytest.raises(ValueError, match="not compatible"):
        g(np.zeros(3))
    bad = [
        (lambda: sr.normal(fresh(), 0.0, -1.0, size=2), "scale must be non-negative"),
        (lambda: sr.normal(fresh(), 0.0, np.nan), "scale"),
        (lambda: sr.uniform(fresh(), 2.0, 1.0), "low must not exceed high"),
        (lambda: sr.uniform(fresh(), 0.0, np.inf), "finite"),
        (lambda: sr.uniform(fresh(), -1e308, 1e308), "range overflows"),
        (lambda: sr.bernoulli(fresh(), 1.5), r"p must lie in \[0, 1\]"),
        (lambda: sr.categorical(fresh(), p=[0.0, 0.0]), "not all be zero"),
        (lambda: sr.categorical(fresh(), p=[-0.5, 1.5]), "non-negative"),
        (lambda: sr.categorical(fresh(), p=np.zeros((2, 0))), "at least one category"),
        (lambda: sr.categorical(fresh(), logits=[np.nan, 0.0]), "NaN"),
        (lambda: sr.categorical(fresh(), logits=[-np.inf, -np.inf]), "-inf"),
        (lambda: sr.integers(fresh(), 5, 5), "less than high"),
        (lambda: sr.integers(fresh(), 0, 300, dtype="uint8"), "fit in uint8"),
    ]
    for build, message in bad:
        _, z = build()
        with pytest.raises(ValueError, match=message):
            sg.function([], z)()


def _infer(x, values):
    """The shape infer_shape gives for x's node, on concrete parameter shapes."""
    node = x.owner
    shapes = [None] + [np.shape(v) for v in values]
    inferred = node.op.infer_shape(None, node, shapes)
    assert inferred[0] is None
    return tuple(int(d.data) if isinstance(d, Constant) else int(d) for d in inferred[1])


def test_infer_shape_direct():
    rng = sg.shared(gen())
    a = st.tensor("a", dtype="float64", shape=(None, 1))
    b = st.dvector("b")
    _, x = sr.normal(rng, a, b)
    av, bv = np.zeros((4, 1)), np.ones(5)
    value = sg.function([a, b], x)(av, bv)
    assert _infer(x, [av, bv]) == value.shape == (4, 5)
    p = st.dmatrix("p")
    _, c = sr.categorical(fresh(), p=p)
    pv = np.full((3, 4), 0.25)
    assert _infer(c, [pv]) == sg.function([p], c)(pv).shape == (3,)
    _, s = sr.uniform(fresh(), size=(2, 3))
    node = s.owner
    assert node.op.infer_shape(None, node, [None] * len(node.inputs))[1] == (2, 3)


def _check(build, inputs, expected):
    from symgraph.testing import check_op

    return check_op(build, inputs, expected, grad=False, rop=False, shape=True)


def test_infer_shape_with_check_op():
    loc, scale = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    _check(lambda m, s: sr.normal(gen(3), m, s)[1], [loc, scale], lambda m, s: gen(3).normal(m, s))
    _check(
        lambda m: sr.uniform(gen(3), m, m + 1.0, size=(4, 2, 3))[1],
        [loc],
        lambda m: gen(3).uniform(m, m + 1.0, size=(4, 2, 3)),
    )
    p = np.full((2, 5), 0.2)
    _check(lambda q: sr.categorical(gen(3), p=q)[1], [p], None)
    _check(lambda h: sr.integers(gen(3), 0, h)[1], [np.array([3, 4, 5])], lambda h: gen(3).integers(0, h))


def test_infer_shape_symbolic_size():
    from symgraph.tensor.shape import symbolic_shape

    size = st.tensor("size", dtype="int64", shape=(2,))
    _, x = sr.normal(sg.shared(gen()), size=size)
    dims = symbolic_shape(x)
    assert [int(d) for d in sg.function([size], list(dims))([3, 2])] == [3, 2]


# --------------------------------------------------------------------------- default updates


def test_shared_generator_advances_on_every_call():
    rng = sg.shared(gen(42))
    next_rng, x = sr.normal(rng, size=(3,))
    assert rng.default_update is next_rng
    f = sg.function([], x)
    a, b = f(), f()
    assert not np.array_equal(a, b)
    g = gen(42)
    np.testing.assert_array_equal(a, g.normal(size=3))
    np.testing.assert_array_equal(b, g.normal(size=3))
    assert random_generator_type.values_eq(rng.get_value(), g)
    # Re-seeding gives the first draws again.
    rng.set_value(gen(42))
    np.testing.assert_array_equal(f(), a)
    np.testing.assert_array_equal(f(), b)
    # eval() compiles with default updates too.
    rng.set_value(gen(42))
    np.testing.assert_array_equal(x.eval(), a)
    np.testing.assert_array_equal(x.eval(), b)


def test_no_default_updates():
    rng = sg.shared(gen(42))
    _, x = sr.normal(rng, size=(3,))
    for flag in (True, [rng]):
        f = sg.function([], x, no_default_updates=flag)
        a = f()
        np.testing.assert_array_equal(f(), a)
        assert random_generator_type.values_eq(rng.get_value(), gen(42))


def test_explicit_updates():
    rng = sg.shared(gen(42))
    next_rng, x = sr.normal(rng, size=(3,))
    f = sg.function([], x, updates={rng: next_rng}, no_default_updates=True)
    a, b = f(), f()
    g = gen(42)
    np.testing.assert_array_equal(a, g.normal(size=3))
    np.testing.assert_array_equal(b, g.normal(size=3))
    # An explicit update takes precedence over the default one.
    other = random_generator_type.make_constant(gen(7))
    h = sg.function([], x, updates={rng: other})
    h()
    assert random_generator_type.values_eq(rng.get_value(), gen(7))
    assert random_generator_type.values_eq(other.data, gen(7))  # the constant was not advanced
    h()
    assert random_generator_type.values_eq(other.data, gen(7))


def test_chained_draws_update_to_the_chain_tip():
    rng = sg.shared(gen(8))
    r1, x = sr.normal(rng, size=2)
    r2, y = sr.uniform(r1, size=2)
    assert rng.default_update is r2
    f = sg.function([], [x, y])
    g = gen(8)
    for _ in range(2):
        xv, yv = f()
        np.testing.assert_array_equal(xv, g.normal(size=2))
        np.testing.assert_array_equal(yv, g.uniform(size=2))
    # Applying the same op to the same inputs gives the same node: nothing changes.
    r1_again, x_again = sr.normal(rng, size=2)
    assert r1_again is r1 and x_again is x and rng.default_update is r2


def test_branching_a_consumed_generator_warns():
    rng = sg.shared(gen(8))
    a = st.dscalar("a")
    r1, x = sr.normal(rng, a, 1.0)
    with pytest.warns(UserWarning, match="already consumed") as record:
        _, y = sr.uniform(rng, size=2)
    assert record[0].filename == __file__  # points at the user's line
    assert rng.default_update is r1  # the first chain keeps the default update
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r2, _ = sr.uniform(r1, size=3)  # extends the chain: no warning
    assert rng.default_update is r2
    with pytest.warns(UserWarning, match="correlated"):
        sr.normal(r1, size=5)  # a second branch off r1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sr.normal(rng, a, 1.0)  # the same node again: no new branch
        sr.uniform(r1, size=3)  # likewise, inside the chain


def test_user_default_update_is_kept():
    rng = sg.shared(gen(8))
    custom = random_generator_type.make_constant(gen(99))
    rng.default_update = custom
    _, x = sr.normal(rng)
    assert rng.default_update is custom
    constant_rng = random_generator_type.make_constant(gen(1))
    r, _ = sr.normal(constant_rng)  # not shared: nothing to update
    assert r.owner.inputs[0] is constant_rng


def test_input_generator_is_never_mutated():
    g = gen(0)
    before = state(g)
    rng = sg.shared(g, borrow=True)
    next_rng, x = sr.normal(rng, size=5)
    f = sg.function([], [x, next_rng])
    xv, new = f()
    assert g.bit_generator.state == before
    assert rng.get_value(borrow=True) is not g
    assert isinstance(new, np.random.Generator) and new is not g
    # The returned generator is a copy of the one the function keeps.
    assert new is not rng.get_value(borrow=True)
    assert random_generator_type.values_eq(new, rng.get_value(borrow=True))
    # perform alone: the input generator is left as it was.
    node = x.owner
    h = gen(1)
    h_state = state(h)
    out_rng, draws = run_node(node, [h, *[i.data for i in node.inputs[1:]]])
    assert h.bit_generator.state == h_state and out_rng is not h
    reference = gen(1)
    np.testing.assert_array_equal(draws, reference.normal(size=5))
    assert random_generator_type.values_eq(out_rng, reference)


# --------------------------------------------------------------------------- statistics


def test_statistical_sanity():
    n = 40_000
    _, nx = sr.normal(fresh(1), 3.0, 2.0, size=n)
    _, ux = sr.uniform(fresh(2), -1.0, 5.0, size=n)
    _, bx = sr.bernoulli(fresh(3), 0.3, size=n)
    p = np.array([0.1, 0.6, 0.3])
    _, cx = sr.categorical(fresh(4), p=p, size=n)
    _, lx = sr.categorical(fresh(5), logits=np.log(p), size=n)
    _, ix = sr.integers(fresh(6), -2, 3, size=n)
    nv, uv, bv, cv, lv, iv = sg.function([], [nx, ux, bx, cx, lx, ix])()
    assert abs(nv.mean() - 3.0) < 0.05 and abs(nv.std() - 2.0) < 0.05
    assert abs(uv.mean() - 2.0) < 0.05 and uv.min() >= -1.0 and uv.max() < 5.0
    assert abs(bv.mean() - 0.3) < 0.01 and set(np.unique(bv)) == {0, 1}
    for draws in (cv, lv):
        np.testing.assert_allclose(np.bincount(draws, minlength=3) / n, p, atol=0.01)
    assert set(np.unique(iv)) == {-2, -1, 0, 1, 2}
    np.testing.assert_allclose(np.bincount(iv + 2) / n, 0.2, atol=0.01)


# --------------------------------------------------------------------------- pickling, reproducibility


def test_pickle_function_with_shared_generator():
    rng = sg.shared(gen(5), name="rng")
    _, x = sr.normal(rng, size=4)
    f = sg.function([], x)
    f()
    f2 = pickle.loads(pickle.dumps(f))
    # Both continue from the pickled state, independently.
    a2, a = f2(), f()
    np.testing.assert_array_equal(a, a2)
    rng2 = f2.maker.inputs[0].variable
    assert isinstance(rng2, RandomGeneratorSharedVariable) and rng2 is not rng
    assert rng2.default_update is not None
    np.testing.assert_array_equal(f2(), f())


def test_same_seed_same_draws_in_fresh_process():
    code = textwrap.dedent(
        """
        import numpy as np, symgraph as sg
        from symgraph.tensor import random as sr
        rng = sg.shared(np.random.default_rng(31))
        _, x = sr.normal(rng, size=3)
        f = sg.function([], x)
        f()
        print(repr(f().tolist()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    g = gen(31)
    g.normal(size=3)
    assert eval(out) == g.normal(size=3).tolist()


# --------------------------------------------------------------------------- gradients


def test_gradient_requests_raise_clear_errors():
    from symgraph.gradient import NullTypeGradError, Rop, grad

    rng = sg.shared(gen())
    loc, scale = st.dvector("loc"), st.dscalar("scale")
    _, x = sr.normal(rng, loc, scale)
    with pytest.raises(NullTypeGradError, match="not differentiable") as info:
        grad(None, loc, known_grads={x: st.dvector("g")})
    assert "normal" in str(info.value) and "reparameterize" in str(info.value)
    with pytest.raises(NullTypeGradError, match="not differentiable"):
        Rop(x, loc, st.dvector("v"))
    # L_op directly: disconnected rng (and size), undefined parameters.
    node = sr.normal(fresh(), loc, scale, size=(3,))[1].owner
    grads = node.op.L_op(node.inputs, node.outputs, [None, st.dvector("g")])
    assert [type(g.type) for g in grads] == [DisconnectedType, DisconnectedType, NullType, NullType]
    assert "parameter scale" in grads[3].type.why_null
    assert node.op.connection_pattern(node) == [[True, True], [False, False], [False, True], [False, True]]
    assert node.op.R_op(node.inputs, [None, None, None, None]) == [None, None]


def test_reparameterized_draws_are_differentiable():
    from symgraph.gradient import verify_grad

    def build(loc, scale):
        _, eps = sr.normal(gen(0), 0.0, 1.0, size=(3,))
        return loc + scale * eps

    verify_grad(build, [np.array([0.5, 1.0, -1.0]), np.array(2.0)], rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- the op itself


def test_op_props_printing_and_interning():
    op = RandomVariable("normal", "float64", sized=True)
    assert op == RandomVariable("normal", None, sized=True)
    assert op != RandomVariable("normal", "float32", sized=True)
    assert op != RandomVariable("uniform", "float64", sized=True)
    assert str(op) == "normal_rv{float64}"
    with pytest.raises(ValueError, match="unknown distribution"):
        RandomVariable("poisson")
    rng = sg.shared(gen())
    a = sr.normal(rng, 0.0, 1.0, size=(2,))
    b = sr.normal(rng, 0.0, 1.0, size=(2,))
    assert a[1] is b[1]
    assert not a[1].owner.op.do_constant_folding(None, a[1].owner)
    assert "normal_rv{float64}" in sg.debugprint(a[1], file="str")
    assert set(DISTRIBUTIONS) >= {"uniform", "normal", "bernoulli", "categorical", "integers"}
    with pytest.raises(TypeError, match="takes rng"):
        RandomVariable("normal")(rng, 0.0)


# --------------------------------------------------------------------------- RandomStream


def test_random_stream():
    srng = RandomStream(seed=7)
    x = srng.normal(0.0, 1.0, size=(3,))
    y = srng.uniform(size=(3,))
    c = srng.categorical(p=[0.5, 0.5], size=4)
    i = srng.integers(0, 10, size=2)
    b = srng.bernoulli(0.5, size=2)
    assert len(srng.updates()) == 5
    for shared_rng, next_rng in srng.updates():
        assert isinstance(shared_rng, RandomGeneratorSharedVariable) and shared_rng.default_update is next_rng
    f = sg.function([], [x, y, c, i, b])
    first, second = f(), f()
    assert not np.array_equal(first[0], second[0])
    # The same seed in another stream gives the same draws.
    other = RandomStream(seed=7)
    g = sg.function([], [other.normal(0.0, 1.0, size=(3,)), other.uniform(size=(3,))])
    for u, v in zip(g(), first[:2]):
        np.testing.assert_array_equal(u, v)
    # Re-seeding restarts every generator.
    srng.seed(7)
    for u, v in zip(f(), first):
        np.testing.assert_array_equal(u, v)
    srng.seed(8)
    assert not np.array_equal(f()[0], first[0])
    with pytest.raises(TypeError, match="rng"):
        srng.gen(sr.normal, rng=None)
