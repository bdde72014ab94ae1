"""Timing and reporting shared by the benchmark scripts.

Every system is timed in the same run, in interleaved rounds (the order rotates each round), so
that a slow phase of the machine hits all of them alike. Each round times a batch of calls sized
to take about ``target`` seconds; the reported number is the median over rounds of the time per
call.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import timeit
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One system to time: ``fn(*args)`` is the measured call."""

    name: str
    fn: object
    args: tuple
    note: str = ""
    setup_seconds: float | None = None  # compile/JIT time (first call included), if any
    samples: list = field(default_factory=list)
    number: int = 1

    def timer(self) -> timeit.Timer:
        names = [f"arg{i}" for i in range(len(self.args))]
        env = {"fn": self.fn, **dict(zip(names, self.args))}
        return timeit.Timer(f"fn({', '.join(names)})", globals=env)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def measure(cases: list[Case], rounds: int, target: float) -> None:
    """Fill ``case.samples`` with ``rounds`` per-call times for every case."""
    timers = [case.timer() for case in cases]
    for case, timer in zip(cases, timers):
        timer.timeit(1)  # warm up
        n = 1
        while True:  # grow the batch until it takes a fair share of the target
            t = timer.timeit(n)
            if t >= target / 5 or n >= 10**7:
                break
            n *= 5
        case.number = max(1, round(n * target / max(t, 1e-9)))
    for r in range(rounds):
        shift = r % len(cases)
        for i in list(range(shift, len(cases))) + list(range(shift)):
            case, timer = cases[i], timers[i]
            case.samples.append(timer.timeit(case.number) / case.number)


def assert_matches(result, expected, name: str, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Check ``result`` against ``expected`` (an array, or a list/tuple of arrays)."""
    if isinstance(expected, (list, tuple)):
        assert len(result) == len(expected), f"{name}: {len(result)} outputs, expected {len(expected)}"
        for i, (r, e) in enumerate(zip(result, expected)):
            np.testing.assert_allclose(np.asarray(r), e, rtol=rtol, atol=atol, err_msg=f"{name}, output {i}")
    else:
        np.testing.assert_allclose(np.asarray(result), expected, rtol=rtol, atol=atol, err_msg=name)


def compiled_case(name: str, build, inputs: tuple, expected, note: str = "", **tolerances) -> Case:
    """A :class:`Case` for the callable ``build()`` returns, after checking its result.

    ``build`` compiles (or jits) the function; the time it takes plus the first call is the
    case's ``setup_seconds``. The first call's result must match ``expected``.
    """
    start = time.perf_counter()
    fn = build()
    result = fn(*inputs)
    seconds = time.perf_counter() - start
    assert_matches(result, expected, name, **tolerances)
    return Case(name, fn, inputs, note, seconds)


def symgraph_linker_cases(graph_inputs: list, graph_outputs, inputs: tuple, expected, note: str = "") -> list[Case]:
    """symgraph's default mode (C) and its Python linker, compiling ``graph_inputs -> graph_outputs``."""
    import symgraph as sg

    suffix = f", {note}" if note else ""
    return [
        compiled_case("symgraph", lambda: sg.function(graph_inputs, graph_outputs), inputs, expected,
                      f"default mode: C{suffix}"),
        compiled_case("symgraph py", lambda: sg.function(graph_inputs, graph_outputs, mode=sg.Mode(linker="py")),
                      inputs, expected, f"Python linker{suffix}"),
    ]


def optional_import(name: str):
    """The module, or ``None`` (with a note on stdout) when it is not installed or broken."""
    try:
        return __import__(name)
    except ImportError:
        print(f"# {name}: not installed, skipped")
    except Exception as exc:  # a broken install should not stop the other measurements
        print(f"# {name}: import failed ({type(exc).__name__}: {exc}), skipped")
    return None


def pytensor_modes(pytensor) -> list[tuple[str, object]]:
    """``(case name, mode)`` pairs to time PyTensor with: its default mode, plus its C backend
    (the ``cvm`` linker) when the default is something else (Numba, from PyTensor 3 on)."""
    from pytensor.compile.mode import Mode, get_default_mode

    modes = [("pytensor", None)]
    if type(get_default_mode().linker).__name__ not in ("VMLinker", "CVMLinker"):
        modes.append(("pytensor C", Mode(linker="cvm", optimizer="fast_run")))
    return modes


def pytensor_function_cases(pytensor, graph_inputs: list, graph_outputs, inputs: tuple, expected) -> list[Case]:
    """One case per available PyTensor linker, each compiling ``graph_inputs -> graph_outputs``."""
    cases = []
    for name, mode in pytensor_modes(pytensor):
        build = lambda mode=mode: pytensor.function(graph_inputs, graph_outputs, mode=mode)  # noqa: E731
        case = compiled_case(name, build, inputs, expected)
        case.note = type(case.fn.maker.linker).__name__
        cases.append(case)
    return cases


def optional_jax():
    """JAX in 64-bit mode (the benchmarks compare float64 results), or None if not installed."""
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    return jax


def jax_case(jax, call, inputs: tuple, expected, note: str = "device arrays in, block_until_ready") -> list[Case]:
    """The ``jax.jit`` case: ``call`` runs on inputs already on the device, as a JAX program
    would hold them, and must wait for its result (``block_until_ready``)."""
    dev_inputs = tuple(jax.device_put(v) for v in inputs)
    return [compiled_case("jax.jit", lambda: call, dev_inputs, expected, note)]


def environment_line() -> str:
    return (
        f"# python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()} {os.cpu_count()} cpus, {sys.platform}"
    )


def print_table(title: str, cases: list[Case], unit: str, baseline: str) -> None:
    """Print a markdown table of medians, with each system's ratio to the ``baseline`` case."""
    scale = {"µs": 1e6, "ms": 1e3, "s": 1.0}[unit]
    base = next(c for c in cases if c.name == baseline).median
    print(f"\n{title}\n")
    print(f"| system | median {unit} | ratio vs {baseline} | compile ms | note |")
    print("|---|---:|---:|---:|---|")
    for case in cases:
        setup = "" if case.setup_seconds is None else f"{case.setup_seconds * 1e3:.1f}"
        print(
            f"| {case.name} | {case.median * scale:.3f} | {case.median / base:.2f} | {setup} | {case.note} |"
        )
    rounds = len(cases[0].samples)
    print(f"\n(medians of {rounds} rounds; ratio > 1 means slower than {baseline})")
