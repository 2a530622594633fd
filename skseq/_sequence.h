/*
 * One sequence's inference pass: the whole time loop of a chunk of a single
 * row in one function, for the packed kernels' levels.
 *
 * Per step this is what the core's chunk loop does for such a chunk (both
 * products of the step in one pass over the gate row, then the row's gate
 * math) with the same operations in the same order, so the results are the
 * same bits. What it saves is the per-step cost around them: the step loop's
 * bookkeeping for many rows, a call into the product and a call through the
 * gate kernel's run-time dispatch. For one sequence of small H those are a
 * sizeable part of a step, which is bound by latency, not arithmetic.
 *
 * The weights are packed by skseq_pack, or read where they are, row-major
 * and aligned to 64 bytes: a single row's product streams each row of the
 * matrix, which needs no packed layout, and packing both matrices costs as
 * much as a few steps. (Unaligned, each vector load would straddle two cache
 * lines, which costs more than packing.)
 *
 * Used when 4H is a whole number of four-panel groups (H a multiple of 32 in
 * float with AVX-512, of 16 in double with AVX-512 or in float with AVX2, of
 * 8 in double with AVX2) and both products fit one block of the k sum
 * (skseq_sequence_applies_*); otherwise skseq_forward_sequence() returns 0 and
 * the caller runs its own loop.
 */
#ifndef SKSEQ_SEQUENCE_H
#define SKSEQ_SEQUENCE_H

#include <stddef.h>
#include <string.h>

#include "_gates.h"
#include "_gemm.h"

#if SKSEQ_HAVE_PACKED_GEMM
/* x: step 1's inputs, the following steps every ldx values. kernel (n_in x 4H)
   and recurrent_kernel (H x 4H): packed by skseq_pack (packed = 1) or
   C-contiguous (packed = 0). cells and hidden: two alternating slots of H
   values each; step t is written to slot t % 2. z: 4H values of scratch. */
#define SKSEQ_DEFINE_SEQUENCE(T, S, TAG, TARGET, VL)                                \
__attribute__((target(TARGET))) static void skseq_forward_sequence_##S##_##TAG(     \
    ptrdiff_t length, const T *x, ptrdiff_t ldx, ptrdiff_t n_in,                    \
    const T *kernel, ptrdiff_t H, const T *recurrent_kernel, const T *bias, T *z,   \
    T *cells, T *hidden, int relu, int packed)                                      \
{                                                                                   \
    const ptrdiff_t G = 4 * H, NR = 2 * VL;                                         \
    /* Where panel q's row k starts: packed, panel after panel; in place, row  \
       after row. */                                                           \
    const ptrdiff_t x_panels = packed ? n_in * NR : NR, x_rows = packed ? NR : G;   \
    const ptrdiff_t h_panels = packed ? H * NR : NR, h_rows = packed ? NR : G;      \
    ptrdiff_t t, p;                                                                 \
    memset(hidden, 0, (size_t)H * sizeof(T));                                       \
    memset(cells, 0, (size_t)H * sizeof(T));                                        \
    for (t = 1; t <= length; t++) {                                                 \
        const ptrdiff_t now = t & 1, before = 1 - now;                              \
        const T *x_t = x + (t - 1) * ldx;                                           \
        for (p = 0; p < G; p += 4 * NR) {                                           \
            skseq_row4_##S##_##TAG(n_in, x_t, kernel + p * (packed ? n_in : 1),     \
                                   x_panels, x_rows, z + p, 0);                     \
            skseq_row4_##S##_##TAG(H, hidden + before * H,                          \
                                   recurrent_kernel + p * (packed ? H : 1),         \
                                   h_panels, h_rows, z + p, 1);                     \
        }                                                                           \
        skseq_forward_row_body_##S(z, bias, cells + before * H, cells + now * H,    \
                                   hidden + now * H, H, relu);                      \
    }                                                                               \
}

SKSEQ_DEFINE_SEQUENCE(float, f, avx512, "avx512f,fma", 16)
SKSEQ_DEFINE_SEQUENCE(double, d, avx512, "avx512f,fma", 8)
SKSEQ_DEFINE_SEQUENCE(float, f, avx2, "avx2,fma", 8)
SKSEQ_DEFINE_SEQUENCE(double, d, avx2, "avx2,fma", 4)
#endif

/* Whether skseq_forward_sequence() runs for these shapes at the active level
   (then the caller need not pack the weights). */
#define SKSEQ_DEFINE_SEQUENCE_ENTRY(T, S)                                           \
static int skseq_sequence_applies_##S(ptrdiff_t n_in, ptrdiff_t H)                  \
{                                                                                   \
    const ptrdiff_t NR = skseq_gemm_panel_width(sizeof(T));                         \
    return NR > 0 && (4 * H) % (4 * NR) == 0 && n_in >= 1 &&                        \
           n_in <= SKSEQ_GEMM_KC && H <= SKSEQ_GEMM_KC;                             \
}                                                                                   \
                                                                                    \
/* Runs the pass and returns 1, or returns 0 (nothing done) where the packed   \
   kernels or the shapes do not allow it. */                                   \
static int skseq_forward_sequence_##S(                                              \
    ptrdiff_t length, const T *x, ptrdiff_t ldx, ptrdiff_t n_in,                    \
    const T *kernel, ptrdiff_t H, const T *recurrent_kernel, const T *bias, T *z,   \
    T *cells, T *hidden, int relu, int packed)                                      \
{                                                                                   \
    if (!skseq_sequence_applies_##S(n_in, H))                                       \
        return 0;                                                                   \
    SKSEQ_SEQUENCE_DISPATCH(S)                                                      \
    return 0;                                                                       \
}

#if SKSEQ_HAVE_PACKED_GEMM
#define SKSEQ_SEQUENCE_DISPATCH(S)                                                  \
    if (skseq_gemm_active_level == 2) {                                             \
        skseq_forward_sequence_##S##_avx512(length, x, ldx, n_in, kernel, H,        \
                                            recurrent_kernel, bias, z, cells,       \
                                            hidden, relu, packed);                  \
        return 1;                                                                   \
    }                                                                               \
    if (skseq_gemm_active_level == 1) {                                             \
        skseq_forward_sequence_##S##_avx2(length, x, ldx, n_in, kernel, H,          \
                                          recurrent_kernel, bias, z, cells, hidden, \
                                          relu, packed);                            \
        return 1;                                                                   \
    }
#else
#define SKSEQ_SEQUENCE_DISPATCH(S)                                                  \
    (void)length; (void)x; (void)ldx; (void)kernel; (void)recurrent_kernel;         \
    (void)bias; (void)z; (void)cells; (void)hidden; (void)relu; (void)packed;
#endif

SKSEQ_DEFINE_SEQUENCE_ENTRY(float, f)
SKSEQ_DEFINE_SEQUENCE_ENTRY(double, d)

#endif /* SKSEQ_SEQUENCE_H */
