"""Build of the compiled part: csrc/ (time loops, cells, product kernels, pool) + the Cython bindings, linked to
scipy-openblas32.

Environment switches (all off by default; the default is the stripped -O3 release build):
  FASTRNN_DEBUG=1           -O0 -g, NDEBUG undefined, Cython bounds/wraparound/initialised checks on
  FASTRNN_SANITIZE=LIST     -fsanitize=LIST (e.g. address,undefined), -O1 -g, Cython checks on; import the
                            result with the sanitizer runtime preloaded (.ci/sanitize shows how)
  FASTRNN_WERROR=1          C warnings are errors
The default build uses no -march: csrc/ picks AVX-512 / AVX2 / baseline code at run time (target_clones, target
attributes); on aarch64 it targets ARMv8.0, and only the csrc/arm/ files of ARM_FEATURE_FLAGS get a newer -march.
The extension finds libscipy_openblas through fastrnn/_blas.py, which loads it by absolute path from the installed
scipy_openblas32 package before importing the extension; the only run path kept is the relative
$ORIGIN/../scipy_openblas32/lib of a normal site-packages layout (no path of the build machine).
"""
import os
import re
import sysconfig
from glob import glob

import numpy as np
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTRNN_DEBUG") == "1"
SANITIZE = os.environ.get("FASTRNN_SANITIZE", "")
CHECKED = DEBUG or bool(SANITIZE)   # Cython's run-time index checks

if SANITIZE:
    sanitize_args = [f"-fsanitize={SANITIZE}", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    compile_args, link_args = ["-O1", "-g", "-UNDEBUG", *sanitize_args], sanitize_args
elif DEBUG:
    compile_args, link_args = ["-O0", "-g", "-UNDEBUG"], []
else:
    compile_args, link_args = ["-O3", "-fvisibility=hidden"], ["-s"]   # -s: no symbol or debug tables
compile_args.append("-pthread")
if os.environ.get("FASTRNN_WERROR") == "1":
    compile_args.append("-Werror")

ABSOLUTE_RPATH = re.compile(r"-Wl,-rpath[,=]/")

# aarch64: the files of csrc/arm/ named for a feature newer than ARMv8.0 are compiled for that feature (and only
# run after csrc/arm/isa.c found it); everything else is built for the ARMv8.0 baseline.
ARM_FEATURE_FLAGS = {"quant_dotprod.c": ["-march=armv8.2-a+dotprod"],
                     "quant_i8mm.c": ["-march=armv8.2-a+dotprod+i8mm"],
                     "quant_bf16.c": ["-march=armv8.2-a+bf16"]}
TARGETS_AARCH64 = sysconfig.get_platform().endswith(("aarch64", "arm64"))


BUILD_MODE = f"sanitize={SANITIZE}" if SANITIZE else "debug" if DEBUG else "release"
BUILD_MODE += f" CC={os.environ.get('CC', '')}"


class BuildExt(build_ext):
    """build_ext without the interpreter's absolute run path (pyenv-style Pythons put -Wl,-rpath,/their/lib into
    LDSHARED: a wheel must not look for libraries in the build machine's directories), that rebuilds when
    the mode or the compiler changed since the last build (a stamp file in build_temp), and that adds the
    per-file feature flags of ARM_FEATURE_FLAGS on aarch64."""

    def build_extensions(self):
        self.compiler.linker_so = [arg for arg in self.compiler.linker_so if not ABSOLUTE_RPATH.match(arg)]
        if TARGETS_AARCH64:
            compile_one = self.compiler._compile

            def compile_with_feature(obj, src, ext, cc_args, extra_postargs, pp_opts):
                flags = ARM_FEATURE_FLAGS.get(os.path.basename(src), []) if "arm" in src.split(os.sep) else []
                compile_one(obj, src, ext, cc_args, [*extra_postargs, *flags], pp_opts)

            self.compiler._compile = compile_with_feature
        stamp = os.path.join(self.build_temp, "fastrnn-build-mode")
        if not os.path.exists(stamp) or open(stamp).read() != BUILD_MODE:
            self.force = True
        super().build_extensions()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w") as file:
            file.write(BUILD_MODE)


kernels = Extension(
    "fastrnn._kernels",
    # every architecture folder's files: each compiles to nothing off its architecture (csrc/arch.h)
    sources=["fastrnn/_kernels.pyx", "csrc/kernels.c", "csrc/plan.c", "csrc/fingerprint.c", "csrc/finite.c",
             "csrc/pool.c", "csrc/gemm.c", "csrc/isa.c", "csrc/quant.c", "csrc/quant_c.c", "csrc/rows.c",
             *sorted(glob("csrc/*/*.c"))],
    depends=glob("csrc/**/*.h", recursive=True) + glob("csrc/**/*.inc", recursive=True) + ["fastrnn/_cells.pxd"]
    + sorted(glob("fastrnn/*.pxi")),
    include_dirs=["csrc", np.get_include(), scipy_openblas32.get_include_dir()],
    library_dirs=[scipy_openblas32.get_lib_dir()],
    libraries=[scipy_openblas32.get_library()],
    extra_link_args=["-pthread", "-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib", *link_args],
    extra_compile_args=compile_args,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
)

# The only directives: the .pyx header sets none, so a checked build really checks bounds. Checked builds
# generate their C under build/ so that switching modes never reuses the other mode's C.
directives = {"language_level": 3, "boundscheck": CHECKED, "wraparound": CHECKED, "cdivision": True,
              "initializedcheck": CHECKED}
setup(ext_modules=cythonize([kernels], compiler_directives=directives,
                            build_dir="build/cython-checked" if CHECKED else None),
      cmdclass={"build_ext": BuildExt})
