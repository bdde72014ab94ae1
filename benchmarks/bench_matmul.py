"""Matrix products: symgraph's compiled ``dot`` against NumPy's ``@`` on the shapes of W4 and two
square ones.

On a CPU with AVX-512, symgraph multiplies float matrices with its own kernel
(``c_backend/sg_gemm.c``); elsewhere, or with ``SYMGRAPH_FLAGS=gemm=blas``, it calls the
OpenBLAS NumPy ships, and should then match NumPy. The first lines of the output say which
kernel symgraph uses and which one NumPy's OpenBLAS picked for this CPU. PyTensor and
``jax.jit`` are timed too when installed. Every result is checked against NumPy's first.

Usage: ``python benchmarks/bench_matmul.py [--quick] [--rounds N]``
"""

from __future__ import annotations

import argparse
import ctypes

import numpy as np

from _bench_utils import Case, compiled_case, environment_line, measure, optional_import, optional_jax, print_table

import symgraph as sg
import symgraph.tensor as st


def kernel_lines() -> list[str]:
    """Which product kernel symgraph's generated code uses, and NumPy's OpenBLAS core."""
    from symgraph.link.c import ops_blas

    own = ops_blas.gemm_kernel_addresses() is not None
    lines = [f"# symgraph float products: {'own AVX-512 kernel' if own else 'BLAS'} (config.gemm)"]
    lib = ops_blas._numpy_openblas()
    corename = getattr(lib, "scipy_openblas_get_corename64_", None) if lib is not None else None
    if corename is not None:
        corename.restype = ctypes.c_char_p
        lines.append(f"# NumPy's OpenBLAS core: {corename().decode()}")
    return lines


def product_cases(a_shape, b_shape, dtype, transpose_a, rng):
    """Cases for ``op(A) @ B`` where op is a transpose when ``transpose_a`` (A then stored
    as its transpose, the layout of a backward pass's ``X.T @ dY``)."""
    stored = (a_shape[1], a_shape[0]) if transpose_a else a_shape
    a_val = rng.standard_normal(stored).astype(dtype)
    b_val = rng.standard_normal(b_shape).astype(dtype)
    inputs = (a_val, b_val)

    def numpy_product(a, b):
        return (a.T if transpose_a else a) @ b

    expected = numpy_product(*inputs)
    a = st.matrix("a", dtype=dtype)
    b = st.matrix("b", dtype=dtype)
    out = st.dot(a.T if transpose_a else a, b)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    cases = [Case("numpy", numpy_product, inputs, "a.T @ b" if transpose_a else "a @ b")]
    # (no "symgraph py" case: the Python linker's product is NumPy's @)
    cases.append(compiled_case("symgraph", lambda: sg.function([a, b], out), inputs, expected,
                               "default mode: C", **tol))
    pytensor = optional_import("pytensor")
    if pytensor is not None:
        import pytensor.tensor as pt

        pa, pb = pt.matrix("a", dtype=dtype), pt.matrix("b", dtype=dtype)
        build = lambda: pytensor.function([pa, pb], pt.dot(pa.T if transpose_a else pa, pb))  # noqa: E731
        cases.append(compiled_case("pytensor", build, inputs, expected, "default mode", **tol))
    jax = optional_jax()
    if jax is not None:
        jitted = jax.jit(lambda x, y: (x.T if transpose_a else x) @ y)
        dev_inputs = tuple(jax.device_put(v) for v in inputs)
        cases.append(compiled_case("jax.jit", lambda: lambda x, y: jitted(x, y).block_until_ready(), dev_inputs,
                                   expected, "device arrays in", **tol))
    return cases


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 11, quick 3)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 11)
    target = 0.002 if args.quick else 0.1
    if args.quick:
        shapes = [((30, 20), (20, 17), "float64", False), ((20, 30), (30, 9), "float32", True)]
    else:
        shapes = [
            ((512, 256), (256, 256), "float64", False),  # W4: X @ W1
            ((256, 512), (512, 256), "float64", True),  # W4: X.T @ dH
            ((512, 256), (256, 10), "float64", False),  # W4: H @ W2
            ((1000, 1000), (1000, 1000), "float64", False),
            ((1000, 1000), (1000, 1000), "float32", False),
        ]
    print(environment_line())
    for line in kernel_lines():
        print(line)
    rng = np.random.default_rng(0)
    for a_shape, b_shape, dtype, transpose_a in shapes:
        cases = product_cases(a_shape, b_shape, dtype, transpose_a, rng)
        measure(cases, rounds, target)
        lhs = f"({a_shape[1]}x{a_shape[0]}).T" if transpose_a else f"{a_shape[0]}x{a_shape[1]}"
        print_table(f"{lhs} @ {b_shape[0]}x{b_shape[1]} {dtype}", cases, "ms", baseline="numpy")


if __name__ == "__main__":
    main()
