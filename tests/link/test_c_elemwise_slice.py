"""The C elementwise prototype (symgraph/link/c/elemwise_codegen.py) against the Python thunks.

Every supported row of the scalar table and a set of fused composites (made by FAST_RUN) is
run through the generated C and through ``Op.make_thunk`` (Python) on the same inputs:
values must agree (NaN-equal) and dtypes must be identical, for contiguous, broadcast,
non-contiguous (transposed, sliced), empty and 0-d arrays, with NaN and inf. Bad shapes must
give a ``ValueError``, never a crash.
"""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import build
from symgraph.link.c.elemwise_codegen import (
    generate_elemwise_c,
    compile_elemwise,
    make_c_thunk,
)
from symgraph.link.c import elemwise_codegen
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, get_scalar_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tensor"))
from elemwise_cases import CASES, draw  # noqa: E402 - shared row domains

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")

DTYPES = ("float64", "float32", "int64", "bool")
HELPERS = build.has_header("sg_math.h")


@pytest.fixture(scope="module", autouse=True)
def _temporary_compiledir(tmp_path_factory):
    """Modules compiled here go to a temporary disk cache, never the user's compiledir
    (compile_c uses config.compiledir's cache when no directory is given)."""
    saved = sg.config.compiledir
    sg.config.compiledir = str(tmp_path_factory.mktemp("compiledir"))
    yield
    sg.config.compiledir = saved


# --------------------------------------------------------------------------- helpers


def _run_thunk(node, values, use_c):
    storage = {v: [x] for v, x in zip(node.inputs, values)}
    storage[node.outputs[0]] = [None]
    compute = {v: [True] for v in node.inputs}
    compute[node.outputs[0]] = [False]
    if use_c:
        thunk = make_c_thunk(node, storage, compute, [])
    else:
        thunk = node.op.make_thunk(node, storage, compute, [])
    assert thunk.lazy is False and thunk.outputs == [storage[node.outputs[0]]]
    with np.errstate(all="ignore"):
        thunk()
    assert compute[node.outputs[0]][0] is True
    return storage[node.outputs[0]][0]


def _assert_same(node, values, rtol=1e-12, atol=0.0):
    c_out = _run_thunk(node, values, use_c=True)
    py_out = _run_thunk(node, values, use_c=False)
    assert type(c_out) is np.ndarray
    assert c_out.dtype == py_out.dtype == node.outputs[0].type.numpy_dtype
    assert c_out.shape == py_out.shape
    if c_out.dtype.kind == "f":
        np.testing.assert_allclose(c_out, py_out, rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(c_out, py_out)
    return c_out


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


def _row_node(name, dtype):
    """A 2-d node of row ``name``: input 0 fully dynamic, the others broadcast along rows."""
    op = get_scalar_op(name)
    case = CASES.get(name)
    nin = 2 if op.variadic else op.nin
    variables = []
    for k in range(nin):
        d = case.fixed_dtypes.get(k, dtype) if case else dtype
        variables.append(st.tensor(dtype=d, shape=(None, None) if k == 0 else (1, None)))
    return st.Elemwise(op)(*variables).owner


def _row_values(name, dtype, shapes, rng):
    case = CASES.get(name)
    if case is None:  # cast rows
        return [np.asarray(rng.uniform(-3, 3, size=shapes[0])).astype(dtype)]
    return [draw(case, dtype, s, rng, k) for k, s in enumerate(shapes)]


ROWS = [(r.name, d) for r in SCALAR_OP_TABLE for d in DTYPES if _row_supported(r.name, d)]


@pytest.fixture(scope="module")
def row_nodes():
    """All row nodes, compiled up front on both cores (one gcc run each)."""
    nodes = {key: _row_node(*key) for key in ROWS}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(compile_elemwise, nodes.values()))
    return nodes


# --------------------------------------------------------------------------- table rows


def test_row_coverage():
    """The prototype covers the arithmetic, transcendental, comparison and cast rows."""
    names = {n for n, _ in ROWS}
    for expected in ("add", "mul", "true_div", "exp", "log1p", "tanh", "arctan2", "lt", "where", "cast_int64"):
        assert expected in names
    assert len(ROWS) > 100


@pytest.mark.parametrize("name, dtype", ROWS, ids=[f"{n}-{d}" for n, d in ROWS])
def test_row_matches_python(row_nodes, name, dtype):
    node = row_nodes[(name, dtype)]
    rng = np.random.default_rng(1)
    nin = len(node.inputs)
    rtol = 1e-5 if node.outputs[0].dtype == "float32" else 1e-12
    full = _row_values(name, dtype, [(5, 7)] + [(1, 7)] * (nin - 1), rng)
    _assert_same(node, full, rtol=rtol)  # broadcast along dimension 0 (strided path)
    # Non-contiguous input 0: a transposed view and a sliced view.
    big = _row_values(name, dtype, [(7, 10)] + [(1, 7)] * (nin - 1), rng)
    _assert_same(node, [big[0].T[::2]] + big[1:], rtol=rtol)  # (5, 7), strides (16, 80)
    _assert_same(node, [np.asfortranarray(big[0].T[::2])] + big[1:], rtol=rtol)  # Fortran order
    rows = _row_values(name, dtype, [(7, 10)] + [(1, 5)] * (nin - 1), rng)
    _assert_same(node, [rows[0][:, ::2]] + rows[1:], rtol=rtol)
    # Empty output, and a one-row output where every input is contiguous (flat loop).
    empty = _row_values(name, dtype, [(0, 7)] + [(1, 7)] * (nin - 1), rng)
    assert _assert_same(node, empty).shape == (0, 7)
    one = _row_values(name, dtype, [(1, 9)] * nin, rng)
    _assert_same(node, one, rtol=rtol)


# --------------------------------------------------------------------------- composites


def _vars(*specs):
    return [st.tensor(name, dtype=d, shape=s) for name, d, s in specs]


def _composite_graphs():
    x, y, z = _vars(("x", "float64", (None, None)), ("y", "float64", (None, None)), ("z", "float64", (None, None)))
    r = st.tensor("r", dtype="float64", shape=(1, None))
    a, b = _vars(("a", "float32", (None, None)), ("b", "float32", (None, None)))
    i, j = _vars(("i", "int64", (None, None)), ("j", "int64", (None, None)))
    return {
        "w1": ([x, y, z], st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y)),
        "row_broadcast": ([x, r], st.sqrt(st.abs(x) + 1.0) * r - st.cos(x) / (r * r + 2.0)),
        "where_compare": ([x, y], st.where(st.lt(x, y), st.exp(x), st.sin(y) * 2.0) + 1.0),
        "float32": ([a, b], st.tanh(a * b) + st.exp(a) / (b * b + 1.0)),
        "int_mix": ([i, j, x], (i * j + 3) * x - st.true_div(i, j + 100)),
        "int_only": ([i, j], (i - j) * (i + j) * 7 - i),
        "nan_const": ([x, y], st.where(st.isnan(x), float("nan"), x * y) + y),
        "cmp_bool": ([x, y], st.logical_and(st.gt(x * y, 0.1), st.isfinite(x + y))),
    }


GRAPHS = _composite_graphs()


def _fused_nodes(name):
    inputs, out = GRAPHS[name]
    f = sg.function(inputs, out, mode="FAST_RUN")
    nodes = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, st.Elemwise)]
    assert nodes, f"no Elemwise node left in {name}"
    return f, nodes


def _inputs_for(node, shape, rng, special=False):
    values = []
    for v in node.inputs:
        s = tuple(1 if st_ == 1 else n for st_, n in zip(v.type.shape, shape))
        if v.dtype == "int64":
            values.append(rng.integers(-5, 6, size=s).astype("int64"))
            continue
        arr = rng.uniform(-2, 2, size=s)
        if special and arr.size >= 4:
            flat = arr.reshape(-1)
            flat[:4] = [np.nan, np.inf, -np.inf, 0.0]
        values.append(arr.astype(v.dtype))
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


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_composite_matches_python(name):
    _, nodes = _fused_nodes(name)
    if name in ("w1", "float32", "row_broadcast"):
        assert any(type(n.op.scalar_op).__name__ == "Composite" for n in nodes)
    rng = np.random.default_rng(2)
    for node in nodes:
        rtol = 1e-5 if node.outputs[0].dtype == "float32" else 1e-12
        nd = node.outputs[0].type.ndim
        shape = (6, 9)[:nd] if nd <= 2 else (3,) * nd
        _assert_same(node, _inputs_for(node, shape, rng), rtol=rtol)
        _assert_same(node, _inputs_for(node, shape, rng, special=True), rtol=rtol)
        # non-contiguous: the same shape taken from a transposed, strided buffer
        if nd == 2:
            strided = [_transposed_strided(v) for v in _inputs_for(node, shape, rng, special=True)]
            _assert_same(node, strided, rtol=rtol)
            assert _assert_same(node, _inputs_for(node, (0, shape[1]), rng)).size == 0


def test_w1_values_against_numpy():
    """The fused W1 node in C gives NumPy's values at a size that uses the vector loop."""
    _, nodes = _fused_nodes("w1")
    (node,) = nodes
    rng = np.random.default_rng(3)
    X, Y, Z = (rng.standard_normal((100, 1000)) for _ in range(3))
    out = _run_thunk(node, [X, Y, Z], use_c=True)
    ref = np.exp(X) * Y + np.log1p(Z**2) - np.tanh(X * Y)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-13)


def test_zero_dim():
    x, y = st.tensor("x", dtype="float64", shape=()), st.tensor("y", dtype="float64", shape=())
    node = st.Elemwise(get_scalar_op("mul"))(x, y).owner
    out = _assert_same(node, [np.array(2.5), np.array(-3.0)])
    assert out.shape == () and out == -7.5
    f, nodes = _fused_nodes_for([x, y], st.exp(x) * y + st.tanh(x))
    for n in nodes:
        _assert_same(n, [np.array(0.5), np.array(np.nan)])
        _assert_same(n, [np.array(np.inf), np.array(2.0)])


def _fused_nodes_for(inputs, out):
    f = sg.function(inputs, out, mode="FAST_RUN")
    return f, [n for n in f.maker.fgraph.toposort() if isinstance(n.op, st.Elemwise)]


def test_three_dims_and_broadcast_in_middle():
    x = st.tensor("x", dtype="float64", shape=(None, None, None))
    m = st.tensor("m", dtype="float64", shape=(None, 1, None))
    _, nodes = _fused_nodes_for([x, m], st.exp(x) * m + st.sin(m - x))
    rng = np.random.default_rng(4)
    for node in nodes:
        X = rng.standard_normal((3, 4, 5))
        M = rng.standard_normal((3, 1, 5))
        _assert_same(node, [X, M])
        _assert_same(node, [X.transpose(2, 0, 1).copy().transpose(1, 2, 0), M[:, :, ::-1]])
        _assert_same(node, [np.zeros((3, 0, 5)), M])


# --------------------------------------------------------------------------- errors


def _add_node(shape_x=(None, None), shape_y=(None, None)):
    x = st.tensor("x", dtype="float64", shape=shape_x)
    y = st.tensor("y", dtype="float64", shape=shape_y)
    return st.Elemwise(get_scalar_op("add"))(x, y).owner


def test_shape_mismatch_is_a_value_error():
    node = _add_node()
    with pytest.raises(ValueError, match=r"input 1 has size 4 in dimension 1, but the output has size 3"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((2, 4))], use_c=True)
    # A run-time size 1 in a dimension not declared broadcastable does not broadcast.
    with pytest.raises(ValueError, match=r"input 1 has size 1 in dimension 0.*static size 1"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((1, 3))], use_c=True)
    # and neither does an empty dimension against a non-empty one
    with pytest.raises(ValueError, match="dimension 0"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((0, 3))], use_c=True)


def test_static_one_dimension_is_checked():
    node = _add_node(shape_y=(1, None))
    with pytest.raises(ValueError, match=r"input 1 has size 0 in dimension 0, but its type declares static size 1"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((0, 3))], use_c=True)
    with pytest.raises(ValueError, match="input 1 has size 2 in dimension 0"):
        _run_thunk(node, [np.zeros((4, 3)), np.zeros((2, 3))], use_c=True)


def test_wrong_ndim_and_dtype():
    node = _add_node()
    with pytest.raises(ValueError, match="input 1 has 3 dimensions, expected 2"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((2, 3, 1))], use_c=True)
    with pytest.raises(TypeError, match="dtype float32, expected float64"):
        _run_thunk(node, [np.zeros((2, 3)), np.zeros((2, 3), dtype="float32")], use_c=True)


def test_unsupported_nodes_raise_not_implemented():
    i = st.tensor("i", dtype="int64", shape=(None,))
    with pytest.raises(NotImplementedError, match="integer power"):
        generate_elemwise_c((i**i).owner)
    s = st.tensor("s", dtype="int16", shape=(None,))
    with pytest.raises(NotImplementedError, match="int16"):
        generate_elemwise_c((s + s).owner)
    with pytest.raises(NotImplementedError, match="not an Elemwise"):
        generate_elemwise_c(st.tensor("v", dtype="float64", shape=(None, None)).T.owner)


def test_helper_rows_need_the_runtime_header(monkeypatch):
    """Without c_backend/sg_math.h, rows calling sg_* helpers are refused, not miscompiled."""
    monkeypatch.setattr(elemwise_codegen, "_runtime_helpers_available", lambda: False)
    x = st.tensor("x", dtype="float64", shape=(None,))
    with pytest.raises(NotImplementedError, match="sg_softplus"):
        generate_elemwise_c(st.Elemwise(get_scalar_op("softplus"))(x).owner)
    assert "sg_math.h" not in generate_elemwise_c(st.exp(x).owner)


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
