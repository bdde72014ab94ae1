"""C implementations of the writing / gathering indexing ops (symgraph/link/c/ops_indexing.py).

Each graph is compiled once with the 'c' linker and once with the Python linker and called
on many inputs: contiguous, Fortran-ordered, negatively strided and broadcast arrays, empty
selections, NaN values, repeated indices, bad shapes and out-of-bounds indices. Values and
dtypes must agree exactly (floats to rounding), the nodes under test must run in C, and
errors must have the Python perform's exception class.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.rewriting.inplace import InplaceAdvancedIncSubtensor, InplaceIncSubtensor
from symgraph.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    IndexShape,
    LastWriteMask,
)
from symgraph.testing import array_layouts, assert_same_error, compile_c_and_py, random_array

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

RNG = np.random.default_rng(99)


# --------------------------------------------------------------------------- helpers


def _both(inputs, outputs, covered, optimizer="fast_run"):
    covered = covered if isinstance(covered, tuple) else (covered,)
    f_c, f_py = compile_c_and_py(inputs, outputs, covered, exact=True, optimizer=optimizer)
    return f_py, f_c


def _same(f_py, f_c, *args):
    before = [np.copy(a) for a in args]
    with np.errstate(all="ignore"):
        expected = f_py(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
        got = f_c(*args)
    for a, b in zip(args, before):  # C never writes into the function's inputs
        np.testing.assert_array_equal(a, b)
    if not isinstance(expected, list):
        expected, got = [expected], [got]
    for e, g in zip(expected, got):
        assert isinstance(g, np.ndarray)
        assert e.dtype == g.dtype and e.shape == g.shape, (e, g)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=1e-6 if e.dtype == np.float32 else 1e-13, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)
    return got


def _data(shape, dtype="float64", nan=False):
    a = random_array(RNG, shape, dtype, int_range=(-100, 100))
    if nan and a.size and a.dtype.kind == "f":
        a.flat[RNG.integers(0, a.size)] = np.nan
    return a


def _slice_len(n, a, b, s):
    return len(range(n)[slice(a, b, s)])


# --------------------------------------------------------------------------- IncSubtensor


@pytest.mark.parametrize("xdt,ydt", [("float64", "float64"), ("float32", "float64"), ("int8", "int64"),
                                     ("bool", "bool"), ("uint8", "uint8")])
def test_inc_set_subtensor_basic(xdt, ydt):
    x = st.tensor(dtype=xdt, shape=(None, None), name="x")
    y = st.tensor(dtype=ydt, shape=(None,), name="y")
    yr = st.tensor(dtype=ydt, shape=(1, None), name="yr")  # broadcasts along the rows
    c = st.tensor(dtype=ydt, shape=(), name="c")
    i, a, b, s = (st.lscalar(n) for n in "iabs")
    outs = [
        st.set_subtensor(x[i, a:b:s], y),
        st.inc_subtensor(x[a:b:s, i], y),
        st.inc_subtensor(x[a:b:s], yr),
        st.set_subtensor(x[i], c),
        st.inc_subtensor(x[..., a:b:s][None], c),
    ]
    f_py, f_c = _both([x, y, yr, c, i, a, b, s], outs, IncSubtensor)
    n = 5
    for xa in array_layouts(_data((n, n), xdt, nan=True)):
        for (iv, av, bv, sv) in [(0, 1, 4, 1), (-1, None, None, -1), (2, 10, -10, -2), (4, -2, 100, 1),
                                 (3, 3, 3, 1), (-5, None, None, 2)]:
            k = _slice_len(n, av, bv, sv)
            for yv in array_layouts(_data((k,), ydt, nan=True)):
                args = [iv, av, bv, sv]
                args = [np.int64(v) if v is not None else None for v in args]
                if None in args:  # encode None bounds as the equivalent explicit ones
                    step = args[3]
                    args[1] = np.int64(n - 1 if step < 0 else 0) if args[1] is None else args[1]
                    args[2] = np.int64(-n - 1 if step < 0 else n) if args[2] is None else args[2]
                _same(f_py, f_c, xa, yv, _data((1, n), ydt), _data((), ydt), *args)
    xa, ok = _data((n, n), xdt), [np.int64(v) for v in (1, 0, 5, 2)]
    y3, yr1, c0 = _data((3,), ydt), _data((1, n), ydt), _data((), ydt)
    _same(f_py, f_c, np.broadcast_to(_data((1, n), xdt), (n, n)), y3, yr1, c0, *ok)
    _same(f_py, f_c, xa, _data((1,), ydt), yr1, c0, np.int64(0), np.int64(0), np.int64(1), np.int64(1))
    assert_same_error(f_py, f_c, xa, y3, yr1, c0, np.int64(5), *ok[1:], match="out of bounds")
    assert_same_error(f_py, f_c, xa, y3, yr1, c0, np.int64(-6), *ok[1:], match="out of bounds")
    assert_same_error(f_py, f_c, xa, y3, yr1, c0, *ok[:3], np.int64(0), match="step cannot be zero")
    assert_same_error(f_py, f_c, xa, _data((2,), ydt), yr1, c0, *ok, match="cannot be broadcast")
    assert_same_error(f_py, f_c, xa, _data((1,), ydt), yr1, c0, *ok, match="not statically 1")
    assert_same_error(f_py, f_c, _data((0, 0), xdt), y3, yr1, c0, *ok, match="out of bounds")


def test_inc_subtensor_empty_and_3d():
    t = st.tensor3("t")
    y1, y2 = st.matrix("y1"), st.matrix("y2")
    a = st.lscalar("a")
    outs = [st.inc_subtensor(t[:, a:], y1[None]), st.set_subtensor(t[a, ::-1, 1:], y2)]
    f_py, f_c = _both([t, y1, y2, a], outs, IncSubtensor)
    for ta in array_layouts(_data((2, 3, 4), nan=True)):
        _same(f_py, f_c, ta, _data((2, 4)), _data((3, 3)), np.int64(1))
        _same(f_py, f_c, ta, _data((3, 4)), _data((3, 3)), np.int64(0))
    _same(f_py, f_c, _data((2, 0, 4)), _data((0, 4)), _data((0, 3)), np.int64(0))
    assert_same_error(f_py, f_c, _data((2, 3, 4)), _data((3, 4)), _data((3, 3)), np.int64(-2), match="broadcast")


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_inplace_inc_subtensor(dtype):
    """Fresh intermediates are overwritten in place (the in-place variants run in C)."""
    x = st.tensor(dtype=dtype, shape=(None, None), name="x")
    y = st.tensor(dtype=dtype, shape=(None,), name="y")
    idx = st.lvector("idx")
    i = st.lscalar("i")
    z = x * 2
    w = x + 1
    # cumsum runs in Python: its result reaches the in-place C node as a region input
    outs = [st.inc_subtensor(z[i], y), st.set_subtensor(w[idx, i], y) * 3,
            st.set_subtensor(st.cumsum(x, axis=0)[:, i], y)]
    f_py, f_c = _both([x, y, idx, i], outs, (InplaceIncSubtensor, InplaceAdvancedIncSubtensor))
    for xa in array_layouts(_data((4, 4), dtype)):
        for iv in (0, -1, 2):
            _same(f_py, f_c, xa, _data((4,), dtype), np.array([0, 3, 0, -1]), np.int64(iv))
    assert_same_error(f_py, f_c, _data((4, 4), dtype), _data((4,), dtype), np.array([0, 4, 0, 1]), np.int64(1),
               match="out of bounds")


# --------------------------------------------------------------------------- AdvancedIncSubtensor


@pytest.mark.parametrize("xdt,idt", [("float64", "int64"), ("float32", "int32"), ("int64", "uint8"),
                                     ("int16", "int8")])
def test_advanced_inc_set_subtensor(xdt, idt):
    x = st.tensor(dtype=xdt, shape=(None, None), name="x")
    idx = st.tensor(dtype=idt, shape=(None,), name="idx")
    ym = st.tensor(dtype=xdt, shape=(None, None), name="ym")
    yv = st.tensor(dtype=xdt, shape=(None,), name="yv")
    mask = st.tensor(dtype="bool", shape=(None, None), name="mask")
    c = st.tensor(dtype=xdt, shape=(), name="c")
    i = st.lscalar("i")
    outs = [
        st.inc_subtensor(x[idx], ym),  # repeated rows accumulate (np.add.at)
        st.set_subtensor(x[idx], ym),  # repeated rows: the last write wins
        st.inc_subtensor(x[:, idx], yv),  # yv broadcasts over the rows
        st.set_subtensor(x[idx, i], yv),
        st.inc_subtensor(x[mask], c),
        st.set_subtensor(x[1:, idx][::-1], c),
    ]
    f_py, f_c = _both([x, idx, ym, yv, mask, c, i], outs, AdvancedIncSubtensor)
    lo = 0 if idt == "uint8" else -4
    for xa in array_layouts(_data((4, 4), xdt, nan=True)):
        for k in (0, 1, 5, 12):
            iv = RNG.integers(lo, 4, size=k).astype(idt)
            for ya in array_layouts(_data((k, 4), xdt, nan=True)):
                yva = ya[:, 0]
                _same(f_py, f_c, xa, iv, ya, yva, _data((4, 4), "bool"), _data((), xdt), np.int64(RNG.integers(-4, 4)))
    xa, iv, ym1 = _data((4, 4), xdt), np.array([1, 1, 3], idt), _data((3, 4), xdt)
    m, c0, i0 = _data((4, 4), "bool"), _data((), xdt), np.int64(0)
    _same(f_py, f_c, xa, iv, np.broadcast_to(_data((1, 4), xdt), (3, 4)), ym1[:, 1], m, c0, i0)
    _same(f_py, f_c, xa, iv, ym1, ym1[:, 1], np.zeros((4, 4), bool), c0, i0)
    assert_same_error(f_py, f_c, xa, np.array([1, 4], idt), ym1[:2], ym1[:2, 0], m, c0, i0, match="out of bounds")
    assert_same_error(f_py, f_c, xa, iv, ym1, ym1[:, 1], m, c0, np.int64(4), match="out of bounds")
    assert_same_error(f_py, f_c, xa, iv, ym1[:2], ym1[:, 1], m, c0, i0, match="cannot be broadcast")
    assert_same_error(f_py, f_c, xa, iv, ym1, ym1[:, 1], m[:3], c0, i0, match="boolean index did not match")
    assert_same_error(f_py, f_c, _data((0, 4), xdt), iv, ym1, ym1[:, 1], m[:0], c0, i0, match="out of bounds")


def test_advanced_inc_several_arrays_and_float32_accumulation():
    t = st.tensor3("t", dtype="float32")
    i1, i2 = st.lvector("i1"), st.lmatrix("i2")
    y = st.tensor(dtype="float32", shape=(None, None, None), name="y")
    yb = st.tensor(dtype="float32", shape=(1, None), name="yb")
    outs = [
        st.inc_subtensor(t[i1, :, i2], y),  # non-adjacent arrays: broadcast dims come first
        st.inc_subtensor(t[:, i2, i1], yb),  # adjacent: in place of the indexed dims
    ]
    f_py, f_c = _both([t, i1, i2, y, yb], outs, AdvancedIncSubtensor)
    for ta in array_layouts(_data((3, 4, 4), "float32", nan=True)):
        a1 = RNG.integers(-3, 3, size=4)
        a2 = RNG.integers(-4, 4, size=(5, 4))
        _same(f_py, f_c, ta, a1, a2, _data((5, 4, 4), "float32"), _data((1, 4), "float32"))
        _same(f_py, f_c, ta, a1[:1], a2, _data((5, 4, 4), "float32"), _data((1, 4), "float32"))
    # many repeats: float32 sums must round as np.add.at does (C order)
    _same(f_py, f_c, _data((3, 4, 4), "float32"), np.zeros(4, "int64"), np.zeros((50, 4), "int64"),
          (_data((50, 4, 4)) * 1e3).astype("float32"), _data((1, 4), "float32"))
    assert_same_error(f_py, f_c, _data((3, 4, 4), "float32"), np.zeros(3, "int64"), np.zeros((5, 4), "int64"),
               _data((5, 4, 4), "float32"), _data((1, 4), "float32"), match="shape mismatch")


def test_set_with_matrix_index_runs_in_python():
    """NumPy's assignment order there depends on memory layouts: left to Python, while the
    increment (C order, like np.add.at) runs in C."""
    v, idx, y = st.vector("v"), st.lmatrix("idx"), st.matrix("y")
    outs = [st.set_subtensor(v[idx], y), st.set_subtensor(v[None, idx], y[None]), st.inc_subtensor(v[idx], y)]
    f = sg.function([v, idx, y], outs, mode=sg.Mode(linker="c"))
    impls = [(node.op.set_instead_of_inc, impl) for node, impl in zip(f.maker.fgraph.toposort(), f.implementations())
             if isinstance(node.op, AdvancedIncSubtensor)]
    assert sorted(impls) == [(False, "c"), (True, "py"), (True, "py")]
    i2 = np.asfortranarray([[0, 1], [1, 0]])
    for y2 in (np.asfortranarray([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])):
        expected = np.zeros(2)
        expected[i2] = y2
        got = f(np.zeros(2), i2, y2)
        np.testing.assert_array_equal(got[0], expected)
        np.testing.assert_array_equal(got[1], expected)
        np.testing.assert_array_equal(got[2], [5.0, 5.0])


# --------------------------------------------------------------------------- AdvancedSubtensor


@pytest.mark.parametrize("dtype", ["float64", "int16", "bool"])
def test_advanced_subtensor_general(dtype):
    t = st.tensor(dtype=dtype, shape=(None, None, None), name="t")
    idx, idx2 = st.lvector("idx"), st.ivector("idx2")
    im = st.tensor(dtype="uint8", shape=(None, None), name="im")
    mask = st.tensor(dtype="bool", shape=(None, None), name="mask")
    i = st.lscalar("i")
    outs = [
        t[idx],
        t[:, idx],
        t[idx, :, idx2],  # non-adjacent: broadcast dims first
        t[im, i],
        t[i, :, idx],  # an integer and an array, non-adjacent
        t[mask],
        t[:, mask[0]],
        t[None, idx, ..., ::-1],
        t[idx[:, None], idx2],  # broadcast to 2-d
        t[1:, idx, i],
    ]
    f_py, f_c = _both([t, idx, idx2, im, mask, i], outs, AdvancedSubtensor)
    for ta in array_layouts(_data((4, 4, 4), dtype)):
        for k in (0, 1, 6):
            a = RNG.integers(-4, 4, size=k)
            for a2 in array_layouts(RNG.integers(-4, 4, size=k).astype("int32")):
                _same(f_py, f_c, ta, a, a2, RNG.integers(0, 4, size=(3, 2)).astype("uint8"),
                      _data((4, 4), "bool"), np.int64(RNG.integers(-4, 4)))
    args = [_data((4, 4, 4), dtype), np.array([0, 3]), np.array([1, 2], "int32"), np.zeros((1, 1), "uint8"),
            _data((4, 4), "bool"), np.int64(1)]
    _same(f_py, f_c, *args[:4], np.zeros((4, 4), bool), args[5])
    _same(f_py, f_c, *args[:4], np.ones((4, 4), bool)[::-1, ::-1], args[5])
    _same(f_py, f_c, np.broadcast_to(_data((4, 1, 4), dtype), (4, 4, 4)), *args[1:])
    assert_same_error(f_py, f_c, args[0], np.array([0, 4]), *args[2:], match="out of bounds")
    assert_same_error(f_py, f_c, *args[:3], np.full((1, 1), 4, "uint8"), *args[4:], match="out of bounds")
    assert_same_error(f_py, f_c, *args[:5], np.int64(-5), match="out of bounds")
    assert_same_error(f_py, f_c, args[0], np.array([0, 1, 2]), *args[2:], match="shape mismatch")
    assert_same_error(f_py, f_c, *args[:4], _data((3, 4), "bool"), args[5], match="boolean index did not match")


def test_advanced_subtensor_simple_case_and_nan():
    """The x[int_vector] case ops_shape had keeps running in C (now through this module)."""
    x, idx = st.matrix("x"), st.lvector("idx")
    f_py, f_c = _both([x, idx], [x[idx]], AdvancedSubtensor)
    for xa in array_layouts(_data((5, 3), nan=True)):
        _same(f_py, f_c, xa, np.array([4, -5, 0, 0]))
        _same(f_py, f_c, xa, np.zeros(0, "int64"))
    _same(f_py, f_c, _data((5, 0)), np.array([1, 2]))
    assert_same_error(f_py, f_c, _data((5, 3)), np.array([5]), match="out of bounds")


# --------------------------------------------------------------------------- LastWriteMask, IndexShape


def test_last_write_mask_and_index_shape():
    x = st.matrix("x")
    idx, idx2 = st.lvector("idx"), st.lvector("idx2")
    mask = st.tensor(dtype="bool", shape=(None,), name="mask")
    i = st.lscalar("i")
    lwm = [
        LastWriteMask(x[idx].owner.op.idx_list)(x, idx),
        LastWriteMask(x[:, idx, None].owner.op.idx_list)(x, idx),
        LastWriteMask(x[idx[:, None], idx2].owner.op.idx_list)(x, idx, idx2),
        LastWriteMask(x[mask, i].owner.op.idx_list)(x, mask, i),
    ]
    shapes = [
        IndexShape(x[idx[:, None], idx2].owner.op.idx_list).make_node(*x.shape, idx, idx2),
        IndexShape(x[mask, i].owner.op.idx_list).make_node(*x.shape, mask, i),
    ]
    outs = lwm + [s for node in shapes for s in node.outputs]
    f_py, f_c = _both([x, idx, idx2, mask, i], outs, (LastWriteMask, IndexShape), optimizer=None)
    for k in (0, 1, 7):
        for xa in array_layouts(_data((3, 3))):
            _same(f_py, f_c, xa, RNG.integers(-3, 3, size=k), RNG.integers(-3, 3, size=k),
                  _data((3,), "bool"), np.int64(RNG.integers(-3, 3)))
    args = [_data((3, 3)), np.array([0, 1]), np.array([2, 2]), _data((3,), "bool"), np.int64(0)]
    assert_same_error(f_py, f_c, args[0], np.array([0, 3]), *args[2:], match="out of bounds")
    assert_same_error(f_py, f_c, *args[:3], _data((2,), "bool"), args[4], match="boolean index did not match")
    assert_same_error(f_py, f_c, *args[:4], np.int64(3), match="out of bounds")


# --------------------------------------------------------------------------- CHECK mode


def test_check_mode_compares_c_with_python():
    x = st.matrix("x")
    y = st.vector("y")
    idx = st.lvector("idx")
    i = st.lscalar("i")
    outs = [
        st.inc_subtensor(x[i, ::2], y[:2]),
        st.set_subtensor(x[idx], y) + 1,
        # not on an intermediate: the CHECK linker would run an in-place node's C and
        # Python versions on the same memory (see the report)
        st.inc_subtensor(x[:, idx], y),
        x[idx, ::-1],
    ]
    f = sg.function([x, y, idx, i], outs, mode=sg.Mode(linker="check"))
    kinds = {type(node.op): impl for node, impl in zip(f.maker.fgraph.toposort(), f.implementations())}
    assert kinds[AdvancedSubtensor] == "c" and kinds[IncSubtensor] == "c"
    assert any(issubclass(k, AdvancedIncSubtensor) and v == "c" for k, v in kinds.items())
    g = sg.function([x, y, idx, i], outs, mode=sg.Mode(linker="py"))
    for xa in array_layouts(_data((4, 4), nan=True)):
        args = [xa, _data((4,)), np.array([3, 3, -1, 0]), np.int64(-2)]
        for got, exp in zip(f(*args), g(*args)):
            np.testing.assert_allclose(got, exp, rtol=1e-13, equal_nan=True)
