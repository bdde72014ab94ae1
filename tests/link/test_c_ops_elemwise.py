"""C of ``Elemwise`` nodes (symgraph/link/c/ops_elemwise.py) through the region linker.

Every supported row of the scalar table and a set of fused composites (made by FAST_RUN)
run in functions compiled with ``sg.Mode(linker="c")`` and with the Python linker on the
same inputs: values must agree (NaN-equal) and dtypes must be identical, for contiguous,
broadcast, non-contiguous (transposed, sliced, reversed), empty and 0-d arrays, with NaN
and inf. Bad shapes must give a ``ValueError``, bad dtypes or ranks a ``TypeError``, never a
crash.

Speed: every row of one dtype is an output of ONE function (one compiler run per dtype),
and the composite graphs share one function too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import build, elemwise_codegen
from symgraph.link.c.elemwise_codegen import scalar_body
from symgraph.link.c.region import node_c_code
from symgraph.tensor.composite import Composite
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, get_scalar_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tensor"))
from elemwise_cases import CASES, draw  # noqa: E402 - shared row domains

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    # A node the generator accepted but gcc rejected is a bug: fail instead of falling back.
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

DTYPES = ("float64", "float32", "int64", "bool")
HELPERS = build.has_header("sg_math.h")
# No rewriting: each row stays exactly the node it was built as.
RAW_C = sg.Mode(linker="c", optimizer=None)
RAW_PY = sg.Mode(linker="py", optimizer=None)
C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")


# --------------------------------------------------------------------------- helpers


def _assert_same(got, expected, rtol, what=""):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, Python {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, Python {expected.shape}"
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=0.0, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def _rtol(dtype):
    """Tolerance for a result of ``dtype`` (bool and integer rows may give float32)."""
    return 1e-5 if dtype == "float32" else 1e-12


def _row_supported(name, dtype):
    op = get_scalar_op(name)
    case = CASES.get(name)
    if case is not None and dtype not in case.dtypes:
        return False
    if "sg_" in op.spec.c_template and not HELPERS:
        return False
    nin = 2 if op.variadic else op.nin
    in_dtypes = [case.fixed_dtypes.get(k, dtype) if case else dtype for k in range(nin)]
    try:
        out = op.check_dtypes(*in_dtypes)
    except TypeError:
        return False
    if out not in DTYPES or any(d not in DTYPES for d in in_dtypes):
        return False
    return not (name == "power" and out == "int64")


def _row_output(name, dtype):
    """A 2-d node of row ``name``: input 0 fully dynamic, the others broadcast along rows."""
    op = get_scalar_op(name)
    case = CASES.get(name)
    nin = 2 if op.variadic else op.nin
    variables = []
    for k in range(nin):
        d = case.fixed_dtypes.get(k, dtype) if case else dtype
        variables.append(st.tensor(f"{name}_{k}", dtype=d, shape=(None, None) if k == 0 else (1, None)))
    return variables, st.Elemwise(op)(*variables)


def _row_values(name, dtype, nin, shape0, shape_rest, rng):
    case = CASES.get(name)
    if case is None:  # cast rows
        return [np.asarray(rng.uniform(-3, 3, size=shape0)).astype(dtype)]
    return [draw(case, dtype, shape0 if k == 0 else shape_rest, rng, k) for k in range(nin)]


ROWS = [(r.name, d) for r in SCALAR_OP_TABLE for d in DTYPES if _row_supported(r.name, d)]


class RowFunctions:
    """All rows of one dtype as the outputs of one C function (and its Python twin)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.names = [n for n, d in ROWS if d == dtype]
        self.inputs, outputs, self.nins = [], [], []
        for name in self.names:
            variables, out = _row_output(name, dtype)
            self.inputs += variables
            outputs.append(out)
            self.nins.append(len(variables))
        self.f_c = sg.function(self.inputs, outputs, mode=RAW_C)
        self.f_py = sg.function(self.inputs, outputs, mode=RAW_PY)

    def values(self, rng, shape0, shape_rest, layout=lambda v: v, special=False):
        """Input values per row (input 0 passed through ``layout``); ``special`` puts NaN, inf,
        -inf and 0 into float inputs."""
        per_row = []
        for name, nin in zip(self.names, self.nins):
            vals = _row_values(name, self.dtype, nin, shape0, shape_rest, rng)
            if special:
                for v in vals:
                    if v.dtype.kind == "f" and v.size >= 4:
                        v.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, 0.0]
            vals[0] = layout(vals[0])
            per_row.append(vals)
        return per_row

    def check(self, per_row):
        flat = [v for vals in per_row for v in vals]
        with np.errstate(all="ignore"):
            got = self.f_c(*flat)
            expected = self.f_py(*[np.copy(v) for v in flat])
        failures = []
        for name, g, e in zip(self.names, got, expected):
            try:
                _assert_same(g, e, _rtol(np.asarray(e).dtype), f"{name}-{self.dtype}")
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n".join(failures)
        return got


@pytest.fixture(scope="module")
def row_functions():
    """One compiled function per dtype, built on first use."""
    cache = {}

    def get(dtype):
        if dtype not in cache:
            cache[dtype] = RowFunctions(dtype)
        return cache[dtype]

    return get


# --------------------------------------------------------------------------- table rows


def test_row_coverage():
    """The generator covers the arithmetic, transcendental, comparison and cast rows."""
    names = {n for n, _ in ROWS}
    for expected in ("add", "mul", "true_div", "exp", "log1p", "tanh", "arctan2", "lt", "where", "cast_int64"):
        assert expected in names
    assert len(ROWS) > 100


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_run_in_c(row_functions, dtype):
    rf = row_functions(dtype)
    assert rf.names
    impls = rf.f_c.implementations()
    nodes = rf.f_c.maker.fgraph.toposort()
    not_c = [str(n.op) for n, i in zip(nodes, impls) if i != "c"]
    assert not not_c, f"rows refused by the C generator: {not_c}"
    assert len(rf.f_c.vm.thunks) == 1  # all rows in one region


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_match_python(row_functions, dtype):
    rf = row_functions(dtype)
    rng = np.random.default_rng(1)
    # Broadcast along dimension 0 (strided path).
    rf.check(rf.values(rng, (5, 7), (1, 7)))
    # Non-contiguous input 0: a transposed strided view, Fortran order, negative strides.
    rf.check(rf.values(rng, (7, 10), (1, 5), layout=lambda v: v.T[::2].T[:, :5] if v.ndim else v))
    rf.check(rf.values(rng, (10, 7), (1, 7), layout=lambda v: v[::2]))
    rf.check(rf.values(rng, (5, 7), (1, 7), layout=np.asfortranarray))
    rf.check(rf.values(rng, (5, 7), (1, 7), layout=lambda v: v[::-1, ::-1]))
    # Empty output, and one row where every input is contiguous (the flat loop).
    for out in rf.check(rf.values(rng, (0, 7), (1, 7))):
        assert out.shape == (0, 7)
    rf.check(rf.values(rng, (1, 9), (1, 9)))
    # Size 0 in the broadcast dimension's partner: output (3, 0).
    rf.check(rf.values(rng, (3, 0), (1, 0)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rows_nan_and_inf(row_functions, dtype):
    rf = row_functions(dtype)
    rng = np.random.default_rng(5)
    rf.check(rf.values(rng, (4, 6), (1, 6), special=True))
    rf.check(rf.values(rng, (6, 4), (1, 4), special=True, layout=lambda v: np.ascontiguousarray(v.T).T))


def test_invert_bool():
    """Regression: with NumPy's headers read first, npy_bool was unsigned char and
    sg_invert took its integer branch (~x), making every result True."""
    b = st.tensor("b", dtype="bool", shape=(None,))
    f = sg.function([b], st.invert(b), mode=RAW_C)
    assert f.implementations() == ["c"]
    np.testing.assert_array_equal(f(np.array([True, False])), [False, True])


# --------------------------------------------------------------------------- composites


def _composite_graphs():
    x, y, z = (st.tensor(n, dtype="float64", shape=(None, None)) for n in "xyz")
    r = st.tensor("r", dtype="float64", shape=(1, None))
    a, b = (st.tensor(n, dtype="float32", shape=(None, None)) for n in "ab")
    i, j = (st.tensor(n, dtype="int64", shape=(None, None)) for n in "ij")
    inputs = [x, y, z, r, a, b, i, j]
    graphs = {
        "w1": st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y),
        "row_broadcast": st.sqrt(st.abs(x) + 1.0) * r - st.cos(x) / (r * r + 2.0),
        "where_compare": st.where(st.lt(x, y), st.exp(x), st.sin(y) * 2.0) + 1.0,
        "float32": st.tanh(a * b) + st.exp(a) / (b * b + 1.0),
        "int_mix": (i * j + 3) * x - st.true_div(i, j + 100),
        "int_only": (i - j) * (i + j) * 7 - i,
        "nan_const": st.where(st.isnan(x), float("nan"), x * y) + y,
        "cmp_bool": st.logical_and(st.gt(x * y, 0.1), st.isfinite(x + y)),
    }
    return inputs, graphs


@pytest.fixture(scope="module")
def composites():
    inputs, graphs = _composite_graphs()
    names = sorted(graphs)
    outs = [graphs[n] for n in names]
    return inputs, names, sg.function(inputs, outs, mode=C_MODE), sg.function(inputs, outs, mode=PY_MODE)


def _composite_values(inputs, shape, rng, special=False, layout=lambda v: v):
    values = []
    for v in inputs:
        s = tuple(1 if st_ == 1 else n for st_, n in zip(v.type.shape, shape))
        if v.dtype == "int64":
            values.append(layout(rng.integers(-5, 6, size=s).astype("int64")))
            continue
        arr = rng.uniform(-2, 2, size=s)
        if special and arr.size >= 4:
            arr.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, 0.0]
        values.append(layout(arr.astype(v.dtype)))
    return values


def _transposed_strided(v):
    """``v``'s values in a non-contiguous view: every other row of a transposed buffer."""
    if v.ndim != 2 or 1 in v.shape:
        return v
    buf = np.zeros((2 * v.shape[1], v.shape[0]), dtype=v.dtype)
    buf[::2] = v.T
    view = buf[::2].T
    assert not view.flags.c_contiguous and view.shape == v.shape
    return view


def test_composites_are_fused_and_in_c(composites):
    _, _, f_c, _ = composites
    nodes = f_c.maker.fgraph.toposort()
    assert sum(isinstance(n.op, st.Elemwise) and isinstance(n.op.scalar_op, Composite) for n in nodes) >= 3
    for node, impl in zip(nodes, f_c.implementations()):
        if isinstance(node.op, st.Elemwise):
            assert impl == "c", node


@pytest.mark.parametrize("case", ["plain", "special", "strided", "empty", "one_row"])
def test_composites_match_python(composites, case):
    inputs, names, f_c, f_py = composites
    rng = np.random.default_rng(2)
    shape = {"empty": (0, 9), "one_row": (1, 9)}.get(case, (6, 9))
    layout = _transposed_strided if case == "strided" else (lambda v: v)
    values = _composite_values(inputs, shape, rng, special=case in ("special", "strided"), layout=layout)
    with np.errstate(all="ignore"):
        got = f_c(*values)
        expected = f_py(*[np.copy(v) for v in values])
    for name, g, e in zip(names, got, expected):
        _assert_same(g, e, 1e-5 if name == "float32" else 1e-12, name)
        assert g.shape == shape


def test_w1_values_against_numpy():
    """The fused W1 node gives NumPy's values at a size using the parallel vector loop."""
    from symgraph.link.c.ops_elemwise import PARALLEL_THRESHOLD

    x, y, z = (st.dmatrix(n) for n in "xyz")
    f = sg.function([x, y, z], st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y), mode=C_MODE)
    assert f.implementations() == ["c"]
    rng = np.random.default_rng(3)
    X, Y, Z = (rng.standard_normal((200, 1000)) for _ in range(3))
    assert X.size > PARALLEL_THRESHOLD
    ref = np.exp(X) * Y + np.log1p(Z**2) - np.tanh(X * Y)
    np.testing.assert_allclose(f(X, Y, Z), ref, rtol=1e-12, atol=1e-13)
    # The same on strided inputs (the iterator path) at that size.
    np.testing.assert_allclose(f(X[:, ::-1], Y[:, ::-1], Z[:, ::-1]), ref[:, ::-1], rtol=1e-12, atol=1e-13)


def test_zero_dim():
    x, y = st.dscalar("x"), st.dscalar("y")
    f = sg.function([x, y], [x * y, st.exp(x) * y + st.tanh(x)], mode=C_MODE)
    g = sg.function([x, y], [x * y, st.exp(x) * y + st.tanh(x)], mode=PY_MODE)
    assert set(f.implementations()) == {"c"}
    prod, _ = f(np.array(2.5), np.array(-3.0))
    assert prod.shape == () and prod == -7.5
    for vals in ([0.5, np.nan], [np.inf, 2.0], [-np.inf, 0.0], [1.0, 2.0]):
        with np.errstate(all="ignore"):
            for a, b in zip(f(*vals), g(*vals)):
                _assert_same(a, b, 1e-12, str(vals))


def test_three_dims_and_broadcast_in_middle():
    x = st.tensor("x", dtype="float64", shape=(None, None, None))
    m = st.tensor("m", dtype="float64", shape=(None, 1, None))
    out = st.exp(x) * m + st.sin(m - x)
    f, g = sg.function([x, m], out, mode=C_MODE), sg.function([x, m], out, mode=PY_MODE)
    assert set(f.implementations()) == {"c"}
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 4, 5))
    M = rng.standard_normal((3, 1, 5))
    for xv, mv in (
        (X, M),
        (X.transpose(2, 0, 1).copy().transpose(1, 2, 0), M[:, :, ::-1]),
        (X[::-1, ::2], M[::-1]),
        (np.zeros((3, 0, 5)), M),
        (np.zeros((0, 4, 5)), np.zeros((0, 1, 5))),
    ):
        _assert_same(f(xv, mv), g(xv, mv), 1e-12)


def test_loops_are_shared_kernels_and_strided_runs_take_the_fast_kernel():
    """The element loops are module-level SG_HOT / SG_WARM kernels (the module itself is
    compiled at -O0 for compile time), shared by equal nodes; a strided array whose inner
    runs are contiguous (a column slice) goes through the contiguous kernel, and mixed
    runs (a reversed or broadcast input) through the strided loop, all with Python's values."""
    x, y, z = st.dmatrix("x"), st.dmatrix("y"), st.dmatrix("z")
    outs = [st.exp(x) * y + st.tanh(x), st.exp(z) * y + st.tanh(z)]  # two equal fused nodes
    f = sg.function([x, y, z], outs, mode=C_MODE)
    g = sg.function([x, y, z], outs, mode=PY_MODE)
    assert set(f.implementations()) == {"c"}
    source = f.maker.linker.source
    hot = [line for line in source.splitlines() if line.startswith("SG_HOT static void sg_ew_")]
    warm = [line for line in source.splitlines() if line.startswith("SG_WARM SG_KERNEL void sg_ews_")]
    assert len(hot) == 1 and len(warm) == 1, "equal nodes must share one kernel pair"
    assert "-O0" in build.DEFAULT_FLAGS
    rng = np.random.default_rng(7)
    big = rng.standard_normal((6, 40))
    for X, Y in (
        (big[:, 3:30], big[:, 5:32]),  # contiguous inner runs, strided rows
        (big[:, ::-3], big[:, ::3]),  # strided runs
        (big[::2, :7][::-1], big[:3, 10:17]),  # reversed rows, contiguous runs
        (np.zeros((0, 5)), np.zeros((0, 5))),
    ):
        Z = X[::-1].copy()
        for a, b in zip(f(X, Y, Z), g(X, Y, Z)):
            _assert_same(a, b, 1e-12)


def test_operands_broadcast_on_the_last_axis_take_the_scalar_kernel():
    """Inputs of static length 1 on the last axis (``x - m[:, None]``) get a third, SG_HOT
    kernel that takes them as scalars; it runs only where the strides are exactly those
    (the others contiguous, these 0), every other layout takes the strided loop, and all
    agree with Python, mixed dtypes included."""
    x, y = st.dmatrix("x"), st.dmatrix("y")
    m = st.dvector("m")
    k = st.tensor("k", dtype="int64", shape=(None, 1))
    outs = [st.exp(x - m[:, None]) * 2.0, x * k + y - m[:, None], st.maximum(x, k)]
    f = sg.function([x, y, m, k], outs, mode=C_MODE)
    g = sg.function([x, y, m, k], outs, mode=PY_MODE)
    assert set(f.implementations()) == {"c"}
    source = f.maker.linker.source
    assert sum(line.startswith("SG_HOT static void sg_ewb_") for line in source.splitlines()) == 3
    rng = np.random.default_rng(11)
    big = rng.standard_normal((9, 70))
    ints = rng.integers(-5, 5, (9, 3))
    for X, Y, M, K in (
        (big[:, :37], big[:, 30:67], big[:, 0], ints[:, :1]),  # strided rows, contiguous runs
        (big[:, ::2], big[:, 1::2], big[::-1, 5], ints[::-1, 1:2]),  # strided runs
        (big.T[:37], np.ascontiguousarray(big.T[2:39]), big[0, :37], ints[:1, :1].repeat(37, 0)),  # transposed x
        (big[:9, :1], big[:9, 1:2], big[:, 3], ints[:, :1]),  # runs of one element
        (np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0), np.zeros((0, 1), np.int64)),
    ):
        for a, b in zip(f(X, Y, M, K), g(X, Y, M, K)):
            _assert_same(a, b, 1e-12)


# --------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def add_functions():
    """``x + y`` (both dynamic) and ``x + r`` (r statically 1 in dimension 0), checked
    and trusted inputs."""
    x, y = st.dmatrix("x"), st.dmatrix("y")
    r = st.tensor("r", dtype="float64", shape=(1, None))
    return {
        "xy": sg.function([x, y], x + y, mode=C_MODE),
        "xy_trusted": sg.function([x, y], x + y, mode=C_MODE, trust_input=True),
        "xr_trusted": sg.function([x, r], x + r, mode=C_MODE, trust_input=True),
    }


@pytest.mark.parametrize("trusted", [False, True])
def test_shape_mismatch_is_a_value_error(add_functions, trusted):
    f = add_functions["xy_trusted" if trusted else "xy"]
    assert f.implementations() == ["c"]
    with pytest.raises(ValueError, match=r"input 0 has shape \(2, 3\) and input 1 has shape \(2, 4\) \(sizes 3 and 4 in dimension 1\)"):
        f(np.zeros((2, 3)), np.zeros((2, 4)))
    # A run-time size 1 in a dimension not declared broadcastable does not broadcast...
    with pytest.raises(ValueError, match=r"input 1 has size 1 in dimension 0 at run time, but input 0 has size 2 there.*does not declare"):
        f(np.zeros((2, 3)), np.zeros((1, 3)))
    # ...and neither does an empty dimension against a non-empty one.
    with pytest.raises(ValueError, match="dimension 0"):
        f(np.zeros((2, 3)), np.zeros((0, 3)))
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), np.full((2, 3), 2.0))


def test_static_one_dimension_is_checked(add_functions):
    """With trusted inputs the function does not check static shapes: the C code must."""
    f = add_functions["xr_trusted"]
    with pytest.raises(ValueError, match=r"input 1 has length 0 in dimension 0.*broadcastable"):
        f(np.zeros((2, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"input 1 has length 2 in dimension 0.*broadcastable"):
        f(np.zeros((4, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(f(np.zeros((4, 3)), np.ones((1, 3))), np.ones((4, 3)))


@pytest.mark.parametrize("trusted", [False, True])
def test_wrong_ndim_and_dtype_are_type_errors(add_functions, trusted):
    f = add_functions["xy_trusted" if trusted else "xy"]
    with pytest.raises(TypeError, match="2-d" if trusted else "1-d array|3-d array|2-d array"):
        f(np.zeros((2, 3)), np.zeros((2, 3, 1)))
    with pytest.raises(TypeError):
        f(np.zeros((2, 3)), np.zeros(3))
    # Checked inputs are cast when safe (float32 -> float64), so use an unsafe dtype there;
    # trusted inputs of any other dtype must be refused by the region.
    wrong = np.zeros((2, 3), dtype="float32" if trusted else "complex128")
    with pytest.raises(TypeError, match="float64|complex128"):
        f(np.zeros((2, 3)), wrong)
    if trusted:  # not even an array: refused, never read as one
        with pytest.raises(TypeError):
            f(np.zeros((2, 3)), [[1.0, 2.0, 3.0]])
        with pytest.raises(TypeError):
            f(np.zeros((2, 3)), None)
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), np.full((2, 3), 2.0))


def test_unsupported_nodes_run_in_python():
    # integer power has no C; int16 arithmetic has (every dtype of C_TYPES does)
    i = st.lvector("i")
    s = st.tensor("s", dtype="int16", shape=(None,))
    assert node_c_code((i**i).owner) is None
    assert node_c_code((s + s).owner) is not None
    with pytest.raises(NotImplementedError, match="integer power"):
        scalar_body(get_scalar_op("power"), ["a", "b"], ["int64", "int64"])
    with pytest.raises(NotImplementedError, match="integer power"):
        scalar_body(get_scalar_op("power"), ["a", "b"], ["int16", "int16"])
    f = sg.function([i, s], [i**i, s + s], mode=RAW_C)
    assert sorted(f.implementations()) == ["c", "py"]
    p, q = f(np.array([2, 3]), np.array([4, 5], dtype="int16"))
    np.testing.assert_array_equal(p, [4, 27])
    np.testing.assert_array_equal(q, np.array([8, 10], dtype="int16"))


def test_helper_rows_need_the_runtime_header(monkeypatch):
    """Without c_backend/sg_math.h, rows calling sg_* helpers are refused, not miscompiled."""
    monkeypatch.setattr(elemwise_codegen, "_runtime_helpers_available", lambda: False)
    with pytest.raises(NotImplementedError, match="sg_softplus"):
        scalar_body(get_scalar_op("softplus"), ["a"], ["float64"])
    statements, result, dtype = scalar_body(get_scalar_op("exp"), ["a"], ["float64"])
    assert "exp(" in result and dtype == "float64" and "sg_" not in result


# --------------------------------------------------------------------------- build


def test_compile_c_caches_in_process(tmp_path):
    src = "int sg_twice(int x) { return 2 * x; }\n"
    cdef = "int sg_twice(int x);"
    first = build.compile_c(src, cdef, directory=tmp_path)
    assert first.lib.sg_twice(21) == 42 and not first.cached
    assert Path(first.path).is_file() and Path(first.path).parent == tmp_path
    second = build.compile_c(src, cdef, directory=tmp_path)
    assert second.cached and second.lib is first.lib and second.compile_seconds == 0.0
    other = build.compile_c(src, cdef, flags=build.DEFAULT_FLAGS + ("-DSG_OTHER",), directory=tmp_path)
    assert not other.cached and other.key != first.key


def test_compile_error_reports_compiler_output(tmp_path):
    with pytest.raises(build.CompileError, match="sg_broken"):
        build.compile_c("int sg_broken(void) { return undeclared_name; }\n", "int sg_broken(void);", directory=tmp_path)
    assert not list(tmp_path.glob("*.so"))


def test_multiply_add_rounds_twice_like_numpy():
    """No fused multiply-add contraction (-ffp-contract=off): a*b + c is bit for bit NumPy's."""
    a, b, c = st.dvector("a"), st.dvector("b"), st.dvector("c")
    f = sg.function([a, b, c], a * b + c, mode=sg.Mode(linker="c"))
    assert f.implementations() == ["c"]
    r = np.random.default_rng(0)
    x, y, z = r.normal(size=(3, 20_000))
    np.testing.assert_array_equal(f(x, y, z), x * y + z)


@pytest.mark.skipif(not elemwise_codegen.simd_math_available(), reason="no libmvec")
def test_simd_declarations_cover_helpers_calling_libm():
    """A loop calling ``sg_tanh`` (computed from ``expm1``) gets ``expm1``'s SIMD declaration,
    wherever the call sits in the generated text: without it the loop is not vectorised (W1
    ran 14 times slower when a fused expression ended in a tanh)."""
    decl = '__attribute__((simd("notinbranch"))) double expm1(double);'
    for code in ["t6 = (npy_float64)(sg_tanh((npy_float64)t5)); po_[i_] = t7", "sg_tanh(e0)", "x = 1;"]:
        assert (decl in elemwise_codegen._simd_declarations(code)) == ("sg_tanh(" in code)
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    f = sg.function([x, y, z], st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y), mode=sg.Mode(linker="c"))
    assert decl in f.maker.linker.source
