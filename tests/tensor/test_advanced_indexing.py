"""Advanced indexing (integer arrays, boolean masks, mixed with basic indices), IndexShape
and take: values and shapes against NumPy, gradients (repeated indices accumulate), R_op
and infer_shape."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

import symgraph as sg
import symgraph.tensor as st
from symgraph.graph.basic import ancestors
from symgraph.tensor.shape import symbolic_shape
from symgraph.tensor.subtensor import ARRAY, AdvancedSubtensor, IndexShape, Subtensor
from symgraph.testing import check_op

RNG = np.random.default_rng(7)


# --------------------------------------------------------------------------- strategies


@hs.composite
def advanced_keys(draw, max_dims=4, valid=True):
    """(shape, key): at least one integer array or mask, with ints, slices, None, Ellipsis.

    Integer arrays share a broadcastable shape unless ``valid`` is False, in which case
    shapes and values are arbitrary (NumPy may reject the index)."""
    rng = np.random.default_rng(draw(hs.integers(0, 2**32 - 1)))
    shape = tuple(draw(hs.lists(hs.integers(0, 4), min_size=1, max_size=max_dims)))
    bshape = tuple(draw(hs.lists(hs.integers(0, 3), max_size=2)))
    key, dim, has_array = [], 0, False
    n_entries = draw(hs.integers(1, len(shape)))
    while dim < len(shape) and len(key) < n_entries:
        n = shape[dim]
        kinds = ["bool", "slice", "int_array"] + (["int"] if n else [])
        if dim + 1 < len(shape):
            kinds.append("bool2")
        kind = draw(hs.sampled_from(kinds))
        if kind == "int_array" and (n or not valid or 0 in bshape):
            ashape = tuple(draw(hs.sampled_from([1, s])) for s in bshape[draw(hs.integers(0, len(bshape))) :])
            if not valid:
                ashape = tuple(draw(hs.lists(hs.integers(0, 3), min_size=1, max_size=2)))
            ashape = ashape or (1,)  # a 0-d integer array would be a basic index
            lo, hi = (-n, n - 1) if valid else (-n - 1, n)
            if n == 0 and valid:
                ashape = ashape + (0,) if 0 not in ashape else ashape
                key.append(np.zeros(ashape, dtype=np.int64))
            else:
                key.append(rng.integers(lo, hi + 1, size=ashape) if hi >= lo else np.zeros(ashape, np.int64))
            has_array = True
            dim += 1
        elif kind in ("bool", "bool2"):
            k = 2 if kind == "bool2" else 1
            mshape = shape[dim : dim + k]
            if not valid and draw(hs.booleans()):
                mshape = tuple(s + 1 for s in mshape)
            key.append(rng.random(mshape) < 0.5)
            has_array = True
            dim += k
        elif kind == "int":
            key.append(draw(hs.integers(-n, n - 1)))
            dim += 1
        else:
            bound = hs.one_of(hs.none(), hs.integers(-n - 1, n + 1))
            key.append(slice(draw(bound), draw(bound), draw(hs.sampled_from([None, 1, 2, -1]))))
            dim += 1
    if not has_array:
        key.append(np.array(draw(hs.booleans())))  # a 0-d mask
    if draw(hs.booleans()):
        key.insert(draw(hs.integers(0, len(key))), Ellipsis)
    for _ in range(draw(hs.integers(0, 1))):
        key.insert(draw(hs.integers(0, len(key))), None)
    return shape, tuple(key)


def split_key(key, symbolic):
    """Replace arrays (and ints) of ``key`` by symbolic inputs where ``symbolic()`` says so."""
    inputs, values, out = [], [], []
    for k in key:
        if isinstance(k, np.ndarray) and symbolic():
            var = st.tensor(f"a{len(inputs)}", dtype=k.dtype.name, shape=(None,) * k.ndim)
            inputs.append(var)
            values.append(k)
            out.append(var)
        elif isinstance(k, int) and symbolic():
            var = st.lscalar(f"i{len(inputs)}")
            inputs.append(var)
            values.append(np.int64(k))
            out.append(var)
        else:
            out.append(k)
    return tuple(out), inputs, values


def numpy_result(a, key):
    try:
        return a[key], None
    except IndexError as exc:
        return None, exc


# --------------------------------------------------------------------------- values and shapes


@settings(max_examples=200, deadline=None)
@given(advanced_keys(), hs.data())
def test_advanced_indexing_matches_numpy(shape_key, data):
    shape, key = shape_key
    a = RNG.normal(size=shape)
    expected, error = numpy_result(a, key)
    assume(error is None)  # several masks may not broadcast together (tested below)
    sym_key, idx_inputs, idx_values = split_key(key, lambda: data.draw(hs.booleans()))
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    out = x[sym_key]
    assert isinstance(out.owner.op, AdvancedSubtensor)
    f = sg.function([x, *idx_inputs], out)
    got = f(a, *idx_values)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == expected.shape
    assert not np.shares_memory(got, a)
    for static, actual in zip(out.type.shape, got.shape):
        assert static is None or static == actual
    # infer_shape: exact, and never computes the indexing itself.
    dims = symbolic_shape(out, fallback=False)
    if dims:
        shape_fn = sg.function([x, *idx_inputs], list(dims), on_unused_input="ignore")
        assert tuple(int(d) for d in shape_fn(a, *idx_values)) == expected.shape
        assert all(not isinstance(v.owner.op, AdvancedSubtensor) for v in ancestors(list(dims)) if v.owner)


@settings(max_examples=150, deadline=None)
@given(advanced_keys(valid=False), hs.data())
def test_invalid_advanced_indices_raise_index_error(shape_key, data):
    shape, key = shape_key
    a = RNG.normal(size=shape)
    expected, error = numpy_result(a, key)
    sym_key, idx_inputs, idx_values = split_key(key, lambda: data.draw(hs.booleans()))
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    if error is None:
        np.testing.assert_array_equal(sg.function([x, *idx_inputs], x[sym_key])(a, *idx_values), expected)
        return
    with pytest.raises(IndexError):
        out = x[sym_key]
        sg.function([x, *idx_inputs], out)(a, *idx_values)


@settings(max_examples=100, deadline=None)
@given(advanced_keys())
def test_static_shapes_with_static_input_and_constant_indices(shape_key):
    shape, key = shape_key
    assume(numpy_result(np.empty(shape), key)[1] is None)
    x = st.tensor("x", dtype="float64", shape=shape)
    out = x[key]
    # Constant indices (masks counted) and a static x: the whole shape is known.
    assert out.type.shape == np.empty(shape)[key].shape


@settings(max_examples=100, deadline=None)
@given(advanced_keys(), hs.data())
def test_index_shape_op_matches_numpy(shape_key, data):
    shape, key = shape_key
    assume(numpy_result(np.empty(shape), key)[1] is None)
    sym_key, idx_inputs, idx_values = split_key(key, lambda: True)
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    op = x[sym_key].owner.op
    dims = [st.lscalar(f"d{i}") for i in range(len(shape))]
    outs = IndexShape(op.idx_list)(*dims, *idx_inputs, return_list=True)
    got = sg.function([*dims, *idx_inputs], outs)(*shape, *idx_values)
    assert tuple(int(g) for g in got) == np.empty(shape)[key].shape
    assert all(o.dtype == "int64" and o.ndim == 0 for o in outs)


# --------------------------------------------------------------------------- NumPy placement rules


@pytest.mark.parametrize(
    "key",
    [
        (slice(None), [0, 1, 2], None, [0, 1, 2]),  # None separates advanced indices
        (slice(None), [0, 1], Ellipsis, [0, 1]),  # so does an empty ellipsis
        (slice(None), 0, None, [0, 1, 2]),  # integers count as advanced indices
        (slice(None), [0, 1], [1, 2]),  # adjacent: stay in place
        ([[0], [1]], slice(None), [1, 2, 0]),  # non-adjacent: broadcast dims go first
        (np.array(True), [0, 1]),
        (slice(None), np.array([[True, False, True, False]] * 3)),
        (1, slice(None), np.array([True, False, True, True])),
        (Ellipsis, [0, 1], slice(None)),  # a full slice after an ellipsis is not redundant
        ([0, 1], Ellipsis),
    ],
    ids=str,
)
def test_placement_rules(key):
    a = RNG.normal(size=(5, 3, 4))
    x = st.tensor3("x")
    expected = a[key]
    out = x[key]
    got = out.eval({x: a})
    np.testing.assert_array_equal(got, expected)
    assert len(out.type.shape) == expected.ndim


# --------------------------------------------------------------------------- gradients, R_op, shapes


@settings(max_examples=60, deadline=None)
@given(advanced_keys(max_dims=3))
def test_advanced_grad_rop_shape(shape_key):
    shape, key = shape_key
    a = RNG.normal(size=shape)
    assume(numpy_result(a, key)[1] is None)
    arrays = [k for k in key if isinstance(k, np.ndarray)]
    positions = [i for i, k in enumerate(key) if isinstance(k, np.ndarray)]

    def build(x, *idx):
        k = list(key)
        for p, v in zip(positions, idx):
            k[p] = v
        return x[tuple(k)]

    check_op(build, [a, *arrays], lambda a, *_: a[key], wrt=[0], rng=0)


@pytest.mark.parametrize(
    "key",
    [
        ([0, 0, 2, 0],),  # repeated indices accumulate their gradients
        ([[1, 1], [0, 1]], slice(None, None, -1)),
        (slice(None), [2, 2, 2]),
        ([0, 0], [1, 1]),
        (np.array([True, False, True]),),
        (Ellipsis, [0, 0]),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_with_repeated_indices(key, dtype):
    a = RNG.normal(size=(3, 4)).astype(dtype)
    check_op(lambda x: x[key], [a], lambda a: a[key], rng=3)


def test_repeated_index_gradient_values():
    x = st.vector("x")
    g = sg.grad(x[[0, 0, 2, 0]].sum(), x)
    np.testing.assert_array_equal(g.eval({x: np.zeros(4)}), [3.0, 0.0, 1.0, 0.0])
    assert "AdvancedIncSubtensor{a0}" in sg.debugprint(g, file="str")


def test_integer_array_as_input_is_disconnected():
    x, i = st.vector("x"), st.lvector("i")
    with pytest.raises(Exception, match="[Dd]isconnected|not depend"):
        sg.grad(x[i].sum(), i)


# --------------------------------------------------------------------------- conversions and errors


def test_index_kinds():
    x = st.matrix("x")
    assert type(x[[0, 1]].owner.op) is AdvancedSubtensor
    assert type(x[np.array(1)].owner.op) is Subtensor  # a 0-d integer is basic
    assert x[np.array(1)] is x[1]
    assert x[[]].eval({x: np.zeros((2, 3))}).shape == (0, 3)  # empty list = empty int index
    assert x[[], 1:].eval({x: np.zeros((2, 3))}).shape == (0, 2)
    assert x[True].type.ndim == 3
    assert x[st.lvector("v")].owner.op.idx_list == (ARRAY,)
    assert str(x[1:, st.lvector("v")].owner.op) == "AdvancedSubtensor{1:, a0}"
    assert x[(0, 1),].type.ndim == 2  # a tuple inside the index is an array


def test_index_errors_when_building():
    x = st.matrix("x", shape=(3, 4))
    with pytest.raises(TypeError, match="integers or booleans"):
        x[np.array([0.5, 1.0])]
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        x[[0, 3]]
    with pytest.raises(IndexError, match="boolean index did not match"):
        x[np.ones(4, dtype=bool)]
    with pytest.raises(IndexError, match="could not be broadcast"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(IndexError, match="too many indices"):
        x[np.ones((3, 4), dtype=bool), 0]
    with pytest.raises(TypeError, match="symbolic"):
        x[[st.lscalar("i"), 1]]


def test_index_errors_at_run_time():
    x, i, m = st.matrix("x"), st.lvector("i"), st.bvector("m")
    a = np.zeros((3, 2))
    f = sg.function([x, i], x[i])
    with pytest.raises(IndexError, match="out of bounds"):
        f(a, np.array([0, 5]))
    mask = st.tensor("mask", dtype="bool", shape=(None,))
    g = sg.function([x, mask], x[mask])
    with pytest.raises(IndexError, match="boolean index did not match"):
        g(a, np.array([True, False]))
    assert m.dtype == "int8"


def test_int8_and_uint8_indices():
    x = st.vector("x")
    a = np.arange(5.0)
    for dtype in ("int8", "uint8", "int32"):
        i = st.tensor("i", dtype=dtype, shape=(None,))
        np.testing.assert_array_equal(x[i].eval({x: a, i: np.array([4, 1], dtype=dtype)}), [4.0, 1.0])


# --------------------------------------------------------------------------- take


@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("indices", [np.array([1, 0, 1]), np.array(2), np.array([[0, 2], [1, 1]]), np.array([-1])])
def test_take_matches_numpy(axis, indices):
    a = RNG.normal(size=(3, 4, 3))
    check_op(lambda x, i: st.take(x, i, axis=axis), [a, indices], lambda a, i: np.take(a, i, axis=axis), wrt=[0], rng=2)


@pytest.mark.parametrize("mode", ["wrap", "clip"])
def test_take_modes(mode):
    a = RNG.normal(size=(4, 3))
    idx = np.array([-7, -1, 0, 5, 9])
    x, i = st.matrix("x"), st.lvector("i")
    np.testing.assert_array_equal(x.take(i, axis=0, mode=mode).eval({x: a, i: idx}), np.take(a, idx, axis=0, mode=mode))
    np.testing.assert_array_equal(st.take(x, i, mode=mode).eval({x: a, i: idx}), np.take(a, idx, mode=mode))


def test_take_errors():
    x = st.matrix("x")
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        st.take(x, [0], axis=2)
    with pytest.raises(ValueError, match="mode"):
        st.take(x, [0], mode="bogus")
    with pytest.raises(TypeError, match="integers"):
        st.take(x, st.dvector("f"))
    f = sg.function([x], x.take([0, 7], axis=1))
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.zeros((2, 3)))
    assert st.take(x, [], axis=0).eval({x: np.zeros((2, 3))}).shape == (0, 3)


def test_index_shape_op_contract():
    x, i, m = st.matrix("x"), st.lscalar("i"), st.tensor("m", dtype="bool", shape=(None,))
    n0, n1 = st.lscalar("n0"), st.lscalar("n1")
    op = x[m, i:].owner.op
    outs = IndexShape(op.idx_list)(n0, n1, m, i, return_list=True)
    assert len(outs) == 2 and str(outs[0].owner.op) == "IndexShape{a0, i1:}"
    f = sg.function([n0, n1, m, i], outs)
    assert [int(v) for v in f(3, 5, np.array([True, False, True]), 1)] == [2, 4]
    with pytest.raises(IndexError, match="boolean index did not match"):
        f(3, 5, np.array([True, False]), 1)
    node = outs[0].owner
    assert node.op.infer_shape(None, node, [()] * 4) == [(), ()]
    assert node.op.connection_pattern(node) == [[False, False]] * 4
    with pytest.raises(Exception, match="[Dd]isconnected|not depend"):
        sg.grad(outs[0] * 1.0, n0)
    # Python ints are accepted as dimensions and give static sizes where possible.
    static = IndexShape(op.idx_list)(3, 5, m, i, return_list=True)
    assert [int(v) for v in sg.function([m, i], static)(np.array([True, True, True]), -2)] == [3, 2]
