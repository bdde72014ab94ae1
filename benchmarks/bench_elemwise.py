"""A fused elementwise expression on three float64 vectors, against NumPy.

The expression is ``exp(x)*y + log(z*z + 1) - x*y/2``: it uses only the operations symgraph has
today (exp, log, +, -, *, /). It stands in for the design target
``exp(x)*y + log1p(z**2) - tanh(x*y)`` until log1p, tanh and pow exist.

Measured side by side in one run: NumPy (the baseline), symgraph, and PyTensor and ``jax.jit``
when they are installed. Results are checked against NumPy before timing.

Usage: ``python benchmarks/bench_elemwise.py [--quick] [--n N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _bench_utils import Case, environment_line, measure, optional_import, print_table

import symgraph as sg
import symgraph.tensor as st


def numpy_expr(x, y, z):
    return np.exp(x) * y + np.log(z * z + 1) - x * y / 2


def _compiled_case(name, build, inputs, expected, note=""):
    start = time.perf_counter()
    f = build()
    result = np.asarray(f(*inputs))
    seconds = time.perf_counter() - start
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12, err_msg=name)
    return Case(name, f, inputs, note, seconds)


def symgraph_cases(inputs, expected):
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    out = st.exp(x) * y + st.log(z * z + 1) - x * y / 2
    return [_compiled_case("symgraph", lambda: sg.function([x, y, z], out), inputs, expected)]


def pytensor_cases(inputs, expected):
    pytensor = optional_import("pytensor")
    if pytensor is None:
        return []
    import pytensor.tensor as pt

    x, y, z = pt.dvector("x"), pt.dvector("y"), pt.dvector("z")
    out = pt.exp(x) * y + pt.log(z * z + 1) - x * y / 2
    case = _compiled_case("pytensor", lambda: pytensor.function([x, y, z], out), inputs, expected)
    case.note = type(case.fn.maker.linker).__name__
    return [case]


def jax_cases(inputs, expected):
    jax = optional_import("jax")
    if jax is None:
        return []
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    jitted = jax.jit(lambda x, y, z: jnp.exp(x) * y + jnp.log(z * z + 1) - x * y / 2)
    # Inputs already on the device, as a JAX program would hold them; the result is waited for.
    dev_inputs = tuple(jax.device_put(v) for v in inputs)

    def call(x, y, z):
        return jitted(x, y, z).block_until_ready()

    case = _compiled_case("jax.jit", lambda: call, dev_inputs, expected, "device arrays in, block_until_ready")
    return [case]


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
    print_table(f"exp(x)*y + log(z*z + 1) - x*y/2, n={n} float64", cases, "ms", baseline="numpy")


if __name__ == "__main__":
    main()
