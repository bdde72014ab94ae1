"""FunctionGraph: clients, replace, features, integrity, cloning and pickling (symgraph.graph.fg)."""

import pickle

import pytest

from symgraph.graph.basic import Apply, Constant, ancestors, graph_inputs, toposort
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import Op
from symgraph.graph.type import Type
from symgraph.graph.utils import InconsistencyError, MissingInputError, add_tag_trace


class Real(Type):
    __props__ = ("width",)

    def __init__(self, width=64):
        self.width = width

    def filter(self, data, strict=False, allow_downcast=None):
        return float(data)

    def __str__(self):
        return f"Real{self.width}"


REAL = Real()
REAL32 = Real(32)


class Binary(Op):
    __props__ = ("sym",)

    def __init__(self, sym):
        self.sym = sym

    def make_node(self, a, b):
        return Apply(self, [REAL.filter_variable(a), REAL.filter_variable(b)], [REAL()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        output_storage[0][0] = a + b if self.sym == "+" else a * b


class Neg(Op):
    __props__ = ()

    def make_node(self, a):
        return Apply(self, [REAL.filter_variable(a)], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = -inputs[0]


add, mul, neg = Binary("+"), Binary("*"), Neg()


def diamond():
    x, y = REAL("x"), REAL("y")
    a = add(x, y)
    b = mul(a, x)
    c = neg(a)
    out = add(b, c)
    return x, y, a, b, c, out


def run(fg, *values):
    storage = {v: [val] for v, val in zip(fg.inputs, values)}
    for node in fg.toposort():
        for inp in node.inputs:
            if isinstance(inp, Constant):
                storage[inp] = [inp.data]
        for out in node.outputs:
            storage[out] = [None]
        node.op.make_thunk(node, storage, None, [])()
    return [storage[o][0] for o in fg.outputs]


class Recorder:
    """A feature logging every callback."""

    def __init__(self):
        self.log = []

    def on_attach(self, fgraph):
        self.log.append(("attach", fgraph))

    def on_detach(self, fgraph):
        self.log.append(("detach", fgraph))

    def on_import(self, fgraph, node, reason):
        self.log.append(("import", node, reason))

    def on_prune(self, fgraph, node, reason):
        self.log.append(("prune", node, reason))

    def on_change_input(self, fgraph, node, i, old, new, reason):
        self.log.append(("change", node, i, old, new, reason))

    def events(self, kind):
        return [e for e in self.log if e[0] == kind]


# --------------------------------------------------------------------------- construction


def test_clients_and_structure_without_cloning():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    A, B, C, OUT = a.owner, b.owner, c.owner, out.owner
    assert fg.inputs == [x, y] and fg.outputs == [out]
    assert fg.toposort() == [A, B, C, OUT]
    assert fg.apply_nodes == {A, B, C, OUT}
    assert fg.variables == {x, y, a, b, c, out}
    assert fg.clients[x] == [(A, 0), (B, 1)]
    assert fg.clients[y] == [(A, 1)]
    assert fg.clients[a] == [(B, 0), (C, 0)]
    assert fg.clients[b] == [(OUT, 0)]
    assert fg.clients[c] == [(OUT, 1)]
    assert fg.clients[out] == [("output", 0)]
    assert a in fg and A in fg and neg(x) not in fg
    fg.check_integrity()
    assert run(fg, 2.0, 3.0) == [5.0]


def test_cloning_copies_inputs_and_leaves_the_graph_alone():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out])
    assert fg.inputs[0] is not x and fg.inputs[0].name == "x"
    assert fg.outputs[0] is not out
    assert graph_inputs(fg.outputs) == fg.inputs
    assert graph_inputs([out]) == [x, y]
    assert run(fg, 2.0, 3.0) == [5.0]


def test_default_inputs_are_non_constant_roots():
    x, y = REAL("x"), REAL("y")
    k = Constant(REAL, 3.0)
    out = add(mul(x, k), y)
    fg = FunctionGraph(outputs=[out], clone=False)
    assert fg.inputs == [x, y]
    assert k in fg.variables and fg.clients[k] == [(out.owner.inputs[0].owner, 1)]


def test_constructor_errors():
    x, y, a, b, c, out = diamond()
    with pytest.raises(ValueError, match="needs outputs"):
        FunctionGraph([x])
    with pytest.raises(TypeError, match="output 0 is not a Variable"):
        FunctionGraph([x], [3.0])
    with pytest.raises(ValueError, match="more than once"):
        FunctionGraph([x, y, x], [out])
    with pytest.raises(TypeError, match="input is not a Variable"):
        FunctionGraph(["x"], [out])


def test_missing_input_error_names_the_variable_and_its_creation_line():
    x = REAL("x")
    hidden = add_tag_trace(REAL("hidden")); line = _lineno()  # noqa: E702
    out = add(x, hidden)
    with pytest.raises(MissingInputError) as info:
        FunctionGraph([x], [out], clone=False)
    msg = str(info.value)
    assert "'hidden'" in msg and "Real64" in msg
    assert f'File "{__file__}", line {line}' in msg
    assert "hidden = add_tag_trace" in msg  # the source text of that line


# Regression test (was a core bug): Type.__call__/make_variable record no creation trace
# (PyTensor's Type.__call__ calls add_tag_trace), so a MissingInputError for a root made with
# type('name') cannot say where it was created
def test_missing_input_error_shows_creation_line_of_plain_root():
    x = REAL("x")
    hidden = REAL("hidden"); line = _lineno()  # noqa: E702
    with pytest.raises(MissingInputError) as info:
        FunctionGraph([x], [add(x, hidden)], clone=False)
    assert f'line {line}' in str(info.value)


def _lineno():
    import sys

    return sys._getframe(1).f_lineno


# --------------------------------------------------------------------------- replace


def test_replace_rebuilds_dependents_and_keeps_old_graph():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    m = mul(x, y)
    fg.replace(a, m, reason="test")
    new_out = fg.outputs[0]
    assert new_out is not out
    assert a not in fg.variables and m in fg.variables
    assert out.owner.inputs == (b, c) and b.owner.inputs == (a, x)  # old graph intact
    assert fg.clients[m] == [(new_out.owner.inputs[0].owner, 0), (new_out.owner.inputs[1].owner, 0)]
    assert fg.clients[x] == [(m.owner, 0), (new_out.owner.inputs[0].owner, 1)]
    fg.check_integrity()
    assert run(fg, 2.0, 3.0) == [6.0 * 2.0 - 6.0]


def test_replace_checks_types():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    with pytest.raises(TypeError, match=r"replace \(why\): the replacement .* type Real32 is not compatible"):
        fg.replace(a, REAL32("v"), reason="why")
    assert fg.outputs == [out]
    with pytest.raises(ValueError, match="not in this FunctionGraph"):
        fg.replace(neg(y), x)


def test_replace_with_itself_is_a_no_op():
    x, y, a, b, c, out = diamond()
    rec = Recorder()
    fg = FunctionGraph([x, y], [out], clone=False, features=[rec])
    fg.replace(a, a)
    assert fg.outputs == [out] and rec.log == [("attach", fg)]


def test_stale_variables_resolve_after_replace():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    fg.replace(a, mul(x, y))
    # b and c are stale (rebuilt); they resolve to their current versions
    assert fg.resolve(b) is fg.outputs[0].owner.inputs[0]
    assert fg.resolve(c) is fg.outputs[0].owner.inputs[1]
    assert fg.resolve(x) is x
    # replacing a stale variable replaces its current version
    fg.replace(b, neg(x))
    assert fg.outputs[0].owner.inputs[0] is neg(x)
    # a replacement built from stale variables is brought up to date
    fg.replace(c, add(c, x))
    assert a not in set(ancestors(fg.outputs))
    fg.check_integrity()
    # x=2, y=3: m = 6, b' = -2, c' = -6, c'' = -6 + 2 = -4, out = -6
    assert run(fg, 2.0, 3.0) == [-6.0]


# Regression test (was a core bug): after fg.replace(a, f(a)), FunctionGraph._current_version
# treats every ancestor `a` of a later replacement as stale and rewrites it to f(a), so f(a)
# itself becomes f(f(a))
def test_replace_by_expression_of_itself_then_reuse():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    na = neg(a)
    fg.replace(a, na)  # wrap a: legal, the rebuild keeps na's own input
    assert set(fg.outputs[0].owner.inputs[0].owner.inputs) == {na, x}
    new = add(na, x)
    fg.replace(fg.outputs[0], new)
    assert fg.outputs[0] is new  # not add(neg(neg(a)), x)


def test_replace_import_missing():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    w = add_tag_trace(REAL("w")); line = _lineno()  # noqa: E702
    with pytest.raises(MissingInputError, match=r"'w'[\s\S]*line " + str(line)):
        fg.replace(a, add(x, w))
    assert fg.outputs == [out] and fg.inputs == [x, y]  # unchanged after the error
    fg.check_integrity()
    fg.replace(a, add(x, w), import_missing=True)
    assert fg.inputs == [x, y, w]
    fg.check_integrity()
    assert run(fg, 2.0, 3.0, 4.0) == [6.0 * 2.0 - 6.0]


def test_replace_all_in_one_rebuild():
    x, y, a, b, c, out = diamond()
    rec = Recorder()
    fg = FunctionGraph([x, y], [out], clone=False, features=[rec])
    fg.replace_all([(b, neg(y)), (c, mul(x, x))], reason="both")
    new_out = fg.outputs[0]
    assert new_out.owner.inputs == (neg(y), mul(x, x))
    imports = rec.events("import")
    assert [e[1] for e in imports] == [neg(y).owner, mul(x, x).owner, new_out.owner]
    assert {e[1] for e in rec.events("prune")} == {a.owner, b.owner, c.owner, out.owner}
    assert rec.events("change") == [("change", "output", 0, out, new_out, "both")]
    fg.check_integrity()
    assert run(fg, 2.0, 3.0) == [1.0]


def test_replace_an_output():
    x, y, a, b, c, out = diamond()
    rec = Recorder()
    fg = FunctionGraph([x, y], [out, c], clone=False, features=[rec])
    fg.replace(out, neg(x), reason="r")
    assert fg.outputs == [neg(x), c]
    assert rec.events("change") == [("change", "output", 0, out, neg(x), "r")]
    assert {e[1] for e in rec.events("prune")} == {b.owner, out.owner}
    assert fg.clients[c] == [("output", 1)]
    fg.check_integrity()


# --------------------------------------------------------------------------- features


def test_feature_callbacks():
    x, y, a, b, c, out = diamond()
    rec = Recorder()
    fg = FunctionGraph([x, y], [out], clone=False)
    fg.attach_feature(rec)
    fg.attach_feature(rec)  # attaching twice is a no-op
    assert rec.log == [("attach", fg)]
    m = mul(x, y)
    fg.replace(a, m, reason="swap")
    new_out = fg.outputs[0]
    B2, C2 = new_out.owner.inputs[0].owner, new_out.owner.inputs[1].owner
    assert [e[1:] for e in rec.events("import")] == [
        (m.owner, "swap"),
        (B2, "swap"),
        (C2, "swap"),
        (new_out.owner, "swap"),
    ]
    assert {e[1] for e in rec.events("prune")} == {a.owner, b.owner, c.owner, out.owner}
    assert all(e[2] == "swap" for e in rec.events("prune"))
    assert rec.events("change") == [("change", "output", 0, out, new_out, "swap")]
    fg.remove_feature(rec)
    assert rec.log[-1] == ("detach", fg)
    fg.replace(m, add(x, x))
    assert rec.log[-1] == ("detach", fg)  # no callbacks after removal


def _qfirst_graph():
    x, y = REAL("x"), REAL("y")
    p, q = neg(x), neg(y)
    s = add(p, q)

    class QFirst:
        def orderings(self, fgraph):
            return {p.owner: [q.owner]}

    return x, y, p, q, s, QFirst


def test_feature_orderings_are_used_when_the_graph_is_rebuilt():
    x, y, p, q, s, QFirst = _qfirst_graph()
    fg = FunctionGraph([x, y], [s], clone=False)
    assert fg.toposort() == [p.owner, q.owner, s.owner]
    fg.attach_feature(QFirst())
    assert fg.orderings() == {p.owner: [q.owner]}
    fg.replace(s, add(q, p))
    assert fg.toposort() == [q.owner, p.owner, add(q, p).owner]


# Regression test (was a core bug): FunctionGraph caches its order in _refresh/_commit;
# attach_feature (and the constructor, which attaches features after _refresh) does not
# recompute it, so a feature's orderings are ignored by toposort() until the next replace
def test_feature_orderings_apply_as_soon_as_attached():
    x, y, p, q, s, QFirst = _qfirst_graph()
    fg = FunctionGraph([x, y], [s], clone=False, features=[QFirst()])
    assert fg.toposort() == [q.owner, p.owner, s.owner]


def test_execute_callbacks():
    rec = Recorder()
    x = REAL("x")
    fg = FunctionGraph([x], [neg(x)], clone=False, features=[rec])
    fg.execute_callbacks("on_import", neg(x).owner, "manual")
    assert rec.log[-1] == ("import", neg(x).owner, "manual")
    fg.execute_callbacks("on_nonexistent_callback", 1, 2)  # features without it are skipped


# --------------------------------------------------------------------------- inputs / outputs


def test_add_input_and_add_output():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [c], clone=False)
    w = REAL("w")
    fg.add_input(w)
    fg.add_input(w)
    assert fg.inputs == [x, y, w] and fg.clients[w] == []
    with pytest.raises(ValueError, match="only root variables"):
        fg.add_input(b)
    idx = fg.add_output(out)
    assert idx == 1 and fg.outputs == [c, out]
    assert fg.clients[out] == [("output", 1)]
    assert b.owner in fg.apply_nodes
    fg.check_integrity()
    with pytest.raises(MissingInputError):
        fg.add_output(neg(REAL("stranger")))


# Regression test (was a core bug): FunctionGraph.add_output commits the new node set before
# computing which nodes are new (`if node not in self.apply_nodes` after _commit), so on_import
# never fires
def test_add_output_imports_new_nodes():
    x, y, a, b, c, out = diamond()
    rec = Recorder()
    fg = FunctionGraph([x, y], [c], clone=False, features=[rec])
    fg.add_output(out)
    assert {e[1] for e in rec.events("import")} == {b.owner, out.owner}


# --------------------------------------------------------------------------- integrity / clone / pickle


def test_check_integrity_detects_corruption():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out], clone=False)
    fg.check_integrity()
    fg.clients[x] = [(a.owner, 0)]
    with pytest.raises(InconsistencyError, match="clients of x are out of date"):
        fg.check_integrity()
    fg2 = FunctionGraph([x, y], [out], clone=False)
    fg2.apply_nodes.discard(c.owner)
    with pytest.raises(InconsistencyError, match="apply_nodes"):
        fg2.check_integrity()
    fg3 = FunctionGraph([x, y], [out], clone=False)
    fg3.variables.add(REAL("extra"))
    with pytest.raises(InconsistencyError, match="variables"):
        fg3.check_integrity()


def test_clone_and_clone_get_equiv():
    x, y, a, b, c, out = diamond()

    class Cloneable(Recorder):
        def clone(self):
            return Cloneable()

    plain = Recorder()
    fg = FunctionGraph([x, y], [out], clone=False, features=[plain, Cloneable()], update_mapping={0: 1})
    fg2, equiv = fg.clone_get_equiv()
    assert fg2.inputs == [equiv[x], equiv[y]] and equiv[x] is not x
    assert fg2.outputs == [equiv[out]]
    assert fg2.update_mapping == {0: 1}
    assert [type(f) for f in fg2._features] == [Cloneable]
    assert run(fg2, 2.0, 3.0) == run(fg, 2.0, 3.0)
    fg3 = fg.clone()
    assert fg3.inputs[0] is not x and len(fg3.apply_nodes) == 4
    # the original is untouched
    assert fg.inputs == [x, y] and fg.outputs == [out]


def test_str():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [c], clone=False)
    assert str(fg) == "FunctionGraph(Neg(Binary{sym='+'}(x, y)))"


def test_pickle_fgraph():
    x, y, a, b, c, out = diamond()
    fg = FunctionGraph([x, y], [out, c], clone=False, update_mapping={1: 0})
    fg2 = pickle.loads(pickle.dumps(fg))
    assert [v.name for v in fg2.inputs] == ["x", "y"]
    assert fg2.update_mapping == {1: 0}
    assert len(fg2.apply_nodes) == 4
    assert fg2.outputs[1].owner in fg2.apply_nodes
    assert fg2.outputs[1] is fg2.outputs[0].owner.inputs[1]
    fg2.check_integrity()
    assert run(fg2, 2.0, 3.0) == run(fg, 2.0, 3.0) == [5.0, -5.0]


def test_pickle_deep_fgraph():
    x = REAL("x")
    v = x
    for i in range(5000):
        v = add(v, Constant(REAL, float(i % 3)))
    fg = FunctionGraph([x], [v], clone=False)
    fg2 = pickle.loads(pickle.dumps(fg))
    assert len(fg2.apply_nodes) == 5000
    assert len(fg2.toposort()) == 5000
    assert run(fg2, 1.0) == [1.0 + sum(i % 3 for i in range(5000))]


def test_unpickled_graph_nodes_are_interned_again():
    x, y, a, b, c, out = diamond()
    fg2 = pickle.loads(pickle.dumps(FunctionGraph([x, y], [out], clone=False)))
    nx, ny = fg2.inputs
    # rebuilding the same expression on the unpickled inputs finds the unpickled nodes
    assert add(nx, ny) in fg2.variables
    assert toposort(fg2.outputs)[0] is add(nx, ny).owner
