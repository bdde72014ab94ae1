"""Pass 6, fusion (symgraph/rewriting/fusion.py).

Every test builds the unfused graph, compiles it with FAST_RUN (which fuses) and
FAST_COMPILE (which does not) through ``check_rewrite``, checks the values agree and
checks the structure of the fused graph. Covers: the W1 expression becoming one node,
intermediates read elsewhere (or outputs) staying outside, broadcasting dimshuffles moved
to the inputs, embedded constants, mixed dtypes, non-elementwise ops splitting groups,
the size cap, run-time broadcast errors, inputs never modified, pickling of a fused
function, and a property test on random expression graphs.
"""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import symgraph.tensor as st
from symgraph import FunctionGraph, function
from symgraph.rewriting.fusion import MAX_NODES, fuse_elemwise
from symgraph.tensor.composite import Composite
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.fused_reduce import FusedReduce
from symgraph.testing import check_rewrite, graph_ops


def is_composite(op):
    return isinstance(op, Elemwise) and isinstance(op.scalar_op, Composite)


def is_plain_elemwise(op):
    return isinstance(op, Elemwise) and not isinstance(op.scalar_op, Composite)


def composites(fgraph):
    return [n for n in fgraph.toposort() if is_composite(n.op)]


def rand(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_w1_becomes_one_node():
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    out = st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y)
    fg = check_rewrite([x, y, z], out, [rand(50, seed=k) for k in range(3)], present=[is_composite], absent=[is_plain_elemwise])
    nodes = fg.toposort()
    assert len(nodes) == 1, nodes
    (node,) = nodes
    assert set(node.inputs) == set(fg.inputs)
    text = str(node.op)
    for piece in ("exp(", "log1p(", "tanh(", "Composite{"):
        assert piece in text


def test_fuse_directly_on_a_function_graph():
    x, y = st.dvector("x"), st.dvector("y")
    fg = FunctionGraph([x, y], [st.exp(x) + st.sin(y)], clone=False)
    assert fuse_elemwise(fg) == 1
    assert [str(n.op) for n in fg.toposort()] == ["Composite{exp(i0) + sin(i1)}"]
    assert fuse_elemwise(fg) == 0  # nothing left to fuse


def test_shared_intermediate_stays_outside():
    x, y = st.dvector("x"), st.dvector("y")
    e = st.exp(st.sin(x) + y)  # read twice, by two different nodes
    outs = [st.cos(e) * 2.0, st.sin(e) - y]
    fg = check_rewrite([x, y], outs, [rand(9), rand(9, seed=1)], present=[is_composite])
    # sin, + and exp fuse together; the two consumers each fuse with their own ops.
    assert len(composites(fg)) == 3
    for node in composites(fg):
        assert len(node.op.scalar_op.nodes) >= 2


def test_intermediate_that_is_an_output_stays_an_output():
    x = st.dvector("x")
    mid = st.exp(st.sin(x))
    out = st.cos(mid) * 3.0
    fg = check_rewrite([x], [mid, out], [rand(6)], present=[is_composite])
    # mid is an output: it is computed once, and the second composite reads it.
    (first, second) = composites(fg)
    assert fg.outputs[0] is first.outputs[0]
    assert first.outputs[0] in second.inputs


def test_intermediate_read_twice_by_one_node_is_fused():
    x = st.dvector("x")
    e = st.exp(x)
    fg = check_rewrite([x], e * e + 1.0, [rand(5)], present=[is_composite], absent=[is_plain_elemwise])
    assert len(fg.toposort()) == 1


def test_constants_are_embedded():
    x = st.fvector("x")
    fg = check_rewrite([x], st.tanh(x * 0.5) * 0.5 + 0.5, [rand(8, dtype="float32")], present=[is_composite])
    (node,) = fg.toposort()
    assert list(node.inputs) == [fg.inputs[0]]
    assert node.outputs[0].dtype == "float32"


def test_broadcast_dimshuffle_moves_to_the_inputs():
    v, m = st.dvector("v"), st.dmatrix("m")
    col = st.exp(v).dimshuffle(0, "x")  # an intermediate made a column
    out = st.log1p(col * col) + m
    fg = check_rewrite([v, m], out, [rand(3), rand(3, 4, seed=1)], present=[is_composite], absent=[is_plain_elemwise])
    (node,) = composites(fg)
    assert len(node.op.scalar_op.nodes) == 4  # exp, mul, log1p, add
    ds = [n for n in fg.toposort() if isinstance(n.op, DimShuffle)]
    assert ds and all(n.inputs[0] is fg.inputs[0] for n in ds)


def test_row_broadcasting_and_static_shapes():
    r = st.tensor(dtype="float64", shape=(1, None), name="r")
    m = st.dmatrix("m")
    out = st.sqrt(st.abs(r - m)) * st.exp(r)
    check_rewrite([r, m], out, [rand(1, 5), rand(4, 5, seed=2)], present=[is_composite], absent=[is_plain_elemwise])


@pytest.mark.parametrize(
    "dtypes",
    [("float32", "float32"), ("int32", "float32"), ("int8", "int64"), ("bool", "float64"), ("uint8", "int16")],
)
def test_mixed_dtypes(dtypes):
    a = st.tensor(dtype=dtypes[0], shape=(None,), name="a")
    b = st.tensor(dtype=dtypes[1], shape=(None,), name="b")
    out = st.where(a > b, st.exp(b), st.cast(a, "float32") * 2) + st.sqr(b)
    rng = np.random.default_rng(3)
    values = [
        (rng.random(7) > 0.5) if d == "bool" else (rng.integers(0, 4, 7) if d[0] in "iu" else rng.random(7)).astype(d)
        for d in dtypes
    ]
    check_rewrite([a, b], out, values, present=[is_composite], absent=[is_plain_elemwise])


def test_comparisons_and_boolean_logic():
    x, y = st.dvector("x"), st.dvector("y")
    out = st.cast(st.logical_and(st.gt(x, 0), st.isfinite(st.log(y))), "int8") + 1
    with np.errstate(invalid="ignore"):
        check_rewrite([x, y], out, [rand(10), rand(10, seed=4)], present=[is_composite], absent=[is_plain_elemwise])


def test_non_elemwise_ops_split_groups():
    x = st.dmatrix("x")
    s = st.sum(st.exp(x) * 2.0, axis=1)
    out = st.log(s + 1.0) * 3.0
    fg = check_rewrite([x], out, [rand(3, 4)], present=[is_composite], absent=[is_plain_elemwise])
    # The group before the sum ends in it (a FusedReduce holding that composite, see
    # test_fusion_reduce.py); the group after the sum is a separate composite.
    assert len(composites(fg)) == 1
    (red,) = [n for n in fg.toposort() if isinstance(n.op, FusedReduce)]
    assert isinstance(red.op.scalar_op, Composite)


def test_size_cap_splits_long_chains():
    x = st.dvector("x")
    out = x
    for k in range(2 * MAX_NODES + 10):
        out = st.sin(out) if k % 2 else st.cos(out)
    fg = check_rewrite([x], out, [rand(4)], present=[is_composite], absent=[is_plain_elemwise])
    assert len(composites(fg)) == 3
    assert all(len(n.op.scalar_op.nodes) <= MAX_NODES for n in composites(fg))


def test_runtime_broadcast_error_still_raised():
    x, y = st.dvector("x"), st.dvector("y")
    f = function([x, y], st.exp(x) * y + 1.0)
    assert composites(f.maker.fgraph)
    with pytest.raises(ValueError):
        f(np.ones(3), np.ones(1))
    with pytest.raises(ValueError):
        f(np.ones(3), np.ones(4))


def test_inputs_are_never_modified():
    x, y = st.dvector("x"), st.dvector("y")
    f = function([x, y], st.log1p(st.exp(x) * y * y) - st.tanh(y))
    vx, vy = rand(1000), rand(1000, seed=1)
    cx, cy = vx.copy(), vy.copy()
    r1 = f(vx, vy)
    r2 = f(vx, vy)
    np.testing.assert_array_equal(vx, cx)
    np.testing.assert_array_equal(vy, cy)
    np.testing.assert_array_equal(r1, r2)
    assert not np.shares_memory(r1, vx) and not np.shares_memory(r1, vy)


def test_pickled_fused_function():
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    f = function([x, y, z], st.exp(x) * y + st.log1p(z**2) - st.tanh(x * y))
    assert composites(f.maker.fgraph)
    g = pickle.loads(pickle.dumps(f))
    values = [rand(20, seed=k) for k in range(3)]
    np.testing.assert_array_equal(f(*values), g(*values))
    assert [str(n.op) for n in g.maker.fgraph.toposort()] == [str(n.op) for n in f.maker.fgraph.toposort()]


def test_fast_compile_does_not_fuse():
    x = st.dvector("x")
    f = function([x], st.exp(st.sin(x)), mode="FAST_COMPILE")
    assert not any(is_composite(op) for op in graph_ops(f.maker.fgraph))


def test_scalars_and_gradient_graph():
    w, x = st.dvector("w"), st.dmatrix("x")
    from symgraph.gradient import grad

    cost = st.sum(st.sigmoid(st.dot(x, w)) ** 2) + st.sum(w * w) * 0.01
    g = grad(cost, w)
    check_rewrite([w, x], [cost, g], [rand(3), rand(5, 3, seed=1)], present=[is_composite], rtol=1e-9)


# --------------------------------------------------------------------------- property test

UNARY = ["exp", "sin", "tanh", "neg", "sqr", "abs", "log1p_abs", "sigmoid", "cast32"]
BINARY = ["add", "sub", "mul", "maximum", "div_safe", "where_gt"]


def _apply(kind, args):
    a = args[0]
    if kind == "log1p_abs":
        return st.log1p(st.abs(a))
    if kind == "cast32":
        return st.cast(a, "float32")
    if kind == "div_safe":
        return args[0] / (st.sqr(args[1]) + 1)
    if kind == "where_gt":
        return st.where(args[0] > args[1], args[0], args[1] * 0.5)
    if kind in ("add", "sub", "mul", "maximum"):
        return getattr(st, kind)(*args)
    return getattr(st, kind)(a)


@hs.composite
def expression(draw):
    """A random expression over three inputs (a matrix, a row and a vector), as a list of
    operations each reading earlier values, so that intermediates are shared."""
    n_ops = draw(hs.integers(1, 12))
    ops = []
    for k in range(n_ops):
        n_values = 3 + k
        if draw(hs.booleans()):
            ops.append((draw(hs.sampled_from(UNARY)), (draw(hs.integers(0, n_values - 1)),)))
        else:
            ops.append(
                (
                    draw(hs.sampled_from(BINARY)),
                    (draw(hs.integers(0, n_values - 1)), draw(hs.integers(0, n_values - 1))),
                )
            )
    n_outputs = draw(hs.integers(1, 2))
    return ops, n_outputs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression(), hs.integers(0, 2**16))
def test_random_expression_graphs(expr, seed):
    ops, n_outputs = expr
    m = st.dmatrix("m")
    r = st.tensor(dtype="float64", shape=(1, None), name="r")
    v = st.fvector("v")
    values = [m, r, v]
    for kind, args in ops:
        values.append(_apply(kind, [values[a] for a in args]))
    outputs = values[-n_outputs:]
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((3, 4)), rng.standard_normal((1, 4)), rng.standard_normal(4).astype("float32")]
    with np.errstate(all="ignore"):
        check_rewrite([m, r, v], outputs, inputs, rtol=1e-5)


def test_middle_dimshuffle_and_leaf_read_twice():
    a, t = st.dmatrix("a"), st.tensor(dtype="float64", shape=(None, None, None), name="t")
    # exp(a) gets a broadcast dim in the middle; a is also read directly (as a leaf).
    mid = st.exp(st.sin(a)).dimshuffle(0, "x", 1)
    out = st.tanh(mid * t) + a.dimshuffle(0, "x", 1)
    fg = check_rewrite([a, t], out, [rand(2, 3), rand(2, 4, 3, seed=5)], present=[is_composite], absent=[is_plain_elemwise])
    (node,) = composites(fg)
    assert len(node.op.scalar_op.nodes) == 5  # sin, exp, mul, tanh, add


def test_fused_node_keeps_the_roots_creation_trace():
    x, y = st.dvector("x"), st.dvector("y")
    out = st.exp(x) * y + 1.0  # the root is the addition built on this line
    f = function([x, y], out)
    (node,) = composites(f.maker.fgraph)
    trace = getattr(node.outputs[0].tag, "trace", None)
    if getattr(out.tag, "trace", None):
        assert trace and "test_fusion.py" in str(trace)
