"""C implementations of creation, split, repeat, cumulative and triangle ops
(symgraph/link/c/ops_creation.py).

Each graph is compiled once with the 'c' linker and once with the Python linker and called
on many inputs: contiguous, transposed, negatively strided, broadcast, empty, NaN/inf, and
sizes or counts the op rejects. Values and dtypes must agree (exactly where NumPy's order of
operations is reproduced), the nodes under test must run in C, and bad inputs must raise the
same exception class from C as from Python, never crash.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import grad
from symgraph.tensor.creation import ARange, Eye, SumToShape
from symgraph.tensor.join import Repeat, RepeatSum, Split
from symgraph.tensor.linalg import Tri, tril, triu
from symgraph.tensor.special import CumOp
from symgraph.testing import array_layouts, assert_same_error, assert_same_outputs, compile_c_and_py, random_array

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    # A node the generator accepted but gcc rejected is a bug: fail instead of falling back.
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

RNG = np.random.default_rng(4321)
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------- helpers


def _both(inputs, outputs, covered):
    """(python function, C function); every node of a ``covered`` class runs in C."""
    covered = covered if isinstance(covered, tuple) else (covered,)
    f_c, f_py = compile_c_and_py(inputs, outputs, covered, exact=True)
    return f_py, f_c


def _same(f_py, f_c, *args, exact=False, rtol=1e-12):
    """``assert_same_outputs`` with the absolute tolerance equal to the relative one."""
    return assert_same_outputs(f_py, f_c, *args, rtol=rtol, atol=rtol, exact=exact)


def _data(shape, dtype="float64"):
    return random_array(RNG, shape, dtype)


def _with_nan(a):
    a = a.copy()
    if a.size and a.dtype.kind == "f":
        a.flat[:: max(1, a.size // 3)] = np.nan
        a.flat[-1] = np.inf
    return a


# --------------------------------------------------------------------------- ARange


def test_arange_int64_length_rule_and_errors():
    a, b, c = st.lscalar("a"), st.lscalar("b"), st.lscalar("c")
    f_py, f_c = _both([a, b, c], [ARange("int64")(a, b, c)], ARange)
    cases = [(0, 5, 1), (5, 0, -1), (5, 5, 1), (0, 10, 3), (10, 0, -3), (-7, 7, 2), (3, 4, 10), (4, 3, 1),
             # the length is ceil of the rounded double quotient, as NumPy: 2 here, not 3
             (0, 2**62 + 1, 2**61), (I64_MIN, I64_MAX, 2**62), (I64_MAX, I64_MIN, -(2**62)),
             (I64_MAX - 1, I64_MAX, 5), (0, 1, I64_MAX), (I64_MAX, I64_MIN, I64_MIN), (I64_MIN, 0, 2**61 + 3),
             # a quotient just above a rounding tie: 3 elements (the remainder breaks the tie)
             (-2000, 2**63 - 975, 2**62), (2**63 - 975, -2000, -(2**62)),
             (-1936493515208101123, 0, 968246757604050454), (I64_MIN, 9497547335010603052 + I64_MIN, 3165849111670200783),
             (I64_MAX, I64_MAX - 13051156080207515300, -1864450868601073496),
             # a length of exactly 2**63 wraps to an empty array in NumPy
             (0, I64_MAX, 1), (I64_MIN, 0, 1), (I64_MIN, I64_MAX, 2)]
    for va, vb, vc in cases:
        got = _same(f_py, f_c, np.int64(va), np.int64(vb), np.int64(vc))
        assert len(got[0]) == len(np.arange(va, vb, vc))
    assert_same_error(f_py, f_c, np.int64(0), np.int64(5), np.int64(0), match="step must not be zero")
    assert_same_error(f_py, f_c, np.int64(0), np.int64(2**62), np.int64(1), match="too big")
    assert_same_error(f_py, f_c, np.int64(I64_MIN), np.int64(I64_MAX), np.int64(1), match="Maximum allowed size")


def test_arange_small_ints_and_unsupported_cast_runs_in_python():
    a, b, c = st.bscalar("a"), st.bscalar("b"), st.bscalar("c")
    u = st.tensor(dtype="uint8", shape=(), name="u")
    f_py, f_c = _both([a, b, c, u], [ARange("int8")(a, b, c), ARange("int16")(a, b, u)], ARange)
    for va, vb, vc, vu in [(-128, 127, 1, 1), (-128, 127, 127, 255), (5, -3, -2, 2), (0, 0, -128, 0),
                           (127, -128, -128, 3)]:
        if vu == 0:
            assert_same_error(f_py, f_c, np.int8(va), np.int8(vb), np.int8(vc), np.uint8(vu), match="step")
        else:
            _same(f_py, f_c, np.int8(va), np.int8(vb), np.int8(vc), np.uint8(vu))
    # int8 cannot hold an int16 start: that node keeps NumPy's OverflowError in Python
    n = st.wscalar("n")
    f = sg.function([n], ARange("int8")(n, 300, 1), mode=sg.Mode(linker="c"))
    assert f.implementations()[-1] == "py"
    with pytest.raises(OverflowError):
        f(np.int16(200))


def test_arange_float_fill_rule():
    a, b, c = st.dscalar("a"), st.dscalar("b"), st.dscalar("c")
    outs = [ARange("float64")(a, b, c), ARange("float32")(a, b, c)]
    f_py, f_c = _both([a, b, c], outs, ARange)
    cases = [(0.1, 1e6, 0.1), (0.0, 1.0, 0.1), (1.0, -1.0, -0.3), (2.5, 2.5, 1.0), (0, 1, 3.0),
             (-1e300, 1e300, 1e299), (1e-300, 3e-300, 1e-301), (3.0, 2.0, 0.5), (0.0, 4.0, -1.0),
             (1e38, 4e38, 1e38), (-1e38, 1e38, 3e37), (5.0, 1.0, -0.7)]
    for va, vb, vc in cases:
        # exact: NumPy's values are start, start + step, then start + i * delta in the dtype
        _same(f_py, f_c, np.float64(va), np.float64(vb), np.float64(vc), exact=True)
    assert_same_error(f_py, f_c, np.float64(0), np.float64(1), np.float64(0), match="step must not be zero")
    assert_same_error(f_py, f_c, np.float64(0), np.float64(np.nan), np.float64(1), match="cannot compute length")
    assert_same_error(f_py, f_c, np.float64(0), np.float64(np.inf), np.float64(1), match="Maximum allowed size")
    assert_same_error(f_py, f_c, np.float64(0), np.float64(1), np.float64(np.nan), match="cannot compute length")
    assert_same_error(f_py, f_c, np.float64(0), np.float64(-np.inf), np.float64(1), match="Maximum allowed size")
    assert_same_error(f_py, f_c, np.float64(np.inf), np.float64(0), np.float64(-1), match="Maximum allowed size")
    assert_same_error(f_py, f_c, np.float64(0), np.float64(2e18), np.float64(1), match="too big")
    _same(f_py, f_c, np.float64(0), np.float64(2.0**63), np.float64(1))
    assert_same_error(f_py, f_c, np.float64(0), np.float64(2.0**64), np.float64(1), match="Maximum allowed size")


def test_arange_mixed_input_dtypes():
    a, b = st.lscalar("a"), st.fscalar("b")
    c, d = st.iscalar("c"), st.lscalar("d")
    outs = [ARange("float32")(a, b, c), ARange("float64")(a, d, c), ARange("float64")(b, a, c),
            ARange("float32")(a, d, b)]
    f_py, f_c = _both([a, b, c, d], outs, ARange)
    cases = [(0, 10.5, 3, 7), (2**53 + 1, 2**53 + 2**31, 2**29, 2**53 + 2**31 + 5), (-5, -0.5, 1, 5), (7, 1.25, -2, -9),
             (2**62, 2**62 + 10.0, 3, 2**62 + 10), (-(2**62), -(2**62) + 2**40, 2**31 - 1, -(2**62) + 2**35), (-(2**62), 1.0, -1, 2**62)]
    for va, vb, vc, vd in cases:
        try:
            with np.errstate(all="ignore"):
                [np.arange(*x) for x in [(va, vb, vc), (va, vd, vc), (vb, va, vc), (va, vd, vb)]]
        except ValueError:
            assert_same_error(f_py, f_c, np.int64(va), np.float32(vb), np.int32(vc), np.int64(vd))
            continue
        _same(f_py, f_c, np.int64(va), np.float32(vb), np.int32(vc), np.int64(vd), exact=True)


# --------------------------------------------------------------------------- Eye


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_eye(dtype):
    n, m = st.lscalar("n"), st.iscalar("m")
    k = st.tensor(dtype="int8", shape=(), name="k")
    f_py, f_c = _both([n, m, k], [Eye(dtype)(n, m, k)], Eye)
    for vn, vm in [(0, 0), (1, 1), (3, 3), (4, 2), (2, 5), (0, 3), (3, 0)]:
        for vk in [-128, -5, -3, -1, 0, 1, 2, 4, 127]:
            _same(f_py, f_c, np.int64(vn), np.int32(vm), np.int8(vk))
    assert_same_error(f_py, f_c, np.int64(-1), np.int32(2), np.int8(0), match="negative dimension")
    assert_same_error(f_py, f_c, np.int64(2), np.int32(-3), np.int8(0), match="negative dimension")
    assert_same_error(f_py, f_c, np.int64(2**40), np.int32(2**30), np.int8(0), match="too big")
    if dtype == "bool":  # 2**62 bytes would fit
        _same(f_py, f_c, np.int64(2**62), np.int32(0), np.int8(0))
    else:
        assert_same_error(f_py, f_c, np.int64(2**62), np.int32(0), np.int8(0), match="too big")


def test_eye_extreme_offsets():
    n, k = st.lscalar("n"), st.lscalar("k")
    f_py, f_c = _both([n, k], [st.eye(n, n, k)], Eye)
    for vk in [I64_MIN, I64_MIN + 1, -(2**62), 2**62, I64_MAX, -3, 2]:
        _same(f_py, f_c, np.int64(3), np.int64(vk))


# --------------------------------------------------------------------------- SumToShape


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "uint8", "bool"])
def test_sum_to_shape(dtype):
    g = st.tensor(dtype=dtype, shape=(None, None, None), name="g")
    a, b, c = st.lscalar("a"), st.iscalar("b"), st.lscalar("c")
    outs = [SumToShape()(g, a, b), SumToShape()(g, b), SumToShape()(g, c, a, b)]
    f_py, f_c = _both([g, a, b, c], outs, SumToShape)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    cases = [((2, 3, 3), 3, 3, 2), ((2, 1, 1), 1, 1, 1), ((4, 5, 1), 1, 1, 4), ((2, 0, 0), 1, 0, 1),
             ((3, 1, 7), 1, 7, 1), ((3, 4, 5), 4, 1, 3), ((3, 4, 5), 1, 5, 1), ((0, 4, 5), 1, 5, 1)]
    for shape, va, vb, vc in cases:
        for x in array_layouts(_data(shape, dtype)):
            _same(f_py, f_c, x, np.int64(va), np.int32(vb), np.int64(vc), rtol=rtol)
    one = (np.int64(1), np.int32(1), np.int64(1))
    _same(f_py, f_c, np.broadcast_to(_data((1, 1, 1), dtype), (3, 4, 1)), *one, rtol=rtol)
    if dtype.startswith("float"):
        _same(f_py, f_c, _with_nan(_data((3, 3, 3), dtype)), np.int64(1), np.int32(3), np.int64(3), rtol=rtol)
    if dtype == "int8":  # sums wrap in the input's dtype
        _same(f_py, f_c, np.full((3, 3, 3), 100, "int8"), np.int64(3), np.int32(3), np.int64(1))
    assert_same_error(f_py, f_c, _data((2, 3, 3), dtype), np.int64(2), np.int32(3), np.int64(2), match="sum_to_shape")
    assert_same_error(f_py, f_c, _data((2, 3, 3), dtype), np.int64(3), np.int32(-1), np.int64(2), match="sum_to_shape")
    assert_same_error(f_py, f_c, _data((2, 3, 3), dtype), np.int64(3), np.int32(3), np.int64(0), match="sum_to_shape")


def test_sum_to_shape_long_float32_runs():
    g = st.tensor(dtype="float32", shape=(None, None), name="g")
    a = st.lscalar("a")
    f_py, f_c = _both([g, a], [SumToShape()(g, a, 1), SumToShape()(g, a)], SumToShape)
    for gv in [RNG.standard_normal((3, 100003)).astype("float32") + 0.5, _data((1, 1000), "float32"),
               _data((5, 7), "float32")]:
        for va in (1, gv.shape[0]):
            args = (gv, np.int64(va))
            try:
                f_py(*args)
            except ValueError:
                assert_same_error(f_py, f_c, *args, match="sum_to_shape")
                continue
            _same(f_py, f_c, *args, rtol=1e-5)  # the CHECK mode's float32 tolerance


# --------------------------------------------------------------------------- Split


@pytest.mark.parametrize("dtype", ["float64", "int16", "bool"])
def test_split_views(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None, None), name="x")
    s = st.lvector("s")
    t = st.tensor(dtype="uint8", shape=(None,), name="t")
    p0 = st.split_sizes(x, s, n_splits=3, axis=1)
    p1 = st.split_sizes(x, t, n_splits=2, axis=2)
    f_py, f_c = _both([x, s, t], [*p0, *p1, p0[1] * 2 if dtype != "bool" else ~p0[1]], Split)
    base = _data((2, 6, 4), dtype)
    for xv in array_layouts(base):
        for sv in [(1, 2, 3), (0, 6, 0), (6, 0, 0), (2, 2, 2)]:
            _same(f_py, f_c, xv, np.array(sv, "int64"), np.array([3, 1], "uint8"))
    _same(f_py, f_c, _data((0, 3, 0), dtype), np.array([1, 1, 1]), np.array([0, 0], "uint8"))
    for bad in [(1, 2, 2), (-1, 4, 3), (7, -1, 0), (2**62, 2**62, 2**62 + 6)]:
        assert_same_error(f_py, f_c, base, np.array(bad, "int64"), np.array([3, 1], "uint8"), match="split")
    assert_same_error(f_py, f_c, base, np.array([1, 2, 3]), np.array([3, 2], "uint8"), match="split")
    msg = r"split sizes \(1, -1, 6\) must be non-negative and sum to 6, the size of dimension 1 .*\(2, 6, 4\)"
    assert_same_error(f_py, f_c, base, np.array([1, -1, 6]), np.array([3, 1], "uint8"), match=msg)
    with pytest.raises(ValueError):  # the number of sizes (checked by a SpecifyShape)
        f_c(base, np.array([1, 5]), np.array([3, 1], "uint8"))


# --------------------------------------------------------------------------- Repeat, RepeatSum


@pytest.mark.parametrize("dtype", ["float64", "int32", "int16", "bool"])
def test_repeat(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None, None), name="x")
    r = st.lvector("r")
    n = st.lscalar("n")
    u = st.tensor(dtype="uint8", shape=(None,), name="u")
    outs = [Repeat(0)(x, r), Repeat(1)(x, n), Repeat(2)(x, u), Repeat(2)(x, n)]
    f_py, f_c = _both([x, r, n, u], outs, Repeat)
    base = _data((3, 2, 4), dtype)
    for xv in array_layouts(base) + [np.broadcast_to(_data((3, 1, 4), dtype), (3, 2, 4))]:
        for rv, nv in [((0, 2, 1), 3), ((1, 1, 1), 0), ((0, 0, 0), 1), ((5, 0, 2), 2)]:
            _same(f_py, f_c, xv, np.array(rv), np.int64(nv), np.array([1, 0, 3, 2], "uint8"))
    # empty axes: a negative scalar count repeats nothing, as in NumPy
    _same(f_py, f_c, _data((0, 0, 0), dtype), np.zeros(0, "int64"), np.int64(-1), np.zeros(0, "uint8"))
    good = (np.array([1, 1, 1]), np.int64(1), np.array([1, 1, 1, 1], "uint8"))
    assert_same_error(f_py, f_c, base, np.array([1, -1, 1]), *good[1:], match="non-negative")
    assert_same_error(f_py, f_c, base, np.array([1, 1]), *good[1:], match="repeat counts")
    assert_same_error(f_py, f_c, base, good[0], np.int64(-2), good[2], match="non-negative")
    assert_same_error(f_py, f_c, base, good[0], good[1], np.array([1, 1, 1], "uint8"), match="repeat counts")
    assert_same_error(f_py, f_c, base, good[0], np.int64(2**61), good[2], match="too big")


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "bool"])
def test_repeat_sum(dtype):
    g = st.tensor(dtype=dtype, shape=(None, None), name="g")
    r, c = st.lvector("r"), st.bscalar("c")
    n = st.lscalar("n")
    outs = [RepeatSum(1)(g, r, n), RepeatSum(0)(g, c, n)]
    f_py, f_c = _both([g, r, c, n], outs, RepeatSum)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    for gv in array_layouts(_data((6, 6), dtype)):
        for rv in [(1, 2, 3), (0, 6, 0), (3, 0, 3)]:
            _same(f_py, f_c, gv, np.array(rv), np.int8(2), np.int64(3), rtol=rtol)
    _same(f_py, f_c, _data((0, 0), dtype), np.zeros(0, "int64"), np.int8(5), np.int64(0))
    if dtype.startswith("float"):
        _same(f_py, f_c, _with_nan(_data((6, 6), dtype)), np.array([2, 2, 2]), np.int8(2), np.int64(3), rtol=rtol)
    gv = _data((6, 6), dtype)
    assert_same_error(f_py, f_c, gv, np.array([1, 2, 2]), np.int8(2), np.int64(3), match="add up to")
    assert_same_error(f_py, f_c, gv, np.array([7, -1, 0]), np.int8(2), np.int64(3), match="non-negative")
    assert_same_error(f_py, f_c, gv, np.array([1, 2, 3]), np.int8(-2), np.int64(3), match="non-negative")
    assert_same_error(f_py, f_c, gv, np.array([1, 2, 3]), np.int8(2), np.int64(-3))
    assert_same_error(f_py, f_c, gv, np.array([6, 0]), np.int8(2), np.int64(3), match="repeat counts")
    # a zero count over a huge axis: the counts add up, the output cannot exist (Python
    # runs out of memory for its temporary masks first, so only C is called)
    _, f2_c = _both([g, c, n], [RepeatSum(0)(g, c, n)], RepeatSum)
    with pytest.raises(ValueError, match="too big"):
        f2_c(_data((0, 6), dtype), np.int8(0), np.int64(2**62))
    if np.dtype(dtype).itemsize == 1:
        assert f2_c(_data((0, 0), dtype), np.int8(0), np.int64(2**62))[0].shape == (2**62, 0)
    else:
        with pytest.raises(ValueError, match="too big"):  # NumPy refuses (2**62, 0) float arrays too
            f2_c(_data((0, 0), dtype), np.int8(0), np.int64(2**62))


def test_repeat_sum_3d_from_gradient():
    x = st.tensor3("x")
    r = st.lvector("r")
    w = st.tensor3("w")
    gx = grad((st.repeat(x, r, axis=1) * w).sum(), x)
    f_py, f_c = _both([x, r, w], [gx], RepeatSum)
    _same(f_py, f_c, _data((2, 3, 4)), np.array([2, 0, 3]), _data((2, 5, 4)))
    _same(f_py, f_c, _data((2, 3, 4)), np.array([1, 1, 1]), _data((2, 3, 4)).transpose(0, 1, 2)[:, ::-1])


# --------------------------------------------------------------------------- CumOp


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "uint8", "bool", "int64"])
def test_cumsum_cumprod(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None, None), name="x")
    outs = [CumOp(mode, axis, rev)(x) for mode in ("add", "mul") for axis, rev in
            [(None, False), (None, True), (0, False), (1, True), (2, False), (2, True)]]
    f_py, f_c = _both([x], outs, CumOp)
    for shape in [(2, 3, 4), (1, 5, 1), (3, 0, 2), (0, 0, 0)]:
        for xv in array_layouts(_data(shape, dtype)):
            _same(f_py, f_c, xv, exact=True)  # sequential accumulation, as NumPy
    if dtype.startswith("float"):
        _same(f_py, f_c, _with_nan(_data((3, 4, 5), dtype)), exact=True)
    if dtype in ("int8", "int64"):  # products and sums wrap in int64
        _same(f_py, f_c, np.full((4, 3, 30), 127 if dtype == "int8" else 2**40, dtype), exact=True)
    _same(f_py, f_c, np.broadcast_to(_data((1, 3, 1), dtype), (4, 3, 2)), exact=True)


def test_cumsum_0d_and_vector_in_chain():
    s, v = st.dscalar("s"), st.vector("v")
    outs = [st.cumsum(s), st.cumprod(v[::-1] * 2.0), st.cumsum(v).dimshuffle("x", 0)]
    f_py, f_c = _both([s, v], outs, CumOp)
    for vv in [_data((7,)), _data((0,)), _with_nan(_data((9,)))]:
        _same(f_py, f_c, np.float64(1.5), vv, exact=True)


# --------------------------------------------------------------------------- Tri


@pytest.mark.parametrize("dtype", ["float64", "int8", "bool"])
def test_tril_triu(dtype):
    x = st.tensor(dtype=dtype, shape=(None, None), name="x")
    y = st.tensor(dtype=dtype, shape=(None, None, None), name="y")
    outs = [tril(x), triu(x), tril(x, -2), triu(x, 3), tril(y, 1), triu(y, -1), tril(x, 2**62), triu(x, -(2**62))]
    f_py, f_c = _both([x, y], outs, Tri)
    for shape in [(4, 4), (3, 5), (6, 2), (0, 3), (1, 1)]:
        for xv in array_layouts(_data(shape, dtype)):
            for yv in [_data((2,) + shape, dtype), _data((0,) + shape, dtype)]:
                _same(f_py, f_c, _with_nan(xv), yv, exact=True)
    _same(f_py, f_c, np.broadcast_to(_data((1, 4), dtype), (3, 4)), _data((2, 3, 4), dtype).transpose(0, 2, 1), exact=True)


# --------------------------------------------------------------------------- CHECK mode


def test_check_mode_runs_each_op_in_c_and_python():
    x, r = st.matrix("x"), st.lvector("r")
    n = st.lscalar("n")
    parts = st.split_sizes(x, [1, 2], n_splits=2, axis=0)
    rep = st.repeat(x, r, axis=1)
    out = [st.cumsum(parts[1], axis=1), rep, st.eye(n) + st.arange(n, dtype="float64"),
           tril(x), SumToShape()(x, 1, 2), grad((rep * rep).sum(), x)]
    f = sg.function([x, r, n], out, mode=sg.Mode(linker="check"))
    xv = _data((3, 2))
    res = f(xv, np.array([2, 1]), np.int64(4))
    np.testing.assert_allclose(res[0], np.cumsum(xv[1:], axis=1))
    np.testing.assert_allclose(res[1], np.repeat(xv, [2, 1], axis=1))
    np.testing.assert_allclose(res[2], np.eye(4) + np.arange(4.0))
    np.testing.assert_allclose(res[4], xv.sum(axis=0, keepdims=True))
    np.testing.assert_allclose(res[5], 2 * xv * np.array([2, 1]))
    mine = (Split, CumOp, Repeat, RepeatSum, Eye, ARange, Tri, SumToShape)
    nodes = f.maker.fgraph.toposort()
    assert {type(node.op) for node in nodes} >= set(mine)
    assert all(impl == "c" for node, impl in zip(nodes, f.implementations()) if isinstance(node.op, mine))
