"""Compiled functions using every op family pickle, in-process and into a fresh process."""

import pickle
import subprocess
import sys

import numpy as np

import symgraph as sg
import symgraph.tensor as st


def _build():
    x = st.dmatrix("x")
    idx = st.lvector("idx")
    rng = sg.shared(np.random.default_rng(7), name="rng")
    _, noise = st.random.normal(rng, 0.0, 1.0, size=(2,))
    h = st.tanh(st.dot(x, x.T)) + st.log1p(st.exp(-x.sum(axis=1))).dimshuffle(0, "x")
    y = st.concatenate([h, h * 2.0], axis=1).reshape((-1,))
    z = st.set_subtensor(y[idx], 0.0)
    cost = (st.logsumexp(st.softmax(h, axis=1), axis=0) ** 2).sum() + z.cumsum()[-1]
    g = sg.grad(cost, x)
    return sg.function([x, idx], [cost, g, noise, st.max(x, axis=0)], name="families")


def _args():
    return np.arange(6.0).reshape(2, 3) / 5.0, np.array([0, 3], dtype="int64")


def test_pickle_round_trip_in_process():
    f = _build()
    g = pickle.loads(pickle.dumps(f))
    # Same values for the deterministic outputs; the random stream continues from the same state.
    for a, b in zip(f(*_args()), g(*_args())):
        np.testing.assert_allclose(a, b)


def test_pickle_round_trip_in_fresh_process(tmp_path):
    f = _build()
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(f))
    expected = f(*_args())
    script = (
        "import pickle, sys, numpy as np\n"
        f"f = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        "x = np.arange(6.0).reshape(2, 3) / 5.0\n"
        "out = f(x, np.array([0, 3], dtype='int64'))\n"
        "np.save(sys.argv[1], np.concatenate([np.ravel(o) for o in out]))\n"
    )
    result_path = tmp_path / "out.npy"
    subprocess.run([sys.executable, "-c", script, str(result_path)], check=True, timeout=120)
    np.testing.assert_allclose(np.load(result_path), np.concatenate([np.ravel(o) for o in expected]))
