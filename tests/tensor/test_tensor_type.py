"""TensorType: dtype/shape normalisation, equality, printing, filter, is_super, value comparison."""

import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.graph.type import generic
from symgraph.tensor.type import TensorType

SUPPORTED = ["bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "given_dtype, expected",
    [("float32", "float32"), (np.float32, "float32"), (np.dtype("int16"), "int16"), ("f8", "float64"),
     (bool, "bool"), ("uint8", "uint8")],
)
def test_dtype_is_normalised(given_dtype, expected):
    t = TensorType(given_dtype, (None,))
    assert t.dtype == expected
    assert t.numpy_dtype == np.dtype(expected)


def test_floatx_dtype_follows_config():
    with config.change_flags(floatX="float32"):
        assert TensorType("floatX").dtype == "float32"
    assert TensorType("floatX").dtype == "float64"


@pytest.mark.parametrize("bad", ["float16", "complex128", "uint16", "uint64", "object", "U3"])
def test_unsupported_dtype_is_rejected(bad):
    with pytest.raises(TypeError, match="supported dtypes are bool, int8"):
        TensorType(bad)


def test_invalid_dtype_name_is_a_type_error():
    with pytest.raises(TypeError, match="invalid dtype 'notadtype'"):
        TensorType("notadtype")


def test_shape_normalisation():
    assert TensorType("float64").shape == ()
    assert TensorType("float64", None).shape == ()
    assert TensorType("float64", [np.int64(2), None]).shape == (2, None)
    assert type(TensorType("float64", [np.int64(2)]).shape[0]) is int
    with pytest.raises(TypeError, match="boolean"):
        TensorType("float64", (True, False))
    with pytest.raises(ValueError, match="non-negative"):
        TensorType("float64", (-1,))
    with pytest.raises(TypeError, match="int or None"):
        TensorType("float64", (2.0,))


def test_ndim_broadcastable():
    t = TensorType("int32", (1, None, 3, 1))
    assert t.ndim == 4
    assert t.broadcastable == (True, False, False, True)


@pytest.mark.parametrize(
    "dtype, shape, text",
    [
        ("float64", (), "Scalar(float64, shape=())"),
        ("float64", (None,), "Vector(float64, shape=(?,))"),
        ("float32", (None, 3), "Matrix(float32, shape=(?, 3))"),
        ("int8", (1, None, 2), "Tensor3(int8, shape=(1, ?, 2))"),
        ("bool", (None,) * 4, "Tensor4(bool, shape=(?, ?, ?, ?))"),
        ("uint8", (None,) * 5, "Tensor5(uint8, shape=(?, ?, ?, ?, ?))"),
    ],
)
def test_str(dtype, shape, text):
    t = TensorType(dtype, shape)
    assert str(t) == text
    assert repr(t) == text


def test_name_is_shown_but_not_part_of_equality():
    named = TensorType("float64", (None,), name="MyVec")
    assert str(named) == "MyVec"
    assert named == TensorType("float64", (None,))
    assert hash(named) == hash(TensorType("float64", (None,)))


def test_equality_and_hash():
    a = TensorType("float64", (None, 3))
    assert a == TensorType(np.float64, [None, 3])
    assert len({a, TensorType("float64", (None, 3))}) == 1
    assert a != TensorType("float32", (None, 3))
    assert a != TensorType("float64", (None, None))
    assert a != TensorType("float64", (None, 3, 1))
    assert a != generic


def test_clone():
    t = TensorType("float32", (None, 3))
    assert t.clone() == t
    assert t.clone(dtype="int8") == TensorType("int8", (None, 3))
    assert t.clone(shape=(2,)) == TensorType("float32", (2,))
    assert t.clone(shape=()) == TensorType("float32", ())


def test_pickle_round_trip():
    t = TensorType("int16", (2, None))
    assert pickle.loads(pickle.dumps(t)) == t


def test_make_variable_and_constant_classes():
    t = TensorType("float64", (None,))
    v = t("v")
    assert isinstance(v, st.TensorVariable) and v.type is t and v.name == "v"
    c = t.make_constant([1.0, 2.0])
    assert isinstance(c, st.TensorConstant)
    np.testing.assert_array_equal(c.data, [1.0, 2.0])


# --------------------------------------------------------------------------- filter: accepted values


def test_matching_array_is_returned_without_copy():
    t = TensorType("float64", (None, 2))
    a = np.zeros((3, 2))
    assert t.filter(a) is a
    assert t.filter(a, strict=True) is a


def test_non_contiguous_matching_array_is_not_copied():
    t = TensorType("float64", (None, None))
    a = np.zeros((4, 6))[::2, ::3]
    out = t.filter(a)
    assert np.shares_memory(out, a)


@pytest.mark.parametrize("value", [1.5, np.float64(1.5), np.asarray(1.5), [[1.5]][0][0]])
def test_scalars_become_zero_d_arrays(value):
    out = TensorType("float64").filter(value)
    assert type(out) is np.ndarray
    assert out.shape == () and out.dtype == np.float64 and out == 1.5


def test_list_is_converted():
    out = TensorType("float64", (None, None)).filter([[1, 2], [3, 4]])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    "src, dst",
    [("int32", "float64"), ("int64", "float64"), ("int32", "int64"), ("float32", "float64"),
     ("bool", "int8"), ("uint8", "int16"), ("int8", "float32"), ("uint8", "float32"), ("int16", "int32")],
)
def test_safe_casts_are_accepted(src, dst):
    data = np.array([0, 1, 1], dtype=src)
    out = TensorType(dst, (None,)).filter(data)
    assert out.dtype == np.dtype(dst)
    np.testing.assert_array_equal(out, data.astype(dst))


@pytest.mark.parametrize(
    "src, dst",
    [("float64", "float32"), ("float32", "int64"), ("float64", "int64"), ("int64", "int32"),
     ("uint8", "int8"), ("int8", "uint8"), ("int32", "float32"), ("int64", "bool"), ("float32", "bool")],
)
def test_unsafe_casts_are_rejected_unless_allowed(src, dst):
    data = np.array([0, 1, 1], dtype=src)
    t = TensorType(dst, (None,))
    with pytest.raises(TypeError, match=f"{src} to {dst} is unsafe"):
        t.filter(data)
    with pytest.raises(TypeError):
        t.filter(data, allow_downcast=False)
    out = t.filter(data, allow_downcast=True)
    assert out.dtype == np.dtype(dst)
    np.testing.assert_array_equal(out, data.astype(dst))


def test_numpy_scalars_are_strong():
    with pytest.raises(TypeError, match="float64 to float32 is unsafe"):
        TensorType("float32").filter(np.float64(0.1))
    assert TensorType("float64").filter(np.float32(0.5)) == 0.5


def test_weak_python_float_into_float32():
    out = TensorType("float32").filter(0.1)
    assert out.dtype == np.float32 and out == np.float32(0.1)
    vec = TensorType("float32", (None,)).filter([0.1, 0.2])
    assert vec.dtype == np.float32
    np.testing.assert_array_equal(vec, np.array([0.1, 0.2], dtype=np.float32))


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 3.0e38])
def test_weak_special_floats_into_float32(value):
    out = TensorType("float32").filter(value)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.float32(value))


def test_weak_float_overflowing_float32_is_rejected():
    with pytest.raises(TypeError, match="overflow float32"):
        TensorType("float32").filter(1e300)


@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8", "bool"])
def test_python_float_never_goes_into_integers(dtype):
    with pytest.raises(TypeError, match=f"float values cannot be stored in a {dtype} tensor"):
        TensorType(dtype).filter(2.0)
    with pytest.raises(TypeError):
        TensorType(dtype).filter(1.5)
    assert TensorType(dtype).filter(1.5, allow_downcast=True).dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "dtype, value, ok",
    [("int8", 100, True), ("int8", -128, True), ("int8", 300, False), ("int8", -129, False),
     ("uint8", 255, True), ("uint8", -1, False), ("int32", 2**31, False), ("int16", 2**15 - 1, True),
     ("float32", 2**40, True), ("bool", 1, False), ("bool", True, True), ("int8", True, True)],
)
def test_weak_python_ints(dtype, value, ok):
    t = TensorType(dtype)
    if ok:
        out = t.filter(value)
        assert out.dtype == np.dtype(dtype) and out == value
    else:
        with pytest.raises(TypeError, match=f"expected {dtype} data"):
            t.filter(value)


def test_list_of_python_ints_into_small_int_vector():
    out = TensorType("int8", (None,)).filter([1, -2, 3])
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [1, -2, 3])
    with pytest.raises(TypeError, match=r"\[-128, 127\]"):
        TensorType("int8", (None,)).filter([1, 200])


def test_allow_downcast_false_disables_weak_values():
    with pytest.raises(TypeError, match="float64 to float32 is unsafe"):
        TensorType("float32").filter(0.1, allow_downcast=False)
    with pytest.raises(TypeError, match="int64 to int8 is unsafe"):
        TensorType("int8").filter(3, allow_downcast=False)


def test_allow_downcast_true_casts_like_numpy():
    out = TensorType("int8", (None,)).filter([1.7, -2.2], allow_downcast=True)
    np.testing.assert_array_equal(out, np.array([1.7, -2.2]).astype(np.int8))


# --------------------------------------------------------------------------- filter: strict


def test_strict_accepts_only_exact_dtype_arrays():
    t = TensorType("float32", (None,))
    with pytest.raises(TypeError, match="strict"):
        t.filter([1.0, 2.0], strict=True)
    with pytest.raises(TypeError, match="strict"):
        t.filter(np.zeros(2), strict=True)
    with pytest.raises(TypeError, match="strict"):
        TensorType("float64").filter(1.0, strict=True)
    out = TensorType("float32").filter(np.float32(2.0), strict=True)
    assert type(out) is np.ndarray and out.dtype == np.float32 and out == 2.0


def test_strict_still_checks_rank_and_shape():
    with pytest.raises(TypeError, match="expected a 2-d array"):
        TensorType("float64", (None, None)).filter(np.zeros(3), strict=True)
    with pytest.raises(ValueError, match="shape"):
        TensorType("float64", (2,)).filter(np.zeros(3), strict=True)


# --------------------------------------------------------------------------- filter: errors


def test_wrong_rank_message():
    t = TensorType("float64", (None, None))
    with pytest.raises(TypeError) as info:
        t.filter(np.zeros(3))
    assert str(info.value) == "expected a 2-d array (Matrix(float64, shape=(?, ?))), got a 1-d array with shape (3,)"


def test_wrong_rank_for_scalar_data():
    with pytest.raises(TypeError, match=r"expected a 1-d array \(Vector\(float64, shape=\(\?,\)\)\), got a 0-d value"):
        TensorType("float64", (None,)).filter(1.0)


def test_static_shape_mismatch_is_value_error():
    t = TensorType("float64", (None, 3))
    assert t.filter(np.zeros((5, 3))).shape == (5, 3)
    with pytest.raises(ValueError) as info:
        t.filter(np.zeros((2, 4)))
    message = str(info.value)
    assert "(?, 3)" in message and "(2, 4)" in message


@pytest.mark.parametrize("value", ["abc", {"a": 1}, None, 1 + 2j, np.array([1j]), [[1, 2], [3]], object()])
def test_non_numeric_data_is_rejected(value):
    with pytest.raises(TypeError, match="expected float64 data"):
        TensorType("float64", (None,) * np.ndim(value) if not isinstance(value, list) else (None,)).filter(value)


def test_symbolic_variable_is_not_a_value():
    x = st.dscalar("x")
    with pytest.raises(TypeError, match="symbolic variable x"):
        TensorType("float64").filter(x)


def test_is_valid_value():
    t = TensorType("int32", (2,))
    assert t.is_valid_value(np.zeros(2, dtype="int32"))
    assert not t.is_valid_value(np.zeros(3, dtype="int32"))
    assert not t.is_valid_value(np.zeros(2, dtype="int64"))
    assert t.is_valid_value([1, 2], strict=False)


@settings(max_examples=60, deadline=None)
@given(src=hst.sampled_from(SUPPORTED), dst=hst.sampled_from(SUPPORTED),
       values=hst.lists(hst.integers(0, 1), min_size=1, max_size=5))
def test_array_acceptance_is_numpy_safe_casting(src, dst, values):
    data = np.array(values, dtype=src)
    t = TensorType(dst, (None,))
    if np.can_cast(src, dst, "safe"):
        out = t.filter(data)
        assert out.dtype == np.dtype(dst)
        np.testing.assert_array_equal(out, data.astype(dst))
        assert (out is data) == (src == dst)
    else:
        with pytest.raises(TypeError):
            t.filter(data)


# --------------------------------------------------------------------------- is_super / convert_variable


def test_is_super():
    general = TensorType("float64", (None, None))
    specific = TensorType("float64", (2, 3))
    partial = TensorType("float64", (None, 3))
    assert general.is_super(specific) and general.is_super(partial) and general.is_super(general)
    assert partial.is_super(specific)
    assert not specific.is_super(general)
    assert not partial.is_super(TensorType("float64", (2, 4)))
    assert not general.is_super(TensorType("float32", (None, None)))
    assert not general.is_super(TensorType("float64", (None,)))
    assert not general.is_super(generic)


def test_convert_variable():
    general = TensorType("float64", (None, None))
    specific_var = TensorType("float64", (2, 3))("s")
    general_var = general("g")
    assert general.convert_variable(specific_var) is specific_var
    assert TensorType("float64", (2, 3)).convert_variable(general_var) is None
    assert TensorType("float32", (None, None)).convert_variable(general_var) is None
    assert general.filter_variable(specific_var) is specific_var
    with pytest.raises(TypeError, match="cannot convert"):
        TensorType("float32", (None, None)).filter_variable(general_var)


# --------------------------------------------------------------------------- value comparison


def test_values_eq():
    t = TensorType("float64", (None,))
    assert t.values_eq(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not t.values_eq(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    assert not t.values_eq(np.zeros(2), np.zeros(3))
    assert not t.values_eq(np.zeros(2), np.zeros(2, dtype="float32"))
    assert t.values_eq(np.zeros(2), np.zeros(2, dtype="float32"), force_same_dtype=False)
    assert TensorType("int64", (None,)).values_eq(np.arange(3), np.arange(3))


def test_values_eq_approx():
    t = TensorType("float64", (None,))
    a = np.array([1.0, np.nan, np.inf, -np.inf])
    assert t.values_eq_approx(a, a + np.array([1e-9, 0, 0, 0]))
    assert not t.values_eq_approx(a, a + np.array([1e-3, 0, 0, 0]))
    assert not t.values_eq_approx(np.array([np.inf]), np.array([-np.inf]))
    assert not t.values_eq_approx(np.array([np.nan]), np.array([1.0]))
    assert not t.values_eq_approx(np.zeros(2), np.zeros((2, 1)))
    assert t.values_eq_approx(np.array([1.0]), np.array([1.1]), rtol=0.2)
    f32 = TensorType("float32", (None,))
    assert f32.values_eq_approx(np.float32([1.0]), np.float32([1.00005]))
    assert not t.values_eq_approx(np.float64([1.0]), np.float64([1.00005]))


def test_error_messages_name_the_type():
    t = TensorType("int16", (None, 2))
    with pytest.raises(TypeError, match=re.escape("Matrix(int16, shape=(?, 2))")):
        t.filter(np.zeros((1, 2)))


def test_may_share_memory():
    a = np.zeros(4)
    assert TensorType.may_share_memory(a, a[1:])
    assert not TensorType.may_share_memory(a, np.zeros(4))
    assert not TensorType.may_share_memory(a, 1.0)
