"""C implementations of creation, splitting, repeating and cumulative ops (see
``docs/c_backend.md``).

Registered here: ``ARange``, ``Eye``, ``SumToShape``, ``Split`` (views), ``Repeat``,
``RepeatSum``, ``CumOp`` (cumsum/cumprod, forward and reverse) and ``Tri`` (tril/triu).
``Argmax`` needs nothing here: the op only takes one axis or ``axis=None``, and
``ops_reduce`` handles both.

Each implementation follows its op's ``perform`` (NumPy's semantics): the same output
dtype, the same values (integer arithmetic wraps as in NumPy; floating point sums and
products accumulate in the output dtype in NumPy's order, except ``SumToShape`` and
``RepeatSum`` whose order may differ from NumPy's pairwise sums by rounding) and the same
exception class (``ValueError``) for bad sizes. ``ARange`` reproduces NumPy's length rule
(``ceil`` of the double nearest ``(stop - start) / step``, even for integers) and its fill
(first two values from the Python numbers, then ``start + i * delta`` in the output dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.creation import ARange, Eye, SumToShape
from symgraph.tensor.join import Repeat, RepeatSum, Split
from symgraph.tensor.linalg import Tri
from symgraph.tensor.special import CumOp

__all__ = ["SUPPORT_CODE"]

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
_FLOAT_DTYPES = ("float32", "float64")

#: Helpers of this module, one string for every node (the region generator emits identical
#: support code once; the include guard keeps it single in any case). The module is compiled
#: at a low optimisation level; the loops over elements opt back in with ``SG_HOT`` (defined
#: by sg_runtime.h, or here as nothing for an older runtime). Helpers are ``static inline``
#: so that gcc skips the unused ones.
SUPPORT_CODE = r"""
#ifndef SG_OPS_CREATION_SUPPORT
#define SG_OPS_CREATION_SUPPORT 1
#include <limits.h>
#include <math.h>
#ifndef SG_HOT
#define SG_HOT
#endif
/* NumPy's arange fill is start + i * delta with separate rounding of the product and the
 * sum; gcc would contract that into an FMA (-march=native and the GNU default
 * -ffp-contract=fast), whose rounding differs, so the fill functions switch it off. */
#if defined(__GNUC__) && !defined(__clang__) && !defined(SG_NO_OPT_ATTRIBUTES)
#define SG_CR_EXACT __attribute__((optimize("O3", "fp-contract=off"), unused))
#else
#define SG_CR_EXACT SG_HOT
#endif


/* Whether NumPy refuses to create an array of this shape ("array is too big"): the
 * product of the non-zero lengths times the item size must fit in npy_intp, even when
 * another length is 0. */
static inline int sg_too_big(int nd, const sg_index *shape, size_t item) {
    sg_index total = (sg_index)item;
    for (int d = 0; d < nd; d++)
        if (shape[d] != 0 && (shape[d] < 0 || __builtin_mul_overflow(total, shape[d], &total))) return 1;
    return 0;
}

/* The double nearest a / b (0 <= a < 2**64, 0 < b <= 2**63), correctly rounded as Python's
 * int true division is: the numerator is shifted so the quotient has >= 64 significant
 * bits, and a non-zero remainder is folded into the lowest bit, which then only breaks ties
 * of the final (correctly rounded) int128 -> double conversion. */
static inline double sg_int_ratio(unsigned __int128 a, unsigned __int128 b) {
    if (a == 0) return 0.0;
    int s = 64 + __builtin_clzll((unsigned long long)a);
    unsigned __int128 num = a << s;
    unsigned __int128 q = num / b;
    q |= (unsigned __int128)(num % b != 0);
    return ldexp((double)q, -s);
}

/* np.arange's length for start, stop, step given as ints (flag *_int, value in *i) or
 * floats (value in *f; the doubles of the ints are passed too), computed with Python's
 * arithmetic as NumPy does: int - int is exact, a float operand makes both doubles, and
 * int / int is correctly rounded; then ceil, with NumPy's errors (all ValueError). */
static inline int sg_arange_count(sg_error *err, int s_int, npy_int64 si, double sf, int e_int, npy_int64 ei,
                                  double ef, int p_int, npy_int64 pi, double pf, size_t item, sg_index *len) {
    double q;
    if (pf == 0) SG_FAIL_CODE(err, SG_ERR_VALUE, "arange: step must not be zero");
    if (s_int && e_int) {
        __int128 d = (__int128)ei - (__int128)si;
        if (p_int) {
            unsigned __int128 ad = d < 0 ? -(unsigned __int128)d : (unsigned __int128)d;
            unsigned __int128 ap = pi < 0 ? -(unsigned __int128)pi : (unsigned __int128)pi;
            q = sg_int_ratio(ad, ap);
            if ((d < 0) != (pi < 0)) q = -q;
        } else {
            q = (double)d / pf;
        }
    } else {
        q = (ef - sf) / pf;
    }
    if (isnan(q)) SG_FAIL_CODE(err, SG_ERR_VALUE, "arange: cannot compute length");
    double c = ceil(q);
    if (!(c >= -9223372036854775808.0 && c <= 9223372036854775808.0))
        SG_FAIL_CODE(err, SG_ERR_VALUE, "Maximum allowed size exceeded");
    /* NumPy accepts 2**63 and its cast to npy_intp wraps to a negative length: empty */
    *len = c > 0 && c < 9223372036854775808.0 ? (sg_index)c : 0;
    if (*len > PTRDIFF_MAX / (sg_index)item)
        SG_FAIL_CODE(err, SG_ERR_VALUE, "array is too big; `arr.size * arr.dtype.itemsize` is larger than the "
                     "maximum possible size.");
    return SG_OK;
}

/* Float arange: the first two values are given, the rest are b0 + i * (b1 - b0) in the
 * output type (an int counter when it fits: its conversion vectorises, int64's may not). */
#define SG_ARANGE_FILL(NAME, T)                                                          \
    SG_CR_EXACT static inline void NAME(T *o, sg_index n, T b0, T b1) {                 \
        T delta = b1 - b0;                                                               \
        if (n > 0) o[0] = b0;                                                            \
        if (n > 1) o[1] = b1;                                                            \
        if (n <= INT_MAX) for (int i = 2; i < (int)n; i++) o[i] = b0 + (T)i * delta;    \
        else for (sg_index i = 2; i < n; i++) o[i] = b0 + (T)i * delta;                  \
    }
SG_ARANGE_FILL(sg_arange_fill_float32, float)
SG_ARANGE_FILL(sg_arange_fill_float64, double)
#undef SG_ARANGE_FILL

/* Integer arange: start + i * step modulo 2**bits (NumPy's fill wraps the same way). */
#define SG_ARANGE_INT(NAME, T)                                                           \
    SG_HOT static inline void NAME(T *o, sg_index n, npy_int64 start, npy_int64 step) {  \
        uint64_t v = (uint64_t)start;                                                    \
        for (sg_index i = 0; i < n; i++, v += (uint64_t)step) o[i] = (T)(npy_int64)v;    \
    }
SG_ARANGE_INT(sg_arange_int8, npy_int8)
SG_ARANGE_INT(sg_arange_int16, npy_int16)
SG_ARANGE_INT(sg_arange_int32, npy_int32)
SG_ARANGE_INT(sg_arange_int64, npy_int64)
SG_ARANGE_INT(sg_arange_uint8, npy_uint8)
#undef SG_ARANGE_INT

/* Iterate the dimensions [0, nd) of two arrays (out, in) with `it`, one position at a
 * time: `po` / `pi` point at it in each. */
#define SG_FOR_EACH2(out, os, in, is, nd, shape, ...)                                         \
    {                                                                                          \
        sg_iter it;                                                                            \
        char *b_[2] = {(out), (char *)(in)};                                                   \
        const sg_index *st_[2] = {(os), (is)};                                                 \
        SG_CHECK(sg_iter_init(&it, err, 2, b_, st_, (nd), (shape)));                           \
        if (it.size) do {                                                                      \
            for (sg_index k_ = 0; k_ < it.inner_size; k_++) {                                  \
                char *po = it.ptrs[0] + k_ * it.inner_strides[0];                              \
                const char *pi = it.ptrs[1] + k_ * it.inner_strides[1];                        \
                __VA_ARGS__                                                                    \
            }                                                                                  \
        } while (sg_iter_next(&it));                                                           \
    }

/* Copy `shape` elements of `item` bytes between any strides (a unit-stride run is one
 * memcpy). */
SG_HOT static inline int sg_cr_copy(sg_error *err, char *dst, const sg_index *ds, const char *src,
                                    const sg_index *ss, int nd, const sg_index *shape, size_t item) {
    sg_iter it;
    char *b[2] = {dst, (char *)src};
    const sg_index *st[2] = {ds, ss};
    SG_CHECK(sg_iter_init(&it, err, 2, b, st, nd, shape));
    if (it.size == 0) return SG_OK;
    do {
        char *pd = it.ptrs[0];
        const char *ps = it.ptrs[1];
        sg_index sd = it.inner_strides[0], sx = it.inner_strides[1], n = it.inner_size;
        if (sd == (sg_index)item && sx == (sg_index)item) memcpy(pd, ps, (size_t)n * item);
        else for (sg_index k = 0; k < n; k++) memcpy(pd + k * sd, ps + k * sx, item);
    } while (sg_iter_next(&it));
    return SG_OK;
}

/* Repeat count j of the 0-d or 1-d integer array `a` (a 0-d count serves every j). */
static inline npy_int64 sg_cr_count(const sg_array *a, sg_index j) {
    const char *p = a->data + (a->ndim ? j * a->strides[0] : 0);
    switch (a->dtype) {
    case SG_INT8: return *(const npy_int8 *)p;
    case SG_INT16: return *(const npy_int16 *)p;
    case SG_INT32: return *(const npy_int32 *)p;
    case SG_UINT8: return *(const npy_uint8 *)p;
    default: return *(const npy_int64 *)p;
    }
}

/* Check the counts of a repeat along an axis of length n as _repeat_counts does (one per
 * element or one 0-d count for all, none negative) and set *sum to their total: wrapping
 * like NumPy's int64 sum, or an error on overflow when `strict`. A 0-d count is handled
 * in closed form (n may be huge). */
static inline int sg_repeat_counts(sg_error *err, const char *where, const sg_array *a, npy_int64 n, int strict,
                                   npy_int64 *sum) {
    if (a->ndim == 1 && a->shape[0] != n)
        SG_FAIL_CODE(err, SG_ERR_VALUE, "%s: got %td repeat counts for an axis of size %lld", where, a->shape[0],
                     (long long)n);
    uint64_t total = 0;
    for (npy_int64 j = 0; j < (a->ndim ? n : (n > 0)); j++) {
        npy_int64 c = sg_cr_count(a, j), t;
        if (c < 0) SG_FAIL_CODE(err, SG_ERR_VALUE, "%s: repeat counts must be non-negative, got %lld", where, (long long)c);
        if (strict && (__builtin_mul_overflow(c, a->ndim ? 1 : n, &t) || __builtin_add_overflow((npy_int64)total, t, &t)))
            SG_FAIL_CODE(err, SG_ERR_VALUE, "%s: the output is too large", where);
        total += (uint64_t)c * (uint64_t)(a->ndim ? 1 : n);
    }
    *sum = (npy_int64)total;
    return SG_OK;
}

/* Repeat along `axis`: slab j of x (shape xshape) is copied counts[j] times into out. */
#define SG_REPEAT_ROW(T)                                                                       \
    for (sg_index j = 0; j < n; j++) {                                                         \
        T v = *(const T *)(pi + j * xsa);                                                      \
        for (npy_int64 r = counts[j]; r > 0; r--, po += osa) *(T *)po = v;                     \
    }
SG_HOT static inline int sg_repeat_run(sg_error *err, char *out, const sg_index *os, const char *x,
                                       const sg_index *xs, int nd, const sg_index *xshape, int axis,
                                       const npy_int64 *counts, size_t item) {
    const sg_index n = xshape[axis], osa = os[axis], xsa = xs[axis];
    const int inner = nd - axis - 1;
    SG_FOR_EACH2(out, os, x, xs, axis, xshape, {
        switch (inner ? 0 : item) {
        case 1: SG_REPEAT_ROW(uint8_t) break;
        case 2: SG_REPEAT_ROW(uint16_t) break;
        case 4: SG_REPEAT_ROW(uint32_t) break;
        case 8: SG_REPEAT_ROW(uint64_t) break;
        default:
            for (sg_index j = 0; j < n; j++)
                for (npy_int64 r = counts[j]; r > 0; r--, po += osa)
                    SG_CHECK(sg_cr_copy(err, po, os + axis + 1, pi + j * xsa, xs + axis + 1, inner,
                                        xshape + axis + 1, item));
        }
    })
    return SG_OK;
}
#undef SG_REPEAT_ROW

/* a + the n elements at p (byte stride s): in order for integers (exact, wrapping) and
 * booleans (OR); for floats by NumPy's pairwise summation (8 partial sums per block of at
 * most 128, halves above), faster than one dependent chain and close to NumPy's rounding. */
#define SG_RUN_SEQ(NAME, T, EXPR)                                                              \
    SG_HOT static inline T NAME(const char *p, sg_index n, sg_index s, T a) {                  \
        for (sg_index k = 0; k < n; k++) { T v = *(const T *)(p + k * s); a = (T)(EXPR); }     \
        return a;                                                                              \
    }
#define SG_RUN_PAIRWISE(NAME, T)                                                               \
    SG_HOT static inline T NAME##_pw(const char *p, sg_index n, sg_index s) {                   \
        T r[8], res = 0;                                                                       \
        sg_index i = 0;                                                                        \
        if (n < 8) { for (; i < n; i++) res += *(const T *)(p + i * s); return res; }          \
        if (n > 128) {                                                                         \
            sg_index n2 = n / 2 - (n / 2) % 8;                                                 \
            return NAME##_pw(p, n2, s) + NAME##_pw(p + n2 * s, n - n2, s);                     \
        }                                                                                      \
        for (int j = 0; j < 8; j++) r[j] = *(const T *)(p + j * s);                            \
        for (i = 8; i < n - n % 8; i += 8)                                                     \
            for (int j = 0; j < 8; j++) r[j] += *(const T *)(p + (i + j) * s);                 \
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));              \
        for (; i < n; i++) res += *(const T *)(p + i * s);                                     \
        return res;                                                                            \
    }                                                                                          \
    SG_HOT static inline T NAME(const char *p, sg_index n, sg_index s, T a) { return a + NAME##_pw(p, n, s); }

/* dst (op)= src elementwise over `shape` (any strides; a stride 0 in dst reduces). */
#define SG_ACCUMULATE(NAME, RUN, T, EXPR)                                                     \
    SG_HOT static inline int NAME(sg_error *err, char *dst, const sg_index *ds, const char *src, \
                                  const sg_index *ss, int nd, const sg_index *shape) {          \
        sg_iter it;                                                                            \
        char *b[2] = {dst, (char *)src};                                                       \
        const sg_index *st[2] = {ds, ss};                                                      \
        SG_CHECK(sg_iter_init(&it, err, 2, b, st, nd, shape));                                 \
        if (it.size) do {                                                                      \
            char *pd = it.ptrs[0];                                                             \
            const char *ps = it.ptrs[1];                                                       \
            sg_index sd = it.inner_strides[0], sx = it.inner_strides[1], n = it.inner_size;    \
            if (sd == 0) {                                                                     \
                *(T *)pd = RUN(ps, n, sx, *(T *)pd);                                           \
            } else if (sd == (sg_index)sizeof(T) && sx == (sg_index)sizeof(T)) {               \
                T *restrict o = (T *)pd;                                                       \
                const T *restrict x = (const T *)ps;                                           \
                for (sg_index k = 0; k < n; k++) { T a = o[k], v = x[k]; o[k] = (T)(EXPR); }   \
            } else {                                                                           \
                for (sg_index k = 0; k < n; k++) {                                             \
                    T a = *(T *)(pd + k * sd), v = *(const T *)(ps + k * sx);                  \
                    *(T *)(pd + k * sd) = (T)(EXPR);                                           \
                }                                                                              \
            }                                                                                  \
        } while (sg_iter_next(&it));                                                           \
        return SG_OK;                                                                          \
    }

/* The transpose of repeat, into a zeroed out: out slab j (of n along `axis`) gets the sum
 * of the counts[j] slabs of g in run j. */
#define SG_REPEAT_SUM(NAME, ACC, RUN, T)                                                       \
    SG_HOT static inline int NAME(sg_error *err, char *out, const sg_index *os, const char *g,  \
                                  const sg_index *gs, int nd, const sg_index *gshape, int axis, \
                                  const npy_int64 *counts, sg_index n) {                        \
        const int inner = nd - axis - 1;                                                       \
        const sg_index osa = os[axis], gsa = gs[axis];                                         \
        SG_FOR_EACH2(out, os, g, gs, axis, gshape, {                                           \
            for (sg_index j = 0; j < n; j++, po += osa) {                                      \
                const npy_int64 c = counts[j];                                                 \
                if (inner == 0) *(T *)po = RUN(pi, c, gsa, *(T *)po);                          \
                else for (npy_int64 r = 0; r < c; r++)                                         \
                    SG_CHECK(ACC(err, po, os + axis + 1, pi + r * gsa, gs + axis + 1, inner, gshape + axis + 1)); \
                pi += c * gsa;                                                                 \
            }                                                                                  \
        })                                                                                     \
        return SG_OK;                                                                          \
    }

/* tril/triu over the last two dimensions: row i of each matrix keeps columns [lo, hi) and
 * zeroes the rest (the output is C-contiguous). */
#define SG_TRI(NAME, T)                                                                        \
    SG_HOT static inline int NAME(sg_error *err, char *out, const sg_index *os, const char *x,  \
                                  const sg_index *xs, int nd, const sg_index *shape, npy_int64 k, \
                                  int lower) {                                                  \
        const npy_int64 n = shape[nd - 2], m = shape[nd - 1];                                  \
        const sg_index osr = os[nd - 2], xsr = xs[nd - 2], xsc = xs[nd - 1];                   \
        SG_FOR_EACH2(out, os, x, xs, nd - 2, shape, {                                          \
            for (npy_int64 i = 0; i < n; i++) {                                                \
                npy_int64 lo = lower ? 0 : i + k, hi = lower ? i + k + 1 : m;                  \
                if (lo < 0) lo = 0;                                                            \
                if (hi > m) hi = m;                                                            \
                if (hi < lo) hi = lo = 0;                                                      \
                T *d = (T *)(po + i * osr);                                                    \
                const char *s = pi + i * xsr;                                                  \
                memset(d, 0, (size_t)lo * sizeof(T));                                          \
                if (xsc == (sg_index)sizeof(T)) memcpy(d + lo, s + lo * xsc, (size_t)(hi - lo) * sizeof(T)); \
                else for (npy_int64 j = lo; j < hi; j++) d[j] = *(const T *)(s + j * xsc);     \
                memset(d + hi, 0, (size_t)(m - hi) * sizeof(T));                               \
            }                                                                                  \
        })                                                                                     \
        return SG_OK;                                                                          \
    }

#define SG_CR_PER_TYPE(S, RUNDEF, T, EXPR)                                                    \
    RUNDEF                                                                                     \
    SG_ACCUMULATE(sg_acc_##S, sg_run_##S, T, EXPR)                                             \
    SG_REPEAT_SUM(sg_repeat_sum_##S, sg_acc_##S, sg_run_##S, T)                                \
    SG_TRI(sg_tri_##S, T)
SG_CR_PER_TYPE(bool, SG_RUN_SEQ(sg_run_bool, npy_bool, a | v), npy_bool, a | v)
SG_CR_PER_TYPE(int8, SG_RUN_SEQ(sg_run_int8, npy_int8, a + v), npy_int8, a + v)
SG_CR_PER_TYPE(int16, SG_RUN_SEQ(sg_run_int16, npy_int16, a + v), npy_int16, a + v)
SG_CR_PER_TYPE(int32, SG_RUN_SEQ(sg_run_int32, npy_int32, a + v), npy_int32, a + v)
SG_CR_PER_TYPE(int64, SG_RUN_SEQ(sg_run_int64, npy_int64, a + v), npy_int64, a + v)
SG_CR_PER_TYPE(uint8, SG_RUN_SEQ(sg_run_uint8, npy_uint8, a + v), npy_uint8, a + v)
SG_CR_PER_TYPE(float32, SG_RUN_PAIRWISE(sg_run_float32, npy_float32), npy_float32, a + v)
SG_CR_PER_TYPE(float64, SG_RUN_PAIRWISE(sg_run_float64, npy_float64), npy_float64, a + v)
#undef SG_CR_PER_TYPE
#endif /* SG_OPS_CREATION_SUPPORT */
"""


def _ctype(var: Any) -> str:
    return C_TYPES[var.type.dtype]


def _scalar(arr: str, var: Any) -> str:
    """C expression: the value of the 0-d input ``arr``, in its own C type."""
    if var.type.dtype not in C_TYPES or var.type.ndim != 0:
        raise NotImplementedError(f"scalar input of type {var.type}")
    return f"(*(const {_ctype(var)} *){arr}.data)"


def _int_scalar(arr: str, var: Any) -> str:
    """C expression: the 0-d integer input ``arr`` as an ``npy_int64``."""
    if var.type.dtype not in _INT_DTYPES:
        raise NotImplementedError(f"integer input of type {var.type}")
    return f"((npy_int64){_scalar(arr, var)})"


def _check_size(shape: str, nd: int, item: str, err: str) -> str:
    """C raising NumPy's ValueError when an array of ``shape`` would exceed the address
    space (an allocation that merely fails is a MemoryError, as in NumPy)."""
    return (
        f"if (sg_too_big({nd}, {shape}, {item})) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"array is too big; "
        f"`arr.size * arr.dtype.itemsize` is larger than the maximum possible size.\");"
    )


class _CreationImpl(CImpl):
    """Common parts: the shared support code and the cache version."""

    def c_support_code(self, node: Any) -> str:
        return SUPPORT_CODE

    def c_code_cache_version(self) -> tuple:
        return (1,)


# --------------------------------------------------------------------------- ARange


@register_c_impl(ARange)
class ARangeC(_CreationImpl):
    """``np.arange(start, stop, step, dtype)``: NumPy's length and fill rules.

    Integer outputs are handled when every input is an integer that the output dtype
    holds (then NumPy's conversions of ``start`` and ``start + step`` cannot overflow);
    float outputs for any integer or float inputs."""

    def c_code(self, node, name, inputs, outputs, sub):
        dtype = node.outputs[0].type.dtype
        in_dtypes = [v.type.dtype for v in node.inputs]
        if type(node.op) is not ARange or any(d not in _INT_DTYPES + _FLOAT_DTYPES for d in in_dtypes):
            raise NotImplementedError("ARange of these dtypes")
        is_int = [d in _INT_DTYPES for d in in_dtypes]
        if dtype in _INT_DTYPES:
            if not all(is_int) or not all(np.can_cast(d, dtype, "safe") for d in in_dtypes):
                raise NotImplementedError("integer arange of inputs the output dtype does not hold")
        elif dtype not in _FLOAT_DTYPES:
            raise NotImplementedError(f"arange of dtype {dtype}")
        values = [_int_scalar(a, v) if i else "0" for a, v, i in zip(inputs, node.inputs, is_int)]
        values += [f"((double){_scalar(a, v)})" for a, v in zip(inputs, node.inputs)]
        si, ei, pi, sf, ef, pf = (f"{name}_{v}" for v in ("si", "ei", "pi", "sf", "ef", "pf"))
        (z,), err, out_t = outputs, sub["err"], C_TYPES[dtype]
        lines = [
            f"const npy_int64 {si} = {values[0]}, {ei} = {values[1]}, {pi} = {values[2]};",
            f"const double {sf} = {values[3]}, {ef} = {values[4]}, {pf} = {values[5]};",
            f"sg_index {name}_n;",
            f"SG_CHECK(sg_arange_count({err}, {int(is_int[0])}, {si}, {sf}, {int(is_int[1])}, {ei}, {ef}, "
            f"{int(is_int[2])}, {pi}, {pf}, sizeof({out_t}), &{name}_n));",
            f"{sub['shape'][0]}[0] = {name}_n;",
            sub["alloc"][0],
        ]
        if dtype in _INT_DTYPES:
            lines.append(f"sg_arange_{dtype}(({out_t} *){z}.data, {name}_n, {si}, {pi});")
        else:
            # NumPy's second value is the Python sum start + step (exact for two ints)
            b1 = f"(double)((__int128){si} + {pi})" if is_int[0] and is_int[2] else f"({sf} + {pf})"
            lines.append(f"sg_arange_fill_{dtype}(({out_t} *){z}.data, {name}_n, ({out_t}){sf}, ({out_t}){b1});")
        return "\n".join(lines)


# --------------------------------------------------------------------------- Eye


@register_c_impl(Eye)
class EyeC(_CreationImpl):
    """``np.eye(n, m, k, dtype)``: zeros with ones on diagonal ``k``."""

    def c_code(self, node, name, inputs, outputs, sub):
        dtype = node.outputs[0].type.dtype
        if type(node.op) is not Eye or dtype not in C_TYPES:
            raise NotImplementedError("Eye of this dtype")
        n, m, k = (_int_scalar(a, v) for a, v in zip(inputs, node.inputs))
        (z,), err, shape, out_t = outputs, sub["err"], sub["shape"][0], C_TYPES[dtype]
        return f"""
const npy_int64 {name}_n = {n}, {name}_m = {m}, {name}_k = {k};
if ({name}_n < 0 || {name}_m < 0)
    SG_FAIL_CODE({err}, SG_ERR_VALUE, "eye: negative dimension in (%lld, %lld)", (long long){name}_n, (long long){name}_m);
{shape}[0] = {name}_n; {shape}[1] = {name}_m;
{_check_size(shape, 2, f"sizeof({out_t})", err)}
{sub['alloc'][0]}
memset({z}.data, 0, (size_t)({name}_n * {name}_m) * sizeof({out_t}));
/* row r has its one at column r + k: rows max(0, -k) .. min(n, m - k) - 1 */
/* (the bounds test first, so that -k and m - k cannot overflow) */
if ({name}_k < {name}_m && {name}_k > -{name}_n) {{
    npy_int64 r0_ = {name}_k < 0 ? -{name}_k : 0, r1_ = {name}_m - {name}_k;
    if (r1_ > {name}_n) r1_ = {name}_n;
    for (npy_int64 r_ = r0_; r_ < r1_; r_++) (({out_t} *){z}.data)[r_ * {name}_m + r_ + {name}_k] = ({out_t})1;
}}
"""


# --------------------------------------------------------------------------- SumToShape


@register_c_impl(SumToShape)
class SumToShapeC(_CreationImpl):
    """Sum ``g`` down to the target shape: leading dimensions and dimensions where the
    target is 1 (and ``g`` is not) are summed, in ``g``'s dtype (bool: OR; ints wrap)."""

    def c_code(self, node, name, inputs, outputs, sub):
        g_var = node.inputs[0]
        dtype = g_var.type.dtype
        if type(node.op) is not SumToShape or dtype not in C_TYPES:
            raise NotImplementedError("SumToShape of this dtype")
        g, dims, (z,), err = inputs[0], inputs[1:], outputs, sub["err"]
        gnd, tnd = g_var.type.ndim, len(dims)
        lead = gnd - tnd
        shape, strides = sub["shape"][0], sub["strides"][0]
        lines = [f"int {name}_bad = 0;", f"sg_index {name}_ws[{max(gnd, 1)}];"]
        lines += [f"{name}_ws[{d}] = 0;" for d in range(lead)]
        for d, (arr, var) in enumerate(zip(dims, node.inputs[1:])):
            gd = f"{g}.shape[{lead + d}]"
            lines.append(
                f"{{ npy_int64 t_ = {_int_scalar(arr, var)}; {shape}[{d}] = (sg_index)t_; "
                f"if (t_ != 1 && t_ != (npy_int64){gd}) {name}_bad = 1; }}"
            )
        lines.append(
            f"if ({name}_bad) {{ char s1_[256], s2_[256]; sg_format_shape(s1_, sizeof s1_, {gnd}, {g}.shape); "
            f"sg_format_shape(s2_, sizeof s2_, {tnd}, {shape}); SG_FAIL_CODE({err}, SG_ERR_VALUE, "
            f"\"sum_to_shape: cannot sum an array of shape %s to shape %s\", s1_, s2_); }}"
        )
        lines.append(sub["alloc"][0])
        for d in range(tnd):
            # A target length 1 over a longer (or empty) dimension is summed: stride 0.
            lines.append(f"{name}_ws[{lead + d}] = {shape}[{d}] == {g}.shape[{lead + d}] ? {strides}[{d}] : 0;")
        lines.append(f"memset({z}.data, 0, (size_t)sg_shape_product({tnd}, {shape}) * sizeof({C_TYPES[dtype]}));")
        lines.append(f"SG_CHECK(sg_acc_{dtype}({err}, {z}.data, {name}_ws, {g}.data, {g}.strides, {gnd}, {g}.shape));")
        return "\n".join(lines)


# --------------------------------------------------------------------------- Split


@register_c_impl(Split)
class SplitC(_CreationImpl):
    """Validate the sizes, then each output is a view of its slab of the input."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not Split or op.view_map != {i: [0] for i in range(op.n_splits)}:
            raise NotImplementedError("Split without views")
        if node.inputs[0].type.dtype not in C_TYPES:
            raise NotImplementedError(f"Split of {node.inputs[0].type.dtype}")
        s_var = node.inputs[1]
        if s_var.type.dtype not in _INT_DTYPES or s_var.type.ndim != 1:
            raise NotImplementedError("split sizes of this type")
        (x, sizes), err = inputs, sub["err"]
        nd, axis, n = node.inputs[0].type.ndim, op.axis, op.n_splits
        lines = [
            f"if ({sizes}.shape[0] != {n}) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"{op}: got %td split sizes for {n} "
            f"pieces\", {sizes}.shape[0]);",
            f"sg_index {name}_sz[{n}]; npy_int64 {name}_tot = 0; int {name}_bad = 0;",
            f"for (int i_ = 0; i_ < {n}; i_++) {{",
            f"    {name}_sz[i_] = (sg_index)*(const {_ctype(s_var)} *)({sizes}.data + i_ * {sizes}.strides[0]);",
            f"    if ({name}_sz[i_] < 0 || __builtin_add_overflow({name}_tot, {name}_sz[i_], &{name}_tot)) {name}_bad = 1;",
            "}",
            # the same message as perform's (sizes and shape printed as Python tuples)
            f"if ({name}_bad || {name}_tot != (npy_int64){x}.shape[{axis}]) {{ char s_[256], z_[256]; "
            f"sg_format_shape(s_, sizeof s_, {nd}, {x}.shape); sg_format_shape(z_, sizeof z_, {n}, {name}_sz); "
            f"SG_FAIL_CODE({err}, SG_ERR_VALUE, \"split: the split sizes %s must be non-negative and sum to %td, the "
            f"size of dimension {axis} of the input (shape %s)\", z_, {x}.shape[{axis}], s_); }}",
            f"sg_index {name}_off = 0;",
        ]
        for j, out in enumerate(outputs):
            shape, strides = sub["shape"][j], sub["strides"][j]
            for d in range(nd):
                size = f"(sg_index){name}_sz[{j}]" if d == axis else f"{x}.shape[{d}]"
                lines.append(f"{shape}[{d}] = {size}; {strides}[{d}] = {x}.strides[{d}];")
            lines.append(f"{out}.data = {x}.data + {name}_off * {x}.strides[{axis}];")
            lines.append(f"{name}_off += (sg_index){name}_sz[{j}];")
        return "\n".join(lines)


# --------------------------------------------------------------------------- Repeat, RepeatSum


def _counts(name, reps, rvar, n, sub):
    """C copying the ``n`` counts (already checked) into an ``npy_int64`` scratch buffer
    ``<name>_cnt`` of the node's workspace slot."""
    if rvar.type.dtype not in _INT_DTYPES or rvar.type.ndim > 1:
        raise NotImplementedError(f"repeat counts of type {rvar.type}")
    err = sub["err"]
    return (
        f"npy_int64 *{name}_cnt = (npy_int64 *)sg_ws_scratch({sub['ws']}, {sub['scratch_slot']}, "
        f"(size_t)({n}) * sizeof(npy_int64), {err});\n"
        f"if (!{name}_cnt) return {err}->code;\n"
        f"for (npy_int64 j_ = 0; j_ < (npy_int64)({n}); j_++) {name}_cnt[j_] = sg_cr_count(&{reps}, j_);"
    )


@register_c_impl(Repeat)
class RepeatC(_CreationImpl):
    """``np.repeat(x, counts, axis)``: each slab along ``axis`` copied ``count`` times."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        x_var, r_var = node.inputs
        if type(op) is not Repeat or x_var.type.dtype not in C_TYPES:
            raise NotImplementedError("Repeat of this dtype")
        (x, reps), (z,), err = inputs, outputs, sub["err"]
        nd, axis = x_var.type.ndim, op.axis
        shape, strides = sub["shape"][0], sub["strides"][0]
        counts = _counts(name, reps, r_var, f"{x}.shape[{axis}]", sub)
        lines = [
            f"npy_int64 {name}_tot;",
            f"SG_CHECK(sg_repeat_counts({err}, \"repeat\", &{reps}, {x}.shape[{axis}], 1, &{name}_tot));",
        ]
        lines += [f"{shape}[{d}] = {f'(sg_index){name}_tot' if d == axis else f'{x}.shape[{d}]'};" for d in range(nd)]
        lines.append(_check_size(shape, nd, f"sg_dtype_itemsize({x}.dtype)", err))
        lines.append(sub["alloc"][0])
        lines.append(f"if (sg_shape_product({nd}, {shape}) > 0) {{\n{counts}")
        lines.append(
            f"SG_CHECK(sg_repeat_run({err}, {z}.data, {strides}, {x}.data, {x}.strides, {nd}, {x}.shape, {axis}, "
            f"{name}_cnt, sg_dtype_itemsize({x}.dtype)));\n}}"
        )
        return "\n".join(lines)


@register_c_impl(RepeatSum)
class RepeatSumC(_CreationImpl):
    """The sum of each run of copies along ``axis`` (the transpose of ``Repeat``), in the
    input's dtype (floats summed pairwise, integers wrap, booleans OR)."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        g_var, r_var, n_var = node.inputs
        dtype = g_var.type.dtype
        if type(op) is not RepeatSum or dtype not in C_TYPES:
            raise NotImplementedError("RepeatSum of this dtype")
        (g, reps, n), (z,), err = inputs, outputs, sub["err"]
        nd, axis = g_var.type.ndim, op.axis
        shape, strides = sub["shape"][0], sub["strides"][0]
        where, ct = "repeat (gradient)", C_TYPES[dtype]
        counts = _counts(name, reps, r_var, f"{name}_n", sub)
        lines = [
            f"const npy_int64 {name}_n = {_int_scalar(n, n_var)};",
            f"if ({name}_n < 0) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"{where}: negative axis size %lld\", "
            f"(long long){name}_n);",
            f"npy_int64 {name}_tot;",
            f"SG_CHECK(sg_repeat_counts({err}, \"{where}\", &{reps}, {name}_n, 0, &{name}_tot));",
            f"if ({name}_tot != (npy_int64){g}.shape[{axis}]) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"{where}: the counts "
            f"add up to %lld, but the gradient has size %td along axis {axis}\", (long long){name}_tot, {g}.shape[{axis}]);",
        ]
        lines += [f"{shape}[{d}] = {f'(sg_index){name}_n' if d == axis else f'{g}.shape[{d}]'};" for d in range(nd)]
        lines.append(_check_size(shape, nd, f"sizeof({ct})", err))
        lines.append(sub["alloc"][0])
        # runs with a zero count stay zero
        lines.append(f"memset({z}.data, 0, (size_t)sg_shape_product({nd}, {shape}) * sizeof({ct}));")
        lines.append(f"if (sg_shape_product({nd}, {g}.shape) > 0) {{\n{counts}")
        lines.append(
            f"SG_CHECK(sg_repeat_sum_{dtype}({err}, {z}.data, {strides}, {g}.data, {g}.strides, {nd}, {g}.shape, "
            f"{axis}, {name}_cnt, (sg_index){name}_n));\n}}"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- CumOp


def _cum_support(node) -> str:
    """The typed loops of one CumOp node (guarded, so nodes of equal types share them)."""
    op = node.op
    in_t, out_t = C_TYPES[node.inputs[0].type.dtype], C_TYPES[node.outputs[0].type.dtype]
    sym = "+" if op.mode == "add" else "*"
    lane, block, cast = _cum_names(node)
    if op.reverse:
        first, step, idx, prev = "len - 1", "p -= xs", "for (sg_index i = len - 2; i >= 0; i--)", "cur + in"
    else:
        first, step, idx, prev = "0", "p += xs", "for (sg_index i = 1; i < len; i++)", "cur - in"
    return f"""
#ifndef SG_CUM_{lane}
#define SG_CUM_{lane} 1
/* One lane of len elements at px (byte stride xs) accumulated into the contiguous o. */
SG_HOT static inline void {lane}(const char *px, sg_index xs, {out_t} *o, sg_index len) {{
    if (len <= 0) return;
    const char *p = px + ({first}) * xs;
    {out_t} acc = ({out_t})*(const {in_t} *)p;
    o[{first}] = acc;
    {idx} {{ {step}; acc = ({out_t})(acc {sym} ({out_t})*(const {in_t} *)p); o[i] = acc; }}
}}
/* Every lane along the last axis. */
SG_HOT static inline int {lane}_last(sg_error *err, char *z, const sg_index *zs, const char *x, const sg_index *xs,
                                     int nd, const sg_index *shape) {{
    SG_FOR_EACH2(z, zs, x, xs, nd - 1, shape, {lane}(pi, xs[nd - 1], ({out_t} *)po, shape[nd - 1]);)
    return SG_OK;
}}
#endif
#ifndef SG_CUM_{block}
#define SG_CUM_{block} 1
/* In place over a C-contiguous (outer, len, in) array: the `in` lanes of a block advance
 * together, so the inner loop is contiguous. */
SG_HOT static inline void {block}({out_t} *z, sg_index outer, sg_index len, sg_index in) {{
    if (len < 2 || in <= 0) return;
    for (sg_index o_ = 0; o_ < outer; o_++) {{
        {out_t} *lane = z + o_ * len * in;
        {idx} {{
            {out_t} *restrict cur = lane + i * in;
            const {out_t} *restrict prv = {prev};
            for (sg_index k = 0; k < in; k++) cur[k] = ({out_t})(prv[k] {sym} cur[k]);
        }}
    }}
}}
#endif
#ifndef SG_CUM_{cast}
#define SG_CUM_{cast} 1
/* dst = (out type) src over `shape`, any strides. */
SG_HOT static inline int {cast}(sg_error *err, char *z, const sg_index *zs, const char *x, const sg_index *xs, int nd,
                                const sg_index *shape) {{
    SG_FOR_EACH2(z, zs, x, xs, nd, shape, *({out_t} *)po = ({out_t})*(const {in_t} *)pi;)
    return SG_OK;
}}
#endif
"""


def _cum_names(node) -> tuple[str, str, str]:
    """C names of a CumOp node's lane, in-place block and cast helpers."""
    op = node.op
    in_t, out_t = C_TYPES[node.inputs[0].type.dtype], C_TYPES[node.outputs[0].type.dtype]
    how = f"{op.mode}_{'rev' if op.reverse else 'fwd'}"
    return f"sg_cum_lane_{in_t}_{out_t}_{how}", f"sg_cum_block_{out_t}_{how}", f"sg_cum_cast_{in_t}_{out_t}"


@register_c_impl(CumOp)
class CumOpC(_CreationImpl):
    """Cumulative sum/product, sequential along each lane as NumPy (from the end for
    ``reverse``), in the output dtype. Lanes along the last axis (and ``axis=None`` over a
    C-contiguous input) are one pass from the input; otherwise the input is first cast into
    the C-contiguous output and the lanes are accumulated in place, all lanes of a block
    side by side (a vectorisable inner loop)."""

    def _check(self, node):
        op = node.op
        in_dt, out_dt = node.inputs[0].type.dtype, node.outputs[0].type.dtype
        if type(op) is not CumOp or in_dt not in C_TYPES or out_dt not in C_TYPES:
            raise NotImplementedError("CumOp of this dtype")
        if op.axis is not None and op.axis >= node.inputs[0].type.ndim:
            raise NotImplementedError("axis out of range")

    def c_support_code(self, node):
        self._check(node)
        return SUPPORT_CODE + _cum_support(node)

    def c_code(self, node, name, inputs, outputs, sub):
        self._check(node)
        op = node.op
        in_t, out_t = C_TYPES[node.inputs[0].type.dtype], C_TYPES[node.outputs[0].type.dtype]
        lane, block, cast = _cum_names(node)
        (x,), (z,), err = inputs, outputs, sub["err"]
        nd = node.inputs[0].type.ndim
        shape, strides = sub["shape"][0], sub["strides"][0]
        lines = []
        if op.axis is None:
            lines.append(f"sg_index {name}_n = sg_shape_product({nd}, {x}.shape);")
            lines.append(f"if ({name}_n < 0) SG_FAIL_CODE({err}, SG_ERR_MEMORY, \"cumulative op: input too large\");")
            lines.append(f"{shape}[0] = {name}_n;")
            lines.append(sub["alloc"][0])
            lines.append(f"if (sg_array_is_c_contiguous(&{x})) {{")
            lines.append(f"    {lane}({x}.data, sizeof({in_t}), ({out_t} *){z}.data, {name}_n);")
            lines.append("} else {")
            # the output is contiguous: its strides over x's shape are C-order strides
            lines.append(f"    sg_index {name}_os[{max(nd, 1)}];")
            lines.append(f"    sg_contiguous_strides({nd}, {x}.shape, sizeof({out_t}), {name}_os);")
            lines.append(f"    SG_CHECK({cast}({err}, {z}.data, {name}_os, {x}.data, {x}.strides, {nd}, {x}.shape));")
            lines.append(f"    {block}(({out_t} *){z}.data, 1, {name}_n, 1);")
            lines.append("}")
            return "\n".join(lines)
        a = op.axis
        lines += [f"{shape}[{d}] = {x}.shape[{d}];" for d in range(nd)]
        lines.append(sub["alloc"][0])
        if a == nd - 1:
            lines.append(
                f"SG_CHECK({lane}_last({err}, {z}.data, {strides}, {x}.data, {x}.strides, {nd}, {x}.shape));"
            )
            return "\n".join(lines)
        lines.append(f"SG_CHECK({cast}({err}, {z}.data, {strides}, {x}.data, {x}.strides, {nd}, {x}.shape));")
        lines.append(
            f"{block}(({out_t} *){z}.data, sg_shape_product({a}, {x}.shape), {x}.shape[{a}], "
            f"sg_shape_product({nd - a - 1}, {x}.shape + {a + 1}));"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------- Tri


@register_c_impl(Tri)
class TriC(_CreationImpl):
    """``np.tril``/``np.triu`` over the last two dimensions: element (i, j) is kept when
    ``j - i <= k`` (lower) or ``j - i >= k`` (upper), else zero."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        dtype = node.inputs[0].type.dtype
        if type(op) is not Tri or dtype not in C_TYPES or node.outputs[0].type.dtype != dtype:
            raise NotImplementedError("Tri of this dtype")
        if not -(2**62) <= op.k <= 2**62:
            raise NotImplementedError("huge diagonal offset")
        (x,), (z,), err = inputs, outputs, sub["err"]
        nd = node.inputs[0].type.ndim
        shape, strides = sub["shape"][0], sub["strides"][0]
        lines = [f"{shape}[{d}] = {x}.shape[{d}];" for d in range(nd)]
        lines.append(sub["alloc"][0])
        lines.append(
            f"SG_CHECK(sg_tri_{dtype}({err}, {z}.data, {strides}, {x}.data, {x}.strides, {nd}, {x}.shape, {op.k}LL, "
            f"{int(op.lower)}));"
        )
        return "\n".join(lines)
