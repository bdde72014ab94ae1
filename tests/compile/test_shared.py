"""Shared variables: construction, value semantics, cloning, pickling, constructor registry."""

import pickle

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import SharedVariable, config, function, shared
from symgraph.compile.sharedvalue import (
    Container,
    GenericSharedVariable,
    TensorSharedVariable,
    _constructors,
    shared_constructor,
)
from symgraph.graph.type import generic


def test_array_gives_tensor_shared_variable():
    value = np.arange(6.0).reshape(2, 3)
    w = shared(value, name="w")
    assert isinstance(w, TensorSharedVariable) and isinstance(w, SharedVariable)
    assert isinstance(w, st.TensorVariable)
    assert w.type == st.TensorType("float64", (None, None))
    assert w.name == "w" and str(w) == "w"
    assert w.owner is None and w.default_update is None
    np.testing.assert_array_equal((w * 2).eval(), value * 2)


def test_shape_argument_and_dtypes():
    w = shared(np.zeros((2, 3), dtype="int32"), shape=(2, None))
    assert w.type == st.TensorType("int32", (2, None))
    with pytest.raises(ValueError, match="shape"):
        shared(np.zeros((2, 3)), shape=(4, None))
    with pytest.raises(ValueError, match="entries"):
        shared(np.zeros((2, 3)), shape=(2,))


def test_python_and_numpy_numbers():
    assert shared(1.5).type == st.TensorType(config.floatX, ())
    with config.change_flags(floatX="float32"):
        assert shared(1.5).type.dtype == "float32"
    assert shared(3).type.dtype == "int64"
    assert shared(True).type.dtype == "bool"
    assert shared(np.float32(2.0)).type.dtype == "float32"
    assert shared(np.int8(2)).type.dtype == "int8"
    assert shared(3).get_value() == 3


def test_other_objects_give_generic_shared():
    g = shared({"a": [1, 2]}, name="g")
    assert isinstance(g, GenericSharedVariable) and g.type == generic
    assert g.get_value() == {"a": [1, 2]}
    lst = [1, 2]
    h = shared(lst)
    lst.append(3)
    assert h.get_value() == [1, 2]  # copied unless borrow
    assert shared(lst, borrow=True).get_value(borrow=True) is lst


def test_shared_of_a_variable_is_an_error():
    with pytest.raises(TypeError, match="symbolic"):
        shared(st.dscalar("x"))


def test_value_is_copied_unless_borrow():
    value = np.zeros(3)
    s = shared(value)
    value[0] = 1.0
    assert s.get_value()[0] == 0.0
    b = shared(value, borrow=True)
    assert b.get_value(borrow=True) is value


def test_get_value_copies_unless_borrow():
    s = shared(np.zeros(3))
    v = s.get_value()
    v[0] = 5.0
    assert s.get_value()[0] == 0.0
    internal = s.get_value(borrow=True)
    internal[0] = 5.0
    assert s.get_value()[0] == 5.0
    assert s.get_value(borrow=True, return_internal_type=True) is internal


def test_set_value_filters_and_copies():
    s = shared(np.zeros(3))
    new = np.ones(3)
    s.set_value(new)
    new[0] = 9.0
    assert s.get_value()[0] == 1.0
    s.set_value(new, borrow=True)
    assert s.get_value(borrow=True) is new
    # Safe conversion of ints (and lists) into a float64 variable.
    s.set_value(np.array([1, 2, 3], dtype="int32"))
    assert s.get_value().dtype == np.float64
    s.set_value([4, 5, 6])
    np.testing.assert_array_equal(s.get_value(), [4.0, 5.0, 6.0])
    with pytest.raises(TypeError, match="1-d"):
        s.set_value(np.zeros((2, 2)))
    f = shared(np.zeros(2, dtype="float32"))
    with pytest.raises(TypeError, match="unsafe"):
        f.set_value(np.zeros(2))
    g = shared(np.zeros(2, dtype="float32"), allow_downcast=True)
    g.set_value(np.ones(2))
    assert g.get_value().dtype == np.float32


def test_strict_shared_rejects_conversion():
    s = shared(np.zeros(2), strict=True)
    with pytest.raises(TypeError, match="strict"):
        s.set_value([1.0, 2.0])
    s.set_value(np.ones(2))
    assert s.get_value()[0] == 1.0


def test_clone_shares_container():
    s = shared(np.zeros(2), name="s")
    s.default_update = s + 1
    c = s.clone()
    assert c is not s and c.container is s.container and c.type == s.type and c.name == "s"
    assert c.default_update is None
    c.set_value(np.ones(2))
    np.testing.assert_array_equal(s.get_value(), [1.0, 1.0])
    assert isinstance(c, TensorSharedVariable)
    assert s.clone(name="other").name == "other"


def test_container():
    c = Container(st.dvector().type, name="c")
    assert c.value is None
    c.value = [1, 2]
    assert isinstance(c.storage[0], np.ndarray) and c.storage[0].dtype == np.float64
    with pytest.raises(ValueError):
        Container(generic, storage=[1, 2])


def test_pickle_shared_keeps_value_and_default_update():
    s = shared(np.arange(3.0), name="s")
    s.default_update = s * 2
    s2 = pickle.loads(pickle.dumps(s))
    assert s2.name == "s" and s2.type == s.type
    np.testing.assert_array_equal(s2.get_value(), [0.0, 1.0, 2.0])
    assert s2.default_update.owner.inputs[0] is s2
    f = function([], s2)
    f()
    np.testing.assert_array_equal(s2.get_value(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(s.get_value(), [0.0, 1.0, 2.0])


def test_pickle_preserves_sharing_between_clones():
    s = shared(np.zeros(2))
    c = s.clone()
    s2, c2 = pickle.loads(pickle.dumps((s, c)))
    assert s2.container is c2.container


class Box:
    def __init__(self, value):
        self.value = value


class BoxSharedVariable(SharedVariable):
    pass


def test_shared_constructor_registry():
    def box_constructor(value, name=None, strict=False, allow_downcast=None, borrow=False, shape=None):
        if not isinstance(value, Box):
            raise TypeError("not a Box")
        return BoxSharedVariable(generic, value, name=name)

    assert shared_constructor(box_constructor) is box_constructor
    try:
        b = shared(Box(1), name="b")
        assert isinstance(b, BoxSharedVariable)
        # Other values still reach the other constructors.
        assert isinstance(shared(np.zeros(2)), TensorSharedVariable)
    finally:
        _constructors.remove(box_constructor)
    assert not isinstance(shared(Box(1)), BoxSharedVariable)
    with pytest.raises(TypeError, match="callable"):
        shared_constructor(42)
