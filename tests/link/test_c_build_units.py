"""A module's kernels as a translation unit of their own (``build.split_units``).

The loops over elements (``c_kernel_code``: elementwise, reductions, argmax) need only the
runtime, so the build may compile them in a second compiler process, in parallel with the
rest of the module, and link the two. These tests check that split and merged builds give
Python's values, that the kernels unit really includes no Python or NumPy header, that the
kernel functions are not exported from the library, and that a compile error in either
unit names its file.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import build

C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")


def _graph():
    """Elementwise (fused, broadcast), row and general reductions, logsumexp and argmax."""
    x, y = st.dmatrix("x"), st.dmatrix("y")
    b = st.dvector("b")
    outs = [
        st.exp(x) * y + st.tanh(x - b),
        st.logsumexp(x * y, axis=1),
        st.sum(st.exp(x), axis=0),
        st.max(x + y, axis=1),
        st.argmax(x - y, axis=1),
    ]
    return [x, y, b], outs


def _inputs(rng, transposed: bool):
    x = rng.standard_normal((40, 30))
    y = rng.standard_normal((30, 40)).T if transposed else rng.standard_normal((40, 30))
    return [x, y, rng.standard_normal(30)]


@pytest.fixture
def fresh_compiledir(tmp_path):
    sg.config.compiledir = str(tmp_path)  # restored by conftest's _restore_config
    build.clear_memory_cache()
    yield tmp_path
    build.clear_memory_cache()


@pytest.mark.parametrize("split", [True, False], ids=["two-units", "one-unit"])
def test_split_and_merged_builds_give_pythons_values(split, fresh_compiledir, monkeypatch):
    monkeypatch.setattr(build, "SPLIT_MIN_CHARS", 0 if split else 10**9)
    monkeypatch.setattr(build, "_usable_cpus", lambda: 2)
    inputs, outs = _graph()
    f = sg.function(inputs, outs, mode=C_MODE)
    g = sg.function(inputs, outs, mode=PY_MODE)
    assert set(f.implementations()) == {"c"}
    kernels = list(fresh_compiledir.rglob("kernels.c"))
    assert len(kernels) == (1 if split else 0)
    if split:
        text = kernels[0].read_text()
        assert "sg_ew_" in text and "sg_redr_" in text and "sg_argmax_" in text
        # only the runtime: the unit is compiled without Python's and NumPy's headers
        includes = re.findall(r'#include\s*[<"]([^>"]+)[>"]', text)
        assert includes == ["sg_runtime.h"]
        module_source = (kernels[0].parent / "source.c").read_text()
        assert "SG_HOT static void sg_ew_" not in module_source  # the loops are not compiled twice
    rng = np.random.default_rng(3)
    for transposed in (False, True):
        args = _inputs(rng, transposed)
        for got, want in zip(f(*args), g(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_large_kernels_are_split_by_default(fresh_compiledir, monkeypatch):
    monkeypatch.setattr(build, "_usable_cpus", lambda: 2)
    X, W1, W2 = st.dmatrix("X"), st.dmatrix("W1"), st.dmatrix("W2")
    y = st.lvector("y")
    logits = st.tanh(X @ W1) @ W2
    loss = st.mean(st.logsumexp(logits, axis=1) - logits[st.arange(X.shape[0]), y])
    f = sg.function([X, W1, W2, y], [loss, *sg.grad(loss, [W1, W2])], mode=C_MODE)
    assert len(list(fresh_compiledir.rglob("kernels.c"))) == 1
    g = sg.function([X, W1, W2, y], [loss, *sg.grad(loss, [W1, W2])], mode=PY_MODE)
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((64, 16)), rng.standard_normal((16, 16)), rng.standard_normal((16, 5)),
            rng.integers(0, 5, 64)]
    for got, want in zip(f(*args), g(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_one_core_or_small_kernels_build_one_unit(monkeypatch):
    monkeypatch.setattr(build, "_usable_cpus", lambda: 1)
    assert not build.split_units("x" * 10**6)
    monkeypatch.setattr(build, "_usable_cpus", lambda: 2)
    assert not build.split_units("x" * (build.SPLIT_MIN_CHARS - 1))
    assert build.split_units("x" * build.SPLIT_MIN_CHARS)
    assert not build.split_units("")


def test_kernel_functions_are_hidden(fresh_compiledir, monkeypatch):
    """SG_KERNEL functions have external linkage within the library but are not exported:
    two loaded modules never resolve each other's."""
    monkeypatch.setattr(build, "SPLIT_MIN_CHARS", 0)
    monkeypatch.setattr(build, "_usable_cpus", lambda: 2)
    inputs, outs = _graph()
    f = sg.function(inputs, outs, mode=C_MODE)
    module = f.maker.linker.module
    names = sorted(set(re.findall(r"\bsg_ew_[0-9a-f]{16}_part\b|\bsg_ews_[0-9a-f]{16}\b", f.maker.linker.source)))
    assert names
    lib = ctypes.CDLL(module.__file__)
    assert hasattr(lib, "PyInit_" + module.__name__)  # exported symbols are found
    for name in names:
        with pytest.raises(AttributeError):
            getattr(lib, name)


@pytest.mark.parametrize("broken", ["module", "kernels"])
def test_compile_error_names_the_failing_unit(broken, tmp_path):
    good_module = "int sg_answer(void);\nint sg_twice(void) { return 2 * sg_answer(); }\n"
    good_kernels = '#include "sg_runtime.h"\nint sg_answer(void) { return 21; }\n'
    source = good_module if broken == "kernels" else good_module + "this is not C;\n"
    kernels = good_kernels if broken == "module" else good_kernels + "neither is this;\n"
    out = tmp_path / "lib.so"
    with pytest.raises(build.CompileError) as info:
        build.build_shared_object(source, out, kernels=kernels)
    failing = re.search(r"compilation failed \(exit \d+\) for (\S+)", str(info.value)).group(1)
    assert failing.endswith(".kernels.c") == (broken == "kernels")
    assert not out.exists()
    assert not list(tmp_path.glob("*.o")) and not list(tmp_path.glob("*.tmp"))


def test_two_units_link_into_one_library(tmp_path):
    module = "int sg_answer(void);\nint sg_twice(void) { return 2 * sg_answer(); }\n"
    kernels = '#include "sg_runtime.h"\nint sg_answer(void) { return 21; }\n'
    out = tmp_path / "lib.so"
    build.build_shared_object(module, out, kernels=kernels)
    assert ctypes.CDLL(str(out)).sg_twice() == 42
    assert Path(out.with_suffix(".kernels.c")).read_text() == kernels
    assert Path(out.with_suffix(".c")).read_text() == module
