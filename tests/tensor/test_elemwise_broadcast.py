"""The run-time broadcasting rule: only dimensions of static size 1 broadcast; infer_shape is
exact under it; gradients of broadcast inputs are summed over exactly those dimensions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import grad
from symgraph.tensor.shape import symbolic_shape


def run_node(node, values, fast=True):
    storage = {v: [x] for v, x in zip(node.inputs, values)}
    storage.update({o: [None] for o in node.outputs})
    if fast:
        node.op.make_thunk(node, storage, None, [])()
    else:
        node.op.perform(node, list(values), [storage[node.outputs[0]]])
    return storage[node.outputs[0]][0]


@pytest.mark.parametrize("fast", [True, False])
def test_size_one_without_static_one_is_an_error(fast):
    x, y = st.dmatrix("x"), st.dmatrix("y")
    node = (x + y).owner
    with pytest.raises(ValueError) as info:
        run_node(node, [np.ones((3, 4)), np.ones((1, 4))], fast)
    msg = str(info.value)
    assert "input 1" in msg and "size 1 in dimension 0" in msg and "input 0 has size 3" in msg
    assert "not declare" in msg and "broadcastable" in msg
    assert "shape=(" in msg and "specify_shape" in msg and "expand_dims" in msg


@pytest.mark.parametrize("fast", [True, False])
def test_mismatched_sizes_are_a_clear_error(fast):
    x, y = st.dvector("x"), st.dvector("y")
    with pytest.raises(ValueError, match=r"could not be broadcast together: input 0 has shape \(3,\) and input 1 has shape \(4,\)"):
        run_node((x * y).owner, [np.ones(3), np.ones(4)], fast)


@pytest.mark.parametrize("fast", [True, False])
def test_three_inputs_are_checked(fast):
    x, lo, hi = st.dvector("x"), st.dvector("lo"), st.dvector("hi")
    node = st.clip(x, lo, hi).owner
    with pytest.raises(ValueError, match="input 2 .* size 1 in dimension 0"):
        run_node(node, [np.ones(3), np.zeros(3), np.ones(1)], fast)


def test_declared_broadcastable_dims_broadcast():
    x = st.dmatrix("x")
    r = st.tensor("r", shape=(1, None))
    c = st.tensor("c", shape=(None, 1))
    s = st.dscalar("s")
    v = st.dvector("v")
    f = sg.function([x, r, c, s, v], [x + r, x * c, x - s, x + v, r + c])
    xv = np.arange(12.0).reshape(3, 4)
    out = f(xv, np.ones((1, 4)), np.full((3, 1), 2.0), 5.0, np.arange(4.0))
    np.testing.assert_array_equal(out[0], xv + 1)
    np.testing.assert_array_equal(out[1], xv * 2)
    np.testing.assert_array_equal(out[2], xv - 5)
    np.testing.assert_array_equal(out[3], xv + np.arange(4.0))
    assert out[4].shape == (3, 4)
    # a vector with one element against a length-4 vector is not declared broadcastable
    with pytest.raises(ValueError, match="not declare"):
        f(xv, np.ones((1, 4)), np.full((3, 1), 2.0), 5.0, np.arange(1.0))


def test_error_through_a_compiled_function_is_a_value_error():
    x, y = st.dvector("x"), st.dvector("y")
    f = sg.function([x, y], x + y)
    with pytest.raises(ValueError, match="not declare"):
        f(np.ones(3), np.ones(1))
    np.testing.assert_array_equal(f(np.ones(1), np.ones(1)), [2.0])  # equal sizes: fine


def test_empty_dimensions():
    x, y = st.dmatrix("x"), st.tensor("y", shape=(1, None))
    f = sg.function([x, y], x + y)
    assert f(np.ones((0, 3)), np.ones((1, 3))).shape == (0, 3)
    with pytest.raises(ValueError, match="could not be broadcast together"):
        f(np.ones((0, 3)), np.ones((1, 2)))


@settings(max_examples=60, deadline=None)
@given(data=hst.data())
def test_infer_shape_is_exact(data):
    """symbolic_shape of an elementwise result equals the computed shape for any valid
    combination of static-1 and unknown dimensions."""
    ndim = data.draw(hst.integers(0, 3))
    sizes = data.draw(hst.lists(hst.integers(0, 4), min_size=ndim, max_size=ndim))
    n = data.draw(hst.integers(1, 3))
    inputs, values = [], []
    for k in range(n):
        rank = data.draw(hst.integers(0, ndim))
        static, shape = [], []
        for d in range(ndim - rank, ndim):
            one = data.draw(hst.booleans())
            static.append(1 if one else None)
            shape.append(1 if one else sizes[d])
        inputs.append(st.tensor(f"x{k}", shape=tuple(static)))
        values.append(np.ones(shape))
    out = st.add(*inputs)
    f = sg.function(inputs, [out, *symbolic_shape(out)] if out.ndim else [out], on_unused_input="ignore")
    res = f(*values)
    expected = np.broadcast_shapes(*[v.shape for v in values])
    assert res[0].shape == expected
    assert tuple(int(s) for s in res[1:]) == expected


def test_infer_shape_uses_a_non_broadcast_input():
    a = st.tensor("a", shape=(None, 1, None))
    b = st.tensor("b", shape=(1, 4, None))
    node = (a * b).owner
    assert node.op.infer_shape(None, node, [("a0", "a1", "a2"), ("b0", "b1", "b2")]) == [("a0", 4, "a2")]


def test_gradients_sum_exactly_over_static_one_dims():
    col = st.tensor("col", shape=(None, 1))
    row = st.tensor("row", shape=(1, None))
    s = st.dscalar("s")
    m = st.dmatrix("m")
    cost = st.sum((col * row + s) * m)
    gcol, grow, gs, gm = grad(cost, [col, row, s, m])
    assert gcol.type.shape == (None, 1) and grow.type.shape == (1, None) and gs.type.shape == ()
    f = sg.function([col, row, s, m], [gcol, grow, gs, gm])
    cv, rv, mv = np.arange(3.0).reshape(3, 1), np.arange(4.0).reshape(1, 4) + 1, np.arange(12.0).reshape(3, 4)
    out = f(cv, rv, 2.0, mv)
    np.testing.assert_allclose(out[0], (rv * mv).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(out[1], (cv * mv).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(out[2], mv.sum())
    np.testing.assert_allclose(out[3], cv * rv + 2.0)
