"""symgraph.tensor.join: Join/concatenate, stack, Split/split/split_sizes, tile, Repeat and
RepeatSum; values against NumPy (hypothesis shapes), gradients, R_op, infer_shape, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import grad, verify_grad
from symgraph.graph.null_type import DisconnectedType
from symgraph.tensor.join import Join, Repeat, RepeatSum, Split
from symgraph.testing import check_op

from shape_checks import check_shape

RNG = np.random.default_rng(7)
SETTINGS = settings(max_examples=25, deadline=None)


def free(ndim, name="x", dtype="float64"):
    return st.tensor(name, dtype=dtype, shape=(None,) * ndim)


# --------------------------------------------------------------------------- concatenate


@SETTINGS
@given(hst.lists(hst.integers(0, 3), min_size=1, max_size=3), hst.data())
def test_concatenate_matches_numpy(shape, data):
    axis = data.draw(hst.integers(-len(shape), len(shape) - 1))
    n = data.draw(hst.integers(1, 3))
    arrays = []
    for _ in range(n):
        s = list(shape)
        s[axis] = data.draw(hst.integers(0, 3))
        arrays.append(RNG.normal(size=s))
    xs = [free(len(shape), f"x{i}") for i in range(n)]
    out = st.concatenate(xs, axis=axis)
    np.testing.assert_array_equal(sg.function(xs, out)(*arrays), np.concatenate(arrays, axis=axis))
    check_shape(out, xs, arrays)
    # Static shapes give a static result.
    static = st.concatenate([st.tensor(f"s{i}", shape=a.shape) for i, a in enumerate(arrays)], axis=axis)
    assert static.type.shape == np.concatenate(arrays, axis=axis).shape


def test_concatenate_grad_rop_shape():
    a, b, c = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 1)), RNG.normal(size=(2, 4))
    check_op(lambda x, y, z: st.concatenate([x, y, z], axis=1), [a, b, c], lambda x, y, z: np.concatenate([x, y, z], 1))
    check_op(lambda x, y: st.concatenate([x, y], axis=0), [a, c[:, :3]], lambda x, y: np.concatenate([x, y]))
    check_op(lambda x, y: st.join(-1, x, y), [a, b], lambda x, y: np.concatenate([x, y], -1))
    # R_op with a direction for only one input.
    x, y = st.matrix("x"), st.matrix("y")
    node = st.concatenate([x, y]).owner
    assert node.op.R_op(node.inputs, [None, None]) == [None]
    (r,) = node.op.R_op(node.inputs, [None, st.matrix("v")])
    assert r.ndim == 2


def test_concatenate_mixed_dtypes():
    x = st.vector("x", dtype="float32")
    i = st.lvector("i")
    out = st.concatenate([x, i])
    assert out.dtype == "float64"
    res = sg.function([x, i], out)(np.ones(2, np.float32), np.arange(3))
    np.testing.assert_array_equal(res, np.concatenate([np.ones(2, np.float32), np.arange(3)]))
    y = st.vector("y", dtype="float64")
    g = grad(st.concatenate([x, y]).sum(), x)
    assert g.dtype == "float32"
    np.testing.assert_array_equal(sg.function([x, y], g)(np.ones(2, np.float32), np.ones(3)), np.ones(2))


def test_concatenate_single_and_errors():
    x = st.matrix("x")
    assert st.concatenate([x]) is x
    with pytest.raises(ValueError, match="at least one"):
        st.concatenate([])
    with pytest.raises(ValueError, match="0-d"):
        st.concatenate([st.scalar("a"), st.scalar("b")])
    with pytest.raises(ValueError, match="same number of dimensions"):
        st.concatenate([x, st.vector("v")])
    with pytest.raises(np.exceptions.AxisError):
        st.concatenate([x, x], axis=2)
    with pytest.raises(ValueError, match=r"differ in dimension 1"):
        st.concatenate([st.tensor("a", shape=(2, 3)), st.tensor("b", shape=(2, 4))], axis=0)
    y = st.matrix("y")
    f = sg.function([x, y], st.concatenate([x, y], axis=1))
    with pytest.raises(ValueError, match=r"input 0 has shape \(2, 3\) but input 1 has shape \(3, 3\)"):
        f(np.ones((2, 3)), np.ones((3, 3)))
    assert str(Join(1)) == "Join{axis=1}"


# --------------------------------------------------------------------------- stack


@SETTINGS
@given(hst.lists(hst.integers(0, 3), min_size=0, max_size=3), hst.integers(1, 3), hst.data())
def test_stack_matches_numpy(shape, n, data):
    axis = data.draw(hst.integers(-len(shape) - 1, len(shape)))
    arrays = [RNG.normal(size=shape) for _ in range(n)]
    xs = [free(len(shape), f"x{i}") for i in range(n)]
    out = st.stack(xs, axis=axis)
    np.testing.assert_array_equal(sg.function(xs, out)(*arrays), np.stack(arrays, axis=axis))
    check_shape(out, xs, arrays)


def test_stack_grad_and_errors():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    check_op(lambda x, y: st.stack([x, y], axis=1), [a, b], lambda x, y: np.stack([x, y], 1))
    check_op(lambda x, y: st.stack([x, y * x]), [np.array(0.5), np.array(2.0)], lambda x, y: np.stack([x, y * x]))
    with pytest.raises(ValueError, match="same shape"):
        st.stack([st.matrix("x"), st.vector("v")])
    x, y = st.matrix("x"), st.matrix("y")
    f = sg.function([x, y], st.stack([x, y]))
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.ones((2, 4)))


# --------------------------------------------------------------------------- split


@SETTINGS
@given(hst.lists(hst.integers(1, 4), min_size=1, max_size=3), hst.data())
def test_split_sections_matches_numpy(shape, data):
    axis = data.draw(hst.integers(0, len(shape) - 1))
    divisors = [d for d in range(1, shape[axis] + 1) if shape[axis] % d == 0]
    n = data.draw(hst.sampled_from(divisors))
    a = RNG.normal(size=shape)
    x = free(len(shape))
    pieces = st.split(x, n, axis=axis)
    got = sg.function([x], pieces)(a)
    for g, e in zip(got, np.split(a, n, axis=axis), strict=True):
        np.testing.assert_array_equal(g, e)
    for p in pieces:
        check_shape(p, [x], [a])


@SETTINGS
@given(hst.integers(0, 6), hst.lists(hst.integers(-8, 8), max_size=3))
def test_split_indices_matches_numpy_static(size, indices):
    a = RNG.normal(size=(size, 2))
    x = st.tensor("x", shape=(size, 2))
    expected = np.split(a, indices)
    if sum(p.shape[0] for p in expected) != size:
        with pytest.raises(ValueError, match="non-decreasing"):
            st.split(x, indices)
        return
    pieces = st.split(x, indices)
    for g, e in zip(sg.function([x], pieces)(a), expected, strict=True):
        np.testing.assert_array_equal(g, e)
        assert g.shape == e.shape
    assert [p.type.shape for p in pieces] == [e.shape for e in expected]


def test_split_indices_symbolic_size():
    x = st.matrix("x")
    pieces = st.split(x, [1, 3], axis=1)
    a = RNG.normal(size=(2, 5))
    for g, e in zip(sg.function([x], pieces)(a), np.split(a, [1, 3], axis=1), strict=True):
        np.testing.assert_array_equal(g, e)
    for p in pieces:
        check_shape(p, [x], [a])
    with pytest.raises(ValueError, match="non-decreasing"):
        st.split(x, [3, 1])
    f = sg.function([x], st.split(x, [1, 3], axis=1))
    with pytest.raises(ValueError, match="must be non-negative and sum to 2"):
        f(np.ones((2, 2)))


def test_split_sections_errors():
    with pytest.raises(ValueError, match="equal sections"):
        st.split(st.tensor("x", shape=(5,)), 2)
    with pytest.raises(ValueError, match="positive"):
        st.split(st.vector("x"), 0)
    x = st.vector("x")
    f = sg.function([x], st.split(x, 2))
    with pytest.raises(ValueError, match=r"split sizes \(2, 2\) must be non-negative and sum to 5"):
        f(np.ones(5))


def test_split_sizes_pytensor_style():
    x = st.matrix("x")
    sizes = st.lvector("sizes")
    pieces = st.split_sizes(x, sizes, 3, axis=0)
    a = RNG.normal(size=(6, 2))
    got = sg.function([x, sizes], pieces)(a, np.array([1, 0, 5]))
    for g, e in zip(got, np.split(a, [1, 1]), strict=True):
        np.testing.assert_array_equal(g, e)
    for p in pieces:
        check_shape(p, [x, sizes], [a, np.array([1, 0, 5])])
    with pytest.raises(ValueError, match="pass n_splits"):
        st.split_sizes(x, sizes)
    with pytest.raises(ValueError, match="sum to 2, but dimension 0 of y has size 3"):
        st.split_sizes(st.tensor("y", shape=(3,)), [1, 1])
    with pytest.raises(ValueError, match="negative"):
        st.split_sizes(x, [-1, 2])
    with pytest.raises(ValueError, match="3 split sizes for 2 pieces"):
        Split(2, 0)(x, [1, 1, 1])
    assert str(Split(2, 1)) == "Split{2, axis=1}"
    assert Split(3, 0).view_map == {0: [0], 1: [0], 2: [0]}


def test_split_grad_rop_and_unused_outputs():
    a = RNG.normal(size=(4, 3))
    check_op(lambda x: st.split(x, [1, 3])[1], [a], lambda x: np.split(x, [1, 3])[1])
    check_op(lambda x: st.split(x, 3, axis=1)[2] * 2.0, [a], lambda x: 2 * np.split(x, 3, axis=1)[2])
    # Gradient through two of three pieces; the unused one gets zeros.
    x = st.matrix("x")
    p0, p1, p2 = st.split_sizes(x, [1, 1, 2], 3)
    g = sg.function([x], grad((p0 * 2.0).sum() + (p2 * 3.0).sum(), x))(a)
    np.testing.assert_array_equal(g, np.array([[2.0] * 3, [0.0] * 3, [3.0] * 3, [3.0] * 3]))
    node = p0.owner
    assert node.op.connection_pattern(node) == [[True] * 3, [False] * 3]
    assert node.op.R_op(node.inputs, [None, None]) == [None] * 3


def test_split_output_views_do_not_expose_input():
    x = st.vector("x")
    a = np.arange(4.0)
    outs = sg.function([x], st.split(x, 2))(a)
    outs[0][:] = -1
    np.testing.assert_array_equal(a, np.arange(4.0))


# --------------------------------------------------------------------------- tile


@SETTINGS
@given(hst.lists(hst.integers(0, 3), min_size=0, max_size=3), hst.lists(hst.integers(0, 3), min_size=0, max_size=3))
def test_tile_matches_numpy(shape, reps):
    a = RNG.normal(size=shape)
    x = free(len(shape))
    out = st.tile(x, tuple(reps))
    np.testing.assert_array_equal(sg.function([x], out)(a), np.tile(a, tuple(reps)))
    check_shape(out, [x], [a])
    assert st.tile(st.tensor("s", shape=a.shape), tuple(reps)).type.shape == np.tile(a, tuple(reps)).shape


def test_tile_grad_symbolic_reps_and_errors():
    a = RNG.normal(size=(2, 3))
    check_op(lambda x: st.tile(x, (2, 3)), [a], lambda x: np.tile(x, (2, 3)))
    check_op(lambda x: st.tile(x, 2), [a], lambda x: np.tile(x, 2))
    check_op(lambda x: st.tile(x, (2, 1, 1)), [a], lambda x: np.tile(x, (2, 1, 1)))
    x, r = st.matrix("x"), st.lscalar("r")
    out = st.tile(x, (r, 2))
    np.testing.assert_array_equal(sg.function([x, r], out)(a, 3), np.tile(a, (3, 2)))
    check_shape(out, [x, r], [a, 3])
    assert st.tile(x, (1, 1)) is x
    with pytest.raises(ValueError, match="negative"):
        st.tile(x, (-1, 2))


# --------------------------------------------------------------------------- repeat


@SETTINGS
@given(hst.lists(hst.integers(0, 3), min_size=1, max_size=3), hst.data())
def test_repeat_matches_numpy(shape, data):
    a = RNG.normal(size=shape)
    axis = data.draw(hst.one_of(hst.none(), hst.integers(-len(shape), len(shape) - 1)))
    n = a.size if axis is None else shape[axis]
    if data.draw(hst.booleans()):
        repeats = data.draw(hst.integers(0, 3))
    else:
        repeats = data.draw(hst.lists(hst.integers(0, 3), min_size=n, max_size=n))
    expected = np.repeat(a, repeats, axis=axis)
    x = free(len(shape))
    out = st.repeat(x, repeats, axis=axis)
    np.testing.assert_array_equal(sg.function([x], out)(a), expected)
    check_shape(out, [x], [a])
    static = st.repeat(st.tensor("s", shape=a.shape), repeats, axis=axis)
    assert static.type.shape == expected.shape


def test_repeat_symbolic_repeats():
    x = st.matrix("x")
    r = st.lvector("r")
    out = x.repeat(r, axis=1)
    a = RNG.normal(size=(2, 3))
    counts = np.array([2, 0, 1])
    np.testing.assert_array_equal(sg.function([x, r], out)(a, counts), np.repeat(a, counts, axis=1))
    check_shape(out, [x, r], [a, counts])
    k = st.lscalar("k")
    out2 = st.repeat(x, k, axis=0)
    check_shape(out2, [x, k], [a, 3])
    # A length-1 count vector applies to every element, as in NumPy.
    one = st.repeat(x, [2], axis=1)
    np.testing.assert_array_equal(sg.function([x], one)(a), np.repeat(a, [2], axis=1))


def test_repeat_grad_and_rop():
    a = RNG.normal(size=(2, 3))
    check_op(lambda x: st.repeat(x, 2, axis=0), [a], lambda x: np.repeat(x, 2, axis=0))
    check_op(lambda x: st.repeat(x, [3, 0, 1], axis=1), [a], lambda x: np.repeat(x, [3, 0, 1], axis=1))
    check_op(lambda x: st.repeat(x, 2), [a], lambda x: np.repeat(x, 2))
    # Gradient with counts given at run time.
    x, r = st.matrix("x"), st.lvector("r")
    w = np.arange(8.0).reshape(2, 4)
    g = sg.function([x, r], grad((st.repeat(x, r, axis=1) * w).sum(), x))(a, np.array([0, 3, 1]))
    np.testing.assert_array_equal(g, np.array([[0.0, 3.0, 3.0], [0.0, 15.0, 7.0]]))
    node = st.repeat(x, r, axis=1).owner
    assert node.op.connection_pattern(node) == [[True], [False]]
    assert isinstance(node.op.L_op(node.inputs, node.outputs, [w * 1.0])[1].type, DisconnectedType)


def test_repeat_sum_is_the_transpose_of_repeat():
    """<repeat(x), y> == <x, repeat_sum(y)> for all x, y; and RepeatSum's own derivatives."""
    x, y, r = st.matrix("x"), st.matrix("y"), st.lvector("r")
    n = st.shape_i(x, 1)
    lhs = (Repeat(1)(x, r) * y).sum()
    rhs = (x * RepeatSum(1)(y, r, n)).sum()
    f = sg.function([x, y, r], [lhs, rhs])
    counts = np.array([2, 0, 3])
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 5))
    left, right = f(a, b, counts)
    np.testing.assert_allclose(left, right)
    check_op(lambda v: RepeatSum(0)(v, np.array([1, 0, 2]), 3), [RNG.normal(size=(3, 2))],
             lambda v: np.stack([v[0], np.zeros(2), v[1] + v[2]]))
    check_op(lambda v: RepeatSum(1)(v, np.array(2), 2), [RNG.normal(size=(2, 4))],
             lambda v: v.reshape(2, 2, 2).sum(-1))
    check_op(lambda v: RepeatSum(0)(v, np.array(0), 3), [np.zeros((0, 2))], lambda v: np.zeros((3, 2)))
    assert str(RepeatSum(1)) == "RepeatSum{axis=1}" and str(Repeat(0)) == "Repeat{axis=0}"


def test_repeat_errors():
    x = st.tensor("x", shape=(3,))
    with pytest.raises(ValueError, match="2 repeat counts for an axis of size 3"):
        st.repeat(x, st.constant(np.array([1, 2])))
    with pytest.raises(ValueError, match="non-negative"):
        st.repeat(x, -1)
    with pytest.raises(ValueError, match="non-negative"):
        st.repeat(x, [1, -1, 2])
    with pytest.raises(TypeError, match="integer"):
        st.repeat(x, st.vector("f"))
    with pytest.raises(TypeError, match="integers"):
        st.repeat(x, [1.5, 2, 3])
    v, r = st.vector("v"), st.lvector("r")
    f = sg.function([v, r], st.repeat(v, r))
    with pytest.raises(ValueError, match="2 repeat counts for an axis of size 3"):
        f(np.ones(3), np.array([1, 2]))
    with pytest.raises(ValueError, match="non-negative"):
        f(np.ones(2), np.array([1, -2]))


def test_verify_grad_through_composites():
    """tile and repeat inside larger expressions."""
    verify_grad(lambda v: (st.tile(v, (2, 2)) ** 2).sum(), [RNG.normal(size=(2, 2))], rng=RNG)
    verify_grad(lambda v: st.concatenate([st.repeat(v, 2, axis=0), v]).sum() * v.sum(), [RNG.normal(size=(2, 2))],
                rng=RNG)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda v: st.concatenate([v, v * 2], axis=1), lambda v: np.concatenate([v, 2 * v], 1)),
        (lambda v: st.stack([v, v]), lambda v: np.stack([v, v])),
        (lambda v: st.split(v, [1], axis=1)[1], lambda v: v[:, 1:]),
        (lambda v: st.tile(v, (1, 2)), lambda v: np.tile(v, (1, 2))),
        (lambda v: st.repeat(v, [1, 2, 0], axis=1), lambda v: np.repeat(v, [1, 2, 0], axis=1)),
    ],
)
def test_float32_paths(build, expected):
    out = check_op(build, [RNG.normal(size=(2, 3)).astype("float32")], expected)
    assert out.dtype == np.float32


def test_integer_values():
    a = np.arange(6, dtype=np.int8).reshape(2, 3)
    x = st.tensor("x", dtype="int8", shape=(None, None))
    f = sg.function([x], [st.concatenate([x, x]), st.repeat(x, 2), st.tile(x, 2), st.split(x, 3, axis=1)[0]])
    for got, exp in zip(f(a), [np.concatenate([a, a]), np.repeat(a, 2), np.tile(a, 2), a[:, :1]]):
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, exp)
