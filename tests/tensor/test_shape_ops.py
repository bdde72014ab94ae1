"""symgraph.tensor.shape: Shape, Shape_i, MakeVector, Reshape, SpecifyShape, BroadcastTo,
SumToShape, the DimShuffle-based helpers and symbolic_shape; values against NumPy,
gradients (verify_grad), R_op (finite differences) and infer_shape against real shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import grad, verify_grad
from symgraph.graph.basic import Apply, Constant
from symgraph.graph.null_type import DisconnectedType
from symgraph.graph.op import Op
from symgraph.graph.utils import MethodNotDefined
from symgraph.tensor.creation import BroadcastTo, SumToShape
from symgraph.tensor.shape import (
    MakeVector,
    NotScalarConstantError,
    Reshape,
    Shape,
    Shape_i,
    SpecifyShape,
    get_scalar_constant_value,
    get_vector_length,
    infer_static_shape,
    symbolic_shape,
)
from symgraph.testing import check_op

from shape_checks import check_shape

RNG = np.random.default_rng(1234)
SETTINGS = settings(max_examples=25, deadline=None)


def values_of(*shapes):
    return [RNG.normal(size=s) for s in shapes]


# --------------------------------------------------------------------------- Shape, Shape_i


def test_shape_values_type_and_property():
    x = st.tensor3("x")
    s = x.shape
    assert s.owner.op == Shape() and s.type == st.TensorType("int64", (3,))
    assert st.shape(x) is s  # interned
    a = np.zeros((2, 0, 5))
    out = sg.function([x], s)(a)
    assert out.dtype == np.int64 and tuple(out) == (2, 0, 5)
    check_shape(s, [x], [a])
    assert get_vector_length(s) == 3


def test_shape_i_values_negative_index_and_errors():
    x = st.matrix("x")
    f = sg.function([x], [st.shape_i(x, 0), st.shape_i(x, -1)])
    r0, r1 = f(np.zeros((4, 7)))
    assert (int(r0), int(r1)) == (4, 7) and r0.dtype == np.int64 and r0.ndim == 0
    assert str(st.shape_i(x, 1).owner.op) == "Shape_i{1}"
    with pytest.raises(np.exceptions.AxisError):
        st.shape_i(x, 2)
    with pytest.raises(ValueError, match="has no dimension 5"):
        Shape_i(5)(x)
    # A statically known size is a constant.
    y = st.tensor("y", shape=(3, None))
    assert isinstance(st.shape_i(y, 0), Constant) and int(st.shape_i(y, 0).data) == 3
    check_shape(Shape_i(0)(x), [x], [np.zeros((4, 7))])


def test_size_property():
    x = st.matrix("x")
    assert int(sg.function([x], x.size)(np.zeros((3, 5)))) == 15
    assert int(st.tensor("y", shape=(2, 3)).size.data) == 6


def test_shape_gradients_are_disconnected():
    x = st.matrix("x")
    node = x.shape.owner
    assert node.op.connection_pattern(node) == [[False]]
    assert isinstance(node.op.L_op([x], node.outputs, [x.shape.type()])[0].type, DisconnectedType)
    assert Shape().R_op([x], [x]) == [None]
    # The cost depends on x through its values (sum) and its shape; only the former counts.
    cost = x.sum() * st.cast(st.shape_i(x, 0), "float64")
    g = sg.function([x], grad(cost, x))(np.ones((3, 2)))
    np.testing.assert_allclose(g, np.full((3, 2), 3.0))


# --------------------------------------------------------------------------- constant folding


def test_get_scalar_constant_value():
    x = st.tensor("x", shape=(3, None))
    assert get_scalar_constant_value(5) == 5
    assert get_scalar_constant_value(st.constant(2.5)) == 2.5
    assert get_scalar_constant_value(st.shape_i(x, 0) * 2 + 1) == 7
    assert get_scalar_constant_value(x.shape[0]) == 3
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(Shape_i(1)(x))
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(st.scalar("s"))
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(st.constant(np.ones(3)))


def test_infer_static_shape():
    x = st.tensor("x", shape=(3, None))
    n = st.lscalar("n")
    entries, static = infer_static_shape((2, st.shape_i(x, 0), n, Shape_i(1)(x)))
    assert static == (2, 3, None, None)
    assert len(entries) == 4 and all(e.ndim == 0 for e in entries)
    assert infer_static_shape(4)[1] == (4,)
    with pytest.raises(TypeError, match="integer"):
        infer_static_shape((2.5,))


# --------------------------------------------------------------------------- symbolic_shape


def test_symbolic_shape_roots_static_and_fallback():
    x = st.tensor("x", shape=(2, None))
    s0, s1 = symbolic_shape(x)
    assert isinstance(s0, Constant) and int(s0.data) == 2
    assert s1.owner.op == Shape_i(1) and s1.owner.inputs[0] is x

    class NoShape(Op):
        __props__ = ()

        def make_node(self, v):
            return Apply(self, [v], [v.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0].copy()

    y = NoShape()(st.matrix("m"))
    dims = symbolic_shape(y)
    assert all(d.owner.inputs[0] is y for d in dims)  # falls back to computing y
    with pytest.raises(MethodNotDefined):
        symbolic_shape(y, fallback=False)
    # Below an op without infer_shape, the walk continues with the fallback.
    z = st.reshape(y, (-1,))
    (dz,) = symbolic_shape(z)
    assert int(sg.function([y.owner.inputs[0]], dz)(np.zeros((3, 4)))) == 12


def test_symbolic_shape_does_not_recurse():
    x = st.vector("x")
    y = x
    for _ in range(3000):
        y = st.reshape(y, (-1,))
    (d,) = symbolic_shape(y)
    assert d.owner.op == Shape_i(0) and d.owner.inputs[0] is x


# --------------------------------------------------------------------------- MakeVector


def test_make_vector():
    a, b = st.lscalar("a"), st.iscalar("b")
    v = st.make_vector(a, b, 7)
    assert v.type == st.TensorType("int64", (3,))
    out = sg.function([a, b], v)(2, 3)
    assert out.dtype == np.int64 and list(out) == [2, 3, 7]
    with pytest.raises(TypeError, match="safely"):
        st.make_vector(st.scalar("f"))
    with pytest.raises(TypeError, match="not a scalar"):
        st.make_vector(st.vector("v"))
    check_shape(v, [a, b], [2, 3])


def test_make_vector_float_grad_and_rop():
    check_op(
        lambda a, b: MakeVector("float64")(a, b * 2.0),
        [np.array(0.3), np.array(-1.2)],
        lambda a, b: np.array([a, 2 * b]),
    )


# --------------------------------------------------------------------------- Reshape


@hst.composite
def reshape_cases(draw):
    """A shape, and a reshape target of the same size with possibly one -1."""
    shape = tuple(draw(hst.lists(hst.integers(1, 4), min_size=0, max_size=4)))
    size = int(np.prod(shape))
    factors = []
    rest = size
    for _ in range(draw(hst.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(hst.sampled_from(divisors))
        factors.append(d)
        rest //= d
    factors.append(rest)
    factors = draw(hst.permutations(factors))
    if draw(hst.booleans()):
        factors[draw(hst.integers(0, len(factors) - 1))] = -1
    return shape, tuple(factors)


@SETTINGS
@given(reshape_cases())
def test_reshape_matches_numpy(case):
    shape, target = case
    a = RNG.normal(size=shape)
    x = st.tensor("x", shape=(None,) * len(shape))
    y = st.reshape(x, target)
    np.testing.assert_array_equal(sg.function([x], y)(a), a.reshape(target))
    check_shape(y, [x], [a])
    # With a static input shape the output shape is static too.
    z = st.reshape(st.tensor("z", shape=shape), target)
    assert z.type.shape == a.reshape(target).shape


def test_reshape_check_op_and_symbolic_entries():
    a = RNG.normal(size=(2, 3, 4))
    check_op(lambda x: st.reshape(x, (4, -1)), [a], lambda x: x.reshape(4, -1))
    check_op(lambda x: x.reshape(6, 4), [a], lambda x: x.reshape(6, 4))
    # Entries taken from another tensor's shape.
    check_op(lambda x, y: st.reshape(x, (st.shape_i(y, 0), -1)), [a, np.zeros(3)], lambda x, y: x.reshape(3, -1), wrt=[0])


def test_reshape_with_runtime_minus_one():
    """Which entry is -1 is only known at run time: infer_shape must use a switch."""
    x = st.tensor3("x")
    shp = st.lvector("shp", shape=(2,))
    y = st.reshape(x, shp)
    assert y.type.shape == (None, None)
    a = np.zeros((2, 3, 4))
    for target in ([-1, 6], [4, -1], [8, 3]):
        assert sg.function([x, shp], y)(a, np.array(target)).shape == a.reshape(target).shape
        check_shape(y, [x, shp], [a, np.array(target)])


def test_reshape_shape_vector_of_unknown_length_needs_ndim():
    x = st.matrix("x")
    shp = st.lvector("shp")
    with pytest.raises(ValueError, match="pass ndim"):
        st.reshape(x, shp)
    y = st.reshape(x, shp, ndim=1)
    assert sg.function([x, shp], y)(np.zeros((2, 3)), np.array([6])).shape == (6,)
    with pytest.raises(ValueError, match="expected shape"):
        sg.function([x, shp], y)(np.zeros((2, 3)), np.array([2, 3]))


def test_reshape_errors():
    x = st.tensor("x", shape=(2, 3))
    with pytest.raises(ValueError, match="cannot reshape"):
        st.reshape(x, (4, 2))
    with pytest.raises(ValueError, match="cannot reshape"):
        st.reshape(x, (4, -1))
    with pytest.raises(ValueError, match="only one size can be -1"):
        st.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="invalid size"):
        st.reshape(x, (-2, 3))
    with pytest.raises(TypeError, match="integer"):
        st.reshape(x, (2.0, 3))
    m = st.matrix("m")
    f = sg.function([m], st.reshape(m, (4, -1)))
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(2, 3\)"):
        f(np.zeros((2, 3)))
    n = st.lscalar("n")
    g = sg.function([m, n], st.reshape(m, (n, 3)))
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        g(np.zeros((2, 3)), -2)
    with pytest.raises(ValueError, match="size 6"):
        g(np.zeros((2, 3)), 3)


def test_reshape_gradient_shapes_and_rop_none():
    x = st.matrix("x")
    y = st.reshape(x, (-1,))
    node = y.owner
    assert node.op.connection_pattern(node) == [[True], [False]]
    assert node.op.R_op(node.inputs, [None, None]) == [None]
    assert str(node.op) == "Reshape{1}" and node.op == Reshape(1)


def test_reshape_output_does_not_expose_input():
    x = st.matrix("x")
    a = np.arange(6.0).reshape(2, 3)
    out = sg.function([x], st.reshape(x, (-1,)))(a)
    out[:] = -1
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))


# --------------------------------------------------------------------------- flatten


@SETTINGS
@given(hst.lists(hst.integers(0, 3), min_size=1, max_size=4), hst.data())
def test_flatten_matches_numpy(shape, data):
    ndim = data.draw(hst.integers(1, len(shape)))
    a = RNG.normal(size=shape)
    x = st.tensor("x", shape=(None,) * len(shape))
    y = st.flatten(x, ndim)
    expected = a.reshape(a.shape[: ndim - 1] + (int(np.prod(a.shape[ndim - 1 :])),))
    np.testing.assert_array_equal(sg.function([x], y)(a), expected)
    if y is not x:
        check_shape(y, [x], [a])


def test_flatten_methods_grad_and_errors():
    a = RNG.normal(size=(2, 3, 4))
    check_op(lambda x: x.flatten(), [a], lambda x: x.ravel())
    check_op(lambda x: x.flatten(2), [a], lambda x: x.reshape(2, 12))
    check_op(lambda x: x.ravel(), [a], lambda x: x.ravel())
    x = st.matrix("x")
    assert st.flatten(x, 2) is x
    assert st.flatten(st.tensor("y", shape=(2, 3, 5)), 2).type.shape == (2, 15)
    with pytest.raises(ValueError, match="ndim"):
        st.flatten(x, 3)


# --------------------------------------------------------------------------- SpecifyShape


def test_specify_shape_static_type_and_runtime_check():
    x = st.matrix("x")
    y = st.specify_shape(x, (2, None))
    assert y.type.shape == (2, None) and isinstance(y.owner.op, SpecifyShape)
    f = sg.function([x], y)
    a = np.ones((2, 5))
    np.testing.assert_array_equal(f(a), a)
    with pytest.raises(ValueError, match=r"expected shape \(2, \?\), got an array of shape \(3, 5\)"):
        f(np.ones((3, 5)))
    # Symbolic sizes are checked at run time.
    n = st.lscalar("n")
    g = sg.function([x, n], st.specify_shape(x, (n, n)))
    g(np.ones((3, 3)), 3)
    with pytest.raises(ValueError, match="expected shape"):
        g(np.ones((3, 4)), 3)
    # A whole shape vector.
    z = st.specify_shape(x, st.constant(np.array([4, 1])))
    assert z.type.shape == (4, 1)


def test_specify_shape_build_time_and_noop():
    x = st.tensor("x", shape=(2, None))
    with pytest.raises(ValueError, match="does not match"):
        st.specify_shape(x, (3, None))
    with pytest.raises(ValueError, match="2 dimensions"):
        st.specify_shape(x, (2,))
    assert st.specify_shape(x, (2, None)) is x
    assert st.specify_shape(x, (None, None)) is x


def test_specify_shape_grad_rop_shape():
    a = RNG.normal(size=(2, 3))
    check_op(lambda x: st.specify_shape(x, (2, 3)) * 2.0, [a], lambda x: 2 * x)
    x = st.matrix("x")
    n = st.lscalar("n")
    check_shape(st.specify_shape(x, (n, None)), [x, n], [a, 2])
    y = st.specify_shape(x, (2, None))
    gx = grad(y.sum(), x)
    assert gx.type.shape == (2, None)


def test_specify_broadcastable_enables_broadcasting():
    x = st.matrix("x")
    row = st.specify_broadcastable(x, 0)
    assert row.type.shape == (1, None)
    m = st.matrix("m")
    f = sg.function([x, m], row + m)
    np.testing.assert_array_equal(f(np.ones((1, 3)), np.zeros((4, 3))), np.ones((4, 3)))
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.zeros((4, 3)))


# --------------------------------------------------------------------------- squeeze, expand_dims, transpose


def test_squeeze():
    x = st.tensor("x", shape=(1, None, 1))
    assert st.squeeze(x).type.shape == (None,)
    a = RNG.normal(size=(1, 4, 1))
    np.testing.assert_array_equal(sg.function([x], x.squeeze())(a), a.squeeze())
    # A named axis of unknown size is checked at run time.
    m = st.matrix("m")
    f = sg.function([m], st.squeeze(m, axis=1))
    np.testing.assert_array_equal(f(np.ones((3, 1))), np.ones(3))
    with pytest.raises(ValueError, match="expected shape"):
        f(np.ones((3, 2)))
    with pytest.raises(ValueError, match="its size is not 1"):
        st.squeeze(st.tensor("y", shape=(2, 1)), 0)
    with pytest.raises(np.exceptions.AxisError):
        st.squeeze(m, 2)
    assert st.squeeze(m) is m
    check_op(lambda v: st.squeeze(v, (0, 2)), [a], lambda v: v.squeeze((0, 2)))
    check_op(lambda v: st.squeeze(v, -1), [RNG.normal(size=(3, 1))], lambda v: v.squeeze(-1))


@SETTINGS
@given(hst.lists(hst.integers(1, 3), min_size=0, max_size=3), hst.data())
def test_expand_dims_matches_numpy(shape, data):
    n_new = data.draw(hst.integers(1, 2))
    out_ndim = len(shape) + n_new
    axes = data.draw(hst.lists(hst.integers(-out_ndim, out_ndim - 1), min_size=n_new, max_size=n_new))
    if len({a % out_ndim for a in axes}) != len(axes):
        with pytest.raises(ValueError):
            st.expand_dims(st.tensor("x", shape=(None,) * len(shape)), tuple(axes))
        return
    a = RNG.normal(size=shape)
    x = st.tensor("x", shape=(None,) * len(shape))
    y = st.expand_dims(x, tuple(axes))
    np.testing.assert_array_equal(sg.function([x], y)(a), np.expand_dims(a, tuple(axes)))
    check_shape(y, [x], [a])


def test_expand_dims_grad_and_errors():
    a = RNG.normal(size=(2, 3))
    check_op(lambda x: st.expand_dims(x, (0, -1)), [a], lambda x: np.expand_dims(x, (0, -1)))
    with pytest.raises(np.exceptions.AxisError):
        st.expand_dims(st.matrix("x"), 3)


def test_transpose_and_swapaxes():
    a = RNG.normal(size=(2, 3, 4))
    check_op(lambda x: st.transpose(x), [a], lambda x: x.T)
    check_op(lambda x: st.transpose(x, (1, 0, 2)), [a], lambda x: np.transpose(x, (1, 0, 2)))
    check_op(lambda x: st.swapaxes(x, 0, -1), [a], lambda x: np.swapaxes(x, 0, -1))
    check_op(lambda x: x.swapaxes(1, 2), [a], lambda x: x.swapaxes(1, 2))
    with pytest.raises(ValueError):
        st.transpose(st.matrix("x"), (0, 0))


# --------------------------------------------------------------------------- broadcast_to, sum_to_shape


@SETTINGS
@given(hst.lists(hst.integers(1, 3), min_size=0, max_size=3), hst.data())
def test_broadcast_to_matches_numpy(shape, data):
    ones = data.draw(hst.lists(hst.booleans(), min_size=len(shape), max_size=len(shape)))
    src = tuple(1 if o else s for s, o in zip(shape, ones))
    lead = tuple(data.draw(hst.lists(hst.integers(0, 3), max_size=2)))
    target = lead + tuple(shape)
    a = RNG.normal(size=src)
    x = st.tensor("x", shape=(None,) * len(src))
    y = st.broadcast_to(x, target)
    out = sg.function([x], y)(a)
    np.testing.assert_array_equal(out, np.broadcast_to(a, target))
    check_shape(y, [x], [a])
    assert y.type.shape == target  # constant target: fully static


def test_broadcast_to_check_op_static_and_symbolic():
    check_op(lambda x: st.broadcast_to(x, (4, 3)), [RNG.normal(size=(1, 3))], lambda x: np.broadcast_to(x, (4, 3)))
    check_op(
        lambda x: st.broadcast_to(x, (2, 3, 4)), [RNG.normal(size=(3, 1))], lambda x: np.broadcast_to(x, (2, 3, 4))
    )
    check_op(
        lambda x, y: st.broadcast_to(x, y.shape), [RNG.normal(size=(3,)), np.zeros((2, 3))], lambda x, y: np.broadcast_to(x, y.shape), wrt=[0]
    )


def test_broadcast_to_runtime_broadcast_gradient():
    """A dimension not statically 1 may still broadcast at run time (NumPy semantics); the
    gradient must then sum over it, which SumToShape decides at run time."""
    x = st.matrix("x")  # shape (?, ?)
    y = st.broadcast_to(x, (4, 3))
    assert y.type.shape == (4, 3)
    gfn = sg.function([x], grad((y * np.arange(12.0).reshape(4, 3)).sum(), x))
    np.testing.assert_allclose(gfn(np.ones((1, 3))), np.arange(12.0).reshape(4, 3).sum(0, keepdims=True))
    np.testing.assert_allclose(gfn(np.ones((4, 3))), np.arange(12.0).reshape(4, 3))
    np.testing.assert_allclose(gfn(np.ones((1, 1))), [[66.0]])
    verify_grad(lambda v: st.broadcast_to(v, (4, 3)), [RNG.normal(size=(1, 3))], rng=RNG)


def test_broadcast_to_errors_view_and_noop():
    x = st.tensor("x", shape=(2, 3))
    with pytest.raises(ValueError, match="cannot broadcast"):
        st.broadcast_to(x, (2, 4))
    with pytest.raises(ValueError, match="more dimensions"):
        st.broadcast_to(x, (3,))
    assert st.broadcast_to(x, (2, 3)) is x
    m = st.matrix("m")
    f = sg.function([m], st.broadcast_to(m, (2, 3)))
    with pytest.raises(ValueError, match=r"cannot broadcast an array of shape \(2, 2\) to shape \(2, 3\)"):
        f(np.ones((2, 2)))
    assert BroadcastTo.view_map == {0: [0]}
    a = np.ones((1, 3))
    out = f(a)
    assert not np.shares_memory(out, a)


@SETTINGS
@given(hst.lists(hst.integers(1, 3), min_size=0, max_size=3), hst.data())
def test_sum_to_shape_matches_numpy(shape, data):
    ones = data.draw(hst.lists(hst.booleans(), min_size=len(shape), max_size=len(shape)))
    small = tuple(1 if o else s for s, o in zip(shape, ones))
    lead = tuple(data.draw(hst.lists(hst.integers(0, 3), max_size=2)))
    g = RNG.normal(size=lead + tuple(shape))
    expected = g.sum(axis=tuple(range(len(lead)))).sum(
        axis=tuple(d for d, o in enumerate(ones) if o), keepdims=True
    ) if shape else g.sum()
    v = st.tensor("g", shape=(None,) * g.ndim)
    out = sg.function([v], st.sum_to_shape(v, small))(g)
    np.testing.assert_allclose(out, np.broadcast_to(expected, small) if small else expected)


def test_sum_to_shape_grad_rop_shape_and_errors():
    g = RNG.normal(size=(2, 4, 3))
    check_op(lambda v: st.sum_to_shape(v, (1, 3)), [g], lambda v: v.sum(0).sum(0, keepdims=True))
    check_op(lambda v: st.sum_to_shape(v, (4, 1)), [g], lambda v: v.sum(0).sum(1, keepdims=True))
    v = st.tensor3("v")
    with pytest.raises(ValueError, match="target shape has 4 entries"):
        st.sum_to_shape(v, (1, 1, 1, 1))
    f = sg.function([v], SumToShape()(v, 4, 2))
    with pytest.raises(ValueError, match="cannot sum an array of shape"):
        f(g)
    assert st.sum_to_shape(st.tensor("w", shape=(2, 3)), (2, 3)).owner is None


def test_partly_static_shape_entries():
    """``x.shape[d]`` folds when dimension d is static, even if others are not."""
    x = st.tensor("x", shape=(3, None))
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(x.shape[1])
    assert st.reshape(st.matrix("m"), (x.shape[0], -1)).type.shape == (3, None)
    assert st.alloc(0.0, x.shape[0], x.shape[1]).type.shape == (3, None)
    # Big constants are not reduced at build time just to learn a value.
    big = st.constant(np.ones(10**5, dtype="int64"))
    with pytest.raises(NotScalarConstantError):
        get_scalar_constant_value(big.sum())


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda v: st.reshape(v, (3, -1)), lambda v: v.reshape(3, -1)),
        (lambda v: st.broadcast_to(v, (2, 2, 3)), lambda v: np.broadcast_to(v, (2, 2, 3))),
        (lambda v: st.specify_shape(v, (2, 3)), lambda v: v),
        (lambda v: st.sum_to_shape(v, (1, 3)), lambda v: v.sum(0, keepdims=True)),
    ],
)
def test_float32_paths(build, expected):
    out = check_op(build, [RNG.normal(size=(2, 3)).astype("float32")], expected)
    assert out.dtype == np.float32


def test_integer_inputs_values():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = check_op(lambda v: st.broadcast_to(st.reshape(v, (3, 1, 2)), (3, 2, 2)), [a],
                   lambda v: np.broadcast_to(v.reshape(3, 1, 2), (3, 2, 2)))
    assert out.dtype == np.int32


def test_view_outputs_do_not_expose_inputs():
    x = st.matrix("x")
    a = np.ones((2, 3))
    f = sg.function([x], [st.specify_shape(x, (2, 3)), st.squeeze(st.expand_dims(x, 0), 0)])
    for out in f(a):
        assert not np.shares_memory(out, a)
    assert SpecifyShape.view_map == {0: [0]} and Reshape.view_map == {0: [0]}
