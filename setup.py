import os

from setuptools import Extension, find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="symgraph",
    version="0.1.0",
    description="A symbolic computational-graph compiler for Python",
    long_description=long_description,
    long_description_content_type="text/markdown",
    # The C runtime sources live in the top-level c_backend/ directory and ship inside the
    # package as symgraph/c_backend/ (data only, no Python module). A source checkout or an
    # editable install reads them from <repo>/c_backend directly.
    packages=find_packages(include=["symgraph", "symgraph.*"]) + ["symgraph.c_backend"],
    package_dir={"symgraph.c_backend": "c_backend"},
    package_data={"symgraph.c_backend": ["*.h", "*.c", "*.md"]},
    # symgraph's own AVX-512 matrix product (c_backend/sg_gemm.c): built here, once, rather
    # than into every generated module, where it would add a tenth of a second to each
    # compile. It checks the CPU at run time, so the build needs no -march flag.
    ext_modules=[
        Extension(
            "symgraph._gemm",
            sources=["c_backend/sg_gemm.c"],
            depends=["c_backend/sg_gemm_kernel.h"],
            include_dirs=["c_backend"],
            # without a compiler the install still works; products then use BLAS
            optional=True,
        )
    ],
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "scipy>=1.10", "cffi>=1.15", "filelock>=3.8", "typing-extensions>=4.5"],
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
    classifiers=[
        "Development Status :: 2 - Pre-Alpha",
        "Intended Audience :: Science/Research",
        "Intended Audience :: Developers",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Mathematics",
        "Topic :: Software Development :: Compilers",
    ],
)
