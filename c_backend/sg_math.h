/*
 * sg_math.h -- scalar helpers referenced by the C templates of symgraph's scalar-op table
 * (symgraph/tensor/scalar_ops.py: every `sg_*` name there is defined here).
 *
 * Each public name is a type-generic macro (C11 `_Generic`) dispatching on the C type of its
 * argument(s) -- after the usual arithmetic conversions for binary helpers, so int8/int16/
 * uint8/bool operands compute in `int` and the result wraps when stored into the narrow
 * output type, as NumPy's does -- to `static inline` functions with a type suffix
 * (`_i32` int, `_i64` long, `_ll` long long, `_u32`, `_u64`, `_f32` float, `_f64` double),
 * which may also be called directly.
 *
 * Semantics follow NumPy/SciPy, including the corners:
 *   - NaN propagates (maximum/minimum/clip return NaN if any operand is NaN);
 *   - floor_divide/mod have Python's sign rules for floats and ints; integer division by
 *     zero gives 0 (NumPy's result, without its warning), and INT_MIN // -1 gives INT_MIN,
 *     INT_MIN % -1 gives 0 (NumPy's wrapped results) instead of trapping;
 *   - sigmoid/softplus/logaddexp/log1mexp never overflow (stable at +-1000 and +-inf);
 *   - erfinv/digamma/polygamma match SciPy (to a few ulp) including +-0, +-inf, poles.
 * float helpers compute special functions in double and round once (SciPy does the same).
 *
 * Also here, for templates that need them (see c_backend/README.md): sg_gammaln, sg_floor, sg_ceil,
 * sg_rint (identity on integers, so int64 values above 2**53 are not rounded through
 * double) and sg_pow (exact integer power by squaring; negative exponents give 0 except
 * for bases +-1, where NumPy raises).
 */
#ifndef SG_MATH_H
#define SG_MATH_H

#include <limits.h>
#include <math.h>
#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#include "sg_runtime.h" /* SG_HOT (a no-op when sg_runtime.h is what included this file) */
/* SG_HOT: the level of the elementwise kernels calling these, or gcc would not inline them */
#define SG_INLINE SG_HOT static inline

/* ------------------------------------------------------------------ integer division */
/* Floor division and remainder with the divisor's sign (Python/NumPy). b == 0 gives 0; the
 * one overflowing case (MIN / -1) is answered without dividing, since x86 traps on it. */
#define SG_DEF_INT_DIVMOD(S, T, TMIN)                                                   \
    SG_INLINE T sg_floor_divide_##S(T a, T b) {                                         \
        if (b == 0) return 0;                                                           \
        if (b == -1) return a == TMIN ? TMIN : -a;                                      \
        T q = a / b;                                                                    \
        if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;                               \
        return q;                                                                       \
    }                                                                                   \
    SG_INLINE T sg_mod_##S(T a, T b) {                                                  \
        if (b == 0 || b == -1) return 0;                                                \
        T r = a % b;                                                                    \
        if (r != 0 && ((r < 0) != (b < 0))) r += b;                                     \
        return r;                                                                       \
    }
SG_DEF_INT_DIVMOD(i32, int, INT_MIN)
SG_DEF_INT_DIVMOD(i64, long, LONG_MIN)
SG_DEF_INT_DIVMOD(ll, long long, LLONG_MIN)
#undef SG_DEF_INT_DIVMOD

#define SG_DEF_UINT_DIVMOD(S, T)                                                        \
    SG_INLINE T sg_floor_divide_##S(T a, T b) { return b == 0 ? 0 : a / b; }            \
    SG_INLINE T sg_mod_##S(T a, T b) { return b == 0 ? 0 : a % b; }
SG_DEF_UINT_DIVMOD(u32, unsigned int)
SG_DEF_UINT_DIVMOD(u64, unsigned long)
#undef SG_DEF_UINT_DIVMOD

/* ------------------------------------------------------------------ float division */
/* NumPy's float floor_divide/remainder (npy_divmod): fmod gives the exact remainder, the
 * quotient (a - mod) / b is then exact up to rounding and is floored with a correction for
 * rounding up to the next integer. b == 0 gives a / b (inf or NaN) and fmod's NaN. */
#define SG_DEF_FLOAT_DIVMOD(S, T, FMOD, FLOOR, COPYSIGN)                                \
    SG_INLINE T sg_floor_divide_##S(T a, T b) {                                         \
        if (b == 0) return a / b;                                                       \
        T mod = FMOD(a, b);                                                             \
        T div = (a - mod) / b;                                                          \
        if (mod != 0) {                                                                 \
            if ((b < 0) != (mod < 0)) div -= (T)1;                                      \
        }                                                                               \
        T fl;                                                                           \
        if (div != 0) {                                                                 \
            fl = FLOOR(div);                                                            \
            if (div - fl > (T)0.5) fl += (T)1;                                          \
        } else {                                                                        \
            fl = COPYSIGN((T)0, a / b);                                                 \
        }                                                                               \
        return fl;                                                                      \
    }                                                                                   \
    SG_INLINE T sg_mod_##S(T a, T b) {                                                  \
        T mod = FMOD(a, b);                                                             \
        if (b == 0) return mod;                                                         \
        if (mod != 0) {                                                                 \
            if ((b < 0) != (mod < 0)) mod += b;                                         \
        } else {                                                                        \
            mod = COPYSIGN((T)0, b);                                                    \
        }                                                                               \
        return mod;                                                                     \
    }
SG_DEF_FLOAT_DIVMOD(f64, double, fmod, floor, copysign)
SG_DEF_FLOAT_DIVMOD(f32, float, fmodf, floorf, copysignf)
#undef SG_DEF_FLOAT_DIVMOD

/* ------------------------------------------------------------------ abs, sign, min, max */
/* Integer abs through unsigned arithmetic so that abs(MIN) wraps to MIN (NumPy) without UB. */
SG_INLINE int sg_abs_i32(int x) { return x < 0 ? (int)(0u - (unsigned int)x) : x; }
SG_INLINE long sg_abs_i64(long x) { return x < 0 ? (long)(0ul - (unsigned long)x) : x; }
SG_INLINE long long sg_abs_ll(long long x) { return x < 0 ? (long long)(0ull - (unsigned long long)x) : x; }
SG_INLINE unsigned int sg_abs_u32(unsigned int x) { return x; }
SG_INLINE unsigned long sg_abs_u64(unsigned long x) { return x; }
SG_INLINE double sg_abs_f64(double x) { return fabs(x); }
SG_INLINE float sg_abs_f32(float x) { return fabsf(x); }

#define SG_DEF_INT_SIGN(S, T) \
    SG_INLINE T sg_sign_##S(T x) { return (T)((x > 0) - (x < 0)); }
SG_DEF_INT_SIGN(i32, int)
SG_DEF_INT_SIGN(i64, long)
SG_DEF_INT_SIGN(ll, long long)
SG_DEF_INT_SIGN(u32, unsigned int)
SG_DEF_INT_SIGN(u64, unsigned long)
#undef SG_DEF_INT_SIGN
/* NumPy: NaN stays NaN, -0.0 gives +0.0. */
SG_INLINE double sg_sign_f64(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : (x == 0 ? 0.0 : x)); }
SG_INLINE float sg_sign_f32(float x) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : (x == 0 ? 0.0f : x)); }

/* maximum/minimum: NaN in either operand gives NaN; for equal operands (+0/-0) the second
 * one is returned, which is what NumPy's loops give for signed zeros. */
#define SG_DEF_MINMAX(S, T)                                                              \
    SG_INLINE T sg_maximum_##S(T a, T b) { return (a > b || a != a) ? a : b; }           \
    SG_INLINE T sg_minimum_##S(T a, T b) { return (a < b || a != a) ? a : b; }           \
    SG_INLINE T sg_clip_##S(T x, T lo, T hi) { return sg_minimum_##S(sg_maximum_##S(x, lo), hi); }
SG_DEF_MINMAX(i32, int)
SG_DEF_MINMAX(i64, long)
SG_DEF_MINMAX(ll, long long)
SG_DEF_MINMAX(u32, unsigned int)
SG_DEF_MINMAX(u64, unsigned long)
SG_DEF_MINMAX(f64, double)
SG_DEF_MINMAX(f32, float)
#undef SG_DEF_MINMAX

/* ------------------------------------------------------------------ rounding, power */
/* Identity on integers (floor(int64) through double would lose values above 2**53). */
#define SG_DEF_INT_ROUND(S, T)                         \
    SG_INLINE T sg_floor_##S(T x) { return x; }        \
    SG_INLINE T sg_ceil_##S(T x) { return x; }         \
    SG_INLINE T sg_rint_##S(T x) { return x; }
SG_DEF_INT_ROUND(i32, int)
SG_DEF_INT_ROUND(i64, long)
SG_DEF_INT_ROUND(ll, long long)
SG_DEF_INT_ROUND(u32, unsigned int)
SG_DEF_INT_ROUND(u64, unsigned long)
#undef SG_DEF_INT_ROUND
SG_INLINE double sg_floor_f64(double x) { return floor(x); }
SG_INLINE double sg_ceil_f64(double x) { return ceil(x); }
SG_INLINE double sg_rint_f64(double x) { return rint(x); }
SG_INLINE float sg_floor_f32(float x) { return floorf(x); }
SG_INLINE float sg_ceil_f32(float x) { return ceilf(x); }
SG_INLINE float sg_rint_f32(float x) { return rintf(x); }

/* Exact integer power by squaring, wrapping like NumPy (computed in unsigned arithmetic so
 * overflow is defined). Negative exponents, which NumPy rejects with an error, give
 * 1/a**-b truncated: 1 for a == 1, +-1 for a == -1, 0 otherwise (a == 0: 0, no trap). */
#define SG_DEF_INT_POW(S, T, U)                                                       \
    SG_INLINE T sg_pow_##S(T a, T b) {                                                \
        if (b < 0) return a == 1 ? (T)1 : (a == (T)-1 ? (T)((b & 1) ? -1 : 1) : (T)0); \
        U r = 1, base = (U)a;                                                         \
        while (b) {                                                                   \
            if (b & 1) r *= base;                                                     \
            base *= base;                                                             \
            b >>= 1;                                                                  \
        }                                                                             \
        return (T)r;                                                                  \
    }
SG_DEF_INT_POW(i32, int, unsigned int)
SG_DEF_INT_POW(i64, long, unsigned long)
SG_DEF_INT_POW(ll, long long, unsigned long long)
SG_DEF_INT_POW(u32, unsigned int, unsigned int)
SG_DEF_INT_POW(u64, unsigned long, unsigned long)
#undef SG_DEF_INT_POW
SG_INLINE double sg_pow_f64(double a, double b) { return pow(a, b); }
SG_INLINE float sg_pow_f32(float a, float b) { return powf(a, b); }

/* ------------------------------------------------------------------ invert */
/* Bitwise not of integers, logical not of booleans (npy_bool is _Bool in sg_runtime.h). */
SG_INLINE _Bool sg_invert_bool(_Bool x) { return !x; }
SG_INLINE int sg_invert_i32(int x) { return ~x; }
SG_INLINE long sg_invert_i64(long x) { return ~x; }
SG_INLINE long long sg_invert_ll(long long x) { return ~x; }
SG_INLINE unsigned int sg_invert_u32(unsigned int x) { return ~x; }
SG_INLINE unsigned long sg_invert_u64(unsigned long x) { return ~x; }

/* ------------------------------------------------------------------ tanh */
/* tanh(x) = -t / (t + 2) with t = expm1(-2|x|), carrying the sign of x: branch-free, so a
 * loop of it vectorises with libmvec's expm1, which is faster than libmvec's tanh (W4's
 * hidden layer); within 3 ulp of the correctly rounded value with the scalar expm1 (4 with
 * the SIMD one), exact at +-0, +-inf, NaN.
 * float keeps tanhf. */
/* always_inline: without it gcc leaves the call in the -O3 kernel and does not vectorise */
__attribute__((always_inline)) SG_INLINE double sg_tanh_f64(double x) {
    const double t = expm1(-2.0 * fabs(x));
    return copysign(-t / (t + 2.0), x);
}
SG_INLINE float sg_tanh_f32(float x) { return tanhf(x); }

/* ------------------------------------------------------------------ logistic family */
/* sigmoid: exp of a non-positive number only, so nothing overflows; NaN gives NaN. */
SG_INLINE double sg_sigmoid_f64(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
SG_INLINE float sg_sigmoid_f32(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), NumPy's logaddexp(0, x). */
SG_INLINE double sg_softplus_f64(double x) {
    if (x > 0) return x + log1p(exp(-x));
    if (x <= 0) return log1p(exp(x));
    return x; /* NaN */
}
SG_INLINE float sg_softplus_f32(float x) {
    if (x > 0) return x + log1pf(expf(-x));
    if (x <= 0) return log1pf(expf(x));
    return x;
}

/* logaddexp(a, b) = max + log1p(exp(-|a - b|)); equal operands (incl. equal infinities)
 * give a + log(2) so inf - inf is never formed. */
SG_INLINE double sg_logaddexp_f64(double a, double b) {
    if (a == b) return a + 0.693147180559945309417232121458;
    double d = a - b;
    if (d > 0) return a + log1p(exp(-d));
    if (d <= 0) return b + log1p(exp(d));
    return d; /* NaN */
}
SG_INLINE float sg_logaddexp_f32(float a, float b) {
    if (a == b) return a + 0.693147180559945309417232121458f;
    float d = a - b;
    if (d > 0) return a + log1pf(expf(-d));
    if (d <= 0) return b + log1pf(expf(d));
    return d;
}

/* log1mexp(x) = log(1 - exp(x)) for x <= 0 (Maechler): log(-expm1(x)) near 0, log1p(-exp(x))
 * below -log 2. x > 0 gives NaN (log of a negative), x == 0 gives -inf. */
SG_INLINE double sg_log1mexp_f64(double x) {
    return x > -0.693147180559945309417232121458 ? log(-expm1(x)) : log1p(-exp(x));
}
SG_INLINE float sg_log1mexp_f32(float x) {
    return x > -0.693147180559945309417232121458f ? logf(-expm1f(x)) : log1pf(-expf(x));
}

/* ------------------------------------------------------------------ erfinv */
/* Winitzki's closed-form approximation (~2e-3 relative) refined by Halley steps on
 * f(y) = erf(y) - x, with f' = 2/sqrt(pi) exp(-y^2) and f'' = -2 y f', so a step is
 * y -= f / (f' + y f). For |x| > 0.5, f is evaluated as (1 - |x|) - erfc(y), exact in
 * the tails where erf(y) rounds to 1. Converges cubically: 3 steps reach double precision. */
SG_INLINE double sg_erfinv_f64(double x) {
    if (x != x) return x;
    if (x == 0) return x; /* keeps the sign of zero */
    double ax = fabs(x);
    if (ax >= 1) return ax == 1 ? copysign(INFINITY, x) : NAN;
    const double a = 0.147;
    double l = log1p(-ax * ax); /* log(1 - x^2), accurate for small x */
    double t = 2.0 / (M_PI * a) + 0.5 * l;
    double y = sqrt(sqrt(t * t - l / a) - t);
    double one_minus = 1.0 - ax; /* exact for ax >= 0.5 (Sterbenz) */
    for (int i = 0; i < 4; i++) {
        double f = ax > 0.5 ? one_minus - erfc(y) : erf(y) - ax;
        double fp = 1.12837916709551257390 * exp(-y * y);
        double step = f / (fp + y * f);
        y -= step;
        if (fabs(step) <= 1e-17 * y) break;
    }
    return copysign(y, x);
}
SG_INLINE float sg_erfinv_f32(float x) { return (float)sg_erfinv_f64((double)x); }

/* ------------------------------------------------------------------ gammaln */
/* log|gamma(x)| through the reentrant lgamma_r (plain lgamma writes the global signgam, a
 * data race in OpenMP loops); -inf gives -inf as in SciPy (C's lgamma gives +inf). */
#if defined(__GLIBC__)
extern double lgamma_r(double, int *);
SG_INLINE double sg_lgamma_raw_(double x) { int s; return lgamma_r(x, &s); }
#else
SG_INLINE double sg_lgamma_raw_(double x) { return lgamma(x); }
#endif
SG_INLINE double sg_gammaln_f64(double x) { return x == -INFINITY ? x : sg_lgamma_raw_(x); }
SG_INLINE float sg_gammaln_f32(float x) { return (float)sg_gammaln_f64((double)x); }

/* ------------------------------------------------------------------ digamma, polygamma */
/* Reflection-friendly cot(pi x): reduces x mod 1 first so that x near a (large) integer
 * keeps its relative accuracy. */
SG_INLINE double sg_pi_cot_pi_(double x) {
    double r = x - rint(x); /* in [-0.5, 0.5], exact */
    return M_PI / tan(M_PI * r);
}

/* digamma: poles at 0 (-inf from +0, +inf from -0, as SciPy) and NaN at negative integers;
 * reflection psi(x) = psi(1 - x) - pi cot(pi x) for x < 0; recurrence up to x >= 10, then
 * the asymptotic series ln x - 1/(2x) - sum B_2k / (2k x^2k). */
SG_INLINE double sg_digamma_f64(double x) {
    if (x != x) return x;
    if (x == 0) return signbit(x) ? INFINITY : -INFINITY;
    if (x == INFINITY) return x;
    if (x < 0) {
        if (x == floor(x)) return NAN; /* negative integers and -inf */
        return sg_digamma_f64(1.0 - x) - sg_pi_cot_pi_(x);
    }
    double acc = 0.0;
    while (x < 10.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    double z = 1.0 / (x * x);
    /* B_2k / (2k) for k = 1..7 */
    double series = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 - z * (691.0 / 32760 - z * (1.0 / 12)))))));
    return acc + log(x) - 0.5 / x - series;
}
SG_INLINE float sg_digamma_f32(float x) { return (float)sg_digamma_f64((double)x); }

/* Hurwitz zeta(s, q) = sum_{k>=0} (q + k)^-s for s > 1 (integer s when q < 0): a direct
 * sum up to w = q + N >= 10, then the Euler-Maclaurin tail
 *   w^(1-s)/(s-1) + w^-s/2 + sum_j B_2j/(2j)! s(s+1)...(s+2j-2) w^(-s-2j+1). */
SG_INLINE double sg_hurwitz_zeta_(double s, double q) {
    static const double b2j_over_fact[12] = {
        0.08333333333333333,     -0.001388888888888889,   3.306878306878307e-05,
        -8.267195767195768e-07,  2.08767569878681e-08,    -5.284190138687493e-10,
        1.3382536530684679e-11,  -3.3896802963225827e-13, 8.586062056277845e-15,
        -2.174868698558062e-16,  5.5090028283602295e-18,  -1.3954464685812522e-19};
    if (s != s || q != q) return NAN;
    if (q == INFINITY) return 0.0;
    if (q <= 0 && q == floor(q)) return INFINITY; /* poles (incl. q = -inf, as SciPy) */
    if (q < 0 && s != floor(s)) return NAN;        /* (q + k)^-s is not real */
    /* The tail's series behaves like sum_j ((s + 2j) / (2 pi w))^2j: it needs w well above s
     * for large orders, hence w >= 10 + s. For q > 0 the direct terms decrease, and once one
     * is negligible the whole tail (< w t / (s - 1) + t) is too: stop early. */
    double sum = 0.0, w = q;
    while (w < 10.0 + s) {
        double t = pow(w, -s);
        sum += t;
        w += 1.0;
        if (q > 0 && t <= 1e-18 * sum) return sum + pow(w, -s) * (w / (s - 1.0) + 0.5);
    }
    double wpow = pow(w, -s); /* w^-s */
    double tail = w * wpow / (s - 1.0) + 0.5 * wpow;
    double poch = s;            /* s (s+1) ... (s+2j-2) */
    double wp = wpow / w;       /* w^(-s-2j+1) */
    for (int j = 0; j < 12; j++) {
        double term = b2j_over_fact[j] * poch * wp;
        tail += term;
        if (fabs(term) <= 1e-17 * fabs(sum + tail)) break;
        poch *= (s + 2 * j + 1) * (s + 2 * j + 2);
        wp /= w * w;
    }
    return sum + tail;
}

/* polygamma(n, x) = (-1)^(n+1) n! zeta(n+1, x) for integer n >= 1, digamma for n == 0,
 * NaN for negative or non-integer n (SciPy). */
SG_INLINE double sg_polygamma_f64(double n, double x) {
    if (n != n || x != x) return NAN;
    if (n < 0 || n != floor(n)) return NAN;
    if (n == 0) return sg_digamma_f64(x);
    double sign = fmod(n, 2.0) == 1.0 ? 1.0 : -1.0; /* (-1)^(n+1) */
    return sign * tgamma(n + 1.0) * sg_hurwitz_zeta_(n + 1.0, x);
}
SG_INLINE float sg_polygamma_f32(float n, float x) { return (float)sg_polygamma_f64((double)n, (double)x); }

/* ------------------------------------------------------------------ type-generic names */
/* Integer kinds shared by every integer helper family F. */
#define SG_INT_CASES_(F)                                                              \
    int: F##_i32, long: F##_i64, long long: F##_ll, unsigned int: F##_u32,            \
    unsigned long: F##_u64

#define sg_floor_divide(a, b) \
    _Generic((a) + (b), SG_INT_CASES_(sg_floor_divide), float: sg_floor_divide_f32, default: sg_floor_divide_f64)((a), (b))
#define sg_mod(a, b) _Generic((a) + (b), SG_INT_CASES_(sg_mod), float: sg_mod_f32, default: sg_mod_f64)((a), (b))
#define sg_abs(x) _Generic(+(x), SG_INT_CASES_(sg_abs), float: sg_abs_f32, default: sg_abs_f64)((x))
#define sg_sign(x) _Generic(+(x), SG_INT_CASES_(sg_sign), float: sg_sign_f32, default: sg_sign_f64)((x))
#define sg_maximum(a, b) \
    _Generic((a) + (b), SG_INT_CASES_(sg_maximum), float: sg_maximum_f32, default: sg_maximum_f64)((a), (b))
#define sg_minimum(a, b) \
    _Generic((a) + (b), SG_INT_CASES_(sg_minimum), float: sg_minimum_f32, default: sg_minimum_f64)((a), (b))
#define sg_clip(x, lo, hi) \
    _Generic((x) + (lo) + (hi), SG_INT_CASES_(sg_clip), float: sg_clip_f32, default: sg_clip_f64)((x), (lo), (hi))
#define sg_floor(x) _Generic(+(x), SG_INT_CASES_(sg_floor), float: sg_floor_f32, default: sg_floor_f64)((x))
#define sg_ceil(x) _Generic(+(x), SG_INT_CASES_(sg_ceil), float: sg_ceil_f32, default: sg_ceil_f64)((x))
#define sg_rint(x) _Generic(+(x), SG_INT_CASES_(sg_rint), float: sg_rint_f32, default: sg_rint_f64)((x))
#define sg_pow(a, b) _Generic((a) + (b), SG_INT_CASES_(sg_pow), float: sg_pow_f32, default: sg_pow_f64)((a), (b))
/* No integer promotion here: _Bool must stay distinguishable from the other integers. */
#define sg_invert(x)                                                                           \
    _Generic((x), _Bool: sg_invert_bool, signed char: sg_invert_i32, unsigned char: sg_invert_i32, \
             short: sg_invert_i32, unsigned short: sg_invert_i32, SG_INT_CASES_(sg_invert),   \
             default: sg_invert_i64)((x))
/* Float-only helpers (the table casts their inputs to the output float type first). */
#define sg_tanh(x) _Generic((x), float: sg_tanh_f32, default: sg_tanh_f64)((x))
#define sg_sigmoid(x) _Generic((x), float: sg_sigmoid_f32, default: sg_sigmoid_f64)((x))
#define sg_softplus(x) _Generic((x), float: sg_softplus_f32, default: sg_softplus_f64)((x))
#define sg_log1mexp(x) _Generic((x), float: sg_log1mexp_f32, default: sg_log1mexp_f64)((x))
#define sg_logaddexp(a, b) _Generic((a) + (b), float: sg_logaddexp_f32, default: sg_logaddexp_f64)((a), (b))
#define sg_erfinv(x) _Generic((x), float: sg_erfinv_f32, default: sg_erfinv_f64)((x))
#define sg_gammaln(x) _Generic((x), float: sg_gammaln_f32, default: sg_gammaln_f64)((x))
#define sg_digamma(x) _Generic((x), float: sg_digamma_f32, default: sg_digamma_f64)((x))
#define sg_polygamma(n, x) _Generic((n) + (x), float: sg_polygamma_f32, default: sg_polygamma_f64)((n), (x))

/* ------------------------------------------------------------------ sum of shifted exps */
/* sg_sum_exp_shifted_f64(x, n, m) = sum over k < n of exp(x[k] - m): the inner sum of a
 * logsumexp row (m its maximum). Where the target has AVX-512 this is an exp of its own, on
 * gcc's vector extensions (no <immintrin.h>: that header alone costs 0.08 s of every compile):
 *   exp(v) = 2^(n/16) * exp(r),  n = round(16 v / ln 2),  r = v - n ln2/16, |r| <= ln2/32,
 * 2^(j/16) for j = n mod 16 from a 16-entry table held in two registers (one vpermt2pd, not a
 * gather), exp(r) - 1 by its Taylor polynomial to degree 7 (truncation 1e-18), the integer part
 * of n/16 added to the exponent bits. It is within 1 ulp of glibc's exp, and twice as fast as
 * libmvec's exp on a row in cache (0.28 vs 0.56 ns per double), which is most of a logsumexp.
 * Lanes below -746 give 0 (exp rounds to 0 there, -inf included); results below 2^-1022 are
 * scaled in two steps so subnormals round once. A row with a NaN or an argument above 354 (whose
 * exponent the two-step scaling cannot hold) is summed again with libm's exp, so NaN and inf
 * come out as NumPy's. Without AVX-512 (or with SG_NO_VECTOR_EXP) SG_HAVE_SUM_EXP_F64 is 0
 * and the caller keeps its loop over libm's exp. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__AVX512F__) && !defined(SG_NO_VECTOR_EXP)
#define SG_HAVE_SUM_EXP_F64 1
typedef double sg_v8d_ __attribute__((vector_size(64)));
typedef long long sg_v8l_ __attribute__((vector_size(64)));
#define SG_V8_(c) ((sg_v8d_){(c), (c), (c), (c), (c), (c), (c), (c)})
/* the polynomial and the reduction are written as a * b + c: contracted to fused multiply-adds
 * here only (the module's -ffp-contract=off keeps NumPy's rounding everywhere else) */
#if defined(SG_NO_OPT_ATTRIBUTES)
#define SG_VEXP_FN_ static inline __attribute__((unused))
#else
#define SG_VEXP_FN_ static inline __attribute__((optimize("O3", "fp-contract=fast"), unused))
#endif

SG_VEXP_FN_ sg_v8d_ sg_vexp8_(sg_v8d_ v, sg_v8l_ *bad) {
    /* 2^(j/16), j = 0..15, correctly rounded */
    const sg_v8d_ t_lo = {1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
                          1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927};
    const sg_v8d_ t_hi = {1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
                          1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};
    const sg_v8d_ shift = SG_V8_(6755399441055744.0); /* 1.5 * 2^52: adding it rounds to an integer */
    const sg_v8d_ kd = v * SG_V8_(23.083120654223414) + shift; /* 16 / ln 2 */
    const sg_v8d_ k = kd - shift;
    /* ln2/16 in two parts; the first has 21 trailing zero bits, so k * it is exact */
    sg_v8d_ r = v - k * SG_V8_(0.04332169877307024);
    r = r - k * SG_V8_(1.1926343307941173e-11);
    sg_v8d_ p = SG_V8_(1.0 / 5040) * r + SG_V8_(1.0 / 720);
    p = p * r + SG_V8_(1.0 / 120);
    p = p * r + SG_V8_(1.0 / 24);
    p = p * r + SG_V8_(1.0 / 6);
    p = p * r + SG_V8_(0.5);
    p = p * (r * r) + r; /* exp(r) - 1 */
    const sg_v8l_ n = (sg_v8l_)kd - (sg_v8l_)shift;
    const sg_v8d_ t = __builtin_shuffle(t_lo, t_hi, n); /* indices are taken mod 16 */
    const sg_v8d_ y = t * p + t;
    /* 2^(n/16 rounded down) in two factors, 2^(e + 512) in the bits and 2^-512 */
    const sg_v8d_ scaled = (sg_v8d_)((sg_v8l_)y + (((n >> 4) + 512) << 52)) * SG_V8_(0x1p-512);
    const sg_v8l_ ok = (v >= SG_V8_(-746.0)) & (v <= SG_V8_(354.0)); /* false for NaN */
    *bad |= ~(ok | (v < SG_V8_(-746.0)));
    return (sg_v8d_)((sg_v8l_)scaled & ok);
}

SG_VEXP_FN_ double sg_sum_exp_shifted_f64(const double *restrict x, sg_index n, double m) {
    const sg_v8d_ vm = SG_V8_(m);
    sg_v8d_ a0 = SG_V8_(0.0), a1 = a0, a2 = a0, a3 = a0, c0, c1, c2, c3;
    sg_v8l_ bad = {0};
    sg_index i = 0;
    for (; i + 32 <= n; i += 32) {
        /* the next row (rows of a logsumexp are contiguous) into the cache while this one
         * computes: a prefetch never faults, even past the end of the array */
        for (int l = 0; l < 32; l += 8) __builtin_prefetch(x + n + i + l);
        __builtin_memcpy(&c0, x + i, sizeof c0);
        __builtin_memcpy(&c1, x + i + 8, sizeof c1);
        __builtin_memcpy(&c2, x + i + 16, sizeof c2);
        __builtin_memcpy(&c3, x + i + 24, sizeof c3);
        a0 += sg_vexp8_(c0 - vm, &bad);
        a1 += sg_vexp8_(c1 - vm, &bad);
        a2 += sg_vexp8_(c2 - vm, &bad);
        a3 += sg_vexp8_(c3 - vm, &bad);
    }
    for (; i + 8 <= n; i += 8) {
        __builtin_memcpy(&c0, x + i, sizeof c0);
        a0 += sg_vexp8_(c0 - vm, &bad);
    }
    if (i < n) { /* the last n % 8, padded with -inf (whose exp is 0) */
        for (int l = 0; l < 8; l++) c0[l] = i + l < n ? x[i + l] - m : -INFINITY;
        a1 += sg_vexp8_(c0, &bad);
    }
    long long any_bad = 0;
    for (int l = 0; l < 8; l++) any_bad |= bad[l];
    if (__builtin_expect(any_bad != 0, 0)) {
        double s = 0.0;
        for (sg_index k = 0; k < n; k++) s += exp(x[k] - m);
        return s;
    }
    a0 = (a0 + a2) + (a1 + a3);
    return ((a0[0] + a0[4]) + (a0[2] + a0[6])) + ((a0[1] + a0[5]) + (a0[3] + a0[7]));
}
#else
#define SG_HAVE_SUM_EXP_F64 0
#endif

#endif /* SG_MATH_H */
