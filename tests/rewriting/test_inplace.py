"""The in-place pass (pass 7): where it rewrites, where it must not, and that nothing the
caller owns is ever modified.

Structure tests compile FAST_RUN without the fusion pass (fusion would merge the elementwise
chains these tests look at into one composite), and also full FAST_RUN for values. Every
check compares with FAST_COMPILE through ``check_rewrite``.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import symgraph.tensor as st
from symgraph import FunctionGraph, In, function, shared
from symgraph.compile.mode import get_mode
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.rewriting.destroyhandler import DestroyHandler
from symgraph.rewriting.inplace import (
    InplaceAdvancedIncSubtensor,
    InplaceElemwise,
    InplaceIncSubtensor,
    inplace_pass,
)
from symgraph.testing import check_rewrite

NO_FUSION = get_mode("FAST_RUN").excluding("fusion")
rng = np.random.default_rng(0)


def destroyers(fgraph):
    return [n for n in fgraph.toposort() if getattr(n.op, "destroy_map", None)]


def destroyed_inputs(fgraph):
    """``{op name: destroyed input variable}`` for each destroyer."""
    return [(n, n.inputs[i]) for n in destroyers(fgraph) for ins in n.op.destroy_map.values() for i in ins]


def is_inplace(op):
    return bool(getattr(op, "destroy_map", None))


def check_inputs_untouched(f, values):
    copies = [np.array(v, copy=True) for v in values]
    first = f(*values)
    second = f(*values)
    for v, c in zip(values, copies):
        np.testing.assert_array_equal(v, c)
    for a, b in zip(first if isinstance(first, list) else [first], second if isinstance(second, list) else [second]):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- where it applies


def test_elementwise_chain_becomes_inplace():
    x, y = st.dvector("x"), st.dvector("y")
    out = st.exp(x + y) * 2
    vals = [rng.normal(size=5), rng.normal(size=5)]
    fg = check_rewrite([x, y], out, vals, mode=NO_FUSION, present=[InplaceElemwise])
    ops = {n.op.scalar_op.name: n.op for n in fg.toposort()}
    assert ops["exp"].inplace_pattern == ((0, 0),) and ops["exp"].destroy_map == {0: [0]}
    assert ops["mul"].inplace_pattern == ((0, 0),)
    assert not ops["add"].inplace_pattern  # its inputs are the caller's arrays
    check_inputs_untouched(function([x, y], out, mode=NO_FUSION), vals)


def test_inplace_with_fusion_on_a_composite():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    out = st.tanh(st.dot(x, y) + 1) * 3
    vals = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2))]
    fg = check_rewrite([x, y], out, vals, present=[is_inplace])
    ((node, var),) = destroyed_inputs(fg)
    assert var.owner is not None and var.owner.op == st.dot(x, y).owner.op
    check_inputs_untouched(function([x, y], out), vals)


def test_intermediate_read_twice_is_destroyed_by_its_last_reader_only():
    x, y = st.dvector("x"), st.dvector("y")
    w = st.exp(x + y)
    outs = [w * 2, w + 1]
    vals = [rng.normal(size=4), rng.normal(size=4)]
    fg = check_rewrite([x, y], outs, vals, mode=NO_FUSION)
    order = fg.toposort()
    (w_var,) = [n.outputs[0] for n in order if getattr(getattr(n.op, "scalar_op", None), "name", "") == "exp"]
    readers = [n for n in order if w_var in n.inputs]
    assert len(readers) == 2
    destroying = [n for n in readers if n.op.destroy_map]
    assert destroying == [readers[-1]]  # the reader running last, after the other one
    check_inputs_untouched(function([x, y], outs, mode=NO_FUSION), vals)


def test_reader_after_the_candidate_prevents_inplace():
    # exp(z) * z: mul runs after exp and reads z, so exp must not overwrite z.
    x, y = st.dvector("x"), st.dvector("y")
    z = x + y
    out = st.exp(z) * z
    vals = [rng.normal(size=4), rng.normal(size=4)]
    fg = check_rewrite([x, y], out, vals, mode=NO_FUSION)
    pairs = {n.op.scalar_op.name: v for n, v in destroyed_inputs(fg)}
    assert "exp" not in pairs
    # Canonicalisation may order the product either way; either operand is fine to overwrite
    # (the exp reading z runs first).
    assert pairs["mul"].owner.op.scalar_op.name in ("exp", "add")


def test_set_subtensor_on_an_intermediate_is_inplace():
    x, y = st.dvector("x"), st.dvector("y")
    out = st.set_subtensor((x * 2)[1:3], y)
    vals = [rng.normal(size=5), rng.normal(size=2)]
    check_rewrite([x, y], out, vals, mode=NO_FUSION, present=[InplaceIncSubtensor])
    check_rewrite([x, y], out, vals, present=[InplaceIncSubtensor])
    check_inputs_untouched(function([x, y], out), vals)


def test_inc_subtensor_chain_is_inplace():
    x = st.dmatrix("x")
    z = x * 1.5
    z = st.inc_subtensor(z[0], 1.0)
    z = st.inc_subtensor(z[:, 1], 2.0)
    vals = [rng.normal(size=(3, 3))]
    fg = check_rewrite([x], z, vals, mode=NO_FUSION)
    assert sum(isinstance(n.op, InplaceIncSubtensor) for n in fg.toposort()) == 2
    check_inputs_untouched(function([x], z), vals)


def test_advanced_inc_subtensor_is_inplace_with_add_at_semantics():
    x = st.dvector("x")
    idx = st.lvector("idx")
    out = st.inc_subtensor((x * 2)[idx], 1.0)
    vals = [np.arange(4.0), np.array([0, 0, 3])]
    fg = check_rewrite([x, idx], out, vals, mode=NO_FUSION, present=[InplaceAdvancedIncSubtensor])
    f = function([x, idx], out)
    np.testing.assert_array_equal(f(*vals), [2.0, 2.0, 4.0, 7.0])
    check_inputs_untouched(f, vals)
    assert str(next(n.op for n in fg.toposort() if isinstance(n.op, InplaceAdvancedIncSubtensor))).endswith("{inplace}")


def test_inplace_pass_on_a_function_graph_is_accepted_by_the_destroy_handler():
    x, y = st.dvector("x"), st.dvector("y")
    w = st.exp(x + y)
    fg = FunctionGraph([x, y], [st.sqrt(w * w) - w, st.set_subtensor(w[0], 0.0)])
    assert inplace_pass(fg) > 0
    DestroyHandler().validate(fg)
    assert inplace_pass(fg) == 0  # already in-place: nothing left to do


# --------------------------------------------------------------------------- where it must not


def test_inputs_are_never_destroyed():
    x = st.dvector("x")
    for spec in (x, In(x, mutable=True)):
        f = function([spec], st.exp(x), mode=NO_FUSION)
        assert not destroyers(f.maker.fgraph)
    check_rewrite([x], st.exp(x), [rng.normal(size=3)], absent=[is_inplace])


def test_shared_and_constants_are_never_destroyed():
    s = shared(rng.normal(size=3), name="s")
    c = st.constant(np.array([1.0, 2.0, 3.0]))
    before = s.get_value()
    f = function([], [st.exp(s), st.exp(c) + s], mode=NO_FUSION)
    for node, var in destroyed_inputs(f.maker.fgraph):
        assert var.owner is not None
    f()
    f()
    np.testing.assert_array_equal(s.get_value(), before)
    # An update computed from s leaves s's old buffer alone (it is not overwritten in place).
    g = function([], [], updates={s: st.exp(s) * 2}, mode=NO_FUSION)
    old = s.get_value(borrow=True)
    old_copy = old.copy()
    g()
    np.testing.assert_array_equal(old, old_copy)
    np.testing.assert_allclose(s.get_value(), np.exp(old_copy) * 2)


def test_outputs_are_never_destroyed():
    x, y = st.dvector("x"), st.dvector("y")
    z = x + y
    outs = [z, st.exp(z)]
    vals = [rng.normal(size=3), rng.normal(size=3)]
    fg = check_rewrite([x, y], outs, vals, mode=NO_FUSION, absent=[is_inplace])
    assert not destroyers(fg)


def test_broadcast_inputs_are_not_destroyed():
    # The row is (1, n) while the result is (m, n): writing into it is impossible.
    r, m = st.tensor("r", dtype="float64", shape=(1, None)), st.dmatrix("m")
    out = (r * 2) + m
    vals = [rng.normal(size=(1, 3)), rng.normal(size=(2, 3))]
    fg = check_rewrite([r, m], out, vals, mode=NO_FUSION)
    assert not destroyers(fg)


def test_views_are_not_destroyed():
    x, y = st.dmatrix("x"), st.dmatrix("y")
    out = st.exp((x + y).T)
    vals = [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))]
    fg = check_rewrite([x, y], out, vals, mode=NO_FUSION)
    for node, var in destroyed_inputs(fg):
        assert not getattr(var.owner.op, "view_map", None)


def test_set_subtensor_reading_a_view_of_x_is_not_inplace():
    x = st.dvector("x")
    z = x * 2
    out = st.set_subtensor(z[1:], z[:-1])
    vals = [np.arange(5.0)]
    check_rewrite([x], out, vals, mode=NO_FUSION, absent=[InplaceIncSubtensor])
    np.testing.assert_array_equal(function([x], out)(*vals), [0.0, 0.0, 2.0, 4.0, 6.0])


def test_inc_subtensor_on_an_input_is_not_inplace():
    x = st.dvector("x")
    out = st.inc_subtensor(x[1:], 1.0)
    check_rewrite([x], out, [np.arange(3.0)], absent=[is_inplace])


def test_intermediate_with_another_reader():
    x = st.dvector("x")
    z = x * 3
    a = st.set_subtensor(z[0], -1.0)
    vals = [np.arange(1.0, 4.0)]
    # sum(z) does not need a: set_subtensor may overwrite z once sum(z) has run. (The pass
    # only uses readers that come earlier in the graph's order, here by listing sum first.)
    fg = check_rewrite([x], [z.sum() * 2, a], vals, mode=NO_FUSION, present=[InplaceIncSubtensor])
    order = fg.toposort()
    (inc,) = [n for n in order if isinstance(n.op, InplaceIncSubtensor)]
    (reader,) = [n for n in order if n is not inc and inc.inputs[0] in n.inputs]
    assert order.index(reader) < order.index(inc)
    # z + a needs a and reads z: overwriting z would corrupt it.
    check_rewrite([x], a + z, vals, mode=NO_FUSION, absent=[InplaceIncSubtensor])
    check_rewrite([x], a + z, vals)


# --------------------------------------------------------------------------- the ops themselves


def test_inplace_elemwise_falls_back_on_read_only_memory():
    x, y = st.dvector("x"), st.dvector("y")
    op = InplaceElemwise("add", {0: 0})
    node = op.make_node(x, y)
    a = np.arange(3.0)
    a.flags.writeable = False
    storage = {x: [a], y: [np.ones(3)], node.outputs[0]: [None]}
    compute = {v: [True] for v in storage}
    op.make_thunk(node, storage, compute, no_recycling=[])()
    np.testing.assert_array_equal(storage[node.outputs[0]][0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])
    # A writeable target is written.
    b = np.arange(3.0)
    storage[x] = [b]
    storage[node.outputs[0]] = [None]
    thunk = op.make_thunk(node, storage, compute, no_recycling=[])
    thunk()
    assert storage[node.outputs[0]][0] is b
    np.testing.assert_array_equal(b, [1.0, 2.0, 3.0])


def test_inplace_inc_subtensor_writes_into_x():
    x, y = st.dvector("x"), st.dscalar("y")
    base = st.inc_subtensor(x[1:], y).owner.op
    op = InplaceIncSubtensor.__new__(InplaceIncSubtensor)
    op.__dict__.update(base.__dict__)
    node = op.make_node(x, y)
    a = np.zeros(3)
    storage = {x: [a], y: [np.array(2.0)], node.outputs[0]: [None]}
    compute = {v: [True] for v in storage}
    op.make_thunk(node, storage, compute, no_recycling=[])()
    out = storage[node.outputs[0]][0]
    assert type(out) is np.ndarray and np.shares_memory(out, a)
    np.testing.assert_array_equal(a, [0.0, 2.0, 2.0])


def test_inplace_functions_pickle():
    import pickle

    x, y = st.dvector("x"), st.dvector("y")
    f = function([x, y], st.exp(x + y) * 2, mode=NO_FUSION)
    g = pickle.loads(pickle.dumps(f))
    vals = [rng.normal(size=3), rng.normal(size=3)]
    np.testing.assert_allclose(g(*vals), f(*vals))
    assert destroyers(g.maker.fgraph)


# --------------------------------------------------------------------------- property test

UNARY = ["exp", "tanh", "neg", "sqr", "abs", "sin"]
BINARY = ["add", "mul", "sub", "maximum"]


@hst.composite
def programs(draw):
    n_steps = draw(hst.integers(1, 7))
    steps = []
    for k in range(n_steps):
        kind = draw(hst.sampled_from(["unary", "binary", "binary", "set", "inc", "index", "T", "adv"]))
        a = draw(hst.integers(0, k + 2))  # index into [x, y, s, step results...]
        b = draw(hst.integers(0, k + 2))
        name = draw(hst.sampled_from(UNARY if kind == "unary" else BINARY))
        steps.append((kind, name, a, b))
    n_out = draw(hst.integers(1, 3))
    outs = draw(hst.lists(hst.integers(0, n_steps + 2), min_size=n_out, max_size=n_out))
    update = draw(hst.booleans())
    return steps, outs, update


def _build(steps, outs, x, y, s):
    vals = [x, y, s]
    for kind, name, a, b in steps:
        u, v = vals[a], vals[b]
        if kind == "unary":
            r = getattr(st, name)(u)
        elif kind == "binary":
            r = getattr(st, name)(u, v)
        elif kind == "set":
            r = st.set_subtensor(u[1:], v[:2])
        elif kind == "inc":
            r = st.inc_subtensor(u[0], v[1])
        elif kind == "index":
            r = u[::-1] * 1.0
        elif kind == "T":
            r = u.T + v
        else:
            r = st.inc_subtensor(u[[0, 0, 2]], v[0])
        vals.append(st.tanh(r) if kind == "binary" else r)
    return [vals[i] for i in outs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), hst.sampled_from(["FAST_RUN", "NO_FUSION"]))
def test_property_no_input_or_shared_value_is_modified(program, mode_name):
    steps, outs, update = program
    x, y = st.dmatrix("x"), st.dmatrix("y")
    init = rng.normal(size=(3, 3))
    s = shared(init.copy(), name="s")
    graph_outs = _build(steps, outs, x, y, s)
    updates = {s: graph_outs[0] * 0.5} if update else None
    mode = NO_FUSION if mode_name == "NO_FUSION" else mode_name
    f = function([x, y], graph_outs, mode=mode, updates=updates, on_unused_input="ignore")
    ref = function([x, y], graph_outs, mode="FAST_COMPILE", on_unused_input="ignore")
    xv, yv = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    xc, yc = xv.copy(), yv.copy()
    for call in range(2):
        shared_before = s.get_value()
        buffer = s.get_value(borrow=True)
        expected = ref(xc, yc)  # FAST_COMPILE reads s too (and has no update)
        got = f(xv, yv)
        np.testing.assert_array_equal(xv, xc)
        np.testing.assert_array_equal(yv, yc)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        if update:
            np.testing.assert_allclose(s.get_value(), np.asarray(expected[0]) * 0.5, rtol=1e-10, atol=1e-12)
            if s.get_value(borrow=True) is not buffer:
                # The old value was not overwritten behind the user's back.
                np.testing.assert_array_equal(buffer, shared_before)
        else:
            np.testing.assert_array_equal(s.get_value(), shared_before)
            assert s.get_value(borrow=True) is buffer


class AddOneInplace(Op):
    """A user op overwriting its input with input + 1."""

    __props__ = ()
    destroy_map = {0: [0]}

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        inputs[0] += 1
        output_storage[0][0] = inputs[0]


add1 = AddOneInplace()


def test_pass_next_to_user_destroyers():
    # A user op overwriting a mutable input, and a user op overwriting an intermediate read
    # first by an elementwise op: the pass still works around them.
    x, y = st.dvector("x"), st.dvector("y")
    z = st.exp(x + y)
    outs = [add1(z * 2), st.tanh(z) * 3, add1(y)]
    f = function([x, In(y, mutable=True)], outs, mode=NO_FUSION)
    assert any(isinstance(n.op, InplaceElemwise) for n in f.maker.fgraph.toposort())
    xv, yv = rng.normal(size=3), rng.normal(size=3)
    y_before = yv.copy()
    a, b, c = f(xv.copy(), yv)
    zv = np.exp(xv + y_before)
    np.testing.assert_allclose(a, zv * 2 + 1)
    np.testing.assert_allclose(b, np.tanh(zv) * 3)
    np.testing.assert_allclose(c, y_before + 1)


def test_inc_subtensor_reading_x_as_its_values_or_indices_is_not_inplace():
    x = st.dvector("x")
    z = x * 2
    out = st.set_subtensor(z[:], z)  # y is x itself
    check_rewrite([x], out, [np.arange(3.0)], mode=NO_FUSION, absent=[InplaceIncSubtensor])
    i = st.lvector("i")
    k = i + 0
    out = st.inc_subtensor(k[k], 1)  # the index is x itself
    check_rewrite([i], out, [np.array([0, 0, 1])], mode=NO_FUSION, absent=[InplaceAdvancedIncSubtensor])


def test_elementwise_reading_its_target_twice_is_inplace():
    x = st.dvector("x")
    z = st.exp(x)
    fg = check_rewrite([x], st.tanh(x) + st.mul(z, z), [rng.normal(size=3)], mode=NO_FUSION)
    # The square (z * z, or sqr(z) once specialised) overwrites exp(x).
    exp_outs = [n.outputs[0] for n in fg.toposort() if getattr(getattr(n.op, "scalar_op", None), "name", "") == "exp"]
    assert any(v in exp_outs for _, v in destroyed_inputs(fg))
