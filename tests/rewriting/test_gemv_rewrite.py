"""The specialise rule ``y + dot(A, x)`` -> ``Gemv`` (local_add_dot_to_gemv)."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.compile.mode import get_mode
from symgraph.tensor.blas import Gemv
from symgraph.tensor.products import Dot
from symgraph.testing import check_rewrite

NO_FUSION = get_mode("FAST_RUN").excluding("fusion")


def _inputs(dtype="float64", m=5, n=4, seed=0):
    r = np.random.default_rng(seed)
    A, x, y, z = st.matrix("A", dtype=dtype), st.vector("x", dtype=dtype), st.vector("y", dtype=dtype), st.vector("z", dtype=dtype)
    vals = [r.normal(size=(m, n)).astype(dtype), r.normal(size=n).astype(dtype), r.normal(size=m).astype(dtype), r.normal(size=m).astype(dtype)]
    return (A, x, y, z), vals


def _scales(fgraph):
    """``(alpha, beta)`` of the single Gemv node of ``fgraph``."""
    (node,) = [n for n in fgraph.toposort() if isinstance(n.op, Gemv)]
    return float(node.inputs[1].data), float(node.inputs[4].data)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "build, scales",
    [
        (lambda A, x, y: y + st.dot(A, x), (1, 1)),
        (lambda A, x, y: st.dot(A, x) + y, (1, 1)),
        (lambda A, x, y: A @ x + y, (1, 1)),
        (lambda A, x, y: y - st.dot(A, x), (-1, 1)),
        (lambda A, x, y: st.dot(A, x) - y, (1, -1)),
        (lambda A, x, y: -st.dot(A, x) + y, (-1, 1)),
        (lambda A, x, y: 2.5 * st.dot(A, x) + y * 3.0, (2.5, 3)),
        (lambda A, x, y: st.dot(A, x) * -0.5 - y, (-0.5, -1)),
    ],
)
def test_rewritten(dtype, build, scales):
    (A, x, y, _), vals = _inputs(dtype)
    out = build(A, x, y)
    fg = check_rewrite([A, x, y], out, vals[:3], present=[Gemv], absent=[Dot], mode=NO_FUSION)
    assert _scales(fg) == scales
    # Default FAST_RUN (fusion and in-place included) agrees too.
    check_rewrite([A, x, y], out, vals[:3], present=[Gemv], absent=[Dot])


def test_more_terms_keep_the_rest_of_the_sum():
    (A, x, y, z), vals = _inputs()
    fg = check_rewrite([A, x, y, z], y + st.dot(A, x) + z, vals, present=[Gemv], absent=[Dot], mode=NO_FUSION)
    assert len([n for n in fg.toposort() if isinstance(n.op, Gemv)]) == 1


def test_lone_dot_not_rewritten():
    (A, x, _, _), vals = _inputs()
    check_rewrite([A, x], st.dot(A, x), vals[:2], present=[Dot], absent=[Gemv], mode=NO_FUSION)


def test_shared_dot_not_rewritten():
    # The product is also an output (or read elsewhere): Gemv would compute it twice.
    (A, x, y, z), vals = _inputs()
    d = st.dot(A, x)
    check_rewrite([A, x, y], [d + y, d], vals[:3], present=[Dot], absent=[Gemv], mode=NO_FUSION)
    check_rewrite([A, x, y, z], [d + y, d * z], vals, present=[Dot], absent=[Gemv], mode=NO_FUSION)


def test_shared_scaling_not_folded():
    # 2 * dot is read twice: it must be computed once, not folded into alpha.
    (A, x, y, z), vals = _inputs()
    s = 2.0 * st.dot(A, x)
    check_rewrite([A, x, y, z], [s + y, s * z], vals, absent=[Gemv], mode=NO_FUSION)


def test_symbolic_scale_not_folded():
    (A, x, y, _), vals = _inputs()
    s = st.scalar("s")
    check_rewrite([A, x, y, s], s * st.dot(A, x) + y, vals[:3] + [np.asarray(1.5)], absent=[Gemv], mode=NO_FUSION)


def test_other_dot_ranks_not_rewritten():
    r = np.random.default_rng(0)
    A, B, x, y = st.matrix("A"), st.matrix("B"), st.vector("x"), st.vector("y")
    # vector . matrix, vector . vector, matrix . matrix
    check_rewrite([A, x, y], st.dot(x, A) + y, [r.normal(size=(3, 4)), r.normal(size=3), r.normal(size=4)], absent=[Gemv], mode=NO_FUSION)
    check_rewrite([x, y], st.dot(x, y) + y, [r.normal(size=3), r.normal(size=3)], absent=[Gemv], mode=NO_FUSION)
    check_rewrite([A, B], st.dot(A, B) + A, [r.normal(size=(3, 3)), r.normal(size=(3, 3))], absent=[Gemv], mode=NO_FUSION)


def test_dtype_mismatches_not_rewritten():
    r = np.random.default_rng(0)
    A32, x32, y64 = st.matrix("A", dtype="float32"), st.vector("x", dtype="float32"), st.vector("y")
    vals = [r.normal(size=(3, 2)).astype("float32"), r.normal(size=2).astype("float32"), r.normal(size=3)]
    check_rewrite([A32, x32, y64], st.dot(A32, x32) + y64, vals, absent=[Gemv], mode=NO_FUSION)
    Ai, xi, yi = st.matrix("A", dtype="int64"), st.vector("x", dtype="int64"), st.vector("y", dtype="int64")
    ivals = [np.arange(6).reshape(3, 2), np.arange(2), np.arange(3)]
    check_rewrite([Ai, xi, yi], st.dot(Ai, xi) + yi, ivals, absent=[Gemv], mode=NO_FUSION)


def test_broadcasting_y_not_rewritten():
    r = np.random.default_rng(0)
    A, x, y1 = st.matrix("A"), st.vector("x"), st.vector("y", shape=(1,))
    check_rewrite([A, x, y1], st.dot(A, x) + y1, [r.normal(size=(3, 2)), r.normal(size=2), r.normal(size=1)], absent=[Gemv], mode=NO_FUSION)
    # Both length 1: same broadcast pattern, rewritten.
    A1 = st.matrix("A", shape=(1, None))
    check_rewrite([A1, x, y1], st.dot(A1, x) + y1, [r.normal(size=(1, 2)), r.normal(size=2), r.normal(size=1)], present=[Gemv], mode=NO_FUSION)


def test_static_shapes_kept():
    r = np.random.default_rng(0)
    A, x, y = st.matrix("A", shape=(3, 2)), st.vector("x"), st.vector("y")
    out = st.dot(A, x) + y
    fg = check_rewrite([A, x, y], out, [r.normal(size=(3, 2)), r.normal(size=2), r.normal(size=3)], present=[Gemv], mode=NO_FUSION)
    assert fg.outputs[0].type.shape == (3,)


def test_inputs_not_modified_and_nan_propagates():
    (A, x, y, _), vals = _inputs()
    vals[2][1] = np.nan
    vals[0][3, 0] = np.inf
    copies = [v.copy() for v in vals[:3]]
    f = sg.function([A, x, y], y + st.dot(A, x))
    got = f(*vals[:3])
    for v, c in zip(vals[:3], copies):
        np.testing.assert_array_equal(v, c)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, vals[2] + vals[0] @ vals[1])


def test_mlp_gradient_values_agree():
    # A layer with a vector input, and its gradient (which contains dot(A.T, g) terms).
    r = np.random.default_rng(0)
    W, b, v = st.matrix("W"), st.vector("b"), st.vector("v")
    h = st.tanh(st.dot(W, v) + b)
    cost = (h**2).sum()
    gW, gb, gv = sg.grad(cost, [W, b, v])
    vals = [r.normal(size=(4, 3)), r.normal(size=4), r.normal(size=3)]
    check_rewrite([W, b, v], [cost, gW, gb, gv], vals, present=[Gemv])
