"""The Op contract, HasInnerGraph and test values (symgraph.graph.op)."""

import warnings

import pytest

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import (
    HasInnerGraph,
    Op,
    compute_test_value,
    get_test_value,
    get_test_values,
    missing_test_message,
)
from symgraph.graph.type import Type
from symgraph.graph.utils import MethodNotDefined, TestValueError


class Real(Type):
    __props__ = ()

    def filter(self, data, strict=False, allow_downcast=None):
        if strict and not isinstance(data, float):
            raise TypeError(f"expected a float, got {type(data).__name__}")
        if isinstance(data, (str, bytes)):
            raise TypeError("strings are not reals")
        return float(data)

    def __str__(self):
        return "Real"


class Text(Type):
    __props__ = ()

    def filter(self, data, strict=False, allow_downcast=None):
        if not isinstance(data, str):
            raise TypeError("expected a str")
        return data

    def __str__(self):
        return "Text"


REAL = Real()
TEXT = Text()


class Add(Op):
    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [REAL.filter_variable(a), REAL.filter_variable(b)], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + inputs[1]


class Scale(Op):
    __props__ = ("factor", "label")

    def __init__(self, factor, label="s"):
        self.factor = factor
        self.label = label

    def make_node(self, a):
        return Apply(self, [REAL.filter_variable(a)], [REAL()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * self.factor


class NoProps(Op):
    def make_node(self, a):
        return Apply(self, [a], [REAL()])


class DivMod(Op):
    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [REAL.filter_variable(a), REAL.filter_variable(b)], [REAL(), REAL()])

    def perform(self, node, inputs, output_storage):
        q, r = divmod(inputs[0], inputs[1])
        output_storage[0][0] = float(q)
        output_storage[1][0] = float(r)


class Remainder(DivMod):
    default_output = 1


class Repeat(Op):
    """Uses itypes/otypes with the default make_node."""

    itypes = [TEXT, REAL]
    otypes = [TEXT]

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * int(inputs[1])


class Bare(Op):
    __props__ = ()


# --------------------------------------------------------------------------- props


def test_props_equality_hash_and_str():
    assert Scale(2.0) == Scale(2.0)
    assert hash(Scale(2.0)) == hash(Scale(2.0))
    assert Scale(2.0) != Scale(3.0)
    assert Scale(2.0, "a") != Scale(2.0, "b")
    assert str(Scale(2.0)) == "Scale{factor=2.0, label='s'}"
    assert repr(Scale(2.0)) == str(Scale(2.0))
    assert str(Add()) == "Add"
    assert Add() == Add() and hash(Add()) == hash(Add())
    assert Add() != DivMod()


def test_subclass_with_same_props_is_not_equal():
    assert DivMod() != Remainder()
    assert Remainder() == Remainder()


def test_ops_without_props_compare_by_identity():
    a, b = NoProps(), NoProps()
    assert a == a and a != b
    assert len({a, b}) == 2
    assert str(a) == "NoProps"


def test_props_holding_unequal_arrays_compare_false_instead_of_raising():
    import numpy as np

    assert Scale(np.array([1.0, 2.0])) != Scale(np.array([1.0, 3.0]))
    assert not (Scale(np.array([1.0, 2.0])) == Scale(np.array([1.0, 2.0])))


# --------------------------------------------------------------------------- calling


def test_call_returns_single_output_or_list():
    x, y = REAL("x"), REAL("y")
    z = Add()(x, y)
    assert z.owner.op == Add() and z.owner.inputs == (x, y)
    assert Add()(x, y, return_list=True) == [z]
    q, r = DivMod()(x, y)
    assert (q.index, r.index) == (0, 1)


def test_default_output():
    x, y = REAL("x"), REAL("y")
    r = Remainder()(x, y)
    assert r is r.owner.outputs[1]
    assert r.owner.default_output() is r
    assert Remainder()(x, y, return_list=True) == [r]


def test_name_keyword_names_outputs():
    x, y = REAL("x"), REAL("y")
    z = Add()(x, y, name="z")
    assert z.name == "z"
    q, r = DivMod()(x, y, name=["q", "r"])
    assert (q.name, r.name) == ("q", "r")
    with pytest.raises(ValueError, match="1 names given for 2 outputs"):
        DivMod()(x, y, name="only_one")


def test_itypes_otypes_default_make_node():
    s, n = TEXT("s"), REAL("n")
    out = Repeat()(s, n)
    assert out.type == TEXT and out.owner.inputs == (s, n)
    # non-variables become constants of the expected type
    out2 = Repeat()("ab", 3)
    assert isinstance(out2.owner.inputs[0], Constant) and out2.owner.inputs[0].data == "ab"
    assert out2.owner.inputs[1].data == 3.0
    with pytest.raises(TypeError, match=r"input 0 \(n\) has type Real, expected Text"):
        Repeat()(n, n)
    with pytest.raises(TypeError, match="expects 2 inputs, got 1"):
        Repeat()(s)


def test_make_node_not_defined_message():
    with pytest.raises(MethodNotDefined, match="Bare must define make_node"):
        Bare()(REAL("x"))


# --------------------------------------------------------------------------- thunks


def test_make_thunk_with_storage_cells_and_compute_map():
    x, y = REAL("x"), REAL("y")
    node = DivMod()(x, y)[0].owner
    storage = {x: [7.0], y: [2.0], node.outputs[0]: [None], node.outputs[1]: [None]}
    compute = {x: [True], y: [True], node.outputs[0]: [False], node.outputs[1]: [False]}
    thunk = node.op.make_thunk(node, storage, compute, no_recycling=[])
    assert thunk.inputs == [storage[x], storage[y]]
    assert thunk.outputs[0] is storage[node.outputs[0]]
    assert thunk.lazy is False and thunk.node is node
    thunk()
    assert storage[node.outputs[0]] == [3.0] and storage[node.outputs[1]] == [1.0]
    assert compute[node.outputs[0]] == [True] and compute[node.outputs[1]] == [True]
    # the thunk reads the cells at call time
    storage[x][0] = 9.0
    thunk()
    assert storage[node.outputs[0]] == [4.0]


def test_make_py_thunk_without_compute_map():
    x = REAL("x")
    node = Scale(3.0)(x).owner
    storage = {x: [2.0], node.outputs[0]: [None]}
    thunk = node.op.make_py_thunk(node, storage, None, [])
    thunk()
    assert storage[node.outputs[0]][0] == 6.0


def test_make_thunk_calls_prepare_node():
    calls = []

    class Prepared(Scale):
        def prepare_node(self, node, storage_map, compute_map, impl):
            calls.append((node, storage_map, compute_map, impl))

    x = REAL("x")
    node = Prepared(2.0)(x).owner
    storage = {x: [1.0], node.outputs[0]: [None]}
    node.op.make_thunk(node, storage, None, [], impl="py")()
    assert calls == [(node, storage, None, "py")]
    assert storage[node.outputs[0]][0] == 2.0


def test_defaults_constant_folding_and_connection_pattern():
    x, y = REAL("x"), REAL("y")
    node = DivMod()(x, y)[0].owner
    assert node.op.do_constant_folding(None, node) is True
    assert node.op.connection_pattern(node) == [[True, True], [True, True]]
    single = Scale(1.0)(x).owner
    assert single.op.connection_pattern(single) == [[True]]


def test_method_not_defined_messages():
    x = REAL("x")
    node = Apply(Bare(), [x], [REAL()])
    with pytest.raises(MethodNotDefined, match="Bare has no perform implementation"):
        node.op.perform(node, [1.0], [[None]])
    with pytest.raises(MethodNotDefined, match="Bare does not implement grad"):
        node.op.grad([x], [REAL()])
    with pytest.raises(MethodNotDefined, match="Bare does not implement grad"):
        node.op.L_op([x], node.outputs, [REAL()])  # L_op defaults to grad
    with pytest.raises(MethodNotDefined, match="Bare does not implement R_op"):
        node.op.R_op([x], [None])
    with pytest.raises(MethodNotDefined, match="Bare does not implement infer_shape"):
        node.op.infer_shape(None, node, [()])
    assert issubclass(MethodNotDefined, NotImplementedError)


def test_l_op_uses_grad_when_defined():
    class WithGrad(Scale):
        def grad(self, inputs, output_grads):
            return [Scale(self.factor)(output_grads[0])]

    x, g = REAL("x"), REAL("g")
    op = WithGrad(4.0)
    (gx,) = op.L_op([x], [op(x)], [g])
    assert gx.owner.op == Scale(4.0) and gx.owner.inputs == (g,)


def test_has_inner_graph_is_abstract():
    class Partial(Op, HasInnerGraph):
        @property
        def fgraph(self):
            return None

    with pytest.raises(TypeError):
        Partial()

    class Full(Partial):
        inner_inputs = property(lambda self: [])
        inner_outputs = property(lambda self: [])

        def clone(self):
            return Full()

    assert isinstance(Full(), HasInnerGraph)


# --------------------------------------------------------------------------- test values


def test_test_values_off_computes_nothing():
    x, y = REAL("x"), REAL("y")
    x.tag.test_value = 1.0
    with config.change_flags(compute_test_value="off"):
        z = Add()(x, y)  # y has no test value: nothing happens
        z2 = Scale(2.0)(x)
    assert not hasattr(z.tag, "test_value")
    assert not hasattr(z2.tag, "test_value")
    with config.change_flags(compute_test_value="off"):
        assert get_test_values(x) == []


@pytest.mark.parametrize("mode", ["ignore", "warn", "raise"])
def test_test_values_are_computed_when_available(mode):
    x, y = REAL("x"), REAL("y")
    x.tag.test_value = 7.0
    y.tag.test_value = 2.0
    with config.change_flags(compute_test_value=mode):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = Add()(x, y)
            q, r = DivMod()(z, y)
            k = Scale(10.0)(Constant(REAL, 0.5))
    assert z.tag.test_value == 9.0
    assert (q.tag.test_value, r.tag.test_value) == (4.0, 1.0)
    assert k.tag.test_value == 5.0
    assert get_test_value(q) == 4.0


def test_missing_test_value_ignore():
    x, y = REAL("x"), REAL("y")
    x.tag.test_value = 1.0
    with config.change_flags(compute_test_value="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = Add()(x, y)
    assert not hasattr(z.tag, "test_value")


def test_missing_test_value_warn():
    x, y = REAL("x"), REAL("y")
    with config.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="input 0 of Add"):
            z = Add()(x, y)
    assert not hasattr(z.tag, "test_value")


def test_missing_test_value_raise_names_variable():
    x, y = REAL("x"), REAL("y")
    x.tag.test_value = 1.0
    with config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError, match="input 1 of Add.*named 'y' has no test value"):
            Add()(x, y)


def test_test_value_is_validated_through_the_type():
    x = REAL("x")
    x.tag.test_value = 3  # converted by Real.filter
    assert x.tag.test_value == 3.0 and isinstance(x.tag.test_value, float)
    with pytest.raises(TypeError, match="strings are not reals"):
        x.tag.test_value = "three"
    s = TEXT("s")
    with pytest.raises(TypeError, match="expected a str"):
        s.tag.test_value = 3.0
    # computed test values go through the output type too
    with config.change_flags(compute_test_value="raise"):
        s.tag.test_value = "ab"
        n = REAL("n")
        n.tag.test_value = 2.0
        assert Repeat()(s, n).tag.test_value == "abab"


def test_get_test_value_and_get_test_values():
    x = REAL("x")
    assert get_test_value(5) == 5  # not a Variable: itself
    assert get_test_value(Constant(REAL, 1.25)) == 1.25
    with pytest.raises(TestValueError, match="named 'x' has no test value"):
        get_test_value(x)
    with pytest.raises(TestValueError):
        x.get_test_value()
    x.tag.test_value = 2.0
    assert x.get_test_value() == 2.0
    y = REAL("y")
    with config.change_flags(compute_test_value="ignore"):
        assert get_test_values(x, 3) == [2.0, 3]
        assert get_test_values(x, y) == []
    with config.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="no test value"):
            assert get_test_values(x, y) == []
    with config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError):
            get_test_values(x, y)


def test_missing_test_message_modes():
    with config.change_flags(compute_test_value="off"):
        missing_test_message("nothing")
    with config.change_flags(compute_test_value="ignore"):
        missing_test_message("nothing")
    with config.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="careful"):
            missing_test_message("careful")
    with config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError, match="boom"):
            missing_test_message("boom")


def test_compute_test_value_directly():
    x = REAL("x")
    node = Scale(3.0)(x).owner
    x.tag.test_value = 2.0
    with config.change_flags(compute_test_value="raise"):
        compute_test_value(node)
    assert node.outputs[0].tag.test_value == 6.0


def test_add_tag_trace_is_exposed_on_op():
    x = REAL("x")
    Op.add_tag_trace(x)
    assert x.tag.trace and x.tag.trace[0][0][0] == __file__
