"""C implementations of the shape, view and indexing ops (symgraph/link/c/ops_shape.py).

Each graph is compiled once with the 'c' linker and once with the Python linker and called
on many inputs: contiguous, transposed, negatively strided, broadcast, empty, NaN/inf. Values
and dtypes must agree, the nodes under test must run in C, and bad shapes / out-of-bounds
indices must raise (ValueError from C, ValueError or IndexError from Python), never crash.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.creation import Alloc, BroadcastTo
from symgraph.tensor.elemwise import DimShuffle
from symgraph.tensor.join import Join
from symgraph.tensor.shape import Reshape, SpecifyShape
from symgraph.tensor.shape_inference import MakeVector, Shape, Shape_i
from symgraph.tensor.special import LogSoftmax, Softmax
from symgraph.tensor.subtensor import AdvancedSubtensor, Subtensor
from symgraph.testing import array_layouts, assert_same_error, assert_same_outputs, compile_c_and_py, random_array

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    # A node the generator accepted but gcc rejected is a bug: fail instead of falling back.
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")
RNG = np.random.default_rng(1234)



# --------------------------------------------------------------------------- helpers

def _both(inputs, outputs, covered):
    """(python function, C function); asserts every node of a ``covered`` class runs in C."""
    covered = covered if isinstance(covered, tuple) else (covered,)
    # exact classes: AdvancedSubtensor is a Subtensor subclass that is only partly in C
    f_c, f_py = compile_c_and_py(inputs, outputs, covered, exact=True)
    return f_py, f_c


def _data(shape, dtype="float64"):
    return random_array(RNG, shape, dtype)


# --------------------------------------------------------------------------- DimShuffle


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_dimshuffle_transpose_drop_expand(dtype):
    x = st.tensor(dtype=dtype, shape=(None, 1, None), name="x")
    outs = [x.dimshuffle(2, "x", 0), x.dimshuffle(1, 0, 2), x.dimshuffle("x", 2, 0, "x")]
    f_py, f_c = _both([x], outs, DimShuffle)
    for shape in [(3, 1, 4), (0, 1, 5), (2, 1, 0), (1, 1, 1)]:
        for a in array_layouts(_data(shape, dtype)):
            assert_same_outputs(f_py, f_c, a)
    # a transposed input with a broadcast (stride-0) dimension
    assert_same_outputs(f_py, f_c, np.broadcast_to(_data((4, 1, 1), dtype), (4, 1, 3)).transpose(0, 1, 2))


def test_dimshuffle_feeds_c_elementwise():
    x, y = st.matrix("x"), st.vector("y")
    f_py, f_c = _both([x, y], [x.T * y.dimshuffle("x", 0) + 1.0], DimShuffle)
    assert_same_outputs(f_py, f_c, _data((3, 4)), _data((3,)))
    assert_same_outputs(f_py, f_c, _data((5, 4))[::-2], _data((6,))[::2])
    with pytest.raises(ValueError):
        f_c(_data((3, 4)), _data((4,)))


# --------------------------------------------------------------------------- Shape, Shape_i, MakeVector


def test_shape_shape_i_make_vector():
    x = st.tensor3("x")
    n = st.iscalar("n")
    outs = [x.shape, Shape_i(1)(x), MakeVector("int64")(Shape_i(2)(x), n, Shape_i(0)(x))]
    f_py, f_c = _both([x, n], outs, (Shape, Shape_i, MakeVector))
    for shape in [(2, 3, 4), (0, 5, 1), (1, 1, 0)]:
        for a in array_layouts(_data(shape)):
            got = assert_same_outputs(f_py, f_c, a, np.int32(-7))
            assert got[0].tolist() == list(shape) and got[2].tolist() == [shape[2], -7, shape[0]]


def test_make_vector_float():
    a, b = st.dscalar("a"), st.iscalar("b")
    f_py, f_c = _both([a, b], [MakeVector("float64")(a, b)], MakeVector)
    for va, vb in [(1.5, 3), (np.nan, -2), (-np.inf, 2**31 - 1)]:
        assert_same_outputs(f_py, f_c, np.float64(va), np.int32(vb))


# --------------------------------------------------------------------------- SpecifyShape


def test_specify_shape_checks_and_views():
    x = st.matrix("x")
    n = st.lscalar("n")
    y = st.specify_shape(x, (n, None))
    f_py, f_c = _both([x, n], [y, y * 2.0], SpecifyShape)
    for a in array_layouts(_data((3, 4))):
        assert_same_outputs(f_py, f_c, a, np.int64(3))
    assert_same_outputs(f_py, f_c, _data((0, 2)), np.int64(0))
    assert_same_error(f_py, f_c, _data((3, 4)), np.int64(4), match=r"expected shape \(4, \?\).*\(3, 4\)")
    assert_same_error(f_py, f_c, _data((3, 4)), np.int64(-1), match="specify_shape")


# --------------------------------------------------------------------------- Reshape


@pytest.mark.parametrize("dtype", ["float64", "int8"])
def test_reshape_view_copy_and_minus_one(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None), name="x")
    s = st.lvector("s")
    y = st.reshape(x, s, ndim=3)
    f_py, f_c = _both([x, s], [y], Reshape)
    base = _data((4, 6), dtype)
    for a in array_layouts(base) + [base[:, ::-1], base.T.copy().T]:
        for shp in [(2, 3, 4), (-1, 2, 2), (4, -1, 1), (1, 1, -1), (24, 1, 1)]:
            assert_same_outputs(f_py, f_c, a, np.array(shp, dtype="int64"))
    assert_same_outputs(f_py, f_c, _data((0, 3), dtype), np.array([3, 0, 1], dtype="int64"))
    assert_same_outputs(f_py, f_c, _data((0, 3), dtype), np.array([7, 0, 9], dtype="int64"))
    for bad in [(5, 5, 1), (-1, -1, 6), (-2, -3, 4), (0, -1, 1), (5, -1, 1), (2**40, 2**40, 2**40)]:
        assert_same_error(f_py, f_c, base, np.array(bad, dtype="int64"), match="reshape")
    # the shape vector's length is checked by the SpecifyShape that reshape inserts
    assert_same_error(f_py, f_c, base, np.array([24, 1], dtype="int64"), match=r"expected shape \(3,\)")


def test_reshape_int32_shape_and_flatten_in_chain():
    x = st.tensor3("x")
    s = st.ivector("s")
    y = st.reshape(x.dimshuffle(2, 0, 1), s, ndim=2)
    f_py, f_c = _both([x, s], [y, y + 1.0, x.flatten()], (Reshape, DimShuffle))
    for a in array_layouts(_data((2, 3, 4))):
        assert_same_outputs(f_py, f_c, a, np.array([-1, 6], dtype="int32"))
        assert_same_outputs(f_py, f_c, a, np.array([24, 1], dtype="int32"))


# --------------------------------------------------------------------------- Subtensor


def test_subtensor_slices_match_python_clamping():
    x = st.matrix("x")
    a, b, c = st.lscalar("a"), st.lscalar("b"), st.lscalar("c")
    i = st.iscalar("i")
    outs = [x[a:b:c], x[a:b:c, i], x[::-1, a:], x[None, i, b::c]]
    f_py, f_c = _both([x, a, b, c, i], outs, Subtensor)
    base = _data((5, 7))
    values = [-(2**63), -9, -7, -5, -2, -1, 0, 1, 2, 4, 5, 6, 8, 2**62, 2**63 - 1]
    cases = [(va, vb, vc) for va in values[::2] for vb in values[1::2] for vc in (1, -1, 2, -3, 2**63 - 1, -(2**63))]
    layouts = array_layouts(base)
    for k, (va, vb, vc) in enumerate(cases):
        assert_same_outputs(f_py, f_c, layouts[k % len(layouts)], np.int64(va), np.int64(vb), np.int64(vc), np.int32(k % 7 - 3))
    # an empty input: the slices are empty, the integer index is out of bounds
    assert_same_error(f_py, f_c, _data((0, 7)), np.int64(1), np.int64(3), np.int64(1), np.int32(0), match="out of bounds")


def test_subtensor_errors():
    x = st.matrix("x")
    a, i = st.lscalar("a"), st.bscalar("i")
    f_py, f_c = _both([x, a, i], [x[::a, i]], Subtensor)
    assert_same_outputs(f_py, f_c, _data((3, 4)), np.int64(-1), np.int8(-4))
    assert_same_error(f_py, f_c, _data((3, 4)), np.int64(1), np.int8(4), match="out of bounds")
    assert_same_error(f_py, f_c, _data((3, 4)), np.int64(1), np.int8(-5), match="out of bounds")
    assert_same_error(f_py, f_c, _data((3, 0)), np.int64(1), np.int8(0), match="out of bounds")
    assert_same_error(f_py, f_c, _data((3, 4)), np.int64(0), np.int8(0), match="step cannot be zero")


def test_subtensor_constant_index_0d_and_chain():
    x = st.tensor3("x")
    outs = [x[1, -1, 0], x[-1][::2] * 3.0, x[:, 1:3, None]]
    f_py, f_c = _both([x], outs, Subtensor)
    for a in array_layouts(_data((3, 4, 2))):
        assert_same_outputs(f_py, f_c, a)
    assert_same_error(f_py, f_c, _data((1, 4, 2)), match="out of bounds")


# --------------------------------------------------------------------------- AdvancedSubtensor


@pytest.mark.parametrize("idx_dtype", ["int64", "int32", "uint8"])
def test_advanced_subtensor_take_rows(idx_dtype):
    x = st.matrix("x")
    idx = st.tensor(dtype=idx_dtype, shape=(None,), name="idx")
    idx2 = st.tensor(dtype=idx_dtype, shape=(None, None), name="idx2")
    f_py, f_c = _both([x, idx, idx2], [x[idx], x[idx2]], AdvancedSubtensor)
    base = _data((5, 3))
    lo = 0 if idx_dtype == "uint8" else -5
    for a in array_layouts(base):
        i1 = RNG.integers(lo, 5, size=8).astype(idx_dtype)
        i2 = RNG.integers(lo, 5, size=(3, 4)).astype(idx_dtype)
        assert_same_outputs(f_py, f_c, a, i1, i2)
        assert_same_outputs(f_py, f_c, a, i1[::-3], i2.T)
    assert_same_outputs(f_py, f_c, base, np.zeros(0, idx_dtype), np.zeros((2, 0), idx_dtype))
    assert_same_outputs(f_py, f_c, np.broadcast_to(_data((1, 3)), (5, 3)), i1, i2)
    assert_same_outputs(f_py, f_c, _data((4, 0)), np.array([3, 0], idx_dtype), np.zeros((1, 1), idx_dtype))
    assert_same_error(f_py, f_c, base, np.array([0, 5], idx_dtype), np.zeros((1, 1), idx_dtype), match="out of bounds")
    assert_same_error(f_py, f_c, _data((0, 3)), np.array([0], idx_dtype), np.zeros((0, 1), idx_dtype), match="out of bounds")
    if idx_dtype != "uint8":
        assert_same_error(f_py, f_c, base, np.array([-6], idx_dtype), np.zeros((1, 1), idx_dtype), match="out of bounds")


# --------------------------------------------------------------------------- Alloc, BroadcastTo


def test_alloc_and_broadcast_to():
    v = st.tensor(dtype="float64", shape=(None, None), name="v")
    n, m = st.lscalar("n"), st.iscalar("m")
    outs = [st.alloc(v, 3, n, m), st.broadcast_to(v, (2, n, m)) * 1.5]
    f_py, f_c = _both([v, n, m], outs, (Alloc, BroadcastTo))
    for shape, nv, mv in [((4, 5), 4, 5), ((1, 5), 6, 5), ((4, 1), 4, 7), ((1, 1), 0, 3), ((0, 2), 0, 2)]:
        for a in array_layouts(_data(shape)):
            assert_same_outputs(f_py, f_c, a, np.int64(nv), np.int32(mv))
    assert_same_outputs(f_py, f_c, np.broadcast_to(_data((1, 3)), (4, 3)), np.int64(4), np.int32(3))
    assert_same_error(f_py, f_c, _data((4, 5)), np.int64(3), np.int32(5), match="broadcast")
    assert_same_error(f_py, f_c, _data((1, 1)), np.int64(-1), np.int32(5), match="broadcast")


@pytest.mark.parametrize("dtype", ["int16", "bool", "float32"])
def test_alloc_scalar_value(dtype):
    s = st.tensor(dtype=dtype, shape=(), name="s")
    n = st.lscalar("n")
    f_py, f_c = _both([s, n], [st.alloc(s, n, 2), st.broadcast_to(s, (n,))], (Alloc, BroadcastTo))
    for nv in (0, 1, 5):
        assert_same_outputs(f_py, f_c, _data((), dtype), np.int64(nv))


# --------------------------------------------------------------------------- Join


def test_join_axis_and_dtypes():
    a = st.matrix("a")
    b = st.imatrix("b")
    c = st.tensor(dtype="bool", shape=(None, None), name="c")
    outs = [st.concatenate([a, b, c], axis=1), st.concatenate([a, a[:0], a], axis=0), st.concatenate([c, b], axis=1)]
    f_py, f_c = _both([a, b, c], outs, Join)
    for va in array_layouts(_data((3, 3))):
        for vb in array_layouts(_data((3, 2), "int32")):
            assert_same_outputs(f_py, f_c, va, vb, _data((3, 4), "bool")[:, ::-1])
    assert_same_outputs(f_py, f_c, _data((0, 0)), _data((0, 0), "int32"), _data((0, 0), "bool"))
    assert_same_error(f_py, f_c, _data((3, 3)), _data((2, 2), "int32"), _data((3, 1), "bool"), match="concatenate")


# --------------------------------------------------------------------------- Softmax


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_log_softmax(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None), name="x")
    outs = [st.softmax(x, axis=-1), st.softmax(x, axis=0), st.softmax(x, axis=None),
            st.log_softmax(x, axis=1), st.log_softmax(x, axis=0), st.log_softmax(x, axis=None)]
    f_py, f_c = _both([x], outs, (Softmax, LogSoftmax))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    for a in array_layouts(_data((4, 5), dtype) * 10):
        assert_same_outputs(f_py, f_c, a, **tol)
    special = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 0.0], [-np.inf, -np.inf, -np.inf],
                        [-np.inf, 3.0, 1e300 if dtype == "float64" else 1e30], [700.0, 710.0, -5.0]], dtype=dtype)
    assert_same_outputs(f_py, f_c, special, **tol)
    assert_same_outputs(f_py, f_c, special[::-1, ::2], **tol)
    assert_same_outputs(f_py, f_c, _data((0, 3), dtype), **tol)
    assert_same_outputs(f_py, f_c, _data((3, 0), dtype), **tol)


def test_softmax_3d_middle_axis():
    x = st.tensor3("x")
    f_py, f_c = _both([x], [st.softmax(x, axis=1), st.log_softmax(x, axis=1)], (Softmax, LogSoftmax))
    for a in array_layouts(_data((3, 4, 5))):
        assert_same_outputs(f_py, f_c, a, rtol=1e-12, atol=1e-14)


def test_take_rows_of_vector_and_tensor3():
    v, t = st.vector("v"), st.tensor3("t")
    idx = st.lvector("idx")
    f_py, f_c = _both([v, t, idx], [v[idx], t[idx]], AdvancedSubtensor)
    for a in array_layouts(_data((4, 3, 2))):
        assert_same_outputs(f_py, f_c, _data((6,))[::-1], a, np.array([0, -1, 3, 2, 2], dtype="int64"))


def test_check_mode_runs_every_op_in_c_and_python():
    """The CHECK linker runs each C node alone and compares it with its Python perform."""
    x = st.tensor3("x")
    i, n = st.lscalar("i"), st.lscalar("n")
    idx = st.lvector("idx")
    y = st.specify_shape(x, (None, n, None))
    outs = [
        st.softmax(y.dimshuffle(2, 0, 1)[i], axis=0),
        st.log_softmax(x[1:].reshape((-1, 2)), axis=None),
        st.concatenate([x, st.alloc(st.constant(1.5), x.shape[0], x.shape[1], 1)], axis=2),
        x[idx, ::-1],
        st.broadcast_to(x[:, :1], (2, x.shape[0], n, x.shape[2])),
        x.shape,
    ]
    f = sg.function([x, i, n, idx], outs, mode=sg.Mode(linker="check"))
    nodes = f.maker.fgraph.toposort()
    covered = (DimShuffle, Softmax, LogSoftmax, Subtensor, Reshape, Join, Alloc, BroadcastTo, SpecifyShape, Shape)
    impls = [impl for node, impl in zip(nodes, f.implementations()) if type(node.op) in covered]
    assert len(impls) >= len(covered) and set(impls) == {"c"}
    # x[idx, ::-1]: the general C AdvancedSubtensor (ops_indexing.py) covers it
    assert [impl for node, impl in zip(nodes, f.implementations()) if type(node.op) is AdvancedSubtensor] == ["c"]
    for a in array_layouts(_data((3, 4, 2))):
        got = f(a, np.int64(-1), np.int64(4), np.array([2, 0], dtype="int64"))
        expected = sg.function([x, i, n, idx], outs, mode=PY_MODE)(a, np.int64(-1), np.int64(4), np.array([2, 0]))
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
