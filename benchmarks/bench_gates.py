"""Time skseq's elementwise gate kernels at each vector level, with and
without the floating-point flags of skseq's build.

The gate math of an LSTM step (three sigmoids, two tanhs and the cell update
per hidden unit) lives in ``skseq/src/lstm_rows.inc``. The extension compiles
each kernel once per vector level (AVX-512, AVX2 with FMA, and the x86-64
baseline; ``skseq/src/kernels.h``) and picks the best level the CPU has at
import, so a machine only ever runs its own best level. This script compiles
the same kernel source once per level the CPU can run, in a C harness that
instantiates it the way ``skseq/src/level.inc`` does (the level chosen by
``-DBENCH_LEVEL``, nothing in the sources edited), and reports the time per
hidden unit of the forward and backward row kernels:

* with ``setup.py``'s flags (``-O3 -fopenmp-simd -fno-trapping-math
  -fno-math-errno``), and
* without the last two. Without ``-fno-trapping-math`` GCC keeps the selects
  of the exponential as branches (a compare may raise a flag) and vectorises
  the loops only where AVX-512 masks can predicate them; the gate math of
  the other levels then runs one value at a time.

It also reports, per precision, whether GCC said it vectorised every loop of
``lstm_rows.inc``.
x86-64 Linux with GCC (or a compatible ``$CC``) only. Run from anywhere::

    python benchmarks/bench_gates.py [--quick] [--json out.json]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "skseq" / "src"
ROW_KERNELS = "lstm_rows.inc"
BUILD_FLAGS = ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"]
PLAIN_FLAGS = ["-O3", "-fopenmp-simd"]

# (level, its number for -DBENCH_LEVEL, the /proc/cpuinfo flags it needs: those
# of SKSEQ_AVX512_FEATURES and SKSEQ_AVX2_FEATURES in skseq/src/kernels.h)
AVX2_FLAGS = {"avx2", "fma", "bmi1", "bmi2"}
TARGETS = [
    (
        "avx512",
        2,
        AVX2_FLAGS | {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"},
    ),
    ("avx2", 1, AVX2_FLAGS),
    ("baseline", 0, set()),
]

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

/* The row kernels of one level, instantiated as level.inc does. */
#if BENCH_LEVEL == 2
#define SKSEQ_TARGET __attribute__((target(SKSEQ_AVX512_FEATURES)))
#elif BENCH_LEVEL == 1
#define SKSEQ_TARGET __attribute__((target(SKSEQ_AVX2_FEATURES)))
#else
#define SKSEQ_TARGET
#endif
#if !defined(BENCH_DTYPE) || BENCH_DTYPE == 32
#define REAL float
#define TYPED(name) name##_f
#define SUFFIX(name) name##_f_bench
#include "lstm_rows.inc"
/* Referenced, so that a probe compiled without main() still compiles them. */
void *bench_kernels_f[] = {(void *)skseq_forward_row_f_bench,
                             (void *)skseq_backward_row_f_bench};
#undef REAL
#undef TYPED
#undef SUFFIX
#endif
#if !defined(BENCH_DTYPE) || BENCH_DTYPE == 64
#define REAL double
#define TYPED(name) name##_d
#define SUFFIX(name) name##_d_bench
#include "lstm_rows.inc"
/* Referenced, so that a probe compiled without main() still compiles them. */
void *bench_kernels_d[] = {(void *)skseq_forward_row_d_bench,
                             (void *)skseq_backward_row_d_bench};
#undef REAL
#undef TYPED
#undef SUFFIX
#endif

#ifndef BENCH_DTYPE
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* The buffers of one benchmark: `rows` rows of 4H pre-activations `z`,
   restored from `saved` before every pass (the forward kernel overwrites
   them), and the states the kernels read and write. */
#define DEFINE_BENCH(T, S)                                                    \
typedef struct {                                                              \
    int H, rows, backward;                                                    \
    T *z, *saved, *bias, *c_prev, *c_now, *h, *dh, *dc;                       \
} buffers_##S;                                                                \
                                                                              \
/* `reps` passes: restore z, then (if `kernels`) run the kernel on each row;  \
   returns the seconds taken. */                                              \
static double passes_##S(buffers_##S *b, long reps, int kernels)              \
{                                                                             \
    const size_t G = 4 * (size_t)b->H, H = (size_t)b->H;                      \
    const size_t n = G * (size_t)b->rows;                                     \
    double t0 = now();                                                        \
    long r;                                                                   \
    size_t i, j;                                                              \
    for (r = 0; r < reps; r++) {                                              \
        for (i = 0; i < n; i++) b->z[i] = b->saved[i];                        \
        if (!kernels) continue;                                               \
        for (j = 0; j < (size_t)b->rows; j++) {                               \
            if (b->backward)                                                  \
                skseq_backward_row_##S##_bench(b->z + G * j, b->c_now + H * j,        \
                                       b->c_prev + H * j, b->dh + H * j,      \
                                       b->h + H * j, b->dc + H * j,           \
                                       b->z + G * j, b->H, 0);                \
            else                                                              \
                skseq_forward_row_##S##_bench(b->z + G * j, b->bias,                  \
                                      b->c_prev + H * j, b->c_now + H * j,    \
                                      b->h + H * j, b->H, 0);                 \
        }                                                                     \
    }                                                                         \
    return now() - t0;                                                        \
}                                                                             \
                                                                              \
/* Best time per hidden unit, in ns, over `trials` trials of about `seconds`  \
   each; the time of restoring z is measured alone and subtracted. */         \
static double bench_##S(int H, int rows, int backward, double seconds,       \
                        int trials)                                           \
{                                                                             \
    const size_t G = 4 * (size_t)H, n = (size_t)rows;                         \
    buffers_##S b;                                                            \
    size_t i;                                                                 \
    long reps = 1;                                                            \
    int trial;                                                                \
    double best = 1e30, elapsed, t;                                           \
    b.H = H; b.rows = rows; b.backward = backward;                            \
    b.z = aligned_alloc(64, sizeof(T) * G * n);                               \
    b.saved = aligned_alloc(64, sizeof(T) * G * n);                           \
    b.bias = aligned_alloc(64, sizeof(T) * G);                                \
    b.c_prev = aligned_alloc(64, sizeof(T) * H * n);                          \
    b.c_now = aligned_alloc(64, sizeof(T) * H * n);                           \
    b.h = aligned_alloc(64, sizeof(T) * H * n);                               \
    b.dh = aligned_alloc(64, sizeof(T) * H * n);                              \
    b.dc = aligned_alloc(64, sizeof(T) * H * n);                              \
    srand(12345);                                                             \
    for (i = 0; i < G * n; i++)                                               \
        b.saved[i] = (T)(8.0 * rand() / RAND_MAX - 4.0);                      \
    for (i = 0; i < G; i++) b.bias[i] = (T)0.1;                               \
    for (i = 0; i < (size_t)H * n; i++) {                                     \
        b.c_prev[i] = (T)(2.0 * rand() / RAND_MAX - 1.0);                     \
        b.dh[i] = (T)(rand() / (double)RAND_MAX - 0.5);                       \
        b.dc[i] = (T)0;                                                       \
    }                                                                         \
    if (backward) { /* gates in (0, 1) and (-1, 1), as a forward leaves */    \
        b.backward = 0;                                                       \
        passes_##S(&b, 1, 1);                                                 \
        b.backward = 1;                                                       \
        for (i = 0; i < G * n; i++) b.saved[i] = b.z[i];                      \
    }                                                                         \
    /* Calibrate, then one trial takes about `seconds`. */                    \
    while ((elapsed = passes_##S(&b, reps, 1)) < seconds / 4                  \
           && reps < (1L << 30))                                              \
        reps *= 2;                                                            \
    reps = (long)(reps * seconds / (elapsed + 1e-9)) + 1;                     \
    for (trial = 0; trial < trials; trial++) {                                \
        t = passes_##S(&b, reps, 1) - passes_##S(&b, reps, 0);                \
        if (t < best) best = t;                                               \
    }                                                                         \
    /* A use of the results, so that nothing is optimised away. */           \
    if (b.z[0] == (T)12345.678) printf("%g", (double)b.h[0]);                 \
    free(b.z); free(b.saved); free(b.bias); free(b.c_prev); free(b.c_now);    \
    free(b.h); free(b.dh); free(b.dc);                                        \
    return best / ((double)reps * rows * H) * 1e9;                            \
}

DEFINE_BENCH(float, f)
DEFINE_BENCH(double, d)

int main(int argc, char **argv)
{
    double seconds = atof(argv[1]);
    int trials = atoi(argv[2]), a;
    for (a = 3; a + 3 < argc + 1; a += 4) {
        int dtype64 = atoi(argv[a]), H = atoi(argv[a + 1]);
        int rows = atoi(argv[a + 2]), backward = atoi(argv[a + 3]);
        double ns = dtype64 ? bench_d(H, rows, backward, seconds, trials)
                            : bench_f(H, rows, backward, seconds, trials);
        printf("%.4f\n", ns);
    }
    return 0;
}
#endif
"""

CASES = [  # (float64?, H, rows, backward?)
    (dtype64, H, 32, backward)
    for dtype64 in (0, 1)
    for H in (32, 128)
    for backward in (0, 1)
]


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def find_compiler():
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build(compiler, workdir, target, level, flags):
    """Compile the harness for one level; return (binary, {dtype: whether
    GCC reported every loop of that precision's row kernels vectorised})."""
    tag = f"{target}-{'build' if flags is BUILD_FLAGS else 'plain'}"
    directory = Path(workdir) / tag
    directory.mkdir()
    source = directory / "harness.c"
    source.write_text(HARNESS)
    binary = directory / "harness"
    command = [
        compiler,
        *flags,
        f"-I{SOURCES}",
        f"-DBENCH_LEVEL={level}",
        "-Wno-unused-function",
    ]
    result = subprocess.run(
        [*command, str(source), "-o", str(binary)], capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(
            f"bench_gates: compiling failed:\n{' '.join(command)}\n{result.stderr}"
        )
    vectorised = {}
    for dtype, bits in (("float32", 32), ("float64", 64)):
        probe = subprocess.run(
            [*command, f"-DBENCH_DTYPE={bits}", "-fopt-info-vec-optimized", "-c"]
            + [str(source), "-o", str(directory / f"probe{bits}.o")],
            capture_output=True,
            text=True,
        )
        report = (probe.stderr + probe.stdout).splitlines()
        lines = {
            line.split(f"{ROW_KERNELS}:")[1].split(":")[0]
            for line in report
            if f"{ROW_KERNELS}:" in line and "vectorized" in line
        }
        vectorised[dtype] = len(lines) == simd_loops()
    return binary, vectorised


def simd_loops():
    """The number of loops of the row kernels marked for vectorisation."""
    text = (SOURCES / ROW_KERNELS).read_text()
    return sum(line.strip() == "SKSEQ_SIMD" for line in text.splitlines())


def run(binary, seconds, trials):
    arguments = [str(v) for case in CASES for v in case]
    result = subprocess.run(
        [str(binary), str(seconds), str(trials), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return [float(v) for v in result.stdout.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter trials")
    parser.add_argument("--json", metavar="PATH", help="also write the results")
    args = parser.parse_args()
    if platform.machine() not in ("x86_64", "AMD64") or sys.platform != "linux":
        sys.exit("bench_gates: x86-64 Linux only (the kernels' targets are x86-64).")
    compiler = find_compiler()
    if compiler is None:
        sys.exit("bench_gates: no C compiler found (set CC).")
    seconds, trials = (0.02, 3) if args.quick else (0.05, 7)
    flags = cpu_flags()
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    print(f"compiler: {version}")
    print(f"build flags: {' '.join(BUILD_FLAGS)}; 'without': {' '.join(PLAIN_FLAGS)}")
    print(
        "ns per hidden unit (4 gates and the cell), best of "
        f"{trials} trials, 32 rows, tanh; lower is better\n"
    )
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for target, level, needs in TARGETS:
            if not needs <= flags:
                print(f"{target}: skipped, the CPU lacks {sorted(needs - flags)}\n")
                continue
            with_flags, vec_with = build(compiler, workdir, target, level, BUILD_FLAGS)
            without, vec_without = build(compiler, workdir, target, level, PLAIN_FLAGS)
            times_with = run(with_flags, seconds, trials)
            times_without = run(without, seconds, trials)
            for case, t_with, t_without in zip(
                CASES, times_with, times_without, strict=True
            ):
                dtype64, hidden, rows, backward = case
                dtype = "float64" if dtype64 else "float32"
                results.append(
                    dict(
                        target=target,
                        dtype=dtype,
                        hidden=hidden,
                        rows=rows,
                        kernel="backward" if backward else "forward",
                        ns_per_unit=t_with,
                        ns_per_unit_without_flags=t_without,
                        vectorised=vec_with[dtype],
                        vectorised_without_flags=vec_without[dtype],
                    )
                )
    header = (
        f"{'target':<10} {'dtype':<8} {'H':>4} {'kernel':<9} "
        f"{'build flags':>11} {'without':>9} {'without/with':>12} "
        f"{'vectorised (GCC): build / without':>34}"
    )
    current = None
    for row in results:
        if row["target"] != current:
            if current is not None:
                print()
            current = row["target"]
            print(header)
            print("-" * len(header))
        ratio = row["ns_per_unit_without_flags"] / row["ns_per_unit"]
        vectorised = (
            f"{'yes' if row['vectorised'] else 'no'} / "
            f"{'yes' if row['vectorised_without_flags'] else 'no'}"
        )
        print(
            f"{row['target']:<10} {row['dtype']:<8} {row['hidden']:>4} "
            f"{row['kernel']:<9} {row['ns_per_unit']:>11.2f} "
            f"{row['ns_per_unit_without_flags']:>9.2f} {ratio:>11.1f}x "
            f"{vectorised:>34}"
        )
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(compiler=version, results=results), f, indent=1)


if __name__ == "__main__":
    main()
