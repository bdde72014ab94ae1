"""The region linker ('c' mode, symgraph/link/c/linker.py) and Function.implementations().

Functions compiled with ``sg.Mode(linker='c')`` must give the values of the default ('py')
mode on graphs mixing C-capable nodes with Python-only ones; implementations() must say which
nodes run in C; the C nodes of a function form regions of ONE extension module; errors from
C are reported like Python ones; pickled and copied functions work; modules land in the
compiledir and are found there by a fresh process; a module that fails to compile falls back
to Python with a warning.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.testing import PythonOnlyReverse
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.link.c import build
from symgraph.link.c.cache import ModuleCache
from symgraph.link.c.linker import CFallbackWarning, CheckLinker, CVMLinker
from symgraph.link.c.region import node_c_code
from symgraph.link.vm import VMLinker
from symgraph.tensor.composite import Composite
from symgraph.tensor.elemwise import Elemwise

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    # A node the generator accepted but gcc rejected is a bug: fail instead of falling back.
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")




def _compile_both(inputs, outputs, **kwargs):
    return sg.function(inputs, outputs, mode=PY_MODE, **kwargs), sg.function(inputs, outputs, mode=C_MODE, **kwargs)


def _assert_same_outputs(f_py, f_c, values, rtol=1e-12):
    with np.errstate(all="ignore"):
        expected = f_py(*values)
        got = f_c(*values)
    if not isinstance(expected, list):
        expected, got = [expected], [got]
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        e, g = np.asarray(e), np.asarray(g)
        assert e.dtype == g.dtype and e.shape == g.shape
        if e.dtype.kind == "f":
            # SIMD math (libmvec) differs from NumPy's by a few ulp; values here are O(1).
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * 1e-2, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)


def _check_implementations(f):
    """implementations() is one "c"/"py" per node: "c" exactly for nodes with C code."""
    impls = f.implementations()
    nodes = f.maker.fgraph.toposort()
    assert len(impls) == len(nodes) and set(impls) <= {"c", "py"}
    assert not f.maker.linker.fallback_reasons
    for node, impl in zip(nodes, impls):
        assert impl == ("c" if node_c_code(node) is not None else "py"), node
    return impls


# --------------------------------------------------------------------------- graphs

rng = np.random.default_rng(42)


def g_w1():
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    out = st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y)
    return [x, y, z], out, [rng.standard_normal(1000) for _ in range(3)]


def g_broadcast():
    x, r, c = st.dmatrix("x"), st.dvector("r"), st.tensor(dtype="float64", shape=(None, 1))
    out = st.sigmoid(x * r + c) - r / (1.0 + x**2)
    return [x, r, c], out, [rng.standard_normal((7, 5)), rng.standard_normal(5), rng.standard_normal((7, 1))]


def g_float32():
    x, y = st.fvector("x"), st.fvector("y")
    out = st.sqrt(st.abs(x)) * y + st.cos(x) / (2 + y * y)
    vals = [rng.standard_normal(64).astype("float32") for _ in range(2)]
    return [x, y], out, vals


def g_int64():
    a, b = st.lvector("a"), st.lvector("b")
    out = (a * 3 + b) // 2 - st.maximum(a, b) % 5
    return [a, b], out, [rng.integers(-100, 100, 50), rng.integers(1, 100, 50)]


def g_bool_logic():
    x, y = st.dvector("x"), st.dvector("y")
    mask = st.logical_and(st.gt(x, 0), st.logical_not(st.lt(y, -0.5)))
    return [x, y], [mask, st.where(mask, x * y, -x)], [rng.standard_normal(40), rng.standard_normal(40)]


def g_reduction_mix():
    x = st.dmatrix("x")
    e = st.exp(x - 1) * 2
    return [x], [e.sum(axis=1), st.logsumexp(x, axis=0), st.tanh(e).max()], [rng.standard_normal((6, 9))]


def g_dot_mix():
    a, b = st.dmatrix("a"), st.dmatrix("b")
    h = st.tanh(st.dot(a, b) + 1.0)
    return [a, b], [h * h - a.sum(), st.dot(h, b.T)], [rng.standard_normal((4, 3)), rng.standard_normal((3, 4))]


def g_indexing_mix():
    x, i = st.dmatrix("x"), st.lvector("i")
    y = st.exp(x) + 1
    return [x, i], [y[i] * 2, st.log(y[1:, ::2])], [rng.standard_normal((5, 6)), np.array([0, 4, 2])]


def g_mlp_grads():
    X, W1, W2 = st.dmatrix("X"), st.dmatrix("W1"), st.dmatrix("W2")
    y = st.lvector("y")
    logits = st.tanh(X @ W1) @ W2
    loss = st.mean(st.logsumexp(logits, axis=1) - logits[st.arange(X.shape[0]), y])
    gW1, gW2 = sg.grad(loss, [W1, W2])
    vals = [rng.standard_normal((16, 8)), rng.standard_normal((8, 8)) * 0.3, rng.standard_normal((8, 4)) * 0.3,
            rng.integers(0, 4, 16)]
    return [X, W1, W2, y], [loss, gW1, gW2], vals


def g_scalars():
    a, b = st.dscalar("a"), st.dscalar("b")
    return [a, b], a * b + 1, [np.float64(1.5), np.float64(-2.0)]


def g_python_op_between():
    x = st.dvector("x")
    r = PythonOnlyReverse()(st.exp(x) + 1.0)
    return [x], [st.tanh(r) * 2.0, r.sum()], [rng.standard_normal(9)]


GRAPHS = {f.__name__[2:]: f for f in (
    g_w1, g_broadcast, g_float32, g_int64, g_bool_logic, g_reduction_mix, g_dot_mix,
    g_indexing_mix, g_mlp_grads, g_scalars, g_python_op_between,
)}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_same_values_as_default_mode(name):
    inputs, outputs, values = GRAPHS[name]()
    f_py, f_c = _compile_both(inputs, outputs)
    rtol = 1e-5 if name == "float32" else 1e-12
    _assert_same_outputs(f_py, f_c, values, rtol=rtol)
    _assert_same_outputs(f_py, f_c, values, rtol=rtol)  # second call: reused cells and workspace
    impls = _check_implementations(f_c)
    assert "c" in impls, f"no node of {name} ran in C"
    assert f_py.implementations() == ["py"] * len(f_py.maker.fgraph.toposort())


def test_w1_is_one_fused_c_node():
    inputs, out, values = g_w1()
    f = sg.function(inputs, out, mode=C_MODE)
    (node,) = f.maker.fgraph.toposort()
    assert isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite)
    assert f.implementations() == ["c"]
    x, y, z = values
    np.testing.assert_allclose(f(x, y, z), np.exp(x) * y + np.log1p(z**2) - np.tanh(x * y), rtol=1e-12, atol=1e-14)


def test_mixed_graph_forms_several_regions_of_one_module():
    inputs, outputs, values = g_python_op_between()
    f = sg.function(inputs, outputs, mode=C_MODE)
    nodes = f.maker.fgraph.toposort()
    impls = dict(zip(nodes, f.implementations()))
    (py_node,) = [n for n in nodes if isinstance(n.op, PythonOnlyReverse)]
    assert impls[py_node] == "py" and all(i == "c" for n, i in impls.items() if n is not py_node)
    # Units: the C nodes before the Python node, the Python node, the C nodes after it.
    units = f.vm.thunk_nodes
    assert len(units) == len(f.vm.thunks) == 3
    assert units[1] == [py_node]
    assert sorted(map(id, units[0] + units[2])) == sorted(id(n) for n in nodes if n is not py_node)
    module = f.maker.linker.module
    assert module is not None and callable(module.region_0) and callable(module.region_1)
    assert not hasattr(module, "region_2")
    assert "sg_region_1" in f.maker.linker.source
    for k in (0, 2):
        assert f.vm.thunks[k].module is module and f.vm.thunks[k].region.nodes == units[k]
    (x,) = values
    r = np.exp(x)[::-1] + 1.0
    a, b = f(x)
    np.testing.assert_allclose(a, np.tanh(r) * 2.0, rtol=1e-12)
    np.testing.assert_allclose(b, r.sum(), rtol=1e-12)


def test_fused_elementwise_in_c_and_python_only_ops_in_python():
    inputs, outputs, values = g_mlp_grads()
    f = sg.function(inputs, outputs, mode=C_MODE)
    for node, impl in zip(f.maker.fgraph.toposort(), f.implementations()):
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite):
            assert impl == "c", node
    assert len(f.vm.thunks) < len(f.maker.fgraph.toposort())  # regions hold several nodes


def test_graphs_differing_in_a_constant_share_one_module():
    """Constants are region inputs, not source text: one module serves both values."""
    x = st.dvector("x")
    raw = sg.Mode(linker="c", optimizer=None)
    f1 = sg.function([x], st.exp(x) * 2.5, mode=raw)
    f2 = sg.function([x], st.exp(x) * 7.25, mode=raw)
    assert f1.maker.linker.module.__name__ == f2.maker.linker.module.__name__
    np.testing.assert_allclose(f1(np.zeros(3)), np.full(3, 2.5))
    np.testing.assert_allclose(f2(np.zeros(3)), np.full(3, 7.25))
    # With rewriting, a constant feeding a non-elementwise node stays a region input too.
    a = st.dmatrix("a")
    g1 = sg.function([a], st.tanh(st.dot(a, st.constant(np.eye(3)))), mode=C_MODE)
    g2 = sg.function([a], st.tanh(st.dot(a, st.constant(2 * np.eye(3)))), mode=C_MODE)
    assert set(g1.implementations()) == {"c"}
    assert g1.maker.linker.module.__name__ == g2.maker.linker.module.__name__
    m = np.arange(6.0).reshape(2, 3) / 6
    np.testing.assert_allclose(g1(m), np.tanh(m), rtol=1e-12)
    np.testing.assert_allclose(g2(m), np.tanh(2 * m), rtol=1e-12)


def test_node_without_c_falls_back_to_python():
    # integer power has no C (NumPy raises for negative exponents, which C cannot report)
    x, y = st.ivector("x"), st.ivector("y")
    f_py, f_c = _compile_both([x, y], x**y)
    a = np.arange(5, dtype="int32")
    _assert_same_outputs(f_py, f_c, [a, a])
    assert f_c.implementations() == ["py"]
    assert f_c.maker.linker.module is None  # no region, no compilation


def test_mode_and_linker_registration():
    assert C_MODE.linker == "c"
    assert type(C_MODE.make_linker()) is CVMLinker
    assert type(sg.Mode(linker="check").make_linker()) is CheckLinker
    assert type(PY_MODE.make_linker()) is VMLinker
    with pytest.raises(ValueError, match="unknown linker"):
        sg.Mode(linker="cc")


def test_shape_error_names_op_and_user_line():
    x, y = st.dvector("x"), st.dvector("y")
    out = st.exp(x) * y  # the line the report must point at
    f = sg.function([x, y], out, mode=C_MODE)
    assert f.implementations() == ["c"]
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    message = str(info.value)
    assert "input 0 has shape (3,) and input 1 has shape (4,)" in message
    assert "Apply node that caused the error" in message and "Op:" in message
    assert "Backtrace when the node was created" in message and "test_c_linker.py" in message
    assert "out = st.exp(x) * y" in message
    # The function still works after the error.
    np.testing.assert_allclose(f(np.ones(3), np.ones(3)), np.e * np.ones(3))


def test_error_names_the_failing_node_of_a_region():
    """In a region of several nodes, the report names the node that failed, not the first."""
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    first = st.exp(x)
    second = first * y  # fails when y's length differs
    third = st.dot(second, z)  # fails when z's length differs
    f = sg.function([x, y, z], [first, third], mode=sg.Mode(linker="c", optimizer=None))
    assert len(f.vm.thunks) == 1 and set(f.implementations()) == {"c"}
    with pytest.raises(ValueError, match=r"Apply node that caused the error: Mul"):
        f(np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match=r"Apply node that caused the error: .*Dot"):
        f(np.ones(3), np.ones(3), np.ones(5))


def test_pickle_round_trip():
    inputs, outputs, values = g_mlp_grads()
    f = sg.function(inputs, outputs, mode=C_MODE)
    g = pickle.loads(pickle.dumps(f))
    assert g.maker.mode.linker == "c"
    assert g.implementations() == f.implementations() and "c" in g.implementations()
    for a, b in zip(f(*values), g(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_copy_keeps_c_regions():
    inputs, out, values = g_w1()
    f = sg.function(inputs, out, mode=C_MODE)
    g = f.copy()
    assert g.implementations() == ["c"]
    np.testing.assert_array_equal(f(*values), g(*values))


def test_outputs_are_fresh_arrays():
    """no_recycling: a result handed to the user is never overwritten by the next call."""
    x = st.dvector("x")
    f = sg.function([x], [st.exp(x) + 1, st.exp(x).sum()], mode=C_MODE)
    assert set(f.implementations()) == {"c"}
    first, s1 = f(np.zeros(3))
    second, s2 = f(np.ones(3))
    np.testing.assert_array_equal(first, np.full(3, 2.0))
    assert s1 == 3.0 and first is not second and s1 is not s2
    assert not np.shares_memory(first, second)


_SUBPROCESS_GRAPH = "st.exp(x) * 1234.5678 + 0.25"


def test_module_is_written_to_compiledir_and_found_by_a_fresh_process(tmp_path):
    compiledir = tmp_path / "compiledir"
    sg.config.compiledir = str(compiledir)  # restored by conftest's _restore_config
    build.clear_memory_cache()
    x = st.dvector("x")
    out = eval(_SUBPROCESS_GRAPH)
    f = sg.function([x], out, mode=C_MODE)
    assert f.implementations() == ["c"]
    keys = ModuleCache(compiledir).keys()
    assert len(keys) == 1
    entry = ModuleCache(compiledir).entry_dir(keys[0])
    assert (entry / "manifest.json").is_file() and (entry / "source.c").is_file()
    assert not [p for p in entry.iterdir() if p.name.startswith(".tmp-")]
    module = f.maker.linker.module
    assert Path(module.__file__).resolve().is_relative_to(compiledir.resolve())
    assert not module.__sg_disk_cached__ and module.__sg_compile_seconds__ > 0
    script = textwrap.dedent(f"""
        import json, numpy as np, symgraph as sg, symgraph.tensor as st
        x = st.dvector("x")
        f = sg.function([x], {_SUBPROCESS_GRAPH}, mode=sg.Mode(linker="c"))
        m = f.maker.linker.module
        print(json.dumps({{"cached": m.__sg_disk_cached__, "seconds": m.__sg_compile_seconds__,
                          "file": m.__file__, "impls": f.implementations(),
                          "value": f(np.zeros(2)).tolist()}}))
    """)
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(compiledir))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["cached"] is True and report["seconds"] == 0.0 and report["impls"] == ["c"]
    assert Path(report["file"]).resolve().is_relative_to(compiledir.resolve())
    assert ModuleCache(compiledir).keys() == keys
    np.testing.assert_allclose(report["value"], [1234.8178, 1234.8178])


def test_explicit_directory_bypasses_disk_cache(tmp_path):
    compiledir = tmp_path / "compiledir"
    sg.config.compiledir = str(compiledir)
    src = "int sg_seven(void) { return 7; }\n"
    module = build.compile_c(src, "int sg_seven(void);", directory=tmp_path / "direct")
    assert module.lib.sg_seven() == 7 and module.path.startswith(str(tmp_path / "direct"))
    assert ModuleCache(compiledir).keys() == []


def test_header_contents_are_part_of_the_disk_key(tmp_path):
    (tmp_path / "a.h").write_text("#define A 1\n")
    first = build.runtime_headers_digest(tmp_path)
    (tmp_path / "a.h").write_text("#define A 2\n")
    assert build.runtime_headers_digest(tmp_path) != first


def test_compile_failure_falls_back_with_warning(monkeypatch):
    from symgraph.link.c import linker as linker_mod

    def broken(*args, **kwargs):
        raise build.CompileError("gcc said no")

    monkeypatch.setattr(linker_mod, "compile_extension", broken)
    inputs, outputs, values = g_python_op_between()
    with pytest.warns(CFallbackWarning, match="gcc said no"):
        f = sg.function(inputs, outputs, mode=C_MODE)
    assert set(f.implementations()) == {"py"}
    assert f.maker.linker.module is None
    reasons = f.maker.linker.fallback_reasons
    assert reasons and all("gcc said no" in r for r in reasons.values())
    assert not any(isinstance(n.op, PythonOnlyReverse) for n in reasons)
    f_py = sg.function(inputs, outputs, mode=PY_MODE)
    _assert_same_outputs(f_py, f, values)


class _PyTensorStyleOp(Op):
    """A user op whose c_code is written against PyTensor's C API (PyArrayObject* names): it
    cannot compile in symgraph's contract, and must not take the built-in C down with it."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + 1.0

    def c_code(self, node, name, inputs, outputs, sub):
        (x,), (z,) = inputs, outputs
        return f"Py_XDECREF({z}); {z} = (PyArrayObject*)PyArray_NewCopy({x}, NPY_ANYORDER); {sub['fail']}"


def test_user_c_code_that_fails_to_compile_runs_in_python_and_the_rest_stays_c():
    x = st.dvector("x")
    out = st.exp(_PyTensorStyleOp()(st.sin(x) * 2)) + 1
    with pytest.warns(CFallbackWarning, match="failed to compile"):
        f = sg.function([x], out, mode=C_MODE)
    impls = dict(zip(f.maker.fgraph.toposort(), f.implementations()))
    assert {impl for node, impl in impls.items() if isinstance(node.op, _PyTensorStyleOp)} == {"py"}
    assert {impl for node, impl in impls.items() if not isinstance(node.op, _PyTensorStyleOp)} == {"c"}
    v = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(f(v), np.exp(np.sin(v) * 2 + 1.0) + 1)


def test_clustering_keeps_the_destroy_handlers_order():
    """An in-place Python node overwriting y must still run after the C node reading y, even
    though clustering C nodes would otherwise run the Python nodes back to back first (this
    gave a silent wrong answer before plan_units took fgraph.orderings() into account)."""
    x, idx = st.dvector("x"), st.lvector("idx")
    y = x * 2
    reader = st.exp(y) + st.cumsum(x)  # C, but only after the Python cumsum
    destroyer = st.inc_subtensor(y[idx], 1.0)  # Python, in place on y
    f = sg.function([x, idx], [reader, destroyer], mode=C_MODE)
    g = sg.function([x, idx], [reader, destroyer], mode=sg.Mode(linker="py"))
    assert any(node.op.destroy_map for node in f.maker.fgraph.toposort() if str(node.op).startswith("AdvancedInc"))
    xv, iv = np.arange(4.0), np.array([0, 2])
    for got, want in zip(f(xv, iv), g(xv, iv)):
        np.testing.assert_allclose(got, want)
