/*
 * The elementwise half of an LSTM step, for one batch row: gate activations,
 * cell and hidden state (forward) and gate-gradient formation (backward);
 * and the recurrent products of a step for chunks with very few rows.
 *
 * Written so that compilers vectorise the loop over hidden units: the
 * exponential is computed here (range reduction by Cody and Waite, a Taylor
 * polynomial for e^r - 1 on |r| <= ln(2)/2, the power of two built from the
 * exponent bits) instead of calling libm once per value, and branches are
 * selects. Build with -fno-trapping-math (setup.py does): otherwise GCC may
 * not turn the selects into blends (a compare could raise a flag) and
 * vectorises these loops only where AVX-512 masks can predicate them.
 * Accuracy: a few ulp in float64 and float32 over the whole range; tanh
 * keeps its relative accuracy near zero by going through expm1.
 *
 * On x86-64 Linux each row kernel is compiled three times (x86-64-v4 with
 * AVX-512, v3 with AVX2 and FMA, and the baseline) and the loader picks the
 * best one the CPU supports; nothing depends on the build machine's CPU.
 *
 * Gate blocks of a row of 4H values are ordered i, f, g, o.
 */
#ifndef SKSEQ_GATES_H
#define SKSEQ_GATES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 14) || \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define SKSEQ_MULTIVERSION \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SKSEQ_MULTIVERSION
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SKSEQ_INLINE static inline __attribute__((always_inline))
#define SKSEQ_SIMD _Pragma("omp simd")
#define SKSEQ_PRAGMA(text) _Pragma(#text)
/* A vectorised sum into the variable named acc: its order is fixed by the
   code the compiler emits for the running CPU type, the same on every call
   and in every thread. */
#define SKSEQ_SIMD_SUM(acc) SKSEQ_PRAGMA(omp simd reduction(+:acc))
#else
#define SKSEQ_SIMD_SUM(acc)
#define SKSEQ_INLINE static inline
#define SKSEQ_SIMD
#endif

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
   -1 to float precision. Measured: tanh through this is within 2.5 ulp of
   the float64 value on [-100, 100] (the two-branch form it replaced: 2.7). */
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

/* ------------------------------------------------------------ row kernels */
/*
 * Forward, one row: z holds the 4H gate pre-activations without bias; they
 * are replaced by the activated gates. c_now and h_now receive the new cell
 * and hidden state. relu selects relu instead of tanh for g and the output.
 *
 * Backward, one row: gates (the forward's activated gates) may be the same
 * memory as dz, the gate-gradient output: each unit's four gate values are
 * read before its four gradients are written. dh_in is dL/dh_t from outside,
 * dh_rec dL/dh_t through the next step; dc carries dL/dc_t in and leaves
 * dL/dc_{t-1}.
 */
#define SKSEQ_DEFINE_ROW_KERNELS(T, S)                                              \
SKSEQ_INLINE void skseq_forward_row_body_##S(                                       \
    T *z, const T *bias, const T *c_prev, T *c_now, T *h_now,                       \
    ptrdiff_t H, int relu)                                                          \
{                                                                                   \
    ptrdiff_t k;                                                                    \
    if (relu) {                                                                     \
        SKSEQ_SIMD                                                                  \
        for (k = 0; k < H; k++) {                                                   \
            T i = skseq_sigmoid_##S(z[k] + bias[k]);                                \
            T f = skseq_sigmoid_##S(z[H + k] + bias[H + k]);                        \
            T g = z[2 * H + k] + bias[2 * H + k];                                   \
            T o = skseq_sigmoid_##S(z[3 * H + k] + bias[3 * H + k]);                \
            T c;                                                                    \
            g = g > 0 ? g : 0;                                                      \
            c = f * c_prev[k] + i * g;                                              \
            z[k] = i; z[H + k] = f; z[2 * H + k] = g; z[3 * H + k] = o;             \
            c_now[k] = c;                                                           \
            h_now[k] = o * (c > 0 ? c : 0);                                         \
        }                                                                           \
    } else {                                                                        \
        /* Two loops: one iteration of a fused loop chains five activations   \
           (the cell's tanh waits for the gates), too long for the core to     \
           overlap iterations; split, each loop keeps the FP units busy. */    \
        SKSEQ_SIMD                                                                  \
        for (k = 0; k < H; k++) {                                                   \
            z[k] = skseq_sigmoid_##S(z[k] + bias[k]);                               \
            z[H + k] = skseq_sigmoid_##S(z[H + k] + bias[H + k]);                   \
            z[2 * H + k] = skseq_tanh_##S(z[2 * H + k] + bias[2 * H + k]);          \
            z[3 * H + k] = skseq_sigmoid_##S(z[3 * H + k] + bias[3 * H + k]);       \
        }                                                                           \
        SKSEQ_SIMD                                                                  \
        for (k = 0; k < H; k++) {                                                   \
            T c = z[H + k] * c_prev[k] + z[k] * z[2 * H + k];                       \
            c_now[k] = c;                                                           \
            h_now[k] = z[3 * H + k] * skseq_tanh_##S(c);                            \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
SKSEQ_MULTIVERSION static void skseq_forward_row_##S(                               \
    T *z, const T *bias, const T *c_prev, T *c_now, T *h_now,                       \
    ptrdiff_t H, int relu)                                                          \
{                                                                                   \
    skseq_forward_row_body_##S(z, bias, c_prev, c_now, h_now, H, relu);             \
}                                                                                   \
                                                                                    \
SKSEQ_MULTIVERSION static void skseq_backward_row_##S(                              \
    const T *gates, const T *c_now, const T *c_prev, const T *dh_in,                \
    const T *dh_rec, T *dc, T *dz, ptrdiff_t H, int relu)                           \
{                                                                                   \
    ptrdiff_t k;                                                                    \
    if (relu) {                                                                     \
        SKSEQ_SIMD                                                                  \
        for (k = 0; k < H; k++) {                                                   \
            T i = gates[k], f = gates[H + k], g = gates[2 * H + k];                 \
            T o = gates[3 * H + k];                                                 \
            T c_act = c_now[k] > 0 ? c_now[k] : 0;                                  \
            T dh = dh_in[k] + dh_rec[k];                                            \
            T dc_total = dc[k] + (c_act > 0 ? dh * o : 0);                          \
            dz[k] = dc_total * g * i * (1 - i);                                     \
            dz[H + k] = dc_total * c_prev[k] * f * (1 - f);                         \
            dz[2 * H + k] = g > 0 ? dc_total * i : 0;                               \
            dz[3 * H + k] = dh * c_act * o * (1 - o);                               \
            dc[k] = dc_total * f;                                                   \
        }                                                                           \
    } else {                                                                        \
        SKSEQ_SIMD                                                                  \
        for (k = 0; k < H; k++) {                                                   \
            T i = gates[k], f = gates[H + k], g = gates[2 * H + k];                 \
            T o = gates[3 * H + k];                                                 \
            T c_act = skseq_tanh_##S(c_now[k]);                                     \
            T dh = dh_in[k] + dh_rec[k];                                            \
            T dc_total = dc[k] + dh * o * (1 - c_act * c_act);                      \
            dz[k] = dc_total * g * i * (1 - i);                                     \
            dz[H + k] = dc_total * c_prev[k] * f * (1 - f);                         \
            dz[2 * H + k] = dc_total * i * (1 - g * g);                             \
            dz[3 * H + k] = dh * c_act * o * (1 - o);                               \
            dc[k] = dc_total * f;                                                   \
        }                                                                           \
    }                                                                               \
}

SKSEQ_DEFINE_ROW_KERNELS(double, d)
SKSEQ_DEFINE_ROW_KERNELS(float, f)

/* ------------------------------------------------- products for few rows */
/*
 * The recurrent products of a step when only a handful of rows run (one
 * sequence, or the tail of a ragged chunk): a BLAS call costs more than the
 * arithmetic there. Each row is summed in a fixed order, so results depend
 * only on the inputs, never on threads.
 *
 * add_rows_times:    z[j, :G] += sum_k h[j, k] * W[k, :G]       (W is H x G)
 * rows_times_transposed: out[j, k] = sum_g dz[j, g] * W[k, g]   (W is H x G)
 */
#define SKSEQ_DEFINE_SMALL_PRODUCTS(T, S)                                           \
SKSEQ_MULTIVERSION static void skseq_add_rows_times_##S(                            \
    T *z, ptrdiff_t ldz, const T *h, ptrdiff_t ldh, const T *W,                     \
    ptrdiff_t m, ptrdiff_t H, ptrdiff_t G)                                          \
{                                                                                   \
    ptrdiff_t j, k, g;                                                              \
    for (j = 0; j < m; j++) {                                                       \
        T *zj = z + j * ldz;                                                        \
        const T *hj = h + j * ldh;                                                  \
        for (k = 0; k < H; k++) {                                                   \
            const T hk = hj[k];                                                     \
            const T *Wk = W + k * G;                                                \
            SKSEQ_SIMD                                                              \
            for (g = 0; g < G; g++) zj[g] += hk * Wk[g];                            \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
SKSEQ_MULTIVERSION static void skseq_rows_times_transposed_##S(                     \
    T *out, ptrdiff_t ldout, const T *dz, ptrdiff_t lddz, const T *W,               \
    ptrdiff_t m, ptrdiff_t H, ptrdiff_t G)                                          \
{                                                                                   \
    ptrdiff_t j, k, g;                                                              \
    for (j = 0; j < m; j++) {                                                       \
        const T *dzj = dz + j * lddz;                                               \
        for (k = 0; k < H; k++) {                                                   \
            const T *Wk = W + k * G;                                                \
            T acc = 0;                                                              \
            SKSEQ_SIMD_SUM(acc)                                                     \
            for (g = 0; g < G; g++) acc += dzj[g] * Wk[g];                          \
            out[j * ldout + k] = acc;                                               \
        }                                                                           \
    }                                                                               \
}

SKSEQ_DEFINE_SMALL_PRODUCTS(double, d)
SKSEQ_DEFINE_SMALL_PRODUCTS(float, f)

/* ------------------------------------------------------- optimizer steps */
/*
 * One optimizer update in place, element by element (so independent of
 * threads), in two passes: the first computes every new value and counts the
 * non-finite ones without writing anything (x - x is 0 exactly when x is
 * finite); only if there are none does the second pass compute and write
 * them. A step that would leave a NaN or an infinity in the weights or the
 * state (the update itself overflowing) thus changes nothing and returns 0,
 * so the caller still holds the weights and state of before the step;
 * otherwise it returns 1. Both passes evaluate the same expressions.
 *
 * Adam: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
 *       w <- w - step m / (sqrt(v) + eps), step being the bias-corrected rate.
 * SGD:  u <- mu u - lr g; w <- w + u, or (Nesterov) w <- w + mu u - lr g.
 */
#define SKSEQ_DEFINE_OPTIMIZER_STEPS(T, S, SQRT)                                    \
SKSEQ_MULTIVERSION static int skseq_adam_##S(                                       \
    T *w, const T *g, T *m, T *v, ptrdiff_t n, T step, T b1, T b2, T eps)           \
{                                                                                   \
    const T c1 = 1 - b1, c2 = 1 - b2;                                               \
    ptrdiff_t k, n_bad = 0;                                                         \
    SKSEQ_SIMD_SUM(n_bad)                                                           \
    for (k = 0; k < n; k++) {                                                       \
        const T mk = b1 * m[k] + c1 * g[k];                                         \
        const T vk = b2 * v[k] + c2 * (g[k] * g[k]);                                \
        const T wk = w[k] - step * (mk / (SQRT(vk) + eps));                         \
        n_bad += ((mk - mk) != 0) | ((vk - vk) != 0) | ((wk - wk) != 0);            \
    }                                                                               \
    if (n_bad) return 0;                                                            \
    SKSEQ_SIMD                                                                      \
    for (k = 0; k < n; k++) {                                                       \
        const T mk = b1 * m[k] + c1 * g[k];                                         \
        const T vk = b2 * v[k] + c2 * (g[k] * g[k]);                                \
        m[k] = mk;                                                                  \
        v[k] = vk;                                                                  \
        w[k] -= step * (mk / (SQRT(vk) + eps));                                     \
    }                                                                               \
    return 1;                                                                       \
}                                                                                   \
                                                                                    \
SKSEQ_MULTIVERSION static int skseq_sgd_##S(                                        \
    T *w, const T *g, T *u, ptrdiff_t n, T lr, T mu, int nesterov)                  \
{                                                                                   \
    /* The step on w is mu_w u - lr_w g: Nesterov's, or u itself. */                \
    const T mu_w = nesterov ? mu : 1, lr_w = nesterov ? lr : 0;                     \
    ptrdiff_t k, n_bad = 0;                                                         \
    SKSEQ_SIMD_SUM(n_bad)                                                           \
    for (k = 0; k < n; k++) {                                                       \
        const T uk = mu * u[k] - lr * g[k];                                         \
        const T wk = w[k] + (mu_w * uk - lr_w * g[k]);                              \
        n_bad += ((uk - uk) != 0) | ((wk - wk) != 0);                               \
    }                                                                               \
    if (n_bad) return 0;                                                            \
    SKSEQ_SIMD                                                                      \
    for (k = 0; k < n; k++) {                                                       \
        const T uk = mu * u[k] - lr * g[k];                                         \
        u[k] = uk;                                                                  \
        w[k] += mu_w * uk - lr_w * g[k];                                            \
    }                                                                               \
    return 1;                                                                       \
}

SKSEQ_DEFINE_OPTIMIZER_STEPS(double, d, sqrt)
SKSEQ_DEFINE_OPTIMIZER_STEPS(float, f, sqrtf)

#endif /* SKSEQ_GATES_H */
