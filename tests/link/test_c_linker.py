"""The opt-in 'c' linker (symgraph/link/c/linker.py) and Function.implementations().

Functions compiled with ``sg.Mode(linker='c')`` must give the values of the default ('py')
mode on graphs that mix C-capable elementwise nodes with Python-only ops; implementations()
must say which nodes run in C; errors from C nodes must be reported like Python ones; pickled
functions must load; compiled modules must land in the (temporary) compiledir.
"""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import build
from symgraph.link.c.cache import ModuleCache
from symgraph.link.c.linker import CFallbackWarning, CVMLinker
from symgraph.tensor.composite import Composite
from symgraph.tensor.elemwise import Elemwise

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    # A node the generator accepted but gcc rejected is a bug: fail instead of falling back.
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

C_MODE = sg.Mode(linker="c")


@pytest.fixture(scope="module", autouse=True)
def compiledir(tmp_path_factory):
    """Every module compiled here goes to a temporary cache, never the user's compiledir."""
    saved = sg.config.compiledir
    root = tmp_path_factory.mktemp("compiledir")
    sg.config.compiledir = str(root)
    yield root
    sg.config.compiledir = saved


def _compile_both(inputs, outputs):
    return sg.function(inputs, outputs), sg.function(inputs, outputs, mode=C_MODE)


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
    """implementations() is one "c"/"py" per node; only elementwise nodes are in C."""
    impls = f.implementations()
    nodes = f.maker.fgraph.toposort()
    assert len(impls) == len(nodes) and set(impls) <= {"c", "py"}
    for node, impl in zip(nodes, impls):
        if impl == "c":
            assert isinstance(node.op, Elemwise)
        elif isinstance(node.op, Elemwise):
            assert node in f.maker.linker.fallback_reasons  # a refused node says why
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


GRAPHS = {f.__name__[2:]: f for f in (
    g_w1, g_broadcast, g_float32, g_int64, g_bool_logic, g_reduction_mix, g_dot_mix,
    g_indexing_mix, g_mlp_grads, g_scalars,
)}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_same_values_as_default_mode(name):
    inputs, outputs, values = GRAPHS[name]()
    f_py, f_c = _compile_both(inputs, outputs)
    rtol = 1e-5 if name == "float32" else 1e-12
    _assert_same_outputs(f_py, f_c, values, rtol=rtol)
    _assert_same_outputs(f_py, f_c, values, rtol=rtol)  # second call: reused cells
    impls = _check_implementations(f_c)
    assert "c" in impls, f"no node of {name} ran in C: {f_c.maker.linker.fallback_reasons}"
    assert f_py.implementations() == ["py"] * len(f_py.maker.fgraph.toposort())


def test_w1_is_one_fused_c_node():
    inputs, out, values = g_w1()
    f = sg.function(inputs, out, mode=C_MODE)
    (node,) = f.maker.fgraph.toposort()
    assert isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite)
    assert f.implementations() == ["c"]
    x, y, z = values
    np.testing.assert_allclose(f(x, y, z), np.exp(x) * y + np.log1p(z**2) - np.tanh(x * y), rtol=1e-12, atol=1e-14)


def test_fused_elementwise_in_c_rest_in_python():
    inputs, outputs, values = g_mlp_grads()
    f = sg.function(inputs, outputs, mode=C_MODE)
    impls = f.implementations()
    for node, impl in zip(f.maker.fgraph.toposort(), impls):
        if isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite):
            assert impl == "c", (node, f.maker.linker.fallback_reasons.get(node))
        if not isinstance(node.op, Elemwise):
            assert impl == "py", node


def test_unsupported_dtype_falls_back_to_python():
    x, y = st.ivector("x"), st.ivector("y")  # int32: outside the C generator's dtypes
    f_py, f_c = _compile_both([x, y], x * y + 1)
    a = np.arange(5, dtype="int32")
    _assert_same_outputs(f_py, f_c, [a, a])
    assert f_c.implementations() == ["py"]
    (reason,) = f_c.maker.linker.fallback_reasons.values()
    assert "int32" in reason


def test_mode_and_linker_registration():
    assert C_MODE.linker == "c"
    assert isinstance(C_MODE.make_linker(), CVMLinker)
    assert sg.Mode(linker="py").linker == "py"
    # Opt-in only: the default mode and config are untouched.
    assert sg.config.linker == "py"
    assert sg.get_mode(None).linker == "py"
    assert sg.FAST_RUN.linker == "py"
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
    assert "input 1 has size 4" in message
    assert "Apply node that caused the error" in message and "Op:" in message
    assert "Backtrace when the node was created" in message and "test_c_linker.py" in message
    # The function still works after the error.
    np.testing.assert_allclose(f(np.ones(3), np.ones(3)), np.e * np.ones(3))


def test_pickle_round_trip():
    inputs, outputs, values = g_mlp_grads()
    f = sg.function(inputs, outputs, mode=C_MODE)
    g = pickle.loads(pickle.dumps(f))
    assert g.maker.mode.linker == "c"
    assert g.implementations() == f.implementations()
    for a, b in zip(f(*values), g(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_copy_keeps_c_thunks():
    inputs, out, values = g_w1()
    f = sg.function(inputs, out, mode=C_MODE)
    g = f.copy()
    assert g.implementations() == ["c"]
    np.testing.assert_array_equal(f(*values), g(*values))


def test_outputs_are_fresh_arrays():
    """no_recycling: a result handed to the user is never overwritten by the next call."""
    x = st.dvector("x")
    f = sg.function([x], st.exp(x) + 1, mode=C_MODE)
    first = f(np.zeros(3))
    second = f(np.ones(3))
    np.testing.assert_array_equal(first, np.full(3, 2.0))
    assert first is not second


def test_module_is_written_to_compiledir(compiledir):
    x = st.dvector("x")
    # A constant no other test uses gives a source of its own, so this compile is a miss.
    out = st.exp(x) * 1234.5678 + 0.25
    build.clear_memory_cache()
    before = set(ModuleCache(compiledir).keys())
    f = sg.function([x], out, mode=C_MODE)
    assert f.implementations() == ["c"]
    new = set(ModuleCache(compiledir).keys()) - before
    assert len(new) == 1
    (key,) = new
    entry = ModuleCache(compiledir).entry_dir(key)
    assert (entry / "manifest.json").is_file() and (entry / "source.c").is_file()
    assert not [p for p in entry.iterdir() if p.name.startswith(".tmp-")]
    thunk = f.vm.thunks[0]
    assert thunk.c_module.path.startswith(str(compiledir)) and not thunk.c_module.disk_cached
    # A new process would find it on disk: simulate that by forgetting the in-process cache.
    build.clear_memory_cache()
    g = sg.function([x], out, mode=C_MODE)
    assert g.vm.thunks[0].c_module.disk_cached
    assert set(ModuleCache(compiledir).keys()) - before == new
    np.testing.assert_allclose(g(np.zeros(2)), [1234.8178, 1234.8178])


def test_explicit_directory_bypasses_disk_cache(tmp_path, compiledir):
    before = set(ModuleCache(compiledir).keys())
    src = "int sg_seven(void) { return 7; }\n"
    module = build.compile_c(src, "int sg_seven(void);", directory=tmp_path)
    assert module.lib.sg_seven() == 7 and module.path.startswith(str(tmp_path))
    assert set(ModuleCache(compiledir).keys()) == before


def test_header_contents_are_part_of_the_disk_key(tmp_path):
    (tmp_path / "a.h").write_text("#define A 1\n")
    first = build.runtime_headers_digest(tmp_path)
    (tmp_path / "a.h").write_text("#define A 2\n")
    assert build.runtime_headers_digest(tmp_path) != first


def test_compile_failure_falls_back_with_warning(monkeypatch):
    from symgraph.link.c import linker as linker_mod

    def broken(*args, **kwargs):
        raise build.CompileError("gcc said no")

    monkeypatch.setattr(linker_mod, "make_c_thunk", broken)
    inputs, out, values = g_w1()
    with pytest.warns(CFallbackWarning, match="gcc said no"):
        f = sg.function(inputs, out, mode=C_MODE)
    assert f.implementations() == ["py"]
    x, y, z = values
    np.testing.assert_allclose(f(x, y, z), np.exp(x) * y + np.log1p(z**2) - np.tanh(x * y), rtol=1e-12, atol=1e-14)
