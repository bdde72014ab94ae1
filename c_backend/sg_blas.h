/*
 * sg_blas.h -- matrix products on the Fortran BLAS that SciPy ships, for generated code.
 *
 * SciPy exports its BLAS through `scipy.linalg.cython_blas.__pyx_capi__`: a dict of
 * PyCapsules whose pointer is the Fortran routine and whose name is its C signature.
 * `sg_blas_load()` (run once from the module's init code, Python API available) fetches the
 * routines used here into the static table `sg_blas`; every product helper checks that the
 * table is filled before calling through it.
 *
 * Layout. Our arrays are row-major views with arbitrary byte strides; BLAS is column-major
 * with a leading dimension. A row-major matrix with unit column stride IS its transpose in
 * column-major form (leading dimension = row stride), and a matrix with unit row stride is
 * already column-major, so both reach BLAS without a copy, the first with the opposite
 * transpose flag. Only operands with neither unit stride (a strided slice, a negative or
 * zero stride, a stride that is not a multiple of the item size) are copied into scratch
 * memory the caller provides (sized by the *_scratch functions). A row-major result
 * C = A @ B is computed as the column-major C^T = B^T A^T.
 *
 * Sizes. SciPy's BLAS takes 32-bit `int` sizes: any size above INT_MAX is refused with
 * SG_ERR_VALUE (not implemented) instead of being truncated. Zero-size products never reach
 * BLAS (it rejects a leading dimension of 0): the result is zero-filled (empty sum).
 *
 * Include after Python.h (the generated module includes it first) and sg_runtime.h.
 */
#ifndef SG_BLAS_H
#define SG_BLAS_H

#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "sg_runtime.h"

/* ------------------------------------------------------------------ routine table */

typedef void sg_dgemm_fn(char *, char *, int *, int *, int *, double *, double *, int *, double *,
                         int *, double *, double *, int *);
typedef void sg_sgemm_fn(char *, char *, int *, int *, int *, float *, float *, int *, float *,
                         int *, float *, float *, int *);
typedef void sg_dgemv_fn(char *, int *, int *, double *, double *, int *, double *, int *, double *,
                         double *, int *);
typedef void sg_sgemv_fn(char *, int *, int *, float *, float *, int *, float *, int *, float *,
                         float *, int *);
typedef double sg_ddot_fn(int *, double *, int *, double *, int *);
typedef float sg_sdot_fn(int *, float *, int *, float *, int *);

/* Filled by sg_blas_load (static: each generated module has its own copy, loaded once). */
static struct {
    int loaded;
    sg_dgemm_fn *dgemm;
    sg_sgemm_fn *sgemm;
    sg_dgemv_fn *dgemv;
    sg_sgemv_fn *sgemv;
    sg_ddot_fn *ddot;
    sg_sdot_fn *sdot;
} sg_blas;

/* NumPy's own BLAS, when it is the 64-bit-integer OpenBLAS NumPy's wheels ship: the same
 * routines with int64_t sizes, called through the adapters below. Preferred over SciPy's:
 * NumPy and SciPy each ship an OpenBLAS with its own thread pool, and on a small machine two
 * pools whose threads keep spinning after a call take the cores from each other whenever
 * NumPy products and ours alternate (W4 ran 2.5 times slower next to NumPy's backprop). */
typedef int64_t sg_i64;
static struct {
    void (*dgemm)(char *, char *, sg_i64 *, sg_i64 *, sg_i64 *, double *, double *, sg_i64 *, double *, sg_i64 *,
                  double *, double *, sg_i64 *);
    void (*sgemm)(char *, char *, sg_i64 *, sg_i64 *, sg_i64 *, float *, float *, sg_i64 *, float *, sg_i64 *, float *,
                  float *, sg_i64 *);
    void (*dgemv)(char *, sg_i64 *, sg_i64 *, double *, double *, sg_i64 *, double *, sg_i64 *, double *, double *,
                  sg_i64 *);
    void (*sgemv)(char *, sg_i64 *, sg_i64 *, float *, float *, sg_i64 *, float *, sg_i64 *, float *, float *, sg_i64 *);
    double (*ddot)(sg_i64 *, double *, sg_i64 *, double *, sg_i64 *);
    float (*sdot)(sg_i64 *, float *, sg_i64 *, float *, sg_i64 *);
} sg_blas64;

SG_WARM static void sg_dgemm_64(char *ta, char *tb, int *m, int *n, int *k, double *alpha, double *a, int *lda, double *b,
                        int *ldb, double *beta, double *c, int *ldc) {
    sg_i64 M = *m, N = *n, K = *k, LDA = *lda, LDB = *ldb, LDC = *ldc;
    sg_blas64.dgemm(ta, tb, &M, &N, &K, alpha, a, &LDA, b, &LDB, beta, c, &LDC);
}
SG_WARM static void sg_sgemm_64(char *ta, char *tb, int *m, int *n, int *k, float *alpha, float *a, int *lda, float *b,
                        int *ldb, float *beta, float *c, int *ldc) {
    sg_i64 M = *m, N = *n, K = *k, LDA = *lda, LDB = *ldb, LDC = *ldc;
    sg_blas64.sgemm(ta, tb, &M, &N, &K, alpha, a, &LDA, b, &LDB, beta, c, &LDC);
}
SG_WARM static void sg_dgemv_64(char *t, int *m, int *n, double *alpha, double *a, int *lda, double *x, int *incx,
                        double *beta, double *y, int *incy) {
    sg_i64 M = *m, N = *n, LDA = *lda, IX = *incx, IY = *incy;
    sg_blas64.dgemv(t, &M, &N, alpha, a, &LDA, x, &IX, beta, y, &IY);
}
SG_WARM static void sg_sgemv_64(char *t, int *m, int *n, float *alpha, float *a, int *lda, float *x, int *incx, float *beta,
                        float *y, int *incy) {
    sg_i64 M = *m, N = *n, LDA = *lda, IX = *incx, IY = *incy;
    sg_blas64.sgemv(t, &M, &N, alpha, a, &LDA, x, &IX, beta, y, &IY);
}
SG_WARM static double sg_ddot_64(int *n, double *x, int *incx, double *y, int *incy) {
    sg_i64 N = *n, IX = *incx, IY = *incy;
    return sg_blas64.ddot(&N, x, &IX, y, &IY);
}
SG_WARM static float sg_sdot_64(int *n, float *x, int *incx, float *y, int *incy) {
    sg_i64 N = *n, IX = *incx, IY = *incy;
    return sg_blas64.sdot(&N, x, &IX, y, &IY);
}

/* Call symgraph.link.c.ops_blas.<fn>() and store the `n` addresses of the tuple it returns
 * in `ptrs`. Returns 1 when it returned n non-zero ints, else 0 (it may return None); never
 * leaves a Python error set. */
SG_WARM static int sg_blas_fetch_addresses(const char *fn_name, int n, void **ptrs) {
    PyObject *mod = PyImport_ImportModule("symgraph.link.c.ops_blas");
    PyObject *fn = mod ? PyObject_GetAttrString(mod, fn_name) : NULL;
    PyObject *found = fn ? PyObject_CallNoArgs(fn) : NULL;
    Py_XDECREF(mod);
    Py_XDECREF(fn);
    int ok = found && PyTuple_Check(found) && PyTuple_GET_SIZE(found) == n;
    for (int i = 0; ok && i < n; i++) {
        ptrs[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(found, i));
        ok = ptrs[i] != NULL;
    }
    Py_XDECREF(found);
    PyErr_Clear();
    return ok;
}

/* symgraph's own matrix-matrix products (c_backend/sg_gemm.c, the extension symgraph._gemm),
 * filled by sg_blas_load when symgraph.link.c.ops_blas.gemm_kernel_addresses() gives them
 * (an AVX-512 CPU and config.gemm == "auto"); `loaded` 0 otherwise, and BLAS does all. */
typedef int sg_gemm_own_f64_fn(sg_index, sg_index, sg_index, const double *, sg_index, sg_index, const double *,
                               sg_index, sg_index, double *, sg_index, void *, size_t, sg_par_for_fn);
typedef int sg_gemm_own_f32_fn(sg_index, sg_index, sg_index, const float *, sg_index, sg_index, const float *,
                               sg_index, sg_index, float *, sg_index, void *, size_t, sg_par_for_fn);
typedef size_t sg_gemm_own_bytes_fn(sg_index, sg_index, sg_index);
static struct {
    int loaded;
    sg_gemm_own_f64_fn *f64;
    sg_gemm_own_f32_fn *f32;
    sg_gemm_own_bytes_fn *bytes_f64, *bytes_f32;
} sg_gemm_own;

/* Fetch the own kernels' addresses, when gemm_kernel_addresses() gives them. */
SG_WARM static void sg_gemm_own_load(void) {
    void *ptrs[4] = {0};
    if (!sg_blas_fetch_addresses("gemm_kernel_addresses", 4, ptrs)) return;
    memcpy(&sg_gemm_own.f64, &ptrs[0], sizeof(void *));
    memcpy(&sg_gemm_own.f32, &ptrs[1], sizeof(void *));
    memcpy(&sg_gemm_own.bytes_f64, &ptrs[2], sizeof(void *));
    memcpy(&sg_gemm_own.bytes_f32, &ptrs[3], sizeof(void *));
    sg_gemm_own.loaded = 1;
}

/* Addresses of NumPy's routines from symgraph.link.c.ops_blas.numpy_blas_addresses() (a tuple
 * of six ints in the order of sg_blas64, or None). Returns 1 when all were found; never
 * leaves a Python error set. */
SG_WARM static int sg_blas_load_numpy(void) {
    void *ptrs[6] = {0};
    if (!sg_blas_fetch_addresses("numpy_blas_addresses", 6, ptrs)) return 0;
    memcpy(&sg_blas64.dgemm, &ptrs[0], sizeof(void *));
    memcpy(&sg_blas64.sgemm, &ptrs[1], sizeof(void *));
    memcpy(&sg_blas64.dgemv, &ptrs[2], sizeof(void *));
    memcpy(&sg_blas64.sgemv, &ptrs[3], sizeof(void *));
    memcpy(&sg_blas64.ddot, &ptrs[4], sizeof(void *));
    memcpy(&sg_blas64.sdot, &ptrs[5], sizeof(void *));
    sg_blas.dgemm = sg_dgemm_64;
    sg_blas.sgemm = sg_sgemm_64;
    sg_blas.dgemv = sg_dgemv_64;
    sg_blas.sgemv = sg_sgemv_64;
    sg_blas.ddot = sg_ddot_64;
    sg_blas.sdot = sg_sdot_64;
    sg_blas.loaded = 1;
    return 1;
}

/* Fetch the routines: NumPy's (above) when available, else scipy.linalg.cython_blas's.
 * Returns 0, or -1 with a Python exception set (ImportError when SciPy is missing,
 * KeyError/ValueError for a missing capsule). */
SG_WARM static int sg_blas_load(void) {
    static const char *const names[6] = {"dgemm", "sgemm", "dgemv", "sgemv", "ddot", "sdot"};
    void *ptrs[6];
    if (sg_blas.loaded) return 0;
    sg_gemm_own_load();
    if (sg_blas_load_numpy()) return 0;
    PyObject *mod = PyImport_ImportModule("scipy.linalg.cython_blas");
    if (!mod) return -1;
    PyObject *capi = PyObject_GetAttrString(mod, "__pyx_capi__");
    Py_DECREF(mod);
    if (!capi) return -1;
    for (int i = 0; i < 6; i++) {
        PyObject *cap = PyMapping_GetItemString(capi, names[i]);
        if (!cap) {
            Py_DECREF(capi);
            return -1;
        }
        /* The capsule's name is the routine's C signature; GetPointer wants it verbatim. */
        const char *sig = PyCapsule_GetName(cap);
        ptrs[i] = (sig || !PyErr_Occurred()) ? PyCapsule_GetPointer(cap, sig) : NULL;
        Py_DECREF(cap);
        if (!ptrs[i]) {
            Py_DECREF(capi);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ImportError, "scipy.linalg.cython_blas: no pointer for %s", names[i]);
            return -1;
        }
    }
    Py_DECREF(capi);
    sg_blas.dgemm = (sg_dgemm_fn *)ptrs[0];
    sg_blas.sgemm = (sg_sgemm_fn *)ptrs[1];
    sg_blas.dgemv = (sg_dgemv_fn *)ptrs[2];
    sg_blas.sgemv = (sg_sgemv_fn *)ptrs[3];
    sg_blas.ddot = (sg_ddot_fn *)ptrs[4];
    sg_blas.sdot = (sg_sdot_fn *)ptrs[5];
    sg_blas.loaded = 1;
    return 0;
}

/* ------------------------------------------------------------------ operand views */

/* A strided matrix: element (i, j) at data + i*rs + j*cs (byte strides, any sign). */
typedef struct {
    char *data;
    sg_index rows, cols, rs, cs;
} sg_mat;

/* How one operand reaches BLAS: `data` in column-major storage with leading dimension `ld`
 * holding the matrix itself (`colmajor`) or its transpose. Vectors use `ld` as increment. */
typedef struct {
    char *data;
    int ld;
    int colmajor;
} sg_blas_op;

/* Leading dimension `stride / item` if it is a valid one (a positive multiple of the item
 * size, at least `minld`, within int), else 0. */
SG_WARM static inline int sg_blas_ld_(sg_index stride, sg_index item, sg_index minld) {
    if (stride <= 0 || stride % item) return 0;
    sg_index ld = stride / item;
    return (ld >= minld && ld <= INT_MAX) ? (int)ld : 0;
}

/* Whether matrix `a` (rows, cols >= 1) can be handed to BLAS as is; fills `op`. */
SG_WARM static inline int sg_blas_mat_view(const sg_mat *a, sg_index item, sg_blas_op *op) {
    sg_index minc = a->cols > 1 ? a->cols : 1, minr = a->rows > 1 ? a->rows : 1;
    op->data = a->data;
    if (a->cols == 1 || a->cs == item) { /* unit column stride: column-major transpose */
        int ld = a->rows == 1 ? (int)minc : sg_blas_ld_(a->rs, item, minc);
        if (ld && minc <= INT_MAX) {
            op->ld = ld;
            op->colmajor = 0;
            return 1;
        }
    }
    if (a->rows == 1 || a->rs == item) { /* unit row stride: already column-major */
        int ld = a->cols == 1 ? (int)minr : sg_blas_ld_(a->cs, item, minr);
        if (ld && minr <= INT_MAX) {
            op->ld = ld;
            op->colmajor = 1;
            return 1;
        }
    }
    return 0;
}

/* Whether vector (n elements, byte stride s) can be handed to BLAS as is. A negative
 * increment makes BLAS start from the lowest address, so the base pointer moves there. */
SG_WARM static inline int sg_blas_vec_view(char *data, sg_index n, sg_index s, sg_index item, sg_blas_op *op) {
    op->colmajor = 0;
    if (n <= 1) {
        op->data = data;
        op->ld = 1;
        return 1;
    }
    if (s == 0 || s % item) return 0;
    sg_index inc = s / item;
    if (inc > INT_MAX || inc < -INT_MAX) return 0;
    op->ld = (int)inc;
    op->data = inc < 0 ? data + (n - 1) * s : data;
    return 1;
}

/* rows*cols*item rounded up to 64 bytes, or SIZE_MAX if that overflows. */
SG_WARM static inline size_t sg_blas_bytes_(sg_index rows, sg_index cols, sg_index item) {
    if (rows <= 0 || cols <= 0) return 0;
    size_t r = (size_t)rows, c = (size_t)cols, it = (size_t)item;
    if (r > (SIZE_MAX - 64) / c / it) return SIZE_MAX;
    return (r * c * it + 63) / 64 * 64;
}

/* Copy matrix `a` into `buf` as a C-contiguous rows x cols array; return its view. */
SG_HOT static inline void sg_blas_copy_(const sg_mat *a, sg_index item, char *buf, sg_blas_op *op) {
    char *dst = buf;
    for (sg_index i = 0; i < a->rows; i++) {
        const char *src = a->data + i * a->rs;
        if (a->cs == item) {
            memcpy(dst, src, (size_t)(a->cols * item));
            dst += a->cols * item;
        } else if (item == 8) {
            for (sg_index j = 0; j < a->cols; j++, dst += 8, src += a->cs) memcpy(dst, src, 8);
        } else {
            for (sg_index j = 0; j < a->cols; j++, dst += item, src += a->cs) memcpy(dst, src, (size_t)item);
        }
    }
    op->data = buf;
    op->ld = (int)(a->cols > 1 ? a->cols : 1);
    op->colmajor = 0;
}

/* The product's shape: which routine it uses. */
enum { SG_BLAS_NONE = 0, SG_BLAS_DOT = 1, SG_BLAS_GEMV_A = 2, SG_BLAS_GEMV_B = 3, SG_BLAS_GEMM = 4 };

SG_WARM static inline int sg_blas_kind_(const sg_mat *A, const sg_mat *B) {
    if (A->rows == 0 || B->cols == 0 || A->cols == 0) return SG_BLAS_NONE;
    if (A->rows == 1 && B->cols == 1) return SG_BLAS_DOT;
    if (B->cols == 1) return SG_BLAS_GEMV_A; /* (m x k) @ column: gemv on A */
    if (A->rows == 1) return SG_BLAS_GEMV_B; /* row @ (k x n): gemv on B^T */
    return SG_BLAS_GEMM;
}

/* The two operands as BLAS sees them: A as matrix or row vector, B as matrix or column
 * vector, B^T as matrix for GEMV_B. `need[0..1]` receive the copy sizes (0: no copy). */
SG_WARM static inline void sg_blas_plan_(const sg_mat *A, const sg_mat *B, sg_index item, int kind,
                                 sg_blas_op *opa, sg_blas_op *opb, size_t *need) {
    sg_mat Bt = {B->data, B->cols, B->rows, B->cs, B->rs};
    int oka, okb;
    if (kind == SG_BLAS_DOT || kind == SG_BLAS_GEMV_B)
        oka = sg_blas_vec_view(A->data, A->cols, A->cs, item, opa);
    else
        oka = sg_blas_mat_view(A, item, opa);
    if (kind == SG_BLAS_DOT || kind == SG_BLAS_GEMV_A)
        okb = sg_blas_vec_view(B->data, B->rows, B->rs, item, opb);
    else if (kind == SG_BLAS_GEMV_B)
        okb = sg_blas_mat_view(&Bt, item, opb);
    else
        okb = sg_blas_mat_view(B, item, opb);
    need[0] = oka ? 0 : sg_blas_bytes_(A->rows, A->cols, item);
    need[1] = okb ? 0 : sg_blas_bytes_(B->rows, B->cols, item);
}

/* Whether the own kernel computes A @ B: a matrix-matrix product (the kind), the kernel
 * loaded, and strides that are whole elements (others are rare and go to BLAS's copy path). */
SG_WARM static inline int sg_gemm_own_takes_(const sg_mat *A, const sg_mat *B, sg_index item, int kind) {
    return kind == SG_BLAS_GEMM && sg_gemm_own.loaded && A->rs % item == 0 && A->cs % item == 0 &&
           B->rs % item == 0 && B->cs % item == 0;
}

/* Whether A @ B is a non-empty product with a size BLAS's int cannot hold (refused). */
SG_WARM static inline int sg_blas_too_big(const sg_mat *A, const sg_mat *B) {
    sg_index m = A->rows, k = A->cols, n = B->cols;
    return m > 0 && k > 0 && n > 0 && (m > INT_MAX || k > INT_MAX || n > INT_MAX);
}

/* Scratch bytes sg_blas_matmul needs for A @ B (0 when no operand is copied or the product
 * is refused as too big), or SIZE_MAX when the size would overflow. */
SG_WARM static inline size_t sg_blas_matmul_scratch(const sg_mat *A, const sg_mat *B, sg_index item) {
    sg_blas_op opa, opb;
    size_t need[2];
    int kind = sg_blas_kind_(A, B);
    if (kind == SG_BLAS_NONE || sg_blas_too_big(A, B)) return 0;
    if (sg_gemm_own_takes_(A, B, item, kind)) /* its packing buffers; it reads any strides */
        return (item == 8 ? sg_gemm_own.bytes_f64 : sg_gemm_own.bytes_f32)(A->rows, B->cols, A->cols);
    sg_blas_plan_(A, B, item, kind, &opa, &opb, need);
    if (need[0] == SIZE_MAX || need[1] == SIZE_MAX || need[0] > SIZE_MAX - need[1]) return SIZE_MAX;
    return need[0] + need[1];
}

SG_WARM static inline int sg_blas_check_sizes_(sg_error *err, sg_index m, sg_index k, sg_index n) {
    if (m > INT_MAX || k > INT_MAX || n > INT_MAX)
        SG_FAIL_CODE(err, SG_ERR_VALUE,
                     "matrix product of sizes m=%td, k=%td, n=%td: a size above %d (BLAS int) is "
                     "not implemented",
                     m, k, n, INT_MAX);
    if (!sg_blas.loaded) SG_FAIL(err, "BLAS routines were not loaded (module init did not run)");
    return SG_OK;
}

/*
 * out = A @ B for A (m x k), B (k x n) of one float type (dbl: double, else float), out a
 * C-contiguous m x n array (row stride ldo elements, ldo >= n). The caller has checked that
 * A->cols == B->rows. `scratch` holds sg_blas_matmul_scratch(A, B, item) bytes (may be NULL
 * when that is 0). Dispatches to dot, gemv or gemm; a k == 0 product is all zeros.
 */
SG_WARM static inline int sg_blas_matmul(sg_error *err, int dbl, const sg_mat *A, const sg_mat *B, char *out,
                                 sg_index ldo, char *scratch) {
    sg_index item = dbl ? 8 : 4;
    sg_index m = A->rows, k = A->cols, n = B->cols;
    if (m == 0 || n == 0) return SG_OK;
    if (k == 0) { /* empty sum */
        for (sg_index i = 0; i < m; i++) memset(out + i * ldo * item, 0, (size_t)(n * item));
        return SG_OK;
    }
    SG_CHECK(sg_blas_check_sizes_(err, m, k, n));
    if (ldo < n || ldo > INT_MAX) SG_FAIL(err, "sg_blas_matmul: bad output leading dimension %td", ldo);
    int kind = sg_blas_kind_(A, B);
    if (sg_gemm_own_takes_(A, B, item, kind)) {
        size_t bytes = (dbl ? sg_gemm_own.bytes_f64 : sg_gemm_own.bytes_f32)(m, n, k);
        int rc = dbl ? sg_gemm_own.f64(m, n, k, (const double *)A->data, A->rs / 8, A->cs / 8,
                                       (const double *)B->data, B->rs / 8, B->cs / 8, (double *)out, ldo, scratch,
                                       bytes, sg_par_for)
                     : sg_gemm_own.f32(m, n, k, (const float *)A->data, A->rs / 4, A->cs / 4,
                                       (const float *)B->data, B->rs / 4, B->cs / 4, (float *)out, ldo, scratch,
                                       bytes, sg_par_for);
        if (rc) SG_FAIL(err, "sg_blas_matmul: the product kernel refused its scratch memory (%zu bytes)", bytes);
        return SG_OK;
    }
    sg_blas_op opa, opb;
    size_t need[2];
    sg_blas_plan_(A, B, item, kind, &opa, &opb, need);
    if ((need[0] || need[1]) && !scratch) SG_FAIL(err, "sg_blas_matmul: no scratch memory given");
    if (need[0]) {
        if (kind == SG_BLAS_DOT || kind == SG_BLAS_GEMV_B) { /* the row as a contiguous vector */
            sg_mat row = {A->data, 1, k, 0, A->cs};
            sg_blas_copy_(&row, item, scratch, &opa);
            opa.ld = 1;
        } else {
            sg_blas_copy_(A, item, scratch, &opa);
        }
    }
    if (need[1]) {
        char *buf = scratch + need[0];
        if (kind == SG_BLAS_DOT || kind == SG_BLAS_GEMV_A) { /* the column as a vector */
            sg_mat col = {B->data, 1, k, 0, B->rs};
            sg_blas_copy_(&col, item, buf, &opb);
            opb.ld = 1;
        } else if (kind == SG_BLAS_GEMV_B) { /* B^T (n x k) copied C-contiguous */
            sg_mat Bt = {B->data, n, k, B->cs, B->rs};
            sg_blas_copy_(&Bt, item, buf, &opb);
        } else {
            sg_blas_copy_(B, item, buf, &opb);
        }
    }
    int im = (int)m, ik = (int)k, in = (int)n, ildo = (int)ldo;
    double d1 = 1.0, d0 = 0.0;
    float s1 = 1.0f, s0 = 0.0f;
    switch (kind) {
    case SG_BLAS_DOT:
        if (dbl) *(double *)out = sg_blas.ddot(&ik, (double *)opa.data, &opa.ld, (double *)opb.data, &opb.ld);
        else *(float *)out = sg_blas.sdot(&ik, (float *)opa.data, &opa.ld, (float *)opb.data, &opb.ld);
        break;
    case SG_BLAS_GEMV_A:
    case SG_BLAS_GEMV_B: {
        /* y = M x with M (rows x k) = A or B^T, x = B's column or A's row; y is out's column
         * (GEMV_A, stride ldo) or row (GEMV_B, stride 1). */
        sg_blas_op *mat = kind == SG_BLAS_GEMV_A ? &opa : &opb, *vec = kind == SG_BLAS_GEMV_A ? &opb : &opa;
        int rows = kind == SG_BLAS_GEMV_A ? im : in, incy = kind == SG_BLAS_GEMV_A ? ildo : 1;
        /* Column-major storage holds M itself ('N', rows x k) or M^T ('T', k x rows). */
        char trans = mat->colmajor ? 'N' : 'T';
        int bm = mat->colmajor ? rows : ik, bn = mat->colmajor ? ik : rows;
        if (dbl)
            sg_blas.dgemv(&trans, &bm, &bn, &d1, (double *)mat->data, &mat->ld, (double *)vec->data, &vec->ld,
                          &d0, (double *)out, &incy);
        else
            sg_blas.sgemv(&trans, &bm, &bn, &s1, (float *)mat->data, &mat->ld, (float *)vec->data, &vec->ld,
                          &s0, (float *)out, &incy);
        break;
    }
    default: {
        /* out^T (n x m, column-major, ld ldo) = op(B-storage) (n x k) @ op(A-storage) (k x m).
         * Row-major-viewable B is stored as B^T: 'N'; column-major B needs 'T'. Same for A. */
        char tb = opb.colmajor ? 'T' : 'N', ta = opa.colmajor ? 'T' : 'N';
        if (dbl)
            sg_blas.dgemm(&tb, &ta, &in, &im, &ik, &d1, (double *)opb.data, &opb.ld, (double *)opa.data, &opa.ld,
                          &d0, (double *)out, &ildo);
        else
            sg_blas.sgemm(&tb, &ta, &in, &im, &ik, &s1, (float *)opb.data, &opb.ld, (float *)opa.data, &opa.ld,
                          &s0, (float *)out, &ildo);
        break;
    }
    }
    return SG_OK;
}

/* Scratch bytes sg_blas_gemv needs (the larger of its two paths), SIZE_MAX on overflow. */
SG_WARM static inline size_t sg_blas_gemv_scratch(const sg_mat *A, char *x, sg_index xs, sg_index item) {
    sg_mat X = {x, A->cols, 1, xs, item};
    size_t plain = sg_blas_matmul_scratch(A, &X, item), need[2] = {0, 0};
    sg_blas_op opa, opx;
    if (A->rows > 0 && A->cols > 0 && A->rows <= INT_MAX && A->cols <= INT_MAX) sg_blas_plan_(A, &X, item, SG_BLAS_GEMV_A, &opa, &opx, need);
    if (need[0] == SIZE_MAX || need[1] == SIZE_MAX || need[0] > SIZE_MAX - need[1]) return SIZE_MAX;
    return plain > need[0] + need[1] ? plain : need[0] + need[1];
}

/*
 * Gemv: out = beta * y + alpha * (A @ x), out a contiguous vector of A->rows elements,
 * y / x strided vectors (data, byte stride) of A->rows / A->cols elements (checked by the
 * caller). BLAS with alpha == 0 or beta == 0 skips reading A/x or y, which would turn
 * 0 * nan into 0; those cases (and k == 0) compute A @ x first and combine elementwise, as
 * NumPy does. `scratch`: sg_blas_gemv_scratch(A, x, xs, item) bytes.
 */
SG_WARM static inline int sg_blas_gemv(sg_error *err, int dbl, double alpha, double beta, const sg_mat *A, char *x,
                               sg_index xs, char *y, sg_index ys, char *out, char *scratch) {
    sg_index item = dbl ? 8 : 4, m = A->rows, k = A->cols;
    if (m == 0) return SG_OK;
    int fused = k > 0 && alpha != 0 && beta != 0;
    sg_mat X = {x, k, 1, xs, item};
    if (fused && m <= INT_MAX && k <= INT_MAX) {
        /* out = y, then BLAS out = alpha A x + beta out. */
        for (sg_index i = 0; i < m; i++) memcpy(out + i * item, y + i * ys, (size_t)item);
        SG_CHECK(sg_blas_check_sizes_(err, m, k, 1));
        sg_blas_op opa, opx;
        size_t need[2];
        sg_blas_plan_(A, &X, item, SG_BLAS_GEMV_A, &opa, &opx, need);
        if ((need[0] || need[1]) && !scratch) SG_FAIL(err, "sg_blas_gemv: no scratch memory given");
        if (need[0]) sg_blas_copy_(A, item, scratch, &opa);
        if (need[1]) {
            sg_mat col = {x, 1, k, 0, xs};
            sg_blas_copy_(&col, item, scratch + need[0], &opx);
            opx.ld = 1;
        }
        char trans = opa.colmajor ? 'N' : 'T';
        int bm = opa.colmajor ? (int)m : (int)k, bn = opa.colmajor ? (int)k : (int)m, one = 1;
        if (dbl) {
            double a = alpha, b = beta;
            sg_blas.dgemv(&trans, &bm, &bn, &a, (double *)opa.data, &opa.ld, (double *)opx.data, &opx.ld, &b,
                          (double *)out, &one);
        } else {
            float a = (float)alpha, b = (float)beta;
            sg_blas.sgemv(&trans, &bm, &bn, &a, (float *)opa.data, &opa.ld, (float *)opx.data, &opx.ld, &b,
                          (float *)out, &one);
        }
        return SG_OK;
    }
    SG_CHECK(sg_blas_matmul(err, dbl, A, &X, out, 1, scratch));
    if (dbl) {
        double *o = (double *)out;
        for (sg_index i = 0; i < m; i++) o[i] = beta * *(double *)(y + i * ys) + alpha * o[i];
    } else {
        float *o = (float *)out, a = (float)alpha, b = (float)beta;
        for (sg_index i = 0; i < m; i++) o[i] = b * *(float *)(y + i * ys) + a * o[i];
    }
    return SG_OK;
}

#endif /* SG_BLAS_H */
