/* sg_random.h: random draws in generated C, from a numpy.random.Generator's bit generator.
 *
 * Included (after sg_module.h) by modules holding RandomVariable nodes; such modules are
 * linked with NumPy's static distribution library numpy/random/lib/libnpyrandom.a, the C
 * interface NumPy ships for this purpose. The draws call the same distribution functions,
 * in the same order and with the same per-path choices, as the Generator methods that
 * symgraph.tensor.random's Python implementation calls, so C and Python give the same
 * numbers for the same generator state.
 *
 * Conventions: a generator is a PyObject * (a numpy.random.Generator). A random node never
 * advances its input generator: it copies it (symgraph.tensor.random.copy_generator, the
 * copy the Python implementation makes too), draws from the copy and outputs the copy.
 * Parameters are sg_arrays of any dtype, read element by element; their batch dimensions
 * (all but `core` trailing ones) broadcast against the draws' shape, aligned on the right.
 */
#ifndef SG_RANDOM_H
#define SG_RANDOM_H

#include "numpy/random/distributions.h"

/* ------------------------------------------------------------------ generators */

/* symgraph.tensor.random.<name> (a new reference), or NULL with a Python error set. */
SG_WARM static PyObject *sg_rng_python_helper(const char *name) {
    PyObject *module = PyImport_ImportModule("symgraph.tensor.random");
    if (!module) return NULL;
    PyObject *fn = PyObject_GetAttrString(module, name);
    Py_DECREF(module);
    return fn;
}

/* A copy of generator `gen` (new reference), or NULL after recording an error. */
SG_WARM SG_NOINLINE static PyObject *sg_rng_copy(PyObject *gen, sg_error *err) {
    PyObject *copier = sg_rng_python_helper("copy_generator");
    PyObject *copy = copier ? PyObject_CallOneArg(copier, gen) : NULL;
    Py_XDECREF(copier);
    if (!copy) sg_error_set(err, SG_ERR_TYPE, "could not copy the random generator");
    return copy;
}

/* The bit generator state of Generator `gen` (borrowed: valid while `gen` lives). */
SG_WARM SG_NOINLINE static int sg_rng_bitgen(PyObject *gen, bitgen_t **out, sg_error *err) {
    PyObject *bit_generator = PyObject_GetAttrString(gen, "bit_generator");
    PyObject *capsule = bit_generator ? PyObject_GetAttrString(bit_generator, "capsule") : NULL;
    Py_XDECREF(bit_generator);
    *out = capsule ? (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator") : NULL;
    Py_XDECREF(capsule);
    if (!*out) return sg_error_set(err, SG_ERR_TYPE, "the random generator has no bit generator capsule");
    return 0;
}

/* ------------------------------------------------------------------ reading parameters */

SG_WARM static inline double sg_rv_f64(const char *p, int dtype) {
    switch (dtype) {
    case SG_BOOL: return (double)*(const _Bool *)p;
    case SG_INT8: return (double)*(const int8_t *)p;
    case SG_INT16: return (double)*(const int16_t *)p;
    case SG_INT32: return (double)*(const int32_t *)p;
    case SG_INT64: return (double)*(const int64_t *)p;
    case SG_UINT8: return (double)*(const uint8_t *)p;
    case SG_FLOAT32: return (double)*(const float *)p;
    default: return *(const double *)p;
    }
}

SG_WARM static inline int64_t sg_rv_i64(const char *p, int dtype) {
    switch (dtype) {
    case SG_BOOL: return *(const _Bool *)p;
    case SG_INT8: return *(const int8_t *)p;
    case SG_INT16: return *(const int16_t *)p;
    case SG_INT32: return *(const int32_t *)p;
    case SG_UINT8: return *(const uint8_t *)p;
    default: return *(const int64_t *)p;
    }
}

/* ------------------------------------------------------------------ shapes */

#define SG_RV_MAXPARAMS 4

/* The draws' shape (into `shape`, `nd` entries) from the size vector (NULL: unsized) and
 * the parameters' batch shapes; the checks and messages of RandomVariable._check_values. */
SG_WARM SG_NOINLINE static int sg_rv_shape(const char *dist, int nd, sg_index *shape, const sg_array *size, int nparams,
                                   const sg_array *params, const int *core, sg_error *err) {
    sg_index common[SG_MAXDIMS];
    int common_nd = 0;
    for (int i = 0; i < nparams; i++) {
        int b = params[i].ndim - core[i];
        if (b > common_nd) common_nd = b;
    }
    for (int d = 0; d < common_nd; d++) common[d] = 1;
    for (int i = 0; i < nparams; i++) {
        int b = params[i].ndim - core[i];
        for (int d = 0; d < b; d++) {
            sg_index dim = params[i].shape[d], *c = &common[common_nd - b + d];
            if (dim == *c || dim == 1) continue;
            if (*c != 1) return sg_error_set(err, SG_ERR_VALUE, "%s: the parameters' batch shapes do not broadcast together", dist);
            *c = dim;
        }
    }
    if (!size) {
        if (common_nd != nd) return sg_error_set(err, SG_ERR_RUNTIME, "%s: draws of %d dimensions, parameters of %d", dist, nd, common_nd);
        for (int d = 0; d < nd; d++) shape[d] = common[d];
        return 0;
    }
    if (size->ndim != 1 || size->shape[0] != nd)
        return sg_error_set(err, SG_ERR_VALUE, "%s: the size vector must have %d entries, got %ld", dist, nd,
                            (long)(size->ndim == 1 ? size->shape[0] : -1));
    for (int d = 0; d < nd; d++) {
        int64_t s = sg_rv_i64(size->data + d * size->strides[0], size->dtype);
        if (s < 0) return sg_error_set(err, SG_ERR_VALUE, "%s: size entries must be non-negative", dist);
        shape[d] = (sg_index)s;
    }
    int compatible = common_nd <= nd;
    for (int d = 0; compatible && d < common_nd; d++)
        compatible = common[d] == 1 || common[d] == shape[nd - common_nd + d];
    if (!compatible)
        return sg_error_set(err, SG_ERR_VALUE,
                            "%s: size is not compatible with the parameters' batch shape: the parameters must broadcast to size", dist);
    return 0;
}

/* Walks the draws in C order, keeping each parameter's byte offset (broadcast batch dims). */
typedef struct {
    int nd, nparams;
    sg_index shape[SG_MAXDIMS], index[SG_MAXDIMS];
    sg_index strides[SG_RV_MAXPARAMS][SG_MAXDIMS];
    sg_index offset[SG_RV_MAXPARAMS];
} sg_rv_walk;

SG_WARM static void sg_rv_walk_init(sg_rv_walk *w, int nd, const sg_index *shape, int nparams, const sg_array *params,
                            const int *core) {
    w->nd = nd;
    w->nparams = nparams;
    for (int d = 0; d < nd; d++) {
        w->shape[d] = shape[d];
        w->index[d] = 0;
    }
    for (int i = 0; i < nparams; i++) {
        int b = params[i].ndim - core[i];
        w->offset[i] = 0;
        for (int d = 0; d < nd; d++) {
            int pd = d - (nd - b);
            w->strides[i][d] = (pd >= 0 && params[i].shape[pd] != 1) ? params[i].strides[pd] : 0;
        }
    }
}

SG_WARM static inline void sg_rv_walk_next(sg_rv_walk *w) {
    for (int d = w->nd - 1; d >= 0; d--) {
        for (int i = 0; i < w->nparams; i++) w->offset[i] += w->strides[i][d];
        if (++w->index[d] < w->shape[d]) return;
        for (int i = 0; i < w->nparams; i++) w->offset[i] -= w->strides[i][d] * w->shape[d];
        w->index[d] = 0;
    }
}

/* Calls `visit(ctx, a, b)` on the elements of two arrays broadcast together (each pair once,
 * C order); stops at the first non-zero return. Used by the parameter checks. */
SG_WARM static int sg_rv_pairs(const sg_array *a, const sg_array *b, int (*visit)(const char *, const char *, int, int),
                       int *stop) {
    sg_array both[2] = {*a, *b};
    int zero[2] = {0, 0};
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    sg_index shape[SG_MAXDIMS];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        sg_index x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
        if (x != y && x != 1 && y != 1) return -1;
        shape[d] = x == 1 ? y : x;
    }
    sg_index n = 1;
    for (int d = 0; d < nd; d++) n *= shape[d];
    sg_rv_walk w;
    sg_rv_walk_init(&w, nd, shape, 2, both, zero);
    for (sg_index k = 0; k < n; k++) {
        if (visit(a->data + w.offset[0], b->data + w.offset[1], a->dtype, b->dtype)) {
            *stop = 1;
            return 0;
        }
        sg_rv_walk_next(&w);
    }
    return 0;
}

/* Calls `bad(p, dtype)` on every element of `a`; returns 1 at the first true. */
SG_WARM static int sg_rv_any(const sg_array *a, int (*bad)(const char *, int)) {
    sg_index n = sg_array_size(a);
    int zero = 0;
    sg_rv_walk w;
    sg_rv_walk_init(&w, a->ndim, a->shape, 1, a, &zero);
    for (sg_index k = 0; k < n; k++) {
        if (bad(a->data + w.offset[0], a->dtype)) return 1;
        sg_rv_walk_next(&w);
    }
    return 0;
}

/* ------------------------------------------------------------------ parameter checks */

SG_WARM static int sg_rv_not_finite(const char *p, int t) { return !isfinite(sg_rv_f64(p, t)); }
SG_WARM static int sg_rv_low_above_high(const char *l, const char *h, int tl, int th) { return !(sg_rv_f64(l, tl) <= sg_rv_f64(h, th)); }
SG_WARM static int sg_rv_range_overflows(const char *l, const char *h, int tl, int th) { return !isfinite(sg_rv_f64(h, th) - sg_rv_f64(l, tl)); }
SG_WARM static int sg_rv_negative_or_nan(const char *p, int t) { return !(sg_rv_f64(p, t) >= 0); }
SG_WARM static int sg_rv_outside_01(const char *p, int t) {
    double v = sg_rv_f64(p, t);
    return !(v >= 0 && v <= 1);
}
SG_WARM static int sg_rv_nan_or_inf(const char *p, int t) {
    double v = sg_rv_f64(p, t);
    return isnan(v) || v == INFINITY;
}
SG_WARM static int sg_rv_low_not_below_high(const char *l, const char *h, int tl, int th) { return !(sg_rv_i64(l, tl) < sg_rv_i64(h, th)); }

#define SG_RV_INVALID(dist, why) return sg_error_set(err, SG_ERR_VALUE, "%s: invalid parameter values: %s", dist, why)

/* The checks of symgraph.tensor.random's _check_<dist> functions, same messages. */
SG_WARM SG_NOINLINE static int sg_rv_check(const char *dist, const sg_array *params, int out_dtype, sg_error *err) {
    int stop = 0;
    if (!strcmp(dist, "uniform")) {
        if (sg_rv_any(&params[0], sg_rv_not_finite) || sg_rv_any(&params[1], sg_rv_not_finite))
            SG_RV_INVALID(dist, "low and high must be finite");
        if (sg_rv_pairs(&params[0], &params[1], sg_rv_low_above_high, &stop) || stop)
            SG_RV_INVALID(dist, "low must not exceed high");
        if (sg_rv_pairs(&params[0], &params[1], sg_rv_range_overflows, &stop) || stop)
            SG_RV_INVALID(dist, "high - low must be finite (the range overflows)");
    } else if (!strcmp(dist, "normal")) {
        if (sg_rv_any(&params[1], sg_rv_negative_or_nan)) SG_RV_INVALID(dist, "scale must be non-negative");
    } else if (!strcmp(dist, "bernoulli")) {
        if (sg_rv_any(&params[0], sg_rv_outside_01)) SG_RV_INVALID(dist, "p must lie in [0, 1]");
    } else if (!strcmp(dist, "categorical") || !strcmp(dist, "categorical_logits")) {
        const sg_array *p = &params[0];
        int logits = dist[11] == '_';
        sg_index k = p->shape[p->ndim - 1];
        if (k == 0)
            SG_RV_INVALID(dist, logits ? "logits must have at least one category (its last axis is empty)"
                                       : "p must have at least one category (its last axis is empty)");
        if (!logits && (sg_rv_any(p, sg_rv_not_finite) || sg_rv_any(p, sg_rv_negative_or_nan)))
            SG_RV_INVALID(dist, "p must be finite and non-negative");
        if (logits && sg_rv_any(p, sg_rv_nan_or_inf)) SG_RV_INVALID(dist, "logits must not be NaN or +inf");
        /* every row needs a positive weight (p) or a finite logit (logits) */
        sg_array rows = *p;
        rows.ndim = p->ndim - 1;
        sg_index nrows = sg_array_size(&rows);
        int zero = 0;
        sg_rv_walk w;
        sg_rv_walk_init(&w, rows.ndim, rows.shape, 1, &rows, &zero);
        for (sg_index r = 0; r < nrows; r++, sg_rv_walk_next(&w)) {
            int ok = 0;
            for (sg_index j = 0; j < k && !ok; j++) {
                double v = sg_rv_f64(p->data + w.offset[0] + j * p->strides[p->ndim - 1], p->dtype);
                ok = logits ? v > -INFINITY : v > 0;
            }
            if (!ok)
                SG_RV_INVALID(dist, logits ? "the logits along the last axis must not all be -inf"
                                           : "the probabilities along p's last axis must not all be zero");
        }
    } else if (!strcmp(dist, "integers")) {
        if (sg_rv_pairs(&params[0], &params[1], sg_rv_low_not_below_high, &stop) || stop)
            SG_RV_INVALID(dist, "low must be less than high (high is exclusive)");
        int64_t lo = 0, hi = 0;
        switch (out_dtype) {
        case SG_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
        case SG_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
        case SG_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
        case SG_UINT8: lo = 0; hi = UINT8_MAX; break;
        default: lo = INT64_MIN; hi = INT64_MAX; break;
        }
        sg_index nl = sg_array_size(&params[0]), nh = sg_array_size(&params[1]);
        if (nl) {
            int64_t min_low = INT64_MAX, max_high = INT64_MIN;
            sg_rv_walk w;
            int zero = 0;
            sg_rv_walk_init(&w, params[0].ndim, params[0].shape, 1, &params[0], &zero);
            for (sg_index k = 0; k < nl; k++, sg_rv_walk_next(&w)) {
                int64_t v = sg_rv_i64(params[0].data + w.offset[0], params[0].dtype);
                if (v < min_low) min_low = v;
            }
            sg_rv_walk_init(&w, params[1].ndim, params[1].shape, 1, &params[1], &zero);
            for (sg_index k = 0; k < nh; k++, sg_rv_walk_next(&w)) {
                int64_t v = sg_rv_i64(params[1].data + w.offset[0], params[1].dtype);
                if (v > max_high) max_high = v;
            }
            /* high.max() - 1 > info.max, without overflow (Python ints do not overflow) */
            if (min_low < lo || (nh && max_high > hi && max_high - 1 > hi))
                return sg_error_set(err, SG_ERR_VALUE, "%s: invalid parameter values: the range [low, high) must fit in %s ([%lld, %lld])",
                                    dist, sg_dtype_name(out_dtype), (long long)lo, (long long)hi);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ draws */

SG_WARM static inline void sg_rv_store_f(char *p, int dtype, double v) {
    if (dtype == SG_FLOAT32) *(float *)p = (float)v;
    else *(double *)p = v;
}

/* uniform, normal, bernoulli: one draw per element, in C order, from the parameters at that
 * element (NumPy's scalar and broadcast paths draw alike for these). `out` is contiguous. */
SG_WARM SG_NOINLINE static int sg_rv_draw_elementwise(const char *dist, bitgen_t *bg, const sg_array *params, int nparams,
                                              sg_array *out, sg_error *err) {
    static const int zero[SG_RV_MAXPARAMS] = {0};
    sg_index n = sg_array_size(out);
    size_t item = sg_dtype_itemsize(out->dtype);
    sg_rv_walk w;
    sg_rv_walk_init(&w, out->ndim, out->shape, nparams, params, zero);
    if (!strcmp(dist, "uniform")) {
        for (sg_index k = 0; k < n; k++, sg_rv_walk_next(&w)) {
            double low = sg_rv_f64(params[0].data + w.offset[0], params[0].dtype);
            double high = sg_rv_f64(params[1].data + w.offset[1], params[1].dtype);
            sg_rv_store_f(out->data + k * item, out->dtype, random_uniform(bg, low, high - low));
        }
    } else if (!strcmp(dist, "normal")) {
        for (sg_index k = 0; k < n; k++, sg_rv_walk_next(&w)) {
            double loc = sg_rv_f64(params[0].data + w.offset[0], params[0].dtype);
            double scale = sg_rv_f64(params[1].data + w.offset[1], params[1].dtype);
            sg_rv_store_f(out->data + k * item, out->dtype, random_normal(bg, loc, scale));
        }
    } else if (!strcmp(dist, "bernoulli")) {
        binomial_t cache;
        memset(&cache, 0, sizeof cache);
        for (sg_index k = 0; k < n; k++, sg_rv_walk_next(&w)) {
            double p = sg_rv_f64(params[0].data + w.offset[0], params[0].dtype);
            ((int64_t *)out->data)[k] = random_binomial(bg, p, 1, &cache);
        }
    } else {
        return sg_error_set(err, SG_ERR_RUNTIME, "%s: no elementwise C draw", dist);
    }
    return 0;
}

SG_WARM static uint64_t sg_rv_mask(uint64_t max) {
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    return mask;
}

/* Generator.integers(low, high, size, dtype): NumPy takes a "scalar" path (one fill call)
 * when both bounds are 0-d, or 1-element vectors with a size given, and otherwise draws
 * element by element (sharing a 32-bit buffer for types narrower than 64 bits). */
SG_WARM SG_NOINLINE static int sg_rv_draw_integers(bitgen_t *bg, const sg_array *params, int sized, sg_array *out, sg_error *err) {
    static const int zero[2] = {0, 0};
    sg_index n = sg_array_size(out);
    int scalar = 1;
    for (int i = 0; i < 2; i++)
        scalar = scalar && (params[i].ndim == 0 || (params[i].ndim == 1 && params[i].shape[0] == 1 && sized));
    if (sized && n == 0) return 0; /* NumPy returns before touching the generator */
    if (scalar) {
        int64_t low = sg_rv_i64(params[0].data, params[0].dtype), high = sg_rv_i64(params[1].data, params[1].dtype);
        uint64_t range = (uint64_t)high - 1u - (uint64_t)low, off = (uint64_t)low;
        switch (out->dtype) {
        case SG_INT64: random_bounded_uint64_fill(bg, off, range, n, 0, (uint64_t *)out->data); break;
        case SG_INT32: random_bounded_uint32_fill(bg, (uint32_t)off, (uint32_t)range, n, 0, (uint32_t *)out->data); break;
        case SG_INT16: random_bounded_uint16_fill(bg, (uint16_t)off, (uint16_t)range, n, 0, (uint16_t *)out->data); break;
        case SG_INT8:
        case SG_UINT8: random_bounded_uint8_fill(bg, (uint8_t)off, (uint8_t)range, n, 0, (uint8_t *)out->data); break;
        default: return sg_error_set(err, SG_ERR_RUNTIME, "integers: no C draw for %s", sg_dtype_name(out->dtype));
        }
        return 0;
    }
    sg_rv_walk w;
    sg_rv_walk_init(&w, out->ndim, out->shape, 2, params, zero);
    int bcnt = 0;
    uint32_t buf = 0;
    uint64_t last = 0, mask = 0;
    for (sg_index k = 0; k < n; k++, sg_rv_walk_next(&w)) {
        int64_t low = sg_rv_i64(params[0].data + w.offset[0], params[0].dtype);
        int64_t high = sg_rv_i64(params[1].data + w.offset[1], params[1].dtype);
        uint64_t range = (uint64_t)high - 1u - (uint64_t)low, off = (uint64_t)low;
        switch (out->dtype) {
        case SG_INT64:
            if (range != last) mask = sg_rv_mask(range);
            ((uint64_t *)out->data)[k] = random_bounded_uint64(bg, off, range, mask, 0);
            break;
        case SG_INT32:
            if ((uint32_t)range != (uint32_t)last) mask = sg_rv_mask((uint32_t)range);
            ((uint32_t *)out->data)[k] = random_buffered_bounded_uint32(bg, (uint32_t)off, (uint32_t)range, (uint32_t)mask, 0, &bcnt, &buf);
            break;
        case SG_INT16:
            if ((uint16_t)range != (uint16_t)last) mask = sg_rv_mask((uint16_t)range);
            ((uint16_t *)out->data)[k] = random_buffered_bounded_uint16(bg, (uint16_t)off, (uint16_t)range, (uint16_t)mask, 0, &bcnt, &buf);
            break;
        case SG_INT8:
        case SG_UINT8:
            if ((uint8_t)range != (uint8_t)last) mask = sg_rv_mask((uint8_t)range);
            ((uint8_t *)out->data)[k] = random_buffered_bounded_uint8(bg, (uint8_t)off, (uint8_t)range, (uint8_t)mask, 0, &bcnt, &buf);
            break;
        default: return sg_error_set(err, SG_ERR_RUNTIME, "integers: no C draw for %s", sg_dtype_name(out->dtype));
        }
        last = range;
    }
    return 0;
}

/* categorical: one uniform per draw (C order), then the inverse CDF of the (broadcast) row of
 * `p` as the Python implementation computes it: float64 running sums divided by their total,
 * counting the entries at or below the uniform. */
SG_WARM SG_NOINLINE static int sg_rv_draw_categorical(bitgen_t *bg, const sg_array *p, sg_array *out, sg_error *err) {
    static const int one[1] = {1};
    sg_index n = sg_array_size(out), k = p->shape[p->ndim - 1], step = p->strides[p->ndim - 1];
    sg_rv_walk w;
    sg_rv_walk_init(&w, out->ndim, out->shape, 1, p, one);
    int64_t *draws = (int64_t *)out->data;
    double *u = (double *)malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!u) return sg_error_set(err, SG_ERR_MEMORY, "categorical: could not allocate %ld uniforms", (long)n);
    for (sg_index i = 0; i < n; i++) u[i] = random_uniform(bg, 0.0, 1.0);
    for (sg_index i = 0; i < n; i++, sg_rv_walk_next(&w)) {
        const char *row = p->data + w.offset[0];
        double total = 0;
        for (sg_index j = 0; j < k; j++) total += sg_rv_f64(row + j * step, p->dtype);
        double cum = 0;
        int64_t count = 0;
        for (sg_index j = 0; j < k; j++) {
            cum += sg_rv_f64(row + j * step, p->dtype);
            count += cum / total <= u[i];
        }
        draws[i] = count;
    }
    free(u);
    return 0;
}

/* categorical_logits: the probabilities come from symgraph.tensor.random._softmax (NumPy's
 * exp, so they are bit for bit the Python implementation's), then as categorical. */
SG_WARM SG_NOINLINE static int sg_rv_draw_categorical_logits(bitgen_t *bg, const sg_array *logits, int typenum, sg_array *out,
                                                     sg_error *err) {
    PyObject *view = PyArray_New(&PyArray_Type, logits->ndim, (npy_intp *)logits->shape, typenum,
                                 (npy_intp *)logits->strides, logits->data, 0, 0, NULL);
    PyObject *softmax = view ? sg_rng_python_helper("_softmax") : NULL;
    PyObject *probs = softmax ? PyObject_CallOneArg(softmax, view) : NULL;
    Py_XDECREF(view);
    Py_XDECREF(softmax);
    PyObject *arr = probs ? PyArray_FROM_OTF(probs, NPY_FLOAT64, NPY_ARRAY_ALIGNED) : NULL;
    Py_XDECREF(probs);
    if (!arr) return sg_error_set(err, SG_ERR_RUNTIME, "categorical_logits: computing the probabilities failed");
    PyArrayObject *a = (PyArrayObject *)arr;
    sg_array p = {PyArray_BYTES(a), PyArray_NDIM(a), SG_FLOAT64, (const sg_index *)PyArray_DIMS(a),
                  (const sg_index *)PyArray_STRIDES(a)};
    int rc = sg_rv_draw_categorical(bg, &p, out, err);
    Py_DECREF(arr);
    return rc;
}

#endif /* SG_RANDOM_H */
