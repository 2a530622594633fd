/*
 * Subnormal numbers as zero inside the compiled core.
 *
 * Back-propagation through a long sequence multiplies the gradient carried
 * back by a factor below one at every step, and a stretch of small inputs
 * does the same to a state. Such values pass below the smallest normal
 * number (about 1.2e-38 in float32, 2.2e-308 in float64) and x86 cores then
 * run every multiply or add that reads or writes one through a microcode
 * assist, about a hundred times slower than the vector unit: a training step
 * on 1000-step sequences can slow down several-fold. Values that small are
 * far below any rounding error of the sums they enter, so the core counts
 * them as zero instead: flush-to-zero (results) and denormals-are-zero
 * (operands) on x86 (MXCSR), flush-to-zero on AArch64 (FPCR.FZ).
 *
 * The mode belongs to a thread. The time loops set it at the start of each
 * chunk of rows, on whichever thread runs the chunk, and put the caller's
 * mode back at its end, so the bits do not depend on the thread count and
 * nothing outside the core (NumPy's arithmetic on the same thread, another
 * library's threads) sees a changed mode. Elsewhere both calls do nothing.
 */
#ifndef SKSEQ_FPMODE_H
#define SKSEQ_FPMODE_H

#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE2__)
#include <xmmintrin.h>
#define SKSEQ_FP_FLUSH_BITS 0x8040u /* FTZ (bit 15) and DAZ (bit 6) */

typedef unsigned long long skseq_fp_mode;

/* Turn the flush on for this thread; return the mode it had. */
static inline skseq_fp_mode skseq_flush_subnormals(void)
{
    unsigned int mode = _mm_getcsr();
    if ((mode & SKSEQ_FP_FLUSH_BITS) != SKSEQ_FP_FLUSH_BITS)
        _mm_setcsr(mode | SKSEQ_FP_FLUSH_BITS);
    return mode;
}

/* Give this thread back the mode skseq_flush_subnormals returned. */
static inline void skseq_restore_fp_mode(skseq_fp_mode mode)
{
    if (_mm_getcsr() != (unsigned int)mode)
        _mm_setcsr((unsigned int)mode);
}

#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define SKSEQ_FP_FLUSH_BITS (1ull << 24) /* FPCR.FZ */

typedef unsigned long long skseq_fp_mode;

static inline skseq_fp_mode skseq_flush_subnormals(void)
{
    unsigned long long mode;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(mode));
    if (!(mode & SKSEQ_FP_FLUSH_BITS))
        __asm__ __volatile__("msr fpcr, %0" : : "r"(mode | SKSEQ_FP_FLUSH_BITS));
    return mode;
}

static inline void skseq_restore_fp_mode(skseq_fp_mode mode)
{
    unsigned long long now;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(now));
    if (now != mode)
        __asm__ __volatile__("msr fpcr, %0" : : "r"(mode));
}

#else
typedef unsigned long long skseq_fp_mode;

static inline skseq_fp_mode skseq_flush_subnormals(void) { return 0; }

static inline void skseq_restore_fp_mode(skseq_fp_mode mode) { (void)mode; }
#endif

#endif /* SKSEQ_FPMODE_H */
