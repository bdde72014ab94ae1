"""as_tensor_variable, constant, the input constructors and the generated elementwise functions."""

import os

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.graph.type import generic
from symgraph.tensor import basic, scalar_ops
from symgraph.tensor.elemwise import DimShuffle, Elemwise

RANKS = {"scalar": 0, "vector": 1, "matrix": 2, "tensor3": 3, "tensor4": 4}
PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64"}


# --------------------------------------------------------------------------- as_tensor_variable


def test_tensor_variables_pass_through():
    x = st.matrix("x")
    assert st.as_tensor_variable(x) is x
    assert st.as_tensor_variable(x, name="other") is x and x.name == "x"
    assert st.as_tensor_variable(x, dtype="float64") is x
    assert st.as_tensor_variable((x + x).owner) is x + x


def test_non_tensor_variables_are_rejected():
    g = generic("g")
    with pytest.raises(TypeError, match="variable g of type Generic"):
        st.as_tensor_variable(g)


def test_dtype_mismatch_for_variables():
    with pytest.raises(TypeError, match="expected a float32 tensor"):
        st.as_tensor_variable(st.dvector("v"), dtype="float32")


def test_ndim_for_variables():
    x = st.tensor("x", shape=(1, None))
    dropped = st.as_tensor_variable(x, ndim=1)
    assert dropped.ndim == 1 and dropped.owner.op == DimShuffle(2, (1,))
    with pytest.raises(ValueError, match="cannot be made 1-d"):
        st.as_tensor_variable(st.matrix("m"), ndim=1)
    with pytest.raises(ValueError):
        st.as_tensor_variable(st.vector("v"), ndim=2)


@pytest.mark.parametrize(
    "value, dtype",
    [(1.5, "float64"), (3, "int64"), (True, "bool"), (np.float32(1), "float32"), (np.int8(3), "int8"),
     ([1, 2], "int64"), ([1.0, 2], "float64"), ([True, False], "bool"), ([], "float64"),
     (np.zeros(2, dtype="float16"), "float32"), (np.zeros(2, dtype="uint16"), "int32"),
     (np.zeros(2, dtype="uint32"), "int64"), (np.zeros(2, dtype="uint64"), "float64"),  # NumPy's "safe"
     (np.zeros(2, dtype=">f8"), "float64")],
)
def test_values_become_constants_with_default_dtypes(value, dtype):
    c = st.as_tensor_variable(value)
    assert isinstance(c, st.TensorConstant)
    assert c.dtype == dtype
    np.testing.assert_array_equal(c.data, np.asarray(value).astype(dtype))


def test_python_floats_follow_floatx():
    with config.change_flags(floatX="float32"):
        assert st.as_tensor_variable(1.5).dtype == "float32"
        assert st.as_tensor_variable([1.5, 2.5]).dtype == "float32"
        assert st.as_tensor_variable(np.float64(1.5)).dtype == "float64"  # NumPy values keep theirs
        assert st.as_tensor_variable(2).dtype == "int64"
        with pytest.raises(TypeError, match="overflow"):
            st.as_tensor_variable(1e300)


@pytest.mark.parametrize("value", ["text", None, {"a": 1}, 1 + 2j, np.array([1j]), 2**70,
                                   [[1, 2], [3]], object()])
def test_unconvertible_values(value):
    with pytest.raises(TypeError):
        st.as_tensor_variable(value)


def test_sequences_of_variables_need_a_stacking_op():
    x = st.scalar("x")
    with pytest.raises(TypeError, match="stacking op"):
        st.as_tensor_variable([x, 1.0])


# --------------------------------------------------------------------------- constant


def test_constant_explicit_dtype():
    assert st.constant(2.0, dtype="int64").data == 2 and st.constant(2.0, dtype="int64").dtype == "int64"
    assert st.constant(np.float64(0.1), dtype="float32").data == np.float32(0.1)
    assert st.constant(0.1, dtype="float32") is st.constant(np.float32(0.1))
    assert st.constant([1, 2], dtype="uint8").dtype == "uint8"
    for value, dtype in [(1.5, "int64"), (300, "int8"), (-1, "uint8"), (np.float64(1e300), "float32"), (2, "bool")]:
        with pytest.raises(TypeError):
            st.constant(value, dtype=dtype)


def test_constant_ndim():
    c = st.constant([1.0, 2.0], ndim=3)
    assert c.type.shape == (1, 1, 2)
    assert st.constant([[5.0]], ndim=0).type.shape == ()
    with pytest.raises(ValueError, match="cannot be made 1-d"):
        st.constant(np.zeros((2, 2)), ndim=1)


def test_constant_name_and_identity():
    c = st.constant(np.arange(3.0) + 0.25, name="offsets")
    assert c.name == "offsets" and str(c) == "offsets"
    assert st.constant(c) is c
    with pytest.raises(TypeError, match="expected a value"):
        st.constant(st.vector("v"))


# --------------------------------------------------------------------------- constructors


def test_tensor_constructor():
    x = st.tensor("x", dtype="int16", shape=(2, None))
    assert x.type == st.TensorType("int16", (2, None)) and x.name == "x"
    assert st.tensor().type == st.TensorType(config.floatX, ())
    with pytest.raises(TypeError):
        st.tensor("x", "float32")  # dtype and shape are keyword-only


@pytest.mark.parametrize("kind, ndim", RANKS.items())
def test_rank_constructors(kind, ndim):
    ctor = getattr(st, kind)
    v = ctor("v")
    assert v.type == st.TensorType(config.floatX, (None,) * ndim) and v.name == "v"
    assert ctor("w", "int8").dtype == "int8"
    assert ctor(dtype="float32").dtype == "float32"
    shape = tuple(range(2, 2 + ndim))
    assert ctor(shape=shape).type.shape == shape
    with pytest.raises(ValueError, match=f"{ndim} entries"):
        ctor(shape=(None,) * (ndim + 1))
    with config.change_flags(floatX="float32"):
        assert ctor().dtype == "float32"


@pytest.mark.parametrize("prefix, dtype", PREFIXES.items())
@pytest.mark.parametrize("kind, ndim", RANKS.items())
def test_typed_shorthands(prefix, dtype, kind, ndim):
    ctor = getattr(st, prefix + kind)
    assert ctor.__name__ == prefix + kind and ctor.__doc__
    v = ctor("v")
    assert v.type == st.TensorType(dtype, (None,) * ndim) and v.name == "v"
    assert ctor(shape=(1,) * ndim).type.shape == (1,) * ndim
    assert prefix + kind in st.__all__


def test_constructors_record_the_user_creation_site():
    x = st.fmatrix("x")
    y = st.tensor("y")
    for var in (x, y):
        trace = var.tag.trace
        assert trace and trace[0][0][0] == os.path.abspath(__file__)
        assert trace[0][0][2] == "test_constructors_record_the_user_creation_site"


# --------------------------------------------------------------------------- elementwise functions


def test_every_table_row_has_a_function_and_aliases():
    for spec in scalar_ops.SCALAR_OP_TABLE:
        if not spec.public:
            assert spec.name.startswith("cast_") and not hasattr(st, spec.name)
            continue
        fn = getattr(st, spec.name)
        assert fn.__name__ == spec.name and spec.doc in fn.__doc__
        for alias in spec.aliases:
            assert getattr(st, alias) is fn
        assert spec.name in st.__all__


def test_aliases():
    assert st.subtract is st.sub and st.multiply is st.mul
    assert st.true_divide is st.true_div and st.negative is st.neg
    assert st.switch is st.where and st.sqr is st.square and st.pow is st.power
    assert st.remainder is st.mod and st.absolute is st.abs and st.expit is st.sigmoid
    assert st.bitwise_not is st.invert and st.fill is st.second and st.psi is st.digamma
    assert st.equal is st.eq and st.not_equal is st.neq and st.less is st.lt


def test_functions_build_elemwise_nodes():
    x, y = st.vector("x"), st.vector("y")
    for name in ("add", "sub", "mul", "true_div"):
        z = getattr(st, name)(x, y)
        assert z.owner.op == Elemwise(name) and z.owner.inputs == (x, y)
    for name in ("neg", "exp", "log"):
        assert getattr(st, name)(x).owner.op == Elemwise(name)
    z = st.mul(x, y, x)
    assert z.owner.inputs == (x, y, x)


def test_functions_accept_plain_values():
    z = st.add(1.0, 2.0)
    assert z.dtype == config.floatX and z.owner.inputs == (st.constant(1.0), st.constant(2.0))
    assert st.exp(np.float32(1.0)).dtype == "float32"
    assert st.exp(2).dtype == "float64"
    w = st.mul([1, 2], 3)
    assert w.dtype == "int64" and w.type.shape == (2,)


def test_elemwise_function_lookup_by_name():
    assert basic.elemwise_function("exp")(st.vector("x")).owner.op == Elemwise("exp")


def test_public_api_is_exported():
    for name in ["TensorType", "TensorVariable", "TensorConstant", "Elemwise", "DimShuffle",
                 "as_tensor_variable", "constant", "tensor", "scalar", "vector", "matrix", "tensor3",
                 "tensor4", "add", "sub", "subtract", "mul", "multiply", "true_div", "true_divide",
                 "neg", "negative", "exp", "log"]:
        assert name in st.__all__ and hasattr(st, name)
