"""The Type contract (symgraph.graph.type)."""

import numpy as np
import pytest

from symgraph.graph.basic import Constant, Variable
from symgraph.graph.type import GenericType, Type, generic


class Real(Type):
    __props__ = ("width",)

    def __init__(self, width=64):
        self.width = width

    def filter(self, data, strict=False, allow_downcast=None):
        if strict and not isinstance(data, float):
            raise TypeError("not a float")
        if isinstance(data, str):
            raise TypeError("strings are not reals")
        return float(data)


class AnyReal(Real):
    """Accepts variables of every Real width (a supertype)."""

    def is_super(self, otype):
        return isinstance(otype, Real)


class MyVariable(Variable):
    pass


class MyConstant(Constant):
    pass


class Custom(Type):
    __props__ = ()
    variable_type = MyVariable
    constant_type = MyConstant

    def filter(self, data, strict=False, allow_downcast=None):
        return data


R64, R32 = Real(), Real(32)


def test_equality_and_str_follow_props():
    assert Real() == Real(64) and hash(Real()) == hash(Real(64))
    assert Real(32) != Real(64)
    assert str(R32) == "Real{width=32}"
    assert R32.clone() == R32 and R32.clone() is not R32
    assert R32.clone(width=16) == Real(16)
    assert AnyReal(64) != Real(64)


def test_make_variable_and_call():
    v = R64("v")
    assert isinstance(v, Variable) and v.type is R64 and v.name == "v" and v.owner is None
    assert R64.make_variable().name is None
    assert isinstance(Custom()("c"), MyVariable)


def test_make_constant():
    c = R64.make_constant(3, name="three")
    assert isinstance(c, Constant) and c.data == 3.0 and c.type is R64
    k = Custom().make_constant(("a", 1))
    assert isinstance(k, MyConstant) and k.data == ("a", 1)


def test_filter_variable():
    v64, v32 = R64("v64"), R32("v32")
    assert R64.filter_variable(v64) is v64
    c = R64.filter_variable(2.5)
    assert isinstance(c, Constant) and c.data == 2.5
    with pytest.raises(TypeError, match="cannot convert v32 of type Real{width=32} to type Real{width=64}"):
        R64.filter_variable(v32)
    with pytest.raises(TypeError, match=r"\(conversion not allowed\)"):
        R64.filter_variable(v32, allow_convert=False)


def test_convert_variable_and_is_super():
    v64, v32 = R64("v64"), R32("v32")
    anyr = AnyReal()
    assert R64.convert_variable(v64) is v64
    assert R64.convert_variable(v32) is None
    assert anyr.is_super(R32) and not R64.is_super(R32)
    assert anyr.filter_variable(v32) is v32  # accepted through convert_variable
    with pytest.raises(TypeError):
        anyr.filter_variable(v32, allow_convert=False)
    assert R64.in_same_class(Real()) and not R64.in_same_class(R32)


def test_is_valid_value_and_values_eq():
    assert R64.is_valid_value(1.0)
    assert not R64.is_valid_value(1)  # strict by default
    assert R64.is_valid_value(1, strict=False)
    assert not R64.is_valid_value("x", strict=False)
    assert R64.values_eq(1.0, 1.0) and not R64.values_eq(1.0, 2.0)
    assert R64.values_eq_approx(1.0, 1.0)


def test_base_filter_is_not_implemented():
    with pytest.raises(NotImplementedError, match="Type.filter"):
        Type().filter(1)


def test_generic_type():
    obj = object()
    assert generic.filter(obj) is obj
    assert str(generic) == "Generic"
    assert generic == GenericType()
    assert generic.values_eq([1], [1])

    class Weird:
        def __eq__(self, other):
            raise RuntimeError("no comparison")

        __hash__ = object.__hash__

    w = Weird()
    assert generic.values_eq(w, w) and not generic.values_eq(w, Weird())
    assert generic.values_eq(np.array([1, 2]), np.array([1, 2])) is False  # ambiguous truth -> identity


def test_types_with_array_props_do_not_raise_on_comparison():
    class Shaped(Type):
        __props__ = ("shape",)

        def __init__(self, shape):
            self.shape = shape

    assert Shaped(np.array([1, 2])) != Shaped(np.array([1, 3]))
    assert Shaped((1, 2)) == Shaped((1, 2))
