"""Time skseq's elementwise gate kernels for each x86-64 target, with and
without the floating-point flags of skseq's build.

The gate math of an LSTM step (three sigmoids, two tanhs and the cell update
per hidden unit) lives in ``skseq/_gates.h``. The extension compiles each
kernel for three targets (x86-64-v4 with AVX-512, x86-64-v3 with AVX2 and
FMA, and the x86-64 baseline) and the loader runs the best one the CPU has, so
a machine only ever times its own best target. This script compiles the
kernels once per target the CPU can run, in a C harness, and reports the time
per hidden unit of the forward and backward row kernels:

* with ``setup.py``'s flags (``-O3 -fopenmp-simd -fno-trapping-math
  -fno-math-errno``), and
* without the last two. Without ``-fno-trapping-math`` GCC keeps the selects
  of the exponential as branches (a compare may raise a flag) and vectorises
  the loops only where AVX-512 masks can predicate them; the gate math of
  the other targets then runs one value at a time.

It also reports, per precision, whether GCC said it vectorised the row
kernels of ``_gates.h``.
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
HEADER = REPO / "skseq" / "_gates.h"
CLONES = '__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))'
BUILD_FLAGS = ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"]
PLAIN_FLAGS = ["-O3", "-fopenmp-simd"]

# (target, the /proc/cpuinfo flags it needs)
TARGETS = [
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx2", "fma", "bmi2", "movbe"}),
    ("x86-64", set()),
]

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "gates_one_target.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Best time per hidden unit, in ns, of `reps` passes over `rows` rows; the
   pre-activations are restored from `saved` before every pass (the forward
   kernel overwrites them) and the copy is timed alone and subtracted. */
#define DEFINE_BENCH(T, S)                                                    \
static double bench_##S(int H, int rows, int backward, double seconds,       \
                        int trials)                                           \
{                                                                             \
    const size_t G = 4 * (size_t)H, n = (size_t)rows;                         \
    T *z = aligned_alloc(64, sizeof(T) * G * n);                              \
    T *saved = aligned_alloc(64, sizeof(T) * G * n);                          \
    T *bias = aligned_alloc(64, sizeof(T) * G);                               \
    T *c_prev = aligned_alloc(64, sizeof(T) * H * n);                         \
    T *c_now = aligned_alloc(64, sizeof(T) * H * n);                          \
    T *h = aligned_alloc(64, sizeof(T) * H * n);                              \
    T *dh = aligned_alloc(64, sizeof(T) * H * n);                             \
    T *dc = aligned_alloc(64, sizeof(T) * H * n);                             \
    size_t i;                                                                 \
    long reps = 1, r;                                                         \
    int j, trial;                                                             \
    double best = 1e30, t0, t_copy, t_all;                                    \
    srand(12345);                                                             \
    for (i = 0; i < G * n; i++)                                               \
        saved[i] = (T)(8.0 * rand() / RAND_MAX - 4.0);                        \
    for (i = 0; i < G; i++) bias[i] = (T)0.1;                                 \
    for (i = 0; i < (size_t)H * n; i++) {                                     \
        c_prev[i] = (T)(2.0 * rand() / RAND_MAX - 1.0);                       \
        dh[i] = (T)(rand() / (double)RAND_MAX - 0.5);                         \
        dc[i] = (T)0;                                                         \
    }                                                                         \
    if (backward) { /* gates in (0, 1) and (-1, 1), as a forward leaves */    \
        for (i = 0; i < G * n; i++) z[i] = saved[i];                          \
        for (j = 0; j < rows; j++)                                            \
            skseq_forward_row_##S(z + G * j, bias, c_prev + (size_t)H * j,    \
                                  c_now + (size_t)H * j, h + (size_t)H * j,   \
                                  H, 0);                                      \
        for (i = 0; i < G * n; i++) saved[i] = z[i];                          \
    }                                                                         \
    for (;;) { /* calibrate, then one trial takes about `seconds` */             \
        t0 = now();                                                           \
        for (r = 0; r < reps; r++) {                                          \
            for (i = 0; i < G * n; i++) z[i] = saved[i];                      \
            for (j = 0; j < rows; j++) {                                      \
                if (backward)                                                 \
                    skseq_backward_row_##S(                                   \
                        z + G * j, c_now + (size_t)H * j,                     \
                        c_prev + (size_t)H * j, dh + (size_t)H * j,           \
                        h + (size_t)H * j, dc + (size_t)H * j, z + G * j,     \
                        H, 0);                                                \
                else                                                          \
                    skseq_forward_row_##S(z + G * j, bias,                    \
                                          c_prev + (size_t)H * j,             \
                                          c_now + (size_t)H * j,              \
                                          h + (size_t)H * j, H, 0);           \
            }                                                                 \
        }                                                                     \
        if (now() - t0 > seconds / 4 || reps > (1L << 30)) break;             \
        reps *= 2;                                                            \
    }                                                                         \
    reps = (long)(reps * seconds / (now() - t0 + 1e-9)) + 1;              \
    for (trial = 0; trial < trials; trial++) {                                \
        t0 = now();                                                           \
        for (r = 0; r < reps; r++)                                            \
            for (i = 0; i < G * n; i++) z[i] = saved[i];                      \
        t_copy = now() - t0;                                                  \
        t0 = now();                                                           \
        for (r = 0; r < reps; r++) {                                          \
            for (i = 0; i < G * n; i++) z[i] = saved[i];                      \
            for (j = 0; j < rows; j++) {                                      \
                if (backward)                                                 \
                    skseq_backward_row_##S(                                   \
                        z + G * j, c_now + (size_t)H * j,                     \
                        c_prev + (size_t)H * j, dh + (size_t)H * j,           \
                        h + (size_t)H * j, dc + (size_t)H * j, z + G * j,     \
                        H, 0);                                                \
                else                                                          \
                    skseq_forward_row_##S(z + G * j, bias,                    \
                                          c_prev + (size_t)H * j,             \
                                          c_now + (size_t)H * j,              \
                                          h + (size_t)H * j, H, 0);           \
            }                                                                 \
        }                                                                     \
        t_all = now() - t0;                                                   \
        if (t_all - t_copy < best) best = t_all - t_copy;                     \
    }                                                                         \
    /* A use of the results, so that nothing is optimised away. */           \
    if (z[0] == (T)12345.678) printf("%g", (double)h[0]);                     \
    free(z); free(saved); free(bias); free(c_prev); free(c_now); free(h);     \
    free(dh); free(dc);                                                       \
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


def header_for(target):
    text = HEADER.read_text()
    if CLONES not in text:
        sys.exit(
            f"bench_gates: {HEADER} no longer holds the expected target_clones "
            "attribute; update CLONES in this script."
        )
    return text.replace(CLONES, f'__attribute__((target("arch={target}")))')


def kernel_lines(header_text):
    """Line numbers of the row-kernel definitions, per precision (GCC reports
    the loops of a macro-made function at the line of the macro's use)."""
    lines = {}
    for number, line in enumerate(header_text.splitlines(), start=1):
        for dtype, use in (
            ("float64", "SKSEQ_DEFINE_ROW_KERNELS(double, d)"),
            ("float32", "SKSEQ_DEFINE_ROW_KERNELS(float, f)"),
        ):
            if line.startswith(use):
                lines[dtype] = number
    if len(lines) != 2:
        sys.exit(f"bench_gates: cannot find the row kernels' definitions in {HEADER}.")
    return lines


def build(compiler, workdir, target, flags):
    """Compile the harness for one target; return (binary, {dtype: whether
    GCC reported a vectorised loop in that precision's row kernels})."""
    tag = f"{target}-{'build' if flags is BUILD_FLAGS else 'plain'}"
    directory = Path(workdir) / tag
    directory.mkdir()
    header = header_for(target)
    (directory / "gates_one_target.h").write_text(header)
    source = directory / "harness.c"
    source.write_text(HARNESS)
    binary = directory / "harness"
    command = [compiler, *flags, f"-I{directory}", str(source), "-o", str(binary)]
    result = subprocess.run(
        [*command, "-fopt-info-vec-optimized"], capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(
            f"bench_gates: compiling failed:\n{' '.join(command)}\n{result.stderr}"
        )
    report = (result.stderr + result.stdout).splitlines()
    vectorised = {
        dtype: any(
            f"gates_one_target.h:{number}:" in line and "vectorized" in line
            for line in report
        )
        for dtype, number in kernel_lines(header).items()
    }
    return binary, vectorised


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
        for target, needs in TARGETS:
            if not needs <= flags:
                print(f"{target}: skipped, the CPU lacks {sorted(needs - flags)}\n")
                continue
            with_flags, vec_with = build(compiler, workdir, target, BUILD_FLAGS)
            without, vec_without = build(compiler, workdir, target, PLAIN_FLAGS)
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
