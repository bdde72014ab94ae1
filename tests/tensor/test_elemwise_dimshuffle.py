"""DimShuffle derivatives (L_op, R_op) and infer_shape, through check_op."""

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.gradient import grad, verify_grad
from symgraph.graph.null_type import DisconnectedType
from symgraph.testing import check_op
from symgraph.tensor.elemwise import DimShuffle

ORDERS = [
    ((2, 3), (1, 0)),
    ((3,), ("x", 0)),
    ((3,), (0, "x")),
    ((2, 1, 3), (2, 0)),
    ((1, 1), ()),
    ((), ("x", "x")),
    ((2, 3, 4), (2, "x", 0, 1)),
    ((1, 3, 1), ("x", 1, "x")),
    ((4, 1, 2), (1, 2, "x", 0)),
]


@pytest.mark.parametrize("shape, order", ORDERS)
def test_check_op(shape, order):
    rng = np.random.default_rng(0)
    value = rng.normal(size=shape)
    kept = [o for o in order if o != "x"]
    dropped = tuple(d for d in range(len(shape)) if d not in kept)

    def expected(v):
        sq = np.squeeze(v, axis=dropped) if dropped else v
        remap = {d: i for i, d in enumerate(d for d in range(len(shape)) if d not in dropped)}
        out = np.transpose(sq, [remap[d] for d in kept])
        return np.expand_dims(out, [i for i, o in enumerate(order) if o == "x"])

    check_op(lambda x: x.dimshuffle(*order), [value], expected)


@pytest.mark.parametrize("shape, order", ORDERS)
def test_second_order(shape, order):
    value = np.random.default_rng(1).uniform(0.5, 2.0, size=shape)
    verify_grad(lambda x: grad(st.sum(st.exp(x.dimshuffle(*order)) ** 2), x), [value])


def test_gradient_for_a_new_dimension_that_is_not_static_one_is_summed():
    x = st.dvector("x")
    node = x.dimshuffle("x", 0).owner
    gz = st.dmatrix("gz")  # an unknown size where the output has static size 1
    (gx,) = node.op.L_op(node.inputs, node.outputs, [gz])
    assert gx.type.shape == (None,)
    out = sg.function([gz], gx)(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(out, [3.0, 5.0, 7.0])


def test_integer_input_gets_floatx_zeros_and_disconnected_passes_through():
    i = st.lvector("i")
    node = i.dimshuffle(0, "x").owner
    (gi,) = node.op.L_op(node.inputs, node.outputs, [st.dmatrix("g")])
    assert gi.dtype == config.floatX
    np.testing.assert_array_equal(sg.function([i], gi)(np.array([1, 2])), [0.0, 0.0])
    (gd,) = node.op.L_op(node.inputs, node.outputs, [DisconnectedType()()])
    assert isinstance(gd.type, DisconnectedType)


def test_gradient_dtype_is_the_input_dtype():
    x = st.fmatrix("x")
    node = x.T.owner
    (gx,) = node.op.L_op(node.inputs, node.outputs, [st.dmatrix("g")])
    assert gx.dtype == "float32" and gx.type.shape == (None, None)


def test_rop():
    x = st.tensor("x", shape=(2, 1, 3))
    node = x.dimshuffle(2, "x", 0).owner
    ev = st.tensor("ev", shape=(2, 1, 3))
    (r,) = node.op.R_op(node.inputs, [ev])
    assert r.owner.op == DimShuffle(3, (2, "x", 0))
    assert node.op.R_op(node.inputs, [None]) == [None]
