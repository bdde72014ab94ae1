"""Parallel loops (``sg_par_for`` in ``c_backend/sg_runtime.h``, ``config.parallel``).

- the runtime splits ``[0, n)`` into one part per thread, each index in exactly one part, on
  NumPy's OpenBLAS thread pool (a C harness calls ``sg_par_for`` directly);
- compiled functions above the size threshold give the Python linker's values in both modes
  (``"auto"``: NumPy's OpenBLAS pool; ``"openmp"``), and modules calling BLAS are never built
  with OpenMP;
- a child process forked after the parent ran a parallel loop still runs compiled functions
  (libgomp's pool does not survive fork; the child must not hang).
"""

import ctypes
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.link.c import runtime
from symgraph.link.c.build import openmp_flags, toolchain_problem
from symgraph.link.c.ops_blas import numpy_thread_pool
from symgraph.link.c.ops_elemwise import PARALLEL_THRESHOLD

pytestmark = pytest.mark.skipif(toolchain_problem() is not None, reason="needs a C compiler")

N = 3 * PARALLEL_THRESHOLD + 7  # above the threshold, and not a multiple of the thread count

POOL = numpy_thread_pool()
MODES = [
    pytest.param("auto", marks=pytest.mark.skipif(POOL is None, reason="NumPy does not ship OpenBLAS")),
    pytest.param("openmp", marks=pytest.mark.skipif(not openmp_flags(), reason="no OpenMP")),
]

_HARNESS = r"""
#include "sg_runtime.h"
#include <pthread.h>

static int hits[1 << 16];
static pthread_t owners[SG_PAR_MAX_PARTS];
static int calls;

static void body(void *ctx, sg_index lo, sg_index hi) {
    (void)ctx;
    for (sg_index i = lo; i < hi; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
    owners[__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED)] = pthread_self();
}

/* Runs sg_par_for over [0, n) on the given pool (NULL: none); returns the number of parts,
 * or -1 if an index was not covered exactly once. *threads gets the distinct threads. */
int run(sg_index n, sg_index grain, void *pool_run, void *pool_threads, int *threads) {
    memcpy(&sg_pool_run, &pool_run, sizeof pool_run);
    memcpy(&sg_pool_threads, &pool_threads, sizeof pool_threads);
    memset(hits, 0, sizeof hits);
    calls = 0;
    sg_par_for(n, grain, body, NULL);
    for (sg_index i = 0; i < n; i++) if (hits[i] != 1) return -1;
    int distinct = 0;
    for (int a = 0; a < calls; a++) {
        int seen = 0;
        for (int b = 0; b < a; b++) seen |= pthread_equal(owners[a], owners[b]);
        distinct += !seen;
    }
    *threads = distinct;
    return calls;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    d = tmp_path_factory.mktemp("par")
    src, lib = d / "par.c", d / "par.so"
    src.write_text(_HARNESS)
    flags = ["-O1", "-shared", "-fPIC", *runtime.RECOMMENDED_CFLAGS]
    proc = subprocess.run(
        ["gcc", *flags, *runtime.include_flags(), str(src), "-o", str(lib), "-lm", "-lpthread"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[:4000]
    so = ctypes.CDLL(str(lib))
    so.run.argtypes = [ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    so.run.restype = ctypes.c_int

    def run(n, grain, pool):
        threads = ctypes.c_int(0)
        parts = so.run(n, grain, *(pool or (None, None)), ctypes.byref(threads))
        return parts, threads.value

    return run


@pytest.mark.skipif(POOL is None, reason="NumPy does not ship OpenBLAS")
def test_par_for_splits_the_range_over_the_pool(harness):
    nthreads = ctypes.CFUNCTYPE(ctypes.c_int)(POOL[1])()
    for n, grain in [(60000, 100), (1001, 500), (7, 1), (40000, 20000)]:
        parts, threads = harness(n, grain, POOL)
        want = max(1, min(nthreads, n // grain))
        assert parts == want, (n, grain, parts, want)
        assert threads == want  # one part per pool thread, the first on the caller
    # below two grains, or an empty range: one call on the calling thread
    assert harness(999, 500, POOL) == (1, 1)
    assert harness(0, 1, POOL) == (1, 1)


def test_par_for_without_a_pool_runs_on_the_caller(harness):
    # the harness is built without OpenMP: no pool means one part, whatever the size
    assert harness(60000, 100, None) == (1, 1)


def _compile(mode, inputs, outputs):
    with sg.config.change_flags(parallel=mode):
        f = sg.function(inputs, outputs, mode=sg.Mode(linker="c"))
    g = sg.function(inputs, outputs, mode=sg.Mode(linker="py"))
    return f, g


@pytest.mark.parametrize("mode", MODES)
def test_parallel_elementwise_and_reduction_match_python(mode):
    x, y = st.dvector("x"), st.dvector("y")
    m = st.dmatrix("m")
    f, g = _compile(mode, [x, y, m], [st.exp(x) * y - st.tanh(x * y), st.logsumexp(m, axis=1), m.sum(axis=1)])
    assert "sg_par_for(" in f.maker.linker.source
    assert f.maker.linker.openmp == (mode == "openmp")
    rng = np.random.default_rng(0)
    for size in (N, PARALLEL_THRESHOLD, 5):
        a, b = rng.standard_normal(size), rng.standard_normal(size)
        mat = rng.standard_normal((max(size // 100, 2), 100))
        for got, want in zip(f(a, b, mat), g(a, b, mat)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # strided input: the parallel path is only for contiguous operands, the rest stays correct
    a = rng.standard_normal(2 * N)[::2]
    np.testing.assert_allclose(f(a, a, mat)[0], g(a, a, mat)[0], rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_strided_and_broadcast_elementwise_split_by_rows_match_python(mode):
    # the strided path splits the first axis into blocks of rows (each part its own
    # iterator): every layout, with row counts that do not divide evenly, must give Python's
    # values, including element counts just below and above the threshold
    x, m = st.dmatrix("x"), st.dvector("m")
    t = st.tensor("t", dtype="float64", shape=(None, None, None))
    outs = [st.exp(x - m[:, None]) * 2, st.tanh(x) + x[::-1], st.exp(t) - t[0][None, :, :]]
    f, g = _compile(mode, [x, m, t], outs)
    assert "_rows, &rctx_" in f.maker.linker.source
    rng = np.random.default_rng(3)
    for rows, cols in ((1001, 301), (3, PARALLEL_THRESHOLD // 3 + 1), (PARALLEL_THRESHOLD // 50 - 1, 50), (1, 5)):
        big = rng.standard_normal((cols, rows)).T  # transposed: strided everywhere
        layouts = (big, np.ascontiguousarray(big), rng.standard_normal((rows, 2 * cols))[:, ::-2])
        cube = rng.standard_normal((rows, 2, cols)).transpose(0, 2, 1)
        for a in layouts:
            row_max = a.max(axis=1)
            for got, want in zip(f(a, row_max, cube), g(a, row_max, cube)):
                np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("mode", ["auto", "openmp", "off"])
def test_modules_calling_blas_are_built_without_openmp(mode):
    x, w = st.dmatrix("x"), st.dmatrix("w")
    f, g = _compile(mode, [x, w], st.tanh(x @ w) * 2)
    assert '"sg_blas.h"' in f.maker.linker.source and "sg_par_for(" in f.maker.linker.source
    assert not f.maker.linker.openmp
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((400, 300)), rng.standard_normal((300, 400))  # above the threshold
    # atol: the product's summation order differs from NumPy's, and values near 0 cancel
    np.testing.assert_allclose(f(a, b), g(a, b), rtol=1e-12, atol=1e-12)


_FORK_SCRIPT = r"""
import multiprocessing as mp, numpy as np, symgraph as sg, symgraph.tensor as st
sg.config.parallel = MODE
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


@pytest.mark.parametrize("mode", MODES)
def test_forked_children_run_compiled_functions(mode):
    script = _FORK_SCRIPT.replace("N)", f"{N})").replace("MODE", repr(mode))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
