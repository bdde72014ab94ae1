"""Workload W3: logsumexp over axis 1 of a 2000x1000 float64 matrix, against NumPy.

A reduction with an elementwise pass on both sides of it: ``m = max(x, axis=1)``, then
``m + log(sum(exp(x - m[:, None]), axis=1))``. NumPy needs a full-size temporary for
``x - m`` and another for its ``exp``; a compiler can do the row in one or two sweeps.

Measured side by side in one run: NumPy written out stably as above (the baseline),
``scipy.special.logsumexp`` (for reference), symgraph's ``st.logsumexp``, and PyTensor's
``logsumexp`` and ``jax.nn.logsumexp`` under ``jax.jit`` when they are installed. Results are
checked against NumPy before timing.

Usage: ``python benchmarks/bench_logsumexp.py [--quick] [--rows N] [--cols N] [--rounds N]``
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.special

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


def numpy_logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]


def scipy_logsumexp(x):
    return scipy.special.logsumexp(x, axis=1)


def symgraph_cases(inputs, expected):
    x = st.dmatrix("x")
    out = st.logsumexp(x, axis=1)
    return symgraph_linker_cases([x], out, inputs, expected)


def pytensor_cases(inputs, expected):
    pytensor = optional_import("pytensor")
    if pytensor is None:
        return []
    import pytensor.tensor as pt

    x = pt.dmatrix("x")
    out = pt.logsumexp(x, axis=1)
    return pytensor_function_cases(pytensor, [x], out, inputs, expected)


def jax_cases(inputs, expected):
    jax = optional_jax()
    if jax is None:
        return []

    jitted = jax.jit(lambda x: jax.nn.logsumexp(x, axis=1))

    def call(x):
        return jitted(x).block_until_ready()

    return jax_case(jax, call, inputs, expected)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 2000, quick 50)")
    parser.add_argument("--cols", type=int, default=None, help="columns, reduced over (default 1000, quick 40)")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 15, quick 3)")
    args = parser.parse_args(argv)
    rows = args.rows or (50 if args.quick else 2000)
    cols = args.cols or (40 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 15)
    target = 0.002 if args.quick else 0.1

    print(environment_line())
    rng = np.random.default_rng(0)
    # Spread the values out so that the shift by the maximum matters.
    inputs = (rng.standard_normal((rows, cols)) * 10.0,)
    expected = numpy_logsumexp(*inputs)
    np.testing.assert_allclose(scipy_logsumexp(*inputs), expected, rtol=1e-12)

    cases = [
        Case("numpy", numpy_logsumexp, inputs, "max, exp(x - max), sum, log"),
        Case("scipy.special", scipy_logsumexp, inputs, "scipy.special.logsumexp"),
    ]
    cases += symgraph_cases(inputs, expected)
    cases += pytensor_cases(inputs, expected)
    cases += jax_cases(inputs, expected)
    measure(cases, rounds, target)
    print_table(f"W3: logsumexp(x, axis=1), x {rows}x{cols} float64", cases, "ms", baseline="numpy")


if __name__ == "__main__":
    main()
