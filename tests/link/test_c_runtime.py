"""Tests of the C runtime (c_backend/sg_runtime.h, c_backend/sg_math.h).

Three small C harnesses are generated, compiled with gcc (one run each, into pytest's tmp
dir) and loaded through ctypes/cffi:

1. array-wise wrappers of every ``sg_*`` helper, compared with NumPy/SciPy on special values
   (+-0, +-inf, NaN, huge magnitudes, integer MIN / -1 and division by zero);
2. the array-view API: sg_check_broadcast's errors and sg_iter's strided/broadcast loops;
3. every row of the scalar-op table: its ``c_template`` rendered through ``ScalarOp.c_expr``
   into one C function per (row, input dtype), compared with the row's NumPy implementation.
   Rows whose template is known to be wrong are listed in ``KNOWN_BAD_TEMPLATES`` (the test
   checks that list is exact, so fixing a row makes it fail until the entry is removed).
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest
import scipy.special as sps

from symgraph.link.c import runtime
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, get_scalar_op

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

CFLAGS = ["-O2", "-shared", "-fPIC", *runtime.RECOMMENDED_CFLAGS, "-Wall", "-Werror=implicit-function-declaration"]


def _compile(tmp_path_factory, name: str, source: str, check: bool = True):
    d = tmp_path_factory.mktemp(name)
    src, lib = d / f"{name}.c", d / f"{name}.so"
    src.write_text(source)
    proc = subprocess.run(
        ["gcc", *CFLAGS, *runtime.include_flags(), str(src), "-o", str(lib), "-lm"],
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gcc failed:\n{proc.stderr[:4000]}")
    return lib, proc


def test_include_dir_has_headers():
    for h in runtime.HEADERS:
        assert runtime.header_path(h).is_file()
    assert runtime.include_flags()[1] == str(runtime.include_dir())


# ============================================================================ 1. helpers

NP_OF_SUFFIX = {"f64": np.float64, "f32": np.float32}
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
ALL_NUMERIC = INT_DTYPES + ("float32", "float64")
# helper -> (number of inputs, dtypes it is tested on)
HELPERS = {
    "sg_floor_divide": (2, ALL_NUMERIC),
    "sg_mod": (2, ALL_NUMERIC),
    "sg_abs": (1, ALL_NUMERIC),
    "sg_sign": (1, ALL_NUMERIC),
    "sg_maximum": (2, ALL_NUMERIC),
    "sg_minimum": (2, ALL_NUMERIC),
    "sg_clip": (3, ALL_NUMERIC),
    "sg_invert": (1, INT_DTYPES + ("bool",)),
    "sg_floor": (1, ALL_NUMERIC),
    "sg_ceil": (1, ALL_NUMERIC),
    "sg_rint": (1, ALL_NUMERIC),
    "sg_pow": (2, ALL_NUMERIC),
    "sg_tanh": (1, ("float32", "float64")),
    "sg_sigmoid": (1, ("float32", "float64")),
    "sg_softplus": (1, ("float32", "float64")),
    "sg_log1mexp": (1, ("float32", "float64")),
    "sg_logaddexp": (2, ("float32", "float64")),
    "sg_erfinv": (1, ("float32", "float64")),
    "sg_digamma": (1, ("float32", "float64")),
    "sg_gammaln": (1, ("float32", "float64")),
    "sg_polygamma": (2, ("float32", "float64")),
}


def _helper_source() -> str:
    lines = ['#include "sg_runtime.h"']
    for name, (nin, dtypes) in HELPERS.items():
        for dt in dtypes:
            ct = C_TYPES[dt]
            params = ", ".join(f"const {ct} *x{k}" for k in range(nin))
            args = ", ".join(f"x{k}[i]" for k in range(nin))
            lines.append(
                f"void w_{name}_{dt}({params}, {ct} *out, long n) {{ for (long i = 0; i < n; i++) out[i] = {name}({args}); }}"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def helpers_lib(tmp_path_factory):
    lib, _ = _compile(tmp_path_factory, "sg_helpers", _helper_source())
    return ctypes.CDLL(str(lib))


def _call(lib, name, dtype, *arrays):
    arrays = [np.ascontiguousarray(a, dtype=dtype) for a in np.broadcast_arrays(*arrays)]
    out = np.empty(arrays[0].shape, dtype=dtype)
    fn = getattr(lib, f"w_{name}_{dtype}")
    fn(*(a.ctypes.data_as(ctypes.c_void_p) for a in arrays), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(out.size))
    return out


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.0, -7.0, 1e-300, -1e-300, 1e300, -1e300,
                    1000.0, -1000.0, 37.5, -37.5, np.inf, -np.inf, np.nan])


def _pairs(values):
    a, b = np.meshgrid(values, values, indexing="ij")
    return a.ravel(), b.ravel()


def _int_values(dtype):
    info = np.iinfo(dtype)
    vals = [0, 1, 2, 3, 7, 100, info.max, info.max - 1, info.min, info.min + 1]
    if info.min < 0:
        vals += [-1, -2, -3, -7, -100]
    return np.array(sorted(set(v for v in vals if info.min <= v <= info.max)), dtype=dtype)


def _assert_float_equal(got, want, rtol, atol=0.0, zero_sign=False):
    want = np.asarray(want, dtype=got.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    same_inf = np.isinf(want) == np.isinf(got)
    assert same_inf.all()
    if zero_sign:
        zeros = want == 0
        np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


NUMPY_BINARY = {"sg_floor_divide": np.floor_divide, "sg_mod": np.remainder, "sg_maximum": np.maximum,
                "sg_minimum": np.minimum}
NUMPY_UNARY = {"sg_abs": np.absolute, "sg_sign": np.sign, "sg_floor": np.floor, "sg_ceil": np.ceil, "sg_rint": np.rint}


@pytest.mark.parametrize("dtype", ALL_NUMERIC)
@pytest.mark.parametrize("name", sorted(NUMPY_BINARY) + sorted(NUMPY_UNARY) + ["sg_clip"])
def test_numeric_helpers_match_numpy(helpers_lib, name, dtype):
    is_float = np.dtype(dtype).kind == "f"
    values = SPECIAL.astype(dtype) if is_float else _int_values(dtype)
    with np.errstate(all="ignore"):
        if name in NUMPY_BINARY:
            a, b = _pairs(values)
            args = (a, b)
            want = NUMPY_BINARY[name](a, b)
        elif name in NUMPY_UNARY:
            args = (values,)
            want = values.copy() if (not is_float and name in ("sg_floor", "sg_ceil", "sg_rint")) else NUMPY_UNARY[name](values)
        else:
            sub = values[:: max(1, len(values) // 8)]
            x, lo, hi = (g.ravel() for g in np.meshgrid(values, sub, sub, indexing="ij"))
            args = (x, lo, hi)
            want = np.minimum(np.maximum(x, lo), hi)  # np.clip's definition (hi wins if lo > hi)
        got = _call(helpers_lib, name, dtype, *args)
    if is_float:
        _assert_float_equal(got, want, rtol=0, zero_sign=True)
    else:
        np.testing.assert_array_equal(got, np.asarray(want).astype(dtype))


def test_integer_edge_cases(helpers_lib):
    # INT_MIN // -1 and % -1, and division by zero: no trap, NumPy's results (MIN, 0, 0, 0).
    for dt in ("int32", "int64", "int8"):
        mn = np.iinfo(dt).min
        a, b = np.array([mn, mn, 5, -5, 0], dt), np.array([-1, 0, 0, 0, 0], dt)
        np.testing.assert_array_equal(_call(helpers_lib, "sg_floor_divide", dt, a, b), [mn, 0, 0, 0, 0])
        np.testing.assert_array_equal(_call(helpers_lib, "sg_mod", dt, a, b), [0, 0, 0, 0, 0])
        np.testing.assert_array_equal(_call(helpers_lib, "sg_abs", dt, a), [mn, mn, 5, 5, 0])


def test_invert(helpers_lib):
    np.testing.assert_array_equal(_call(helpers_lib, "sg_invert", "bool", np.array([True, False])), [False, True])
    for dt in INT_DTYPES:
        v = _int_values(dt)
        np.testing.assert_array_equal(_call(helpers_lib, "sg_invert", dt, v), np.invert(v))


@pytest.mark.parametrize("dtype", ALL_NUMERIC)
def test_pow(helpers_lib, dtype):
    if np.dtype(dtype).kind == "f":
        a, b = _pairs(SPECIAL.astype(dtype))
        with np.errstate(all="ignore"):
            _assert_float_equal(_call(helpers_lib, "sg_pow", dtype, a, b), np.power(a, b), rtol=1e-6)
        return
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, int(info.max) + 1, 2000, dtype=dtype)
    b = rng.integers(0, 70, 2000).astype(dtype)  # NumPy rejects negative integer exponents
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_call(helpers_lib, "sg_pow", dtype, a, b), np.power(a, b))


def _float_cases(rng):
    wide = np.concatenate([SPECIAL, rng.normal(0, 3, 500), rng.normal(0, 300, 200), -np.exp(rng.uniform(-30, 5, 200))])
    return wide


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logistic_family(helpers_lib, dtype):
    rng = np.random.default_rng(1)
    x = _float_cases(rng).astype(dtype)
    rtol = 4e-16 * 8 if dtype == "float64" else 4e-7
    # SciPy's float32 expit flushes results below float32's normal range to 0; ours keeps
    # the subnormal value (more accurate), hence the tiny atol.
    tiny = float(np.finfo(dtype).tiny)
    with np.errstate(all="ignore"):
        _assert_float_equal(_call(helpers_lib, "sg_sigmoid", dtype, x), sps.expit(x), rtol, tiny)
        _assert_float_equal(_call(helpers_lib, "sg_softplus", dtype, x), np.logaddexp(np.zeros_like(x), x), rtol)
        a, b = _pairs(x[::9])
        _assert_float_equal(_call(helpers_lib, "sg_logaddexp", dtype, a, b), np.logaddexp(a, b), rtol)
        want = np.where(x > -np.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
        _assert_float_equal(_call(helpers_lib, "sg_log1mexp", dtype, x), want, rtol)
    # stability: the values at +-1000 are exact, not NaN/inf
    big = np.array([1000.0, -1000.0], dtype)
    np.testing.assert_array_equal(_call(helpers_lib, "sg_sigmoid", dtype, big), [1.0, 0.0])
    np.testing.assert_array_equal(_call(helpers_lib, "sg_softplus", dtype, big), [1000.0, 0.0])
    np.testing.assert_array_equal(_call(helpers_lib, "sg_logaddexp", dtype, big, big[::-1]), [1000.0, 1000.0])
    assert _call(helpers_lib, "sg_log1mexp", dtype, np.array([-1000.0], dtype))[0] == 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tanh(helpers_lib, dtype):
    rng = np.random.default_rng(4)
    with np.errstate(all="ignore"):
        x = np.concatenate([_float_cases(rng), rng.uniform(-1e-3, 1e-3, 300), [5e-324, -5e-324, 1e-200]]).astype(dtype)
        got, want = _call(helpers_lib, "sg_tanh", dtype, x), np.tanh(x)
    ulp = np.spacing(np.abs(want).astype(dtype))
    finite = np.isfinite(want)
    assert np.all(np.abs(got[finite] - want[finite]) <= 3 * ulp[finite]), np.max(np.abs(got - want)[finite] / ulp[finite])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    # the sign of zero and the limits are exact
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1000.0, -1000.0], dtype)
    got = _call(helpers_lib, "sg_tanh", dtype, special)
    np.testing.assert_array_equal(got, [0.0, -0.0, 1.0, -1.0, 1.0, -1.0])
    np.testing.assert_array_equal(np.signbit(got), np.signbit(special))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_special_functions(helpers_lib, dtype):
    rng = np.random.default_rng(2)
    f64 = dtype == "float64"
    rtol, atol = (2e-14, 1e-15) if f64 else (2e-6, 1e-7)
    u = np.concatenate([rng.uniform(-1, 1, 1000), 1 - 10.0 ** -rng.uniform(1, 15, 100), [0.0, -0.0, 1.0, -1.0, 1.5, np.nan, np.inf]])
    u = np.concatenate([u, -u]).astype(dtype)
    with np.errstate(all="ignore"):
        want = sps.erfinv(u.astype(np.float64))
        _assert_float_equal(_call(helpers_lib, "sg_erfinv", dtype, u), want, rtol * (1 if f64 else 4), atol)
        x = np.concatenate([rng.uniform(-20, 20, 1000), rng.uniform(0, 1e-3, 50), 10.0 ** rng.uniform(-5, 8, 100),
                            [0.0, -0.0, -1.0, -2.0, 1.0, 2.0, np.inf, -np.inf, np.nan, 1.4616321449683622]]).astype(dtype)
        _assert_float_equal(_call(helpers_lib, "sg_gammaln", dtype, x), sps.gammaln(x.astype(np.float64)), rtol, atol)
        want = sps.psi(x.astype(np.float64))
        _assert_float_equal(_call(helpers_lib, "sg_digamma", dtype, x), want, rtol * 50 if f64 else rtol, atol * 10)
        n = rng.integers(0, 7, x.size).astype(dtype)
        xp = x[np.isfinite(x) & (np.abs(x) < 1e6)]
        n = n[: xp.size]
        want = sps.polygamma(n.astype(np.float64), xp.astype(np.float64))
        got = _call(helpers_lib, "sg_polygamma", dtype, n, xp)
        # near negative poles values are huge and condition-limited; compare relatively
        _assert_float_equal(got, want, 1e-11 if f64 else 1e-5, atol)
        assert np.isnan(_call(helpers_lib, "sg_polygamma", dtype, np.array([1.5, -1.0], dtype), np.array([1.0, 1.0], dtype))).all()


# ============================================================================ 2. array views

VIEW_CDEF = """
typedef ptrdiff_t sg_index;
typedef struct { char *data; int ndim; int dtype; const sg_index *shape; const sg_index *strides; } sg_array;
typedef struct { int code; int node; char msg[512]; } sg_error;
int t_check(sg_error *err, int nin, const sg_array *ins, const unsigned char *bcast, int ndim, sg_index *out_shape);
int t_add(sg_error *err, const sg_array *a, const sg_array *b, const sg_array *out);
int t_sum(sg_error *err, const sg_array *a, const sg_array *out);
int t_fail(sg_error *err, int node);
"""

VIEW_SOURCE = r"""
#include "sg_runtime.h"
int t_check(sg_error *err, int nin, const sg_array *ins, const unsigned char *bcast, int ndim, sg_index *out_shape) {
    const sg_array *ptrs[8];
    static const char *const names[] = {"x", "y", NULL};
    for (int i = 0; i < nin; i++) ptrs[i] = &ins[i];
    sg_error_clear(err);
    SG_SET_NODE(err, 7);
    return sg_check_broadcast(err, nin, ptrs, bcast, nin <= 3 ? names : NULL, ndim, out_shape);
}
/* out = a + b over out's shape, a and b broadcast by length-1 dims (strides set to 0). */
int t_add(sg_error *err, const sg_array *a, const sg_array *b, const sg_array *out) {
    sg_index sa[SG_MAXDIMS], sb[SG_MAXDIMS];
    sg_iter it;
    sg_broadcast_strides(a, out->shape, sa);
    sg_broadcast_strides(b, out->shape, sb);
    char *base[3] = {a->data, b->data, out->data};
    const sg_index *st[3] = {sa, sb, out->strides};
    static const sg_index isz[3] = {8, 8, 8};
    SG_CHECK(sg_iter_init(&it, err, 3, base, st, out->ndim, out->shape));
    int runs = 0;
    if (it.size) do {
        sg_index n = it.inner_size;
        runs++;
        if (sg_iter_inner_contiguous(&it, isz)) {
            const double *x = (const double *)it.ptrs[0], *y = (const double *)it.ptrs[1];
            double *o = (double *)it.ptrs[2];
            for (sg_index k = 0; k < n; k++) o[k] = x[k] + y[k];
        } else {
            char *px = it.ptrs[0], *py = it.ptrs[1], *po = it.ptrs[2];
            for (sg_index k = 0; k < n; k++) {
                *(double *)po = *(const double *)px + *(const double *)py;
                px += it.inner_strides[0]; py += it.inner_strides[1]; po += it.inner_strides[2];
            }
        }
    } while (sg_iter_next(&it));
    return -runs; /* negative: number of inner runs (lets the test see dims were merged) */
}
/* out (zeroed, same ndim as a, length 1 on reduced axes) += a: a reduction via stride 0. */
int t_sum(sg_error *err, const sg_array *a, const sg_array *out) {
    sg_index so[SG_MAXDIMS];
    sg_iter it;
    sg_broadcast_strides(out, a->shape, so);
    char *base[2] = {a->data, out->data};
    const sg_index *st[2] = {a->strides, so};
    SG_CHECK(sg_iter_init(&it, err, 2, base, st, a->ndim, a->shape));
    if (it.size) do {
        char *pa = it.ptrs[0], *po = it.ptrs[1];
        for (sg_index k = 0; k < it.inner_size; k++) {
            *(double *)po += *(const double *)pa;
            pa += it.inner_strides[0]; po += it.inner_strides[1];
        }
    } while (sg_iter_next(&it));
    return 0;
}
int t_fail(sg_error *err, int node) {
    sg_error_clear(err);
    SG_SET_NODE(err, node);
    if (node > 0) SG_FAIL(err, "node %d failed: %s", node, "because");
    return SG_OK;
}
"""


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    import cffi

    lib_path, _ = _compile(tmp_path_factory, "sg_views", VIEW_SOURCE)
    ffi = cffi.FFI()
    ffi.cdef(VIEW_CDEF)
    return ffi, ffi.dlopen(str(lib_path))


def _view(ffi, arr, keep):
    """An sg_array for ``arr`` (its shape/strides buffers are kept alive in ``keep``)."""
    shape = ffi.new("sg_index[]", list(arr.shape) or [0])
    strides = ffi.new("sg_index[]", list(arr.strides) or [0])
    keep += [shape, strides, arr]
    v = ffi.new("sg_array *")
    v.data = ffi.cast("char *", arr.ctypes.data)
    v.ndim = arr.ndim
    v.dtype = runtime.DTYPE_CODES[arr.dtype.name]
    v.shape, v.strides = shape, strides
    return v


def _check(views, shapes, bcast):
    ffi, lib = views
    ndim = len(shapes[0])
    keep: list = []
    ins = ffi.new("sg_array[]", len(shapes))
    for i, s in enumerate(shapes):
        ins[i] = _view(ffi, np.zeros(s), keep)[0]
    err = ffi.new("sg_error *")
    out = ffi.new("sg_index[]", max(ndim, 1))
    flags = ffi.new("unsigned char[]", [int(f) for row in bcast for f in row] or [0])
    rc = lib.t_check(err, len(shapes), ins, flags, ndim, out)
    return rc, tuple(out[d] for d in range(ndim)), ffi.string(err.msg).decode(), err.node


def test_check_broadcast_ok(views):
    rc, shape, msg, _ = _check(views, [(3, 1, 5), (1, 4, 5)], [(0, 1, 0), (1, 0, 0)])
    assert (rc, shape, msg) == (0, (3, 4, 5), "")
    rc, shape, _, _ = _check(views, [(1, 1), (1, 1)], [(1, 1), (1, 1)])
    assert (rc, shape) == (0, (1, 1))
    rc, shape, _, _ = _check(views, [(0, 2), (0, 2)], [(0, 0), (0, 0)])
    assert (rc, shape) == (0, (0, 2))


def test_check_broadcast_mismatch_names_input_and_dim(views):
    rc, _, msg, node = _check(views, [(3, 5), (3, 4)], [(0, 0), (0, 0)])
    assert rc == 2 and node == 7
    assert "x has shape (3, 5) and y has shape (3, 4) (sizes 5 and 4 in dimension 1)" in msg, msg
    # a length-1 dim that is not statically broadcastable does not broadcast
    rc, _, msg, _ = _check(views, [(3, 1), (3, 4)], [(0, 0), (0, 0)])
    assert rc == 2 and "x has size 1 in dimension 1 at run time, but y has size 4" in msg
    assert "does not declare dimension 1 broadcastable" in msg
    # a statically broadcastable dim must really be 1
    rc, _, msg, _ = _check(views, [(3, 4), (3, 4)], [(0, 0), (1, 0)])
    assert rc == 2 and "y has length 3 in dimension 0" in msg and "broadcastable" in msg
    # unnamed inputs and rank mismatch
    rc, _, msg, _ = _check(views, [(2,), (2,), (2,), (3,)], [(0,)] * 4)
    assert rc == 2 and "input 0 has shape (2,) and input 3 has shape (3,)" in msg, msg


def test_fail_macro(views):
    ffi, lib = views
    err = ffi.new("sg_error *")
    assert lib.t_fail(err, 0) == 0 and err.code == 0
    assert lib.t_fail(err, 3) == 1 and err.code == 1 and err.node == 3
    assert ffi.string(err.msg) == b"node 3 failed: because"


def _add(views, a, b, out_shape):
    ffi, lib = views
    keep: list = []
    out = np.full(out_shape, np.nan)
    err = ffi.new("sg_error *")
    runs = -lib.t_add(err, _view(ffi, a, keep), _view(ffi, b, keep), _view(ffi, out, keep))
    np.testing.assert_array_equal(out, a + b)
    return runs


def test_iter_strided_broadcast_loops(views):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 8, 10))
    assert _add(views, base, base * 2, base.shape) == 1  # contiguous: merged into one run
    assert _add(views, base[:, ::2, ::-1], base[:, 1::2, :], (6, 4, 10)) == 24
    assert _add(views, base[:, :1, :], base[:1, :, :1], (6, 8, 10)) == 48  # broadcast both ways
    assert _add(views, base.T, base.transpose(2, 1, 0).copy(), (10, 8, 6)) == 80
    assert _add(views, base[:, :, 3:4], base[:, :, 3:4], (6, 8, 1)) == 1  # length-1 dim dropped, rest merged
    assert _add(views, base[:, :5, 3:4], base[:, :5, 3:4], (6, 5, 1)) == 6
    _add(views, np.array(2.0), np.array(3.0), ())  # 0-d
    assert _add(views, base[:0], base[:0], (0, 8, 10)) == 0  # empty: no run at all
    f = np.asfortranarray(base)
    assert _add(views, f, f, base.shape) == 6 * 8  # F order seen from C order: strided runs


def test_iter_reduction_by_zero_stride(views):
    ffi, lib = views
    a = np.random.default_rng(4).normal(size=(5, 7, 3))[:, ::2]
    for axes in [(1,), (0, 2), (0, 1, 2), ()]:
        keep: list = []
        out = np.zeros(tuple(1 if d in axes else n for d, n in enumerate(a.shape)))
        err = ffi.new("sg_error *")
        assert lib.t_sum(err, _view(ffi, a, keep), _view(ffi, out, keep)) == 0
        np.testing.assert_allclose(out, a.sum(axis=axes, keepdims=True), rtol=1e-14)


# ============================================================================ 3. the table

# Input dtypes each row is rendered for (all inputs the same dtype; combos the row's dtype
# rule rejects are skipped).
TABLE_DTYPES = ("float64", "float32", "int64", "int32", "int8", "uint8", "bool")

# (row, input dtype) -> why the row's C template is wrong there. The test requires this to be
# exactly the set of failures, so it documents the table's C column precisely.
KNOWN_BAD_TEMPLATES: dict = {}


def _row_inputs(spec, dtype, rng, n=400):
    """Inputs in the row's domain (plus special values for floats)."""
    nin = 2 if spec.nin == -1 else spec.nin
    kind = np.dtype(dtype).kind
    if kind == "b":
        return [rng.integers(0, 2, n).astype(bool) for _ in range(nin)]
    if kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = max(int(info.min), -10**6), min(int(info.max), 10**6)
        if spec.name == "polygamma":
            # SciPy's own polygamma computes gamma(n + 1) in float32 for small-int inputs
            # (overflowing from n = 35): keep n small, and x > 0 (poles at x <= 0 integers)
            return [rng.integers(0, 12, n).astype(dtype), rng.integers(1, 100, n).astype(dtype)]
        if spec.name == "power":
            return [rng.integers(max(lo, -50), min(hi, 50) + 1, n).astype(dtype), rng.integers(0, 40, n).astype(dtype)]
        if spec.name in ("floor", "ceil", "round"):
            big = rng.integers(int(info.min) // 2, int(info.max) // 2, n, dtype=dtype)
            return [np.concatenate([big, [info.max, info.min]]).astype(dtype)]
        xs = [rng.integers(lo, hi + 1, n).astype(dtype) for _ in range(nin)]
        if spec.name in ("floor_divide", "mod") and dtype in ("int8",):
            xs[0][:3], xs[1][:3] = info.min, [-1, 0, 0]
        if spec.name in ("floor_divide", "mod"):
            xs[1][5:10] = 0
        return xs
    name = spec.name
    if name == "polygamma":
        return [rng.integers(0, 5, n).astype(dtype), rng.uniform(0.1, 20, n).astype(dtype)]
    if name in ("arcsin", "arccos", "arctanh", "erfinv"):
        x = rng.uniform(-1, 1, n)
    elif name == "arccosh":
        x = rng.uniform(1, 50, n)
    elif name in ("log1mexp",):
        x = -rng.exponential(2, n)
    elif name.startswith("cast_") and np.dtype(name[5:]).kind in "iu":
        info = np.iinfo(name[5:])
        return [rng.uniform(max(info.min, -1e6), min(info.max, 1e6), n).astype(dtype)]
    else:
        x = rng.normal(0, 4, n)
    xs = [x.astype(dtype)] + [rng.normal(0, 4, n).astype(dtype) for _ in range(nin - 1)]
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0], dtype)
    xs = [np.concatenate([v, np.resize(special, 7)]) for v in xs]  # same specials in every input
    xs[0][-7:] = np.roll(special, 3)[:7]
    return xs


def _table_cases():
    cases = []
    for spec in SCALAR_OP_TABLE:
        op = get_scalar_op(spec.name)
        nin = 2 if spec.nin == -1 else spec.nin
        for dt in TABLE_DTYPES:
            dts = (dt,) * nin
            if spec.name == "where":
                dts = ("bool", dt, dt)
            try:
                out = op.check_dtypes(*dts)
            except TypeError:
                continue
            cases.append((spec, dts, out))
    return cases


def _table_source(cases):
    lines = ['#include "sg_runtime.h"']
    starts = {}
    for idx, (spec, dts, out) in enumerate(cases):
        op = get_scalar_op(spec.name)
        params = ", ".join(f"const {C_TYPES[d]} *x{k}" for k, d in enumerate(dts))
        expr = op.c_expr([f"x{k}[i]" for k in range(len(dts))], C_TYPES[out])
        starts[len(lines) + 1] = idx
        lines.append(f"void row_{idx}({params}, {C_TYPES[out]} *out, long n) {{")
        lines.append(f"    for (long i = 0; i < n; i++) out[i] = {expr};")
        lines.append("}")
    return "\n".join(lines) + "\n", starts


def _compare(spec, out_dtype, got, want):
    if np.dtype(out_dtype).kind == "f":
        tight = spec.name in ("add", "sub", "mul", "true_div", "neg", "abs", "sign", "square", "maximum", "minimum",
                              "clip", "where", "second", "floor", "ceil", "round", "floor_divide", "mod", "sqrt")
        rtol = (0 if tight else 1e-13) if out_dtype == "float64" else (0 if tight else 2e-6)
        atol = 0 if tight else (1e-14 if out_dtype == "float64" else 1e-6)
        try:
            _assert_float_equal(got, np.asarray(want), rtol, atol)
        except AssertionError as exc:
            return str(exc)[:300]
        return None
    want = np.asarray(want).astype(out_dtype)
    bad = np.flatnonzero(got != want)
    return None if bad.size == 0 else f"{bad.size} mismatches, e.g. C {got[bad[0]]} vs NumPy {want[bad[0]]}"


def test_table_c_templates(tmp_path_factory):
    """Every row's c_template, per input dtype, compiled in one gcc run and run against NumPy."""
    cases = _table_cases()
    assert len(cases) > len(SCALAR_OP_TABLE)
    source, starts = _table_source(cases)
    failures: dict[tuple[str, str], str] = {}
    lib_path, proc = _compile(tmp_path_factory, "sg_table", source, check=False)
    if proc.returncode != 0:
        # Identify the functions that do not compile, drop them, and compile the rest.
        src_name = "sg_table.c"
        bad_lines = {int(m.group(1)) for m in re.finditer(re.escape(src_name) + r":(\d+):\d+: error", proc.stderr)}
        bad = {starts[line - 1] for line in bad_lines if line - 1 in starts}
        assert bad, proc.stderr[:3000]
        for idx in bad:
            spec, dts, _ = cases[idx]
            failures[(spec.name, dts[-1])] = "does not compile"
        cases = [c for i, c in enumerate(cases) if i not in bad]
        source, _ = _table_source(cases)
        lib_path, _ = _compile(tmp_path_factory, "sg_table2", source)
    lib = ctypes.CDLL(str(lib_path))
    rng = np.random.default_rng(5)
    for idx, (spec, dts, out_dtype) in enumerate(cases):
        op = get_scalar_op(spec.name)
        xs = _row_inputs(spec, dts[-1], rng)
        if spec.name == "where":
            xs = [rng.integers(0, 2, xs[0].size).astype(bool)] + [xs[0], xs[0][::-1].copy()]
        xs = [np.ascontiguousarray(x, dtype=d) for x, d in zip(xs, dts)]
        got = np.empty(xs[0].size, dtype=out_dtype)
        getattr(lib, f"row_{idx}")(*(x.ctypes.data_as(ctypes.c_void_p) for x in xs),
                                    got.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(got.size))
        with np.errstate(all="ignore"):
            want = op.impl(*xs)
        problem = _compare(spec, out_dtype, got, want)
        if problem:
            failures[(spec.name, dts[-1])] = problem
    print("\n".join(f"{k}: {v[:160]!r}" for k, v in sorted(failures.items())))
    unexpected = {k: v for k, v in failures.items() if k not in KNOWN_BAD_TEMPLATES}
    fixed = sorted(set(KNOWN_BAD_TEMPLATES) - set(failures))
    assert not unexpected, f"C templates disagreeing with NumPy: {unexpected}"
    assert not fixed, f"rows now correct, remove them from KNOWN_BAD_TEMPLATES: {fixed}"
