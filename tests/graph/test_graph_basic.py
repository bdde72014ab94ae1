"""Graph nodes: interning, immutability, traversal, cloning and pickling (symgraph.graph.basic).

Uses small test-only Types and Ops so the core is tested independently of symgraph.tensor.
"""

import pickle
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from symgraph.graph.basic import (
    Apply,
    Constant,
    Variable,
    ancestors,
    applys_between,
    clone,
    clone_get_equiv,
    graph_inputs,
    io_toposort,
    is_in_ancestors,
    rebuild_graph,
    toposort,
    vars_between,
)
from symgraph.graph.op import Op
from symgraph.graph.type import Type, generic

# --------------------------------------------------------------------------- test-only kit


class Real(Type):
    """Python floats; ``width`` only exists to make distinct, unequal types."""

    __props__ = ("width",)

    def __init__(self, width=64):
        self.width = width

    def filter(self, data, strict=False, allow_downcast=None):
        if strict and not isinstance(data, float):
            raise TypeError(f"expected a float, got {type(data).__name__}")
        if isinstance(data, (str, bytes)):
            raise TypeError("strings are not reals")
        return float(data)

    def __str__(self):
        return f"Real{self.width}"


REAL = Real()
REAL32 = Real(32)


class Vec(Type):
    """1-d float64 numpy arrays."""

    __props__ = ()

    def filter(self, data, strict=False, allow_downcast=None):
        arr = np.asarray(data, dtype="float64")
        if arr.ndim != 1:
            raise TypeError("expected a vector")
        return arr


VEC = Vec()


class Add(Op):
    __props__ = ()

    def make_node(self, a, b):
        a, b = REAL.filter_variable(a), REAL.filter_variable(b)
        return Apply(self, [a, b], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + inputs[1]


class Mul(Op):
    __props__ = ()

    def make_node(self, a, b):
        a, b = REAL.filter_variable(a), REAL.filter_variable(b)
        return Apply(self, [a, b], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * inputs[1]


class Neg(Op):
    __props__ = ()

    def make_node(self, a):
        return Apply(self, [REAL.filter_variable(a)], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = -inputs[0]


class Scale(Op):
    __props__ = ("factor",)

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, a):
        return Apply(self, [REAL.filter_variable(a)], [REAL()])

    def perform(self, node, inputs, output_storage):
        factor = sum(self.factor) if isinstance(self.factor, list) else self.factor
        output_storage[0][0] = inputs[0] * factor


class DivMod(Op):
    """Two outputs."""

    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [REAL.filter_variable(a), REAL.filter_variable(b)], [REAL(), REAL()])

    def perform(self, node, inputs, output_storage):
        q, r = divmod(inputs[0], inputs[1])
        output_storage[0][0] = float(q)
        output_storage[1][0] = float(r)


add, mul, neg = Add(), Mul(), Neg()


def evaluate(outputs, givens):
    """Evaluate ``outputs`` by running each node's thunk (test helper, no compiler needed)."""
    storage = {v: [val] for v, val in givens.items()}
    for node in toposort(outputs):
        for inp in node.inputs:
            if inp not in storage:
                assert isinstance(inp, Constant), f"no value for {inp}"
                storage[inp] = [inp.data]
        for out in node.outputs:
            storage[out] = [None]
        node.op.make_thunk(node, storage, None, [])()
    return [storage[o][0] if o in storage else o.data for o in outputs]


def diamond():
    """x, y -> a = x + y; b = a * x; c = -a; out = b + c."""
    x, y = REAL("x"), REAL("y")
    a = add(x, y)
    b = mul(a, x)
    c = neg(a)
    out = add(b, c)
    return x, y, a, b, c, out


# --------------------------------------------------------------------------- interning


def test_same_op_and_inputs_give_the_same_node():
    x, y = REAL("x"), REAL("y")
    z1 = Add()(x, y)
    z2 = Add()(x, y)  # a different but equal op instance
    assert z1 is z2
    assert z1.owner is z2.owner


def test_interning_depends_on_input_identity_and_order():
    x, y = REAL("x"), REAL("y")
    assert add(x, y) is not add(y, x)
    x2 = REAL("x")  # same type and name, different variable
    assert add(x, y) is not add(x2, y)


def test_different_props_give_different_nodes():
    x = REAL("x")
    assert Scale(2.0)(x) is Scale(2.0)(x)
    assert Scale(2.0)(x) is not Scale(3.0)(x)
    assert Scale(2.0)(x).owner.op.factor == 2.0
    assert Scale(3.0)(x).owner.op.factor == 3.0


def test_different_op_classes_with_same_inputs_give_different_nodes():
    x, y = REAL("x"), REAL("y")
    assert add(x, y) is not mul(x, y)


def test_unhashable_props_are_not_interned_but_work():
    x = REAL("x")
    op = Scale([1.0, 2.0])
    with pytest.raises(TypeError):
        hash(op)
    z1, z2 = op(x), op(x)
    assert z1 is not z2
    assert z1.owner is not z2.owner
    assert evaluate([z1, z2], {x: 2.0}) == [6.0, 6.0]


def test_existing_node_with_other_output_types_is_not_reused():
    x = REAL("x")
    node1 = Apply(neg, [x], [REAL()])
    node2 = Apply(neg, [x], [REAL32()])
    assert node1 is not node2
    assert node2.outputs[0].type == REAL32
    # the first node stays the interned one
    assert Apply(neg, [x], [REAL()]) is node1


def test_apply_returns_existing_node_and_leaves_fresh_outputs_unowned():
    x = REAL("x")
    node = Apply(neg, [x], [REAL()])
    fresh = REAL()
    again = Apply(neg, [x], [fresh])
    assert again is node
    assert fresh.owner is None


def test_apply_checks_its_arguments():
    x = REAL("x")
    with pytest.raises(TypeError, match="input 1 is not a symbolic Variable"):
        Apply(add, [x, 3.0], [REAL()])
    with pytest.raises(TypeError, match="output 0 is not a Variable"):
        Apply(neg, [x], [3.0])
    owned = neg(x)
    with pytest.raises(ValueError, match="already belongs"):
        Apply(Scale(5.0), [x], [owned])


def test_constants_are_interned_on_type_and_data():
    c1 = Constant(REAL, 2.0)
    assert Constant(REAL, 2.0) is c1
    assert Constant(REAL, 2) is c1  # filtered to 2.0 first
    assert REAL.make_constant(2.0) is c1
    assert Constant(REAL32, 2.0) is not c1
    assert Constant(REAL, 3.0) is not c1
    assert c1.data == 2.0 and c1.value == 2.0
    assert c1.clone() is c1


def test_constant_signature_is_none_for_unhashable_data():
    c1 = Constant(generic, [1, 2])
    c2 = Constant(generic, [1, 2])
    assert c1 is not c2
    assert c1.signature() is None
    assert Constant(REAL, 2.0).signature() is not None


def test_ndarray_constants_are_interned_on_content():
    a = np.arange(4.0)
    c1 = Constant(VEC, a)
    c2 = Constant(VEC, np.array([0.0, 1.0, 2.0, 3.0]))
    c3 = Constant(VEC, np.array([0.0, 1.0, 2.0, 4.0]))
    assert c1 is c2
    assert c1 is not c3


def test_constant_data_is_read_only_and_the_caller_array_untouched():
    a = np.arange(3.0)
    c = Constant(VEC, a * 7)  # unique content
    assert not c.data.flags.writeable
    with pytest.raises(ValueError):
        c.data[0] = 100.0
    assert a.flags.writeable
    a[0] = 42.0  # mutating an input array does not affect an existing constant
    b = np.array([5.0, 6.0, 7.0, 8.0, 9.0])
    c2 = Constant(VEC, b)
    b[0] = -1.0
    assert c2.data[0] == 5.0


# Regression test (was a core bug): _data_signature keys Python/numpy float scalars by value,
# and -0.0 == 0.0 hash alike, so Constant(t, -0.0) returns the interned 0.0 constant (1/c then
# gives +inf)
def test_negative_zero_constant_is_not_merged_with_zero():
    pos = Constant(REAL, 0.0)
    neg_zero = Constant(REAL, -0.0)
    assert np.copysign(1.0, neg_zero.data) == -1.0
    assert neg_zero is not pos
    assert Constant(generic, np.float64(-0.0)) is not Constant(generic, np.float64(0.0))
    assert Constant(REAL, -0.0) is neg_zero


# --------------------------------------------------------------------------- immutability


def test_apply_fields_cannot_be_set():
    x, y = REAL("x"), REAL("y")
    node = add(x, y).owner
    with pytest.raises(AttributeError, match="immutable"):
        node.inputs = (y, x)
    with pytest.raises(AttributeError, match="immutable"):
        node.op = mul
    with pytest.raises(AttributeError, match="immutable"):
        node.outputs = ()
    assert node.inputs == (x, y)
    node.tag.note = "tags stay writable"
    assert node.tag.note == "tags stay writable"


def test_owned_variable_fields_cannot_be_set():
    x, y = REAL("x"), REAL("y")
    z = add(x, y)
    for field, value in (("owner", None), ("index", 1), ("type", REAL32)):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(z, field, value)
    assert z.owner is not None and z.index == 0 and z.type == REAL
    z.name = "z"  # names stay settable
    assert str(z) == "z"


def test_root_variable_fields_can_be_set_until_owned():
    v = REAL()
    v.index = 0
    v.type = REAL32
    assert v.type == REAL32
    v.type = REAL
    node = Apply(neg, [REAL("x")], [v])
    assert v.owner is node
    with pytest.raises(AttributeError):
        v.owner = None


# --------------------------------------------------------------------------- variables


def test_variable_str_and_clone():
    x = REAL("x")
    anon = REAL()
    assert str(x) == "x" and repr(x) == "x"
    assert str(anon) == "<Real64>"
    z = neg(x)
    assert str(z) == "Neg.0"
    q, r = DivMod()(x, x)
    assert (str(q), str(r)) == ("DivMod.0", "DivMod.1")
    assert str(Constant(REAL, 1.5)) == "1.5"
    assert str(z.owner) == "Neg(x)"
    x.tag.note = "kept"
    c = x.clone()
    assert c is not x and c.owner is None and c.type is x.type and c.name == "x"
    assert c.tag.note == "kept"
    assert x.clone(name="other").name == "other"
    zc = z.clone()
    assert zc.owner is None and zc.type == z.type


def test_default_output_and_out():
    x, y = REAL("x"), REAL("y")
    node = DivMod()(x, y)[0].owner
    assert node.nin == 2 and node.nout == 2
    with pytest.raises(ValueError, match="no default_output"):
        node.default_output()
    single = neg(x).owner
    assert single.out is single.outputs[0]


def test_clone_with_new_inputs():
    x, y, w = REAL("x"), REAL("y"), REAL("w")
    z = add(x, y)
    z.name = "z"
    node = z.owner
    new = node.clone_with_new_inputs([w, y])
    assert new.inputs == (w, y) and new.op == node.op
    assert new.outputs[0].name == "z"
    assert node.clone_with_new_inputs([x, y]) is node
    assert node.clone() is node
    # strict: a new input of an incompatible type is refused
    with pytest.raises(TypeError):
        node.clone_with_new_inputs([REAL32("v"), y])
    with pytest.raises(ValueError, match="takes 2 inputs"):
        node.clone_with_new_inputs([x])


def test_clone_with_new_inputs_non_strict_remakes_through_make_node():
    class Ident(Op):
        __props__ = ()

        def make_node(self, a):
            return Apply(self, [a], [a.type()])

    x = REAL("x")
    node = Ident()(x).owner
    new = node.clone_with_new_inputs([REAL32("v")], strict=False)
    assert new.outputs[0].type == REAL32


# --------------------------------------------------------------------------- traversal


def test_ancestors_order_and_blockers():
    x, y, a, b, c, out = diamond()
    assert list(ancestors([out])) == [out, b, a, x, y, c]
    assert list(ancestors(out)) == [out, b, a, x, y, c]
    assert list(ancestors([out], blockers=[a])) == [out, b, a, x, c]


def test_graph_inputs_include_constants_and_blockers():
    x, y, a, b, c, out = diamond()
    assert graph_inputs([out]) == [x, y]
    k = Constant(REAL, 11.0)
    e = add(out, k)
    assert graph_inputs([e]) == [x, y, k]
    assert graph_inputs([out], blockers=[a]) == [a, x]


def test_io_toposort_exact_order():
    x, y, a, b, c, out = diamond()
    A, B, C, OUT = a.owner, b.owner, c.owner, out.owner
    assert io_toposort([x, y], [out]) == [A, B, C, OUT]
    assert toposort([out]) == [A, B, C, OUT]
    assert toposort(out) == [A, B, C, OUT]
    assert io_toposort([a], [out]) == [B, C, OUT]
    assert io_toposort([x, y], [c, b]) == [A, C, B]
    assert io_toposort([out], [out]) == []


def test_io_toposort_orderings():
    x, y = REAL("x"), REAL("y")
    p = neg(x)
    q = neg(y)
    s = add(p, q)
    P, Q, S = p.owner, q.owner, s.owner
    assert io_toposort([x, y], [s]) == [P, Q, S]
    # ask for q's node to run before p's node
    assert io_toposort([x, y], [s], {P: [Q]}) == [Q, P, S]


def test_vars_and_applys_between_and_is_in_ancestors():
    x, y, a, b, c, out = diamond()
    assert vars_between([x, y], [out]) == [out, b, a, x, y, c]
    assert vars_between([a], [out]) == [out, b, a, x, c]
    assert applys_between([a], [out]) == [out.owner, b.owner, c.owner]
    assert applys_between([x, y], [out]) == [out.owner, b.owner, a.owner, c.owner]
    assert is_in_ancestors(out.owner, a)
    assert is_in_ancestors(out.owner, a.owner)
    assert is_in_ancestors(b.owner, x)
    assert not is_in_ancestors(c.owner, b)
    assert not is_in_ancestors(b.owner, c.owner)
    assert not is_in_ancestors(a.owner, out)


def _build_dag(spec):
    """Build a random DAG: ``spec`` is a list of (op kind, input picks) over earlier variables."""
    roots = [REAL(f"r{i}") for i in range(3)]
    variables = list(roots)
    for kind, picks in spec:
        ins = [variables[p % len(variables)] for p in picks]
        if kind == 0:
            variables.append(neg(ins[0]))
        elif kind == 1:
            variables.append(add(ins[0], ins[1]))
        elif kind == 2:
            variables.append(mul(ins[0], ins[1]))
        else:
            variables.extend(DivMod()(ins[0], ins[1]))
    return roots, variables


_dag_spec = hst.lists(
    hst.tuples(hst.integers(0, 3), hst.lists(hst.integers(0, 10_000), min_size=2, max_size=2)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_dag_spec, hst.lists(hst.integers(0, 10_000), min_size=1, max_size=3))
def test_toposort_is_valid_on_random_dags(spec, out_picks):
    roots, variables = _build_dag(spec)
    outputs = [variables[p % len(variables)] for p in out_picks]
    order = io_toposort(roots, outputs)
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order)  # no duplicates
    # exactly the nodes the outputs depend on
    expected = set()
    stack = [o.owner for o in outputs if o.owner is not None]
    while stack:
        node = stack.pop()
        if node in expected:
            continue
        expected.add(node)
        stack.extend(i.owner for i in node.inputs if i.owner is not None)
    assert set(order) == expected
    # every node after the owners of its inputs
    for node in order:
        for inp in node.inputs:
            if inp.owner is not None:
                assert position[inp.owner] < position[node]
    # ancestors yields each variable once, and graph_inputs are the roots used
    anc = list(ancestors(outputs))
    assert len(anc) == len(set(anc))
    assert set(graph_inputs(outputs)) <= set(roots)
    assert set(graph_inputs(outputs)) == {v for v in anc if v.owner is None}


# --------------------------------------------------------------------------- cloning / rebuilding


def test_clone_get_equiv_copy_inputs():
    x, y, a, b, c, out = diamond()
    k = Constant(REAL, 4.0)
    e = add(out, k)
    equiv = clone_get_equiv([x, y], [e], copy_inputs=True)
    nx, ny, ne = equiv[x], equiv[y], equiv[e]
    assert nx is not x and ny is not y and nx.name == "x" and nx.owner is None
    assert ne is not e
    assert equiv[k] is k  # constants are never copied
    assert equiv[e.owner] is ne.owner
    assert graph_inputs([ne]) == [nx, ny, k]
    assert evaluate([ne], {nx: 2.0, ny: 3.0}) == evaluate([e], {x: 2.0, y: 3.0}) == [4.0 + 10.0 - 5.0]
    # the old graph is untouched
    assert graph_inputs([e]) == [x, y, k]


def test_clone_get_equiv_without_copying_is_the_same_graph():
    x, y, a, b, c, out = diamond()
    equiv = clone_get_equiv([x, y], [out], copy_inputs=False, copy_orphans=False)
    for v in (x, y, a, b, c, out):
        assert equiv[v] is v
    assert equiv[out.owner] is out.owner


def test_clone_get_equiv_copy_orphans_copies_roots_that_are_not_inputs():
    x, y, a, b, c, out = diamond()
    # y is not declared as an input: it is an orphan
    equiv = clone_get_equiv([x], [out], copy_inputs=True, copy_orphans=True)
    assert equiv[x] is not x and equiv[y] is not y and equiv[y].name == "y"
    assert set(graph_inputs([equiv[out]])) == {equiv[x], equiv[y]}
    equiv = clone_get_equiv([x], [out], copy_inputs=True, copy_orphans=False)
    assert equiv[x] is not x and equiv[y] is y


# Regression test (was a core bug): clone_get_equiv(copy_inputs=False, copy_orphans=True) also
# copies the inputs, because graph_inputs(outputs, blockers=inputs) returns the blockers (the
# inputs) too
def test_clone_get_equiv_copy_orphans_keeps_inputs_when_not_copying_them():
    x, y, a, b, c, out = diamond()
    equiv = clone_get_equiv([x], [out], copy_inputs=False, copy_orphans=True)
    assert equiv[y] is not y
    assert equiv[x] is x


def test_clone_get_equiv_memo():
    x, y, a, b, c, out = diamond()
    w = REAL("w")
    equiv = clone_get_equiv([x, y], [out], copy_inputs=False, copy_orphans=False, memo={x: w})
    assert equiv[x] is w
    assert graph_inputs([equiv[out]]) == [w, y]


def test_clone_function():
    x, y, a, b, c, out = diamond()
    (nx, ny), (nout,) = clone([x, y], [out])
    assert nx is not x and nout is not out
    assert graph_inputs([nout]) == [nx, ny]
    (sx, sy), (sout,) = clone([x, y], [out], copy_inputs=False)
    assert (sx, sy, sout) == (x, y, out)


def test_rebuild_graph_only_rebuilds_dependents():
    x, y, a, b, c, out = diamond()
    w = REAL("w")
    (new_out,), equiv = rebuild_graph([out], {y: w})
    assert new_out is not out
    assert equiv[y] is w
    assert equiv[a] is not a  # depends on y
    assert set(graph_inputs([new_out])) == {x, w}
    unaffected = neg(x)
    (same,), equiv2 = rebuild_graph([unaffected], {y: w})
    assert same is unaffected
    assert rebuild_graph([out], {}) == ([out], {})


# --------------------------------------------------------------------------- pickling


def test_pickle_variable_graph_roundtrip():
    x, y, a, b, c, out = diamond()
    out.name = "out"
    new_out = pickle.loads(pickle.dumps(out))
    assert new_out.name == "out"
    nodes = toposort([new_out])
    assert [type(n.op) for n in nodes] == [Add, Mul, Neg, Add]
    nx, ny = graph_inputs([new_out])
    assert (nx.name, ny.name) == ("x", "y")
    assert nx is not x  # a fresh copy of the roots
    # sharing is preserved: a is computed once and used twice
    assert nodes[1].inputs[0] is nodes[2].inputs[0]
    assert evaluate([new_out], {nx: 2.0, ny: 3.0}) == evaluate([out], {x: 2.0, y: 3.0})


def test_pickle_keeps_shared_roots_shared_across_objects():
    x, y, a, b, c, out = diamond()
    new_x, new_out, new_c = pickle.loads(pickle.dumps((x, out, c)))
    assert graph_inputs([new_out])[0] is new_x
    assert new_c.owner in toposort([new_out])


def test_pickle_constant_and_apply():
    k = Constant(REAL, 6.25)
    assert pickle.loads(pickle.dumps(k)) is k  # re-interned
    x = REAL("x")
    node = DivMod()(x, k)[0].owner
    new_node = pickle.loads(pickle.dumps(node))
    assert isinstance(new_node, Apply) and isinstance(new_node.op, DivMod)
    assert new_node.inputs[1] is k
    assert len(new_node.outputs) == 2


def test_pickle_deep_chain_without_recursion_error():
    x = REAL("x")
    v = x
    one = Constant(REAL, 1.0)
    for _ in range(5000):
        v = add(v, one)
    assert sys.getrecursionlimit() < 5000 * 4
    data = pickle.dumps(v)
    new_v = pickle.loads(data)
    assert len(toposort([new_v])) == 5000
    (root,) = [r for r in graph_inputs([new_v]) if not isinstance(r, Constant)]
    assert evaluate([new_v], {root: 0.5}) == [5000.5]


def test_pickle_keeps_test_value_validation():
    x = REAL("x")
    x.tag.test_value = 2.0
    new_x = pickle.loads(pickle.dumps(x))
    assert new_x.tag.test_value == 2.0
    new_x.tag.test_value = 3  # validated (converted) through the type again
    assert new_x.tag.test_value == 3.0 and isinstance(new_x.tag.test_value, float)
    with pytest.raises(TypeError):
        new_x.tag.test_value = "not a number"


def test_variable_is_hashable_by_identity():
    x = REAL("x")
    y = REAL("x")
    assert x != y and x == x
    assert len({x, y, x}) == 2
    assert isinstance(x, Variable)
