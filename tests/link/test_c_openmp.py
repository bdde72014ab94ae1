"""Loops above the size threshold run on several threads (``config.openmp``), give the same
values as the Python linker, stay single-threaded in modules that call BLAS, and keep working
in a child process forked after the parent ran a parallel loop (libgomp's thread pool does
not survive fork; the child must not hang)."""

import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c.build import openmp_flags, toolchain_problem
from symgraph.link.c.ops_elemwise import PARALLEL_THRESHOLD

pytestmark = pytest.mark.skipif(
    toolchain_problem() is not None or not openmp_flags(), reason="needs a C compiler with OpenMP"
)

N = 3 * PARALLEL_THRESHOLD + 7  # above the threshold, and not a multiple of the thread count


def _compile(inputs, outputs):
    with sg.config.change_flags(openmp=True):
        f = sg.function(inputs, outputs, mode=sg.Mode(linker="c"))
    g = sg.function(inputs, outputs, mode=sg.Mode(linker="py"))
    return f, g


def test_parallel_elementwise_and_reduction_match_python():
    x, y = st.dvector("x"), st.dvector("y")
    m = st.dmatrix("m")
    f, g = _compile([x, y, m], [st.exp(x) * y - st.tanh(x * y), st.logsumexp(m, axis=1), m.sum(axis=1)])
    assert "#pragma omp" in f.maker.linker.source and f.maker.linker.openmp
    rng = np.random.default_rng(0)
    for size in (N, PARALLEL_THRESHOLD, 5):
        a, b = rng.standard_normal(size), rng.standard_normal(size)
        mat = rng.standard_normal((max(size // 100, 2), 100))
        for got, want in zip(f(a, b, mat), g(a, b, mat)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # strided input: the parallel path is only for contiguous operands, the rest stays correct
    a = rng.standard_normal(2 * N)[::2]
    np.testing.assert_allclose(f(a, a, mat)[0], g(a, a, mat)[0], rtol=1e-12)


def test_modules_calling_blas_are_built_without_openmp():
    x, w = st.dmatrix("x"), st.dmatrix("w")
    f, _ = _compile([x, w], st.tanh(x @ w) * 2)
    source = f.maker.linker.source
    assert '"sg_blas.h"' in source and "#pragma omp" in source
    # built without -fopenmp: SG_OPENMP undefined, the pragmas are compiled out
    assert not f.maker.linker.openmp


_FORK_SCRIPT = r"""
import multiprocessing as mp, numpy as np, symgraph as sg, symgraph.tensor as st
sg.config.openmp = True
x = st.dvector("x")
f = sg.function([x], st.exp(x) * 2 + st.sin(x), mode=sg.Mode(linker="c"))
v = np.linspace(-1, 1, N)
want = np.exp(v) * 2 + np.sin(v)
assert np.allclose(f(v), want)          # the parent runs a parallel loop first

def child(_):
    return float(np.abs(f(v) - want).max())

if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as pool:
        errors = pool.map(child, range(4))
    assert max(errors) < 1e-12, errors
    print("ok")
"""


def test_forked_children_run_compiled_functions():
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT.replace("N)", f"{N})")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
