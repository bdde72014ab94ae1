"""Elemwise, DimShuffle and the scalar op table: building, static shapes, perform, views."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra import numpy as hnp

import symgraph.tensor as st
from symgraph.configdefaults import config
from symgraph.graph.basic import Constant, toposort
from symgraph.tensor import scalar_ops
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.scalar_ops import VARIADIC, get_scalar_op


def run_node(node, values):
    """Run one node's thunk on ``values`` (one per input) and return its output."""
    storage = {inp: [val] for inp, val in zip(node.inputs, values)}
    storage.update({out: [None] for out in node.outputs})
    node.op.make_thunk(node, storage, None, [])()
    return storage[node.outputs[0]][0]


def evaluate(var, givens):
    storage = {}
    for node in toposort([var]):
        for inp in node.inputs:
            if inp not in storage:
                storage[inp] = [inp.data if isinstance(inp, Constant) else givens[inp]]
        for out in node.outputs:
            storage[out] = [None]
        node.op.make_thunk(node, storage, None, [])()
    return storage[var][0]


# --------------------------------------------------------------------------- scalar op table


def test_table_generates_module_names():
    for spec in scalar_ops.SCALAR_OP_TABLE:
        op = getattr(scalar_ops, spec.name)
        assert op is get_scalar_op(spec.name)
        assert op.spec is spec and op.derivative is spec.derivative
    names = [o.name for o in scalar_ops.all_scalar_ops()]
    assert names == [spec.name for spec in scalar_ops.SCALAR_OP_TABLE]
    assert names[:3] == ["add", "sub", "mul"] and len(set(names)) == len(names)
    with pytest.raises(KeyError, match="known: abs, add"):
        get_scalar_op("nope")


def test_scalar_op_identity_and_pickle():
    add = get_scalar_op("add")
    assert add == scalar_ops.add and hash(add) == hash(scalar_ops.add)
    assert add != scalar_ops.mul
    assert pickle.loads(pickle.dumps(add)) is add
    assert str(add) == "Add" and str(scalar_ops.true_div) == "TrueDiv"


def test_arity():
    assert scalar_ops.add.nin == VARIADIC and scalar_ops.sub.nin == 2 and scalar_ops.exp.nin == 1
    with pytest.raises(TypeError, match="sub takes 2 inputs, got 1"):
        scalar_ops.sub.check_arity(1)
    with pytest.raises(TypeError, match="at least 1"):
        scalar_ops.add.check_arity(0)


def test_dtype_rules():
    assert scalar_ops.add.output_dtype("int8", "uint8") == "int16"
    assert scalar_ops.true_div.output_dtype("int8", "int8") == "float32"
    assert scalar_ops.true_div.output_dtype("int32", "int8") == "float64"
    assert scalar_ops.exp.output_dtype("bool") == "float32"
    assert scalar_ops.log.output_dtype("float32") == "float32"
    assert scalar_ops.exp.output_dtype("int64") == "float64"


def test_c_expressions():
    assert scalar_ops.add.c_expr(["a", "b", "c"], "double") == "((a + b) + c)"
    assert scalar_ops.add.c_expr(["a"], "double") == "(a)"
    assert scalar_ops.sub.c_expr(["a", "b"], "int") == "(a - b)"
    assert scalar_ops.exp.c_expr(["a"], "float") == "exp((float)a)"
    assert scalar_ops.true_div.c_expr(["a", "b"], "double") == "((double)a / (double)b)"


# --------------------------------------------------------------------------- Elemwise: building


def test_elemwise_equality_and_str():
    assert Elemwise("add") == Elemwise(scalar_ops.add)
    assert hash(Elemwise("add")) == hash(Elemwise(scalar_ops.add))
    assert Elemwise("add") != Elemwise("mul")
    assert Elemwise("add") != Elemwise("add", {0: 1})
    assert str(Elemwise("add")) == "Add" and str(Elemwise("exp")) == "Exp"
    assert str(Elemwise("true_div")) == "TrueDiv"
    inplace = Elemwise("add", {0: 1})
    assert inplace.inplace_pattern == ((0, 1),) and inplace.destroy_map == {0: [1]}
    assert str(inplace) == "Add{inplace=((0, 1),)}"
    assert Elemwise("add").destroy_map == {}
    with pytest.raises(TypeError):
        Elemwise(np.add)
    with pytest.raises(ValueError):
        Elemwise("add", {1: 0})


def test_lower_rank_inputs_are_padded():
    m, v, s = st.matrix("m"), st.vector("v"), st.scalar("s")
    z = st.add(m, v, s)
    padded_v, padded_s = z.owner.inputs[1], z.owner.inputs[2]
    assert z.owner.inputs[0] is m
    assert padded_v.owner.op == DimShuffle(1, ("x", 0)) and padded_v.owner.inputs[0] is v
    assert padded_s.owner.op == DimShuffle(0, ("x", "x")) and padded_s.owner.inputs[0] is s
    assert all(i.ndim == 2 for i in z.owner.inputs)


@pytest.mark.parametrize(
    "shapes, expected",
    [
        ([(1, 3), (2, 1)], (2, 3)),
        ([(None, 3), (2, None)], (2, 3)),
        ([(None,), (1,)], (None,)),
        ([(1,), (1,)], (1,)),
        ([(None, 1), (None,)], (None, None)),
        ([(4, 1, 5), (3, 1), ()], (4, 3, 5)),
        ([(0,), (1,)], (0,)),
        ([(), ()], ()),
    ],
)
def test_static_output_shape(shapes, expected):
    inputs = [st.tensor(f"x{i}", shape=s) for i, s in enumerate(shapes)]
    assert st.add(*inputs).type.shape == expected


def test_incompatible_static_shapes_fail_at_build_time():
    a = st.tensor("a", shape=(2, 3))
    b = st.tensor("b", shape=(4, 3))
    with pytest.raises(ValueError) as info:
        st.add(st.scalar("s"), a, b)
    message = str(info.value)
    assert "input 1 has shape (2, 3)" in message and "input 2 has shape (4, 3)" in message
    with pytest.raises(ValueError, match=r"input 0 has shape \(3,\)"):
        st.tensor("c", shape=(3,)) * st.tensor("d", shape=(5, 2))


def test_arity_is_checked_at_build_time():
    x = st.vector("x")
    with pytest.raises(TypeError, match="sub takes 2 inputs"):
        st.sub(x)
    with pytest.raises(TypeError, match="exp takes 1 input, got 2"):
        st.exp(x, x)
    with pytest.raises(TypeError, match="add takes at least 1"):
        st.add()


def test_undefined_dtype_combinations_fail_at_build_time():
    b = st.tensor("b", dtype="bool", shape=(None,))
    with pytest.raises(TypeError, match="neg is not defined for inputs of dtype bool"):
        -b
    with pytest.raises(TypeError, match="sub is not defined"):
        b - b
    assert (b + b).dtype == "bool"


def test_inplace_pattern_checks_the_destination():
    x = st.tensor("x", dtype="float64", shape=(None,))
    i = st.tensor("i", dtype="int32", shape=(None,))
    with pytest.raises(TypeError, match="cannot be written into input 1"):
        Elemwise("add", {0: 1})(x, i)
    r = st.tensor("r", shape=(1,))
    with pytest.raises(TypeError, match="cannot be written into input 1"):
        Elemwise("add", {0: 1})(x, r)


def test_infer_shape_with_ints_and_symbols():
    a = st.tensor("a", shape=(None, 1, None))
    b = st.tensor("b", shape=(1, 4, None))
    node = (a * b).owner
    assert node.op.infer_shape(None, node, [(5, 1, 7), (1, 4, 7)]) == [(5, 4, 7)]
    sym = [("a0", "a1", "a2"), ("b0", "b1", "b2")]
    # dim 0: a is the first input not statically 1; dim 1 is static; dim 2: a again.
    assert node.op.infer_shape(None, node, sym) == [("a0", 4, "a2")]
    ones = st.tensor("o", shape=(1,))
    node1 = (ones + ones).owner
    assert node1.op.infer_shape(None, node1, [("p",), ("q",)]) == [(1,)]


def test_grad_is_l_op_with_the_rebuilt_output():
    x, y = st.vector("x"), st.vector("y")
    node = (x * y).owner
    g = st.vector("g")
    gx, gy = node.op.grad(node.inputs, [g])
    assert [type(v.owner.op) for v in (gx, gy)] == [Elemwise, Elemwise]
    assert evaluate(gx, {g: np.array([2.0]), y: np.array([3.0])}) == 6.0


# --------------------------------------------------------------------------- Elemwise: perform


FUNCTIONS = {
    "add": (st.add, np.add, 2),
    "sub": (st.sub, np.subtract, 2),
    "mul": (st.mul, np.multiply, 2),
    "true_div": (st.true_div, np.true_divide, 2),
    "neg": (st.neg, np.negative, 1),
    "exp": (st.exp, np.exp, 1),
    "log": (st.log, np.log, 1),
}


@settings(max_examples=40, deadline=None)
@given(
    name=hst.sampled_from(sorted(FUNCTIONS)),
    dtype=hst.sampled_from(["float32", "float64"]),
    data=hst.data(),
)
def test_float_perform_matches_numpy(name, dtype, data):
    fn, ref, nin = FUNCTIONS[name]
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    elements = hst.floats(0.5, 4.0, width=32)
    values = [data.draw(hnp.arrays(dtype, shape, elements=elements)) for _ in range(nin)]
    inputs = [st.tensor(f"x{i}", dtype=dtype, shape=(None,) * len(shape)) for i in range(nin)]
    out = evaluate(fn(*inputs), dict(zip(inputs, values)))
    expected = ref(*values)
    assert type(out) is np.ndarray and out.dtype == np.dtype(dtype) and out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint8", "int32", "int64", "bool"])
@pytest.mark.parametrize("name", ["exp", "log", "true_div"])
def test_int_to_float_ops_compute_in_the_output_dtype(dtype, name):
    fn, ref, nin = FUNCTIONS[name]
    values = [np.array([1, 2, 3]).astype(dtype) for _ in range(nin)]
    inputs = [st.tensor(f"x{i}", dtype=dtype, shape=(None,)) for i in range(nin)]
    z = fn(*inputs)
    out = evaluate(z, dict(zip(inputs, values)))
    assert out.dtype == np.dtype(z.dtype)
    expected = ref(*[v.astype(z.dtype) for v in values])
    assert expected.dtype == out.dtype
    np.testing.assert_array_equal(out, expected)


def test_scalar_results_are_zero_d_arrays():
    x = st.scalar("x")
    node = st.exp(x).owner
    out = run_node(node, [np.asarray(0.0)])
    assert type(out) is np.ndarray and out.shape == () and out == 1.0


def test_broadcasting_values():
    m = st.matrix("m")
    v = st.vector("v")
    s = st.scalar("s")
    mv, vv, sv = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0]), np.asarray(0.5)
    out = evaluate(st.mul(m, v, s) - 1.0, {m: mv, v: vv, s: sv})
    np.testing.assert_allclose(out, mv * vv * sv - 1.0)


def test_variadic_inputs_are_cast_before_folding():
    a = st.tensor("a", dtype="int8", shape=(None,))
    b = st.tensor("b", dtype="int8", shape=(None,))
    c = st.tensor("c", dtype="float32", shape=(None,))
    z = st.add(a, b, c)
    assert z.dtype == "float32"
    out = evaluate(z, {a: np.array([100], "int8"), b: np.array([100], "int8"), c: np.array([0.5], "float32")})
    np.testing.assert_array_equal(out, [200.5])


def test_single_input_add_is_a_copy():
    x = st.vector("x")
    node = st.add(x).owner
    value = np.arange(3.0)
    out = run_node(node, [value])
    np.testing.assert_array_equal(out, value)
    assert not np.shares_memory(out, value)


def test_inplace_perform_writes_into_the_input():
    x, y = st.vector("x"), st.vector("y")
    node = Elemwise("add", {0: 0}).make_node(x, y)
    xv, yv = np.arange(3.0), np.ones(3)
    out = run_node(node, [xv, yv])
    assert out is xv
    np.testing.assert_array_equal(xv, [1.0, 2.0, 3.0])


def test_test_values_are_computed():
    with config.change_flags(compute_test_value="raise"):
        x = st.vector("x")
        x.tag.test_value = np.array([1.0, 2.0])
        z = st.exp(x * 2)
        np.testing.assert_allclose(z.tag.test_value, np.exp([2.0, 4.0]))
        # The weak 2 became a float64 constant, broadcast to a vector.
        mul_node = z.owner.inputs[0].owner
        assert mul_node.inputs[1].owner.inputs[0] is st.constant(2.0)


# --------------------------------------------------------------------------- DimShuffle


@pytest.mark.parametrize(
    "ndim, order, text",
    [
        (2, (1, 0), "Transpose{axes=(1, 0)}"),
        (1, ("x", 0), "ExpandDims{axis=0}"),
        (1, ("x", 0, "x"), "ExpandDims{axes=(0, 2)}"),
        (2, (1,), "DropDims{axis=0}"),
        (3, (2,), "DropDims{axes=(0, 1)}"),
        (2, (1, "x", 0), "DimShuffle{order=(1, x, 0)}"),
        (1, (0,), "DimShuffle{order=(0,)}"),
    ],
)
def test_dimshuffle_str(ndim, order, text):
    assert str(DimShuffle(ndim, order)) == text


def test_dimshuffle_validation():
    assert DimShuffle(2, [1, 0]) == DimShuffle(2, (1, 0))
    assert DimShuffle(2, (np.int64(1), 0)).new_order == (1, 0)
    for bad in [(2,), (0, 0), ("y", 0), (True, 0), (-1, 0)]:
        with pytest.raises(ValueError):
            DimShuffle(2, bad)
    with pytest.raises(TypeError, match="expects a 2-d input"):
        DimShuffle(2, (1, 0))(st.vector("v"))


@pytest.mark.parametrize(
    "shape, order",
    [
        ((2, 3), (1, 0)),
        ((3,), ("x", 0)),
        ((3,), (0, "x")),
        ((2, 1, 3), (2, 0)),
        ((1, 1), ()),
        ((), ("x", "x")),
        ((2, 3, 4), (2, "x", 0, 1)),
        ((1, 3, 1), ("x", 1, "x")),
    ],
)
def test_dimshuffle_values_and_views(shape, order):
    x = st.tensor("x", shape=shape)
    z = x.dimshuffle(*order)
    value = np.arange(np.prod(shape, dtype=int), dtype="float64").reshape(shape)
    out = run_node(z.owner, [value])
    kept = [o for o in order if o != "x"]
    dropped = [d for d in range(len(shape)) if d not in kept]
    expected = np.squeeze(value, axis=tuple(dropped)) if dropped else value
    # positions of kept dims after squeezing
    remap = {d: i for i, d in enumerate(d for d in range(len(shape)) if d not in dropped)}
    expected = np.transpose(expected, [remap[d] for d in kept])
    expected = np.expand_dims(expected, [i for i, o in enumerate(order) if o == "x"])
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, expected)
    assert out.shape == tuple(1 if o == "x" else shape[o] for o in order)
    assert z.type.shape == out.shape
    assert np.shares_memory(out, value)
    assert z.owner.op.view_map == {0: [0]}


def test_dimshuffle_infer_shape():
    x = st.tensor("x", shape=(None, 1, None))
    node = x.dimshuffle(2, "x", 0).owner
    assert node.op.infer_shape(None, node, [("a", 1, "c")]) == [("c", 1, "a")]
