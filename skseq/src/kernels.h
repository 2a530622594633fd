/*
 * skseq's C kernels behind one function table, chosen once at import from
 * what the CPU supports, and shared by every module of the compiled core.
 *
 * Levels: 0 is the baseline (plain C, the packed products absent: callers
 * use BLAS), 1 AVX2 with FMA, 2 AVX-512. Levels 1 and 2 exist where the
 * compiler has target attributes and CPU detection (GCC >= 9 or clang >= 10
 * on x86-64) and SKSEQ_NO_SIMD_LEVELS is not defined; elsewhere (MSVC, other
 * CPUs, older compilers) every kernel is compiled once, for the baseline.
 * Nothing depends on the build machine's CPU.
 *
 * Layout of the sources (all in this directory):
 *   fastmath.h          exp, sigmoid, tanh (shared by every cell's kernels)
 *   fpmode.h            subnormal numbers as zero in the time loops
 *   lstm_rows.inc       the LSTM gate equations, forward and backward rows
 *   gru_rows.inc        the GRU's (reset_after form), forward and backward rows
 *   rnn_rows.inc        the simple (Elman) RNN's activation rows
 *   small_products.inc  the step products for a few rows without packing
 *   optimizer_steps.inc Adam and SGD updates
 *   packing.inc, gemm.inc, gemm_micro.inc, gemm_micros.inc
 *                       the packed products (levels 1 and 2)
 *   sequence.inc        one sequence's whole inference pass (levels 1, 2)
 *   no_products.inc     the baseline's stand-ins for the packed products
 *   level.inc, level_kernels.inc
 *                       instantiate every source per type for one level,
 *                       and that level's table (table_entries.inc)
 *   dispatch.inc        the levels, the CPU detection, the shared table
 *   table_fields.inc    the table's members, per type
 *   table_calls.inc     the calls through the table that _kernels.pxd
 *                       declares (skseq_forward_row_d, ...), per type
 *
 * Adding a cell's row kernels: write them in <cell>_rows.inc like
 * lstm_rows.inc (REAL, TYPED, SUFFIX, SKSEQ_TARGET; the math of
 * fastmath.h), include the file in level_kernels.inc, add a member per
 * kernel to table_fields.inc, an entry to table_entries.inc and a call to
 * table_calls.inc, and declare the call in _kernels.pxd.
 *
 * Every module that includes this header holds its own pointer to the
 * shared table (skseq_kernels), bound at import by skseq_bind_kernels().
 */
#ifndef SKSEQ_KERNELS_H
#define SKSEQ_KERNELS_H

#include "fastmath.h"
#include "fpmode.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&      \
    !defined(SKSEQ_NO_SIMD_LEVELS) && !defined(SKSEQ_NO_PACKED_GEMM) &&       \
    (defined(__clang__) ? __clang_major__ >= 10 : __GNUC__ >= 9)
#define SKSEQ_HAVE_LEVELS 1
#else
#define SKSEQ_HAVE_LEVELS 0
#endif

/* The features each level's code may use: its target attribute, and what
   the CPU must report for the level to be chosen (dispatch.inc). */
#define SKSEQ_AVX2_FEATURES "avx2,fma,bmi,bmi2"
#define SKSEQ_AVX512_FEATURES \
    "avx512f,avx512cd,avx512bw,avx512dq,avx512vl,avx2,fma,bmi,bmi2"

/* Terms of the k sum per pass over C (K = 4H backward can be long): the A
   values of a row block (MR x KC, 12 KB in float) stay in the L1 cache. */
#define SKSEQ_GEMM_KC 256

/* Bytes of packed matrices above which gemm_pair runs panels in the outer
   loop (see gemm.inc). */
#define SKSEQ_PAIR_PANELS_FIRST (512 * 1024)

typedef struct skseq_kernel_table {
    int level;
#define REAL double
#define TYPED(name) name##_d
#include "table_fields.inc"
#undef REAL
#undef TYPED
#define REAL float
#define TYPED(name) name##_f
#include "table_fields.inc"
#undef REAL
#undef TYPED
} skseq_kernel_table;

/* The table this module's calls go through: the shared one, once bound. */
static const skseq_kernel_table *skseq_kernels = NULL;

static void skseq_bind_kernels(const skseq_kernel_table *table)
{
    skseq_kernels = table;
}

/* The level of the bound table. */
static int skseq_gemm_level(void)
{
    return skseq_kernels->level;
}

#define REAL double
#define TYPED(name) name##_d
#include "table_calls.inc"
#undef REAL
#undef TYPED
#define REAL float
#define TYPED(name) name##_f
#include "table_calls.inc"
#undef REAL
#undef TYPED

/* Defined in dispatch.inc (module skseq._dispatch). */
const skseq_kernel_table *skseq_shared_table(void);
int skseq_detected_level(void);
int skseq_set_level(int level);

/* Fetch `rows` rows of `row_bytes` bytes, `stride` bytes apart, towards the
   cache ahead of their use (for writing when `write`): the rows of the next
   step of a time loop, read from the large per-step arrays while the current
   step's product runs. A hint: no value changes. */
static inline void skseq_prefetch_rows(const void *first, ptrdiff_t stride,
                                       ptrdiff_t rows, ptrdiff_t row_bytes,
                                       int write)
{
    const char *row = (const char *)first;
    ptrdiff_t j, b;
    for (j = 0; j < rows; j++, row += stride)
        for (b = 0; b < row_bytes; b += 64) {
            if (write) __builtin_prefetch(row + b, 1, 3);
            else __builtin_prefetch(row + b, 0, 3);
        }
}

#endif /* SKSEQ_KERNELS_H */
