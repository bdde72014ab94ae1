"""C implementations of Dot, MatMul and Gemv (symgraph/link/c/ops_blas.py, c_backend/sg_blas.h).

Each graph is compiled once with the C linker and once with the Python linker (no rewrites,
so the product ops stay as built) and both are called on many inputs: C-contiguous,
Fortran-ordered, transposed, sliced with steps, reversed (negative strides), broadcast
(stride 0), empty in every dimension, with NaN and inf. Results must match the Python
``perform`` (exactly for integers and booleans), bad shapes must raise ``ValueError``.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.blas import Gemv, gemv
from symgraph.tensor.products import Dot, MatMul
from symgraph.testing import compile_c_and_py

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")

RNG = np.random.default_rng(20261121)



# --------------------------------------------------------------------------- helpers


def _compile(ins, outs, op_types=(Dot, MatMul, Gemv)):
    """(C function, Python function) without rewriting; asserts every product node runs in C."""
    return compile_c_and_py(ins, outs, op_types, optimizer=None)


def _tol(dtype):
    return dict(rtol=2e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def _assert_same(fc, fp, *args):
    with np.errstate(all="ignore"):
        expected = fp(*args)
        got = fc(*args)
    if not isinstance(expected, list):
        expected, got = [expected], [got]
    for e, g in zip(expected, got):
        assert type(g) is np.ndarray
        assert g.dtype == e.dtype and g.shape == e.shape
        if g.dtype.kind == "f":
            finite = np.abs(e[np.isfinite(e)])
            scale = max(1.0, float(finite.max(initial=0.0)))
            tol = _tol(g.dtype)
            np.testing.assert_allclose(g, e, rtol=tol["rtol"], atol=tol["atol"] * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)


def _values(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return RNG.random(shape) < 0.3
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        # Full range for small types (exercises wrap-around), moderate for int64.
        lo, hi = (max(info.min, -(2**40)), min(info.max, 2**40))
        return RNG.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def _layouts(shape, dtype):
    """The same kind of value in several memory layouts (name, array)."""
    base = _values(shape, dtype)
    out = [("c", base), ("f", np.asfortranarray(base))]
    big = _values(tuple(2 * s + 1 for s in shape), dtype)
    out.append(("step", big[tuple(slice(1, None, 2) for _ in shape)][tuple(slice(0, s) for s in shape)]))
    out.append(("neg", base[tuple(slice(None, None, -1) for _ in shape)]))
    if len(shape) == 2:
        out.append(("t", np.ascontiguousarray(base.T).T))
        out.append(("rowbcast", np.broadcast_to(_values((1, shape[1]), dtype), shape)))
        out.append(("colbcast", np.broadcast_to(_values((shape[0], 1), dtype), shape)))
    else:
        out.append(("bcast", np.broadcast_to(_values((1,), dtype), shape)))
    if np.dtype(dtype).kind == "f" and base.size:
        special = base.copy()
        flat = special.reshape(-1)
        flat[RNG.integers(0, flat.size)] = np.nan
        flat[RNG.integers(0, flat.size)] = np.inf
        out.append(("nan", special))
    return out


SIZES = [(3, 4, 5), (1, 1, 1), (0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0), (1, 7, 1), (17, 33, 9)]


# --------------------------------------------------------------------------- Dot


DOT_DTYPES = [
    ("float64", "float64"),
    ("float32", "float32"),
    ("float32", "float64"),
    ("int32", "float64"),
    ("int64", "int64"),
    ("int8", "uint8"),
    ("bool", "bool"),
]


@pytest.mark.parametrize("da,db", DOT_DTYPES)
def test_dot_all_ranks(da, db):
    """matrix.matrix, matrix.vector, vector.matrix, vector.vector in one function."""
    a, b = st.matrix("a", dtype=da), st.matrix("b", dtype=db)
    u, v = st.vector("u", dtype=da), st.vector("v", dtype=db)
    outs = [Dot()(a, b), Dot()(a, v), Dot()(u, b), Dot()(u, v)]
    fc, fp = _compile([a, b, u, v], outs)
    for m, k, n in SIZES:
        for (_, A), (_, B) in zip(_layouts((m, k), da), _layouts((k, n), db)[::-1]):
            for (_, U), (_, V) in zip(_layouts((k,), da), _layouts((k,), db)):
                _assert_same(fc, fp, A, B, U, V)
    # Inner-dimension mismatch: ValueError naming both shapes (never a crash).
    for args in [
        (_values((3, 4), da), _values((5, 2), db), _values((4,), da), _values((4,), db)),
        (_values((3, 4), da), _values((4, 2), db), _values((5,), da), _values((4,), db)),
        (_values((3, 4), da), _values((4, 2), db), _values((4,), da), _values((3,), db)),
    ]:
        with pytest.raises(ValueError, match=r"\(\d+, \d+\)|\(\d+,\)"):
            fc(*args)


def test_dot_internal_views_and_check_mode():
    """Transposed / sliced views made inside the graph (the MLP gradient pattern) and the
    CHECK linker, which compares C with Python node by node."""
    a, b = st.matrix("a"), st.matrix("b")
    outs = [Dot()(a.T, b), Dot()(a, b.T), Dot()(a.T, b.T)[::2], Dot()(Dot()(a.T, b.T)[::2], b),
            Dot()(a[::2], b[:, ::-1].T)]
    fc, fp = _compile([a, b], outs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fk = sg.function([a, b], outs, mode=sg.Mode(linker="check", optimizer=None))
    for shape in [(6, 6), (0, 0), (1, 1), (8, 8)]:
        A, B = _values(shape, "float64"), _values(shape, "float64")
        _assert_same(fc, fp, A, B)
        fk(A, B)  # raises CheckError on a mismatch
        fk(A.T, B[::-1])


def test_mlp_w4_pattern():
    """W4: X @ W1 -> tanh -> @ W2 and the gradients (products with transposes) all in C."""
    X, W1, W2 = st.matrix("X"), st.matrix("W1"), st.matrix("W2")
    h = st.tanh(st.dot(X, W1))
    cost = ((st.dot(h, W2) - 1.0) ** 2).sum()
    outs = [cost, *sg.grad(cost, [W1, W2])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = sg.function([X, W1, W2], outs, mode=sg.Mode(linker="c"))
    fp = sg.function([X, W1, W2], outs, mode=sg.Mode(linker="py"))
    dots = [impl for node, impl in zip(fc.maker.fgraph.toposort(), fc.implementations()) if isinstance(node.op, Dot)]
    assert len(dots) >= 3 and set(dots) == {"c"}
    args = (_values((64, 32), "float64"), _values((32, 32), "float64") * 0.1, _values((32, 10), "float64"))
    _assert_same(fc, fp, *args)


# --------------------------------------------------------------------------- MatMul


MATMUL_CASES = [
    # (a static shape, b static shape)
    ((None, None), (None, None)),
    ((None, None, None), (None, None, None)),
    ((None, None, None), (None, None)),  # b shared by every batch: one merged product
    ((None, None), (None, None, None)),
    ((1, None, None), (None, None, None)),  # a broadcast along the batch (static 1)
    ((None, 1, None, None), (3, None, None)),
]


def _batch_shapes(sa, sb, nbatch, m, k, n):
    """Concrete operand shapes for static shapes sa/sb with every free batch size nbatch."""
    a = tuple(1 if s == 1 else (s if s is not None else nbatch) for s in sa[:-2]) + (m, k)
    b = tuple(1 if s == 1 else (s if s is not None else nbatch) for s in sb[:-2]) + (k, n)
    # Batch sizes given statically (3 in the last case) must agree with the free ones.
    fixed = {s for s in (*sa[:-2], *sb[:-2]) if s not in (None, 1)}
    if fixed:
        a = tuple(next(iter(fixed)) if (s is None and i < len(sa) - 2) else x for i, (s, x) in enumerate(zip(sa, a)))
        b = tuple(next(iter(fixed)) if (s is None and i < len(sb) - 2) else x for i, (s, x) in enumerate(zip(sb, b)))
    return a, b


@pytest.mark.parametrize("sa,sb", MATMUL_CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int16"])
def test_matmul(sa, sb, dtype):
    """Batched products; the second output takes b as the swapped view of a third input."""
    a = st.tensor("a", dtype=dtype, shape=sa)
    b = st.tensor("b", dtype=dtype, shape=sb)
    bt = st.tensor("bt", dtype=dtype, shape=sb)
    fc, fp = _compile([a, b, bt], [MatMul()(a, b), MatMul()(a, _swap(bt))])
    for nbatch in (2, 0, 1):
        for m, k, n in SIZES[:-1] + [(9, 5, 7)]:
            shape_a, shape_b = _batch_shapes(sa, sb, nbatch, m, k, n)
            A, B = _values(shape_a, dtype), _values(shape_b, dtype)
            BT = np.ascontiguousarray(np.swapaxes(B, -1, -2))
            for X, Y, YT in [
                (A, B, BT),
                (A[..., ::-1, :], np.asfortranarray(B), np.swapaxes(np.ascontiguousarray(B), -1, -2)),
                (np.swapaxes(np.ascontiguousarray(np.swapaxes(A, -1, -2)), -1, -2), B[..., ::-1], BT[..., ::-1, :]),
            ]:
                _assert_same(fc, fp, X, Y, YT)


def _swap(x):
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return x.dimshuffle(*order)


def test_matmul_shape_errors():
    a = st.tensor("a", shape=(None, None, None))
    b = st.tensor("b", shape=(None, None, None))
    fc, _ = _compile([a, b], [MatMul()(a, b)])
    with pytest.raises(ValueError, match="not aligned"):
        fc(np.ones((2, 3, 4)), np.ones((2, 5, 2)))
    with pytest.raises(ValueError, match="batch dimension 0"):
        fc(np.ones((2, 3, 4)), np.ones((3, 4, 2)))
    with pytest.raises(ValueError, match="batch dimension 0"):  # 1 only broadcasts when static
        fc(np.ones((1, 3, 4)), np.ones((3, 4, 2)))


# --------------------------------------------------------------------------- Gemv


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemv(dtype):
    y, A, x = st.vector("y", dtype=dtype), st.matrix("A", dtype=dtype), st.vector("x", dtype=dtype)
    alpha, beta = st.scalar("alpha", dtype=dtype), st.scalar("beta", dtype=dtype)
    fc, fp = _compile([y, alpha, A, x, beta], [gemv(y, alpha, A, x, beta), gemv(y, alpha, A.T, y, beta)])
    for m, k, _ in SIZES:
        # Second output: A.T (k x m) @ y (m) + beta * y needs k == m; use square inputs.
        k = m
        for (_, Am), (_, X), (_, Y) in zip(_layouts((m, k), dtype), _layouts((k,), dtype) * 2, _layouts((m,), dtype) * 2):
            for al, be in [(1.5, -0.5), (0.0, 2.0), (1.0, 0.0), (0.0, 0.0)]:
                _assert_same(fc, fp, Y, np.asarray(al, dtype), Am, X, np.asarray(be, dtype))
    # NaN must survive a zero coefficient (BLAS would skip the operand and give 0).
    nan_y = np.array([np.nan, 1.0, np.inf], dtype)
    nan_A = np.array([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]], dtype)
    for al, be in [(0.0, 1.0), (1.0, 0.0)]:
        got = fc(nan_y, np.asarray(al, dtype), nan_A, np.ones(3, dtype), np.asarray(be, dtype))[0]
        assert np.isnan(got[0])
    with pytest.raises(ValueError, match="Gemv: shapes are not aligned"):
        fc(np.ones(3, dtype), np.asarray(1, dtype), np.ones((3, 4), dtype), np.ones(3, dtype), np.asarray(1, dtype))


def test_gemv_inplace_on_intermediate():
    """Gemv{inplace} on an intermediate ``y`` (the form the rewrites produce) runs in C."""
    from symgraph.tensor.blas import gemv_inplace

    y, A, x = st.vector("y"), st.matrix("A"), st.vector("x")
    fc, fp = _compile([y, A, x], [gemv_inplace(y * 2.0, 0.5, A, x, 1.5)])
    for m, k in [(4, 3), (0, 3), (3, 0), (1, 1), (20, 30)]:
        for (_, Am), (_, X), (_, Y) in zip(_layouts((m, k), "float64"), _layouts((k,), "float64") * 2,
                                           _layouts((m,), "float64") * 2):
            _assert_same(fc, fp, Y, Am, X)


# --------------------------------------------------------------------------- BLAS plan


def test_transposed_operands_are_not_copied():
    """sg_blas_matmul_scratch (how many bytes of copies a product needs) is 0 for C- and
    F-ordered operands and transposes -- what W4's gradient products pass -- and > 0 only
    for operands with no unit stride."""
    from symgraph.link.c.build import compile_extension

    src = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "sg_runtime.h"
#include "sg_blas.h"
static PyObject *need(PyObject *self, PyObject *args) {
    Py_ssize_t v[8];
    if (!PyArg_ParseTuple(args, "nnnnnnnn", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])) return NULL;
    sg_mat A = {NULL, v[0], v[1], v[2], v[3]}, B = {NULL, v[4], v[5], v[6], v[7]};
    return PyLong_FromSize_t(sg_blas_matmul_scratch(&A, &B, 8));
}
static PyMethodDef methods[] = {{"need", need, METH_VARARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "sg_blas_plan_probe", NULL, -1, methods};
PyMODINIT_FUNC PyInit_sg_blas_plan_probe(void) { return PyModule_Create(&mod); }
"""
    need = compile_extension(src, "sg_blas_plan_probe").need
    m, k, n = 512, 256, 10
    c = lambda r, cc: (r, cc, cc * 8, 8)  # noqa: E731 - C-ordered r x cc
    t = lambda r, cc: (r, cc, 8, r * 8)  # noqa: E731 - transpose of a C-ordered cc x r
    assert need(*c(m, k), *c(k, n)) == 0
    assert need(*t(m, k), *c(k, n)) == 0  # X.T @ gz
    assert need(*c(m, k), *t(k, n)) == 0  # gz @ W.T
    assert need(*t(m, k), *t(k, n)) == 0
    assert need(*c(1, k), *c(k, n)) == 0 and need(*c(m, k), *c(k, 1)) == 0  # gemv shapes
    assert need(m, k, 16 * k, 16, *c(k, n)) > 0  # a[:, ::2]: no unit stride
    assert need(*c(m, k), k, n, -8 * n, -8) > 0  # reversed
    assert need(*c(m, k), k, n, 0, 0) > 0  # broadcast scalar


def test_sizes_beyond_blas_int_are_refused():
    """A product with a size above INT_MAX raises ValueError (not implemented) before any
    copy; an empty product with such a size is simply empty. Broadcast (stride 0) operands
    keep the inputs tiny; the address-space limit turns a missed check into a MemoryError
    instead of a huge allocation."""
    import resource

    u, v, a = st.vector("u"), st.vector("v"), st.matrix("a")
    fc, _ = _compile([u, v, a], [Dot()(u, v), Dot()(a, v)])
    big = np.broadcast_to(np.ones(1), (2**31 + 5,))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + (2 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    try:
        with pytest.raises(ValueError, match="BLAS int"):
            fc(big, big, np.broadcast_to(np.ones(1), (2, 2**31 + 5)))
        out = fc(np.ones(3), np.ones(3), np.broadcast_to(np.ones(1), (0, 3)))
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert out[0] == 3.0 and out[1].shape == (0,)


# --------------------------------------------------------------------------- which BLAS


_WHICH_BLAS = """
import numpy as np, symgraph as sg, symgraph.tensor as st
from symgraph.link.c.ops_blas import numpy_blas_addresses
a, b, v = st.dmatrix("a"), st.fmatrix("b"), st.dvector("v")
f = sg.function([a, b, v], [a @ a.T, b @ b, a @ v, v @ v], mode=sg.Mode(linker="c"))
assert set(f.implementations()) == {"c"}, f.implementations()
r = np.random.default_rng(0)
A, B, V = r.normal(size=(70, 70)), r.normal(size=(33, 33)).astype("float32"), r.normal(size=70)
for got, want in zip(f(A, B, V), [A @ A.T, B @ B, A @ V, V @ V]):
    # atol too: a float32 sum that cancels keeps only an absolute accuracy
    np.testing.assert_allclose(got, want, rtol=1e-4 if got.dtype == np.float32 else 1e-12, atol=1e-5 if got.dtype == np.float32 else 1e-12)
print(numpy_blas_addresses() is not None)
"""


@pytest.mark.parametrize("choice", ["auto", "scipy"])
def test_products_on_numpy_and_on_scipy_blas(choice, tmp_path):
    """Both BLAS sources give NumPy's products (each run in its own process: a module loads
    its routines once). With 'auto' NumPy's own OpenBLAS is used when it is the one NumPy's
    wheels ship (then numpy_blas_addresses finds it)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, SYMGRAPH_FLAGS=f"blas={choice}", SYMGRAPH_COMPILEDIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", _WHICH_BLAS], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    found = run.stdout.strip().splitlines()[-1]
    if choice == "scipy":
        assert found == "False"
    elif any(n.startswith("libscipy_openblas64_") for n in _numpy_libs()):
        assert found == "True"


def _numpy_libs():
    import os

    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return os.listdir(libs) if os.path.isdir(libs) else []
