"""clone_replace / graph_replace (symgraph.graph.replace)."""

import pytest

from symgraph.graph.basic import Apply, Constant, graph_inputs, toposort
from symgraph.graph.op import Op
from symgraph.graph.replace import clone_replace, graph_replace
from symgraph.graph.type import Type


class Real(Type):
    __props__ = ("width",)

    def __init__(self, width=64):
        self.width = width

    def filter(self, data, strict=False, allow_downcast=None):
        return float(data)


REAL, REAL32 = Real(), Real(32)


class Binary(Op):
    __props__ = ("sym",)

    def __init__(self, sym):
        self.sym = sym

    def make_node(self, a, b):
        return Apply(self, [a, b], [a.type()])


class Neg(Op):
    __props__ = ()

    def make_node(self, a):
        return Apply(self, [a], [a.type()])


add, mul, neg = Binary("+"), Binary("*"), Neg()


def structure(var):
    """A nested tuple describing the expression (roots by identity)."""
    if var.owner is None:
        return var
    return (var.owner.op, tuple(structure(i) for i in var.owner.inputs))


def graph():
    x, y = REAL("x"), REAL("y")
    a = add(x, y)
    out = mul(a, neg(a))
    return x, y, a, out


def test_clone_replace_substitutes_and_leaves_old_graph():
    x, y, a, out = graph()
    before = structure(out)
    w = REAL("w")
    new = clone_replace(out, {y: w})
    assert structure(new) == structure(mul(add(x, w), neg(add(x, w))))
    assert structure(out) == before
    assert graph_inputs([out]) == [x, y]


def test_replace_an_intermediate_variable():
    x, y, a, out = graph()
    new = clone_replace(out, [(a, neg(x))])
    assert new is mul(neg(x), neg(neg(x)))
    assert graph_inputs([new]) == [x]


def test_list_and_single_outputs():
    x, y, a, out = graph()
    w = REAL("w")
    new_list = clone_replace([out, a], {x: w})
    assert isinstance(new_list, list) and len(new_list) == 2
    assert new_list[1] is add(w, y)
    assert clone_replace(out) is out  # nothing to replace: the same interned graph
    assert clone_replace([out], None) == [out]


def test_share_inputs_false_clones_roots():
    x, y, a, out = graph()
    w = REAL("w")
    new = clone_replace(out, {y: w}, share_inputs=False)
    roots = graph_inputs([new])
    assert len(roots) == 2
    assert x not in roots and all(r.owner is None for r in roots)
    assert roots[0].name == "x"
    assert roots[1].name == "w"
    assert structure(out) == (mul, ((add, (x, y)), (neg, ((add, (x, y)),))))


# Regression test (was a core bug): clone_replace(share_inputs=False) passes the replacement
# values to clone_get_equiv with copy_orphans=True, so the replacement's own roots are cloned
# too; PyTensor uses replacement values as given (only the original graph's inputs are cloned)
def test_share_inputs_false_uses_replacements_as_given():
    x, y, a, out = graph()
    w = REAL("w")
    new = clone_replace(out, {y: w}, share_inputs=False)
    roots = graph_inputs([new])
    assert x not in roots
    assert w in roots


def test_strict_type_checking():
    x, y, a, out = graph()
    with pytest.raises(TypeError, match="cannot convert"):
        clone_replace(out, {y: REAL32("v")})
    # non-strict: the node is remade through make_node and its output type follows
    new = clone_replace(neg(y), {y: REAL32("v")}, strict=False)
    assert new.type == REAL32


def test_non_variable_replacement_becomes_a_constant():
    x, y, a, out = graph()
    new = clone_replace(a, {y: 2.0})
    assert isinstance(new.owner.inputs[1], Constant) and new.owner.inputs[1].data == 2.0
    with pytest.raises(TypeError, match="can only replace Variables"):
        clone_replace(a, {"y": x})


def test_graph_replace_shares_unchanged_parts():
    x, y = REAL("x"), REAL("y")
    left = neg(x)
    out = add(left, neg(y))
    w = REAL("w")
    new = graph_replace(out, {y: w})
    assert new.owner.inputs[0] is left  # unchanged subgraph is shared
    assert new.owner.inputs[1] is neg(w)
    assert toposort([out])[-1].inputs[1] is neg(y)
    assert graph_replace([out], {y: w}) == [new]
