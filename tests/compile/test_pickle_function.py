"""Pickling compiled functions, in the same process and in a fresh one."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np

import symgraph.tensor as st
from symgraph import In, function, shared
from symgraph.compile.mode import register_rewrite_pass, unregister_rewrite_pass


def _train_function():
    x = st.dvector("x")
    lr = st.dscalar("lr")
    w = shared(np.array([1.0, 2.0]), name="w")
    f = function([x, In(lr, value=1.0)], x * w, updates={w: w + x * lr}, name="train")
    return f, w


def test_round_trip_in_process():
    f, w = _train_function()
    np.testing.assert_array_equal(f([1.0, 1.0]), [1.0, 2.0])
    f2 = pickle.loads(pickle.dumps(f))
    assert f2.name == "train" and f2.maker.display_name == "train"
    w2 = f2.maker.inputs[2].variable
    assert w2 is not w and w2.name == "w"
    np.testing.assert_array_equal(w2.get_value(), [2.0, 3.0])  # the current value was pickled
    np.testing.assert_array_equal(f2([1.0, 1.0]), [2.0, 3.0])
    np.testing.assert_array_equal(w2.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0])  # the original is independent
    f2(x=[1.0, 1.0], lr=2.0)
    np.testing.assert_array_equal(w2.get_value(), [5.0, 6.0])


def test_trust_input_and_defaults_survive():
    x = st.dscalar("x")
    f = function([In(x, value=3.0)], x * 2, trust_input=True)
    f2 = pickle.loads(pickle.dumps(f))
    assert f2.trust_input
    assert f2() == 6.0
    g = function([x], x)
    g2 = pickle.loads(pickle.dumps(g))
    assert g2(np.array(4.0)) == 4.0


def test_shared_between_functions_stays_shared():
    s = shared(0.0, name="s")
    inc = function([], [], updates={s: s + 1})
    read = function([], s * 1)
    inc2, read2 = pickle.loads(pickle.dumps((inc, read)))
    inc2()
    inc2()
    assert read2() == 2.0
    assert s.get_value() == 0.0


def test_unpickling_does_not_rewrite_again():
    calls = []
    register_rewrite_pass("t_pickle_count", lambda fg: calls.append(1))
    try:
        x = st.dscalar("x")
        f = function([x], x * 2)
        assert len(calls) == 1
        f2 = pickle.loads(pickle.dumps(f))
        assert len(calls) == 1
        assert f2(2.0) == 4.0
    finally:
        unregister_rewrite_pass("t_pickle_count")


def test_state_input_value_pickled():
    x = st.dscalar("x")
    f = function([In(x, value=0.0, update=x + 1)], x * 1)
    f()
    f()
    f2 = pickle.loads(pickle.dumps(f))
    assert f2() == 2.0 and f2() == 3.0
    assert f() == 2.0


def test_round_trip_in_fresh_process(tmp_path):
    f, w = _train_function()
    f([1.0, 1.0])
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(f))
    script = textwrap.dedent(
        f"""
        import pickle
        with open({str(path)!r}, "rb") as fh:
            f = pickle.load(fh)
        out = f([1.0, 1.0])
        w = f.maker.inputs[2].variable
        print(out.tolist(), w.get_value().tolist(), f.name)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[2.0, 3.0] [3.0, 4.0] train"
