"""dot, matmul (and @), tensordot and outer: values and dtypes against NumPy (hypothesis-drawn
shapes), gradients (first and second order), R_op, infer_shape, errors and printing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.testing import check_op
from symgraph.tensor.products import Dot, Einsum, MatMul

SETTINGS = settings(max_examples=40, deadline=None)
RNG = np.random.default_rng(42)


def rand(shape, dtype="float64", rng=RNG):
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return rng.integers(-3, 4, size=shape).astype(dtype)


def ops_in(var):
    """The ops of every node of ``var``'s graph."""
    from symgraph.graph.basic import io_toposort

    return [node.op for node in io_toposort([], [var])]


# --------------------------------------------------------------------------- dot


@hst.composite
def dot_shapes(draw, max_rank=3, min_size=0):
    """Shapes of two operands np.dot accepts (ranks 0..max_rank)."""
    size = hst.integers(min_size, 4)
    ra, rb = draw(hst.integers(0, max_rank)), draw(hst.integers(0, max_rank))
    k = draw(size)
    a = tuple(draw(size) for _ in range(max(ra - 1, 0))) + ((k,) if ra else ())
    if rb == 0:
        b = ()
    elif rb == 1:
        b = (k,)
    else:
        b = tuple(draw(size) for _ in range(rb - 2)) + (k, draw(size))
    return a, b


@SETTINGS
@given(dot_shapes(min_size=1))
def test_dot_matches_numpy_with_grad_rop_shape(shapes):
    a, b = (rand(s) for s in shapes)
    check_op(st.dot, [a, b], np.dot)


@SETTINGS
@given(dot_shapes(max_rank=2, min_size=0))
def test_dot_values_with_empty_dims(shapes):
    a, b = (rand(s) for s in shapes)
    check_op(st.dot, [a, b], np.dot, grad=False, rop=False)


@pytest.mark.parametrize(
    "ranks, op_type",
    [((1, 1), Dot), ((2, 1), Dot), ((1, 2), Dot), ((2, 2), Dot), ((3, 2), Einsum), ((2, 3), Einsum), ((3, 1), Einsum)],
)
def test_dot_builds_dot_for_low_ranks_and_einsum_above(ranks, op_type):
    a = st.tensor("a", shape=(None,) * ranks[0])
    b = st.tensor("b", shape=(None,) * ranks[1])
    assert isinstance(st.dot(a, b).owner.op, op_type)


def test_dot_with_scalars_is_multiplication():
    x = st.matrix("x")
    s = st.scalar("s")
    f = sg.function([x, s], [st.dot(x, s), st.dot(s, x), st.dot(x, 2.0), st.dot(3, x)])
    xv = rand((2, 3))
    for out, ref in zip(f(xv, 1.5), [xv * 1.5, 1.5 * xv, xv * 2, 3 * xv]):
        np.testing.assert_allclose(out, ref)
    # Python numbers are weak: a float32 tensor stays float32.
    assert st.dot(st.fmatrix("y"), 2.0).dtype == "float32"


@pytest.mark.parametrize(
    "da, db",
    [
        ("float64", "float64"),
        ("float32", "float32"),
        ("float32", "float64"),
        ("int32", "float32"),
        ("int64", "float32"),
        ("int8", "int8"),
        ("int32", "int64"),
        ("uint8", "int8"),
        ("bool", "bool"),
        ("bool", "float32"),
    ],
)
@pytest.mark.parametrize("fn", [np.dot, np.matmul])
def test_product_dtypes_follow_numpy(da, db, fn):
    a, b = rand((3, 4), da), rand((4, 2), db)
    ref = fn(a, b)
    for build in (lambda x, y: st.dot(x, y), lambda x, y: st.matmul(x, y), lambda x, y: st.tensordot(x, y, 1)):
        value = check_op(build, [a, b], lambda x, y: ref, grad=False, rop=False)
        assert value.dtype == ref.dtype


def test_dot_float32_gradient_is_float32():
    a, b = st.fmatrix("a"), st.dmatrix("b")
    ga, gb = sg.grad(st.dot(a, b).sum(), [a, b])
    assert ga.dtype == "float32" and gb.dtype == "float64"
    va, vb = rand((2, 3), "float32"), rand((3, 4))
    got = sg.function([a, b], ga)(va, vb)
    np.testing.assert_allclose(got, np.ones((2, 4)) @ vb.T, rtol=1e-5)


def test_dot_gradient_for_mixed_dtypes():
    # The product is bilinear, so a large step is exact up to float32 rounding of the inputs.
    check_op(st.dot, [rand((3, 4), "float32"), rand((4, 2), "float64")], np.dot, eps=1e-2, rel_tol=1e-3)


def test_dot_integer_input_gets_zero_gradient():
    x = st.dmatrix("x")
    idx = st.lmatrix("idx")
    # An integer operand computed from x: its gradient term must be zero, not the float one.
    op = Dot()
    node = op.make_node(x, idx)
    g = st.dmatrix("g")
    ga, gb = op.grad(node.inputs, [g])
    assert gb.dtype == sg.config.floatX
    f = sg.function([x, idx, g], [ga, gb], on_unused_input="ignore")
    xv, iv, gv = rand((2, 3)), np.arange(12).reshape(3, 4), rand((2, 4))
    got_a, got_b = f(xv, iv, gv)
    np.testing.assert_allclose(got_a, gv @ iv.T)
    np.testing.assert_array_equal(got_b, np.zeros((3, 4)))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,))])
def test_dot_second_order(shapes):
    a, b = (rand(s) for s in shapes)

    def first(x, y):
        z = st.dot(x, y)
        return sg.grad((z * z).sum() + (st.dot(x, y) * 0.5).sum(), x)

    sg.verify_grad(first, [a, b], rng=0)


def test_dot_hessian_vector_product_matches_numpy():
    a = st.dmatrix("a")
    b = st.dvector("b")
    cost = (st.dot(a, b) ** 2).sum()
    h = sg.hessian(cost, b)
    av = rand((3, 4))
    np.testing.assert_allclose(sg.function([a, b], h)(av, rand(4)), 2 * av.T @ av, rtol=1e-10)


def test_dot_static_shape_and_build_time_mismatch():
    a = st.matrix("a", shape=(2, 3))
    b = st.matrix("b", shape=(None, 5))
    assert st.dot(a, b).type.shape == (2, 5)
    assert st.dot(a, st.vector("v", shape=(3,))).type.shape == (2,)
    with pytest.raises(ValueError, match=r"not aligned.*\(3\).*\(4\)"):
        st.dot(a, st.matrix("c", shape=(4, 5)))
    with pytest.raises(ValueError, match="not aligned"):
        st.dot(st.vector("v", shape=(2,)), st.vector("w", shape=(3,)))
    with pytest.raises(ValueError, match="contracted together but differ"):
        st.dot(st.tensor3("t", shape=(1, 2, 3)), st.matrix("m", shape=(4, 5)))


def test_dot_run_time_mismatch_is_a_clear_value_error():
    a, b = st.matrix("a"), st.matrix("b")
    f = sg.function([a, b], st.dot(a, b))
    with pytest.raises(ValueError, match=r"dot: shapes \(2, 3\) and \(4, 2\) are not aligned"):
        f(np.ones((2, 3)), np.ones((4, 2)))
    v = st.vector("v")
    g = sg.function([v, b], st.dot(v, b))
    with pytest.raises(ValueError, match="not aligned"):
        g(np.ones(3), np.ones((4, 2)))


def test_dot_op_rejects_other_ranks():
    with pytest.raises(TypeError, match="1-d or 2-d"):
        Dot()(st.tensor3("t"), st.matrix("m"))
    with pytest.raises(TypeError, match="1-d or 2-d"):
        Dot()(st.scalar("s"), st.vector("m"))


def test_dot_method_and_printing():
    a, b = st.matrix("a"), st.matrix("b")
    out = a.dot(b)
    assert isinstance(out.owner.op, Dot)
    assert str(out.owner.op) == "Dot"
    assert "Dot [id A]" in sg.printing.debugprint(out, file="str")


def test_dot_nodes_are_interned():
    a, b = st.matrix("a"), st.matrix("b")
    assert st.dot(a, b) is st.dot(a, b)
    assert a @ b is st.dot(a, b)


def test_dot_result_is_not_a_view_and_inputs_untouched():
    a, b = st.matrix("a"), st.matrix("b")
    f = sg.function([a, b], st.dot(a, b))
    av, bv = rand((3, 3)), np.eye(3)
    keep_a, keep_b = av.copy(), bv.copy()
    out = f(av, bv)
    assert not np.shares_memory(out, av) and not np.shares_memory(out, bv)
    np.testing.assert_array_equal(av, keep_a)
    np.testing.assert_array_equal(bv, keep_b)


# --------------------------------------------------------------------------- matmul


@hst.composite
def matmul_shapes(draw, min_size=1):
    """Two shapes np.matmul accepts whose batch broadcasting uses size-1 dims (static in
    check_op's inputs), including 1-d operands."""
    size = hst.integers(min_size, 3)
    ra, rb = draw(hst.integers(1, 4)), draw(hst.integers(1, 4))
    n_batch = max(ra, rb) - 2
    batch = [draw(size) for _ in range(max(n_batch, 0))]

    def operand_batch(rank):
        own = batch[len(batch) - max(rank - 2, 0) :]
        return tuple(1 if draw(hst.booleans()) else s for s in own)

    k = draw(size)
    a = (k,) if ra == 1 else operand_batch(ra) + (draw(size), k)
    b = (k,) if rb == 1 else operand_batch(rb) + (k, draw(size))
    return a, b


@SETTINGS
@given(matmul_shapes())
def test_matmul_matches_numpy_with_grad_rop_shape(shapes):
    a, b = (rand(s) for s in shapes)
    check_op(st.matmul, [a, b], np.matmul)
    check_op(lambda x, y: x @ y, [a, b], np.matmul, grad=False, rop=False, shape=False)


@SETTINGS
@given(matmul_shapes(min_size=0))
def test_matmul_values_with_empty_dims(shapes):
    a, b = (rand(s) for s in shapes)
    check_op(st.matmul, [a, b], np.matmul, grad=False, rop=False)


def test_matmul_batched_second_order():
    a, b = rand((2, 1, 3, 4)), rand((5, 4, 2))

    def first(x, y):
        z = st.matmul(x, y)
        return sg.grad((z * z).sum(), y)

    sg.verify_grad(first, [a, b], rng=1)


def test_matmul_gradient_sums_over_broadcast_batch_dims():
    a = st.tensor("a", shape=(1, None, None))
    b = st.tensor3("b")
    ga, gb = sg.grad(st.matmul(a, b).sum(), [a, b])
    av, bv = rand((1, 2, 3)), rand((4, 3, 5))
    got_a, got_b = sg.function([a, b], [ga, gb])(av, bv)
    assert got_a.shape == (1, 2, 3) and got_b.shape == (4, 3, 5)
    np.testing.assert_allclose(got_a, (np.ones((4, 2, 5)) @ np.swapaxes(bv, -1, -2)).sum(0, keepdims=True))
    np.testing.assert_allclose(got_b, np.swapaxes(av, -1, -2) @ np.ones((4, 2, 5)))


def test_matmul_static_shapes():
    a = st.tensor("a", shape=(1, 2, 3, 4))
    b = st.tensor("b", shape=(5, 1, None, 2))
    assert st.matmul(a, b).type.shape == (5, 2, 3, 2)
    assert st.matmul(a, st.vector("v", shape=(4,))).type.shape == (1, 2, 3)
    assert st.matmul(st.vector("w"), b).type.shape == (5, 1, 2)
    # A batch dim of unknown size against a static 1: unknown.
    assert st.matmul(st.tensor3("c"), st.tensor("d", shape=(1, 3, 3))).type.shape == (None, None, 3)


def test_matmul_builds_matmul_only_above_rank_2():
    assert isinstance(st.matmul(st.matrix("a"), st.vector("b")).owner.op, Dot)
    out = st.matmul(st.tensor3("a"), st.vector("b"))
    assert any(isinstance(op, MatMul) for op in ops_in(out))
    assert str(MatMul()) == "MatMul"


def test_matmul_build_time_errors():
    with pytest.raises(ValueError, match="scalar"):
        st.matmul(st.scalar("s"), st.matrix("m"))
    with pytest.raises(ValueError, match="scalar"):
        st.matrix("m") @ 2.0
    with pytest.raises(ValueError, match="not aligned"):
        st.matmul(st.tensor("a", shape=(2, 2, 3)), st.tensor("b", shape=(2, 4, 3)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        st.matmul(st.tensor("a", shape=(2, 2, 3)), st.tensor("b", shape=(3, 3, 3)))
    with pytest.raises(TypeError, match="rank >= 2"):
        MatMul()(st.vector("v"), st.matrix("m"))


def test_matmul_run_time_errors():
    a, b = st.tensor3("a"), st.tensor3("b")
    f = sg.function([a, b], st.matmul(a, b))
    with pytest.raises(ValueError, match="not aligned"):
        f(np.ones((2, 2, 3)), np.ones((2, 4, 3)))
    # Dims of unknown static size do not broadcast at run time (the gradient could not sum).
    with pytest.raises(ValueError, match="static size is 1"):
        f(np.ones((1, 2, 3)), np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match="do not match"):
        f(np.ones((2, 2, 3)), np.ones((4, 3, 2)))


def test_matmul_operator_with_numpy_arrays():
    x = st.matrix("x")
    m = rand((3, 3))
    f = sg.function([x], [m @ x, x @ m, x @ [1.0, 2.0, 3.0]])
    xv = rand((3, 3))
    got = f(xv)
    np.testing.assert_allclose(got[0], m @ xv)
    np.testing.assert_allclose(got[1], xv @ m)
    np.testing.assert_allclose(got[2], xv @ np.array([1.0, 2.0, 3.0]))


def test_matmul_operator_defers_on_unknown_objects():
    class Other:
        def __rmatmul__(self, other):
            return "deferred"

    assert st.matrix("x") @ Other() == "deferred"


# --------------------------------------------------------------------------- tensordot


@hst.composite
def tensordot_case(draw):
    """Two shapes and an ``axes`` argument (int or pair of lists, possibly negative)."""
    size = hst.integers(1, 3)
    ra, rb = draw(hst.integers(0, 3)), draw(hst.integers(0, 3))
    n = draw(hst.integers(0, min(ra, rb)))
    a_shape = [draw(size) for _ in range(ra)]
    b_shape = [draw(size) for _ in range(rb)]
    if draw(hst.booleans()):
        for i in range(n):
            b_shape[i] = a_shape[ra - n + i]
        return tuple(a_shape), tuple(b_shape), n
    axes_a = draw(hst.permutations(range(ra)))[:n]
    axes_b = draw(hst.permutations(range(rb)))[:n]
    for i, j in zip(axes_a, axes_b):
        b_shape[j] = a_shape[i]
    axes_a = [i - ra if draw(hst.booleans()) else i for i in axes_a]
    return tuple(a_shape), tuple(b_shape), (list(axes_a), list(axes_b))


@SETTINGS
@given(tensordot_case())
def test_tensordot_matches_numpy_with_grad_rop_shape(case):
    a_shape, b_shape, axes = case
    a, b = rand(a_shape), rand(b_shape)
    check_op(lambda x, y: st.tensordot(x, y, axes), [a, b], lambda x, y: np.tensordot(x, y, axes))


def test_tensordot_default_and_int_pair_axes():
    a, b = rand((2, 3, 4)), rand((3, 4, 5))
    check_op(st.tensordot, [a, b], np.tensordot)
    check_op(lambda x, y: st.tensordot(x, y, (1, 0)), [a, b], lambda x, y: np.tensordot(x, y, (1, 0)))
    out = st.tensordot(st.tensor3("x"), st.tensor3("y"))
    assert str(out.owner.op) == "Einsum{abc,bcf->af}"


def test_tensordot_errors():
    x, y = st.tensor3("x", shape=(2, 3, 4)), st.matrix("y", shape=(4, 5))
    with pytest.raises(ValueError, match="axis 1 of a \\(size 3\\) and axis 0 of b \\(size 4\\)"):
        st.tensordot(x, y, [[1], [0]])
    with pytest.raises(ValueError, match="rank >= 3"):
        st.tensordot(x, y, 3)
    with pytest.raises(ValueError, match="out of range"):
        st.tensordot(x, y, [[3], [0]])
    with pytest.raises(ValueError, match="repeat an axis"):
        st.tensordot(x, st.tensor3("z"), [[0, -3], [0, 1]])
    with pytest.raises(ValueError, match="1 axes of a but 2 axes of b"):
        st.tensordot(x, y, [[1], [0, 1]])
    with pytest.raises(ValueError, match="int or a pair"):
        st.tensordot(x, y, "ij")
    with pytest.raises(ValueError, match="int or a pair"):
        st.tensordot(x, y, (1, 2, 3))
    f = sg.function([a := st.tensor3("a"), b := st.matrix("b")], st.tensordot(a, b, 1))
    with pytest.raises(ValueError, match="label 'c' has size 4 in operand 0 .* size 3 in operand 1"):
        f(np.ones((2, 3, 4)), np.ones((3, 5)))


# --------------------------------------------------------------------------- outer


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((1,), (2,)), ((), (3,)), ((2, 3), (4,)), ((2, 2), (3, 1))])
def test_outer_matches_numpy(shapes):
    a, b = (rand(s) for s in shapes)
    check_op(st.outer, [a, b], np.outer)


def test_outer_static_shape():
    assert st.outer(st.vector("a", shape=(3,)), st.vector("b", shape=(4,))).type.shape == (3, 4)


def test_gradients_keep_static_size_one_dims():
    # b's first dim is unknown statically but must be 1 (it meets a's static 1): the gradient
    # w.r.t. a keeps a's broadcastable pattern, as PyTensor's patternbroadcast does.
    a = st.tensor("a", shape=(None, 1))
    b = st.matrix("b")
    out = st.dot(a, b)
    ga, gb = out.owner.op.grad(out.owner.inputs, [st.matrix("g")])
    assert ga.type.shape == (None, 1) and gb.type.shape == (1, None)
    x = st.vector("x")
    g = sg.grad(st.dot(x.dimshuffle(0, "x"), b).sum(), x)
    np.testing.assert_allclose(sg.function([x, b], g)(np.ones(3), np.full((1, 4), 2.0)), np.full(3, 8.0))
