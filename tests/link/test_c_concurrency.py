"""Four processes compile the same graph with the C linker on an empty cache at once.

All must succeed with correct results, the compiler must run once (the others wait on the
key's lock and load the finished module), and the cache must hold one entry.
"""

import json
import subprocess
import sys
import time

import pytest

from symgraph.link.c.build import toolchain_problem

pytestmark = pytest.mark.skipif(toolchain_problem() is not None, reason="no C toolchain")

_WORKER = r"""
import os, sys, time, json
import numpy as np
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.01)
import symgraph as sg, symgraph.tensor as st
x = st.dmatrix("x")
y = st.dvector("y")
out = (st.tanh(x @ y) * 2 + st.exp(-x).sum(axis=1)).sum()
f = sg.function([x, y], out, mode=sg.Mode(linker="c"))
xv = np.arange(12.0).reshape(3, 4) / 10
yv = np.linspace(-1, 1, 4)
value = float(f(xv, yv))
expected = float((np.tanh(xv @ yv) * 2 + np.exp(-xv).sum(axis=1)).sum())
module = f.maker.linker.module
print(json.dumps({"ok": abs(value - expected) < 1e-12, "built": not module.__sg_disk_cached__
                  and module.__sg_compile_seconds__ > 0, "impl": f.implementations()}))
"""


def test_four_processes_compile_one_graph_once(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    env = {**__import__("os").environ, "SYMGRAPH_COMPILEDIR": str(cache)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
        for _ in range(4)
    ]
    time.sleep(0.5)
    go.write_text("go")
    results = [p.communicate(timeout=300) for p in procs]
    reports = []
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["ok"] for r in reports)
    assert all(set(r["impl"]) == {"c"} for r in reports)
    assert sum(r["built"] for r in reports) == 1, reports  # one compiler run for four processes
    entries = [p for p in (cache / "modules").iterdir() if p.is_dir()]
    assert len(entries) == 1
