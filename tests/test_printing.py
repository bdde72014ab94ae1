"""debugprint and pprint (symgraph.printing)."""

import io
import sys

import pytest

import symgraph
import symgraph.tensor as st
from symgraph.graph.basic import Apply, Constant
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import Op
from symgraph.graph.type import Type
from symgraph.printing import char_from_number, debugprint, dprint, pp, pprint, register_pprint

# --------------------------------------------------------------------------- test-only kit


class Real(Type):
    __props__ = ()

    def filter(self, data, strict=False, allow_downcast=None):
        return float(data)

    def __str__(self):
        return "Real"


REAL = Real()


class Add(Op):
    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [REAL.filter_variable(a), REAL.filter_variable(b)], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + inputs[1]


class Mul(Add):
    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * inputs[1]


class Neg(Op):
    __props__ = ()

    def make_node(self, a):
        return Apply(self, [REAL.filter_variable(a)], [REAL()])


class AddInplace(Add):
    destroy_map = {0: [0]}


class View(Neg):
    view_map = {0: [0]}


class DivMod(Op):
    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [a, b], [REAL(), REAL()])


class Clip(Op):
    __props__ = ("lo", "hi")

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def make_node(self, a):
        return Apply(self, [a], [REAL()])


add, mul, neg = Add(), Mul(), Neg()


def small_graph():
    """out = (x + y) * 2.0 + -(x + y): the sum is shared."""
    x, y = REAL("x"), REAL("y")
    s = add(x, y)
    out = add(mul(s, Constant(REAL, 2.0)), neg(s))
    out.name = "out"
    return x, y, s, out


# --------------------------------------------------------------------------- debugprint


EXPECTED_SMALL = """\
Add [id A] 'out'
 ├─ Mul [id B]
 │  ├─ Add [id C]
 │  │  ├─ x [id D]
 │  │  └─ y [id E]
 │  └─ 2.0 [id F]
 └─ Neg [id G]
    └─ Add [id C]
"""


def test_debugprint_exact_output():
    x, y, s, out = small_graph()
    assert debugprint(out, file="str") == EXPECTED_SMALL


def test_debugprint_print_type():
    x, y, s, out = small_graph()
    text = debugprint(neg(s), print_type=True, file="str")
    assert text == (
        "Neg [id A] <Real>\n"
        " └─ Add [id B] <Real>\n"
        "    ├─ x [id C] <Real>\n"
        "    └─ y [id D] <Real>\n"
    )


def test_debugprint_to_stdout_returns_stdout(capsys):
    x, y, s, out = small_graph()
    result = debugprint(out)
    assert result is sys.stdout
    assert capsys.readouterr().out == EXPECTED_SMALL
    assert dprint is debugprint


def test_debugprint_to_a_file_object():
    x, y, s, out = small_graph()
    buf = io.StringIO()
    assert debugprint(out, file=buf) is buf
    assert buf.getvalue() == EXPECTED_SMALL


def test_debugprint_id_styles():
    x, y, s, out = small_graph()
    assert debugprint(s, ids="", file="str") == "Add\n ├─ x\n └─ y\n"
    assert debugprint(s, ids="int", file="str") == "Add [id 0]\n ├─ x [id 1]\n └─ y [id 2]\n"
    assert debugprint(s, ids="id", file="str") == (
        f"Add [id {id(s.owner)}]\n ├─ x [id {id(x)}]\n └─ y [id {id(y)}]\n"
    )
    with pytest.raises(ValueError, match="ids must be"):
        debugprint(s, ids="letters", file="str")


def test_char_ids():
    assert [char_from_number(n) for n in (0, 1, 25, 26, 27, 51, 52, 675, 676)] == [
        "A", "B", "Z", "BA", "BB", "BZ", "CA", "ZZ", "BAA",
    ]
    # a graph with more than 26 ids goes on with BA, BB...
    v = REAL("v0")
    for i in range(30):
        v = add(v, Constant(REAL, float(100 + i)))
    text = debugprint(v, file="str", depth=30)
    assert "[id BA]" in text and "[id Z]" in text


def test_debugprint_depth_and_stop_on_name():
    x, y, s, out = small_graph()
    assert debugprint(out, depth=1, file="str") == "Add [id A] 'out'\n"
    assert debugprint(out, depth=2, file="str") == "Add [id A] 'out'\n ├─ Mul [id B]\n └─ Neg [id C]\n"
    s.name = "s"
    text = debugprint(out, stop_on_name=True, file="str")
    assert text == (
        "Add [id A] 'out'\n"
        " ├─ Mul [id B]\n"
        " │  ├─ Add [id C] 's'\n"
        " │  └─ 2.0 [id D]\n"
        " └─ Neg [id E]\n"
        "    └─ Add [id C] 's'\n"
    )


def test_debugprint_list_apply_and_multiple_outputs():
    x, y = REAL("x"), REAL("y")
    q, r = DivMod()(x, y)
    text = debugprint([r, neg(q)], file="str")
    assert text == (
        "DivMod.1 [id A]\n"
        " ├─ x [id B]\n"
        " └─ y [id C]\n"
        "Neg [id D]\n"
        " └─ DivMod.0 [id A]\n"
    )
    assert debugprint(q.owner, file="str") == (
        "DivMod.0 [id A]\n ├─ x [id B]\n └─ y [id C]\nDivMod.1 [id A]\n"
    )
    assert debugprint(x, file="str") == "x [id A]\n"
    with pytest.raises(TypeError, match="expected a Variable"):
        debugprint(42)


def test_debugprint_props_and_unnamed_roots():
    v = REAL()
    text = debugprint(Clip(0.0, 1.0)(v), file="str")
    assert text == "Clip{lo=0.0, hi=1.0} [id A]\n └─ <Real> [id B]\n"


def test_debugprint_destroy_and_view_maps():
    x, y = REAL("x"), REAL("y")
    out = AddInplace()(View()(x), y)
    plain = debugprint(out, file="str")
    assert "d=" not in plain and "v=" not in plain
    text = debugprint(out, print_destroy_map=True, print_view_map=True, file="str")
    assert text == (
        "AddInplace [id A] d={0: [0]}\n"
        " ├─ View [id B] v={0: [0]}\n"
        " │  └─ x [id C]\n"
        " └─ y [id D]\n"
    )


def test_debugprint_function_graph():
    x, y, s, out = small_graph()
    fg = FunctionGraph([x, y], [out, s], clone=False)
    text = debugprint(fg, file="str")
    assert text == (
        "Add [id A] 'out' 3\n"
        " ├─ Mul [id B] 1\n"
        " │  ├─ Add [id C] 0\n"
        " │  │  ├─ x [id D]\n"
        " │  │  └─ y [id E]\n"
        " │  └─ 2.0 [id F]\n"
        " └─ Neg [id G] 2\n"
        "    └─ Add [id C] 0\n"
        "Add [id C] 0\n"
        "\n"
        "Inputs:\n"
        " 0: x [id D]\n"
        " 1: y [id E]\n"
    )


def test_debugprint_function_graph_maps_and_updates():
    x, y = REAL("x"), REAL("y")
    out = AddInplace()(View()(x), y)
    unused = REAL("unused")
    fg = FunctionGraph([x, y, unused], [out], clone=False, update_mapping={0: 0})
    text = debugprint(fg, file="str", print_destroy_map=True, print_view_map=True)
    assert text.endswith(
        "Inputs:\n"
        " 0: x [id C]\n"
        " 1: y [id D]\n"
        " 2: unused [id E]\n"
        "Updates:\n"
        " x [id C] <- AddInplace [id A]\n"
        "Destroy map:\n"
        " AddInplace [id A]: output 0 overwrites input 0 (View [id B])\n"
        "View map:\n"
        " View [id B]: output 0 is a view of input 0 (x [id C])\n"
    )


def test_debugprint_compiled_function_lists_inputs_shared_values_and_updates():
    import numpy as np

    x = st.dvector("x")
    s = symgraph.shared(np.array([1.0, 2.0]), name="s")
    count = symgraph.shared(np.float64(0.0), name="count")
    f = symgraph.function([x], x * s, updates=[(count, count + 1.0)])
    text = debugprint(f, file="str")
    tree, footer = text.split("\nInputs:\n")
    ids = {}
    for line in tree.splitlines():
        for name in ("x", "s", "count"):
            if line.lstrip(" │├└─").startswith(f"{name} [id "):
                ids[name] = line.split("[id ")[1].split("]")[0]
    assert set(ids) == {"x", "s", "count"}
    assert footer.startswith(f" 0: x [id {ids['x']}]\nShared values:\n")
    assert f" count [id {ids['count']}] = 0.0\n" in footer
    assert f" s [id {ids['s']}] = [1. 2.]\n" in footer
    assert f"Updates:\n count [id {ids['count']}] <- " in footer
    # node lines of a function end with the node's position in the execution order
    first = tree.splitlines()[0]
    assert " [id A]" in first and first.rsplit(" ", 1)[1].isdigit()
    f([1.0, 1.0])
    assert "count [id " in debugprint(f, file="str") and "= 1.0" in debugprint(f, file="str")


def test_debugprint_deep_graph_does_not_recurse():
    v = REAL("v")
    one = Constant(REAL, 1.0)
    for _ in range(3000):
        v = add(v, one)
    text = debugprint(v, file="str", ids="")
    lines = text.splitlines()
    assert len(lines) == 1 + 2 * 3000
    assert lines[3000] == " " + "│  " * 2999 + "├─ v"
    assert lines[3001] == " " + "│  " * 2999 + "└─ 1.0"
    assert lines[-1] == " └─ 1.0"


def test_debugprint_tensor_graph_and_inner_graphs():
    from symgraph.compile.builders import OpFromGraph

    x, y = st.dscalar("x"), st.dscalar("y")
    op = OpFromGraph([x, y], [x + y * 2.0], name="axpy")
    a = st.dscalar("a")
    z = op(a, a) * op(a, x)
    text = debugprint(z, file="str", print_type=True)
    assert text == (
        "Mul [id A] <Scalar(float64, shape=())>\n"
        " ├─ axpy [id B] <Scalar(float64, shape=())>\n"
        " │  ├─ a [id C] <Scalar(float64, shape=())>\n"
        " │  └─ a [id C] <Scalar(float64, shape=())>\n"
        " └─ axpy [id D] <Scalar(float64, shape=())>\n"
        "    ├─ a [id C] <Scalar(float64, shape=())>\n"
        "    └─ x [id E] <Scalar(float64, shape=())>\n"
        "\n"
        "Inner graphs:\n"
        "\n"
        "axpy [id B]\n"
        " ← Add [id F] <Scalar(float64, shape=())>\n"
        "    ├─ *0-x [id G] <Scalar(float64, shape=())>\n"
        "    └─ Mul [id H] <Scalar(float64, shape=())>\n"
        "       ├─ *1-y [id I] <Scalar(float64, shape=())>\n"
        "       └─ 2.0 [id J] <Scalar(float64, shape=())>\n"
    )


def test_debugprint_nested_inner_graphs():
    from symgraph.compile.builders import OpFromGraph

    x, y = st.dscalar("x"), st.dscalar("y")
    inner = OpFromGraph([x, y], [x * y], name="inner")
    outer = OpFromGraph([x], [inner(x, x) + 1.0], name="outer")
    text = debugprint(outer(st.dscalar("a")), file="str")
    assert text == (
        "outer [id A]\n"
        " └─ a [id B]\n"
        "\n"
        "Inner graphs:\n"
        "\n"
        "outer [id A]\n"
        " ← Add [id C]\n"
        "    ├─ inner [id D]\n"
        "    │  ├─ *0-x [id E]\n"
        "    │  └─ *0-x [id E]\n"
        "    └─ 1.0 [id F]\n"
        "\n"
        "inner [id D]\n"
        " ← Mul [id G]\n"
        "    ├─ *0-x [id H]\n"
        "    └─ *1-y [id I]\n"
    )


# --------------------------------------------------------------------------- pprint


def test_pprint_toy_ops():
    x, y, s, out = small_graph()
    assert pprint(out) == "(((x + y) * 2.0) + -(x + y))"
    assert pp is pprint
    assert pprint(neg(neg(x))) == "-(-x)"
    assert pprint(x) == "x"
    assert pprint([s, x]) == ["(x + y)", "x"]
    with pytest.raises(TypeError, match="expects a Variable"):
        pprint("x")


def test_pprint_unknown_ops_and_multiple_outputs():
    x, y = REAL("x"), REAL("y")
    assert pprint(Clip(0.0, 1.0)(x)) == "Clip{lo=0.0, hi=1.0}(x)"
    q, r = DivMod()(x, y)
    assert pprint(add(q, r)) == "(DivMod(x, y)[0] + DivMod(x, y)[1])"
    assert pprint(Clip(0.0, 1.0)(REAL())) == "Clip{lo=0.0, hi=1.0}(<Real>)"


def test_register_pprint():
    class Hypot(Op):
        __props__ = ()

        def make_node(self, a, b):
            return Apply(self, [a, b], [REAL()])

    class Maximum(Hypot):
        pass

    x, y = REAL("x"), REAL("y")
    register_pprint(Hypot, lambda var, args: f"hypot<{', '.join(args)}>")
    register_pprint("Maximum", "max")  # by class name, with an infix symbol
    assert pprint(Hypot()(x, y)) == "hypot<x, y>"
    assert pprint(Maximum()(x, y)) == "(x max y)"


def test_pprint_tensor_expressions():
    x, y = st.dvector("x"), st.dvector("y")
    m = st.dmatrix("m")
    assert pprint(x + y * 2.0) == "(x + (y * 2.0))"
    assert pprint(-x) == "-x"
    assert pprint(st.exp(x) - st.log(y) / x) == "(exp(x) - (log(y) / x))"
    assert pprint(m.T) == "m.T"
    assert pprint((m + 1.0).T) == "(m + 1.0).T"
    assert pprint(x.dimshuffle("x", 0)) == "x"
    assert pprint(m.dimshuffle(1, "x", 0)).endswith("(m)")


def test_pprint_deep_graph():
    v = REAL("v")
    for _ in range(3000):
        v = neg(v)
    text = pprint(v)
    assert text.endswith("v" + ")" * 2999)


def test_symgraph_exports():
    assert symgraph.debugprint is debugprint and symgraph.dprint is debugprint
