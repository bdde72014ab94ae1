"""The Gemv op: values vs NumPy, gradients, R_op, shapes, dtypes, layouts, in-place."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.compile.io import In
from symgraph.graph.utils import InconsistencyError
from symgraph.tensor.blas import Gemv, gemv, gemv_inplace
from symgraph.testing import check_op


def _ref(y, alpha, A, x, beta):
    return beta * y + alpha * np.dot(A, x)


def _values(dtype, m=4, n=3, seed=0):
    r = np.random.default_rng(seed)
    return [
        r.normal(size=m).astype(dtype),
        np.asarray(1.7, dtype=dtype),
        r.normal(size=(m, n)).astype(dtype),
        r.normal(size=n).astype(dtype),
        np.asarray(-0.6, dtype=dtype),
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_op_values_grad_rop_shape(dtype):
    tol = {} if dtype == "float64" else {"abs_tol": 2e-2, "rel_tol": 2e-2}
    check_op(gemv, _values(dtype), _ref, **tol)


def test_check_op_single_row_and_column():
    # Static size-1 dimensions (symbolic_inputs marks them) must keep their types.
    check_op(gemv, _values("float64", m=1, n=1), _ref)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed"])
def test_layouts(dtype, layout):
    y, a, A, x, b = _values(dtype, m=6, n=5)
    big = np.random.default_rng(1).normal(size=(12, 10)).astype(dtype)
    A = {"C": A, "F": np.asfortranarray(A), "strided": big[::2, ::2], "reversed": A[::-1, ::-1]}[layout]
    sy, sa, sA, sx, sb = st.vector(dtype=dtype), st.scalar(dtype=dtype), st.matrix(dtype=dtype), st.vector(dtype=dtype), st.scalar(dtype=dtype)
    f = sg.function([sy, sa, sA, sx, sb], gemv(sy, sa, sA, sx, sb))
    y0 = y.copy()
    out = f(y, a, A, x, b)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, _ref(y, a, A, x, b), rtol=1e-5 if dtype == "float32" else 1e-12)
    np.testing.assert_array_equal(y, y0)  # not in-place: the input is untouched


def test_nan_semantics_with_zero_scale():
    # BLAS skips y when beta == 0 (and A x when alpha == 0); 0 * nan must still be nan.
    y, _, A, x, _ = _values("float64")
    y[0] = np.nan
    A[1, 0] = np.inf
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    f = sg.function([sy, sA, sx], [gemv(sy, 0.0, sA, sx, 1.0), gemv(sy, 1.0, sA, sx, 0.0)])
    with np.errstate(invalid="ignore"):
        got0, got1 = f(y, A, x)
        np.testing.assert_array_equal(got0, _ref(y, 0.0, A, x, 1.0))
        np.testing.assert_array_equal(got1, _ref(y, 1.0, A, x, 0.0))


def test_empty_operands():
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    f = sg.function([sy, sA, sx], gemv(sy, 2.0, sA, sx, 3.0))
    np.testing.assert_array_equal(f(np.ones(3), np.zeros((3, 0)), np.zeros(0)), np.full(3, 3.0))
    assert f(np.zeros(0), np.zeros((0, 4)), np.ones(4)).shape == (0,)


def test_runtime_shape_error():
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    f = sg.function([sy, sA, sx], gemv(sy, 1.0, sA, sx, 1.0))
    with pytest.raises(ValueError, match="not aligned"):
        f(np.ones(3), np.ones((3, 4)), np.ones(5))
    with pytest.raises(ValueError, match="not aligned"):
        f(np.ones(2), np.ones((3, 4)), np.ones(4))


def test_static_shape_error_and_static_output_shape():
    with pytest.raises(ValueError, match="not aligned"):
        gemv(st.vector(shape=(3,)), 1.0, st.matrix(shape=(3, 4)), st.vector(shape=(5,)), 1.0)
    with pytest.raises(ValueError, match="not aligned"):
        gemv(st.vector(shape=(2,)), 1.0, st.matrix(shape=(3, 4)), st.vector(), 1.0)
    out = gemv(st.vector(), 1.0, st.matrix(shape=(3, None)), st.vector(), 1.0)
    assert out.type.shape == (3,)


def test_type_errors():
    # Integer inputs are rejected (documented decision: no silent casts in a BLAS op).
    with pytest.raises(TypeError, match="float dtype"):
        gemv(st.vector(dtype="int64"), 1, st.matrix(dtype="int64"), st.vector(dtype="int64"), 1)
    with pytest.raises(TypeError, match="float dtype"):
        gemv(st.vector(dtype="float32"), 1.0, st.matrix(), st.vector(), 1.0)
    with pytest.raises(TypeError, match="rank"):
        gemv(st.matrix(), 1.0, st.matrix(), st.vector(), 1.0)
    with pytest.raises(TypeError, match="0-d"):
        gemv(st.vector(), st.vector(), st.matrix(), st.vector(), 1.0)


def test_scalar_inputs_are_cast():
    # Python numbers and 0-d tensors of other real dtypes become the vector dtype.
    node = gemv(st.vector(dtype="float32"), st.scalar(dtype="float64"), st.matrix(dtype="float32"), st.vector(dtype="float32"), 2).owner
    assert node.outputs[0].type.dtype == "float32"
    assert node.inputs[1].type.dtype == "float32" and node.inputs[4].type.dtype == "float32"


def test_props_and_destroy_map():
    assert Gemv() == Gemv(False) and Gemv(True) != Gemv(False)
    assert Gemv(True).destroy_map == {0: [0]} and Gemv(False).destroy_map == {}
    assert str(Gemv(True)) == "Gemv{inplace}"


def test_inplace_on_intermediate_is_legal():
    y, a, A, x, b = _values("float64")
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    inter = sy * 2.0
    f = sg.function([sy, sA, sx], gemv_inplace(inter, 1.5, sA, sx, 0.5))
    y0 = y.copy()
    np.testing.assert_allclose(f(y, A, x), _ref(2 * y, 1.5, A, x, 0.5))
    np.testing.assert_array_equal(y, y0)


def test_inplace_on_function_input_is_rejected():
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    with pytest.raises(InconsistencyError):
        sg.function([sy, sA, sx], gemv_inplace(sy, 1.0, sA, sx, 1.0))


def test_inplace_on_mutable_input_overwrites_it():
    y, a, A, x, b = _values("float64")
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    f = sg.function([In(sy, mutable=True), sA, sx], gemv_inplace(sy, 1.0, sA, sx, 1.0))
    expected = _ref(y, 1.0, A, x, 1.0)
    np.testing.assert_allclose(f(y, A, x), expected)


def test_inplace_with_other_reader_is_rejected_or_ordered():
    # Another reader of the destroyed intermediate must run first (or compile must fail).
    y, a, A, x, b = _values("float64")
    sy, sA, sx = st.vector(), st.matrix(), st.vector()
    inter = sy + 1.0
    try:
        f = sg.function([sy, sA, sx], [gemv_inplace(inter, 1.0, sA, sx, 1.0), inter * 3.0])
    except InconsistencyError:
        return
    g, h = f(y, A, x)
    np.testing.assert_allclose(g, _ref(y + 1, 1.0, A, x, 1.0))
    np.testing.assert_allclose(h, (y + 1) * 3)


def test_constant_folding_keeps_constants_intact():
    y, a, A, x, b = _values("float64")
    out = gemv(st.constant(y), 2.0, st.constant(A), st.constant(x), 1.0)
    f = sg.function([], out)
    np.testing.assert_allclose(f(), _ref(y, 2.0, A, x, 1.0))
