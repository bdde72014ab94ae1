"""Fusion: the same compiled functions with and without the fusion pass, on vectors of 10^6.

Each expression is compiled twice with FAST_RUN, once as is (elementwise subgraphs become one
``Elemwise(Composite)`` node) and once with the ``fusion`` pass excluded, and both are timed
side by side with plain NumPy. With the Python linker a fused node still calls NumPy once per
elementary op, but it writes results into dead intermediate buffers instead of allocating a
new array for each op, so it should never be slower than the unfused function.

Usage: ``python benchmarks/bench_fusion.py [--quick] [--n N] [--rounds N]``
"""

from __future__ import annotations

import argparse

import numpy as np

from _bench_utils import Case, compiled_case, environment_line, measure, print_table

import symgraph as sg
import symgraph.tensor as st
from symgraph.compile.mode import get_mode
from symgraph.tensor.composite import Composite


def _w1(lib):
    def expr(x, y, z):
        return lib.exp(x) * y + lib.log1p(z**2) - lib.tanh(x * y)

    return expr


def _long(lib):
    # A longer chain: more intermediates, so more allocations saved.
    def expr(x, y, z):
        a = lib.sin(x) * lib.cos(y) + z
        b = lib.sqrt(a * a + 1.0) / (lib.exp(-lib.abs(z)) + 1.0)
        return lib.tanh(b - x * 0.5) * y + lib.cos(a)

    return expr


WORKLOADS = {
    "W1: exp(x)*y + log1p(z**2) - tanh(x*y)": _w1,
    "chain of 14 ops": _long,
}


def _n_composites(fn) -> int:
    return sum(
        isinstance(n.op, sg.tensor.elemwise.Elemwise) and isinstance(n.op.scalar_op, Composite)
        for n in fn.maker.fgraph.toposort()
    )


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
    unfused_mode = get_mode("FAST_RUN").excluding("fusion")
    for title, make in WORKLOADS.items():
        expected = make(np)(*inputs)
        x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
        out = make(st)(x, y, z)
        fused = compiled_case("symgraph fused", lambda: sg.function([x, y, z], out), inputs, expected)
        unfused = compiled_case(
            "symgraph unfused", lambda: sg.function([x, y, z], out, mode=unfused_mode), inputs, expected
        )
        fused.note = f"{_n_composites(fused.fn)} composite node(s), {len(fused.fn.maker.fgraph.apply_nodes)} nodes"
        unfused.note = f"{len(unfused.fn.maker.fgraph.apply_nodes)} nodes"
        cases = [Case("numpy", make(np), inputs, "one temporary array per operation"), fused, unfused]
        measure(cases, rounds, target)
        print_table(f"{title}, n={n} float64", cases, "ms", baseline="numpy")
        ratio = fused.median / unfused.median
        print(f"fused / unfused time: {ratio:.2f} ({'not slower' if ratio <= 1.05 else 'SLOWER'})")


if __name__ == "__main__":
    main()
