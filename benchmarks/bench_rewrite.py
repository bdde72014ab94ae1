"""Rewrite (graph optimisation) time and graph sizes on large graphs.

Three workloads from issue #4:

- ``mlp20``: a 20-layer tanh MLP (width 32) with its mean-squared-error loss and the
  gradient with respect to every weight and bias (target: FAST_RUN rewrite under 50 ms;
  PyTensor needs about 0.4 s for this graph);
- ``mlp200``: the same with 200 layers;
- ``loglik``: the gradient of a log-likelihood made of many small Gaussian log-density
  terms, about 10,000 nodes before rewriting (target: under 2 s).

For each: the number of nodes before and after FAST_RUN's rewrites, the median time of
``Mode.rewrite`` on a fresh FunctionGraph (graph construction excluded), the median time of
a whole ``symgraph.function()`` call (rewrites, in-place checks and linking), FAST_COMPILE's
rewrite time, and, as the ``python`` reference row, the time Python takes to *build* the
graph and its gradient. One run also times each pass separately. The FAST_RUN function's
values are checked against FAST_COMPILE's on random inputs before anything is timed.
PyTensor's FAST_RUN rewrite of the same graph is timed when pytensor is importable.

Usage: ``python benchmarks/bench_rewrite.py [--quick] [--runs N] [--only mlp20,loglik]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np

from _bench_utils import environment_line, optional_import

import symgraph as sg
import symgraph.tensor as st
from symgraph import FAST_COMPILE, FAST_RUN, FunctionGraph

WIDTH = 32
BATCH = 16
TARGETS_MS = {"mlp20": 50.0, "loglik": 2000.0}  # from issue #4
PYTENSOR_REFERENCE_MS = {"mlp20": 400.0}  # quoted in the issue, for when pytensor is absent


# ----------------------------------------------------------------------------- workloads


def build_mlp(lib, layers: int, width: int = WIDTH):
    """A ``layers``-deep tanh MLP with an MSE loss; returns (inputs, outputs, values).

    ``lib`` is ``symgraph.tensor`` or ``pytensor.tensor`` (the same calls build both).
    Outputs: the loss and its gradient w.r.t. every weight matrix and bias vector.
    """
    rng = np.random.default_rng(0)
    x, target = lib.dmatrix("x"), lib.dmatrix("target")
    params, values = [], [rng.standard_normal((BATCH, width)), rng.standard_normal((BATCH, width))]
    h = x
    for i in range(layers):
        w, b = lib.dmatrix(f"W{i}"), lib.dvector(f"b{i}")
        params += [w, b]
        values += [rng.standard_normal((width, width)) / np.sqrt(width), 0.1 * rng.standard_normal(width)]
        h = lib.tanh(lib.dot(h, w) + b)
    loss = lib.mean(lib.sqr(h - target))
    grads = _grad(lib, loss, params)
    return [x, target] + params, [loss] + list(grads), values


def build_loglik(lib, terms: int):
    """Gradient of ``sum_i log N(data[i] | mu, exp(log_sigma))`` written term by term (as a
    model written in a loop over observations would be)."""
    rng = np.random.default_rng(1)
    data, mu, log_sigma = lib.dvector("data"), lib.dscalar("mu"), lib.dscalar("log_sigma")
    sigma = lib.exp(log_sigma)
    half_log_2pi = np.float64(0.5 * np.log(2 * np.pi))
    total = None
    for i in range(terms):
        z = (data[i] - mu) / sigma
        term = np.float64(-0.5) * lib.sqr(z) - log_sigma - half_log_2pi
        total = term if total is None else total + term
    grads = _grad(lib, total, [mu, log_sigma])
    values = [rng.standard_normal(terms) + 0.3, np.asarray(0.1), np.asarray(-0.2)]
    return [data, mu, log_sigma], [total] + list(grads), values


def _grad(lib, cost, wrt):
    if lib is st:
        return sg.grad(cost, wrt)
    import pytensor

    return pytensor.grad(cost, wrt)


def loglik_terms_for(nodes: int) -> int:
    """How many terms make a log-likelihood graph (with its gradient) of about ``nodes`` nodes."""
    small = 50
    inputs, outputs, _ = build_loglik(st, small)
    per_term = len(FunctionGraph(inputs, outputs).toposort()) / small
    return max(1, round(nodes / per_term))


# ----------------------------------------------------------------------------- measuring


def median_ms(samples):
    return statistics.median(samples) * 1e3


def time_rewrite(mode, inputs, outputs, runs: int):
    """Median seconds of ``mode.rewrite`` on a fresh FunctionGraph, and the nodes after."""
    samples, after = [], None
    for _ in range(runs):
        fgraph = FunctionGraph(inputs, outputs)
        gc.collect()
        start = time.perf_counter()
        mode.rewrite(fgraph)
        samples.append(time.perf_counter() - start)
        after = len(fgraph.toposort())
    return samples, after


def time_passes(mode, inputs, outputs):
    """Seconds spent in each of ``mode``'s passes, for one rewrite of a fresh graph."""
    fgraph = FunctionGraph(inputs, outputs)
    gc.collect()
    spent = []
    for rewrite_pass in mode.rewrite_passes():
        start = time.perf_counter()
        rewrite_pass.fn(fgraph)
        spent.append((rewrite_pass.name, time.perf_counter() - start, len(fgraph.toposort())))
    return spent


def time_function(inputs, outputs, runs: int, mode=FAST_RUN):
    samples, fn = [], None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn = sg.function(inputs, outputs, mode=mode)
        samples.append(time.perf_counter() - start)
    return samples, fn


def time_build(builder, runs: int):
    samples, built = [], None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        built = builder()
        samples.append(time.perf_counter() - start)
    return samples, built


def check_values(inputs, outputs, values, fast_fn):
    """FAST_RUN's results must match FAST_COMPILE's (the unrewritten graph)."""
    reference = sg.function(inputs, outputs, mode=FAST_COMPILE)
    want = reference(*[np.copy(v) for v in values])
    got = fast_fn(*[np.copy(v) for v in values])
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"output {k}")


_PYTENSOR = []  # the import result, looked up once


def pytensor_rewrite_ms(name, builder_args, runs):
    """Median ms of PyTensor's FAST_RUN rewrites on the same graph, or None."""
    if not _PYTENSOR:
        _PYTENSOR.append(optional_import("pytensor"))
    pytensor = _PYTENSOR[0]
    if pytensor is None:
        return None, None
    try:
        import pytensor.tensor as pt
        from pytensor.compile.mode import get_mode
        from pytensor.graph.fg import FunctionGraph as PtFunctionGraph

        builder, arg = builder_args
        inputs, outputs, _ = builder(pt, arg)
        rewriter = get_mode("FAST_RUN").optimizer
        samples, after = [], None
        for _ in range(runs):
            fgraph = PtFunctionGraph(inputs, outputs, clone=True)
            gc.collect()
            start = time.perf_counter()
            rewriter.rewrite(fgraph)
            samples.append(time.perf_counter() - start)
            after = len(fgraph.apply_nodes)
        return median_ms(samples), after
    except Exception as exc:  # a broken or changed pytensor must not stop the benchmark
        print(f"# pytensor ({name}): failed ({type(exc).__name__}: {exc}), skipped")
        return None, None


# ----------------------------------------------------------------------------- report


def run_case(name, builder, arg, runs, fn_runs, with_pytensor):
    build_samples, (inputs, outputs, values) = time_build(lambda: builder(st, arg), max(1, min(runs, 3)))
    before = len(FunctionGraph(inputs, outputs).toposort())
    fn_samples, fast_fn = time_function(inputs, outputs, fn_runs)
    check_values(inputs, outputs, values, fast_fn)
    rw_samples, after = time_rewrite(FAST_RUN, inputs, outputs, runs)
    fc_samples, fc_after = time_rewrite(FAST_COMPILE, inputs, outputs, runs)
    passes = time_passes(FAST_RUN, inputs, outputs)
    rows = [
        (name, "python: build graph + grad", before, "", median_ms(build_samples), ""),
        (name, "symgraph FAST_RUN rewrite", before, after, median_ms(rw_samples), median_ms(fn_samples)),
        (name, "symgraph FAST_COMPILE rewrite", before, fc_after, median_ms(fc_samples), ""),
    ]
    if with_pytensor:
        ms, pt_after = pytensor_rewrite_ms(name, (builder, arg), runs)
        if ms is not None:
            rows.append((name, "pytensor FAST_RUN rewrite", "", pt_after, ms, ""))
    return rows, passes, median_ms(rw_samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny graphs, one run (checks the script works)")
    parser.add_argument("--runs", type=int, default=None, help="timed rewrites per workload (median reported)")
    parser.add_argument("--only", default=None, help="comma-separated workloads: mlp20,mlp200,loglik")
    parser.add_argument("--no-pytensor", action="store_true", help="skip PyTensor even when importable")
    args = parser.parse_args(argv)

    runs = args.runs or (1 if args.quick else 7)
    fn_runs = 1 if args.quick else 3
    if args.quick:
        workloads = [("mlp20", build_mlp, 3), ("mlp200", build_mlp, 6), ("loglik", build_loglik, 20)]
    else:
        workloads = [
            ("mlp20", build_mlp, 20),
            ("mlp200", build_mlp, 200),
            ("loglik", build_loglik, loglik_terms_for(10_000)),
        ]
    if args.only:
        wanted = set(args.only.split(","))
        workloads = [w for w in workloads if w[0] in wanted]

    print(environment_line())
    print(f"# passes (FAST_RUN): {', '.join(p.name for p in FAST_RUN.rewrite_passes())}")
    all_rows, breakdowns, verdicts = [], [], []
    for name, builder, arg in workloads:
        label = f"{name} ({'layers' if builder is build_mlp else 'terms'}={arg})"
        start = time.perf_counter()
        rows, passes, rewrite_ms = run_case(label, builder, arg, runs, fn_runs, not args.no_pytensor)
        print(f"# {label}: measured in {time.perf_counter() - start:.1f} s", flush=True)
        all_rows += rows
        breakdowns.append((label, passes))
        if name in TARGETS_MS and not args.quick:
            target = TARGETS_MS[name]
            verdicts.append(f"{name}: {rewrite_ms:.1f} ms vs target {target:.0f} ms -> "
                            f"{'met' if rewrite_ms < target else 'NOT met'}")

    print(f"\nRewrite time and graph size (medians of {runs} runs; function() of {fn_runs})\n")
    print("| workload | system | nodes before | nodes after | median ms | function() ms |")
    print("|---|---|---:|---:|---:|---:|")
    for workload, system, before, after, ms, fn_ms in all_rows:
        fn_text = f"{fn_ms:.1f}" if fn_ms != "" else ""
        print(f"| {workload} | {system} | {before} | {after} | {ms:.1f} | {fn_text} |")

    print("\nPer pass (one FAST_RUN rewrite; ms, nodes after the pass)\n")
    names = [p[0] for p in breakdowns[0][1]] if breakdowns else []
    print("| workload | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, passes in breakdowns:
        print(f"| {label} | " + " | ".join(f"{s * 1e3:.1f} ({n})" for _, s, n in passes) + " |")

    print()
    for name, ms in PYTENSOR_REFERENCE_MS.items():
        print(f"# reference: PyTensor's FAST_RUN rewrite of {name} takes about {ms:.0f} ms (issue #4)")
    for verdict in verdicts:
        print(f"# target {verdict}")
    if args.quick:
        print("# --quick: tiny graphs, numbers mean nothing")


if __name__ == "__main__":
    main()
