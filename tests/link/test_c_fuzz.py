"""Fuzzing the C backend: compiled functions against the Python linker on random inputs.

A few fixed graphs (fused elementwise with broadcasting, reductions, dot, a transpose, a
graph mixing C and Python nodes) are compiled once with ``sg.Mode(linker="c")`` and once
with the Python linker. Hypothesis feeds them random shapes (sizes 0 and 1 included),
dtypes where the graph allows, NaN/inf values and non-contiguous layouts (stepped slices,
transposes, negative strides): the results must agree, and wrong shapes must raise
``ValueError``/``TypeError`` in C whenever they are not valid. The last test runs a fuzz
loop in a subprocess, so a segfault shows as a failed test instead of killing pytest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import symgraph as sg
import symgraph.tensor as st
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class PySort(Op):
    """A Python-only op: sorts along the last axis."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.sort(inputs[0], axis=-1)


# --------------------------------------------------------------------------- graphs


def _elemwise(dtype):
    x = st.tensor("x", dtype=dtype, shape=(None, None))
    r = st.tensor("r", dtype=dtype, shape=(1, None))
    c = st.tensor("c", dtype=dtype, shape=(None, 1))
    out = st.exp(x) * r + st.tanh(c - x) / (1 + r * r)
    return [x, r, c], [out, st.where(st.gt(x, c), x, r)]


def _reduction(dtype):
    x = st.tensor("x", dtype=dtype, shape=(None, None))
    return [x], [x.sum(axis=0), x.max(axis=1), x.mean(), (x * 2).min(axis=0)]


def _dot(dtype):
    a = st.tensor("a", dtype=dtype, shape=(None, None))
    b = st.tensor("b", dtype=dtype, shape=(None, None))
    v = st.tensor("v", dtype=dtype, shape=(None,))
    return [a, b, v], [st.dot(a, b), st.dot(a, v)]


def _transpose(dtype):
    x = st.tensor("x", dtype=dtype, shape=(None, None))
    return [x], [x.T, x.T * 2 + 1, x.dimshuffle("x", 1, 0)]


def _mixed(dtype):
    x = st.tensor("x", dtype=dtype, shape=(None, None))
    s = PySort()(st.exp(x) - 1)
    return [x], [st.tanh(s) * 2, s.sum(axis=1)]


# dot gets finite values only: with NaN/inf, NumPy's result depends on the BLAS (reference
# gemv skips zero entries of x, so np.dot([[nan]], [0.]) is 0 while nan * 0 is NaN).
GRAPHS = {
    "elemwise": (_elemwise, ("float64", "float32")),
    "reduction": (_reduction, ("float64", "float32", "int64")),
    "dot": (_dot, ("float64", "float32")),
    "transpose": (_transpose, ("float64", "int64")),
    "mixed": (_mixed, ("float64",)),
}
CASES = [(name, dtype) for name, (_, dtypes) in GRAPHS.items() for dtype in dtypes]


@pytest.fixture(scope="module")
def compiled():
    """Per (graph, dtype): (symbolic inputs, C function, trusted C function, Python function),
    compiled on first use."""
    cache = {}

    def get(name, dtype):
        if (name, dtype) not in cache:
            inputs, outputs = GRAPHS[name][0](dtype)
            cache[name, dtype] = (
                inputs,
                sg.function(inputs, outputs, mode=C_MODE),
                sg.function(inputs, outputs, mode=C_MODE, trust_input=True),
                sg.function(inputs, outputs, mode=PY_MODE),
            )
        return cache[name, dtype]

    return get


# --------------------------------------------------------------------------- values

SPECIAL = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0)
LAYOUTS = ("c", "fortran", "step", "negative", "transpose")


def _layout(data, value, layout):
    """``value`` (a C-contiguous array) presented with ``layout``: same values, other strides."""
    if value.ndim == 0 or layout == "c":
        return value
    if layout == "fortran":
        return np.asfortranarray(value)
    if layout == "negative":
        return np.ascontiguousarray(value[(slice(None, None, -1),) * value.ndim])[(slice(None, None, -1),) * value.ndim]
    if layout == "transpose":
        return np.ascontiguousarray(value.T).T
    step = data.draw(hs.integers(2, 3), label="step")
    buf = np.zeros(value.shape[:-1] + (value.shape[-1] * step,), dtype=value.dtype)
    buf[..., ::step] = value
    return buf[..., ::step]


def _values(data, dtype, shape, special=True):
    n = int(np.prod(shape))
    if dtype == "int64":
        flat = data.draw(hs.lists(hs.integers(-1000, 1000), min_size=n, max_size=n), label="ints")
        return np.array(flat, dtype="int64").reshape(shape)
    width = 32 if dtype == "float32" else 64
    element = hs.floats(-50, 50, width=width)
    if special:
        element = hs.one_of(element, hs.sampled_from(SPECIAL))
    flat = data.draw(hs.lists(element, min_size=n, max_size=n), label="floats")
    return np.array(flat, dtype=dtype).reshape(shape)


def _shapes(data, name, inputs, valid):
    """Input shapes for graph ``name``: consistent ones, or (``valid=False``) sizes drawn
    independently per dimension, usually wrong."""
    size = hs.sampled_from([0, 1, 1, 2, 3, 4, 7])
    dims = {k: data.draw(size, label=f"dim {k}") for k in "mnk"}

    def free():
        return data.draw(size, label="free dim")

    if name == "elemwise":
        m, n = dims["m"], dims["n"]
        shapes = [(m, n), (1, n), (m, 1)]
        if not valid:
            shapes = [(free(), free()), (1, free()), (free(), 1)]
    elif name == "dot":
        m, k, n = dims["m"], dims["k"], dims["n"]
        shapes = [(m, k), (k, n), (k,)] if valid else [(m, free()), (free(), n), (free(),)]
    else:
        shapes = [(dims["m"], dims["n"])]
    return shapes


def _run(f, values):
    """``("ok", outputs)`` or ``("error", exception)``."""
    try:
        with np.errstate(all="ignore"):
            return "ok", f(*values)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is what is compared
        return "error", exc


def _compare(name, dtype, got, expected):
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        g, e = np.asarray(g), np.asarray(e)
        what = f"{name}-{dtype} output {k}"
        assert g.dtype == e.dtype and g.shape == e.shape, f"{what}: {g.dtype}{g.shape} vs {e.dtype}{e.shape}"
        if e.dtype.kind == "f":
            # Sums and dots may add in another order; values are at most 50 in magnitude.
            tol = 1e-4 if e.dtype == np.float32 else 1e-10
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol * 100, equal_nan=True, err_msg=what)
        else:
            np.testing.assert_array_equal(g, e, err_msg=what)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{d}" for n, d in CASES])
def test_graphs_run_in_c(compiled, name, dtype):
    _, f_c, _, _ = compiled(name, dtype)
    impls = f_c.implementations()
    nodes = f_c.maker.fgraph.toposort()
    assert "c" in impls, f"{name}-{dtype}: no node in C"
    if name == "mixed":
        assert [type(n.op).__name__ for n, i in zip(nodes, impls) if i == "py"] == ["PySort"]


@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{d}" for n, d in CASES])
@FUZZ
@given(data=hs.data())
def test_same_results_as_python(compiled, name, dtype, data):
    inputs, f_c, _, f_py = compiled(name, dtype)
    shapes = _shapes(data, name, inputs, valid=True)
    values = []
    for shape in shapes:
        value = _values(data, dtype, shape, special=name != "dot")
        values.append(_layout(data, value, data.draw(hs.sampled_from(LAYOUTS), label="layout")))
    kind_py, expected = _run(f_py, [np.copy(v) for v in values])
    kind_c, got = _run(f_c, values)
    if kind_py == "error":  # e.g. max of an empty array: C must refuse too, cleanly
        assert kind_c == "error" and isinstance(got, (ValueError, TypeError)), (expected, got)
        return
    assert kind_c == "ok", got
    _compare(name, dtype, got, expected)


@pytest.mark.parametrize("name", ["elemwise", "dot"])
@FUZZ
@given(data=hs.data())
def test_wrong_shapes_raise(compiled, name, data):
    inputs, f_c, f_trusted, f_py = compiled(name, "float64")
    shapes = _shapes(data, name, inputs, valid=False)
    values = [_values(data, "float64", s, special=name != "dot") for s in shapes]
    kind_py, expected = _run(f_py, [np.copy(v) for v in values])
    for f in (f_c, f_trusted):
        kind_c, got = _run(f, values)
        if kind_py == "ok" and f is f_c:
            assert kind_c == "ok", got
            _compare(name, "float64", got, expected)
        elif kind_py == "error":
            assert kind_c == "error" and isinstance(got, (ValueError, TypeError)), got
        # trusted inputs skip the static-shape check the Python run had: C may accept or refuse
        elif kind_c == "error":
            assert isinstance(got, (ValueError, TypeError)), got


@FUZZ
@given(data=hs.data())
def test_wrong_rank_or_dtype_is_a_type_error(compiled, data):
    inputs, f_c, f_trusted, _ = compiled("elemwise", "float64")
    values = [np.ones((2, 3)), np.ones((1, 3)), np.ones((2, 1))]
    k = data.draw(hs.integers(0, 2), label="input")
    wrong = data.draw(hs.sampled_from(["rank", "dtype", "list", "none"]), label="what")
    if wrong == "rank":
        values[k] = values[k][..., None] if data.draw(hs.booleans(), label="higher") else values[k][0]
    elif wrong == "dtype":
        values[k] = values[k].astype(data.draw(hs.sampled_from(["float32", "int64", "bool", "complex128"])))
    elif wrong == "list":
        values[k] = values[k].tolist()
    else:
        values[k] = None
    kind, got = _run(f_trusted, values)
    assert kind == "error" and isinstance(got, TypeError), got
    kind, got = _run(f_c, values)
    # Checked inputs convert safe casts and lists; anything else is refused with TypeError.
    assert kind == "ok" or isinstance(got, TypeError), got


_SUBPROCESS_FUZZ = textwrap.dedent("""
    import numpy as np, symgraph as sg, symgraph.tensor as st
    x = st.dmatrix("x")
    r = st.tensor("r", dtype="float64", shape=(1, None))
    a = st.dmatrix("a")
    outs = [st.exp(x) * r + st.tanh(x).sum(axis=0), st.dot(x.T, a).max(axis=0)]
    f = sg.function([x, r, a], outs, mode=sg.Mode(linker="c"), trust_input=True)
    g = sg.function([x, r, a], outs, mode=sg.Mode(linker="py"))
    assert "c" in f.implementations()
    rng = np.random.default_rng(0)
    sizes = [0, 1, 2, 3, 5]
    ok = errors = 0
    for it in range(300):
        m, n, k = (int(rng.choice(sizes)) for _ in range(3))
        xs = (m, n) if rng.random() < 0.7 else (int(rng.choice(sizes)), n)
        vals = [rng.standard_normal(xs), rng.standard_normal((int(rng.choice([1, 1, 0, 2])), n)),
                rng.standard_normal((m if rng.random() < 0.7 else k, k))]
        vals = [v[::-1] if rng.random() < 0.3 else v for v in vals]
        vals = [np.asfortranarray(v) if rng.random() < 0.3 else v for v in vals]
        if rng.random() < 0.1:
            vals[int(rng.integers(3))] = rng.standard_normal(3)  # wrong rank
        try:
            got = f(*vals)
        except (ValueError, TypeError):
            errors += 1
            continue
        want = g(*vals)
        for p, q in zip(got, want):
            np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-10)
        ok += 1
    assert ok > 50 and errors > 20, (ok, errors)
    print("fuzz ok", ok, errors)
""")


def test_fuzz_loop_in_a_subprocess():
    """A crash (segfault, abort) in C would kill pytest itself: run a loop in a child."""
    proc = subprocess.run([sys.executable, "-c", _SUBPROCESS_FUZZ], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "fuzz ok" in proc.stdout
