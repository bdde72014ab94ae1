"""Profiling compiled functions: sg.function(..., profile=True), f.profile (ProfileStats)."""

import io
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.testing import PythonOnlyReverse
from symgraph import config
from symgraph.compile.function import Function
from symgraph.compile.profiling import ProfiledFunction, ProfileStats
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op

pytestmark = pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning")

C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")




class Sleepy(Op):
    """Copies its input after sleeping 20 ms: the thunk the profile must put first."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        time.sleep(0.02)
        output_storage[0][0] = inputs[0].copy()


class FailsOnNegative(Op):
    """Raises ValueError when its input has a negative entry."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        if (inputs[0] < 0).any():
            raise ValueError("negative entry found by FailsOnNegative")
        output_storage[0][0] = inputs[0].copy()


def _graph():
    x = st.dvector("x")
    y = st.dvector("y")
    return [x, y], [st.exp(x) * 2 + y, st.log1p(x * x).sum() + st.dot(x, y)]


def _values(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(n), rng.random(n)


def _check_consistent(stats, n_calls, n_thunks=None):
    data = stats.as_dict()
    assert data["calls"] == n_calls == stats.calls
    (fn,) = data["functions"]
    assert fn["vm_runs"] == n_calls
    rows = data["thunks"]
    if n_thunks is not None:
        assert len(rows) == n_thunks
    for row in rows:
        assert row["calls"] == n_calls
        assert row["time"] > 0
    # Each thunk is timed inside the VM's run, and the run inside __call__.
    assert 0 < data["thunk_time"] <= data["vm_time"] <= data["call_time"]
    assert data["thunk_time"] == pytest.approx(sum(r["time"] for r in rows))
    return data


@pytest.mark.parametrize("mode", [PY_MODE, C_MODE], ids=["py", "c"])
def test_counts_and_times_several_nodes(mode):
    inputs, outputs = _graph()
    f = sg.function(inputs, outputs, mode=mode, profile=True, name="several")
    plain = sg.function(inputs, outputs, mode=mode)
    values = _values()
    for _ in range(7):
        got = f(*values)
    for a, b in zip(got, plain(*values)):
        np.testing.assert_allclose(a, b)
    assert isinstance(f.profile, ProfileStats) and isinstance(f, ProfiledFunction)
    data = _check_consistent(f.profile, 7, n_thunks=len(f.vm.thunks))
    assert f.vm.profiling and getattr(f.vm.run, "timed", False)
    compile_info = data["functions"][0]
    assert compile_info["nodes_before_rewriting"] >= compile_info["nodes_after_rewriting"] >= 1
    assert compile_info["nodes_after_rewriting"] == len(f.maker.fgraph.apply_nodes)
    assert 0 < compile_info["rewrite_time"] < compile_info["compile_time"]
    assert 0 < compile_info["link_time"] < compile_info["compile_time"]
    impl = "c" if mode is C_MODE else "py"
    assert {r["impl"] for r in data["thunks"]} == {impl}
    assert set(data["implementations"]) == {impl}
    assert sum(r["nodes"] for r in data["op_classes"]) == len(f.vm.nodes)
    text = io.StringIO()
    f.profile.summary(file=text)
    text = text.getvalue()
    assert "several" in text and "calls: 7" in text
    for node in f.vm.nodes:
        assert type(node.op).__name__ in text
    json.dumps(data)  # plain data


def test_c_region_row_lists_its_nodes_next_to_a_python_op():
    x = st.dvector("x")
    y = PythonOnlyReverse()(st.exp(x) * 2 + 1)
    out = st.sqrt(y).sum() * 3
    f = sg.function([x], out, mode=C_MODE, profile=True, name="mixed")
    value = np.linspace(0.5, 2.0, 9)
    for _ in range(5):
        got = f(value)
    np.testing.assert_allclose(got, (np.sqrt(np.exp(value) * 2 + 1)).sum() * 3)
    data = _check_consistent(f.profile, 5, n_thunks=len(f.vm.thunks))
    rows = data["thunks"]
    py_rows = [r for r in rows if r["impl"] == "py"]
    c_rows = [r for r in rows if r["impl"] == "c"]
    assert [r["op_classes"] for r in py_rows] == [["PythonOnlyReverse"]]
    assert c_rows, f.implementations()
    # The regions together run every node but the Python one.
    assert sum(len(r["nodes"]) for r in c_rows) == len(f.vm.nodes) - 1
    multi = [r for r in c_rows if len(r["nodes"]) > 1]
    assert multi, [r["description"] for r in c_rows]
    row = multi[0]
    assert row["description"].startswith(f"C region: {len(row['nodes'])} nodes (")
    for op in row["ops"]:
        assert op[:30] in row["description"]
    text = f.profile.summary_text()
    assert f"C region: {len(row['nodes'])} nodes" in text and "PythonOnlyReverse" in text
    assert set(data["implementations"]) == {"c", "py"}
    assert data["implementations"]["py"]["nodes"] == 1


@pytest.mark.parametrize("mode", [PY_MODE, C_MODE], ids=["py", "c"])
def test_slow_thunk_comes_first(mode):
    x = st.dvector("x")
    out = (Sleepy()(st.exp(x) + 1) * 2).sum()
    f = sg.function([x], out, mode=mode, profile=True, name="sleepy_fn")
    for _ in range(3):
        f(np.ones(20))
    data = _check_consistent(f.profile, 3)
    first = data["thunks"][0]
    assert first["op_classes"] == ["Sleepy"] and first["impl"] == "py"
    assert first["time"] >= 3 * 0.02 * 0.9
    assert first["time"] / data["thunk_time"] > 0.5
    assert data["op_classes"][0]["op_class"] == "Sleepy"
    lines = f.profile.summary_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Thunks, slowest first"))
    first_row = lines[header + 2]
    assert "Sleepy" in first_row
    share = float(first_row.split("%")[0])
    assert share > 50.0
    assert "sleepy_fn" in lines[0]


def test_n_rows_limits_the_tables():
    inputs, outputs = _graph()
    f = sg.function(inputs, outputs, mode=PY_MODE, profile=True)
    f(*_values())
    n = len(f.vm.thunks)
    assert n >= 3
    text = f.profile.summary_text(n_rows=1)
    assert f"(1 of {n})" in text and f"... {n - 1} more thunks" in text


def test_profile_off_uses_the_untimed_runner():
    inputs, outputs = _graph()
    for mode in (PY_MODE, C_MODE):
        f = sg.function(inputs, outputs, mode=mode)
        assert f.profile is None and type(f) is Function
        assert not f.vm.profiling
        assert f._run is f.vm.run and not getattr(f.vm.run, "timed", False)
        assert f.vm.run.__name__ in ("run", "run_one", "run_clearing", "run_gc")
        f(*_values())
        g = sg.function(inputs, outputs, mode=mode, profile=False)
        assert g.profile is None and type(g) is Function and not getattr(g._run, "timed", False)
    # The calling code itself is untouched: profiled functions override __call__.
    assert Function.__call__ is not ProfiledFunction.__call__


def test_trust_input_and_keyword_calls_are_counted():
    x = st.dvector("x")
    f = sg.function([sg.In(x, name="x")], st.exp(x), mode=PY_MODE, profile=True, trust_input=True)
    f(np.ones(3))
    f(x=np.ones(3))
    assert f.profile.calls == 2


def test_shared_stats_accumulate_two_functions():
    stats = ProfileStats("both")
    x = st.dvector("x")
    f = sg.function([x], st.exp(x), mode=PY_MODE, profile=stats, name="first")
    g = sg.function([x], st.log1p(x) * 3, mode=C_MODE, profile=stats, name="second")
    assert f.profile is stats and g.profile is stats
    for _ in range(3):
        f(np.ones(4))
    for _ in range(2):
        g(np.ones(4))
    data = stats.as_dict()
    assert stats.functions == ["first", "second"]
    assert data["calls"] == 5
    per_fn = {fn["name"]: fn for fn in data["functions"]}
    assert per_fn["first"]["calls"] == 3 and per_fn["second"]["calls"] == 2
    assert {r["function"] for r in data["thunks"]} == {"first", "second"}
    assert data["call_time"] == pytest.approx(per_fn["first"]["call_time"] + per_fn["second"]["call_time"])
    text = stats.summary_text()
    assert "both" in text and "[first]" in text and "[second]" in text
    assert "2 functions" in repr(stats) and "5 calls" in repr(stats)


def test_reset_zeroes_counts_in_place():
    inputs, outputs = _graph()
    f = sg.function(inputs, outputs, mode=PY_MODE, profile=True)
    f(*_values())
    rewrite = f.profile.rewrite_time
    f.profile.reset()
    assert f.profile.calls == 0 and f.profile.thunk_time == 0 and f.profile.vm_time == 0
    assert f.profile.rewrite_time == rewrite > 0
    f(*_values())  # the runner still writes into the same (zeroed) lists
    _check_consistent(f.profile, 1)


def test_copy_keeps_profiling_in_the_same_rows():
    inputs, outputs = _graph()
    f = sg.function(inputs, outputs, mode=C_MODE, profile=True)
    g = f.copy()
    assert type(g) is ProfiledFunction and g.profile is f.profile and g.vm is not f.vm
    f(*_values())
    g(*_values())
    g(*_values())
    data = _check_consistent(f.profile, 3, n_thunks=len(f.vm.thunks))
    assert data["functions"][0]["links"] == 2


@pytest.mark.parametrize("mode", [PY_MODE, C_MODE], ids=["py", "c"])
def test_pickle_round_trip_keeps_the_counts(mode):
    inputs, outputs = _graph()
    f = sg.function(inputs, outputs, mode=mode, profile=True, name="pickled")
    values = _values()
    expected = f(*values)
    f(*values)
    g = pickle.loads(pickle.dumps(f))
    assert type(g) is ProfiledFunction and isinstance(g.profile, ProfileStats)
    assert g.profile is not f.profile and g.profile.calls == 2
    got = g(*values)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b)
    _check_consistent(g.profile, 3, n_thunks=len(g.vm.thunks))
    assert f.profile.calls == 2
    assert g.vm.profiling and getattr(g._run, "timed", False)
    # An unprofiled function stays unprofiled through pickling.
    h = pickle.loads(pickle.dumps(sg.function(inputs, outputs, mode=mode)))
    assert h.profile is None and type(h) is Function and not h.vm.profiling


def test_errors_still_name_the_node_and_line():
    x = st.dvector("x")
    bad = FailsOnNegative()(st.exp(x) - 2)  # the line the message must show
    f = sg.function([x], bad.sum(), mode=C_MODE, profile=True)
    assert f(np.ones(3)) == pytest.approx(3 * (np.e - 2))
    with pytest.raises(ValueError) as info:
        f(np.zeros(3))
    message = str(info.value)
    assert "negative entry found by FailsOnNegative" in message
    assert "Apply node that caused the error: FailsOnNegative" in message
    assert "test_profiling.py" in message and "bad = FailsOnNegative()" in message
    # A failing call is counted, a failing thunk is not.
    data = f.profile.as_dict()
    assert data["calls"] == 2 and data["functions"][0]["vm_runs"] == 2
    row = next(r for r in data["thunks"] if r["op_classes"] == ["FailsOnNegative"])
    assert row["calls"] == 1


def test_errors_inside_a_c_region_name_the_node():
    x = st.dvector("x")
    y = st.dvector("y")
    f = sg.function([x, y], st.exp(x) + y, mode=C_MODE, profile=True)
    assert f.implementations() == ["c"]
    with pytest.raises(ValueError, match="Apply node that caused the error: Composite"):
        f(np.ones(3), np.ones(4))


def test_config_profile_turns_profiling_on():
    x = st.dvector("x")
    assert config.profile is False
    config.profile = True
    f = sg.function([x], st.exp(x), mode=PY_MODE)
    assert isinstance(f.profile, ProfileStats) and type(f) is ProfiledFunction
    f(np.ones(2))
    assert f.profile.calls == 1
    g = sg.function([x], st.exp(x), mode=PY_MODE, profile=False)
    assert g.profile is None
    config.profile = "0"
    assert sg.function([x], st.exp(x), mode=PY_MODE).profile is None
    with pytest.raises(ValueError, match="config.profile"):
        config.profile = "sometimes"
    with pytest.raises(TypeError, match="profile must be"):
        sg.function([x], st.exp(x), profile="yes")


def test_config_profile_reaches_opfromgraph_inner_functions():
    x = st.dvector("x")
    inner = sg.OpFromGraph([x], [st.exp(x) * 2])
    config.profile = True
    f = sg.function([x], inner(x) + 1, mode=PY_MODE)
    np.testing.assert_allclose(f(np.zeros(2)), [3.0, 3.0])
    assert inner.fn.profile is not None and inner.fn.profile.calls == 1


def test_symgraph_profile_environment_variable():
    code = (
        "import numpy as np, symgraph as sg, symgraph.tensor as st\n"
        "x = st.dvector('x')\n"
        "f = sg.function([x], st.exp(x), name='env_fn', mode=sg.Mode(linker='py'))\n"
        "f(np.ones(2))\n"
        "print(sg.config.profile, f.profile.calls, repr(f.profile))\n"
    )
    env = dict(os.environ, SYMGRAPH_PROFILE="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("True 1 <ProfileStats 'env_fn'")


_AT_EXIT_SCRIPT = """
import numpy as np, symgraph as sg, symgraph.tensor as st
x = st.dvector('x')
called = sg.function([x], st.exp(x), name='called_fn', mode=sg.Mode(linker='py'))
never = sg.function([x], st.log(x), name='never_called_fn', mode=sg.Mode(linker='py'))
explicit = sg.function([x], st.sin(x), name='explicit_fn', mode=sg.Mode(linker='py'), profile=sg.ProfileStats('mine'))
for _ in range(3):
    called(np.ones(2))
explicit(np.ones(2))
print('end of script')
"""


@pytest.mark.parametrize("env_profile", ["1", "0"])
def test_config_profile_prints_summaries_at_exit(env_profile):
    """With SYMGRAPH_PROFILE=1 the called functions' summaries go to stderr at exit; never
    called ones and those given their own ProfileStats print nothing; without it, nothing."""
    env = dict(os.environ, SYMGRAPH_PROFILE=env_profile)
    res = subprocess.run([sys.executable, "-c", _AT_EXIT_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "end of script"
    if env_profile == "0":
        assert "Function profile" not in res.stderr
        return
    assert "Function profile: called_fn" in res.stderr and "calls: 3" in res.stderr
    assert "never_called_fn" not in res.stderr and "explicit_fn" not in res.stderr and "mine" not in res.stderr


def test_vm_enable_profiling_checks_sizes_and_can_be_undone():
    x = st.dvector("x")
    f = sg.function([x], st.exp(x) * 2 + 1, mode=PY_MODE)
    vm = f.vm
    untimed = vm.run
    n = len(vm.thunks)
    with pytest.raises(ValueError):
        vm.enable_profiling([0.0] * (n + 1), [0] * n, [0.0, 0])
    times, calls, totals = [0.0] * n, [0] * n, [0.0, 0]
    vm.enable_profiling(times, calls, totals)
    vm.input_storage[0][0] = np.ones(2)
    vm()
    assert calls == [1] * n and totals[1] == 1 and 0 < sum(times) <= totals[0]
    vm.disable_profiling()
    assert vm.run is untimed and not vm.profiling


# ---------------------------------------------------------------- nodes timed inside C regions


def _region_thunk(f):
    (thunk,) = [t for t in f.vm.thunks if getattr(t, "time_nodes", None) is not None]
    return thunk


def test_c_region_times_each_node():
    # a 300x300 product beside cheap nodes, all in one region: the product is the slowest
    # node, the node times add up to at most the region's time, every node is listed
    a, b = st.dmatrix("a"), st.dmatrix("b")
    f = sg.function([a, b], [(a @ b).sum(), a.shape[0] + 1], mode=C_MODE, profile=True)
    rng = np.random.default_rng(0)
    args = rng.standard_normal((300, 300)), rng.standard_normal((300, 300))
    for _ in range(5):
        f(*args)
    data = f.profile.as_dict()
    (thunk,) = data["thunks"]
    assert thunk["impl"] == "c" and len(thunk["nodes"]) >= 3
    times = thunk["node_times"]
    assert len(times) == len(thunk["nodes"]) and all(t >= 0 for t in times)
    assert 0 < sum(times) <= thunk["time"]
    assert data["nodes"][0]["op_class"] == "Dot" and data["nodes"][0]["time"] > 0.5 * sum(times)
    assert data["c_region_own_time"] == pytest.approx(thunk["time"] - sum(times), abs=1e-12)
    assert {row["node"] for row in data["nodes"]} == set(thunk["nodes"])
    assert data["op_classes"][0]["op_class"] == "Dot"
    text = f.profile.summary_text()
    assert "Nodes, slowest first" in text and "C regions outside their nodes" in text
    # reset zeroes the memory the region writes into, and timing goes on afterwards
    f.profile.reset()
    assert f.profile.as_dict()["thunks"][0]["node_times"] == [0.0] * len(times)
    f(*args)
    assert sum(f.profile.as_dict()["thunks"][0]["node_times"]) > 0


def test_time_nodes_checks_its_argument_and_can_stop():
    x = st.dvector("x")
    f = sg.function([x], [st.exp(x).sum(), x.shape[0]], mode=C_MODE)
    thunk = _region_thunk(f)
    value = np.linspace(0, 1, 1000)
    for bad in (np.zeros(4, dtype=np.float32), np.zeros((2, 4)), np.zeros(8)[::2], [0.0, 0.0]):
        with pytest.raises(TypeError, match="float64 vector"):
            thunk.time_nodes(bad)
    n = len(f.vm.thunk_nodes[f.vm.thunks.index(thunk)])
    times = np.zeros(n)
    thunk.time_nodes(times)
    f(value)
    assert times.sum() > 0
    thunk.time_nodes(None)
    before = times.copy()
    f(value)
    np.testing.assert_array_equal(times, before)
    # a vector too short for the region's nodes is never written to (no timing at all)
    short = np.zeros(n - 1)
    thunk.time_nodes(short)
    f(value)
    assert not short.any()
    thunk.time_nodes(None)

