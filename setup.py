"""Build of the compiled part: csrc/ (time loops, cells, product kernels, pool) + the Cython bindings, linked to
scipy-openblas32.

Set FASTRNN_DEBUG=1 for bounds-checked Cython and -O0 -g, FASTRNN_WERROR=1 to turn C warnings into errors.
Nothing here uses -march: csrc/ picks AVX-512 / AVX2 / baseline code at run time (target_clones).
"""
import os
from glob import glob

import numpy as np
import scipy_openblas32
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTRNN_DEBUG") == "1"
compile_args = (["-O0", "-g"] if DEBUG else ["-O3", "-fvisibility=hidden"]) + ["-pthread"]
if os.environ.get("FASTRNN_WERROR") == "1":
    compile_args.append("-Werror")

kernels = Extension(
    "fastrnn._kernels",
    sources=["fastrnn/_kernels.pyx", "csrc/kernels.c", "csrc/plan.c", "csrc/fingerprint.c", "csrc/finite.c",
             "csrc/pool.c", "csrc/gemm.c", "csrc/isa.c", "csrc/quant.c"],
    depends=glob("csrc/*.h") + glob("csrc/*.inc") + ["fastrnn/_cells.pxd", "fastrnn/_backward.pxi",
                                                      "fastrnn/_gemm.pxi", "fastrnn/_quant.pxi"],
    include_dirs=["csrc", np.get_include(), scipy_openblas32.get_include_dir()],
    library_dirs=[scipy_openblas32.get_lib_dir()],
    libraries=[scipy_openblas32.get_library()],
    # the installed wheel finds site-packages/scipy_openblas32/lib; fastrnn/_blas.py also preloads it
    extra_link_args=["-pthread", "-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib"],
    extra_compile_args=compile_args,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
)

directives = {"language_level": 3, "boundscheck": DEBUG, "wraparound": DEBUG, "cdivision": True,
              "initializedcheck": DEBUG}
setup(ext_modules=cythonize([kernels], compiler_directives=directives))
