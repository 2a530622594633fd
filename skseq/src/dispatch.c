/*
 * The kernel tables of every level this compiler can build, the CPU
 * detection, and the table shared by every module of the core. Compiled once,
 * into the module skseq._dispatch; see kernels.h.
 */
#include "kernels.h"

#define SKSEQ_LEVEL 0
#define SKSEQ_LEVEL_NAME base
#define SKSEQ_TARGET
#include "level.inc"
#undef SKSEQ_LEVEL
#undef SKSEQ_LEVEL_NAME
#undef SKSEQ_TARGET

#if SKSEQ_HAVE_LEVELS
/* AVX2: 16 registers, 2 x 6 accumulators. */
#define SKSEQ_LEVEL 1
#define SKSEQ_LEVEL_NAME avx2
#define SKSEQ_TARGET __attribute__((target(SKSEQ_AVX2_FEATURES)))
#define SKSEQ_VECTOR_BYTES 32
#define SKSEQ_MR0 6
#define SKSEQ_MR1 4
#define SKSEQ_MR2 3
#define SKSEQ_MR3 2
#include "level.inc"
#undef SKSEQ_LEVEL
#undef SKSEQ_LEVEL_NAME
#undef SKSEQ_TARGET
#undef SKSEQ_VECTOR_BYTES
#undef SKSEQ_MR0
#undef SKSEQ_MR1
#undef SKSEQ_MR2
#undef SKSEQ_MR3

/* AVX-512: 32 registers, 2 x 12 accumulators. */
#define SKSEQ_LEVEL 2
#define SKSEQ_LEVEL_NAME avx512
#define SKSEQ_TARGET __attribute__((target(SKSEQ_AVX512_FEATURES)))
#define SKSEQ_VECTOR_BYTES 64
#define SKSEQ_MR0 12
#define SKSEQ_MR1 8
#define SKSEQ_MR2 4
#define SKSEQ_MR3 2
#include "level.inc"
#undef SKSEQ_LEVEL
#undef SKSEQ_LEVEL_NAME
#undef SKSEQ_TARGET
#undef SKSEQ_VECTOR_BYTES
#undef SKSEQ_MR0
#undef SKSEQ_MR1
#undef SKSEQ_MR2
#undef SKSEQ_MR3
#endif

static const skseq_kernel_table *const skseq_levels[] = {
    &skseq_table_base,
#if SKSEQ_HAVE_LEVELS
    &skseq_table_avx2,
    &skseq_table_avx512,
#endif
};

static int skseq_detected = -1;
static skseq_kernel_table skseq_shared;

/* The highest level whose features the CPU reports. */
static int skseq_cpu_level(void)
{
#if SKSEQ_HAVE_LEVELS
    int avx2;
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    if (avx2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 2;
    if (avx2)
        return 1;
#endif
    return 0;
}

int skseq_detected_level(void)
{
    if (skseq_detected < 0) {
        skseq_detected = skseq_cpu_level();
        skseq_shared = *skseq_levels[skseq_detected];
    }
    return skseq_detected;
}

const skseq_kernel_table *skseq_shared_table(void)
{
    skseq_detected_level();
    return &skseq_shared;
}

/* For tests and benchmarks: run every kernel at this level, clamped to
   [0, the CPU's level]; returns the level set. Not while kernels run. */
int skseq_set_level(int level)
{
    const int detected = skseq_detected_level();
    if (level < 0) level = 0;
    if (level > detected) level = detected;
    skseq_shared = *skseq_levels[level];
    return level;
}
