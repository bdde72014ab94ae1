/*
 * sg_gemm.c -- symgraph's own matrix-matrix product for AVX-512 CPUs: the extension module
 * symgraph._gemm, built when the package is installed (setup.py).
 *
 * Why: the OpenBLAS that NumPy's and SciPy's wheels ship picks its kernel from a table of
 * CPUs it knows, and on newer AVX-512 CPUs it does not know (AMD Zen 5, for one) it falls
 * back to its AVX2 kernel, which runs at half the speed of the hardware: a 512x256 by
 * 256x256 float64 product took 0.65 ms on both cores of the development machine, against
 * 0.39 ms with OpenBLAS forced to its AVX-512 kernel (OPENBLAS_CORETYPE=SkylakeX) and
 * 0.34 ms with the kernel below. Generated modules call it for float64 and float32 products
 * of two matrices when the CPU has AVX-512 (sg_blas.h), and BLAS otherwise; `config.gemm`
 * chooses (docs/c_backend.md).
 *
 * The module exports no Python-level product. `kernels()` returns the addresses of the C
 * functions (None when the CPU lacks AVX-512 or the compiler could not target it), which
 * generated modules fetch at import through symgraph.link.c.ops_blas; `blocking()` returns
 * the block sizes, for tests that aim at the panel edges.
 *
 * The kernels use gcc vector extensions under a target attribute, so the file compiles for
 * any x86-64 (and to an empty table elsewhere) without -march flags, and the wheel or
 * install works on CPUs without AVX-512: `kernels()` checks the CPU at run time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef ptrdiff_t sg_gidx;
typedef void (*sg_gemm_body)(void *ctx, sg_gidx lo, sg_gidx hi);
/* The caller's parallel-for: body(ctx, lo, hi) over consecutive parts of [0, n) (sg_par_for
 * in sg_runtime.h has this signature). */
typedef void (*sg_gemm_par_for)(sg_gidx n, sg_gidx grain, sg_gemm_body body, void *ctx);

/* A product is split over the threads from this many multiply-adds (about 4 us on one core). */
#define SG_GEMM_PARALLEL_MIN 262144.0

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9 && !defined(SG_GEMM_DISABLE)
#define SG_GEMM_ENABLED 1
/* fp-contract=fast: each k step is one fused multiply-add, as in BLAS kernels. */
#define SG_GEMM_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,fma"), optimize("O3", "fp-contract=fast")))

/* The same blocking for both types: tiles of 12 rows by two vectors (12 x 16 float64, 12 x 32
 * float32), 24 accumulators; A in k slices of 256 (a 12 x 256 float64 panel is 24 KiB, a
 * 256 x 16 panel of B 32 KiB, both within the 48 KiB L1 of Zen 5); row panels in groups of 8;
 * chunks of at most 2040 rows and 2048 columns bound the scratch memory (8 MiB in float64). */
#define GK_NV 2
#define GK_MR 12
#define GK_KC 256
#define GK_MB 2040
#define GK_NB 2048
#define GK_MG 8

/* Per type: the element, its vectors and the name suffix (the template undefines these). */
typedef double sg_v8d __attribute__((vector_size(64)));
typedef double sg_v8du __attribute__((vector_size(64), aligned(8)));
#define GK_T double
#define GK_V sg_v8d
#define GK_VU sg_v8du
#define GK_VL 8
#define GK_SUF f64
#include "sg_gemm_kernel.h"

typedef float sg_v16f __attribute__((vector_size(64)));
typedef float sg_v16fu __attribute__((vector_size(64), aligned(4)));
#define GK_T float
#define GK_V sg_v16f
#define GK_VU sg_v16fu
#define GK_VL 16
#define GK_SUF f32
#include "sg_gemm_kernel.h"
#endif /* SG_GEMM_ENABLED */

/* ------------------------------------------------------------------ for tests */

/* A parallel-for that runs `n` tasks as three parts one after the other on this thread: the
 * kernels' split into parts is exercised without threads (tests call through ctypes). */
static void sg_gemm_three_parts(sg_gidx n, sg_gidx grain, sg_gemm_body body, void *ctx) {
    (void)grain;
    sg_gidx q = n / 3, r = n % 3, lo = 0;
    for (int t = 0; t < 3; t++) {
        sg_gidx hi = lo + q + (t < r);
        if (hi > lo) body(ctx, lo, hi);
        lo = hi;
    }
}

/* ------------------------------------------------------------------ Python module */

static int sg_gemm_cpu_ok(void) {
#ifdef SG_GEMM_ENABLED
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static PyObject *sg_gemm_py_kernels(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
#ifdef SG_GEMM_ENABLED
    if (sg_gemm_cpu_ok())
        return Py_BuildValue("(NNNNN)", PyLong_FromVoidPtr((void *)sg_gemm_f64), PyLong_FromVoidPtr((void *)sg_gemm_f32),
                             PyLong_FromVoidPtr((void *)sg_gemm_work_bytes_f64),
                             PyLong_FromVoidPtr((void *)sg_gemm_work_bytes_f32),
                             PyLong_FromVoidPtr((void *)sg_gemm_three_parts));
#endif
    Py_RETURN_NONE;
}

#ifdef SG_GEMM_ENABLED
static PyObject *sg_gemm_sizes_dict(const sg_gidx *s) {
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n}", "mr", s[0], "nr", s[1], "kc", s[2], "mb", s[3], "nb", s[4]);
}
#endif

static PyObject *sg_gemm_py_blocking(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
#ifdef SG_GEMM_ENABLED
    return Py_BuildValue("{s:N,s:N,s:d}", "float64", sg_gemm_sizes_dict(sg_gemm_sizes_f64), "float32",
                         sg_gemm_sizes_dict(sg_gemm_sizes_f32), "parallel_min", SG_GEMM_PARALLEL_MIN);
#else
    Py_RETURN_NONE;
#endif
}

static PyMethodDef sg_gemm_methods[] = {
    {"kernels", sg_gemm_py_kernels, METH_NOARGS,
     "kernels() -> (gemm_f64, gemm_f32, work_bytes_f64, work_bytes_f32, three_parts) addresses, or None\n\n"
     "None when this CPU lacks AVX-512 (or the extension was built without the kernels)."},
    {"blocking", sg_gemm_py_blocking, METH_NOARGS,
     "blocking() -> dict: the kernels' tile and block sizes per dtype and the parallel threshold, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sg_gemm_module = {
    PyModuleDef_HEAD_INIT, "symgraph._gemm",
    "symgraph's own AVX-512 matrix-matrix product (see c_backend/sg_gemm.c).", -1, sg_gemm_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__gemm(void) { return PyModule_Create(&sg_gemm_module); }
