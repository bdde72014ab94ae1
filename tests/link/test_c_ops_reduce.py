"""C reductions (symgraph/link/c/ops_reduce.py) against the Python linker.

Each graph is compiled once with ``linker="c"`` and once with ``linker="py"`` and called on
many inputs: contiguous, transposed, sliced with negative steps, broadcast, empty, 0-d,
with NaN and inf. Values must agree (exactly for integers and booleans, to rounding for
floats, NaN where NumPy gives NaN), dtypes and shapes must be identical, and the reduction
nodes must have run in C. Errors (max of nothing, broadcast mismatches) must be the same
``ValueError`` in both.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.fused_reduce import FusedReduce
from symgraph.tensor.reduction import Argmax, Reduce
from symgraph.testing import compile_c_and_py

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")

REDUCTION_OPS = (Reduce, FusedReduce, Argmax)



# --------------------------------------------------------------------------- helpers


def _compile(inputs, outputs, expect_ops=REDUCTION_OPS):
    """(C function, Python function); asserts every node of ``expect_ops`` runs in C."""
    return compile_c_and_py(inputs, outputs, expect_ops)


def _same(f_c, f_py, *values, rtol=1e-12, atol=1e-12):
    """Call both functions and compare every output (or the error both raise)."""
    try:
        with np.errstate(all="ignore"):
            expected = f_py(*values)
    except ValueError:
        with pytest.raises(ValueError):
            f_c(*values)
        return None
    with np.errstate(all="ignore"):
        got = f_c(*values)
    if not isinstance(expected, list):
        expected, got = [expected], [got]
    for k, (g, e) in enumerate(zip(got, expected)):
        g, e = np.asarray(g), np.asarray(e)
        assert g.dtype == e.dtype, (k, g.dtype, e.dtype)
        assert g.shape == e.shape, (k, g.shape, e.shape)
        if e.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"output {k}")
        else:
            np.testing.assert_array_equal(g, e, err_msg=f"output {k}")
    return got


def _layouts(a):
    """``a`` as C-contiguous, Fortran-ordered, reversed (negative strides) and strided views."""
    yield np.ascontiguousarray(a)
    yield np.asfortranarray(a)
    yield a[(slice(None, None, -1),) * a.ndim]
    big = np.repeat(a, 2, axis=-1) if a.ndim else a
    yield big[..., ::2] if a.ndim else a


def _values(rng, shape, dtype, special=True):
    """Random values of ``dtype`` (floats optionally with NaN/inf sprinkled in)."""
    if dtype == "bool":
        return rng.random(shape) < 0.7
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -50), min(info.max, 50)
        return rng.integers(lo, hi, size=shape).astype(dtype)
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    if special and a.size > 3:
        flat = a.reshape(-1)
        flat[rng.integers(0, a.size)] = np.nan
        flat[rng.integers(0, a.size)] = np.inf
        flat[rng.integers(0, a.size)] = -np.inf
    return a


TOL = {"float64": 1e-12, "float32": 2e-5}


# --------------------------------------------------------------------------- Reduce


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_float_matrix_every_kind_and_axis(dtype):
    x = st.matrix("x", dtype=dtype)
    outs = []
    for axis in (0, 1, None):
        outs += [st.sum(x, axis=axis), st.prod(x, axis=axis), st.all(x, axis=axis), st.any(x, axis=axis)]
        outs += [st.max(x, axis=axis), st.min(x, axis=axis), st.logsumexp(x, axis=axis)]
        outs += [st.argmax(x, axis=axis), st.argmin(x, axis=axis)]
    f_c, f_py = _compile([x], outs)
    rng = np.random.default_rng(0)
    tol = TOL[dtype]
    for shape in [(5, 7), (1, 9), (9, 1), (33, 130), (300, 17), (1, 1)]:
        for special in (False, True):
            base = _values(rng, shape, dtype, special)
            for a in _layouts(base):
                _same(f_c, f_py, a, rtol=tol, atol=tol)
    # values in (0, 1) and a single NaN/inf per row, where the NaN probe of max/min matters
    a = rng.random((20, 150)).astype(dtype)
    a[3, 5] = np.nan
    a[4, 149] = np.inf
    a[5, 0] = -np.inf
    a[6, :] = np.nan
    a[7, :] = -np.inf
    a[8, 10] = np.inf
    a[8, 11] = np.nan
    for b in _layouts(a):
        _same(f_c, f_py, b, rtol=tol, atol=tol)


def test_empty_inputs_identities_and_errors():
    x = st.dmatrix("x")
    ident = [st.sum(x, axis=0), st.sum(x, axis=1), st.prod(x), st.all(x, axis=1), st.any(x, axis=0),
             st.logsumexp(x, axis=1), st.logsumexp(x, axis=0)]
    f_c, f_py = _compile([x], ident)
    for shape in [(0, 3), (3, 0), (0, 0)]:
        got = _same(f_c, f_py, np.zeros(shape))
        assert got is not None
    extrema = {
        "max0": st.max(x, axis=0), "min1": st.min(x, axis=1), "maxall": st.max(x),
        "argmax0": st.argmax(x, axis=0), "argminall": st.argmin(x),
    }
    for key, out in extrema.items():
        f_c, f_py = _compile([x], out)
        for shape, raises in [((0, 3), key in ("max0", "maxall", "argmax0", "argminall")),
                              ((3, 0), key in ("min1", "maxall", "argminall")),
                              ((0, 0), True)]:
            if raises:
                with pytest.raises(ValueError, match="empty"):
                    f_c(np.zeros(shape))
            assert _same(f_c, f_py, np.zeros(shape)) is None or not raises


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool"])
def test_3d_axis_combinations(dtype):
    x = st.tensor3("x", dtype=dtype)
    outs = []
    for axis in [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), None, ()]:
        outs += [st.sum(x, axis=axis), st.max(x, axis=axis), st.min(x, axis=axis), st.all(x, axis=axis), st.any(x, axis=axis)]
        if dtype in ("float64", "float32", "int64", "bool"):
            outs.append(st.prod(x, axis=axis))
        if dtype.startswith("float"):
            outs.append(st.logsumexp(x, axis=axis))
    outs += [st.argmax(x, axis=1), st.argmin(x, axis=2), st.argmax(x)]
    f_c, f_py = _compile([x], outs)
    rng = np.random.default_rng(1)
    tol = TOL.get(dtype, 0)
    for shape in [(2, 3, 4), (4, 1, 5), (3, 17, 9), (2, 3, 70), (1, 1, 1)]:
        for a in _layouts(_values(rng, shape, dtype)):
            _same(f_c, f_py, a, rtol=tol, atol=tol)
        _same(f_c, f_py, np.transpose(_values(rng, shape[::-1], dtype), (2, 0, 1)), rtol=tol, atol=tol)


def test_integer_sums_wrap_and_explicit_dtypes():
    x = st.lvector("x")
    b = st.vector("b", dtype="int8")
    outs = [st.sum(x), st.prod(x), st.sum(b), st.prod(b), st.sum(b, dtype="int8"), st.sum(x, dtype="float64"),
            st.sum(b, dtype="int16"), st.max(b)]
    f_c, f_py = _compile([x, b], outs)
    rng = np.random.default_rng(2)
    big = np.array([2**62, 2**62, 2**62, 3], dtype=np.int64)
    _same(f_c, f_py, big, np.array([100, 100, 100], dtype=np.int8))
    _same(f_c, f_py, rng.integers(-(2**40), 2**40, 1000), rng.integers(-128, 127, 1000).astype(np.int8))


def test_0d_and_bool_sums():
    s = st.dscalar("s")
    m = st.matrix("m", dtype="bool")
    outs = [st.sum(s), st.max(s), st.logsumexp(s), st.argmax(s), st.sum(m, axis=1), st.sum(m, dtype="bool"),
            st.prod(m, axis=0), st.max(m, axis=0), st.min(m, axis=1), st.argmax(m, axis=1)]
    f_c, f_py = _compile([s, m], outs)
    rng = np.random.default_rng(3)
    for v in (np.float64(1.5), np.float64(np.nan)):
        for a in _layouts(rng.random((6, 9)) < 0.5):
            _same(f_c, f_py, v, a)


def test_mean_var_through_reduce():
    x = st.dmatrix("x")
    f_c, f_py = _compile([x], [st.mean(x, axis=0), st.var(x, axis=1), st.std(x)])
    rng = np.random.default_rng(4)
    for a in _layouts(rng.standard_normal((40, 30))):
        _same(f_c, f_py, a)


# --------------------------------------------------------------------------- FusedReduce


def test_fused_reduce_logsumexp_pattern_and_broadcast():
    x = st.dmatrix("x")
    m = st.max(x, axis=1, keepdims=True)
    outs = [st.sum(st.exp(x - m), axis=1), st.max(st.abs(x - m), axis=0), st.prod(x * 0.5 + 1, axis=(0, 1))]
    f_c, f_py = _compile([x], outs)
    fused = [n for n in f_c.maker.fgraph.toposort() if isinstance(n.op, FusedReduce)]
    assert len(fused) == 3, [str(n.op) for n in f_c.maker.fgraph.toposort()]
    rng = np.random.default_rng(5)
    for shape in [(4, 6), (50, 33), (1, 7), (7, 1), (0, 5)]:
        for a in _layouts(_values(rng, shape, "float64", special=shape[0] > 3)):
            _same(f_c, f_py, a)


def test_fused_reduce_row_and_column_vectors():
    x = st.dmatrix("x")
    r = st.dvector("r")
    c = st.dvector("c")
    outs = [
        st.sum(x * r[None, :], axis=1),           # broadcast over the kept axis
        st.sum(x * c[:, None], axis=0),           # broadcast over the reduced axis, leading axes reduced
        st.min(st.exp(x) + c[:, None], axis=1),   # broadcast over the reduced axis: the rows path
        st.sum(st.sqr(x - c[:, None])),
    ]
    f_c, f_py = _compile([x, r, c], outs)
    rng = np.random.default_rng(6)
    for rows, cols in [(3, 5), (40, 70), (1, 1), (0, 4)]:
        xs = _values(rng, (rows, cols), "float64", special=False)
        rs, cs = rng.standard_normal(cols), rng.standard_normal(rows)
        for a in _layouts(xs):
            _same(f_c, f_py, a, rs, cs)
            _same(f_c, f_py, a, rs[::-1], cs[::-1])
    # mismatched run-time shapes: the same ValueError as Python, never a crash
    with pytest.raises(ValueError):
        f_c(np.ones((3, 5)), np.ones(4), np.ones(3))
    with pytest.raises(ValueError):
        f_c(np.ones((3, 5)), np.ones(5), np.ones(2))


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_fused_reduce_other_dtypes(dtype):
    x = st.tensor3("x", dtype=dtype)
    y = st.tensor3("y", dtype=dtype)
    if dtype == "bool":
        outs = [st.sum(x & y, axis=(0, 2)), st.max(x | y, axis=1), st.sum(st.neq(x, y), axis=2)]
    else:
        outs = [st.sum(x * y + x, axis=(0, 2)), st.max(x - y, axis=1), st.min(x * y, axis=(1, 2)), st.prod(x - y, axis=0)]
    f_c, f_py = _compile([x, y], outs)
    rng = np.random.default_rng(7)
    tol = TOL.get(dtype, 0)
    for shape in [(2, 3, 4), (5, 1, 9), (3, 8, 20)]:
        a, b = _values(rng, shape, dtype, special=False), _values(rng, shape, dtype, special=False)
        for la, lb in zip(_layouts(a), _layouts(b)):
            _same(f_c, f_py, la, lb, rtol=tol, atol=tol)
            _same(f_c, f_py, la, np.ascontiguousarray(lb), rtol=tol, atol=tol)


# --------------------------------------------------------------------------- the W3 shape


def test_logsumexp_large_matches_numpy():
    x = st.dmatrix("x")
    f_c, f_py = _compile([x], st.logsumexp(x, axis=1))
    a = np.random.default_rng(8).standard_normal((2000, 1000)) * 10
    m = a.max(axis=1, keepdims=True)
    expected = np.log(np.exp(a - m).sum(axis=1)) + m[:, 0]
    np.testing.assert_allclose(f_c(a), expected, rtol=1e-12)
    _same(f_c, f_py, a)
    _same(f_c, f_py, a.T[:900])


@pytest.mark.parametrize("cols", [1, 7, 31, 32, 33, 63, 70, 100, 257])
def test_logsumexp_rows_every_tail_length_and_special_values(cols):
    """The rows kernel's shift (a maximum whose tail runs in the vector lanes, without the
    NaN probe) and its per-block logs (blocks of 64 rows, here a partial last block): the
    maximum in the tail, NaN and +-inf in the tail or the body, all -inf rows."""
    x = st.dmatrix("x")
    f_c, f_py = _compile([x], st.logsumexp(x, axis=1))
    rng = np.random.default_rng(cols)
    a = rng.standard_normal((150, cols)) * 30
    specials = {1: 800.0, 2: np.nan, 3: np.inf, 4: -np.inf, 5: np.nan}  # 800: exp overflows unless it is the shift
    for row, value in specials.items():
        a[row, -1] = value  # the last element: in the tail unless cols is a multiple of 32
    a[6, 0] = np.inf
    a[7, :] = -np.inf
    a[8, : cols // 2] = np.nan
    (got,) = _same(f_c, f_py, a)
    assert np.isnan(got[2]) and got[3] == np.inf and got[7] == -np.inf
    _same(f_c, f_py, a[::-1])  # the same rows, other order (other blocks)


def test_check_mode_runs_reductions_in_c_and_python():
    """The CHECK linker runs each C node and its ``perform`` on the same inputs and raises
    on any mismatch."""
    x = st.dmatrix("x")
    y = st.dvector("y")
    outs = [st.logsumexp(x, axis=0), st.sum(st.exp(x) * y[None, :], axis=1), st.argmin(x, axis=1),
            st.max(x - y[None, :], axis=0), st.any(x > 1)]
    f = sg.function([x, y], outs, mode=sg.Mode(linker="check"))
    nodes = f.maker.fgraph.toposort()
    assert [impl for n, impl in zip(nodes, f.implementations()) if isinstance(n.op, REDUCTION_OPS)] == ["c"] * 5
    rng = np.random.default_rng(9)
    for a in _layouts(_values(rng, (37, 45), "float64")):
        with np.errstate(all="ignore"):
            f(a, rng.standard_normal(45))


@pytest.mark.parametrize("mode", ["auto", "openmp"])
def test_rows_split_over_threads(mode):
    """With ``config.parallel`` the rows path is split over the cores: same values."""
    saved = sg.config.parallel
    sg.config.parallel = mode
    try:
        x = st.dmatrix("x")
        c = st.dvector("c")
        outs = [st.logsumexp(x, axis=1), st.sum(st.exp(x - c[:, None]), axis=1), st.max(x, axis=1), st.all(x, axis=1)]
        f_c, f_py = _compile([x, c], outs)
    finally:
        sg.config.parallel = saved
    rng = np.random.default_rng(10)
    a = _values(rng, (600, 300), "float64")
    _same(f_c, f_py, a, rng.standard_normal(600))
    _same(f_c, f_py, np.ascontiguousarray(a[:, :1]), rng.standard_normal(600))


def test_loops_are_shared_kernels():
    """Reduction loops are module-level kernels (rows: SG_HOT; strided: SG_WARM; argmax:
    SG_HOT), so the module can be compiled at -O0: equal reductions share them, and every
    path still gives Python's values."""
    x, y = st.dmatrix("x"), st.dmatrix("y")
    outs = [st.logsumexp(x, axis=1), st.logsumexp(y, axis=1), st.sum(x, axis=0), st.argmax(y, axis=0)]
    f_c, f_py = _compile([x, y], outs)
    source = f_c.maker.linker.source
    lines = source.splitlines()
    assert sum(line.startswith("SG_HOT static void sg_redr_") for line in lines) == 1  # shared by both lse
    assert sum(line.startswith("SG_WARM SG_KERNEL int sg_redg_") for line in lines) == 2  # lse, sum
    assert sum(line.startswith("SG_HOT SG_KERNEL int sg_argmax_") for line in lines) == 1
    rng = np.random.default_rng(12)
    a = _values(rng, (30, 50), "float64")
    for u, v in ((a, a[::-1]), (a[:, ::2], a.T[:30, :25]), (a[:, 5:40], a[:, 3:38])):
        _same(f_c, f_py, u, v)
