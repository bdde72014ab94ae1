"""OpFromGraph (symgraph.compile.builders)."""

import pickle

import numpy as np
import pytest

import symgraph
import symgraph as sg
import symgraph.tensor as st
from symgraph.compile.builders import OpFromGraph
from symgraph.graph.basic import graph_inputs
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import HasInnerGraph, Op
from symgraph.graph.utils import MethodNotDefined, MissingInputError
from symgraph.printing import debugprint


def axpy_op(**kwargs):
    x, y = st.dscalar("x"), st.dscalar("y")
    return OpFromGraph([x, y], [x + y * 2.0], **kwargs)


# --------------------------------------------------------------------------- construction


def test_structure_and_inner_graph():
    x, y = st.dvector("x"), st.dvector("y")
    out = x * y + x
    op = OpFromGraph([x, y], [out, x - y], name="f")
    assert isinstance(op, Op) and isinstance(op, HasInnerGraph)
    assert isinstance(op.fgraph, FunctionGraph)
    assert len(op.inner_inputs) == 2 and len(op.inner_outputs) == 2
    assert op.inner_inputs[0] is not x and op.inner_inputs[0].type == x.type
    assert [v.name for v in op.inner_inputs] == ["x", "y"]
    assert graph_inputs(op.inner_outputs) == op.inner_inputs
    assert graph_inputs([out]) == [x, y]  # the user's graph is untouched
    assert op.shared_inputs == []
    assert str(op) == "f"
    assert str(axpy_op()) == "OpFromGraph{inline=False}"
    assert str(axpy_op(inline=True)) == "OpFromGraph{inline=True}"


def test_each_instance_is_its_own_op():
    a, b = axpy_op(), axpy_op()
    assert a == a and a != b
    assert len({a, b}) == 2
    u, v = st.dscalar("u"), st.dscalar("v")
    assert a(u, v) is a(u, v)  # nodes of one op still intern
    assert a(u, v) is not b(u, v)


def test_constructor_errors():
    x, y = st.dscalar("x"), st.dscalar("y")
    with pytest.raises(TypeError, match="inputs must be a list"):
        OpFromGraph(x, [x + y])
    with pytest.raises(TypeError, match="outputs must be a list"):
        OpFromGraph([x, y], x + y)
    with pytest.raises(TypeError, match=r"outputs\[1\] is not a Variable"):
        OpFromGraph([x, y], [x + y, 3.0])
    with pytest.raises(ValueError, match="more than once"):
        OpFromGraph([x, x], [x + y])
    with pytest.raises(TypeError, match="constant"):
        OpFromGraph([st.constant(1.0)], [x + 1.0])
    with pytest.raises(NotImplementedError, match="updates or givens"):
        OpFromGraph([x, y], [x + y], updates=[])
    with pytest.raises(MissingInputError, match="'y'"):
        OpFromGraph([x], [x + y])


# --------------------------------------------------------------------------- make_node / call


def test_make_node_types():
    op = axpy_op()
    u, v = st.dscalar("u"), st.dscalar("v")
    out = op(u, v)
    assert out.type == st.dscalar().type
    assert out.owner.op is op and out.owner.inputs == (u, v)
    node = op.make_node(u, v)
    assert node is out.owner
    with pytest.raises(TypeError) as info:
        op(u, st.dvector("w"))
    msg = str(info.value)
    assert "input 1" in msg and "Scalar(float64" in msg and "Vector(float64" in msg
    with pytest.raises(TypeError, match="takes 2 inputs, got 3"):
        op(u, v, v)


def test_call_converts_python_numbers():
    op = axpy_op()
    u = st.dscalar("u")
    out = op(u, 3.0)
    assert out.owner.inputs[1].data == 3.0


def test_multiple_outputs_return_a_list():
    x, y = st.dscalar("x"), st.dscalar("y")
    op = OpFromGraph([x, y], [x + y, x * y])
    s, p = op(st.dscalar("a"), st.dscalar("b"))
    assert (s.index, p.index) == (0, 1)


# --------------------------------------------------------------------------- evaluation


def test_values_inside_function():
    op = axpy_op()
    a, b = st.dscalar("a"), st.dscalar("b")
    f = symgraph.function([a, b], op(a, b) + op(b, a))
    assert f(1.0, 10.0) == pytest.approx((1 + 20) + (10 + 2))
    # not inlined: the op's nodes are in the graph that runs
    ops = [n.op for n in f.maker.fgraph.apply_nodes]
    assert sum(o is op for o in ops) == 2


def test_kwargs_are_passed_to_the_inner_function():
    op = axpy_op(mode="FAST_COMPILE")
    a = st.dscalar("a")
    assert symgraph.function([a], op(a, a))(1.0) == pytest.approx(3.0)
    assert op.fn.maker.mode == symgraph.compile.mode.get_mode("FAST_COMPILE")
    with pytest.raises(Exception):
        axpy_op(mode="NO_SUCH_MODE").fn


def test_vector_values_and_multiple_outputs():
    x, y = st.dvector("x"), st.dvector("y")
    op = OpFromGraph([x, y], [x * y, st.exp(x) - y])
    a, b = st.dvector("a"), st.dvector("b")
    p, q = op(a, b)
    f = symgraph.function([a, b], [p, q])
    va, vb = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    rp, rq = f(va, vb)
    np.testing.assert_allclose(rp, va * vb)
    np.testing.assert_allclose(rq, np.exp(va) - vb)


def test_output_that_is_an_input_is_not_aliased():
    x, y = st.dvector("x"), st.dvector("y")
    op = OpFromGraph([x, y], [x, x + y])
    a, b = st.dvector("a"), st.dvector("b")
    node = op(a, b)[0].owner
    va = np.array([1.0, 2.0])
    cells = [[None], [None]]
    op.perform(node, [va, np.array([1.0, 1.0])], cells)
    np.testing.assert_allclose(cells[0][0], va)
    assert not np.may_share_memory(cells[0][0], va)
    np.testing.assert_allclose(cells[1][0], [2.0, 3.0])


def test_nested_op_from_graph():
    inner = axpy_op(name="inner")
    x = st.dscalar("x")
    outer = OpFromGraph([x], [inner(x, x) * 3.0], name="outer")
    a = st.dscalar("a")
    f = symgraph.function([a], outer(a) + inner(a, 1.0))
    assert f(2.0) == pytest.approx((2 + 4) * 3 + (2 + 2))


def test_shared_variable_inside_becomes_an_implicit_input():
    s = symgraph.shared(np.float64(10.0), name="s")
    x = st.dscalar("x")
    op = OpFromGraph([x], [x + s])
    assert op.shared_inputs == [s]
    assert len(op.inner_inputs) == 2
    assert op.inner_inputs[1] is not s and op.inner_inputs[1].type == s.type
    a = st.dscalar("a")
    out = op(a)
    assert out.owner.inputs == (a, s)
    f = symgraph.function([a], out)
    assert f(1.0) == pytest.approx(11.0)
    s.set_value(np.float64(20.0))
    assert f(1.0) == pytest.approx(21.0)  # the node reads the current value
    # the shared input can also be given explicitly
    g = symgraph.function([a], op(a, a))
    assert g(3.0) == pytest.approx(6.0)


def test_used_twice_with_different_inputs_in_one_function():
    op = axpy_op()
    a = st.dscalar("a")
    f = symgraph.function([a], op(op(a, a), a))
    assert f(1.0) == pytest.approx((1 + 2) + 2)


def test_compiled_inner_function_is_cached():
    op = axpy_op()
    a = st.dscalar("a")
    f = symgraph.function([a], op(a, a))
    f(1.0)
    fn = op.fn
    f(2.0)
    assert op.fn is fn


def test_connection_pattern():
    x, y, z = st.dscalar("x"), st.dscalar("y"), st.dscalar("z")
    op = OpFromGraph([x, y, z], [x + y, st.exp(z)])
    node = op(x, y, z)[0].owner
    assert op.connection_pattern(node) == [[True, False], [True, False], [False, True]]


def test_gradient_flows_through_inner_graph():
    a, b = st.dvector("a"), st.dvector("b")
    op = OpFromGraph([a, b], [st.exp(a) * b])
    x, y = st.dvector("x"), st.dvector("y")
    cost = op(x, y).sum()
    gx, gy = sg.grad(cost, [x, y])
    xv, yv = np.array([0.1, -0.4]), np.array([1.5, 2.0])
    f = sg.function([x, y], [gx, gy])
    got_x, got_y = f(xv, yv)
    np.testing.assert_allclose(got_x, np.exp(xv) * yv)
    np.testing.assert_allclose(got_y, np.exp(xv))
    sg.verify_grad(lambda u, v: op(u, v), [xv, yv])


def test_rop_flows_through_inner_graph():
    a = st.dvector("a")
    op = OpFromGraph([a], [st.exp(a) * a])
    x, v = st.dvector("x"), st.dvector("v")
    jvp = sg.Rop(op(x), x, v)
    xv, vv = np.array([0.3, -1.2]), np.array([2.0, 0.5])
    np.testing.assert_allclose(sg.function([x, v], jvp)(xv, vv), np.exp(xv) * (1 + xv) * vv)


def test_lop_override_is_used():
    a = st.dvector("a")
    op = OpFromGraph([a], [a * 2.0], lop_overrides=lambda inputs, outputs, grads: [grads[0] * 10.0])
    x = st.dvector("x")
    g = sg.grad(op(x).sum(), x)
    np.testing.assert_allclose(sg.function([x], g)(np.ones(3)), np.full(3, 10.0))


def test_inline_outputs():
    op = axpy_op(inline=True)
    assert op.is_inline
    a, b = st.dscalar("a"), st.dscalar("b")
    (out,) = op.inline_outputs([a, b])
    assert graph_inputs([out])[:2] == [a, b]
    assert symgraph.function([a, b], out)(1.0, 2.0) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="expected 2 inputs"):
        op.inline_outputs([a])


def test_clone():
    op = axpy_op(name="c")
    c = op.clone()
    assert c is not op and c != op and str(c) == "c"
    assert c.fgraph is not op.fgraph and c.inner_inputs[0] is not op.inner_inputs[0]
    a = st.dscalar("a")
    assert symgraph.function([a], c(a, a))(1.0) == pytest.approx(3.0)


def test_test_values_flow_through():
    op = axpy_op()
    a = st.dscalar("a")
    a.tag.test_value = 2.0
    with symgraph.config.change_flags(compute_test_value="raise"):
        out = op(a, a)
    assert out.tag.test_value == pytest.approx(6.0)


def test_pickle_op_and_graph():
    op = axpy_op(name="p")
    a = st.dscalar("a")
    symgraph.function([a], op(a, a))(1.0)  # compile the inner function first
    op2 = pickle.loads(pickle.dumps(op))
    assert isinstance(op2, OpFromGraph) and str(op2) == "p"
    assert op2._fn is None
    b = st.dscalar("b")
    assert symgraph.function([b], op2(b, b))(2.0) == pytest.approx(6.0)
    out = pickle.loads(pickle.dumps(op(a, a) * 2.0))
    (a2,) = [v for v in graph_inputs([out]) if v.name == "a"]
    assert symgraph.function([a2], out)(1.0) == pytest.approx(6.0)


def test_pickle_with_shared_variable():
    s = symgraph.shared(np.float64(5.0), name="s")
    x = st.dscalar("x")
    op = OpFromGraph([x], [x * s])
    op2 = pickle.loads(pickle.dumps(op))
    assert len(op2.shared_inputs) == 1
    a = st.dscalar("a")
    assert symgraph.function([a], op2(a))(2.0) == pytest.approx(10.0)


def test_debugprint_of_function_using_it():
    op = axpy_op(name="axpy")
    a = st.dscalar("a")
    f = symgraph.function([a], op(a, a))
    text = debugprint(f, file="str")
    assert "axpy" in text and "Inner graphs:" in text
