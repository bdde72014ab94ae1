"""The rewrite driver (symgraph/rewriting/basic.py) and how compilation uses it.

Covers: errors raised by rules (RewriteError naming rule and node, or a warning with
``config.on_rewrite_error='warn'``), ``config.print_rewrites``, creation traces of
replacements, replacements of the wrong type, fixed-point behaviour, pass selection by
Mode, FAST_COMPILE's passes, ``f.maker.fgraph``, constant folding and constant merging.

The rules here are written for the tests, on small custom ops or on plain elementwise
ops, and run both directly (``apply_rules`` on a FunctionGraph) and through compilation
after registering a test pass (always unregistered afterwards).
"""

import contextlib
import sys
import warnings

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import FAST_COMPILE, FAST_RUN, FunctionGraph, Mode, config, function
from symgraph.compile.mode import register_rewrite_pass, unregister_rewrite_pass
from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import Op
from symgraph.rewriting import (
    CONSTANT_FOLDING,
    MERGE,
    RewriteError,
    Rule,
    RulePass,
    apply_rules,
    node_rewriter,
)
from symgraph.testing import graph_ops

# Op instances of plain elementwise ops, used as rule keys.
NEG = st.neg(st.dvector()).owner.op
EXP = st.exp(st.dvector()).owner.op
SQR = st.sqr(st.dvector()).owner.op
ADD = st.add(st.dvector(), st.dvector()).owner.op
MUL = st.mul(st.dvector(), st.dvector()).owner.op


def here():
    """The caller's line number."""
    return sys._getframe(1).f_lineno


@contextlib.contextmanager
def registered_pass(name, rules, optimizers=(), position=2.5, tags=()):
    """Register a RulePass of ``rules`` as the rewrite pass ``name`` for the block."""
    register_rewrite_pass(name, RulePass(name, list(rules)), optimizers=optimizers, position=position, tags=tags)
    try:
        yield
    finally:
        unregister_rewrite_pass(name)


# ---------------------------------------------------------------------- custom ops


class Twice(Op):
    """2*x; the op rules rewrite away in these tests."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 2


class PositiveOnly(Op):
    """x, but raises at run time on a negative entry (to see runtime error reports)."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        if np.any(inputs[0] < 0):
            raise ValueError("negative entry")
        output_storage[0][0] = inputs[0].copy()


class NoFold(Op):
    """x + 1 that declines constant folding."""

    __props__ = ("fold",)

    def __init__(self, fold=False):
        self.fold = fold

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0] + 1, dtype=node.outputs[0].type.dtype)

    def do_constant_folding(self, fgraph, node):
        return self.fold


class SplitPair(Op):
    """Two outputs (x, -x), to test partial replacement of multi-output nodes."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type(), x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0].copy()
        output_storage[1][0] = -inputs[0]


@node_rewriter([Twice])
def twice_to_add(ctx, node):
    (x,) = node.inputs
    return [x + x]


@node_rewriter([NEG])
def neg_neg(ctx, node):
    (inner,) = node.inputs
    if inner.owner is not None and inner.owner.op == NEG:
        return [inner.owner.inputs[0]]
    return None


@node_rewriter([Twice])
def broken(ctx, node):
    raise ZeroDivisionError("rule bug")


def ops_of(fgraph):
    return [type(op).__name__ if not hasattr(op, "scalar_op") else str(op) for op in graph_ops(fgraph)]


# ---------------------------------------------------------------------- rule API


def test_node_rewriter_makes_rules_keyed_by_class_or_instance():
    assert isinstance(twice_to_add, Rule) and twice_to_add.name == "twice_to_add"
    assert twice_to_add.applies_to(Twice()) and not twice_to_add.applies_to(NEG)
    assert neg_neg.applies_to(NEG) and not neg_neg.applies_to(EXP)
    anything = node_rewriter(None, name="custom")(lambda ctx, node: None)
    assert anything.name == "custom" and anything.applies_to(EXP) and anything.applies_to(Twice())


def test_apply_rules_rewrites_a_function_graph():
    x = st.dvector("x")
    fg = FunctionGraph([x], [st.exp(Twice()(x))])
    assert apply_rules(fg, [twice_to_add], "t") == 1
    assert ops_of(fg) == ["Add", "Exp"]
    assert apply_rules(fg, [twice_to_add], "t") == 0  # already at the fixed point


def test_dict_and_partial_replacements_of_multi_output_nodes():
    @node_rewriter([SplitPair])
    def second_only(ctx, node):
        # The node stays (output 0 is still read), so the rule must know when it is done.
        if ctx.n_clients(node.outputs[1]) == 0:
            return None
        return {node.outputs[1]: st.neg(node.inputs[0])}

    x = st.dvector("x")
    a, b = SplitPair()(x)
    fg = FunctionGraph([x], [a, b])
    assert apply_rules(fg, [second_only]) == 1
    names = ops_of(fg)
    assert "SplitPair" in names and "Neg" in names  # output 0 still read from the node
    f = function([x], [a, b])
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        g = function([x], [a, b], mode=mode)
        np.testing.assert_array_equal(g(np.array([1.0, -2.0]))[1], [-1.0, 2.0])
    np.testing.assert_array_equal(f(np.array([3.0]))[0], [3.0])


def test_context_counts_clients_of_the_graph():
    seen = {}

    @node_rewriter([EXP])
    def record(ctx, node):
        seen[node.inputs[0].name] = ctx.n_clients(node.inputs[0])
        seen["pass"] = ctx.pass_name
        return None

    x, y = st.dvector("x"), st.dvector("y")
    fg = FunctionGraph([x, y], [st.exp(x) + x, st.exp(y)])
    apply_rules(fg, [record], "counting")
    # x is read by exp and by add; y by exp only.
    assert seen == {"x": 2, "y": 1, "pass": "counting"}


# ---------------------------------------------------------------------- errors


def test_raising_rule_surfaces_as_rewrite_error_naming_rule_and_node():
    x = st.dvector("x")
    fg = FunctionGraph([x], [Twice()(x) * 3])
    with pytest.raises(RewriteError) as info:
        apply_rules(fg, [broken], "mypass")
    msg = str(info.value)
    assert "'broken'" in msg and "'mypass'" in msg and "Twice(x)" in msg
    assert "ZeroDivisionError: rule bug" in msg
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_raising_rule_fails_compilation_with_the_pass_named():
    x = st.dvector("x")
    with registered_pass("test_broken_pass", [broken]):
        with pytest.raises(RewriteError, match="'broken'") as info:
            function([x], Twice()(x), mode=Mode(optimizer=None, including=("test_broken_pass",)))
    assert any("test_broken_pass" in note for note in getattr(info.value, "__notes__", []))


def test_on_rewrite_error_warn_skips_the_rule():
    x = st.dvector("x")
    out = Twice()(x)
    fg = FunctionGraph([x], [out])
    config.on_rewrite_error = "warn"
    with pytest.warns(UserWarning, match="'broken'.*skipped"):
        # The failing rule is skipped; the rule after it in the list still applies.
        assert apply_rules(fg, [broken, twice_to_add]) == 1
    assert ops_of(fg) == ["Add"]
    with registered_pass("test_broken_pass", [broken]):
        with pytest.warns(UserWarning, match="broken"):
            f = function([x], out, mode=FAST_RUN.including("test_broken_pass"))
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])


def test_rule_returning_wrong_types_is_rejected():
    x = st.dvector("x")

    def run(result):
        rule = Rule("bad_rule", lambda ctx, node: result(node), (Twice,))
        fg = FunctionGraph([x], [Twice()(x)])
        with pytest.raises(RewriteError, match="'bad_rule'") as info:
            apply_rules(fg, [rule])
        return str(info.value)

    assert "non-variable" in run(lambda node: [3.0])
    assert "2 replacements" in run(lambda node: [node.inputs[0], node.inputs[0]])
    # another dtype, another rank: incompatible types
    assert "incompatible type" in run(lambda node: [st.cast(node.inputs[0], "int64")])
    assert "incompatible type" in run(lambda node: [st.dmatrix("m")])
    # an integer constant cannot stand for a float vector either
    assert "incompatible" in run(lambda node: [st.constant(np.arange(3))])


def test_wrong_type_fails_even_with_warn_mode_at_the_pass_level():
    """A wrong replacement is a RewriteError from the driver itself: under 'warn' the
    whole pass is skipped (with a warning) and compilation still gives right values."""
    x = st.dvector("x")
    rule = Rule("bad_rule", lambda ctx, node: [st.cast(node.inputs[0], "int64")], (Twice,))
    config.on_rewrite_error = "warn"
    with registered_pass("test_bad_types", [rule]):
        with pytest.warns(UserWarning, match="test_bad_types"):
            f = function([x], Twice()(x), mode=FAST_RUN.including("test_bad_types"))
    np.testing.assert_array_equal(f(np.array([1.5])), [3.0])


def test_more_specific_static_shape_is_accepted():
    x = st.dvector("x")

    @node_rewriter([Twice])
    def to_fixed(ctx, node):
        # (the node's input is the FunctionGraph's copy of x, not x itself)
        return [st.specify_shape(node.inputs[0], (3,)) * 2]

    fg = FunctionGraph([x], [Twice()(x)])
    assert apply_rules(fg, [to_fixed]) == 1
    assert fg.outputs[0].type.shape in ((3,), (None,))


# ---------------------------------------------------------------------- logging and traces


def test_print_rewrites_logs_rule_and_pass(capsys):
    x = st.dvector("x")
    fg = FunctionGraph([x], [st.exp(Twice()(x))])
    config.print_rewrites = True
    apply_rules(fg, [twice_to_add], "logged_pass")
    out = capsys.readouterr().out
    assert "twice_to_add" in out and "logged_pass" in out and "Twice(x)" in out
    config.print_rewrites = False
    fg = FunctionGraph([x], [st.exp(Twice()(x))])
    apply_rules(fg, [twice_to_add], "logged_pass")
    assert "twice_to_add" not in capsys.readouterr().out


def test_replacements_keep_the_users_creation_trace():
    @node_rewriter([Twice])
    def twice_to_checked(ctx, node):
        (x,) = node.inputs
        return [PositiveOnly()(st.neg(x)) * 2]  # RULE_LINE: builds several new nodes

    x = st.dvector("x")
    out = st.exp(Twice()(x)); line = here()  # noqa: E702  # USER_LINE
    with registered_pass("test_trace_pass", [twice_to_checked]):
        f = function([x], out, mode=FAST_RUN.including("test_trace_pass"))
    assert any(isinstance(op, PositiveOnly) for op in graph_ops(f.maker.fgraph))
    np.testing.assert_allclose(f(np.array([-1.0])), np.exp([2.0]))
    with pytest.raises(ValueError, match="negative entry") as info:
        f(np.array([1.0]))
    msg = str(info.value)
    assert f"line {line}" in msg and "USER_LINE" in msg
    assert "RULE_LINE" not in msg
    # every node the rule created carries the trace of the Twice node it replaced (whose
    # innermost frame is Twice.make_node, a user-defined make_node, then the user's line)
    user_trace = out.owner.inputs[0].tag.trace
    assert line in [frame[1] for frame in user_trace[0]]
    checked = next(n for n in f.maker.fgraph.toposort() if isinstance(n.op, PositiveOnly))
    assert checked.outputs[0].tag.trace == user_trace
    assert checked.inputs[0].owner.outputs[0].tag.trace == user_trace


# ---------------------------------------------------------------------- fixed point


def test_one_rule_enables_another_in_the_same_node_and_across_sweeps():
    @node_rewriter([SQR])
    def sqr_to_negs(ctx, node):
        # creates neg(neg(x)) *inside* a bigger result: only a later sweep visits it
        nn = st.neg(st.neg(node.inputs[0]))
        return [nn * nn]

    x = st.dvector("x")
    fg = FunctionGraph([x], [st.exp(st.sqr(x))])
    # neg_neg is listed first but only applies after sqr_to_negs has run
    count = apply_rules(fg, [neg_neg, sqr_to_negs], "fixed")
    assert count == 2
    assert ops_of(fg) == ["Mul", "Exp"]
    assert list(fg.outputs[0].owner.inputs[0].owner.inputs) == [fg.inputs[0]] * 2


def test_chain_of_rules_on_one_node_runs_to_completion():
    # Twice(x) -> add(x, x) -> mul(x, 2): each result is one new node, so the driver
    # keeps trying rules on it within the same visit.
    @node_rewriter([ADD])
    def add_self_to_mul(ctx, node):
        a, b = node.inputs
        if a is b:
            return [a * np.float64(2.0)]
        return None

    x = st.dvector("x")
    fg = FunctionGraph([x], [Twice()(x)])
    assert apply_rules(fg, [add_self_to_mul, twice_to_add]) == 2
    assert "Twice" not in ops_of(fg) and "Add" not in ops_of(fg)
    assert "Mul" in ops_of(fg)


def test_upstream_rewrite_enables_downstream_rule_in_one_sweep():
    calls = []

    @node_rewriter([NEG])
    def counting_neg_neg(ctx, node):
        calls.append(str(node))
        return neg_neg.fn(ctx, node)

    x = st.dvector("x")
    fg = FunctionGraph([x], [st.neg(st.neg(st.neg(st.neg(x))))])
    assert apply_rules(fg, [counting_neg_neg]) == 2
    assert fg.outputs[0] is fg.inputs[0] or ops_of(fg) == []


def test_a_rule_that_never_settles_is_bounded():
    @node_rewriter([ADD])
    def swap(ctx, node):
        a, b = node.inputs
        return [st.add(b, a)]

    x, y = st.dvector("x"), st.dvector("y")
    fg = FunctionGraph([x, y], [x + y])
    count = apply_rules(fg, [swap], max_sweeps=3)
    assert 3 <= count <= 3 * 20  # max_sweeps sweeps, each bounded per node
    assert fg.outputs[0].owner.op == ADD and set(fg.outputs[0].owner.inputs) == {fg.inputs[0], fg.inputs[1]}


# ---------------------------------------------------------------------- modes and passes


def test_mode_selects_passes_by_name_and_tag():
    x = st.dvector("x")
    out = st.exp(Twice()(x))
    with registered_pass("test_sel", [twice_to_add], optimizers=(), tags=("test_sel_tag",)):
        names = lambda m: [p.name for p in m.rewrite_passes()]  # noqa: E731
        assert "test_sel" not in names(FAST_RUN)
        assert "test_sel" in names(FAST_RUN.including("test_sel"))
        assert "test_sel" in names(FAST_RUN.including("test_sel_tag"))
        assert "test_sel" not in names(FAST_RUN.including("test_sel_tag").excluding("test_sel"))
        assert names(Mode(optimizer=None, including=("test_sel",))) == ["test_sel"]
        # the pass sits at its position among the standard ones
        full = names(FAST_RUN.including("test_sel"))
        assert full.index("canonicalize") < full.index("test_sel") < full.index("stabilize")
        for mode, rewritten in [
            (FAST_RUN, False),
            (FAST_RUN.including("test_sel"), True),
            (Mode(optimizer=None, including=("test_sel_tag",)), True),
            (Mode(optimizer=None, including=("test_sel_tag",), excluding=("test_sel",)), False),
        ]:
            f = function([x], out, mode=mode)
            kinds = [type(op).__name__ for op in graph_ops(f.maker.fgraph)]
            assert ("Twice" not in kinds) == rewritten, (mode, kinds)
            np.testing.assert_allclose(f(np.array([0.5])), np.exp([1.0]))
    assert "test_sel" not in [p.name for p in FAST_RUN.including("test_sel").rewrite_passes()]


def test_a_pass_registered_for_fast_run_runs_by_default_and_can_be_excluded():
    x = st.dvector("x")
    with registered_pass("test_default", [twice_to_add], optimizers=("fast_run",)):
        f = function([x], Twice()(x))  # default mode is FAST_RUN
        assert "Twice" not in [type(op).__name__ for op in graph_ops(f.maker.fgraph)]
        g = function([x], Twice()(x), mode=FAST_RUN.excluding("test_default"))
        assert "Twice" in [type(op).__name__ for op in graph_ops(g.maker.fgraph)]
        h = function([x], Twice()(x), mode=FAST_COMPILE)
        assert "Twice" in [type(op).__name__ for op in graph_ops(h.maker.fgraph)]


def test_standard_passes_in_order():
    assert [p.name for p in FAST_RUN.rewrite_passes()][:2] == ["merge", "constant_folding"]
    names = [p.name for p in FAST_RUN.rewrite_passes()]
    order = ["merge", "constant_folding", "canonicalize", "stabilize", "specialize", "fusion", "inplace"]
    assert [n for n in names if n in order] == order


def test_fast_compile_runs_only_merge_and_constant_folding():
    assert [p.name for p in FAST_COMPILE.rewrite_passes()] == ["merge", "constant_folding"]
    x = st.dvector("x")
    out = st.log(1 + x) + st.constant(2.0) * st.constant(3.0)
    f = function([x], out, mode="FAST_COMPILE")
    ops = [str(op) for op in graph_ops(f.maker.fgraph)]
    # constant folded, but the log(1 + x) left alone (no stabilisation)
    assert "Log" in ops and "Log1p" not in ops
    assert not any(
        all(isinstance(i, Constant) for i in n.inputs) and n.inputs for n in f.maker.fgraph.toposort()
    )
    np.testing.assert_allclose(f(np.array([0.5])), np.log(1.5) + 6.0)
    # excluding constant folding by name leaves the constant product in place
    g = function([x], out, mode=FAST_COMPILE.excluding("constant_folding"))
    assert any(all(isinstance(i, Constant) for i in n.inputs) and n.inputs for n in g.maker.fgraph.toposort())
    np.testing.assert_allclose(g(np.array([0.5])), np.log(1.5) + 6.0)


def test_maker_fgraph_is_the_rewritten_graph_and_user_graph_is_untouched():
    x = st.dvector("x")
    out = st.exp(Twice()(x))
    with registered_pass("test_maker", [twice_to_add]):
        f = function([x], out, mode=Mode(optimizer=None, including=("test_maker",)))
    kinds = [type(op).__name__ for op in graph_ops(f.maker.fgraph)]
    assert "Twice" not in kinds and "Elemwise" in kinds
    assert f.maker.fgraph.outputs[0].owner.inputs[0].owner.op == ADD
    # the caller's variables are not rewritten
    assert isinstance(out.owner.inputs[0].owner.op, Twice)
    g = function([x], out, mode=Mode(optimizer=None))
    assert "Twice" in [type(op).__name__ for op in graph_ops(g.maker.fgraph)]


# ---------------------------------------------------------------------- folding and merging


def test_constant_folding_respects_do_constant_folding():
    c = st.constant(np.array([1.0, 2.0]))
    x = st.dvector("x")
    for fold in (False, True):
        out = NoFold(fold)(c) + x
        fg = FunctionGraph([x], [out])
        CONSTANT_FOLDING(fg)
        kinds = [type(op).__name__ for op in graph_ops(fg)]
        assert ("NoFold" in kinds) == (not fold)
        f = function([x], out, mode="FAST_COMPILE")
        assert ("NoFold" in [type(op).__name__ for op in graph_ops(f.maker.fgraph)]) == (not fold)
        np.testing.assert_array_equal(f(np.zeros(2)), [2.0, 3.0])


def test_constant_folding_of_a_whole_constant_subgraph():
    a = st.constant(np.array([1.0, 4.0]))
    out = st.sqrt(a) * 2 + st.exp(st.constant(0.0))
    x = st.dvector("x")
    fg = FunctionGraph([x], [out + x])
    CONSTANT_FOLDING(fg)
    nodes = fg.toposort()
    assert len(nodes) == 1 and isinstance(nodes[0].inputs[0], Constant)
    np.testing.assert_array_equal(nodes[0].inputs[0].data, [3.0, 5.0])


def test_merge_of_named_and_unnamed_equal_constants():
    x = st.dvector("x")
    named = st.constant(np.array([2.0]), name="two")
    unnamed = st.constant(np.array([2.0]))
    assert named is not unnamed  # a name makes a distinct constant ...
    out1, out2 = x * named, x * unnamed
    assert out1.owner is not out2.owner
    fg = FunctionGraph([x], [out1, out2])
    MERGE(fg)
    # ... which the merge pass turns back into the one unnamed constant: one node left
    assert len(fg.toposort()) == 1
    assert fg.outputs[0] is fg.outputs[1]
    assert all(i.name is None for i in fg.toposort()[0].inputs if isinstance(i, Constant))
    f = function([x], [out1, out2], mode="FAST_COMPILE")
    assert len(f.maker.fgraph.toposort()) == 1
    a, b = f(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(a, [2.0, 6.0])
    np.testing.assert_array_equal(b, [2.0, 6.0])
    a[0] = 100.0  # two outputs sharing one node must not share one buffer
    np.testing.assert_array_equal(b, [2.0, 6.0])


def test_equal_subexpressions_are_one_node_without_any_pass():
    x = st.dvector("x")
    fg = FunctionGraph([x], [st.exp(x) + st.exp(x)])
    assert len(fg.toposort()) == 2
    f = function([x], [st.exp(x), st.exp(x) * 2], mode=Mode(optimizer=None))
    assert sum(1 for op in graph_ops(f.maker.fgraph) if op == EXP) == 1


def test_warn_mode_does_not_hide_other_warnings():
    x = st.dvector("x")
    fg = FunctionGraph([x], [Twice()(x)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert apply_rules(fg, [twice_to_add]) == 1
