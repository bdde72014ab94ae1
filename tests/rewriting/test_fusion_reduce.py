"""Reductions fused at the ends of elementwise groups (FusedReduce, symgraph/rewriting/fusion.py).

Every rule test builds the unfused graph and runs ``check_rewrite`` (FAST_RUN, which fuses,
against FAST_COMPILE, which does not: values and dtypes must agree), then checks the
structure. Covers: sum/prod/max/min of plain Elemwise and Composite results, axis None /
int / tuple, keepdims, float32/float64/int/bool dtypes with Reduce's accumulate and
explicit dtypes, intermediates with other readers (and graph outputs) not fused,
logsumexp/all/any not fused, chains of fused reductions, broadcasting inputs and the
run-time broadcast error, empty axes, the op itself (str, pickling, infer_shape, C hook,
gradient refusal), pickling a compiled function, gradient graphs, and a property test.
"""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import symgraph.tensor as st
from symgraph import FunctionGraph, function
from symgraph.gradient import grad
from symgraph.rewriting.fusion import fuse, fuse_reductions
from symgraph.tensor.composite import Composite
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.fused_reduce import FusedReduce
from symgraph.tensor.reduction import Reduce
from symgraph.tensor.scalar_ops import get_scalar_op
from symgraph.testing import check_rewrite, graph_ops

RNG = np.random.default_rng(42)


def rand(*shape, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    return rng.integers(-5, 6, size=shape).astype(dtype)


def fused(kind=None):
    return lambda op: isinstance(op, FusedReduce) and (kind is None or op.kind == kind)


def is_reduce(op):
    return isinstance(op, Reduce)


def is_elemwise(op):
    return isinstance(op, Elemwise)


def nodes_of(fg, pattern):
    return [n for n in fg.toposort() if pattern(n.op)]


# --------------------------------------------------------------------------- structure


def test_sum_of_composite_becomes_one_node():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    out = st.sum(st.exp(x) * y, axis=1)
    fg = check_rewrite([x, y], out, [rand(4, 5), rand(4, 5, seed=1)], present=[fused("sum")], absent=[is_reduce, is_elemwise])
    (node,) = fg.toposort()
    assert str(node.op) == "FusedReduce{sum, axes=(1,), Composite{exp(i0) * i1}}"
    assert list(node.inputs) == list(fg.inputs)
    assert isinstance(node.op.scalar_op, Composite)


def test_single_elemwise_is_absorbed():
    x = st.dmatrix("x")
    fg = check_rewrite([x], st.max(st.exp(x), axis=0), [rand(3, 4)], present=[fused("max")], absent=[is_reduce, is_elemwise])
    (node,) = fg.toposort()
    assert node.op.scalar_op is get_scalar_op("exp")
    assert str(node.op) == "FusedReduce{max, axes=(0,), Exp}"


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (0, 1, 2)])
def test_kinds_and_axes(kind, axis):
    x, y = st.dtensor3("x"), st.dtensor3("y")
    out = getattr(st, kind)(st.tanh(x) + y * 0.5, axis=axis)
    fg = check_rewrite([x, y], out, [rand(2, 3, 4), rand(2, 3, 4, seed=1)], present=[fused(kind)], absent=[is_reduce, is_elemwise])
    (node,) = fg.toposort()
    assert node.op.axis == tuple(sorted(np.arange(3)[list(np.atleast_1d(axis))] if axis is not None else range(3)))


@pytest.mark.parametrize("kind", ["sum", "max"])
def test_keepdims_dimshuffle_stays_after(kind):
    x, y = st.dmatrix("x"), st.dvector("y")
    out = getattr(st, kind)(st.exp(x) - y, axis=1, keepdims=True)
    fg = check_rewrite([x, y], out, [rand(4, 3), rand(3, seed=1)], present=[fused(kind), st.DimShuffle], absent=[is_reduce])
    assert fg.outputs[0].type.shape[1] == 1
    assert isinstance(fg.outputs[0].owner.op, st.DimShuffle)


def test_intermediate_with_other_client_is_not_fused():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    e = st.exp(x) * y
    fg = check_rewrite([x, y], [st.sum(e, axis=1), st.sin(e)], [rand(3, 4), rand(3, 4, seed=1)], present=[is_reduce], absent=[fused()])
    assert len(nodes_of(fg, is_reduce)) == 1


def test_intermediate_that_is_an_output_is_not_fused():
    x = st.dmatrix("x")
    e = st.exp(x) + 1.0
    check_rewrite([x], [st.sum(e, axis=0), e], [rand(3, 4)], present=[is_reduce], absent=[fused()])


def test_two_reductions_of_one_intermediate_are_not_fused():
    x = st.dmatrix("x")
    e = st.exp(x)
    check_rewrite([x], [st.sum(e, axis=0), st.max(e, axis=1)], [rand(3, 4)], absent=[fused()])


def test_logsumexp_all_any_are_not_touched():
    x = st.dmatrix("x")
    fg = check_rewrite([x], st.logsumexp(x * 2.0, axis=1), [rand(3, 4) * 500], absent=[fused()])
    assert any(n.op.kind == "logsumexp" for n in nodes_of(fg, is_reduce))
    check_rewrite([x], [st.all(x > 0, axis=1), st.any(st.abs(x) > 1)], [rand(3, 4)], absent=[fused()])


def test_reduction_of_an_input_or_non_elemwise_is_not_fused():
    x = st.dmatrix("x")
    check_rewrite([x], st.sum(x, axis=1), [rand(3, 4)], present=[is_reduce], absent=[fused()])
    check_rewrite([x], st.sum(st.exp(x).T, axis=1), [rand(3, 4)], present=[is_reduce], absent=[fused()])


def test_chained_fused_reductions():
    x = st.dmatrix("x")
    inner = st.sum(st.exp(x) * 2.0, axis=1)
    out = st.max(st.log(inner) + 1.0)
    fg = check_rewrite([x], out, [rand(5, 3)], absent=[is_reduce, is_elemwise])
    assert len(nodes_of(fg, fused())) == 2


def test_broadcast_inputs():
    x, b = st.dmatrix("x"), st.dvector("b")
    row = st.tensor("row", dtype="float64", shape=(1, None))
    out = st.sum(st.sqr(x - b) * row, axis=0)
    fg = check_rewrite([x, b, row], out, [rand(4, 3), rand(3, seed=1), rand(1, 3, seed=2)], present=[fused("sum")], absent=[is_reduce])
    (node,) = nodes_of(fg, fused())
    assert fg.outputs[0].type.shape == (None,)
    assert node.outputs[0].type == out.type


def test_runtime_broadcast_error_still_raised():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    f = function([x, y], st.sum(x * y, axis=1))
    assert any(fused()(op) for op in graph_ops(f.maker.fgraph))
    with pytest.raises(ValueError, match="broadcast"):
        f(rand(3, 4), rand(1, 4))


def test_empty_axes():
    x = st.dmatrix("x")
    f = function([x], st.sum(st.exp(x), axis=1))
    assert any(fused()(op) for op in graph_ops(f.maker.fgraph))
    np.testing.assert_array_equal(f(np.zeros((3, 0))), np.zeros(3))
    g = function([x], st.max(st.exp(x), axis=1))
    assert any(fused()(op) for op in graph_ops(g.maker.fgraph))
    with pytest.raises(ValueError, match="empty axis"):
        g(np.zeros((3, 0)))
    check_rewrite([x], st.prod(x + 1.0, axis=0), [np.zeros((0, 2))], present=[fused("prod")])


def test_nan_propagation_in_max_and_min():
    x = st.dvector("x")
    vals = [np.array([1.0, np.nan, 3.0])]
    check_rewrite([x], [st.max(x * 2.0), st.min(x + 1.0)], vals, present=[fused("max"), fused("min")])


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "int64", "uint8"])
@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
def test_dtypes(dtype, kind):
    x, y = st.matrix("x", dtype=dtype), st.matrix("y", dtype=dtype)
    out = getattr(st, kind)(x * y + x, axis=1)
    vals = [rand(3, 4, dtype=dtype), rand(3, 4, dtype=dtype, seed=1)]
    fg = check_rewrite([x, y], out, vals, present=[fused(kind)], absent=[is_reduce])
    assert fg.outputs[0].type.dtype == out.type.dtype


def test_accumulate_and_explicit_dtypes():
    b = st.matrix("b", dtype="int8")
    vals = [np.full((3, 40), 100, dtype="int8")]
    # int8 * 2 wraps elementwise (as unfused); the sum accumulates in int64
    out = st.sum(b * np.int8(2), axis=1)
    fg = check_rewrite([b], out, vals, present=[fused("sum")])
    assert fg.outputs[0].type.dtype == "int64"
    # an explicit narrow dtype wraps in the reduction too
    out = st.sum(b + np.int8(1), axis=1, dtype="int16")
    fg = check_rewrite([b], out, vals, present=[fused("sum")])
    assert fg.outputs[0].type.dtype == "int16"
    (node,) = nodes_of(fg, fused())
    assert node.op.dtype == "int16" and "dtype=int16" in str(node.op)
    f = st.matrix("f", dtype="float32")
    out = st.sum(st.exp(f), axis=0, dtype="float64")
    fg = check_rewrite([f], out, [rand(3, 4, dtype="float32")], present=[fused("sum")])
    assert fg.outputs[0].type.dtype == "float64"


def test_boolean_elementwise_results():
    x = st.dmatrix("x")
    vals = [rand(3, 4)]
    fg = check_rewrite([x], st.sum(x > 0, axis=1), vals, present=[fused("sum")])
    assert fg.outputs[0].type.dtype == "int64"
    fg = check_rewrite([x], st.max(x > 0.5, axis=0), vals, present=[fused("max")])
    assert fg.outputs[0].type.dtype == "bool"


def test_mixed_input_dtypes():
    a, b = st.matrix("a", dtype="int32"), st.matrix("b", dtype="float32")
    out = st.sum(a * b + 1, axis=1)
    check_rewrite([a, b], out, [rand(3, 4, dtype="int32"), rand(3, 4, dtype="float32")], present=[fused("sum")])


# --------------------------------------------------------------------------- the op


def test_op_equality_str_and_pickle():
    op = FusedReduce(get_scalar_op("exp"), "sum", (1,))
    assert op == FusedReduce(get_scalar_op("exp"), "sum", [1]) and hash(op) == hash(FusedReduce(get_scalar_op("exp"), "sum", (1,)))
    assert op != FusedReduce(get_scalar_op("exp"), "max", (1,))
    assert pickle.loads(pickle.dumps(op)) == op
    comp = Composite.get(2, [("exp", (("i", 0),)), ("mul", (("t", 0), ("i", 1)))], [("t", 1)])
    op2 = FusedReduce(comp, "prod", (0, 1), "float32")
    assert str(op2) == "FusedReduce{prod, axes=(0, 1), dtype=float32, Composite{exp(i0) * i1}}"
    assert pickle.loads(pickle.dumps(op2)) == op2
    with pytest.raises(ValueError, match="kind"):
        FusedReduce(get_scalar_op("exp"), "logsumexp", (0,))
    with pytest.raises(ValueError):
        FusedReduce(get_scalar_op("exp"), "sum", (1, 0))


def test_op_make_node_perform_and_infer_shape():
    comp = Composite.get(2, [("exp", (("i", 0),)), ("mul", (("t", 0), ("i", 1)))], [("t", 1)])
    op = FusedReduce(comp, "sum", (1,))
    x, y = st.dmatrix("x"), st.dvector("y")  # y is padded to (1, n) as Elemwise does
    out = op(x, y)
    assert out.type == st.sum(st.exp(x) * y, axis=1).type
    f = function([x, y], [out, out.shape], mode="FAST_COMPILE")
    a, b = rand(5, 3), rand(3, seed=1)
    val, shape = f(a, b)
    np.testing.assert_allclose(val, (np.exp(a) * b).sum(axis=1))
    assert tuple(shape) == (5,)
    with pytest.raises(ValueError, match="out of range"):
        FusedReduce(get_scalar_op("exp"), "sum", (2,))(x)


def test_infer_shape_used_by_rewrites():
    x = st.dmatrix("x")
    s = st.sum(st.exp(x), axis=0)
    fg = FunctionGraph([x], [s], clone=True)
    fuse_reductions(fg)
    (node,) = fg.toposort()
    from symgraph.tensor.shape import shape as shape_of

    f = function([x], shape_of(s))
    np.testing.assert_array_equal(f(rand(4, 7)), [7])
    (sh,) = node.op.infer_shape(None, node, [(4, 7)])
    assert sh == (7,)


def test_c_reduce_code():
    comp = Composite.get(2, [("exp", (("i", 0),)), ("mul", (("t", 0), ("i", 1)))], [("t", 1)])
    code = FusedReduce(comp, "sum", (1,)).c_reduce_code(["a[i]", "b[i]"], ["float64", "float64"])
    assert "exp" in code["value"] and "a[i]" in code["value"] and "b[i]" in code["value"]
    assert code["init"] == "0" and code["acc_type"] == "npy_float64"
    assert "+=" in code["update"] % {"acc": "acc", "v": "v"}
    code = FusedReduce(get_scalar_op("neg"), "max", (0,)).c_reduce_code(["a[i]"], ["int8"])
    assert code["init"] is None and code["acc_type"] == "npy_int8"
    code = FusedReduce(get_scalar_op("neg"), "sum", (0,)).c_reduce_code(["a[i]"], ["int8"])
    assert code["acc_type"] == "npy_int64" and code["value_type"] == "npy_int8"


def test_gradient_of_the_fused_op_is_refused():
    x = st.dmatrix("x")
    out = FusedReduce(get_scalar_op("exp"), "sum", (0, 1))(x)
    with pytest.raises(Exception, match="not implemented"):
        grad(out, x)


# --------------------------------------------------------------------------- compiled functions


def test_pickled_compiled_function():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    f = function([x, y], [st.sum(st.exp(x) * y, axis=1), st.max(st.sin(x), axis=0, keepdims=True)])
    assert len([op for op in graph_ops(f.maker.fgraph) if fused()(op)]) == 2
    g = pickle.loads(pickle.dumps(f))
    vals = [rand(4, 3), rand(4, 3, seed=1)]
    for a, b in zip(f(*vals), g(*vals)):
        np.testing.assert_array_equal(a, b)
    assert [str(n.op) for n in g.maker.fgraph.toposort()] == [str(n.op) for n in f.maker.fgraph.toposort()]


def test_gradient_graphs_compile_and_run():
    w, x, t = st.dvector("w"), st.dmatrix("x"), st.dvector("t")
    p = st.sigmoid(st.dot(x, w))
    cost = st.sum((p - t) ** 2) + 0.01 * st.sum(w * w) + st.max(st.abs(w))
    gw = grad(cost, w)
    vals = [rand(3), rand(6, 3, seed=1), rand(6, seed=2)]
    # forward intermediates are read by the gradient too: only unshared pairs may fuse
    check_rewrite([w, x, t], [cost, gw], vals, rtol=1e-9)
    # the gradient of a mean over a matrix parameter (unbroadcast sums in the graph)
    W, b = st.dmatrix("W"), st.dvector("b")
    h = st.tanh(st.dot(x, W) + b)
    loss = st.mean(st.sum(h * h, axis=1))
    gs = grad(loss, [W, b])
    check_rewrite([x, W, b], [loss, *gs], [rand(6, 3, seed=1), rand(3, 4, seed=3), rand(4, seed=4)], rtol=1e-9)


def test_inputs_are_never_modified():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    f = function([x, y], st.sum(st.exp(x) * y + x, axis=0))
    a, b = rand(3, 4), rand(3, 4, seed=1)
    a0, b0 = a.copy(), b.copy()
    f(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


def test_fuse_on_a_function_graph_counts():
    x, y = st.dvector("x"), st.dvector("y")
    fg = FunctionGraph([x, y], [st.sum(st.exp(x) + st.sin(y))], clone=False)
    assert fuse(fg) == 2  # one composite, then one fused reduction
    assert fuse(fg) == 0
    assert [type(n.op) for n in fg.toposort()] == [FusedReduce]


# --------------------------------------------------------------------------- property test

UNARY = ["exp", "sin", "tanh", "neg", "sqr", "abs"]
BINARY = ["add", "sub", "mul", "maximum"]
KINDS = ["sum", "prod", "max", "min"]


@hs.composite
def reduction_graph(draw):
    n_ops = draw(hs.integers(1, 6))
    ops = []
    for k in range(n_ops):
        n_values = 2 + k
        if draw(hs.integers(0, 3)) == 0:
            ops.append(("reduce", draw(hs.sampled_from(KINDS)), draw(hs.integers(0, n_values - 1)), draw(hs.sampled_from([0, 1]))))
        elif draw(hs.booleans()):
            ops.append(("unary", draw(hs.sampled_from(UNARY)), draw(hs.integers(0, n_values - 1))))
        else:
            ops.append(("binary", draw(hs.sampled_from(BINARY)), draw(hs.integers(0, n_values - 1)), draw(hs.integers(0, n_values - 1))))
    return ops


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reduction_graph(), hs.integers(0, 2**16))
def test_random_reduction_graphs(ops, seed):
    x, y = st.dmatrix("x"), st.dmatrix("y")
    values = [x, y]
    for op in ops:
        if op[0] == "reduce":
            _, kind, i, axis = op
            # keepdims keeps every value a matrix, so any two values combine
            values.append(getattr(st, kind)(values[i], axis=axis, keepdims=True))
        elif op[0] == "unary":
            values.append(getattr(st, op[1])(values[op[2]]) if op[1] != "exp" else st.exp(st.tanh(values[op[2]])))
        else:
            values.append(getattr(st, op[1])(values[op[2]], values[op[3]]))
    outs = [values[-1]] + ([st.sum(values[-2] * 0.5, axis=1)] if len(values) > 2 else [])
    vals = [rand(3, 4, seed=seed) * 0.5, rand(3, 4, seed=seed + 1) * 0.5]
    check_rewrite([x, y], outs, vals, rtol=1e-8, atol=1e-12)


def test_fused_reduction_keeps_the_reductions_creation_trace():
    x = st.dmatrix("x")
    out = st.sum(st.exp(x) * 2.0, axis=0)  # the reduction built on this line
    f = function([x], out)
    (node,) = [n for n in f.maker.fgraph.toposort() if fused()(n.op)]
    if getattr(out.tag, "trace", None):
        trace = getattr(node.outputs[0].tag, "trace", None)
        assert trace and "test_fusion_reduce.py" in str(trace)
