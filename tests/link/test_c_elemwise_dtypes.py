"""C of elementwise ops on the narrow integer dtypes (int8, int16, int32, uint8) and on mixed
dtypes (symgraph/link/c/elemwise_codegen.py, ops_elemwise.py).

Integer and boolean results must equal the Python linker's EXACTLY, including the corners
where C and NumPy could part: C computes int8/int16/uint8 arithmetic in ``int`` (results
must wrap back to the narrow type), ``-int8(-128)``, ``abs(int8(-128))``, ``uint8(0) - 1``,
``int32`` overflow, division and remainder by zero and by -1, the sign rules of floor
division, comparisons of mixed dtypes (in their common dtype), float -> narrow integer casts.

Speed: every row of one dtype is an output of ONE function (one compiler run per dtype), the
mixed-dtype rows and 0-d rows share another, the composites a third.
"""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import build
from symgraph.link.c.elemwise_codegen import SUPPORTED_C_DTYPES, scalar_body
from symgraph.tensor.composite import C_TYPES, Composite
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, get_scalar_op
from symgraph.testing import check_op, compile_c_and_py

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tensor"))
from elemwise_cases import CASES, draw  # noqa: E402 - shared row domains

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    pytest.mark.skipif(not build.has_header("sg_math.h"), reason="needs c_backend/sg_math.h"),
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

NARROW = ("int8", "int16", "int32", "uint8")
RAW_C = sg.Mode(linker="c", optimizer=None)
RAW_PY = sg.Mode(linker="py", optimizer=None)
# Rows computed in float whose values are tested on the extremes of the integer range
# (the other float rows get values inside their domain from elemwise_cases).
_FLOAT_ROWS_ON_EXTREMES = {"true_div", "reciprocal", "isnan", "isinf", "isfinite"}


# --------------------------------------------------------------------------- helpers


def _assert_same(got, expected, what):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, Python {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, Python {expected.shape}"
    if got.dtype.kind == "f":
        rtol = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0.0, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def _extremes(dtype, shape, rng):
    """Random values over ``dtype``'s whole range, with its min, max, 0, +-1 and +-2 planted
    (so divisors are zero and operands negative often enough)."""
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.dtype(dtype).kind == "f":
        values = rng.uniform(-300, 300, size=shape)
        values.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.5, 16777217.0][: values.size]
        return values.astype(dtype)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64)
    special = [info.min, info.max, 0, 1, -1, 2, -2, info.min + 1, info.max - 1, 3, -3]
    special = [int(s) for s in special if info.min <= s <= info.max]
    flat = values.reshape(-1)
    picks = rng.random(flat.size) < 0.4  # many planted values, at random places
    flat[picks] = rng.choice(special, size=int(picks.sum()))
    return values.astype(dtype)


def _on_extremes(name, out_dtype):
    """Whether row ``name`` is tested on values over the whole integer range (rows with
    integer or boolean results, casts, divisions), not inside its float domain."""
    return name not in CASES or not out_dtype.startswith("float") or name in _FLOAT_ROWS_ON_EXTREMES


def _negative_strides(v):
    """``v``'s values in a view with negative strides, every other column of a buffer."""
    view = np.zeros((v.shape[0], 2 * v.shape[1]), dtype=v.dtype)[::-1, ::-2]
    view[...] = v
    return view


def _row_dtypes(name, dtype):
    """Input dtypes of row ``name`` in the tests of ``dtype``, or None when not testable."""
    op = get_scalar_op(name)
    nin = 3 if op.variadic else op.nin  # variadic: a chain of two C operations
    in_dtypes = (dtype,) * nin
    try:
        out = op.check_dtypes(*in_dtypes)
    except TypeError:
        return None
    if name == "power" and np.dtype(out).kind in "iu":
        return None  # refused on purpose (test_integer_power_stays_in_python)
    return in_dtypes


class RowFunctions:
    """Every testable row for one dtype as the outputs of one C function and its Python twin.
    Input 0 of each row is fully dynamic, the others broadcast along dimension 0."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.rows, self.inputs, outputs = [], [], []
        for spec in SCALAR_OP_TABLE:
            in_dtypes = _row_dtypes(spec.name, dtype)
            if in_dtypes is None:
                continue
            variables = [
                st.tensor(f"{spec.name}_{k}", dtype=d, shape=(None, None) if k == 0 else (1, None))
                for k, d in enumerate(in_dtypes)
            ]
            self.rows.append((spec.name, len(variables)))
            self.inputs += variables
            outputs.append(st.Elemwise(get_scalar_op(spec.name))(*variables))
        self.outputs = outputs
        self.f_c = sg.function(self.inputs, outputs, mode=RAW_C)
        self.f_py = sg.function(self.inputs, outputs, mode=RAW_PY)

    def values(self, rng, shape0, shape_rest, layout=lambda v: v):
        flat = []
        for (name, nin), out in zip(self.rows, self.outputs):
            for k in range(nin):
                shape = shape0 if k == 0 else shape_rest
                if not _on_extremes(name, out.dtype):
                    # draw() would give input 0 of polygamma its fixed int64 dtype
                    v = draw(CASES[name], self.dtype, shape, rng, k).astype(self.dtype)
                else:
                    v = _extremes(self.dtype, shape, rng)
                flat.append(layout(v) if k == 0 else v)
        return flat

    def check(self, flat):
        with np.errstate(all="ignore"):
            got = self.f_c(*flat)
            expected = self.f_py(*[np.copy(v) for v in flat])
        failures = []
        for (name, _), g, e in zip(self.rows, got, expected):
            try:
                _assert_same(g, e, f"{name}-{self.dtype}")
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n".join(failures)
        return dict(zip((n for n, _ in self.rows), got))


@pytest.fixture(scope="module")
def row_functions():
    cache = {}

    def get(dtype):
        if dtype not in cache:
            cache[dtype] = RowFunctions(dtype)
        return cache[dtype]

    return get


# --------------------------------------------------------------------------- every row


def test_every_dtype_is_generated():
    assert set(SUPPORTED_C_DTYPES) == set(C_TYPES)


@pytest.mark.parametrize("dtype", NARROW)
def test_rows_run_in_c(row_functions, dtype):
    rf = row_functions(dtype)
    names = {n for n, _ in rf.rows}
    for expected in ("add", "sub", "mul", "neg", "abs", "floor_divide", "mod", "true_div", "maximum",
                     "minimum", "clip", "sign", "lt", "eq", "bitwise_and", "bitwise_xor", "invert",
                     "where", "exp", "cast_float32", "cast_int8", "cast_bool"):
        assert expected in names
    impls = rf.f_c.implementations()
    nodes = rf.f_c.maker.fgraph.toposort()
    not_c = [str(n.op) for n, i in zip(nodes, impls) if i != "c"]
    assert not not_c, f"rows refused by the C generator: {not_c}"
    assert len(rf.f_c.vm.thunks) == 1  # all rows in one region


@pytest.mark.parametrize("dtype", NARROW)
def test_rows_match_python(row_functions, dtype):
    rf = row_functions(dtype)
    rng = np.random.default_rng(7)
    rf.check(rf.values(rng, (6, 9), (1, 9)))  # broadcast along dimension 0: strided iterator
    rf.check(rf.values(rng, (1, 33), (1, 33)))  # every input contiguous: the flat loop
    rf.check(rf.values(rng, (9, 6), (1, 5), layout=lambda v: v.T[:5].T))  # transposed view
    rf.check(rf.values(rng, (5, 7), (1, 7), layout=np.asfortranarray))
    rf.check(rf.values(rng, (5, 7), (1, 7), layout=_negative_strides))
    rf.check(rf.values(rng, (0, 7), (1, 7)))
    rf.check(rf.values(rng, (3, 0), (1, 0)))


@pytest.mark.parametrize("dtype", NARROW)
def test_integer_corners_against_numpy(row_functions, dtype):
    """Independent of the Python thunk: the corners computed by NumPy itself."""
    rf = row_functions(dtype)
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    pairs = [(lo, -1), (lo, 1), (hi, -1), (lo, 0), (7, 0), (0, 0), (-7, 2), (7, -2), (-7, -2),
             (lo, 2), (hi, hi), (lo, lo), (-1, hi), (1, lo), (0, 1), (100, 3)]
    pairs = [(a, b) for a, b in pairs if lo <= a <= hi and lo <= b <= hi]
    a = np.array([[p[0] for p in pairs]], dtype=dtype)
    b = np.array([[p[1] for p in pairs]], dtype=dtype)
    # Rows computed in float keep values inside their domain (SciPy's float32 polygamma of
    # large orders is NaN through an overflowing intermediate, C's is not).
    flat = rf.values(np.random.default_rng(1), a.shape, b.shape)
    pos = 0
    for (name, nin), out in zip(rf.rows, rf.outputs):
        if _on_extremes(name, out.dtype):
            flat[pos:pos + nin] = [a, b, b][:nin] if name != "where" else [a, a, b]
        pos += nin
    got = rf.check(flat)
    with np.errstate(all="ignore"):
        expected = {
            "add": a + b + b, "sub": a - b, "mul": a * b * b, "neg": -a, "abs": np.abs(a),
            "floor_divide": a // b, "mod": a % b, "square": a * a, "sign": np.sign(a),
            "maximum": np.maximum(a, b), "minimum": np.minimum(a, b),
            "bitwise_and": a & b, "bitwise_or": a | b, "bitwise_xor": a ^ b, "invert": ~a,
            "true_div": a / b if dtype == "int32" else a.astype("float32") / b.astype("float32"),
            "lt": a < b, "eq": a == b, "cast_float64": a.astype("float64"), "cast_int8": a.astype("int8"),
            "cast_uint8": a.astype("uint8"), "cast_bool": a.astype(bool),
        }
    for name, value in expected.items():
        _assert_same(got[name], value, f"{name}-{dtype} against NumPy")
    if dtype == "int8":
        assert got["neg"][0, 0] == -128 and got["abs"][0, 0] == -128 and got["floor_divide"][0, 0] == -128
        assert (got["floor_divide"][0, 3:6] == 0).all() and (got["mod"][0, 3:6] == 0).all()
    if dtype == "uint8":  # a = 0, 0, 7, 0, 0, 255...; b = 1, 0, 0...
        assert got["sub"][0, 0] == 255 and got["neg"][0, 2] == 249 and got["neg"][0, 5] == 1


def test_shape_mismatch_is_a_value_error(row_functions):
    rf = row_functions("int8")
    flat = rf.values(np.random.default_rng(0), (4, 5), (1, 5))
    flat[1] = np.zeros((1, 6), dtype="int8")  # add's second input
    with pytest.raises(ValueError):
        rf.f_c(*flat)


def test_integer_power_stays_in_python():
    x = st.tensor("x", dtype="int8", shape=(None,))
    with pytest.raises(NotImplementedError, match="integer power"):
        scalar_body(get_scalar_op("power"), ["a", "b"], ["int8", "int8"])
    f = sg.function([x], [x**x, x + x], mode=RAW_C)
    assert f.implementations() == ["py", "c"]
    p, q = f(np.array([2, 3, 5], dtype="int8"))
    np.testing.assert_array_equal(p, np.array([4, 27, 3125 - 3072], dtype="int8"))
    np.testing.assert_array_equal(q, np.array([4, 6, 10], dtype="int8"))


# --------------------------------------------------------------------------- mixed dtypes

MIXED_PAIRS = [("int8", "int64"), ("int16", "float32"), ("int32", "float32"), ("uint8", "int8"),
               ("int32", "float64"), ("uint8", "float32"), ("int16", "int32"), ("int64", "float32"),
               ("bool", "int8"), ("uint8", "int16")]
MIXED_ROWS = ("add", "sub", "mul", "true_div", "floor_divide", "mod", "maximum", "lt", "eq", "ge",
              "bitwise_or", "where")


@pytest.fixture(scope="module")
def mixed():
    """Rows on pairs of different dtypes (both operands full-size: the flat loop when
    contiguous), 0-d rows of narrow dtypes, and casts between every pair of dtypes."""
    inputs, outputs, names = [], [], []
    for d1, d2 in MIXED_PAIRS:
        a = st.tensor(f"a_{d1}_{d2}", dtype=d1, shape=(None, None))
        b = st.tensor(f"b_{d1}_{d2}", dtype=d2, shape=(None, None))
        inputs += [a, b]
        for name in MIXED_ROWS:
            op = get_scalar_op(name)
            args = (a, a, b) if name == "where" else (a, b)
            try:
                op.check_dtypes(*(v.dtype for v in args))
            except TypeError:
                continue
            outputs.append(st.Elemwise(op)(*args))
            names.append(f"{name}-{d1}-{d2}")
    for d in NARROW:
        p = st.tensor(f"p_{d}", dtype=d, shape=())
        q = st.tensor(f"q_{d}", dtype=d, shape=())
        inputs += [p, q]
        for name in ("neg", "abs", "floor_divide", "mod", "sub", "mul"):
            op = get_scalar_op(name)
            outputs.append(st.Elemwise(op)(*(p, q)[: 1 if op.nin == 1 else 2]))
            names.append(f"{name}-0d-{d}")
    for src in SUPPORTED_C_DTYPES:
        x = st.tensor(f"x_{src}", dtype=src, shape=(None,))
        inputs.append(x)
        for dst in SUPPORTED_C_DTYPES:
            if dst != src:
                outputs.append(st.cast(x, dst))
                names.append(f"cast-{src}-{dst}")
    f_c, f_py = compile_c_and_py(inputs, outputs, covered=(st.Elemwise,), optimizer=None)
    return inputs, names, f_c, f_py


def _mixed_values(inputs, rng, shape, layout=lambda v: v):
    values = []
    for v in inputs:
        s = {0: (), 1: (3 * shape[1],)}.get(v.type.ndim, shape)
        values.append(layout(_extremes(v.dtype, s, rng)) if v.type.ndim == 2 else _extremes(v.dtype, s, rng))
    return values


def _check_mixed(mixed, values):
    inputs, names, f_c, f_py = mixed
    with np.errstate(all="ignore"):
        got = f_c(*values)
        expected = f_py(*[np.copy(v) for v in values])
    failures = []
    for name, g, e in zip(names, got, expected):
        try:
            _assert_same(g, e, name)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
    return dict(zip(names, got))


@pytest.mark.parametrize("case", ["contiguous", "transposed", "empty", "reversed"])
def test_mixed_dtypes_match_python(mixed, case):
    rng = np.random.default_rng(11)
    shape = (0, 6) if case == "empty" else (5, 6)
    layout = {"transposed": lambda v: np.ascontiguousarray(v.T).T, "reversed": _negative_strides}.get(case, lambda v: v)
    _check_mixed(mixed, _mixed_values(mixed[0], rng, shape, layout))


def test_mixed_comparisons_use_the_common_dtype(mixed):
    """int32 16777217 and float32 16777216 differ in float64 (NumPy's loop), not in float."""
    inputs, names, _, _ = mixed
    values = _mixed_values(inputs, np.random.default_rng(3), (2, 3))
    for k, v in enumerate(inputs):
        if v.name in ("a_int32_float32", "a_int64_float32"):
            values[k] = np.full((2, 3), 16777217, dtype=v.dtype)
        elif v.name in ("b_int32_float32", "b_int64_float32"):
            values[k] = np.full((2, 3), 16777216.0, dtype="float32")
    got = _check_mixed(mixed, values)
    for pair in ("int32-float32", "int64-float32"):
        assert not got[f"eq-{pair}"].any() and not got[f"lt-{pair}"].any() and got[f"ge-{pair}"].all()


def test_float_to_narrow_integer_casts(mixed):
    """NumPy's float -> int8/int16/uint8 keeps the low bits of the int32 truncation."""
    inputs, names, _, _ = mixed
    floats = [300.7, -300.7, 40000.5, -1.5, 255.5, 127.9, -128.9, 65535.0, 0.0, -0.0]
    if platform.machine() in ("x86_64", "AMD64"):  # out of int32's range: x86's INT32_MIN
        floats += [np.nan, np.inf, -np.inf, 1e10, -1e10]
    values = _mixed_values(inputs, np.random.default_rng(4), (2, 3))
    for k, v in enumerate(inputs):
        if v.name in ("x_float32", "x_float64"):
            values[k] = np.array(floats * 3, dtype=v.dtype)
    got = _check_mixed(mixed, values)
    with np.errstate(all="ignore"):
        for src in ("float32", "float64"):
            x = np.array(floats * 3, dtype=src)
            for dst in ("int8", "int16", "uint8"):
                _assert_same(got[f"cast-{src}-{dst}"], x.astype(dst), f"cast {src} -> {dst}")
    assert got["cast-float64-int8"][0] == 44 and got["cast-float64-uint8"][3] == 255


# --------------------------------------------------------------------------- composites


def test_fused_composite_mixing_int8_and_float64():
    a = st.tensor("a", dtype="int8", shape=(None, None))
    b = st.tensor("b", dtype="int8", shape=(1, None))
    u = st.tensor("u", dtype="uint8", shape=(None, None))
    x = st.tensor("x", dtype="float64", shape=(None, None))
    c = st.tensor("c", dtype="int8", shape=(None, 1))  # broadcast on the last axis: scalar kernel
    outputs = [
        # int8 intermediates wrap before they meet float64
        (a * b + 100 - a // 3) * x + st.cast(st.abs(a), "float64") / (st.cast(b, "float64") + 0.5),
        st.where(st.gt(a, b), x, -x) * (u - 1),
        (a * a - b) % 7 + st.neg(a),
        st.cast(u, "float32") / 255.0 - st.cast(u > 128, "float32"),
        (a - c) * (c + 1) // (a | 1) + st.cast(x > 0, "int8"),
    ]
    f_c, f_py = compile_c_and_py([a, b, u, x, c], outputs, covered=(st.Elemwise,))
    nodes = f_c.maker.fgraph.toposort()
    composites = [n for n in nodes if isinstance(n.op, st.Elemwise) and isinstance(n.op.scalar_op, Composite)]
    assert len(composites) >= 3
    assert any({v.dtype for v in n.inputs} >= {"int8", "float64"} for n in composites)
    rng = np.random.default_rng(9)
    for shape, layout in [((4, 7), lambda v: v), ((7, 4), lambda v: np.asfortranarray(v)),
                          ((1, 40), lambda v: v), ((0, 3), lambda v: v), ((6, 5), lambda v: v[::-1, ::-1])]:
        values = [layout(_extremes("int8", shape, rng)), _extremes("int8", (1, shape[1]), rng),
                  layout(_extremes("uint8", shape, rng)), layout(rng.uniform(-2, 2, size=shape)),
                  _extremes("int8", (shape[0], 1), rng)]
        with np.errstate(all="ignore"):
            got = f_c(*values)
            expected = f_py(*[np.copy(v) for v in values])
        for k, (g, e) in enumerate(zip(got, expected)):
            _assert_same(g, e, f"output {k}, shape {shape}")


def test_fused_reduce_of_narrow_products():
    """``sum(a * b)`` of int8 wraps each product to int8 before the int64 sum, as NumPy's
    elementwise product does (a fused reduction reads the row's converted value)."""
    a = st.tensor("a", dtype="int8", shape=(None, None))
    b = st.tensor("b", dtype="int8", shape=(None, None))
    out = st.sum(a * b, axis=1)
    f_c, f_py = compile_c_and_py([a, b], out)
    rng = np.random.default_rng(5)
    values = [_extremes("int8", (4, 50), rng), _extremes("int8", (4, 50), rng)]
    with np.errstate(all="ignore"):
        got = f_c(*values)
        _assert_same(got, f_py(*values), "sum(a * b)")
        _assert_same(got, (values[0] * values[1]).sum(axis=1), "sum(a * b) against NumPy")


def test_check_mode_on_uint8_image():
    """An image pipeline on uint8 through check_op (the CHECK mode runs each C node in
    Python too)."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, size=(5, 6)).astype("uint8")
    k = np.array(3, dtype="int32")
    check_op(lambda im, kk: st.cast(im, "float32") / 255.0 * kk + st.cast(255 - im, "float32"),
             [img, k], lambda im, kk: im.astype("float32") / np.float32(255.0) * np.float32(kk)
             + (255 - im).astype("float32"))
    check_op(lambda im, kk: im * kk - (im // 2), [img, k], lambda im, kk: im * kk - (im // 2))
