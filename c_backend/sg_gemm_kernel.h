/*
 * sg_gemm_kernel.h -- the body of symgraph's matrix-matrix product, written once for both
 * float types. sg_gemm.c includes it twice, after defining:
 *
 *   GK_T     the element type (double, float)
 *   GK_V     a 64-byte gcc vector of GK_T, GK_VU the same with the element's alignment
 *   GK_VL    lanes per vector (8, 16)
 *   GK_SUF   the name suffix (f64, f32)
 * (undefined again at the end of this file), and once for both types the block sizes GK_NV
 * (vectors per tile row), GK_MR, GK_KC, GK_MB, GK_NB and GK_MG (described in sg_gemm.c).
 *
 * Scheme (Goto/BLIS): C (m x n, row-major, row stride ldc) = A (m x k) @ B (k x n), A and B
 * with any element strides. For each chunk of at most GK_NB columns, each slice of at most
 * GK_KC of the k range and each chunk of at most GK_MB rows:
 *   1. pack: A's rows into panels of GK_MR rows stored k-major (a[k*MR + i]), B's columns
 *      into panels of GK_NR = GK_VL*GK_NV columns stored k-major (b[k*NR + j]), padding the
 *      last panel of each with zeros; panels are independent tasks, split over the threads;
 *   2. compute: every (row panel, column panel) tile with the micro-kernel, the MR x NR
 *      accumulators held in registers (24 of the 32 zmm registers); split over the threads by
 *      row panels (or by column panels when there are more of those).
 * The first k slice writes C, the later ones add to it. Tiles that stick out of C (the last
 * row or column panel) go through a small buffer, so nothing outside C is ever written; the
 * padding rows and columns are computed and thrown away.
 *
 * Rounding: each C element is one sum over k, in order, with fused multiply-adds, as in
 * OpenBLAS; the result differs from NumPy's by the rounding of a different summation only.
 */

#define GK_CAT_(a, b) a##_##b
#define GK_CAT(a, b) GK_CAT_(a, b)
#define GK_NAME(x) GK_CAT(x, GK_SUF)
#define GK_NR (GK_VL * GK_NV)

typedef struct {
    sg_gidx m, n, kc, ldc;   /* this chunk's sizes; C's row stride */
    sg_gidx rsa, csa, rsb, csb;
    sg_gidx pa, pb;          /* row panels, column panels */
    int accumulate;          /* add to C (a k slice after the first) */
    int by_rows;             /* compute split over row panels (else column panels) */
    const GK_T *A, *B;       /* the chunk's first element of A and of B */
    GK_T *C, *ap, *bp;       /* the chunk's first element of C; packed A and B */
} GK_NAME(sg_gemm_ctx);

/* The block sizes, for blocking() (tests aim at the panel edges). */
static const sg_gidx GK_NAME(sg_gemm_sizes)[5] = {GK_MR, GK_NR, GK_KC, GK_MB, GK_NB};

/* tile (MR x NR at c, row stride ldc) = (accumulate ? tile : 0) + sum_k a[k][i] b[k][j] */
SG_GEMM_TARGET static void GK_NAME(sg_gemm_micro)(sg_gidx kc, const GK_T *restrict a, const GK_T *restrict b,
                                                   GK_T *restrict c, sg_gidx ldc, int accumulate) {
    GK_V acc[GK_MR][GK_NV];
#pragma GCC unroll 16
    for (int i = 0; i < GK_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < GK_NV; v++) acc[i][v] = (GK_V){0};
    for (sg_gidx k = 0; k < kc; k++) {
        GK_V bv[GK_NV];
#pragma GCC unroll 4
        for (int v = 0; v < GK_NV; v++) bv[v] = *(const GK_V *)(b + k * GK_NR + GK_VL * v);
#pragma GCC unroll 16
        for (int i = 0; i < GK_MR; i++) {
            GK_T ai = a[k * GK_MR + i];
#pragma GCC unroll 4
            for (int v = 0; v < GK_NV; v++) acc[i][v] += ai * bv[v];
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < GK_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < GK_NV; v++) {
            GK_VU *p = (GK_VU *)(c + i * ldc + GK_VL * v);
            if (accumulate) *p += acc[i][v];
            else *p = acc[i][v];
        }
}

/* Pack tasks [lo, hi): task t < pa packs row panel t of A, the others column panel t - pa of B. */
SG_GEMM_TARGET static void GK_NAME(sg_gemm_pack)(void *vctx, sg_gidx lo, sg_gidx hi) {
    const GK_NAME(sg_gemm_ctx) *c = (const GK_NAME(sg_gemm_ctx) *)vctx;
    const sg_gidx kc = c->kc;
    for (sg_gidx t = lo; t < hi; t++) {
        if (t < c->pa) {
            sg_gidx i0 = t * GK_MR, ni = c->m - i0 < GK_MR ? c->m - i0 : GK_MR;
            GK_T *dst = c->ap + t * kc * GK_MR;
            const GK_T *src = c->A + i0 * c->rsa;
            if (ni < GK_MR) memset(dst, 0, sizeof(GK_T) * (size_t)(kc * GK_MR));
            if (c->rsa == 1 && ni == GK_MR) { /* A transposed in memory: each k is MR contiguous values */
                for (sg_gidx k = 0; k < kc; k++) memcpy(dst + k * GK_MR, src + k * c->csa, sizeof(GK_T) * GK_MR);
            } else {
                for (sg_gidx i = 0; i < ni; i++) {
                    const GK_T *row = src + i * c->rsa;
                    for (sg_gidx k = 0; k < kc; k++) dst[k * GK_MR + i] = row[k * c->csa];
                }
            }
        } else {
            sg_gidx jp = t - c->pa, j0 = jp * GK_NR, nj = c->n - j0 < GK_NR ? c->n - j0 : GK_NR;
            GK_T *dst = c->bp + jp * kc * GK_NR;
            const GK_T *src = c->B + j0 * c->csb;
            if (nj < GK_NR) memset(dst, 0, sizeof(GK_T) * (size_t)(kc * GK_NR));
            if (c->csb == 1) { /* rows of B contiguous: each k is nj contiguous values */
                for (sg_gidx k = 0; k < kc; k++) memcpy(dst + k * GK_NR, src + k * c->rsb, sizeof(GK_T) * (size_t)nj);
            } else {
                for (sg_gidx j = 0; j < nj; j++) {
                    const GK_T *col = src + j * c->csb;
                    for (sg_gidx k = 0; k < kc; k++) dst[k * GK_NR + j] = col[k * c->rsb];
                }
            }
        }
    }
}

/* One tile: row panel ip, column panel jp. */
SG_GEMM_TARGET static inline void GK_NAME(sg_gemm_tile)(const GK_NAME(sg_gemm_ctx) *c, sg_gidx ip, sg_gidx jp,
                                                         GK_T *tile) {
    sg_gidx i0 = ip * GK_MR, j0 = jp * GK_NR;
    sg_gidx ni = c->m - i0 < GK_MR ? c->m - i0 : GK_MR, nj = c->n - j0 < GK_NR ? c->n - j0 : GK_NR;
    const GK_T *a = c->ap + ip * c->kc * GK_MR, *b = c->bp + jp * c->kc * GK_NR;
    GK_T *out = c->C + i0 * c->ldc + j0;
    if (ni == GK_MR && nj == GK_NR) {
        GK_NAME(sg_gemm_micro)(c->kc, a, b, out, c->ldc, c->accumulate);
        return;
    }
    GK_NAME(sg_gemm_micro)(c->kc, a, b, tile, GK_NR, 0);
    for (sg_gidx i = 0; i < ni; i++)
        for (sg_gidx j = 0; j < nj; j++)
            out[i * c->ldc + j] = c->accumulate ? out[i * c->ldc + j] + tile[i * GK_NR + j] : tile[i * GK_NR + j];
}

/* Compute tasks [lo, hi): row panels (by_rows) or column panels. Row panels go in groups of
 * GK_MG, so that a group's packed A stays in L2 while every column panel passes over it. */
SG_GEMM_TARGET static void GK_NAME(sg_gemm_compute)(void *vctx, sg_gidx lo, sg_gidx hi) {
    const GK_NAME(sg_gemm_ctx) *c = (const GK_NAME(sg_gemm_ctx) *)vctx;
    GK_T tile[GK_MR * GK_NR] __attribute__((aligned(64)));
    if (c->by_rows) {
        for (sg_gidx g0 = lo; g0 < hi; g0 += GK_MG) {
            sg_gidx g1 = g0 + GK_MG < hi ? g0 + GK_MG : hi;
            for (sg_gidx jp = 0; jp < c->pb; jp++)
                for (sg_gidx ip = g0; ip < g1; ip++) GK_NAME(sg_gemm_tile)(c, ip, jp, tile);
        }
    } else {
        for (sg_gidx jp = lo; jp < hi; jp++)
            for (sg_gidx ip = 0; ip < c->pa; ip++) GK_NAME(sg_gemm_tile)(c, ip, jp, tile);
    }
}

/* Scratch bytes sg_gemm_<suf> needs for an m x k by k x n product, with 128 bytes of slack
 * to align the packed A and the packed B to 64 bytes; 0 for an empty product. */
static size_t GK_NAME(sg_gemm_work_bytes)(sg_gidx m, sg_gidx n, sg_gidx k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    sg_gidx kc = k < GK_KC ? k : GK_KC, mc = m < GK_MB ? m : GK_MB, nc = n < GK_NB ? n : GK_NB;
    size_t rows = (size_t)((mc + GK_MR - 1) / GK_MR * GK_MR), cols = (size_t)((nc + GK_NR - 1) / GK_NR * GK_NR);
    return ((size_t)kc * (rows + cols)) * sizeof(GK_T) + 128; /* kc, rows, cols are bounded: no overflow */
}

/*
 * C = A @ B. Strides in elements (any sign, 0 allowed); C must not overlap A or B. `work`:
 * at least sg_gemm_work_bytes_<suf>(m, n, k) bytes. `par`: a parallel-for over tasks (NULL:
 * one thread). Returns 0, or -1 (nothing written) when the sizes are negative or `work` is
 * too small.
 */
static int GK_NAME(sg_gemm)(sg_gidx m, sg_gidx n, sg_gidx k, const GK_T *A, sg_gidx rsa, sg_gidx csa, const GK_T *B,
                            sg_gidx rsb, sg_gidx csb, GK_T *C, sg_gidx ldc, void *work, size_t work_bytes,
                            sg_gemm_par_for par) {
    if (m < 0 || n < 0 || k < 0) return -1;
    if (m == 0 || n == 0) return 0;
    if (k == 0) {
        for (sg_gidx i = 0; i < m; i++) memset(C + i * ldc, 0, sizeof(GK_T) * (size_t)n);
        return 0;
    }
    if (!work || work_bytes < GK_NAME(sg_gemm_work_bytes)(m, n, k)) return -1;
    GK_T *buf = (GK_T *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    for (sg_gidx j0 = 0; j0 < n; j0 += GK_NB) {
        sg_gidx nc = n - j0 < GK_NB ? n - j0 : GK_NB;
        for (sg_gidx p0 = 0; p0 < k; p0 += GK_KC) {
            sg_gidx kc = k - p0 < GK_KC ? k - p0 : GK_KC;
            for (sg_gidx i0 = 0; i0 < m; i0 += GK_MB) {
                sg_gidx mc = m - i0 < GK_MB ? m - i0 : GK_MB;
                GK_NAME(sg_gemm_ctx) c;
                c.m = mc;
                c.n = nc;
                c.kc = kc;
                c.ldc = ldc;
                c.rsa = rsa;
                c.csa = csa;
                c.rsb = rsb;
                c.csb = csb;
                c.pa = (mc + GK_MR - 1) / GK_MR;
                c.pb = (nc + GK_NR - 1) / GK_NR;
                c.accumulate = p0 > 0;
                c.by_rows = c.pa >= c.pb;
                c.A = A + i0 * rsa + p0 * csa;
                c.B = B + p0 * rsb + j0 * csb;
                c.C = C + i0 * ldc + j0;
                c.ap = buf;
                /* B's panels start on a cache line: the micro-kernel loads them aligned */
                c.bp = buf + (kc * c.pa * GK_MR + GK_VL - 1) / GK_VL * GK_VL;
                /* Threads only pay above a few hundred thousand multiply-adds. */
                int threads = par && (double)mc * (double)nc * (double)kc >= SG_GEMM_PARALLEL_MIN;
                sg_gidx ntasks = c.pa + c.pb, nsplit = c.by_rows ? c.pa : c.pb;
                if (threads) {
                    par(ntasks, 1, GK_NAME(sg_gemm_pack), &c);
                    par(nsplit, 1, GK_NAME(sg_gemm_compute), &c);
                } else {
                    GK_NAME(sg_gemm_pack)(&c, 0, ntasks);
                    GK_NAME(sg_gemm_compute)(&c, 0, nsplit);
                }
            }
        }
    }
    return 0;
}

/* the per-type parameters: the next inclusion defines them anew */
#undef GK_T
#undef GK_V
#undef GK_VU
#undef GK_VL
#undef GK_SUF
#undef GK_NR
#undef GK_NAME
#undef GK_CAT
#undef GK_CAT_
