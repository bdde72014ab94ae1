"""einsum: values against np.einsum on hypothesis-drawn subscripts (explicit and implicit,
diagonals, traces, sums, ellipsis broadcasting), gradients (first and second order), R_op,
infer_shape, dtypes, errors and printing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

import symgraph as sg
import symgraph.tensor as st
from symgraph.testing import check_op
from symgraph.tensor.products import Einsum

SETTINGS = settings(max_examples=60, deadline=None)
RNG = np.random.default_rng(7)


def rand(shape, dtype="float64", rng=RNG):
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return rng.integers(-3, 4, size=shape).astype(dtype)


@hst.composite
def einsum_case(draw):
    """Subscripts over 1-3 operands with random labels (repeats allowed: diagonals, traces,
    contractions, sums) and the operand shapes; explicit or implicit output."""
    pool = "abcdeXY"
    sizes = {c: draw(hst.integers(1, 3)) for c in pool}
    n_ops = draw(hst.integers(1, 3))
    operands = [draw(hst.lists(hst.sampled_from(pool), max_size=4)) for _ in range(n_ops)]
    used = sorted(set("".join("".join(o) for o in operands)))
    if draw(hst.booleans()):
        out = draw(hst.permutations(used))[: draw(hst.integers(0, len(used)))] if used else []
        subscripts = ",".join("".join(o) for o in operands) + "->" + "".join(out)
    else:
        subscripts = ",".join("".join(o) for o in operands)
    shapes = [tuple(sizes[c] for c in o) for o in operands]
    return subscripts, shapes


@SETTINGS
@given(einsum_case())
def test_einsum_matches_numpy_with_grad_rop_shape(case):
    subscripts, shapes = case
    values = [rand(s) for s in shapes]
    check_op(lambda *xs: st.einsum(subscripts, *xs), values, lambda *xs: np.einsum(subscripts, *xs))


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # batched matmul, broadcasting
        ("...ij,...jk", [(2, 3, 4), (1, 4, 2)]),  # implicit output keeps the ellipsis first
        ("...ii->...i", [(2, 3, 3)]),  # batched diagonal
        ("i...->...", [(3, 2, 4)]),  # sum over a leading axis
        ("ij...,jk", [(2, 3, 5), (3, 4)]),  # ellipsis at the end
        ("...,...->...", [(3, 1), (4,)]),  # elementwise product with broadcasting
        ("...i,...i->...", [(1, 3), (3,)]),  # broadcast dim of size 1 everywhere
        ("ij,...->ij...", [(2, 3), ()]),  # empty ellipsis
        ("a...a->...", [(2, 3, 2)]),  # trace with a middle ellipsis
        ("ii", [(3, 3)]),  # implicit trace
        ("iii->i", [(2, 2, 2)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # three operands
        ("i,i,i->", [(4,), (4,), (4,)]),
        ("ij->", [(0, 3)]),  # empty
    ],
)
def test_einsum_forms(subscripts, shapes):
    values = [rand(s) for s in shapes]
    check_op(lambda *xs: st.einsum(subscripts, *xs), values, lambda *xs: np.einsum(subscripts, *xs))


def test_einsum_static_shapes_and_normalized_subscripts():
    x = st.tensor("x", shape=(2, 1, 3, 4))
    y = st.tensor("y", shape=(5, 4, None))
    out = st.einsum("...ij,...jk->...ik", x, y)
    assert out.type.shape == (2, 5, 3, None)
    # x's size-1 batch dim gets a label of its own (summed over one element): it broadcasts.
    assert str(out.owner.op) == "Einsum{acij,bjk->abik}"
    assert str(st.einsum("bA", st.matrix("m")).owner.op) == "Einsum{bA->Ab}"  # ASCII order
    assert st.einsum("ij,jk", st.matrix("a", shape=(2, 3)), st.matrix("b")).type.shape == (2, None)


def test_einsum_ops_compare_by_subscripts():
    assert Einsum("ij,jk->ik") == Einsum(" ij , jk -> ik ")
    assert Einsum("ij,jk->ik") != Einsum("ij,jk->ki")
    a, b = st.matrix("a"), st.matrix("b")
    assert st.einsum("ij,jk", a, b) is st.einsum("ij,jk->ik", a, b)


def test_einsum_printing():
    a, b = st.matrix("a"), st.matrix("b")
    text = sg.printing.debugprint(st.einsum("ij,jk->ik", a, b), file="str")
    assert text.splitlines()[0].startswith("Einsum{ij,jk->ik} [id A]")


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ii->", [(3, 3)]),
        ("ii->i", [(3, 3)]),
        ("ij,jk->ik", [(2, 3), (3, 2)]),
        ("ij->i", [(2, 3)]),
        ("ijj,j->i", [(2, 3, 3), (3,)]),
    ],
)
def test_einsum_second_order(subscripts, shapes):
    values = [rand(s) for s in shapes]

    def first(*xs):
        z = st.einsum(subscripts, *xs)
        return sg.grad((z * z).sum() + (z * xs[0].sum()).sum(), xs[0])

    sg.verify_grad(first, values, rng=3)


def test_einsum_gradient_of_trace_is_identity():
    a = st.matrix("a")
    g = sg.grad(st.einsum("ii", a), a)
    np.testing.assert_array_equal(sg.function([a], g)(rand((3, 3))), np.eye(3))


def test_einsum_gradient_of_sum_broadcasts():
    a = st.matrix("a")
    g = sg.grad(st.einsum("ij->i", a).sum(), a)
    np.testing.assert_array_equal(sg.function([a], g)(rand((2, 4))), np.ones((2, 4)))


@pytest.mark.parametrize(
    "da, db", [("int32", "int32"), ("int8", "float32"), ("bool", "bool"), ("float32", "float32"), ("uint8", "int64")]
)
def test_einsum_dtypes_follow_numpy(da, db):
    a, b = rand((2, 3), da), rand((3, 4), db)
    ref = np.einsum("ij,jk->ik", a, b)
    value = check_op(lambda x, y: st.einsum("ij,jk->ik", x, y), [a, b], lambda x, y: ref, grad=False, rop=False)
    assert value.dtype == ref.dtype


def test_einsum_float32_gradient():
    values = [rand((3, 4), "float32"), rand((4,), "float32")]
    check_op(lambda a, b: st.einsum("ij,j->i", a, b), values, lambda a, b: np.einsum("ij,j->i", a, b))


def test_einsum_large_contraction_uses_blas_path_correctly():
    values = [rand((40, 50)), rand((50, 60)), rand((60, 7))]
    check_op(
        lambda *xs: st.einsum("ij,jk,kl->il", *xs),
        values,
        lambda *xs: np.einsum("ij,jk,kl->il", *xs),
        grad=False,
        rop=False,
    )
    check_op(lambda a, b: st.einsum("bij,bjk->bik", a, b), [rand((4, 30, 40)), rand((4, 40, 20))], np.matmul, rop=False)


def test_einsum_results_are_not_views():
    a = st.matrix("a")
    f = sg.function([a], [st.einsum("ij->ji", a), st.einsum("ii->i", a), st.einsum("ij", a)])
    av = rand((3, 3))
    for out in f(av):
        assert not np.shares_memory(out, av)
        out[...] = 0
    assert np.any(av != 0)


def test_einsum_build_time_errors():
    a, b = st.matrix("a", shape=(2, 3)), st.matrix("b", shape=(4, 5))
    with pytest.raises(ValueError, match="label 'j' has size 3 in operand 0 .* size 4 in operand 1"):
        st.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="label 'i' has size 2 .* size 3"):
        st.einsum("ii->i", a)
    with pytest.raises(ValueError, match="describe 2 operands but 1 were given"):
        st.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="has 2 dimensions but its subscripts 'ijk' name 3"):
        st.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="output label 'z' does not appear"):
        st.einsum("ij->z", a)
    with pytest.raises(ValueError, match="repeat a label"):
        st.einsum("ij->ii", a)
    with pytest.raises(ValueError, match="no '...' to put them in"):
        st.einsum("...ij->ij", st.tensor3("t"))
    with pytest.raises(ValueError, match="invalid label '1'"):
        st.einsum("i1->i", a)
    with pytest.raises(ValueError, match="malformed"):
        st.einsum("i..j->i", a)
    with pytest.raises(ValueError, match="malformed"):
        st.einsum("ij->i->j", a)
    with pytest.raises(ValueError, match="at least one operand"):
        st.einsum("ij")
    with pytest.raises(TypeError, match="interleaved"):
        st.einsum(a, [0, 1])
    with pytest.raises(ValueError, match="explicit '->'"):
        Einsum("ij")
    with pytest.raises(TypeError, match="takes 2 operands"):
        Einsum("ij,jk->ik")(a)


def test_einsum_run_time_size_mismatch():
    a, b = st.matrix("a"), st.matrix("b")
    f = sg.function([a, b], st.einsum("ij,jk->ik", a, b))
    with pytest.raises(ValueError, match="label 'j' has size 3 in operand 0 \\(axis 1\\) but size 4 .* at run time"):
        f(np.ones((2, 3)), np.ones((4, 5)))
    # A size-1 dim without a static 1 does not broadcast silently (its gradient would be wrong).
    with pytest.raises(ValueError, match="size 1"):
        f(np.ones((2, 1)), np.ones((4, 5)))
    g = sg.function([a], st.einsum("ii->i", a))
    with pytest.raises(ValueError, match="label 'i'"):
        g(np.ones((2, 3)))


def test_einsum_gradient_with_an_integer_operand():
    a, idx = rand((3, 4)), np.arange(4, dtype="int32")
    check_op(lambda x, i: st.einsum("ij,j->i", x, i), [a, idx], lambda x, i: np.einsum("ij,j->i", x, i))
    # The integer operand itself gets a zero gradient (it cannot be perturbed).
    x, i = st.dmatrix("x"), st.ivector("i")
    out = st.einsum("ij,j->i", x, i)
    _, gi = out.owner.op.grad(out.owner.inputs, [st.dvector("g")])
    assert gi.dtype == sg.config.floatX
    np.testing.assert_array_equal(sg.function([i], gi)(idx), np.zeros(4))
