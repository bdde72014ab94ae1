"""Workload W1: a fused elementwise expression on three float64 vectors, against NumPy.

The expression is the design target ``exp(x)*y + log1p(z**2) - tanh(x*y)`` on vectors of
length 10^6. NumPy evaluates it one operation at a time, with a temporary array per step;
a compiler can fuse it into one loop.

Measured side by side in one run: NumPy (the baseline), symgraph, and PyTensor and ``jax.jit``
when they are installed. Results are checked against NumPy before timing.

Usage: ``python benchmarks/bench_elemwise.py [--quick] [--n N] [--rounds N]``
"""

from __future__ import annotations

import argparse

import numpy as np

from _bench_utils import (
    symgraph_linker_cases,
    Case,
    environment_line,
    jax_case,
    measure,
    optional_import,
    optional_jax,
    print_table,
    pytensor_function_cases,
)

import symgraph.tensor as st

TITLE = "exp(x)*y + log1p(z**2) - tanh(x*y)"


def numpy_expr(x, y, z):
    return np.exp(x) * y + np.log1p(z**2) - np.tanh(x * y)


def symgraph_cases(inputs, expected):
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    out = st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y)
    return symgraph_linker_cases([x, y, z], out, inputs, expected)


def pytensor_cases(inputs, expected):
    pytensor = optional_import("pytensor")
    if pytensor is None:
        return []
    import pytensor.tensor as pt

    x, y, z = pt.dvector("x"), pt.dvector("y"), pt.dvector("z")
    out = pt.exp(x) * y + pt.log1p(z**2) - pt.tanh(x * y)
    return pytensor_function_cases(pytensor, [x, y, z], out, inputs, expected)


def jax_cases(inputs, expected):
    jax = optional_jax()
    if jax is None:
        return []
    import jax.numpy as jnp

    jitted = jax.jit(lambda x, y, z: jnp.exp(x) * y + jnp.log1p(z**2) - jnp.tanh(x * y))

    def call(x, y, z):
        return jitted(x, y, z).block_until_ready()

    return jax_case(jax, call, inputs, expected)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--n", type=int, default=None, help="vector length (default 10**6, quick 10**4)")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 15, quick 3)")
    args = parser.parse_args(argv)
    n = args.n or (10**4 if args.quick else 10**6)
    rounds = args.rounds or (3 if args.quick else 15)
    target = 0.002 if args.quick else 0.1

    print(environment_line())
    rng = np.random.default_rng(0)
    inputs = tuple(rng.standard_normal(n) for _ in range(3))
    expected = numpy_expr(*inputs)

    cases = [Case("numpy", numpy_expr, inputs, "one temporary array per operation")]
    cases += symgraph_cases(inputs, expected)
    cases += pytensor_cases(inputs, expected)
    cases += jax_cases(inputs, expected)
    measure(cases, rounds, target)
    print_table(f"W1: {TITLE}, n={n} float64", cases, "ms", baseline="numpy")


if __name__ == "__main__":
    main()
