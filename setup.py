"""Build the compiled core, with OpenMP when the compiler supports it.

Set ``SKSEQ_NO_OPENMP=1`` to force a serial build. The probe compiles and links
a tiny OpenMP program with the very compiler that ``build_ext`` will use, so a
compiler without OpenMP support (e.g. Apple clang without libomp) gives a
working serial build instead of a failed one.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return n > 0 ? 0 : 1;
}
"""


def openmp_flags(compiler):
    """Return (compile_args, link_args) enabling OpenMP, or None if unusable."""
    if os.environ.get("SKSEQ_NO_OPENMP", "").strip() not in ("", "0"):
        return None
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [
            (["-fopenmp"], ["-fopenmp"]),
            (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe_openmp.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        for compile_args, link_args in candidates:
            try:
                objects = compiler.compile(
                    [source], output_dir=tmp, extra_postargs=compile_args
                )
                compiler.link_executable(
                    objects, os.path.join(tmp, "probe"), extra_postargs=link_args
                )
            except Exception:  # any compile or link failure means "not this way"
                continue
            return compile_args, link_args
    return None


def n_build_jobs():
    """CPUs this build may use: the modules compile independently."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # One compiler per CPU unless --parallel/-j says otherwise.
        if not self.parallel:
            self.parallel = n_build_jobs()

    def build_extensions(self):
        flags = openmp_flags(self.compiler)
        if flags is None:
            print("skseq: building the core without OpenMP (serial).", file=sys.stderr)
        for ext in self.extensions:
            if self.compiler.compiler_type != "msvc":
                # -fopenmp-simd honours the "omp simd" loops of the kernels even
                # in a serial build; it needs no OpenMP runtime.
                # -fno-trapping-math: the core never reads floating-point
                # exception flags, and without it GCC keeps the selects of
                # the gate math as branches (a compare may trap), so the gate
                # loops stay scalar on every target without AVX-512 masks:
                # about 7x slower with AVX2. -fno-math-errno likewise lets the
                # square roots of the Adam step vectorise (errno is never read).
                # Neither changes a computed value. -g0 drops debug information
                # (three quarters of the shared object's size); it changes no
                # generated code. Each module of the core includes the kernel
                # table's header whole and uses part of it, so unused static
                # functions are expected there.
                ext.extra_compile_args += [
                    "-O3",
                    "-g0",
                    "-Wno-unused-function",
                    "-fopenmp-simd",
                    "-fno-trapping-math",
                    "-fno-math-errno",
                ]
            if flags is not None:
                ext.extra_compile_args += flags[0]
                ext.extra_link_args += flags[1]
        super().build_extensions()


KERNEL_SOURCES = sorted(str(p) for p in Path("skseq/src").iterdir())
SHARED_PXD = [
    "skseq/_blas.pxd",
    "skseq/_kernels.pxd",
    "skseq/_checks.pxd",
    "skseq/_dispatch.pxd",
    "skseq/_bptt.pxd",
    "skseq/_arrays.pxd",
]


def core_extension(name, depends=()):
    """One module of the compiled core, skseq/<name>.pyx."""
    return Extension(
        f"skseq.{name}",
        [f"skseq/{name}.pyx"],
        include_dirs=[numpy.get_include(), "skseq"],
        depends=list(depends),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )


extensions = [
    core_extension("_openmp_helpers"),
    core_extension("_layout", ["skseq/_checks.pxd"]),
    # The kernels are compiled once, here (_dispatch.pyx includes
    # src/dispatch.inc); the other modules call them through its table.
    core_extension("_dispatch", KERNEL_SOURCES),
    core_extension("_numerics", KERNEL_SOURCES + SHARED_PXD),
    core_extension("_lstm_layer", KERNEL_SOURCES + SHARED_PXD),
    core_extension("_gru_layer", KERNEL_SOURCES + SHARED_PXD),
    core_extension("_rnn_layer", KERNEL_SOURCES + SHARED_PXD),
]

setup(
    # Cython translates the modules in parallel where processes fork (Linux).
    ext_modules=cythonize(
        extensions,
        language_level=3,
        nthreads=n_build_jobs() if sys.platform.startswith("linux") else 0,
    ),
    cmdclass={"build_ext": BuildExt},
)
