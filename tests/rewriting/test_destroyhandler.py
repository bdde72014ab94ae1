"""The destroy handler: legal and illegal destroy_map/view_map patterns, with user Ops.

Each case builds a graph of small user-defined ops declaring ``destroy_map``/``view_map``,
compiles it (FAST_COMPILE, so no rewrite adds or removes in-place ops) and checks that an
unsafe graph fails at compile time with a clear message, and that a safe one runs in an
order that gives the same values as the graph without in-place ops.
"""

import pickle

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import FunctionGraph, In, function, shared
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.graph.utils import InconsistencyError
from symgraph.rewriting.destroyhandler import DestroyHandler


class AddInplace(Op):
    """Overwrites input 0 with input 0 + ``amount`` (a destroy_map op)."""

    __props__ = ("amount",)
    destroy_map = {0: [0]}

    def __init__(self, amount=1.0):
        self.amount = amount

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        x += self.amount
        output_storage[0][0] = x


class AddIntoFirst(Op):
    """Overwrites input 0 with input 0 + input 1 (reads a second input while writing)."""

    __props__ = ()
    destroy_map = {0: [0]}

    def make_node(self, x, y):
        x, y = st.as_tensor_variable(x), st.as_tensor_variable(y)
        return Apply(self, [x, y], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y = inputs
        x += y
        output_storage[0][0] = x


class AddIntoFirstTolerant(AddIntoFirst):
    """The same op, declaring that aliased inputs are fine for it."""

    destroyhandler_tolerate_aliased = True


class Reverse(Op):
    """A view: ``x[::-1]`` (view_map)."""

    __props__ = ()
    view_map = {0: [0]}

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0][::-1]


add1 = AddInplace(1.0)
add10 = AddInplace(10.0)
reverse = Reverse()
add_into = AddIntoFirst()
add_into_tolerant = AddIntoFirstTolerant()


def compile_(inputs, outputs, **kwargs):
    return function(inputs, outputs, mode="FAST_COMPILE", **kwargs)


# --------------------------------------------------------------------------- legal patterns


def test_destroying_an_intermediate_is_legal():
    x = st.dvector("x")
    f = compile_([x], add1(x * 2))
    data = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(data), [3.0, 5.0])
    np.testing.assert_array_equal(data, [1.0, 2.0])


def test_chain_of_destroyers_is_legal():
    # Each destroyer overwrites a different value (the previous one's result).
    x = st.dvector("x")
    f = compile_([x], add10(add1(reverse(x * 2))))
    np.testing.assert_array_equal(f([1.0, 2.0]), [15.0, 13.0])


def test_reader_is_ordered_before_the_destroyer():
    x = st.dvector("x")
    y = x * 2
    destroyed = add1(y)
    reader = st.sum(y)
    # Listing the destroyed result first makes the plain topological order run it first.
    f = compile_([x], [destroyed, reader])
    fg = f.maker.fgraph
    dnode = next(n for n in fg.apply_nodes if n.op == add1)
    rnode = next(n for n in fg.apply_nodes if n.op == reader.owner.op)
    assert rnode in fg.orderings()[dnode]
    order = fg.toposort()
    assert order.index(rnode) < order.index(dnode)
    a, s = f([1.0, 2.0])
    np.testing.assert_array_equal(a, [3.0, 5.0])
    assert s == 6.0  # read before the overwrite


def test_reader_of_a_view_is_ordered_before_the_destroyer():
    x = st.dvector("x")
    y = x * 2
    view = reverse(y)
    f = compile_([x], [add1(y), st.sum(view * [1.0, 0.0])])
    a, s = f([1.0, 2.0])
    np.testing.assert_array_equal(a, [3.0, 5.0])
    assert s == 4.0


def test_orderings_survive_pickling():
    x = st.dvector("x")
    y = x * 2
    f = compile_([x], [add1(y), st.sum(y)])
    g = pickle.loads(pickle.dumps(f))
    a, s = g([1.0, 2.0])
    np.testing.assert_array_equal(a, [3.0, 5.0])
    assert s == 6.0


def test_mutable_input_may_be_destroyed_and_is_modified():
    x = st.dvector("x")
    f = compile_([In(x, mutable=True)], add1(x))
    data = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(data), [2.0, 3.0])
    np.testing.assert_array_equal(data, [2.0, 3.0])


def test_shared_destroyed_inside_its_update_is_legal():
    s = shared(np.array([1.0, 2.0]), name="s")
    buffer = s.get_value(borrow=True)
    f = compile_([], [], updates={s: add1(s)})
    f()
    np.testing.assert_array_equal(s.get_value(), [2.0, 3.0])
    assert s.get_value(borrow=True) is buffer or np.shares_memory(s.get_value(borrow=True), buffer)
    f()
    np.testing.assert_array_equal(s.get_value(), [3.0, 4.0])


def test_shared_destroyed_feeding_its_update_through_other_ops_is_legal():
    s = shared(np.array([1.0, 2.0]), name="s")
    f = compile_([], [], updates={s: add1(s) * 2})
    f()
    np.testing.assert_array_equal(s.get_value(), [4.0, 6.0])


def test_tolerant_op_may_read_a_view_of_what_it_destroys():
    x = st.dvector("x")
    y = x * 2
    f = compile_([x], add_into_tolerant(y, y))
    np.testing.assert_array_equal(f([1.0, 2.0]), [4.0, 8.0])


def test_handler_on_a_plain_function_graph():
    x = st.dvector("x")
    y = x * 2
    fg = FunctionGraph([x], [add1(y), st.sum(y)], clone=False)
    handler = DestroyHandler()
    constraints = handler.validate(fg)
    (dnode,) = [n for n in fg.apply_nodes if n.op == add1]
    assert [n.op for n in constraints[dnode]] == [st.sum(y).owner.op]
    fg.attach_feature(handler)
    order = fg.toposort()
    assert order.index(constraints[dnode][0]) < order.index(dnode)
    # Graph inputs are protected by default.
    with pytest.raises(InconsistencyError, match="mutable=True"):
        DestroyHandler().validate(FunctionGraph([x], [add1(x)], clone=False))
    DestroyHandler(mutable=[0]).validate(FunctionGraph([x], [add1(x)], clone=False))


# --------------------------------------------------------------------------- illegal patterns


def test_two_destroyers_of_one_buffer():
    x = st.dvector("x")
    y = x * 2
    with pytest.raises(InconsistencyError, match="two ops overwrite the same buffer"):
        compile_([x], [add1(y), add10(y)])
    # Through a view too.
    with pytest.raises(InconsistencyError, match="two ops overwrite the same buffer"):
        compile_([x], [add1(y), add10(reverse(y))])


def test_destroying_an_input_needs_mutable():
    x = st.dvector("x")
    with pytest.raises(InconsistencyError, match=r"function input 0 \(x\).*In\(variable, mutable=True\)"):
        compile_([x], add1(x))
    with pytest.raises(InconsistencyError, match="mutable=True"):
        compile_([x], add1(reverse(x)))


def test_destroying_a_constant():
    c = st.constant(np.array([1.0, 2.0]))
    with pytest.raises(InconsistencyError, match="constant"):
        compile_([], add1(c))
    with pytest.raises(InconsistencyError, match="constant"):
        compile_([], add1(reverse(c)))


def test_destroying_a_shared_value_outside_its_update():
    s = shared(np.array([1.0, 2.0]), name="s")
    with pytest.raises(InconsistencyError, match="shared variable s.*no update"):
        compile_([], add1(s))
    with pytest.raises(InconsistencyError, match="shared variable s.*does not feed its update"):
        compile_([], add1(s), updates={s: s * 2})
    t = shared(np.array([1.0, 2.0]), name="t")
    with pytest.raises(InconsistencyError, match="shared variable s"):
        compile_([], [], updates={t: add1(s)})
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])


def test_shared_value_also_returned_while_destroyed_in_its_update():
    s = shared(np.array([1.0, 2.0]), name="s")
    with pytest.raises(InconsistencyError, match="also output"):
        compile_([], s, updates={s: add1(s)})


def test_reader_depending_on_the_destroyer_is_an_error():
    x = st.dvector("x")
    y = x * 2
    with pytest.raises(InconsistencyError, match="also reads"):
        compile_([x], add1(y) + y)


def test_view_read_after_the_destroy_is_an_error():
    x = st.dvector("x")
    y = x * 2
    view = reverse(y)
    with pytest.raises(InconsistencyError, match="also reads"):
        compile_([x], add1(y) + view)
    # A view returned to the caller outlives the overwrite.
    with pytest.raises(InconsistencyError, match=r"view of it\) is also output 1"):
        compile_([x], [add1(y), view])


def test_destroyer_reading_another_view_of_its_buffer():
    x = st.dvector("x")
    y = x * 2
    with pytest.raises(InconsistencyError, match="tolerates aliased inputs"):
        compile_([x], add_into(y, reverse(y)))


def test_error_names_the_user_source_line():
    x = st.dvector("x")
    y = x * 2
    bad = add1(y) + y  # the line the message must show
    with pytest.raises(InconsistencyError) as info:
        compile_([x], bad)
    text = str(info.value)
    assert "test_destroyhandler.py" in text and "bad = add1(y) + y" in text
    assert "AddInplace" in text


def test_malformed_destroy_map():
    class Broken(AddInplace):
        destroy_map = {0: [3]}

    x = st.dvector("x")
    with pytest.raises(InconsistencyError, match="has 1 inputs"):
        compile_([x], Broken()(x * 2))


def test_replacing_in_a_validated_graph_revalidates():
    x = st.dvector("x")
    y = x * 2
    fg = FunctionGraph([x], [add1(y), y * 3], clone=False)
    fg.attach_feature(DestroyHandler())
    # A legal change: the orderings follow the new graph.
    fg.replace(fg.outputs[1], y * 4)
    (dnode,) = [n for n in fg.apply_nodes if n.op == add1]
    assert all(r in fg.apply_nodes for r in fg.orderings()[dnode])
    order = fg.toposort()
    assert order.index(fg.outputs[1].owner) < order.index(dnode)
    # An unsafe change raises: returning y itself, which add1 overwrites.
    with pytest.raises(InconsistencyError, match="also output"):
        fg.replace(fg.outputs[1], y)
