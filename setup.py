"""Builds the Cython kernels in src/dumpx/_native (metadata lives in pyproject.toml)."""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

NATIVE = Path("src/dumpx/_native")

extensions = [
    Extension(
        f"dumpx._native.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3", "-g0"],    # no debug info in the shipped kernels
    )
    for pyx in sorted(NATIVE.glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": 3, "boundscheck": True, "wraparound": False,
                             "cdivision": True},
    ),
)
