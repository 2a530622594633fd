/*
 * The recurrent product of a step, C (M x N) (+)= A (M x K) @ B (K x N), with
 * B packed once per call of the core and then used for every step and chunk.
 *
 * Why not BLAS here: a step's product is small (M is a chunk's running rows,
 * K = H, N = 4H, or K = 4H, N = H backward) and is repeated T times with the
 * same B. A BLAS call repacks B every time and, through SciPy's OpenBLAS, may
 * run kernels for an older vector width than the CPU has (OPENBLAS_CORETYPE).
 * Packing B once and running register-blocked kernels over it is what every
 * fast RNN implementation does; the large products outside the time loop stay
 * with BLAS.
 *
 * Packed layout: the columns of op(B) in panels of NR = 2 vectors; panel p
 * holds, for k = 0..K-1, the NR values op(B)[k, p*NR : p*NR + NR] next to each
 * other (zeros past N). A micro-kernel keeps an MR x NR block of C in
 * registers and, for each k, broadcasts MR values of A against the two vectors
 * of the panel's row k. Row blocks are the outer loop and panels the inner
 * one, so a row block's MR x KC values of A stay in the L1 cache while the
 * panels stream past them from L2.
 *
 * Every element of C is summed over k in increasing order, one fused
 * multiply-add per term (in blocks of KC terms added to C), whatever M, the
 * chunk or the thread: results depend only on the inputs and the vector
 * level. The level is chosen at import from what the CPU supports
 * (AVX-512F, else AVX2 with FMA); without either, or off x86-64 with GCC or
 * clang, skseq_gemm_level() is 0 and the core calls BLAS instead.
 */
#ifndef SKSEQ_GEMM_H
#define SKSEQ_GEMM_H

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(SKSEQ_NO_PACKED_GEMM) && \
    (defined(__clang__) ? __clang_major__ >= 10 : __GNUC__ >= 9)
#define SKSEQ_HAVE_PACKED_GEMM 1
#else
#define SKSEQ_HAVE_PACKED_GEMM 0
#endif

/* Terms of the k sum per pass over C (K = 4H backward can be long): the A
   values of a row block (MR x KC, 12 KB in float) stay in the L1 cache. */
#define SKSEQ_GEMM_KC 256

/* Bytes of packed matrices above which gemm_pair runs panels in the outer
   loop (see there). */
#define SKSEQ_PAIR_PANELS_FIRST (512 * 1024)

/* 0: no packed kernels, 1: AVX2 + FMA, 2: AVX-512F. */
static int skseq_gemm_detected_level = 0;
static int skseq_gemm_active_level = 0;

static void skseq_gemm_init(void)
{
#if SKSEQ_HAVE_PACKED_GEMM
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        skseq_gemm_detected_level = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        skseq_gemm_detected_level = 1;
#endif
    skseq_gemm_active_level = skseq_gemm_detected_level;
}

static int skseq_gemm_level(void) { return skseq_gemm_active_level; }

/* For tests and benchmarks: use at most this level (0 = always BLAS). */
static int skseq_gemm_set_level(int level)
{
    if (level < 0) level = 0;
    if (level > skseq_gemm_detected_level) level = skseq_gemm_detected_level;
    skseq_gemm_active_level = level;
    return level;
}

/* Values per panel row (NR) for the active level. */
static ptrdiff_t skseq_gemm_panel_width(size_t value_size)
{
    switch (skseq_gemm_active_level) {
    case 2: return 2 * (ptrdiff_t)(64 / value_size);
    case 1: return 2 * (ptrdiff_t)(32 / value_size);
    default: return 0;
    }
}

/* One full panel of 128 bytes (AVX-512) copied with its column sums kept in
   eight 16-byte vectors: the same additions in the same order as one value at
   a time, without a store and a reload of every sum per row. */
#if SKSEQ_HAVE_PACKED_GEMM
#define SKSEQ_DEFINE_PANEL_SUM(T, S)                                                \
static void skseq_pack_summed_##S(const T *B, ptrdiff_t ldb, ptrdiff_t K,           \
                                  T *panel, T *colsum)                              \
{                                                                                   \
    typedef T V __attribute__((vector_size(16)));                                   \
    V sums[8], row[8];                                                              \
    ptrdiff_t k, q;                                                                 \
    memcpy(sums, colsum, 128);                                                      \
    for (k = 0; k < K; k++) {                                                       \
        memcpy(row, B + k * ldb, 128);                                              \
        memcpy(panel + k * (128 / sizeof(T)), row, 128);                            \
        for (q = 0; q < 8; q++) sums[q] += row[q];                                  \
    }                                                                               \
    memcpy(colsum, sums, 128);                                                      \
}
#else
/* Not reached: without packed kernels nothing is packed. */
#define SKSEQ_DEFINE_PANEL_SUM(T, S)                                                \
static void skseq_pack_summed_##S(const T *B, ptrdiff_t ldb, ptrdiff_t K,           \
                                  T *panel, T *colsum)                              \
{                                                                                   \
    (void)B; (void)ldb; (void)K; (void)panel; (void)colsum;                         \
}
#endif

SKSEQ_DEFINE_PANEL_SUM(float, f)
SKSEQ_DEFINE_PANEL_SUM(double, d)

/*
 * Packing: op(B) is K x N; trans = 0 reads B[k * ldb + n], trans = 1 reads
 * B[n * ldb + k]. packed must hold skseq_packed_size(K, N) values and be
 * aligned to 64 bytes. colsum (N values, or NULL; trans = 0 only) gets each
 * column's sum over k added, in increasing k.
 */
#define SKSEQ_DEFINE_PACKING(T, S)                                                  \
static ptrdiff_t skseq_packed_size_##S(ptrdiff_t K, ptrdiff_t N)                    \
{                                                                                   \
    const ptrdiff_t NR = skseq_gemm_panel_width(sizeof(T));                         \
    return NR == 0 ? 0 : (N + NR - 1) / NR * NR * K;                                \
}                                                                                   \
                                                                                    \
static void skseq_pack_##S(const T *B, ptrdiff_t ldb, int trans, ptrdiff_t K,       \
                           ptrdiff_t N, T *packed, T *colsum)                       \
{                                                                                   \
    const ptrdiff_t NR = skseq_gemm_panel_width(sizeof(T));                         \
    ptrdiff_t p, k, n;                                                              \
    if (NR == 0) return;                                                            \
    for (p = 0; p * NR < N; p++) {                                                  \
        T *panel = packed + p * K * NR;                                             \
        const ptrdiff_t ncols = N - p * NR < NR ? N - p * NR : NR;                  \
        if (!trans && colsum != NULL && ncols * sizeof(T) == 128) {                 \
            skseq_pack_summed_##S(B + p * NR, ldb, K, panel, colsum + p * NR);      \
            continue;                                                               \
        }                                                                           \
        for (k = 0; k < K; k++) {                                                   \
            T *row = panel + k * NR;                                                \
            if (trans)                                                              \
                for (n = 0; n < ncols; n++) row[n] = B[(p * NR + n) * ldb + k];     \
            /* A full panel row is 64 or 128 bytes: copies of a constant size  \
               are inlined, where a variable one is a libc call per row. */     \
            else if (ncols * sizeof(T) == 128)                                      \
                memcpy(row, B + k * ldb + p * NR, 128);                             \
            else if (ncols * sizeof(T) == 64)                                       \
                memcpy(row, B + k * ldb + p * NR, 64);                              \
            else                                                                    \
                memcpy(row, B + k * ldb + p * NR, (size_t)ncols * sizeof(T));       \
            for (n = ncols; n < NR; n++) row[n] = 0;                                \
            if (colsum != NULL)                                                     \
                for (n = 0; n < ncols; n++) colsum[p * NR + n] += row[n];           \
        }                                                                           \
    }                                                                               \
}                                                                                   \

SKSEQ_DEFINE_PACKING(float, f)
SKSEQ_DEFINE_PACKING(double, d)

#if SKSEQ_HAVE_PACKED_GEMM

#define SKSEQ_ALWAYS_INLINE static inline __attribute__((always_inline))

/*
 * One micro-kernel: rows [0, MR) of C, one panel. A_AT(i, k) is the element
 * (i, k) of A: a[i * lda + k] for the products with A, a[k * lda + i] for
 * those with A transposed. acc selects C += (else C =); ncols < NR only in
 * the last panel, whose values go through a small buffer so that nothing
 * past column N is touched.
 */
#define SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, MR)                    \
SKSEQ_ALWAYS_INLINE void skseq_micro_##S##_##TAG##_##FORM##_##MR(                   \
    ptrdiff_t kc, const T *a, ptrdiff_t lda, const T *bp, T *c, ptrdiff_t ldc,      \
    int acc, ptrdiff_t ncols)                                                       \
{                                                                                   \
    V c0[MR], c1[MR];                                                               \
    ptrdiff_t i, k;                                                                 \
    _Pragma("GCC unroll 16")                                                        \
    for (i = 0; i < MR; i++) { c0[i] = (V){0}; c1[i] = (V){0}; }                    \
    for (k = 0; k < kc; k++) {                                                      \
        const V b0 = *(const V *)(bp + k * 2 * VL);                                 \
        const V b1 = *(const V *)(bp + k * 2 * VL + VL);                            \
        _Pragma("GCC unroll 16")                                                    \
        for (i = 0; i < MR; i++) {                                                  \
            /* x - 0 is x exactly, so this is a plain broadcast. */                 \
            const V ai = A_AT(i, k) - (V){0};                                       \
            c0[i] += ai * b0;                                                       \
            c1[i] += ai * b1;                                                       \
        }                                                                           \
    }                                                                               \
    if (ncols == 2 * VL) {                                                          \
        _Pragma("GCC unroll 16")                                                    \
        for (i = 0; i < MR; i++) {                                                  \
            VU *out0 = (VU *)(c + i * ldc);                                         \
            VU *out1 = (VU *)(c + i * ldc + VL);                                    \
            if (acc) { *out0 = *out0 + c0[i]; *out1 = *out1 + c1[i]; }              \
            else { *out0 = c0[i]; *out1 = c1[i]; }                                  \
        }                                                                           \
    } else {                                                                        \
        T buf[2 * VL];                                                              \
        ptrdiff_t n;                                                                \
        for (i = 0; i < MR; i++) {                                                  \
            memcpy(buf, &c0[i], sizeof(V));                                         \
            memcpy(buf + VL, &c1[i], sizeof(V));                                    \
            if (acc) for (n = 0; n < ncols; n++) c[i * ldc + n] += buf[n];          \
            else for (n = 0; n < ncols; n++) c[i * ldc + n] = buf[n];               \
        }                                                                           \
    }                                                                               \
}

#define SKSEQ_A_ROWS(i, k) a[(i) * lda + (k)]
#define SKSEQ_A_COLUMNS(i, k) a[(k) * lda + (i)]

/* Micro-kernels of one form for every block height. */
#define SKSEQ_DEFINE_MICROS(T, S, V, VU, VL, TAG, FORM, A_AT, M0, M1, M2, M3)      \
SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, M0)                            \
SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, M1)                            \
SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, M2)                            \
SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, M3)                            \
SKSEQ_DEFINE_MICRO(T, S, V, VU, VL, TAG, FORM, A_AT, 1)

/* Row blocks of M0 rows, then what is left in blocks of M1, M2, M3, 1. */
#define SKSEQ_BLOCK_ROWS(left, M0, M1, M2, M3)                                      \
    ((left) >= M0 ? M0 : (left) >= M1 ? M1 : (left) >= M2 ? M2 : (left) >= M3 ? M3 : 1)

#define SKSEQ_CALL_MICRO(S, TAG, FORM, rows, M0, M1, M2, M3, args)                  \
    do {                                                                            \
        if (rows == M0) skseq_micro_##S##_##TAG##_##FORM##_##M0 args;               \
        else if (rows == M1) skseq_micro_##S##_##TAG##_##FORM##_##M1 args;          \
        else if (rows == M2) skseq_micro_##S##_##TAG##_##FORM##_##M2 args;          \
        else if (rows == M3) skseq_micro_##S##_##TAG##_##FORM##_##M3 args;          \
        else skseq_micro_##S##_##TAG##_##FORM##_1 args;                             \
    } while (0)

/*
 * The drivers for one vector level.
 *
 * gemm_packed: C (+)= A @ op(B), op(B) packed by skseq_pack. For each block
 * of KC terms, each row block, each panel.
 *
 * gemm_tn2: C1 (+)= A1.T @ B and C2 (+)= A2.T @ B with A1, A2 (K x M1, K x M2)
 * and B (K x N) as stored, K long (the rows of every step of a chunk): each
 * block of KC rows of B is packed into ``work`` (its column sums taken on the
 * way if asked) and then used by every row block of C1, then of C2. The
 * weight gradients of a layer, x.T @ dz and h.T @ dz, share dz this way.
 */
#define SKSEQ_DEFINE_LEVEL(T, S, V, VU, VL, TAG, TARGET, M0, M1, M2, M3)            \
SKSEQ_DEFINE_MICROS(T, S, V, VU, VL, TAG, n, SKSEQ_A_ROWS, M0, M1, M2, M3)          \
SKSEQ_DEFINE_MICROS(T, S, V, VU, VL, TAG, t, SKSEQ_A_COLUMNS, M0, M1, M2, M3)       \
/* One row against four full panels: eight independent sums instead of two,   \
   so a single sequence's step is not bound by the latency of one chain.      \
   Value j of panel q's row k is bp[q * panel_stride + k * k_stride + j]:     \
   packed (panel_stride K * NR, k_stride NR) or a row-major K x N matrix read \
   in place (panel_stride NR, k_stride N), the same sums either way. */       \
SKSEQ_ALWAYS_INLINE void skseq_row4_##S##_##TAG(                                    \
    ptrdiff_t kc, const T *a, const T *bp, ptrdiff_t panel_stride,                  \
    ptrdiff_t k_stride, T *c, int acc)                                              \
{                                                                                   \
    V sums[8];                                                                      \
    ptrdiff_t q, k;                                                                 \
    _Pragma("GCC unroll 8")                                                         \
    for (q = 0; q < 8; q++) sums[q] = (V){0};                                       \
    for (k = 0; k < kc; k++) {                                                      \
        const V ak = a[k] - (V){0};                                                 \
        _Pragma("GCC unroll 4")                                                     \
        for (q = 0; q < 4; q++) {                                                   \
            const T *row = bp + q * panel_stride + k * k_stride;                    \
            sums[2 * q] += ak * *(const VU *)row;                                   \
            sums[2 * q + 1] += ak * *(const VU *)(row + VL);                        \
        }                                                                           \
    }                                                                               \
    _Pragma("GCC unroll 8")                                                         \
    for (q = 0; q < 8; q++) {                                                       \
        VU *out = (VU *)(c + q * VL);                                               \
        if (acc) *out = *out + sums[q];                                             \
        else *out = sums[q];                                                        \
    }                                                                               \
}                                                                                   \
__attribute__((target(TARGET))) static void skseq_gemm_packed_##S##_##TAG(          \
    ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *A, ptrdiff_t lda,               \
    const T *packed, T *C, ptrdiff_t ldc, int accumulate)                           \
{                                                                                   \
    const ptrdiff_t NR = 2 * VL;                                                    \
    const ptrdiff_t panels = (N + NR - 1) / NR;                                     \
    ptrdiff_t kb, p, i, rows;                                                       \
    for (kb = 0; kb < K; kb += SKSEQ_GEMM_KC) {                                     \
        const ptrdiff_t kc = K - kb < SKSEQ_GEMM_KC ? K - kb : SKSEQ_GEMM_KC;       \
        const int acc = accumulate || kb > 0;                                       \
        for (i = 0; i < M; i += rows) {                                             \
            const T *a = A + i * lda + kb;                                          \
            rows = SKSEQ_BLOCK_ROWS(M - i, M0, M1, M2, M3);                         \
            p = 0;                                                                  \
            if (rows == 1)                                                          \
                for (; (p + 4) * NR <= N; p += 4)                                   \
                    skseq_row4_##S##_##TAG(kc, a, packed + p * K * NR + kb * NR,    \
                                           K * NR, NR, C + i * ldc + p * NR, acc);  \
            for (; p < panels; p++) {                                               \
                const ptrdiff_t ncols = N - p * NR < NR ? N - p * NR : NR;          \
                SKSEQ_CALL_MICRO(S, TAG, n, rows, M0, M1, M2, M3,                   \
                                 (kc, a, lda, packed + p * K * NR + kb * NR,        \
                                  C + i * ldc + p * NR, ldc, acc, ncols));          \
            }                                                                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* gemm_pair for one row against N columns, N a whole number of four-panel    \
   groups: eight independent sums per k, so a single sequence's step is not   \
   bound by the latency of one chain. A function of its own, so that a call   \
   for one row skips the set-up of the row-block loops below, a sizeable part \
   of such a small step. */                                                   \
__attribute__((target(TARGET), noinline)) static void skseq_pair_row_##S##_##TAG(   \
    ptrdiff_t N, ptrdiff_t K1, const T *a1, const T *packed1, ptrdiff_t K2,         \
    const T *a2, const T *packed2, T *c)                                            \
{                                                                                   \
    const ptrdiff_t NR = 2 * VL;                                                    \
    ptrdiff_t p;                                                                    \
    for (p = 0; p < N; p += 4 * NR) {                                               \
        skseq_row4_##S##_##TAG(K1, a1, packed1 + p * K1, K1 * NR, NR, c + p, 0);    \
        skseq_row4_##S##_##TAG(K2, a2, packed2 + p * K2, K2 * NR, NR, c + p, 1);    \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* C = A1 @ op(B1) + A2 @ op(B2), both packed, K1 and K2 at most KC: each      \
   block of C gets the first sum stored and the second added while it is in   \
   the L1 cache, where two calls would stream all of C through twice. The same \
   roundings as gemm_packed(A1) then gemm_packed(A2, accumulate). */           \
__attribute__((target(TARGET))) static void skseq_gemm_pair_##S##_##TAG(            \
    ptrdiff_t M, ptrdiff_t N, ptrdiff_t K1, const T *A1, ptrdiff_t lda1,            \
    const T *packed1, ptrdiff_t K2, const T *A2, ptrdiff_t lda2, const T *packed2,  \
    T *C, ptrdiff_t ldc)                                                            \
{                                                                                   \
    const ptrdiff_t NR = 2 * VL;                                                    \
    const ptrdiff_t panels = (N + NR - 1) / NR;                                     \
    ptrdiff_t p, i, rows;                                                           \
    if (M == 1 && N % (4 * NR) == 0) {                                              \
        skseq_pair_row_##S##_##TAG(N, K1, A1, packed1, K2, A2, packed2, C);         \
        return;                                                                     \
    }                                                                               \
    if ((K1 + K2) * panels * NR * (ptrdiff_t)sizeof(T) > SKSEQ_PAIR_PANELS_FIRST) {   \
        /* Packed matrices larger than a core's L2 cache: each panel stays in   \
           the cache while every row block passes over it. */                    \
        for (p = 0; p < panels; p++) {                                              \
            const ptrdiff_t ncols = N - p * NR < NR ? N - p * NR : NR;              \
            for (i = 0; i < M; i += rows) {                                         \
                rows = SKSEQ_BLOCK_ROWS(M - i, M0, M1, M2, M3);                     \
                SKSEQ_CALL_MICRO(S, TAG, n, rows, M0, M1, M2, M3,                   \
                                 (K1, A1 + i * lda1, lda1, packed1 + p * K1 * NR,   \
                                  C + i * ldc + p * NR, ldc, 0, ncols));            \
                SKSEQ_CALL_MICRO(S, TAG, n, rows, M0, M1, M2, M3,                   \
                                 (K2, A2 + i * lda2, lda2, packed2 + p * K2 * NR,   \
                                  C + i * ldc + p * NR, ldc, 1, ncols));            \
            }                                                                       \
        }                                                                           \
        return;                                                                     \
    }                                                                               \
    for (i = 0; i < M; i += rows) {                                                 \
        const T *a1 = A1 + i * lda1;                                                \
        const T *a2 = A2 + i * lda2;                                                \
        T *c = C + i * ldc;                                                         \
        rows = SKSEQ_BLOCK_ROWS(M - i, M0, M1, M2, M3);                             \
        p = 0;                                                                      \
        if (rows == 1) {                                                            \
            p = N / (4 * NR) * 4;                                                   \
            if (p > 0)                                                              \
                skseq_pair_row_##S##_##TAG(p * NR, K1, a1, packed1, K2, a2,         \
                                           packed2, c);                             \
        }                                                                           \
        for (; p < panels; p++) {                                                   \
            const ptrdiff_t ncols = N - p * NR < NR ? N - p * NR : NR;              \
            SKSEQ_CALL_MICRO(S, TAG, n, rows, M0, M1, M2, M3,                       \
                             (K1, a1, lda1, packed1 + p * K1 * NR, c + p * NR, ldc, \
                              0, ncols));                                           \
            SKSEQ_CALL_MICRO(S, TAG, n, rows, M0, M1, M2, M3,                       \
                             (K2, a2, lda2, packed2 + p * K2 * NR, c + p * NR, ldc, \
                              1, ncols));                                           \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* The row blocks of C (+)= A.T @ (the packed KC rows of B). */               \
SKSEQ_ALWAYS_INLINE void skseq_tn_block_##S##_##TAG(                                \
    ptrdiff_t M, ptrdiff_t N, ptrdiff_t kc, const T *A, ptrdiff_t lda,              \
    const T *work, T *C, ptrdiff_t ldc, int acc)                                    \
{                                                                                   \
    const ptrdiff_t NR = 2 * VL;                                                    \
    const ptrdiff_t panels = (N + NR - 1) / NR;                                     \
    ptrdiff_t p, i, rows;                                                           \
    for (i = 0; i < M; i += rows) {                                                 \
        const T *a = A + i;                                                         \
        rows = SKSEQ_BLOCK_ROWS(M - i, M0, M1, M2, M3);                             \
        for (p = 0; p < panels; p++) {                                              \
            const ptrdiff_t ncols = N - p * NR < NR ? N - p * NR : NR;              \
            SKSEQ_CALL_MICRO(S, TAG, t, rows, M0, M1, M2, M3,                       \
                             (kc, a, lda, work + p * kc * NR,                       \
                              C + i * ldc + p * NR, ldc, acc, ncols));              \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
__attribute__((target(TARGET))) static void skseq_gemm_tn2_##S##_##TAG(             \
    ptrdiff_t Ma, ptrdiff_t Mb, ptrdiff_t N, ptrdiff_t K, const T *A1,              \
    ptrdiff_t lda1, const T *A2, ptrdiff_t lda2, const T *B, ptrdiff_t ldb,         \
    T *C1, ptrdiff_t ldc1, T *C2, ptrdiff_t ldc2, int accumulate, T *work,          \
    T *colsum)                                                                      \
{                                                                                   \
    ptrdiff_t kb;                                                                   \
    for (kb = 0; kb < K; kb += SKSEQ_GEMM_KC) {                                     \
        const ptrdiff_t kc = K - kb < SKSEQ_GEMM_KC ? K - kb : SKSEQ_GEMM_KC;       \
        const int acc = accumulate || kb > 0;                                       \
        skseq_pack_##S(B + kb * ldb, ldb, 0, kc, N, work, colsum);                  \
        skseq_tn_block_##S##_##TAG(Ma, N, kc, A1 + kb * lda1, lda1, work, C1, ldc1, \
                                   acc);                                            \
        if (Mb > 0)                                                                 \
            skseq_tn_block_##S##_##TAG(Mb, N, kc, A2 + kb * lda2, lda2, work, C2,   \
                                       ldc2, acc);                                  \
    }                                                                               \
}

typedef float skseq_v16f __attribute__((vector_size(64)));
typedef float skseq_v16fu __attribute__((vector_size(64), aligned(4), may_alias));
typedef double skseq_v8d __attribute__((vector_size(64)));
typedef double skseq_v8du __attribute__((vector_size(64), aligned(8), may_alias));
typedef float skseq_v8f __attribute__((vector_size(32)));
typedef float skseq_v8fu __attribute__((vector_size(32), aligned(4), may_alias));
typedef double skseq_v4d __attribute__((vector_size(32)));
typedef double skseq_v4du __attribute__((vector_size(32), aligned(8), may_alias));

/* AVX-512: 32 registers, 2 x 12 accumulators. AVX2: 16 registers, 2 x 6. */
SKSEQ_DEFINE_LEVEL(float, f, skseq_v16f, skseq_v16fu, 16, avx512, "avx512f,fma",
                   12, 8, 4, 2)
SKSEQ_DEFINE_LEVEL(double, d, skseq_v8d, skseq_v8du, 8, avx512, "avx512f,fma",
                   12, 8, 4, 2)
SKSEQ_DEFINE_LEVEL(float, f, skseq_v8f, skseq_v8fu, 8, avx2, "avx2,fma", 6, 4, 3, 2)
SKSEQ_DEFINE_LEVEL(double, d, skseq_v4d, skseq_v4du, 4, avx2, "avx2,fma", 6, 4, 3, 2)

#endif /* SKSEQ_HAVE_PACKED_GEMM */

/* The entry points: dispatch to the active level. */
#define SKSEQ_DEFINE_ENTRY_POINTS(T, S)                                             \
/* C (M x N, row stride ldc) = or += A (M x K, row stride lda) @ op(B). */          \
static void skseq_gemm_packed_##S(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,            \
                                  const T *A, ptrdiff_t lda, const T *packed,       \
                                  T *C, ptrdiff_t ldc, int accumulate)              \
{                                                                                   \
    SKSEQ_GEMM_DISPATCH(S)                                                          \
}                                                                                   \
                                                                                    \
/* C (M x N) = A1 (M x K1) @ op(B1) + A2 (M x K2) @ op(B2), both packed by      \
   skseq_pack: rounded as skseq_gemm_packed(A1) and then (accumulate)          \
   skseq_gemm_packed(A2), in one pass over C when K1, K2 <= SKSEQ_GEMM_KC. */     \
static void skseq_gemm_pair_##S(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K1,             \
                                const T *A1, ptrdiff_t lda1, const T *packed1,      \
                                ptrdiff_t K2, const T *A2, ptrdiff_t lda2,          \
                                const T *packed2, T *C, ptrdiff_t ldc)              \
{                                                                                   \
    SKSEQ_GEMM_PAIR_DISPATCH(S)                                                     \
    skseq_gemm_packed_##S(M, N, K1, A1, lda1, packed1, C, ldc, 0);                  \
    skseq_gemm_packed_##S(M, N, K2, A2, lda2, packed2, C, ldc, 1);                  \
}                                                                                   \
                                                                                    \
/* Values of ``work`` that skseq_gemm_tn needs for N columns. */                    \
static ptrdiff_t skseq_tn_work_size_##S(ptrdiff_t N)                                \
{                                                                                   \
    const ptrdiff_t NR = skseq_gemm_panel_width(sizeof(T));                         \
    return NR == 0 ? 0 : (N + NR - 1) / NR * NR * SKSEQ_GEMM_KC;                    \
}                                                                                   \
                                                                                    \
/* C1 (M1 x N) = or += A1.T @ B and C2 (M2 x N) = or += A2.T @ B: A1 is K x M1   \
   (row stride lda1), A2 K x M2 (lda2), B K x N (ldb); each block of B is        \
   packed once for both. colsum (N values, or NULL) gets B's column sums added   \
   in row order. work holds skseq_tn_work_size(N) values, aligned to 64 bytes. */ \
static void skseq_gemm_tn2_##S(ptrdiff_t M1, ptrdiff_t M2, ptrdiff_t N,             \
                               ptrdiff_t K, const T *A1, ptrdiff_t lda1,            \
                               const T *A2, ptrdiff_t lda2, const T *B,             \
                               ptrdiff_t ldb, T *C1, ptrdiff_t ldc1, T *C2,         \
                               ptrdiff_t ldc2, int accumulate, T *work, T *colsum)  \
{                                                                                   \
    SKSEQ_GEMM_TN_DISPATCH(S)                                                       \
}                                                                                   \
                                                                                    \
/* C (M x N) = or += A.T @ B, one product as above. */                              \
static void skseq_gemm_tn_##S(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K,                \
                              const T *A, ptrdiff_t lda, const T *B, ptrdiff_t ldb, \
                              T *C, ptrdiff_t ldc, int accumulate, T *work)         \
{                                                                                   \
    skseq_gemm_tn2_##S(M, 0, N, K, A, lda, NULL, 0, B, ldb, C, ldc, NULL, 0,        \
                       accumulate, work, NULL);                                     \
}

#if SKSEQ_HAVE_PACKED_GEMM
#define SKSEQ_GEMM_TN_DISPATCH(S)                                                   \
    if ((M1 <= 0 && M2 <= 0) || N <= 0) return;                                     \
    if (skseq_gemm_active_level == 2)                                               \
        skseq_gemm_tn2_##S##_avx512(M1, M2, N, K, A1, lda1, A2, lda2, B, ldb, C1,   \
                                    ldc1, C2, ldc2, accumulate, work, colsum);      \
    else if (skseq_gemm_active_level == 1)                                          \
        skseq_gemm_tn2_##S##_avx2(M1, M2, N, K, A1, lda1, A2, lda2, B, ldb, C1,     \
                                  ldc1, C2, ldc2, accumulate, work, colsum);
#else
#define SKSEQ_GEMM_TN_DISPATCH(S)                                                   \
    (void)M1; (void)M2; (void)N; (void)K; (void)A1; (void)lda1; (void)A2;           \
    (void)lda2; (void)B; (void)ldb; (void)C1; (void)ldc1; (void)C2; (void)ldc2;     \
    (void)accumulate; (void)work; (void)colsum;
#endif

#if SKSEQ_HAVE_PACKED_GEMM
#define SKSEQ_GEMM_PAIR_DISPATCH(S)                                                 \
    if (M <= 0 || N <= 0) return;                                                   \
    if (K1 > 0 && K2 > 0 && K1 <= SKSEQ_GEMM_KC && K2 <= SKSEQ_GEMM_KC) {           \
        if (skseq_gemm_active_level == 2) {                                         \
            skseq_gemm_pair_##S##_avx512(M, N, K1, A1, lda1, packed1, K2, A2, lda2, \
                                         packed2, C, ldc);                          \
            return;                                                                 \
        }                                                                           \
        if (skseq_gemm_active_level == 1) {                                         \
            skseq_gemm_pair_##S##_avx2(M, N, K1, A1, lda1, packed1, K2, A2, lda2,   \
                                       packed2, C, ldc);                            \
            return;                                                                 \
        }                                                                           \
    }
#else
#define SKSEQ_GEMM_PAIR_DISPATCH(S)
#endif

#if SKSEQ_HAVE_PACKED_GEMM
#define SKSEQ_GEMM_DISPATCH(S)                                                      \
    if (M <= 0 || N <= 0) return;                                                   \
    if (skseq_gemm_active_level == 2)                                               \
        skseq_gemm_packed_##S##_avx512(M, N, K, A, lda, packed, C, ldc, accumulate);\
    else if (skseq_gemm_active_level == 1)                                          \
        skseq_gemm_packed_##S##_avx2(M, N, K, A, lda, packed, C, ldc, accumulate);
#else
#define SKSEQ_GEMM_DISPATCH(S)                                                      \
    (void)M; (void)N; (void)K; (void)A; (void)lda; (void)packed; (void)C;           \
    (void)ldc; (void)accumulate;
#endif

SKSEQ_DEFINE_ENTRY_POINTS(float, f)
SKSEQ_DEFINE_ENTRY_POINTS(double, d)

#endif /* SKSEQ_GEMM_H */
