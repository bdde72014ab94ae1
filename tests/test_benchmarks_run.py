"""The benchmark scripts run (in their tiny --quick mode) and print a table.

Only that they work is tested here; how fast symgraph is belongs to the benchmarks themselves.
"""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
# Every benchmark script runs; the workloads the design notes name must all be there.
EXPECTED = ["bench_call_overhead.py", "bench_elemwise.py", "bench_logsumexp.py", "bench_mlp.py", "bench_rewrite.py"]
SCRIPTS = sorted({p.name for p in (REPO / "benchmarks").glob("bench_*.py")} | set(EXPECTED))


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_runs_quick(name):
    script = REPO / "benchmarks" / name
    assert script.is_file(), f"missing {script}"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.splitlines()
    # a table: a header row with a "median" column, a rule, and one row per measured system
    header = [i for i, line in enumerate(lines) if "median" in line and "|" in line]
    assert header, f"{name} printed no table:\n{proc.stdout}"
    rows = [line for line in lines[header[0] + 2 :] if line.startswith("|")]
    assert any("symgraph" in row for row in rows), proc.stdout
    assert any("numpy" in row.lower() or "python" in row.lower() for row in rows), proc.stdout
