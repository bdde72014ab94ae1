"""set_subtensor / inc_subtensor (IncSubtensor, AdvancedIncSubtensor) and LastWriteMask:
values against NumPy (``np.add.at`` for increments, assignment for sets), gradients w.r.t.
``x`` and ``y`` with repeated indices and broadcasting ``y``, R_op, infer_shape, errors."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as hs

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    LastWriteMask,
)
from symgraph.testing import check_op

RNG = np.random.default_rng(3)


@hs.composite
def inc_cases(draw):
    """(x shape, key, y shape): basic or advanced keys, repeated indices likely, and a ``y``
    shaped like a suffix of ``x[key]`` with some dimensions set to 1 (broadcast)."""
    rng = np.random.default_rng(draw(hs.integers(0, 2**32 - 1)))
    shape = tuple(draw(hs.lists(hs.integers(1, 4), min_size=1, max_size=3)))
    array_shape = tuple(draw(hs.lists(hs.integers(1, 4), min_size=1, max_size=2)))
    key, dim = [], 0
    while dim < len(shape) and draw(hs.integers(0, 3)):
        n = shape[dim]
        kind = draw(hs.sampled_from(["int", "slice", "array", "mask"]))
        if kind == "int":
            key.append(draw(hs.integers(-n, n - 1)))
        elif kind == "slice":
            bound = hs.one_of(hs.none(), hs.integers(-n, n))
            key.append(slice(draw(bound), draw(bound), draw(hs.sampled_from([None, 1, 2, -1]))))
        elif kind == "array":
            key.append(rng.integers(-n, n, size=array_shape))  # small range: repeats are common
        else:
            key.append(rng.random(n) < 0.6)
        dim += 1
    if draw(hs.booleans()):
        key.insert(draw(hs.integers(0, len(key))), None)
    key = tuple(key)
    try:
        sub = np.empty(shape)[key].shape
    except IndexError:  # e.g. a mask and an array that do not broadcast
        assume(False)
    y_ndim = draw(hs.integers(0, len(sub)))
    y_shape = tuple(1 if draw(hs.booleans()) else s for s in sub[len(sub) - y_ndim :])
    return shape, key, y_shape


def reference(a, key, y, set_):
    out = a.copy()
    if set_:
        out[key] = y
    else:
        # Materialise the broadcast first: NumPy 2.4's add.at returns garbage for values
        # that broadcast against repeated array indices.
        # Accumulate over flat positions with no broadcasting (NumPy 2.4's add.at returns
        # garbage when values broadcast against repeated array indices).
        positions = np.arange(out.size).reshape(out.shape)[key]
        np.add.at(out.reshape(-1), positions.ravel(), np.broadcast_to(y, positions.shape).ravel())
    return out


def arrays_of(key):
    return [k for k in key if isinstance(k, np.ndarray)]


def rebuild(key, arrays):
    it = iter(arrays)
    return tuple(next(it) if isinstance(k, np.ndarray) else k for k in key)


# --------------------------------------------------------------------------- values


@settings(max_examples=200, deadline=None)
@given(inc_cases(), hs.booleans())
def test_values_match_numpy(case, set_):
    shape, key, y_shape = case
    a, yv = RNG.normal(size=shape), RNG.normal(size=y_shape)
    arrays = arrays_of(key)
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    y = st.tensor("y", dtype="float64", shape=tuple(1 if s == 1 else None for s in y_shape))
    idx = [st.tensor(f"a{i}", dtype=v.dtype.name, shape=(None,) * v.ndim) for i, v in enumerate(arrays)]
    fn = st.set_subtensor if set_ else st.inc_subtensor
    out = fn(x[rebuild(key, idx)], y)
    expected_class = AdvancedIncSubtensor if arrays else IncSubtensor
    assert type(out.owner.op) is expected_class and out.owner.op.set_instead_of_inc == set_
    keep = a.copy()
    got = sg.function([x, y, *idx], out)(a, yv, *arrays)
    np.testing.assert_array_equal(got, reference(a, key, yv, set_))
    np.testing.assert_array_equal(a, keep)  # x is never modified
    assert out.type == x.type


@settings(max_examples=80, deadline=None)
@given(inc_cases(), hs.booleans())
def test_grad_rop_shape(case, set_):
    shape, key, y_shape = case
    a, yv = RNG.normal(size=shape), RNG.normal(size=y_shape)
    arrays = arrays_of(key)
    fn = st.set_subtensor if set_ else st.inc_subtensor

    def build(x, y, *idx):
        return fn(x[rebuild(key, idx)], y)

    check_op(build, [a, yv, *arrays], lambda a, y, *_: reference(a, key, y, set_), wrt=[0, 1], rng=5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "key, y_shape",
    [
        (([0, 0, 2, 0],), (4, 3)),  # repeated rows
        (([0, 0, 2, 0],), (3,)),  # ... with y broadcast over them
        ((slice(None), [1, 1]), (4, 1)),
        (([1, 1], [2, 2]), ()),
        ((np.array([True, False, True, True]), 1), (3,)),
        ((slice(1, None), 0), (1,)),
        ((Ellipsis, [0, 2, 0]), (4, 3)),
    ],
    ids=str,
)
@pytest.mark.parametrize("set_", [False, True], ids=["inc", "set"])
def test_repeated_indices_cases(key, y_shape, set_, dtype):
    a = RNG.normal(size=(4, 3)).astype(dtype)
    yv = RNG.normal(size=y_shape).astype(dtype)
    fn = st.set_subtensor if set_ else st.inc_subtensor
    check_op(lambda x, y: fn(x[key], y), [a, yv], lambda a, y: reference(a, key, y, set_), rng=9)


def test_inc_repeated_adds_each_time_and_set_keeps_last():
    x, y = st.vector("x"), st.vector("y")
    a, yv = np.zeros(3), np.array([1.0, 2.0, 4.0])
    inc = st.inc_subtensor(x[[0, 0, 2]], y).eval({x: a, y: yv})
    np.testing.assert_array_equal(inc, [3.0, 0.0, 4.0])
    assigned = st.set_subtensor(x[[0, 0, 2]], y).eval({x: a, y: yv})
    np.testing.assert_array_equal(assigned, [2.0, 0.0, 4.0])


# --------------------------------------------------------------------------- gradient values


def test_set_gradients_exact_values():
    x, y = st.vector("x"), st.vector("y")
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    cost = (st.set_subtensor(x[[0, 0, 2]], y) * w).sum()
    gx, gy = sg.grad(cost, [x, y])
    values = {x: np.zeros(4), y: np.ones(3)}
    np.testing.assert_array_equal(gx.eval(values), [0.0, 10.0, 0.0, 1000.0])  # zeros where set
    np.testing.assert_array_equal(gy.eval(values), [0.0, 1.0, 100.0])  # overwritten write gets 0


def test_inc_gradients_exact_values():
    x, y = st.vector("x"), st.scalar("y")
    w = np.array([1.0, 10.0, 100.0])
    cost = (st.inc_subtensor(x[[0, 0, 2]], y) * w).sum()
    gx, gy = sg.grad(cost, [x, y])
    values = {x: np.zeros(3), y: 1.0}
    np.testing.assert_array_equal(gx.eval(values), w)  # identity
    assert float(gy.eval(values)) == 102.0  # y added three times, broadcast


def test_set_gradient_without_last_write_mask_would_be_wrong(monkeypatch):
    """verify_grad detects a set_subtensor gradient that ignores overwritten writes."""
    from symgraph.gradient import GradientError
    from symgraph.tensor import subtensor

    a, yv = RNG.normal(size=4), RNG.normal(size=3)
    build = lambda x, y: st.set_subtensor(x[[1, 1, 3]], y)  # noqa: E731
    check_op(build, [a, yv], grad=True, rop=False, shape=False)
    monkeypatch.setattr(subtensor, "_may_repeat", lambda inputs: False)
    with pytest.raises(GradientError):
        check_op(build, [a, yv], grad=True, rop=False, shape=False)


# --------------------------------------------------------------------------- LastWriteMask


@settings(max_examples=100, deadline=None)
@given(inc_cases())
def test_last_write_mask_values(case):
    shape, key, _ = case
    arrays = arrays_of(key)
    x = st.tensor("x", dtype="float64", shape=(None,) * len(shape))
    idx = [st.tensor(f"a{i}", dtype=v.dtype.name, shape=(None,) * v.ndim) for i, v in enumerate(arrays)]
    op = LastWriteMask(x[rebuild(key, idx)].owner.op.idx_list)
    out = op(x, *idx)
    got = sg.function([x, *idx], out)(np.empty(shape), *arrays)
    # Reference: write each element's order into a copy, last write wins, read it back.
    positions = np.arange(int(np.prod(shape))).reshape(shape)[key]
    last = {}
    for k, p in enumerate(positions.ravel()):
        last[p] = k
    expected = np.array([last[p] == k for k, p in enumerate(positions.ravel())], dtype=bool).reshape(positions.shape)
    np.testing.assert_array_equal(got, expected)
    assert out.dtype == "bool" and out.type.ndim == expected.ndim
    assert str(op).startswith("LastWriteMask{")


def test_last_write_mask_shape_and_derivatives():
    x, i = st.matrix("x"), st.lvector("i")
    mask = LastWriteMask(x[i].owner.op.idx_list)(x, i)
    check_op(lambda x, i: LastWriteMask(x[i].owner.op.idx_list)(x, i), [np.zeros((3, 2)), np.array([0, 2, 0])],
             lambda x, i: np.array([[False] * 2, [True] * 2, [True] * 2]))
    assert mask.owner.op.connection_pattern(mask.owner) == [[False], [False]]


# --------------------------------------------------------------------------- graphs and errors


def test_str_and_debugprint():
    x, y, i = st.matrix("x"), st.vector("y"), st.lscalar("i")
    assert str(st.set_subtensor(x[i], y).owner.op) == "SetSubtensor{i0}"
    assert str(st.inc_subtensor(x[1:, 0], 1.0).owner.op) == "IncSubtensor{1:, 0}"
    assert str(st.inc_subtensor(x[[0, 1]], y).owner.op) == "AdvancedIncSubtensor{a0}"
    assert "AdvancedSetSubtensor{:, a0}" in sg.debugprint(st.set_subtensor(x[:, [0, 1]], 0.0), file="str")


def test_symbolic_bounds():
    x, y, i = st.vector("x"), st.vector("y"), st.lscalar("i")
    out = st.set_subtensor(x[i : i + 2], y)
    got = out.eval({x: np.zeros(5), y: np.array([1.0, 2.0]), i: 2})
    np.testing.assert_array_equal(got, [0, 0, 1, 2, 0])


def test_first_argument_must_be_an_indexing_expression():
    x = st.vector("x")
    with pytest.raises(TypeError, match="indexing expression"):
        st.set_subtensor(x, 1.0)
    with pytest.raises(TypeError, match="indexing expression"):
        st.inc_subtensor(x + 1, 1.0)


def test_y_shape_errors():
    x = st.matrix("x", shape=(None, 3))
    with pytest.raises(ValueError, match="more dimensions"):
        st.set_subtensor(x[0], st.matrix("y"))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        st.set_subtensor(x[0], st.vector("y", shape=(4,)))
    y = st.vector("y")
    f = sg.function([x, y], st.set_subtensor(x[0], y))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        f(np.zeros((2, 3)), np.zeros(2))
    # A runtime size 1 where y's type does not say so would make the gradient wrong: refused.
    with pytest.raises(ValueError, match="not statically 1"):
        f(np.zeros((2, 3)), np.zeros(1))
    g = sg.function([x, y], st.set_subtensor(x[[0, 0]], y))
    with pytest.raises(ValueError, match="not statically 1"):
        g(np.zeros((2, 3)), np.zeros(1))
    np.testing.assert_array_equal(f(np.zeros((2, 3)), np.ones(3))[0], np.ones(3))


def test_dtypes():
    x = st.fvector("x")
    out = st.inc_subtensor(x[1:], 1.5)  # weak Python float takes float32
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.eval({x: np.zeros(3, dtype=np.float32)}), [0, 1.5, 1.5])
    ix = st.lvector("ix")
    np.testing.assert_array_equal(st.inc_subtensor(ix[[0, 0]], 2).eval({ix: np.arange(3)}), [4, 1, 2])
    with pytest.raises(TypeError, match="cannot write float64"):
        st.set_subtensor(ix[0], st.dscalar("f"))
    with pytest.raises(TypeError, match="does not fit"):
        st.set_subtensor(ix[0], 1.5)
    assert st.set_subtensor(st.dvector("d")[0], st.lscalar("l")).dtype == "float64"


def test_integer_y_gradient_is_zero_and_index_disconnected():
    x, j, v, w = st.vector("x"), st.lscalar("j"), st.lvector("v"), st.scalar("w")
    cost = st.set_subtensor(x[j], 2.0).sum() + (st.inc_subtensor(v[[0, 0]], v[1:]) * w).sum()
    gx, gw = sg.grad(cost, [x, w])
    values = {x: np.zeros(3), j: 1, v: np.array([1, 2, 3]), w: 1.0}
    np.testing.assert_array_equal(gx.eval(values), [1.0, 0.0, 1.0])
    assert float(gw.eval(values)) == 1 + 2 + 3 + 2 + 3
    with pytest.raises(Exception, match="[Dd]isconnected|not depend"):
        sg.grad(cost, j)


def test_index_errors_at_run_time():
    x, y, i = st.vector("x"), st.scalar("y"), st.lvector("i")
    f = sg.function([x, y, i], st.inc_subtensor(x[i], y))
    with pytest.raises(IndexError, match="out of bounds"):
        f(np.zeros(3), 1.0, np.array([3]))
    g = sg.function([x, y], st.inc_subtensor(x[5], y))
    with pytest.raises(IndexError, match="out of bounds"):
        g(np.zeros(3), 1.0)


def test_output_does_not_alias_x_and_x_not_modified():
    x, y = st.vector("x"), st.scalar("y")
    f = sg.function([x, y], [st.set_subtensor(x[0], y), st.inc_subtensor(x[[1, 1]], y)])
    a = np.zeros(3)
    outs = f(a, 1.0)
    np.testing.assert_array_equal(a, 0.0)
    assert not any(np.shares_memory(o, a) for o in outs)
    assert AdvancedSubtensor.view_map == {} and IncSubtensor.destroy_map == {}


def test_inc_with_broadcast_values_and_repeated_indices_is_exact():
    # NumPy 2.4's np.add.at returns garbage when the values broadcast against a 2-d index
    # array with repeated entries; the op must not depend on that path.
    key = np.array([[0, 0], [0, -1]])
    x, y = st.dvector("x"), st.dvector("y")
    f = sg.function([x, y], st.inc_subtensor(x[key], y))
    for _ in range(3):
        np.testing.assert_array_equal(f(np.array([1.0]), np.array([10.0, 20.0])), [61.0])
    key2 = np.array([[0, 0], [0, 1]])
    g = sg.function([x, y], st.inc_subtensor(x[key2], y))
    np.testing.assert_array_equal(g(np.zeros(2), np.array([10.0, 20.0])), [40.0, 20.0])
