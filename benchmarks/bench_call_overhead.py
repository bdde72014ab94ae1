"""Per-call overhead of a compiled function: ``a*b + 1`` on float64 scalars.

The work itself is a few nanoseconds, so the time per call is what a compiled function costs on
top of it: argument checking, storage handling, dispatch. Measured side by side in one run:

- plain Python on floats, and the same expression on NumPy 0-d arrays (the baseline);
- symgraph, with input checking and with ``trust_input`` (no checks: the caller promises
  correctly typed NumPy arrays);
- PyTensor (checked and trusted; its default mode, and its C backend when that is not the
  default) and ``jax.jit``, when they are installed.

Usage: ``python benchmarks/bench_call_overhead.py [--quick] [--rounds N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _bench_utils import Case, environment_line, measure, optional_import, print_table, pytensor_modes

import symgraph as sg
import symgraph.tensor as st


def _timed(build):
    """Run ``build()`` (which compiles and calls once); return its result and the seconds taken."""
    start = time.perf_counter()
    result = build()
    return result, time.perf_counter() - start


def symgraph_cases(a_val, b_val, expected):
    a, b = st.dscalar("a"), st.dscalar("b")
    out = a * b + 1

    def build(trusted):
        f = sg.function([a, b], out)
        if trusted:
            f.trust_input = True
        assert np.allclose(f(a_val, b_val), expected)
        return f

    f, t = _timed(lambda: build(False))
    g, t2 = _timed(lambda: build(True))
    return [
        Case("symgraph", f, (a_val, b_val), "inputs checked", t),
        Case("symgraph trust_input", g, (a_val, b_val), "no input checks", t2),
    ]


def pytensor_cases(a_val, b_val, expected):
    pytensor = optional_import("pytensor")
    if pytensor is None:
        return []
    import pytensor.tensor as pt

    a, b = pt.dscalar("a"), pt.dscalar("b")
    out = a * b + 1

    def build(trusted, mode):
        f = pytensor.function([a, b], out, mode=mode)
        if trusted:
            f.trust_input = True
        assert np.allclose(f(a_val, b_val), expected)
        return f

    cases = []
    for name, mode in pytensor_modes(pytensor):
        f, t = _timed(lambda: build(False, mode))
        g, t2 = _timed(lambda: build(True, mode))
        linker = type(f.maker.linker).__name__
        cases.append(Case(name, f, (a_val, b_val), f"inputs checked, {linker}", t))
        cases.append(Case(f"{name} trust_input", g, (a_val, b_val), f"no input checks, {linker}", t2))
    return cases


def jax_cases(a_val, b_val, expected):
    jax = optional_import("jax")
    if jax is None:
        return []
    jax.config.update("jax_enable_x64", True)

    jitted = jax.jit(lambda a, b: a * b + 1)

    def call(a, b):
        return jitted(a, b).block_until_ready()

    def build():
        assert np.allclose(call(a_val, b_val), expected)
        return call

    f, t = _timed(build)
    return [Case("jax.jit", f, (a_val, b_val), "includes block_until_ready", t)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 25, quick 3)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 25)
    target = 0.002 if args.quick else 0.05

    print(environment_line())
    a_val, b_val = np.array(1.5), np.array(-2.25)  # float64 0-d arrays
    expected = 1.5 * -2.25 + 1

    def python_expr(a, b):
        return a * b + 1

    cases = [
        Case("python floats", python_expr, (float(a_val), float(b_val)), "no arrays at all"),
        Case("numpy", python_expr, (a_val, b_val), "same function on 0-d arrays"),
    ]
    cases += symgraph_cases(a_val, b_val, expected)
    cases += pytensor_cases(a_val, b_val, expected)
    cases += jax_cases(a_val, b_val, expected)
    measure(cases, rounds, target)
    print_table("Call overhead of a*b + 1 on float64 scalars", cases, "µs", baseline="numpy")


if __name__ == "__main__":
    main()
