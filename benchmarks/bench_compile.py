"""Workload W5: how long compiling W4's function (MLP loss and two gradients) takes.

Each measurement runs in a FRESH Python process (imports done before the clock starts), so
nothing is cached in memory:

- **cold**: an empty compilation cache directory, so the C compiler runs;
- **warm**: the same directory again, so the module comes from the disk cache (rewriting,
  code generation and loading the module are still paid).

symgraph is measured with its default mode (C) and with the Python linker; PyTensor (its C
backend, a fresh ``compiledir`` for the cold run) and JAX (``jit`` + first call, which is
where JAX compiles; its persistent cache enabled in a fresh directory) when installed.
Medians over ``--rounds`` fresh processes each.

Usage: ``python benchmarks/bench_compile.py [--quick] [--rounds N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from _bench_utils import environment_line, optional_import

_SYMGRAPH = """
import time, numpy as np
import symgraph as sg, symgraph.tensor as st
X, W1, W2 = st.dmatrix("X"), st.dmatrix("W1"), st.dmatrix("W2")
y = st.lvector("y")
start = time.perf_counter()
logits = st.tanh(X @ W1) @ W2
loss = st.mean(st.logsumexp(logits, axis=1) - logits[st.arange(X.shape[0]), y])
gW1, gW2 = sg.grad(loss, [W1, W2])
f = sg.function([X, W1, W2, y], [loss, gW1, gW2], mode=sg.Mode(linker=LINKER))
elapsed = time.perf_counter() - start
module = getattr(getattr(f.maker, "linker", None), "module", None)
print(elapsed, getattr(module, "__sg_compile_seconds__", 0.0))
"""

_PYTENSOR = """
import time, numpy as np
import pytensor, pytensor.tensor as pt
from pytensor.compile.mode import Mode
X, W1, W2 = pt.dmatrix("X"), pt.dmatrix("W1"), pt.dmatrix("W2")
y = pt.lvector("y")
start = time.perf_counter()
logits = pt.tanh(X @ W1) @ W2
loss = pt.mean(pt.logsumexp(logits, axis=1) - logits[pt.arange(X.shape[0]), y])
gW1, gW2 = pytensor.grad(loss, [W1, W2])
f = pytensor.function([X, W1, W2, y], [loss, gW1, gW2], mode=Mode(linker="cvm", optimizer="fast_run"))
print(time.perf_counter() - start)
"""

_JAX = """
import time, numpy as np
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
X = np.zeros((512, 256)); W1 = np.zeros((256, 256)); W2 = np.zeros((256, 10)); y = np.zeros(512, dtype=np.int64)
start = time.perf_counter()
def loss_fn(W1, W2, X, y):
    logits = jnp.tanh(X @ W1) @ W2
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(X.shape[0]), y])
f = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
jax.block_until_ready(f(W1, W2, X, y))
print(time.perf_counter() - start)
"""


def _run(script: str, env: dict) -> tuple[float, float]:
    """``(seconds, C compiler seconds)`` printed by ``script`` (the second is 0 if absent)."""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"compile benchmark subprocess failed:\n{out.stderr}")
    values = [float(v) for v in out.stdout.strip().splitlines()[-1].split()]
    return values[0], (values[1] if len(values) > 1 else 0.0)


def _cold_and_warm(make_script, rounds: int, env_for) -> tuple[float, float, float]:
    """Medians of (cold seconds, warm seconds, compiler seconds of the cold runs)."""
    cold, warm, compiler = [], [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            env = env_for(cache)
            script = make_script(cache)
            seconds, compile_seconds = _run(script, env)
            cold.append(seconds)
            compiler.append(compile_seconds)
            warm.append(_run(script, env)[0])
    return statistics.median(cold), statistics.median(warm), statistics.median(compiler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (used by the test suite)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    # Python's bytecode cache on, as on a user's machine (a sandbox that sets
    # PYTHONDONTWRITEBYTECODE recompiles every lazily imported module in each fresh process:
    # that measures Python's compiler, not the systems compared here).
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows = []
    for linker in ("c", "py"):

        def env_for(cache: str) -> dict:
            return {**base_env, "SYMGRAPH_COMPILEDIR": cache}

        cold, warm, gcc = _cold_and_warm(lambda cache, l=linker: _SYMGRAPH.replace("LINKER", repr(l)), rounds, env_for)
        rows.append((f"symgraph, {'C' if linker == 'c' else 'Python'} linker", cold, warm, gcc if linker == "c" else None))
    if not args.quick and optional_import("pytensor") is not None:
        cold, warm, _ = _cold_and_warm(
            lambda cache: _PYTENSOR, rounds, lambda cache: {**base_env, "PYTENSOR_FLAGS": f"compiledir={cache}"}
        )
        rows.append(("pytensor (C)", cold, warm, None))
    if not args.quick and optional_import("jax") is not None:
        cold, warm, _ = _cold_and_warm(lambda cache: _JAX.replace("CACHE", repr(cache)), rounds, lambda cache: base_env)
        rows.append(("jax (jit + first call)", cold, warm, None))

    print(environment_line())
    print(f"W5: compile W4's function (MLP loss + 2 gradients) in a fresh process, medians of {rounds}\n")
    print("| system | median cold s | median warm s | of which C compiler (cold) s |")
    print("|---|---:|---:|---:|")
    for name, cold, warm, gcc in rows:
        print(f"| {name} | {cold:.3f} | {warm:.3f} | {'' if gcc is None else f'{gcc:.3f}'} |")

if __name__ == "__main__":
    main()
