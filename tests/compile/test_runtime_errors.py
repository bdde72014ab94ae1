"""Exceptions raised while a compiled function runs name the node, the values and the user's line."""

import sys

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import function
from symgraph.graph.basic import Apply
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import Op
from symgraph.link.utils import raise_with_op


def test_shape_mismatch_report():
    x, y = st.dvector("x"), st.dvector("y")
    total = x + y  # the line the report must show
    # FAST_COMPILE keeps the Add node itself (FAST_RUN fuses it with the product).
    f = function([x, y], total * 2, mode="FAST_COMPILE")
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "could not be broadcast" in msg  # the original message comes first
    assert "Apply node that caused the error: Add(x, y)" in msg
    assert "Op: Add" in msg
    assert "Toposort index: 0" in msg
    assert "Inputs types: [Vector(float64, shape=(?,)), Vector(float64, shape=(?,))]" in msg
    assert "Inputs shapes: [(3,), (4,)]" in msg
    assert "Inputs dtypes: [float64, float64]" in msg
    assert "total = x + y  # the line the report must show" in msg
    assert __file__ in msg
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.symgraph_node.op == total.owner.op


def test_index_of_later_node():
    x, y = st.dvector("x"), st.dvector("y")
    f = function([x, y], (x * x) + y, mode="FAST_COMPILE")
    with pytest.raises(ValueError, match="Toposort index: 1"):
        f(np.ones(2), np.ones(5))


def test_fused_node_error_still_names_the_user_line():
    x, y = st.dvector("x"), st.dvector("y")
    scaled = st.exp(x + y) * 2.0  # the fused node's line
    f = function([x, y], scaled)
    assert len(f.maker.fgraph.apply_nodes) == 1  # one fused node
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    msg = str(info.value)
    assert "Composite" in msg
    assert "scaled = st.exp(x + y) * 2.0  # the fused node's line" in msg


class Boom(Op):
    """Raises the exception class it was built with."""

    __props__ = ("exc_class",)

    def __init__(self, exc_class):
        self.exc_class = exc_class

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise self.exc_class("inner failure")


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


class TwoArgBoom(Op):
    __props__ = ()

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise NeedsTwoArgs("one", "two")


@pytest.mark.parametrize("exc_class", [KeyError, ZeroDivisionError, IndexError, TypeError])
def test_same_exception_type_is_raised(exc_class):
    x = st.dvector("x")
    f = function([x], Boom(exc_class)(x))
    with pytest.raises(exc_class) as info:
        f(np.ones(2))
    assert "inner failure" in str(info.value) and "Boom" in str(info.value)
    assert "Inputs shapes: [(2,)]" in str(info.value)
    assert type(info.value.__cause__) is exc_class


def test_unbuildable_exception_becomes_runtime_error():
    x = st.dvector("x")
    f = function([x], TwoArgBoom()(x))
    with pytest.raises(RuntimeError) as info:
        f(np.ones(2))
    assert "NeedsTwoArgs: one/two" in str(info.value)
    assert "TwoArgBoom" in str(info.value)
    assert isinstance(info.value.__cause__, NeedsTwoArgs)


class ArrayMemoryError(MemoryError):
    """Like NumPy's ``_ArrayMemoryError``: built from a shape and a dtype, not a message."""

    def __init__(self, shape, dtype):
        super().__init__(f"cannot allocate an array of shape {shape} and dtype {dtype}")


class HugeAllocation(Op):
    __props__ = ()

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise ArrayMemoryError((2**20, 2**20), np.float64)


def test_memory_error_stays_a_memory_error():
    x = st.dvector("x")
    f = function([x], HugeAllocation()(x))
    with pytest.raises(MemoryError) as info:
        f(np.ones(2))
    assert "HugeAllocation" in str(info.value) and "Inputs shapes: [(2,)]" in str(info.value)
    assert "ArrayMemoryError: cannot allocate" in str(info.value)  # the original class is named
    assert isinstance(info.value.__cause__, MemoryError)


def test_function_works_after_an_error():
    x, y = st.dvector("x"), st.dvector("y")
    f = function([x, y], x + y)
    with pytest.raises(ValueError):
        f(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(f(np.ones(2), np.ones(2)), [2.0, 2.0])


def test_raise_with_op_directly():
    x = st.dvector("x")
    y = x * x
    fg = FunctionGraph([x], [y], clone=False)
    storage = {x: [np.zeros((2,))]}  # the node's inputs are found through the storage map
    try:
        raise ValueError("direct")
    except ValueError:
        with pytest.raises(ValueError, match="direct") as info:
            raise_with_op(fg, y.owner, None, sys.exc_info(), storage)
    assert "Inputs shapes: [(2,)" in str(info.value)
    assert "Toposort index: 0" in str(info.value)
