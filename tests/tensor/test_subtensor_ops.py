"""Basic indexing ``x[idx]`` (integers, slices, None, Ellipsis): the Subtensor op.

Values are compared with NumPy on hypothesis-drawn shapes and indices, with index parts
given as constants or as symbolic inputs; gradients, R_op and infer_shape go through
``check_op``.
"""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import symgraph as sg
import symgraph.tensor as st
from symgraph.graph.basic import ancestors
from symgraph.tensor.shape import symbolic_shape
from symgraph.tensor.subtensor import SCALAR, AdvancedSubtensor, IdxSlice, IndexShape, Subtensor
from symgraph.testing import check_op

RNG = np.random.default_rng(42)


# --------------------------------------------------------------------------- strategies


@hs.composite
def basic_keys(draw, max_dims=4):
    """(shape, key) with ints, slices (negative steps too), None and possibly an Ellipsis."""
    shape = tuple(draw(hs.lists(hs.integers(0, 5), max_size=max_dims)))
    per_dim = []
    for n in shape:
        if n > 0 and draw(hs.booleans()):
            per_dim.append(draw(hs.integers(-n, n - 1)))
        else:
            bound = hs.one_of(hs.none(), hs.integers(-n - 2, n + 2))
            step = draw(hs.sampled_from([None, 1, 2, 3, -1, -2, -3]))
            per_dim.append(slice(draw(bound), draw(bound), step))
    if draw(hs.booleans()):
        head = draw(hs.integers(0, len(shape)))
        tail = draw(hs.integers(0, len(shape) - head))
        key = per_dim[:head] + [Ellipsis] + per_dim[len(shape) - tail :]
    else:
        key = per_dim[: draw(hs.integers(0, len(shape)))]
    for _ in range(draw(hs.integers(0, 2))):
        key.insert(draw(hs.integers(0, len(key))), None)
    return shape, tuple(key)


def symbolize(key, choose):
    """``key`` with some ints (and slice parts) replaced by int64 scalar inputs.

    Returns the symbolic key, the inputs and their values. ``choose()`` says whether to
    make the next integer symbolic."""
    inputs, values = [], []

    def conv(v):
        if isinstance(v, int) and choose():
            var = st.lscalar(f"i{len(inputs)}")
            inputs.append(var)
            values.append(np.int64(v))
            return var
        return v

    out = []
    for k in key:
        if isinstance(k, slice):
            out.append(slice(conv(k.start), conv(k.stop), conv(k.step)))
        else:
            out.append(conv(k))
    return tuple(out), inputs, values


# --------------------------------------------------------------------------- values


@settings(max_examples=150, deadline=None)
@given(basic_keys(), hs.data())
def test_basic_indexing_matches_numpy(shape_key, data):
    shape, key = shape_key
    a = RNG.normal(size=shape)
    sym_key, idx_inputs, idx_values = symbolize(key, lambda: data.draw(hs.booleans()))
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    out = x[sym_key]
    assert isinstance(out.owner.op, Subtensor) and not isinstance(out.owner.op, AdvancedSubtensor)
    got = sg.function([x, *idx_inputs], out)(a, *idx_values)
    expected = a[key]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert out.type.ndim == expected.ndim


@settings(max_examples=100, deadline=None)
@given(basic_keys())
def test_static_shape_is_exact_with_static_input(shape_key):
    shape, key = shape_key
    x = st.tensor("x", dtype="float64", shape=shape)
    out = x[key]
    assert out.type.shape == np.empty(shape)[key].shape


@settings(max_examples=60, deadline=None)
@given(basic_keys(max_dims=3), hs.data())
def test_basic_indexing_grad_rop_shape(shape_key, data):
    shape, key = shape_key
    a = RNG.normal(size=shape)
    sym_key, idx_inputs, idx_values = symbolize(key, lambda: data.draw(hs.booleans()))

    def build(x, *idx):
        mapping = dict(zip(idx_inputs, idx))  # check_op's own inputs replace ours

        def sub(v):
            return mapping.get(v, v) if isinstance(v, sg.Variable) else v

        return x[tuple(slice(sub(e.start), sub(e.stop), sub(e.step)) if isinstance(e, slice) else sub(e) for e in sym_key)]

    check_op(build, [a, *idx_values], lambda a, *_: a[key], wrt=[0], rng=0)


@pytest.mark.parametrize(
    "key",
    [
        (1,),
        (-1, slice(None, None, -1)),
        (slice(1, None), slice(None, None, 2)),
        (None, Ellipsis, 0),
        (slice(-2, None), None, slice(3, 0, -2)),
        (),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_op_cases(key, dtype):
    a = RNG.normal(size=(4, 5)).astype(dtype)
    check_op(lambda x: x[key], [a], lambda a: a[key], rng=1)


def test_symbolic_bounds_need_index_shape():
    x, i, j = st.matrix("x"), st.lscalar("i"), st.iscalar("j")
    out = x[i:j:2, -j]
    a = RNG.normal(size=(7, 5))
    dims = symbolic_shape(out, fallback=False)
    f = sg.function([x, i, j], list(dims))
    for iv, jv in [(1, 5), (-6, 3), (4, 2), (0, 1)]:
        assert tuple(int(d) for d in f(a, iv, jv)) == a[iv:jv:2, -jv].shape
    # The shape graph does not compute the indexing itself, only IndexShape.
    shape_ops = {type(v.owner.op) for v in ancestors(list(dims)) if v.owner is not None}
    assert Subtensor not in shape_ops and IndexShape in shape_ops


def test_full_slices_reuse_input_shape():
    x = st.tensor3("x")
    out = x[:, 1, ::-1]
    dims = symbolic_shape(out, fallback=False)
    shape_ops = {type(v.owner.op) for v in ancestors(list(dims)) if v.owner is not None}
    assert IndexShape not in shape_ops
    a = RNG.normal(size=(2, 3, 4))
    assert tuple(int(d) for d in sg.function([x], list(dims))(a)) == (2, 4)


# --------------------------------------------------------------------------- graph structure


def test_constant_indices_are_folded_into_the_op():
    x = st.matrix("x")
    a = x[1, 2:5]
    b = x[st.constant(1), st.constant(np.int32(2)) : np.int64(5)]
    assert a is b  # interned: same op, same inputs
    assert a.owner.op.idx_list == (1, IdxSlice(2, 5, None))
    assert list(a.owner.inputs) == [x]


def test_symbolic_parts_are_inputs():
    x, i = st.matrix("x"), st.lscalar("i")
    out = x[i, 1:i]
    assert out.owner.op.idx_list == (SCALAR, IdxSlice(1, SCALAR, None))
    assert list(out.owner.inputs) == [x, i, i]
    assert str(out.owner.op) == "Subtensor{i0, 1:i1}"


def test_str_is_readable():
    x, i = st.tensor3("x"), st.lscalar("i")
    assert str(x[::-1, None, 2:i:3].owner.op) == "Subtensor{::-1, None, 2:i0:3}"
    assert str(x[..., 0].owner.op) == "Subtensor{:, :, 0}"
    assert "Subtensor{1}" in sg.debugprint(x[1], file="str")


def test_ellipsis_is_expanded_in_basic_indices():
    x = st.tensor3("x")
    assert x[..., 1] is x[:, :, 1]
    assert x[1, ...] is x[1]
    assert x[1, :, :] is x[1]  # trailing full slices are dropped too


def test_shape_index():
    x = st.matrix("x")
    n = x.shape[0]
    assert n.type.ndim == 0 and n.dtype == "int64"
    assert int(n.eval({x: np.zeros((3, 4))})) == 3
    assert int(x.shape[-1].eval({x: np.zeros((3, 4))})) == 4


def test_index_types_checked():
    x = st.matrix("x")
    with pytest.raises(TypeError, match="integers or booleans"):
        x[1.5]
    with pytest.raises(TypeError, match="integers or booleans"):
        x[st.dscalar("f")]
    with pytest.raises(TypeError, match="slice indices must be"):
        x[st.dscalar("f") :]
    with pytest.raises(TypeError, match="slice indices must be"):
        x[: st.lvector("v")]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]


def test_too_many_indices():
    x = st.matrix("x")
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="too many indices"):
        st.scalar("s")[0]


def test_static_out_of_bounds_raises_when_building():
    x = st.matrix("x", shape=(3, None))
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        x[3]
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        x[-4]
    x[-3]  # fine
    x[0, 100]  # unknown size: checked at run time


def test_runtime_out_of_bounds_is_a_clear_index_error():
    x, i = st.matrix("x"), st.lscalar("i")
    f = sg.function([x, i], x[i])
    a = np.zeros((3, 2))
    np.testing.assert_array_equal(f(a, -3), a[-3])
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        f(a, 3)
    g = sg.function([x], x[:, 5])
    with pytest.raises(IndexError, match=r"shape \(3, 2\)"):
        g(a)


def test_op_rejects_wrong_index_inputs():
    x = st.matrix("x")
    op = Subtensor((SCALAR,))
    with pytest.raises(TypeError, match="expects 1 index inputs"):
        op(x)
    with pytest.raises(TypeError, match="0-d integer"):
        op(x, st.dscalar())
    with pytest.raises(TypeError, match="invalid idx_list entry"):
        Subtensor((1.5,))
    # Python slices are accepted in idx_list and stored as IdxSlice (hashable props).
    assert Subtensor((slice(1, None),)) == Subtensor((IdxSlice(1, None, None),))


# --------------------------------------------------------------------------- views and aliasing


def test_perform_returns_a_view_as_declared():
    x = st.matrix("x")
    out = x[1:, 0]
    assert out.owner.op.view_map == {0: [0]}
    a = RNG.normal(size=(3, 4))
    storage = [[None]]
    out.owner.op.perform(out.owner, [a], storage)
    assert np.shares_memory(storage[0][0], a)
    # A full integer index still gives a 0-d ndarray, not a NumPy scalar.
    full = x[1, 2]
    full.owner.op.perform(full.owner, [a], storage)
    assert type(storage[0][0]) is np.ndarray and storage[0][0].ndim == 0


def test_compiled_view_outputs_do_not_alias_inputs():
    x = st.matrix("x")
    f = sg.function([x], [x[1:], x[:, 0], x[None, 0, 0]])
    a = RNG.normal(size=(3, 4))
    keep = a.copy()
    outs = f(a)
    for o in outs:
        assert not np.shares_memory(o, a)
        o[...] = 99.0
    np.testing.assert_array_equal(a, keep)


def test_shared_variable_not_modified_through_view_output():
    s = sg.shared(np.arange(6.0), name="s")
    f = sg.function([], s[::2])
    out = f()
    out[:] = -1
    np.testing.assert_array_equal(s.get_value(), np.arange(6.0))


# --------------------------------------------------------------------------- methods


def test_setitem_explains_set_subtensor():
    x = st.vector("x")
    with pytest.raises(TypeError, match="set_subtensor"):
        x[0] = 1.0


def test_iteration():
    x = st.vector("x", shape=(3,))
    parts = list(x)
    assert len(parts) == 3 and parts[2] is x[2]
    with pytest.raises(TypeError, match="not known statically"):
        list(st.vector("y"))
    with pytest.raises(TypeError, match="0-d"):
        iter(st.scalar("s"))


def test_pickled_graph_keeps_indexing():
    x, i = st.matrix("x"), st.lscalar("i")
    out = x[i:, ::-1]
    f = sg.function([x, i], out)
    f2 = pickle.loads(pickle.dumps(f))
    a = RNG.normal(size=(4, 3))
    np.testing.assert_array_equal(f2(a, 1), a[1:, ::-1])
    op = pickle.loads(pickle.dumps(out.owner.op))
    assert op == out.owner.op and op.idx_list[0].start is SCALAR
    v, y = st.lvector("v"), st.vector("y")
    g = sg.function([x, v, y], st.inc_subtensor(x[v, ..., 1], y))
    g2 = pickle.loads(pickle.dumps(g))
    expected = a.copy()
    np.add.at(expected, (np.array([0, 0]), Ellipsis, 1), np.ones(2))
    np.testing.assert_array_equal(g2(a, np.array([0, 0]), np.ones(2)), expected)


def test_index_inputs_are_disconnected_from_gradients():
    x, i = st.vector("x"), st.lscalar("i")
    cost = x[i:].sum()
    gx = sg.grad(cost, x)
    np.testing.assert_array_equal(gx.eval({x: np.ones(4), i: 1}), [0.0, 1.0, 1.0, 1.0])
    assert cost.owner is not None
    with pytest.raises(Exception, match="[Dd]isconnected|not depend"):
        sg.grad(x[i], i)


def test_grad_of_integer_tensor_is_zero():
    x = st.lvector("x")
    w = st.scalar("w")
    g = sg.grad((x[1:] * w).sum(), w)
    assert float(g.eval({x: np.arange(4), w: 2.0})) == 6.0
