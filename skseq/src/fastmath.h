/*
 * Portability macros and the fast elementwise math every cell's row kernels
 * use: e^x, sigmoid and tanh in float64 (suffix _d) and float32 (suffix _f).
 *
 * A kernel source written for the include-per-type scheme (see level.inc)
 * calls them as TYPED(skseq_sigmoid)(x), which names the one of its REAL
 * type.
 *
 * Written so that compilers vectorise the loops that call them: the
 * exponential is computed here (range reduction by Cody and Waite, a
 * polynomial for e^r - 1 on |r| <= ln(2)/2, the power of two built from the
 * exponent bits) instead of calling libm once per value, and branches are
 * selects. Build with -fno-trapping-math (setup.py does): otherwise GCC may
 * not turn the selects into blends (a compare could raise a flag) and
 * vectorises such loops only where AVX-512 masks can predicate them.
 * Accuracy: a few ulp in float64 and float32 over the whole range; tanh
 * keeps its relative accuracy near zero by going through expm1.
 */
#ifndef SKSEQ_FASTMATH_H
#define SKSEQ_FASTMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define SKSEQ_INLINE static inline __attribute__((always_inline))
#define SKSEQ_PRAGMA(text) _Pragma(#text)
#define SKSEQ_SIMD _Pragma("omp simd")
/* A vectorised sum into the variable named acc: its order is fixed by the
   code the compiler emits for the level, the same on every call and in
   every thread. */
#define SKSEQ_SIMD_SUM(acc) SKSEQ_PRAGMA(omp simd reduction(+:acc))
#define SKSEQ_UNROLL(n) SKSEQ_PRAGMA(GCC unroll n)
#else
#define SKSEQ_INLINE static inline
#define SKSEQ_SIMD
#define SKSEQ_SIMD_SUM(acc)
#define SKSEQ_UNROLL(n)
#endif

/* Token pasting after expansion of the arguments. */
#define SKSEQ_PASTE_(a, b) a##b
#define SKSEQ_PASTE(a, b) SKSEQ_PASTE_(a, b)
#define SKSEQ_PASTE3_(a, b, c) a##b##c
#define SKSEQ_PASTE3(a, b, c) SKSEQ_PASTE3_(a, b, c)

/* ---------------------------------------------------------------- float64 */

/* e^r - 1 for |r| <= ln(2)/2: Taylor terms up to r^13 (truncation < 1e-17). */
SKSEQ_INLINE double skseq_expm1_small_d(double r) {
    double p = 1.0 / 6227020800.0;   /* 1/13! */
    p = p * r + 1.0 / 479001600.0;   /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r;
}

SKSEQ_INLINE double skseq_exp_d(double x) {
    const double shifter = 6755399441055744.0;       /* 1.5 * 2^52 */
    const double ln2_hi = 0.6931471803691238;         /* 33 bits: k * ln2_hi exact */
    const double ln2_lo = 1.9082149292705877e-10;
    double k, r, p, scale;
    uint64_t bits;
    const double x_in = x;
    x = x < -708.39 ? -708.39 : x;  /* ln(smallest normal double) */
    x = x > 709.0 ? 709.0 : x;
    k = x * 1.4426950408889634 + shifter;  /* round(x / ln2) in the low bits */
    memcpy(&bits, &k, sizeof bits);
    k -= shifter;
    r = (x - k * ln2_hi) - k * ln2_lo;
    p = 1.0 + skseq_expm1_small_d(r);
    bits = (bits - 0x4338000000000000ULL + 1023ULL) << 52;  /* 2^k */
    memcpy(&scale, &bits, sizeof scale);
    /* Below that the true value is subnormal or zero: call it zero. */
    return x_in < -708.39 ? 0.0 : p * scale;
}

/* e^y - 1 for y <= 0, accurate in relative terms near 0. */
SKSEQ_INLINE double skseq_expm1_neg_d(double y) {
    double small = skseq_expm1_small_d(y > -0.34 ? y : 0.0);
    double large = skseq_exp_d(y) - 1.0;
    return y > -0.34 ? small : large;
}

SKSEQ_INLINE double skseq_sigmoid_d(double z) {
    double e = skseq_exp_d(z >= 0 ? -z : z);  /* e^(-|z|), never overflows */
    return (z >= 0 ? 1.0 : e) / (1.0 + e);
}

SKSEQ_INLINE double skseq_tanh_d(double z) {
    double a = z >= 0 ? z : -z;
    double em = skseq_expm1_neg_d(-2.0 * a);   /* in (-1, 0] */
    double t = -em / (2.0 + em);
    return z >= 0 ? t : -t;
}

/* ---------------------------------------------------------------- float32 */

/* e^r - 1 for |r| <= ln(2)/2, as r q(r): q is the degree-5 polynomial of
   least maximum relative error to (e^r - 1) / r on that interval (2^-26.5,
   a fifth of a float32 ulp), two terms shorter than the Taylor series of the
   same accuracy. */
SKSEQ_INLINE float skseq_expm1_small_f(float r) {
    float q = 1.38888729e-3f;
    q = q * r + 8.36910401e-3f;
    q = q * r + 4.16671373e-2f;
    q = q * r + 1.66665062e-1f;
    q = q * r + 0.49999997f;
    q = q * r + 1.0f;
    return q * r;
}

/* Cody-Waite reduction x = k ln2 + r, |r| <= ln(2)/2, for k in [-126, 127]:
   returns 2^k (built from the exponent bits) and r in *r. */
SKSEQ_INLINE float skseq_reduce_f(float x, float *r) {
    const float shifter = 12582912.0f;   /* 1.5 * 2^23 */
    const float ln2_hi = 0.693359375f;    /* 10 bits: k * ln2_hi exact */
    const float ln2_lo = -2.12194440e-4f;
    float k = x * 1.44269504f + shifter;  /* round(x / ln2) in the low bits */
    float scale;
    uint32_t bits;
    memcpy(&bits, &k, sizeof bits);
    k -= shifter;
    *r = (x - k * ln2_hi) - k * ln2_lo;
    bits = (bits - 0x4B400000U + 127U) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return scale;
}

/* e^y - 1 for y <= 0 with one range reduction and one polynomial:
   e^y - 1 = 2^k (1 + p) - 1 = 2^k p + (2^k - 1), where 2^k - 1 is exact and
   k = 0 (no cancellation at all) for |y| <= ln(2)/2. Below -30 the result is
   -1 to float precision. tanh through this is within 2.5 ulp of the float64
   value on [-100, 100]. */
SKSEQ_INLINE float skseq_expm1_neg_f(float y) {
    float r, scale;
    y = y < -30.0f ? -30.0f : y;
    scale = skseq_reduce_f(y, &r);  /* 2^k, k in [-44, 0] */
    return scale * skseq_expm1_small_f(r) + (scale - 1.0f);
}

/* 1 / (1 + e^-z), with -z clamped to [-87.3, 87.3] so that e^-z and the
   result stay normal floats (below z = -87.3 the result is 1.2e-38, not a
   subnormal: those can be slow). No branch on the sign is needed: for z < 0
   the sum 1 + e^-z and its reciprocal are each correctly rounded. */
SKSEQ_INLINE float skseq_sigmoid_f(float z) {
    float x = -z, r, scale;
    x = x < -87.3f ? -87.3f : x;
    x = x > 87.3f ? 87.3f : x;
    scale = skseq_reduce_f(x, &r);
    return 1.0f / (1.0f + (1.0f + skseq_expm1_small_f(r)) * scale);
}

SKSEQ_INLINE float skseq_tanh_f(float z) {
    float a = z >= 0 ? z : -z;
    float em = skseq_expm1_neg_f(-2.0f * a);
    float t = -em / (2.0f + em);
    return z >= 0 ? t : -t;
}

#endif /* SKSEQ_FASTMATH_H */
