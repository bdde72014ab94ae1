/*
 * sg_runtime.h -- the C runtime that symgraph's generated code includes.
 *
 * Header-only (everything is `static inline`), so a generated module needs no separate
 * link step: `#include "sg_runtime.h"` (which also includes sg_math.h) is all it takes.
 * It must be compiled as C11 or later (`_Generic`); gcc's default (gnu17) is fine.
 * Compile generated code with `-fwrapv`: NumPy integer arithmetic wraps on overflow, while
 * signed overflow is undefined behaviour in plain C (`INT_MIN * -1`, `-INT_MIN`...).
 *
 * What is here
 * ------------
 * 1. Scalar types. The `npy_*` names the scalar-op table's C templates use for `%(o)s`
 *    (`npy_float64`...), defined without NumPy's headers. `npy_bool` is C's `_Bool`, so
 *    that type-generic helpers (`sg_invert`) can tell booleans from `npy_uint8`. Generated
 *    code should therefore NOT include NumPy's headers; if they were included first, their
 *    definitions are kept (and `npy_bool` is then `unsigned char`).
 * 2. Array views (`sg_array`): data pointer, ndim, shape, strides in BYTES, dtype code. Built
 *    on the Python side from a NumPy array without copying (its shape/strides arrays can be
 *    pointed to directly: `sg_index` has the size of `npy_intp`).
 * 3. Error reporting (`sg_error`, `SG_FAIL`): every generated function takes an
 *    `sg_error *` and returns 0 on success or an `SG_ERR_*` code; the struct carries a
 *    formatted message and the id of the failing node, so Python can raise a ValueError
 *    naming the node and the user's source line.
 * 4. Shape checks (`sg_check_broadcast`, `sg_check_shape`): the project's broadcasting rule
 *    is static -- a dimension broadcasts only when its type says it has length 1 -- so at run
 *    time every non-broadcastable dimension must equal the others, and a broadcastable one
 *    must really be 1. Mismatches name the input and the dimension.
 * 5. A strided n-d iterator (`sg_iter`) for broadcasting elementwise loops and reductions:
 *    it zeroes broadcast strides, merges dimensions that are contiguous for every array, and
 *    hands out an innermost 1-d loop at a time (the NumPy "external loop" pattern), so the
 *    generated inner loop is a plain `for` that the C compiler can vectorise.
 *
 * Iteration pattern for generated code (see sg_iter_init for the arguments):
 *
 *     sg_iter it;
 *     char *base[3] = {x->data, y->data, out->data};
 *     const sg_index *st[3] = {x->strides, y->strides, out->strides};
 *     if (sg_iter_init(&it, err, 3, base, st, ndim, out_shape)) return err->code;
 *     if (it.size) do {
 *         sg_index n = it.inner_size;
 *         if (sg_iter_inner_contiguous(&it, itemsizes)) {     // fast path: typed pointers
 *             const double *a = (const double *)it.ptrs[0]; ...
 *             for (sg_index k = 0; k < n; k++) o[k] = a[k] * b[k];
 *         } else {                                            // strided / broadcast path
 *             char *pa = it.ptrs[0]; sg_index sa = it.inner_strides[0]; ...
 *             for (sg_index k = 0; k < n; k++) { ...; pa += sa; ... }
 *         }
 *     } while (sg_iter_next(&it));
 *
 * A reduction uses the same iterator with the output's strides set to 0 on the reduced
 * axes (`sg_iter_init` takes any strides, including 0): each output element is then
 * visited once per reduced element and updated in place.
 */
#ifndef SG_RUNTIME_H
#define SG_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef SG_OPENMP
#include <omp.h> /* the fallback way to split large loops over the cores (sg_par_for) */
#endif

/* Helpers that run once per node (checks, iterator setup, allocation) are not inlined:
 * inlining them into every node's code multiplied the compile time of a whole-graph
 * module several times over for no measurable run-time gain. */
#if defined(__GNUC__)
#define SG_NOINLINE __attribute__((noinline, unused))
#else
#define SG_NOINLINE
#endif

/* Per-function optimisation levels. Generated modules are compiled at a low level (most of
 * their code is bookkeeping that runs once per call, and gcc's time grows with the level);
 * the loops that touch every element opt back in:
 *   SG_HOT  -- contiguous kernels: full optimisation, vectorised (SIMD math from libmvec);
 *   SG_WARM -- strided / broadcast fallbacks and the runtime helpers below that loop over
 *              dimensions or elements: -Og, scalar code with registers allocated and the
 *              obvious redundancies removed, for a small fraction of -O3's compile time
 *              (measured on W4's module: -O2 here cost 7x more compile time than -Og).
 * gcc never inlines between functions of different levels (so the math helpers of
 * sg_math.h, called from SG_HOT kernels, are SG_HOT themselves).
 * Command-line options such as -fno-math-errno, -fwrapv and -march stay in force.
 * Only gcc has the optimize attribute; other compilers use the command-line level. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(SG_NO_OPT_ATTRIBUTES)
#define SG_HOT __attribute__((optimize("O3"), unused))
#define SG_WARM __attribute__((optimize("Og"), unused))
#elif defined(__GNUC__)
#define SG_HOT __attribute__((unused))
#define SG_WARM __attribute__((unused))
#else
#define SG_HOT
#define SG_WARM
#endif

/* Functions of an op's kernel code (c_kernel_code in docs/c_backend.md) that the rest of the
 * module calls: the kernels may be compiled in a translation unit of their own, in parallel
 * with the module (symgraph/link/c/build.py), so they need external linkage; hidden, so that
 * two loaded modules never see each other's. */
#if defined(__GNUC__)
#define SG_KERNEL __attribute__((visibility("hidden")))
#else
#define SG_KERNEL
#endif

/* ------------------------------------------------------------------ scalar types */

#if !defined(NUMPY_CORE_INCLUDE_NUMPY_NPY_COMMON_H_) && !defined(_NPY_COMMON_H_) && !defined(SG_NPY_TYPES_DEFINED)
#define SG_NPY_TYPES_DEFINED 1
typedef _Bool npy_bool;
typedef int8_t npy_int8;
typedef int16_t npy_int16;
typedef int32_t npy_int32;
typedef int64_t npy_int64;
typedef uint8_t npy_uint8;
typedef float npy_float32;
typedef double npy_float64;
typedef ptrdiff_t npy_intp;
#endif

/* Index type for shapes and strides: the size of npy_intp / Py_ssize_t. */
typedef ptrdiff_t sg_index;

/* Dtype codes, in the order of symgraph.tensor.scalar_ops.SUPPORTED_DTYPES (the Python side
 * uses the same numbering: see symgraph/link/c/runtime.py DTYPE_CODES). */
typedef enum {
    SG_BOOL = 0,
    SG_INT8 = 1,
    SG_INT16 = 2,
    SG_INT32 = 3,
    SG_INT64 = 4,
    SG_UINT8 = 5,
    SG_FLOAT32 = 6,
    SG_FLOAT64 = 7,
    SG_NUM_DTYPES = 8
} sg_dtype;

/* Size in bytes of one element of dtype `code` (0 for an unknown code). */
static inline size_t sg_dtype_itemsize(int code) {
    static const unsigned char sizes[SG_NUM_DTYPES] = {1, 1, 2, 4, 8, 1, 4, 8};
    return (code >= 0 && code < SG_NUM_DTYPES) ? sizes[code] : 0;
}

/* Name of dtype `code`, for error messages. */
static inline const char *sg_dtype_name(int code) {
    static const char *const names[SG_NUM_DTYPES] = {"bool",  "int8",  "int16",   "int32",
                                                     "int64", "uint8", "float32", "float64"};
    return (code >= 0 && code < SG_NUM_DTYPES) ? names[code] : "unknown";
}

/* ------------------------------------------------------------------ array views */

/* Most dimensions an sg_array may have (NumPy 2 allows 64). */
#define SG_MAXDIMS 64

/* A strided n-d array view. Does not own anything: `shape` and `strides` point to ndim
 * values each (may be NULL when ndim == 0), strides are in bytes and may be 0 or negative. */
typedef struct {
    char *data;
    int ndim;
    int dtype; /* an sg_dtype code */
    const sg_index *shape;
    const sg_index *strides;
} sg_array;

/* The product of `ndim` sizes, or -1 if it overflows or a size is negative. A zero anywhere
 * gives 0, as NumPy does not mind huge dimensions next to an empty one. */
SG_WARM static inline sg_index sg_shape_product(int ndim, const sg_index *shape) {
    sg_index total = 1;
    int overflow = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) return 0;
        if (shape[d] < 0) return -1;
        if (!overflow && __builtin_mul_overflow(total, shape[d], &total)) overflow = 1;
    }
    return overflow ? -1 : total;
}

/* Number of elements of `a` (1 for a 0-d array). */
static inline sg_index sg_array_size(const sg_array *a) {
    sg_index n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    return n;
}

/* Whether `a` is C-contiguous (length-1 dimensions may have any stride, as in NumPy). */
static inline int sg_array_is_c_contiguous(const sg_array *a) {
    sg_index expected = (sg_index)sg_dtype_itemsize(a->dtype);
    for (int d = a->ndim - 1; d >= 0; d--) {
        if (a->shape[d] == 0) return 1;
        if (a->shape[d] != 1 && a->strides[d] != expected) return 0;
        expected *= a->shape[d];
    }
    return 1;
}

/* Write "(3, 4)" into buf (always NUL-terminated); used by error messages. */
SG_NOINLINE static void sg_format_shape(char *buf, size_t size, int ndim, const sg_index *shape) {
    size_t used = 0;
    if (size == 0) return;
    buf[0] = '\0';
#define SG_APPEND_(...)                                                          \
    do {                                                                         \
        if (used < size) {                                                       \
            int w_ = snprintf(buf + used, size - used, __VA_ARGS__);             \
            if (w_ > 0) used += (size_t)w_;                                      \
        }                                                                        \
    } while (0)
    SG_APPEND_("(");
    for (int d = 0; d < ndim; d++) SG_APPEND_(d ? ", %td" : "%td", shape[d]);
    SG_APPEND_(ndim == 1 ? ",)" : ")");
#undef SG_APPEND_
}

/* ------------------------------------------------------------------ errors */

/* Return codes of generated functions and runtime helpers (0 is success). */
enum {
    SG_OK = 0,
    SG_ERR_RUNTIME = 1, /* generic failure (SG_FAIL) */
    SG_ERR_SHAPE = 2,   /* shape / broadcasting mismatch: Python raises ValueError */
    SG_ERR_VALUE = 3,   /* invalid value (e.g. an index out of bounds) */
    SG_ERR_MEMORY = 4,  /* allocation failure: Python raises MemoryError */
    SG_ERR_TYPE = 5,    /* wrong dtype / rank of an input */
    SG_ERR_INDEX = 6    /* an index out of bounds: Python raises IndexError */
};

#define SG_ERRMSG_SIZE 512

/* Per-call error state, allocated by the caller (Python) and passed to the generated
 * function. Generated code sets `node` to the id of the node it is about to run (so the
 * message need not repeat it); on failure `code` and `msg` are filled. */
typedef struct {
    int code;
    int node; /* index of the failing node in the function's node list, -1 if unknown */
    char msg[SG_ERRMSG_SIZE];
} sg_error;

/* Reset `err` before a call. */
static inline void sg_error_clear(sg_error *err) {
    if (!err) return;
    err->code = SG_OK;
    err->node = -1;
    err->msg[0] = '\0';
}

/* Record an error (printf-style message, truncated to fit) and return `code`, so that
 * `return sg_error_set(err, SG_ERR_SHAPE, "...", ...);` reports and exits in one line. */
static inline int sg_error_set(sg_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline int sg_error_set(sg_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, SG_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

/* Set the node id (generated code calls this before each node's code). */
#define SG_SET_NODE(err, id) ((err)->node = (id))

/* Format a message into `err` and return SG_ERR_RUNTIME from the enclosing function:
 *     if (n < 0) SG_FAIL(err, "negative length %td", n);                              */
#define SG_FAIL(err, ...) return sg_error_set((err), SG_ERR_RUNTIME, __VA_ARGS__)

/* The same with an explicit error code:  SG_FAIL_CODE(err, SG_ERR_VALUE, "...", ...). */
#define SG_FAIL_CODE(err, code, ...) return sg_error_set((err), (code), __VA_ARGS__)

/* Propagate a non-zero return code of a call:  SG_CHECK(sg_check_shape(...)); */
#define SG_CHECK(call)              \
    do {                            \
        int sg_rc_ = (call);        \
        if (sg_rc_) return sg_rc_;  \
    } while (0)

/* ------------------------------------------------------------------ shape checks */

static inline const char *sg_input_name_(const char *const *names, int i, char *buf, size_t size) {
    if (names && names[i]) return names[i];
    snprintf(buf, size, "input %d", i);
    return buf;
}

/*
 * Check `nin` inputs against the project's static broadcasting rule and compute the output
 * shape. All inputs have `ndim` dimensions (the graph aligns ranks before elementwise ops).
 *   ins[i]          the input views (their ndim must equal `ndim`)
 *   bcast           nin*ndim flags, bcast[i*ndim + d] != 0: input i is statically broadcastable
 *                   (length 1) in dimension d; NULL means no dimension broadcasts
 *   names           optional input names for messages (NULL entries / NULL: "input <i>")
 *   out_shape       receives the ndim output lengths
 * A non-broadcastable dimension gives the output length; all such must agree. A
 * broadcastable dimension must have length 1 at run time. Returns SG_OK or SG_ERR_SHAPE
 * with a message naming the input(s) and dimension.
 */
SG_WARM SG_NOINLINE static int sg_check_broadcast(sg_error *err, int nin, const sg_array *const *ins,
                                     const unsigned char *bcast, const char *const *names, int ndim,
                                     sg_index *out_shape) {
    char b1[32], b2[32], s1[256], s2[256];
    for (int i = 0; i < nin; i++) {
        if (ins[i]->ndim != ndim) {
            sg_format_shape(s1, sizeof s1, ins[i]->ndim, ins[i]->shape);
            SG_FAIL_CODE(err, SG_ERR_SHAPE, "%s has %d dimensions (shape %s), expected %d",
                         sg_input_name_(names, i, b1, sizeof b1), ins[i]->ndim, s1, ndim);
        }
    }
    for (int d = 0; d < ndim; d++) {
        int owner = -1; /* first non-broadcastable input in dimension d */
        for (int i = 0; i < nin; i++) {
            sg_index len = ins[i]->shape[d];
            if (bcast && bcast[i * ndim + d]) {
                if (len != 1) {
                    sg_format_shape(s1, sizeof s1, ndim, ins[i]->shape);
                    SG_FAIL_CODE(err, SG_ERR_SHAPE,
                                 "%s has length %td in dimension %d (shape %s) but its type says "
                                 "that dimension is broadcastable (length 1)",
                                 sg_input_name_(names, i, b1, sizeof b1), len, d, s1);
                }
            } else if (owner < 0) {
                owner = i;
            } else if (len != ins[owner]->shape[d]) {
                /* The same wording as the Python implementation's (elemwise._broadcast_error). */
                sg_index lo = ins[owner]->shape[d];
                if (lo == 1 || len == 1) {
                    int one = lo == 1 ? owner : i, other = lo == 1 ? i : owner;
                    SG_FAIL_CODE(err, SG_ERR_SHAPE,
                                 "%s has size 1 in dimension %d at run time, but %s has size %td "
                                 "there. Its type does not declare dimension %d broadcastable (its "
                                 "static size is unknown, not 1), and only dimensions of static size "
                                 "1 broadcast. Declare it where the input is made, e.g. "
                                 "st.tensor(shape=(..., 1, ...)), or with st.specify_shape, "
                                 "expand_dims or dimshuffle('x', ...).",
                                 sg_input_name_(names, one, b1, sizeof b1), d,
                                 sg_input_name_(names, other, b2, sizeof b2), ins[other]->shape[d], d);
                }
                sg_format_shape(s1, sizeof s1, ndim, ins[owner]->shape);
                sg_format_shape(s2, sizeof s2, ndim, ins[i]->shape);
                SG_FAIL_CODE(err, SG_ERR_SHAPE,
                             "inputs could not be broadcast together: %s has shape %s and %s has "
                             "shape %s (sizes %td and %td in dimension %d)",
                             sg_input_name_(names, owner, b1, sizeof b1), s1,
                             sg_input_name_(names, i, b2, sizeof b2), s2, lo, len, d);
            }
        }
        out_shape[d] = owner < 0 ? 1 : ins[owner]->shape[d];
    }
    return SG_OK;
}

/* Check that `a` has exactly the shape `expected` (e.g. a preallocated output or a value
 * the generated code relies on). `what` names the array in the message. */
SG_WARM SG_NOINLINE static int sg_check_shape(sg_error *err, const char *what, const sg_array *a, int ndim,
                                 const sg_index *expected) {
    char s1[256], s2[256];
    int bad = a->ndim != ndim;
    for (int d = 0; !bad && d < ndim; d++) bad = a->shape[d] != expected[d];
    if (bad) {
        sg_format_shape(s1, sizeof s1, a->ndim, a->shape);
        sg_format_shape(s2, sizeof s2, ndim, expected);
        SG_FAIL_CODE(err, SG_ERR_SHAPE, "%s has shape %s, expected %s", what, s1, s2);
    }
    return SG_OK;
}

/* ------------------------------------------------------------------ strided iteration */

/* Most arrays one sg_iter walks together (inputs + outputs of a fused loop). */
#define SG_ITER_MAXARRAYS 32

/*
 * Iterator over the common (broadcast) shape of several strided arrays, one innermost 1-d
 * run at a time. After sg_iter_init: `size` is the total number of elements, and while
 * size > 0 each step exposes
 *   ptrs[k]           pointer to array k's first element of the current run
 *   inner_size        length of the run (the same for all arrays)
 *   inner_strides[k]  byte stride of array k along the run (0: broadcast)
 * and sg_iter_next advances to the next run (returning 0 when done).
 */
typedef struct {
    int narr;
    int ndim;             /* dimensions left after dropping length-1 ones and merging */
    sg_index size;        /* total number of elements (0: nothing to do) */
    sg_index inner_size;  /* shape[ndim-1], or 1 for a 0-d iteration */
    char *ptrs[SG_ITER_MAXARRAYS];
    sg_index inner_strides[SG_ITER_MAXARRAYS];
    /* outer dimensions (all but the innermost), walked like an odometer */
    sg_index shape[SG_MAXDIMS];
    sg_index strides[SG_ITER_MAXARRAYS][SG_MAXDIMS];
    sg_index index[SG_MAXDIMS];
} sg_iter;

/*
 * Set up iteration of `narr` arrays over `shape` (ndim dimensions).
 *   base[k]     array k's data pointer
 *   strides[k]  array k's ndim byte strides; a dimension where array k's length is 1 but
 *               shape[d] is larger must be given stride 0 there (sg_broadcast_strides does
 *               it), and a reduction's output has stride 0 on the reduced axes
 * Returns SG_OK, or an error if narr/ndim exceed the compile-time limits.
 * Length-1 dimensions are dropped and neighbouring dimensions that are contiguous for every
 * array are merged, so a C-contiguous elementwise loop becomes a single run.
 */
SG_WARM SG_NOINLINE static int sg_iter_init(sg_iter *it, sg_error *err, int narr, char *const *base,
                               const sg_index *const *strides, int ndim, const sg_index *shape) {
    if (narr > SG_ITER_MAXARRAYS || narr < 1)
        SG_FAIL(err, "sg_iter: %d arrays (supported: 1 to %d)", narr, SG_ITER_MAXARRAYS);
    if (ndim > SG_MAXDIMS || ndim < 0) SG_FAIL(err, "sg_iter: %d dimensions (max %d)", ndim, SG_MAXDIMS);
    it->narr = narr;
    it->size = 1;
    for (int d = 0; d < ndim; d++) it->size *= shape[d];
    for (int k = 0; k < narr; k++) it->ptrs[k] = base[k];
    /* Keep dims of length > 1, merging d into the previous kept dim when, for every array,
     * stride[prev] == stride[d] * shape[d] (then (prev, d) is one dim of length prev*d). */
    int m = 0;
    for (int d = 0; d < ndim && it->size > 0; d++) {
        if (shape[d] == 1) continue;
        int merge = m > 0;
        for (int k = 0; merge && k < narr; k++)
            merge = strides[k][d] * shape[d] == it->strides[k][m - 1];
        if (merge) {
            it->shape[m - 1] *= shape[d];
            for (int k = 0; k < narr; k++) it->strides[k][m - 1] = strides[k][d];
        } else {
            it->shape[m] = shape[d];
            for (int k = 0; k < narr; k++) it->strides[k][m] = strides[k][d];
            m++;
        }
    }
    if (it->size == 0) m = 0;
    if (m == 0) { /* a single element (or none): one run of length size */
        it->ndim = 0;
        it->inner_size = it->size;
        for (int k = 0; k < narr; k++) it->inner_strides[k] = 0;
        return SG_OK;
    }
    it->ndim = m;
    it->inner_size = it->shape[m - 1];
    for (int k = 0; k < narr; k++) it->inner_strides[k] = it->strides[k][m - 1];
    for (int d = 0; d < m; d++) it->index[d] = 0;
    return SG_OK;
}

/* Advance to the next innermost run; returns 1 if there is one, 0 when iteration is over. */
SG_WARM SG_NOINLINE static int sg_iter_next(sg_iter *it) {
    for (int d = it->ndim - 2; d >= 0; d--) {
        if (++it->index[d] < it->shape[d]) {
            for (int k = 0; k < it->narr; k++) it->ptrs[k] += it->strides[k][d];
            return 1;
        }
        it->index[d] = 0;
        for (int k = 0; k < it->narr; k++) it->ptrs[k] -= it->strides[k][d] * (it->shape[d] - 1);
    }
    return 0;
}

/* Whether every array's inner stride equals its itemsize (itemsizes[k]; an itemsize of 0
 * skips array k), i.e. the current run can use plain typed pointers. Broadcast (stride 0)
 * arrays are not contiguous: generated code may special-case them as scalars. */
static inline int sg_iter_inner_contiguous(const sg_iter *it, const sg_index *itemsizes) {
    if (it->inner_size <= 1) return 1;
    for (int k = 0; k < it->narr; k++)
        if (itemsizes[k] && it->inner_strides[k] != itemsizes[k]) return 0;
    return 1;
}

/* Strides of `a` viewed with shape `shape` (a->ndim dimensions): 0 where `a` has length 1
 * and `shape` does not, a's own stride elsewhere. */
static inline void sg_broadcast_strides(const sg_array *a, const sg_index *shape, sg_index *out) {
    for (int d = 0; d < a->ndim; d++) out[d] = (a->shape[d] == 1 && shape[d] != 1) ? 0 : a->strides[d];
}


/* ------------------------------------------------------------------ workspace */

/* Memory kept across calls of one compiled function: numbered slots, each a buffer that
 * only grows. Intermediates of a region and scratch space of ops live here, so a call
 * allocates nothing once the sizes have been seen. Owned by the Python side (a capsule
 * frees it with sg_ws_free). */
typedef struct {
    int nslots;
    void **bufs;
    size_t *sizes;
    /* Profiling (function(..., profile=True)): when not NULL, a region adds the seconds each
     * of its nodes takes to node_times[j], j < node_times_len; node_times_owner is the
     * Python object owning that memory (the module holds a reference). NULL otherwise: then
     * timing costs one test per node. */
    double *node_times;
    sg_index node_times_len;
    void *node_times_owner;
} sg_ws;

/* Seconds on a monotonic clock (for the profile's node times). */
static inline double sg_clock_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* At least `nbytes` bytes of slot `slot` (64-byte aligned, contents unspecified), or NULL
 * after recording a memory error in `err`. */
SG_WARM SG_NOINLINE static void *sg_ws_scratch(sg_ws *ws, int slot, size_t nbytes, sg_error *err) {
    if (slot < 0 || slot >= ws->nslots) {
        sg_error_set(err, SG_ERR_RUNTIME, "workspace slot %d out of range (%d slots)", slot, ws->nslots);
        return NULL;
    }
    if (nbytes == 0) nbytes = 1;
    if (ws->sizes[slot] < nbytes) {
        free(ws->bufs[slot]);
        size_t rounded = (nbytes + 63) / 64 * 64;
        ws->bufs[slot] = aligned_alloc(64, rounded);
        ws->sizes[slot] = ws->bufs[slot] ? rounded : 0;
        if (!ws->bufs[slot]) {
            sg_error_set(err, SG_ERR_MEMORY, "could not allocate %zu bytes of workspace", nbytes);
            return NULL;
        }
    }
    return ws->bufs[slot];
}

/* A workspace of `nslots` empty slots (NULL if out of memory). */
static inline sg_ws *sg_ws_new(int nslots) {
    sg_ws *ws = (sg_ws *)calloc(1, sizeof(sg_ws));
    if (!ws) return NULL;
    ws->nslots = nslots;
    ws->bufs = (void **)calloc((size_t)(nslots > 0 ? nslots : 1), sizeof(void *));
    ws->sizes = (size_t *)calloc((size_t)(nslots > 0 ? nslots : 1), sizeof(size_t));
    if (!ws->bufs || !ws->sizes) {
        free(ws->bufs);
        free(ws->sizes);
        free(ws);
        return NULL;
    }
    return ws;
}

static inline void sg_ws_free(sg_ws *ws) {
    if (!ws) return;
    for (int i = 0; i < ws->nslots; i++) free(ws->bufs[i]);
    free(ws->bufs);
    free(ws->sizes);
    free(ws);
}

/* Fill `strides` with C-contiguous byte strides for `shape` and return the total number of
 * bytes (itemsize * number of elements), or -1 if that overflows. */
SG_WARM SG_NOINLINE static sg_index sg_contiguous_strides(int ndim, const sg_index *shape, size_t itemsize, sg_index *strides) {
    sg_index total = (sg_index)itemsize;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = total;
        if (shape[d] < 0) return -1;
        if (shape[d] > 0 && total > PTRDIFF_MAX / shape[d]) return -1;
        total *= shape[d];
    }
    return total;
}

/* Copy the strided array `src` into `dst` (same shape and dtype, any strides). */
SG_WARM SG_NOINLINE static void sg_copy_array(const sg_array *dst, const sg_array *src) {
    size_t item = sg_dtype_itemsize(src->dtype);
    sg_iter it;
    char *base[2] = {dst->data, src->data};
    const sg_index *st[2] = {dst->strides, src->strides};
    if (sg_iter_init(&it, NULL, 2, base, st, src->ndim, src->shape) || it.size == 0) return;
    do {
        char *pd = it.ptrs[0], *ps = it.ptrs[1];
        sg_index sd = it.inner_strides[0], ss = it.inner_strides[1];
        for (sg_index k = 0; k < it.inner_size; k++, pd += sd, ps += ss) memcpy(pd, ps, item);
    } while (sg_iter_next(&it));
}

/* ------------------------------------------------------------------ parallel loops
 *
 * sg_par_for(n, grain, body, ctx) calls body(ctx, lo, hi) on consecutive parts of [0, n): one
 * part per thread when n >= 2 * grain, else the whole range on the calling thread. The
 * threads come from, in order of preference:
 *   1. the thread pool NumPy's OpenBLAS already runs, through its exported
 *      gotoblas_pthread(n, fn, args, stride) (fn(args + i * stride) for i < n, the first on
 *      the calling thread; returns when all are done), with as many parts as its current
 *      thread count. sg_pool_load (sg_module.h) fills the two pointers at module import. One
 *      pool for our loops and for the products (ours and NumPy's): two pools whose idle
 *      threads spin take the cores from each other (W4 ran ten times slower with OpenMP's);
 *   2. OpenMP, when the build defines SG_OPENMP;
 *   3. none: one call on the calling thread.
 * After fork() a child does not use either pool (sg_parallel_ok): libgomp's does not survive
 * a fork (OpenBLAS's restarts itself, but the child may be single-threaded on purpose). */
typedef void (*sg_par_body)(void *ctx, sg_index lo, sg_index hi);
typedef void (*sg_par_for_fn)(sg_index n, sg_index grain, sg_par_body body, void *ctx); /* sg_par_for's type */
typedef struct {
    sg_par_body body;
    void *ctx;
    sg_index lo, hi;
} sg_par_part;
#define SG_PAR_MAX_PARTS 64 /* OpenBLAS's MAX_CPU_NUMBER in NumPy's wheels */
static int (*sg_pool_run)(int, void *, void *, int) = NULL;
static int (*sg_pool_threads)(void) = NULL;
static int sg_parallel_ok = 1;
static void sg_parallel_after_fork_(void) { sg_parallel_ok = 0; }

static void sg_par_part_run(void *p) {
    const sg_par_part *part = (const sg_par_part *)p;
    part->body(part->ctx, part->lo, part->hi);
}

SG_WARM SG_NOINLINE static void sg_par_for(sg_index n, sg_index grain, sg_par_body body, void *ctx) {
    int nt = 1;
    if (sg_parallel_ok && grain > 0 && n >= 2 * grain) {
        if (sg_pool_run) nt = sg_pool_threads();
#ifdef SG_OPENMP
        else nt = omp_get_max_threads();
#endif
        if ((sg_index)nt > n / grain) nt = (int)(n / grain);
        if (nt > SG_PAR_MAX_PARTS) nt = SG_PAR_MAX_PARTS;
    }
    if (nt <= 1) {
        body(ctx, 0, n);
        return;
    }
    sg_par_part parts[SG_PAR_MAX_PARTS];
    const sg_index q = n / nt, r = n % nt; /* the first r parts get one more */
    for (int t = 0; t < nt; t++) {
        parts[t].body = body;
        parts[t].ctx = ctx;
        parts[t].lo = t * q + (t < r ? t : r);
        parts[t].hi = parts[t].lo + q + (t < r);
    }
    if (sg_pool_run) {
        sg_pool_run(nt, (void *)sg_par_part_run, parts, (int)sizeof(sg_par_part));
        return;
    }
#ifdef SG_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) sg_par_part_run(&parts[t]);
#endif
}

#include "sg_math.h"

#endif /* SG_RUNTIME_H */
