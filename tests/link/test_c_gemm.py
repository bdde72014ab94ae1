"""symgraph's own AVX-512 matrix product (c_backend/sg_gemm.c, the extension symgraph._gemm).

The kernels are called directly through ctypes on every block edge of blocking(), on
operands in many memory layouts (C and Fortran order, reversed, zero strides, stepped
views whose gaps hold NaN so that a wrong stride shows), serially and split into parts by
par_for callbacks; C sits inside a guard frame with a row stride ldc > n and the work buffer
inside a guard band, and both guards must stay untouched; operands flush against unreadable
pages catch reads out of bounds (as a crash). Integer-valued operands give
exact references; random ones are checked against a rounding-error bound. Then the
generated modules' use of the kernel: compiled functions against NumPy, and the
``gemm=blas`` flag against the default in subprocesses.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c.ops_blas import gemm_kernel_addresses

try:
    import symgraph._gemm as _gemm
except ImportError:  # not built: the availability test says whether that is allowed
    _gemm = None

RNG = np.random.default_rng(20261122)
DTYPES = ("float64", "float32")
SENTINEL = -7.75e7  # exactly representable in both float types


def _cpu_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return {"avx512f", "avx512vl", "avx512dq", "fma"} <= set(flags)


KERNELS = _gemm.kernels() if _gemm is not None else None
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="symgraph._gemm has no kernels on this CPU")

_GEMM_T = ctypes.CFUNCTYPE(ctypes.c_int, *[ctypes.c_ssize_t] * 3, ctypes.c_void_p, ctypes.c_ssize_t,
                           ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_void_p,
                           ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_BYTES_T = ctypes.CFUNCTYPE(ctypes.c_size_t, *[ctypes.c_ssize_t] * 3)
_BODY_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_ssize_t)
_PAR_T = ctypes.CFUNCTYPE(None, ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p)

if KERNELS is not None:
    GEMM = {"float64": _GEMM_T(KERNELS[0]), "float32": _GEMM_T(KERNELS[1])}
    BYTES = {"float64": _BYTES_T(KERNELS[2]), "float32": _BYTES_T(KERNELS[3])}
    THREE_PARTS = KERNELS[4]
    BLOCK = _gemm.blocking()


class _RecordingParFor:
    """A par_for that runs the tasks in uneven parts, LAST part first (a body that reads
    state left by an earlier part, or ignores lo/hi, gives wrong results), and records
    every call so a test can assert that the split really happened."""

    def __init__(self):
        self.calls = []
        self.c_func = _PAR_T(self._run)

    def _run(self, n, grain, body, ctx):
        self.calls.append((n, grain))
        cuts = sorted({0, n, *(int(x) for x in RNG.integers(0, n + 1, size=3))})
        fn = _BODY_T(body)
        for lo, hi in reversed(list(zip(cuts[:-1], cuts[1:]))):
            if hi > lo:
                fn(ctx, lo, hi)


def _call(dtype, A, B, *, par=None, m=None, n=None, k=None, work_delta=0, null_work=False, work_offset=0):
    """Run the kernel on A @ B (views of `dtype`), C inside a guarded frame. Returns
    (rc, C, frame, C region mask). The work buffer sits in a guard band that is checked here."""
    item = np.dtype(dtype).itemsize
    m = A.shape[0] if m is None else m
    k = A.shape[1] if k is None else k
    n = B.shape[1] if n is None else n
    for s in A.strides + B.strides:
        assert s % item == 0
    # Guard rows/columns around C, wider than a tile below and to the right (so a tile
    # written whole lands in the guard, not past the array); ldc > n.
    g, wide = 3, 40
    rows, cols = max(m, 0), max(n, 0)
    frame = np.full((rows + g + wide, cols + g + wide), SENTINEL, dtype)
    frame[g:g + rows, g:g + cols] = np.nan
    C = frame[g:g + rows, g:g + cols]
    assert frame.shape[1] > cols
    inside = np.zeros(frame.shape, bool)
    inside[g:g + rows, g:g + cols] = True
    nbytes = BYTES[dtype](m, n, k) if min(m, n, k) >= 0 else 0
    nbytes = max(int(nbytes) + work_delta, 0)
    # 0xFF bytes are NaN in both types: a read of work the kernel did not write would leak
    band = np.full(nbytes + work_offset + 256, 0xFF, np.uint8)
    work = None if null_work else band.ctypes.data + work_offset
    before = frame.copy()
    rc = GEMM[dtype](m, n, k, A.ctypes.data, A.strides[0] // item, A.strides[1] // item, B.ctypes.data,
                     B.strides[0] // item, B.strides[1] // item, C.ctypes.data if C.size else frame.ctypes.data,
                     frame.strides[0] // item, work, nbytes, par)
    # nothing written outside C, nor outside the work bytes it was given
    np.testing.assert_array_equal(frame.view(f"u{item}")[~inside], before.view(f"u{item}")[~inside])
    assert (band[:work_offset] == 0xFF).all() and (band[work_offset + nbytes:] == 0xFF).all()
    return rc, C, frame, before


def _ref(A, B):
    """float64 product and its error scale |A| @ |B| (of the float64-cast operands)."""
    a, b = A.astype(np.float64), B.astype(np.float64)
    return a @ b, np.abs(a) @ np.abs(b)


def _check_close(C, A, B, dtype):
    """|C - A @ B| <= (k + 2) eps |A| @ |B|: the kernel's and the float64 reference's summation
    errors (k u each) and the final rounding to `dtype`."""
    ref, scale = _ref(A, B)
    k = A.shape[1]
    bound = (k + 2) * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny
    err = np.abs(C.astype(np.float64) - ref)
    assert np.isfinite(C).all()
    worst = np.unravel_index(np.argmax(err / bound), err.shape)
    assert (err <= bound).all(), f"error {err[worst]} > bound {bound[worst]} at {worst}"


def _ints(shape, dtype):
    """Small integers: every product and partial sum is exact in both float types (k <= 600)."""
    return RNG.integers(-8, 9, size=shape).astype(dtype)


def _layouts(base, kind):
    """`base` (2-d) in several layouts: (name, array of the same values). Gaps of stepped views
    hold NaN, so reading a wrong element poisons the result."""
    m, k = base.shape
    out = [("c", base), ("f", np.asfortranarray(base))]
    out.append(("neg", base[::-1, ::-1].copy()[::-1, ::-1]))
    big = np.full((2 * m + 1, 2 * k + 1), np.nan, base.dtype)
    big[1::2, 1::2] = base
    out.append(("step", big[1::2, 1::2]))
    big = np.full((k, 2 * m), np.nan, base.dtype)  # unit row stride, column stride 2m
    big[:, ::2] = base.T
    out.append(("fstep", big[:, ::2].T))
    big = np.full((2 * m, 2 * k), np.nan, base.dtype)
    big[::2, ::-2] = base  # negative column stride, row stride 4k
    out.append(("negstep", big[::2, ::-2]))
    if kind == "A":
        out.append(("zero-rows", np.broadcast_to(base[:1], base.shape)))
        out.append(("zero-cols", np.broadcast_to(base[:, :1], base.shape)))
    else:
        out.append(("zero-both", np.broadcast_to(base[:1, :1], base.shape)))
        out.append(("zero-cols", np.broadcast_to(base[:, -1:], base.shape)))
    for name, arr in out:
        assert "zero" in name or np.array_equal(arr, base), name
    return out


# --------------------------------------------------------------------------- availability


def test_kernels_available_on_avx512_cpu():
    """On an AVX-512 CPU the extension must give its kernels, and generated modules must get
    them: otherwise every other test here would silently test BLAS (or be skipped)."""
    if not _cpu_has_avx512():
        pytest.skip("CPU lacks avx512f/avx512vl/avx512dq/fma")
    assert _gemm is not None, "symgraph._gemm is not built (pip install -e . --no-deps)"
    assert KERNELS is not None and len(KERNELS) == 5 and all(KERNELS)
    assert gemm_kernel_addresses() == tuple(KERNELS[:4])
    b = _gemm.blocking()
    for dtype, lanes in (("float64", 8), ("float32", 16)):
        assert b[dtype]["nr"] % lanes == 0 and b[dtype]["mr"] >= 1 and b[dtype]["kc"] >= 1
    assert b["parallel_min"] > 0


# --------------------------------------------------------------------------- direct calls


def _edges(v):
    return sorted({1, v - 1, v, v + 1, 2 * v + 5} - {0})


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_block_edges_exact(dtype):
    """Every (m, n, k) around MR, NR and KC, integer operands: the result is exact."""
    bl = BLOCK[dtype]
    ks = [1, bl["kc"] - 1, bl["kc"], bl["kc"] + 1, 2 * bl["kc"] + 3]
    for m in _edges(bl["mr"]):
        for n in _edges(bl["nr"]):
            for k in ks:
                A, B = _ints((m, k), dtype), _ints((k, n), dtype)
                rc, C, _, _ = _call(dtype, A, B, work_offset=int(RNG.integers(0, 64)))
                assert rc == 0
                np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64), err_msg=str((m, n, k)))


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts(dtype):
    """Every layout of A against every layout of B (exact, integer operands), on tiles with
    full and partial panels and two k slices."""
    bl = BLOCK[dtype]
    for m, n, k in [(bl["mr"] + 1, bl["nr"] + 3, bl["kc"] + 2), (2 * bl["mr"], 2 * bl["nr"], 7)]:
        for na, A in _layouts(_ints((m, k), dtype), "A"):
            for nb, B in _layouts(_ints((k, n), dtype), "B"):
                rc, C, _, _ = _call(dtype, A, B)
                assert rc == 0
                np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64), err_msg=f"{na} @ {nb}")


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_split_into_parts(dtype):
    """Products above parallel_min, split by row panels (in groups), by column panels, and
    over several k slices, with three_parts and with a recording par_for that runs uneven
    parts last first; random operands against the rounding bound."""
    bl, pmin = BLOCK[dtype], BLOCK["parallel_min"]
    mr, nr, kc = bl["mr"], bl["nr"], bl["kc"]
    cases = [
        (30 * mr - 5, nr + 1, 64),  # many row panels: split by rows, groups of panels
        (mr + 1, 9 * nr - 3, 2 * kc),  # more column panels than row panels: split by columns
        (5 * mr + 1, 2 * nr + 3, 2 * kc + 3),  # first slices split, the last one serial
    ]
    for m, n, k in cases:
        assert m * n * min(k, kc) >= pmin
        for _, A in _layouts(RNG.standard_normal((m, k)).astype(dtype), "A")[:4]:
            B = RNG.standard_normal((k, n)).astype(dtype)
            rec = _RecordingParFor()
            for par in (THREE_PARTS, ctypes.cast(rec.c_func, ctypes.c_void_p).value):
                rc, C, _, _ = _call(dtype, A, B, par=par)
                assert rc == 0
                _check_close(C, A, B, dtype)
            assert rec.calls and all(g >= 1 for _, g in rec.calls)
    # Below parallel_min the par_for is not used at all.
    rec = _RecordingParFor()
    A, B = _ints((mr, 5), dtype), _ints((5, nr), dtype)
    rc, C, _, _ = _call(dtype, A, B, par=ctypes.cast(rec.c_func, ctypes.c_void_p).value)
    assert rc == 0 and not rec.calls
    np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64))


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_and_column_chunks(dtype):
    """Products crossing MB rows and NB columns (cheap: small k, and one with two k slices),
    serial and in three parts (each above parallel_min); exact on integer operands."""
    bl = BLOCK[dtype]
    mr, nr, kc, mb, nb = (bl[key] for key in ("mr", "nr", "kc", "mb", "nb"))
    cases = [(mb + mr + 1, 5, 30), (mr + 1, nb + 7, 12), (mb + 5, nr + 1, kc + 2)]
    for m, n, k in cases:
        assert m * n * min(k, kc) >= BLOCK["parallel_min"]
        A, B = _ints((m, k), dtype), np.asfortranarray(_ints((k, n), dtype))
        for par in (None, THREE_PARTS):
            rc, C, _, _ = _call(dtype, A, B, par=par)
            assert rc == 0
            np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64), err_msg=str((m, n, k)))


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_against_bound(dtype):
    """Random normal operands with mixed magnitudes, checked against the error bound."""
    bl = BLOCK[dtype]
    for m, n, k in [(bl["mr"] + 1, bl["nr"] - 1, bl["kc"] + 1), (2 * bl["mr"] + 5, 2 * bl["nr"] + 5, 2 * bl["kc"] + 3)]:
        A = (RNG.standard_normal((m, k)) * np.exp(RNG.uniform(-6, 6, (m, 1)))).astype(dtype)
        B = (RNG.standard_normal((k, n)) * np.exp(RNG.uniform(-6, 6, (1, n)))).astype(dtype)
        rc, C, _, _ = _call(dtype, A, B)
        assert rc == 0
        _check_close(C, A, B, dtype)


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_return_codes_and_empty(dtype):
    """-1 and C untouched for refused calls; k == 0 zero-fills; m == 0 / n == 0 write nothing."""
    A, B = _ints((7, 300), dtype), _ints((300, 9), dtype)
    for kw in (dict(work_delta=-1), dict(null_work=True), dict(m=-1), dict(n=-2), dict(k=-1)):
        rc, C, frame, before = _call(dtype, A, B, **kw)
        assert rc == -1, kw
        np.testing.assert_array_equal(frame.view(f"u{frame.itemsize}"), before.view(f"u{frame.itemsize}"))
    # exactly enough work is enough, also with a work pointer not aligned to anything
    for off in (1, 8, 63):
        rc, C, _, _ = _call(dtype, A, B, work_offset=off)
        assert rc == 0
        np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64))
    # k == 0: zeros (also without work)
    rc, C, _, _ = _call(dtype, A[:, :0], B[:0], null_work=True)
    assert rc == 0 and (C == 0).all() and not np.signbit(C).any()
    for m, n in [(0, 9), (7, 0), (0, 0)]:
        rc, C, frame, before = _call(dtype, A[:m], B[:, :n], null_work=True)
        assert rc == 0
        np.testing.assert_array_equal(frame.view(f"u{frame.itemsize}"), before.view(f"u{frame.itemsize}"))


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_work_bytes(dtype):
    """0 for empty products; never decreasing in any size; bounded by the chunk sizes."""
    bl, f = BLOCK[dtype], BYTES[dtype]
    for dims in [(0, 5, 5), (5, 0, 5), (5, 5, 0), (0, 0, 0)]:
        assert f(*dims) == 0
    sizes = [1, 2, bl["mr"], bl["nr"] + 1, bl["kc"], bl["kc"] + 1, bl["mb"] + 1, bl["nb"] + 1]
    for m in sizes:
        for n in sizes:
            for k in sizes[::2]:
                w = f(m, n, k)
                assert w > 0 and w <= f(m + 1, n, k) and w <= f(m, n + 1, k) and w <= f(m, n, k + 1)
    big = f(10**12, 10**12, 10**12)
    assert big == f(bl["mb"], bl["nb"], bl["kc"]) and big < 64 << 20


def _fenced(base, at_end):
    """A copy of `base` (C-contiguous) in memory with an unreadable page right after its
    last byte (at_end) or right before its first: a read out of bounds is a crash."""
    page = mmap.PAGESIZE
    size = -(-base.nbytes // page) * page
    mem = mmap.mmap(-1, size + 2 * page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    libc = ctypes.CDLL(None)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for p in (addr, addr + page + size):
        assert libc.mprotect(p, page, 0) == 0  # PROT_NONE
    start = page + (size - base.nbytes if at_end else 0)
    arr = np.frombuffer(mem, base.dtype, base.size, start).reshape(base.shape)
    arr[...] = base
    return arr, mem


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_read_outside_operands(dtype):
    """Operands flush against an unreadable page (after the end or before the start) in the
    layouts the packing copies with memcpy (A with unit row stride, B with unit column stride)
    and with negative strides, with partial last panels: any read past them crashes."""
    bl = BLOCK[dtype]
    m, n, k = 2 * bl["mr"] + 5, 2 * bl["nr"] + 3, bl["kc"] + 3
    a0, b0 = _ints((m, k), dtype), _ints((k, n), dtype)
    keep = []
    for at_end in (True, False):
        fa, ma = _fenced(np.ascontiguousarray(a0.T), at_end)  # A = fa.T: row stride 1
        fb, mb = _fenced(b0, at_end)
        fr, mr_ = _fenced(a0[::-1, ::-1].copy(), at_end)  # reversed view of it: negative strides
        keep += [ma, mb, mr_]
        for A, B in [(fa.T, fb), (fr[::-1, ::-1], fb), (fa.T, fb[:, :-1]), (fa.T[:-1], fb)]:
            rc, C, _, _ = _call(dtype, A, B)
            assert rc == 0
            np.testing.assert_array_equal(C, A.astype(np.float64) @ B.astype(np.float64))


def _exact_ref(A, B):
    """IEEE reference without BLAS (its NaN/inf propagation is what NumPy's elementwise
    arithmetic gives), in float64."""
    with np.errstate(all="ignore"):
        return (A.astype(np.float64)[:, :, None] * B.astype(np.float64)[None, :, :]).sum(axis=1)


def _assert_specials(C, ref):
    np.testing.assert_array_equal(np.isnan(C), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(C), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(C), np.isneginf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(C[fin], ref[fin])


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf(dtype):
    """NaN in A's row i poisons exactly row i; inf * 0 is NaN; infs in the last real row of A
    and the last real column of B (partial panels, whose zero padding makes inf * 0 = NaN in
    the thrown-away lanes) give inf/NaN exactly where NumPy does; for k in one and in two
    k slices."""
    bl = BLOCK[dtype]
    mr, nr, kc = bl["mr"], bl["nr"], bl["kc"]
    for m, n, k in [(2 * mr + 5, 2 * nr + 3, 9), (mr + 1, nr + 1, kc + 3)]:
        assert m % mr and n % nr
        for i in (0, mr - 1, m - 1):
            A, B = _ints((m, k), dtype), _ints((k, n), dtype)
            A[i, k // 2] = np.nan
            rc, C, _, _ = _call(dtype, A, B)
            assert rc == 0
            assert np.isnan(C[i]).all() and not np.isnan(np.delete(C, i, axis=0)).any()
            _assert_specials(C, _exact_ref(A, B))
        A, B = _ints((m, k), dtype), _ints((k, n), dtype)
        A[m - 1, k - 1] = np.inf  # last real row of A, last k
        A[1, 0] = -np.inf
        B[0, :] = 0  # -inf * 0: row 1 all NaN
        B[k - 1, n // 2] = 0  # inf * 0: one NaN in the last row
        B[k - 1, n - 1] = 5
        B[k // 2, n - 1] = np.inf  # last real column of B
        B[k // 2, 0] = -np.inf
        A[:, k // 2] = np.where(np.arange(m) % 3 == 0, 0, A[:, k // 2])  # some inf * 0 in that column
        A[m - 1, k // 2] = 2
        for par in (None, THREE_PARTS):
            rc, C, _, _ = _call(dtype, A, B, par=par)
            assert rc == 0
            ref = _exact_ref(A, B)
            assert np.isinf(ref).any() and np.isnan(ref).any() and np.isfinite(ref).any()
            _assert_specials(C, ref)


# --------------------------------------------------------------------------- compiled functions


def _compiled(ins, outs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = sg.function(ins, outs, mode=sg.Mode(linker="c"))
    assert set(f.implementations()) == {"c"}, list(zip(map(str, f.maker.fgraph.toposort()), f.implementations()))
    return f


def _close(got, A, B, dtype):
    """got ~ A @ B (any batch dims) within the rounding bound of the output dtype."""
    a, b = np.asarray(A, np.float64), np.asarray(B, np.float64)
    ref, scale = a @ b, np.abs(a) @ np.abs(b)
    assert got.dtype == np.dtype(dtype) and got.shape == ref.shape
    bound = (a.shape[-1] + 2) * np.finfo(dtype).eps * scale
    assert (np.abs(got - ref) <= bound).all(), np.max(np.abs(got - ref) / np.maximum(bound, 1e-300))


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_products(dtype):
    """dot, @ and matmul (2-d and batched 3-d) through generated C, on views of every kind and
    on sizes above parallel_min (the module's thread pool) and with uneven panel counts."""
    a, b = st.matrix("a", dtype=dtype), st.matrix("b", dtype=dtype)
    x, y = st.tensor3("x", dtype=dtype), st.tensor3("y", dtype=dtype)
    f = _compiled([a, b], [st.dot(a, b), a @ b, st.dot(b.T, a.T).T, st.matmul(a[::2], b[:, ::-1])])
    g = _compiled([x, y, b], [st.matmul(x, y), st.matmul(x, b)])
    for m, k, n in [(300, 200, 170), (37, 29, 45), (13, 300, 65), (2, 3, 2)]:
        for A in (RNG.standard_normal((m, k)).astype(dtype), RNG.standard_normal((k, m)).astype(dtype).T,
                  RNG.standard_normal((2 * m, k)).astype(dtype)[::-2]):
            row = RNG.standard_normal((1, n)).astype(dtype)
            for B in (RNG.standard_normal((k, n)).astype(dtype), np.broadcast_to(row, (k, n))):
                d1, d2, d3, d4 = f(A, B)
                _close(d1, A, B, dtype)
                _close(d2, A, B, dtype)
                _close(d3, A, B, dtype)
                _close(d4, A[::2], B[:, ::-1], dtype)
    for nb, m, k, n in [(3, 25, 40, 19), (2, 150, 130, 120)]:
        X = RNG.standard_normal((nb, m, k)).astype(dtype)
        Y = RNG.standard_normal((nb, n, k)).astype(dtype).transpose(0, 2, 1)
        B = RNG.standard_normal((k, n)).astype(dtype)
        r1, r2 = g(X, Y, B)
        _close(r1, X, Y, dtype)
        _close(r2, X, B, dtype)


@needs_kernels
def test_compiled_mixed_dtypes():
    """float32 @ float64 (either side): the operand is converted, then the float64 kernel runs."""
    a32, b64 = st.matrix("a", dtype="float32"), st.matrix("b", dtype="float64")
    f = _compiled([a32, b64], [st.dot(a32, b64), st.matmul(b64.T, a32.T)])
    for m, k, n in [(37, 29, 45), (130, 70, 90)]:
        A = RNG.standard_normal((m, k)).astype(np.float32)[:, ::-1]
        B = np.asfortranarray(RNG.standard_normal((k, n)))
        r1, r2 = f(A, B)
        _close(r1, A, B, "float64")
        _close(r2, B.T, A.T, "float64")


_SCRIPT = r"""
import json, sys
import numpy as np
import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c.ops_blas import gemm_kernel_addresses

out = {}
for dtype in ("float64", "float32"):
    a, b = st.matrix("a", dtype=dtype), st.matrix("b", dtype=dtype)
    f = sg.function([a, b], [st.dot(a, b), st.matmul(a[::-1], b[:, ::-1])], mode=sg.Mode(linker="c"))
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((130, 90)).astype(dtype), rng.standard_normal((90, 75)).astype(dtype)
    r1, r2 = f(A, B.T.copy().T)
    np.save(sys.argv[1] + "_" + dtype + "_1.npy", r1)
    np.save(sys.argv[1] + "_" + dtype + "_2.npy", r2)
    out[dtype] = f.implementations()
out["own"] = gemm_kernel_addresses() is not None
print(json.dumps(out))
"""


@needs_kernels
def test_blas_flag_subprocess(tmp_path):
    """SYMGRAPH_FLAGS=gemm=blas (read at module load) calls BLAS; the default our kernel: the
    same results to rounding, and gemm_kernel_addresses() None only in the BLAS process."""
    script = tmp_path / "prog.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cache"))
    env.pop("SYMGRAPH_FLAGS", None)
    res = {}
    for name, flags in (("own", None), ("blas", "gemm=blas")):
        e = dict(env, SYMGRAPH_FLAGS=flags) if flags else env
        proc = subprocess.run([sys.executable, str(script), str(tmp_path / name)], env=e, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        res[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["own"]["own"] is True and res["blas"]["own"] is False
    for dtype in DTYPES:
        rng = np.random.default_rng(7)
        assert set(res["own"][dtype]) == {"c"} and set(res["blas"][dtype]) == {"c"}
        A, B = rng.standard_normal((130, 90)).astype(dtype), rng.standard_normal((90, 75)).astype(dtype)
        for i, (x, y) in enumerate([(A, B), (A[::-1], B[:, ::-1])], 1):
            own, blas = (np.load(tmp_path / f"{name}_{dtype}_{i}.npy") for name in ("own", "blas"))
            _close(own, x, y, dtype)
            _close(blas, x, y, dtype)
