"""symgraph.gradient: grad, Lop, Rop (with the L_op-transpose fallback), jacobian, hessian,
hessian_vector_product and verify_grad, checked against finite differences."""

import warnings

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import DisconnectedInputError, GradientError, NullTypeGradError
from symgraph.graph.basic import Apply
from symgraph.graph.null_type import grad_undefined
from symgraph.graph.op import Op

RNG = np.random.default_rng(42)


def numeric_jacobian(fn, x, eps=1e-6):
    """d fn(x) / d x by central differences, shape fn(x).shape + x.shape."""
    base = np.asarray(fn(x))
    jac = np.zeros(base.shape + x.shape)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        jac[(...,) + idx] = (np.asarray(fn(plus)) - np.asarray(fn(minus))) / (2 * eps)
    return jac


# --------------------------------------------------------------------------- test ops


class ScaleNoRop(Op):
    """y = c * x with an L_op but no R_op: Rop must go through the L_op transpose."""

    __props__ = ("c",)

    def __init__(self, c):
        self.c = c

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = np.asarray(inputs[0] * self.c)

    def L_op(self, inputs, outputs, grads):
        return [grads[0] * self.c]


class WrongGrad(Op):
    """sin with a deliberately wrong gradient (cos(x) + 0.1): verify_grad must catch it."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = np.sin(inputs[0])

    def grad(self, inputs, grads):
        return [grads[0] * (st.cos(inputs[0]) + 0.1)]


class RightGrad(WrongGrad):
    def grad(self, inputs, grads):
        return [grads[0] * st.cos(inputs[0])]


class UndefinedGrad(Op):
    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = np.floor(inputs[0])

    def grad(self, inputs, grads):
        return [grad_undefined(self, 0, inputs[0], "floor-like steps")]


class NoGrad(UndefinedGrad):
    """Falls back to the base class, which has no gradient."""

    grad = Op.grad


# --------------------------------------------------------------------------- grad


def test_grad_matches_analytic_and_numeric():
    x = st.dvector("x")
    cost = (st.exp(x) * x + x * x * x).sum()
    g = sg.grad(cost, x)
    xv = RNG.normal(size=5)
    np.testing.assert_allclose(sg.function([x], g)(xv), np.exp(xv) * (1 + xv) + 3 * xv**2)


def test_grad_of_shared_intermediate_accumulates():
    x = st.dscalar("x")
    y = st.exp(x)
    cost = y * y + y
    g = sg.function([x], sg.grad(cost, x))
    xv = 0.7
    np.testing.assert_allclose(g(xv), 2 * np.exp(2 * xv) + np.exp(xv))


def test_grad_wrt_intermediate_variable():
    x = st.dscalar("x")
    y = x * 3.0
    cost = y * y
    g = sg.function([x], sg.grad(cost, y))
    np.testing.assert_allclose(g(2.0), 2 * 6.0)


def test_consider_constant_blocks_the_flow():
    x = st.dscalar("x")
    y = x * x
    cost = y * x
    g_full = sg.function([x], sg.grad(cost, x))(3.0)
    g_const = sg.function([x], sg.grad(cost, x, consider_constant=[y]))(3.0)
    assert g_full == pytest.approx(27.0)
    assert g_const == pytest.approx(9.0)  # only the explicit x factor


def test_disconnected_inputs_modes():
    x, y = st.dscalar("x"), st.dscalar("y")
    cost = x * 2.0
    with pytest.raises(DisconnectedInputError, match="does not depend on y"):
        sg.grad(cost, [x, y])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gx, gy = sg.grad(cost, [x, y], disconnected_inputs="warn")
    assert any("does not depend" in str(w.message) for w in caught)
    assert sg.function([x, y], gy, on_unused_input="ignore")(1.0, 2.0) == 0.0
    assert sg.grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="none")[1] is None
    disc = sg.grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="disconnected")[1]
    assert isinstance(disc.type, sg.gradient.DisconnectedType)


def test_known_grads_seed_the_backward_pass():
    x = st.dvector("x")
    y = st.exp(x)
    g_seed = st.dvector("g")
    gx = sg.grad(None, x, known_grads={y: g_seed})
    xv, gv = RNG.normal(size=3), RNG.normal(size=3)
    np.testing.assert_allclose(sg.function([x, g_seed], gx)(xv, gv), np.exp(xv) * gv)


def test_null_gradients_raise_or_return():
    x = st.dscalar("x")
    cost = UndefinedGrad()(x) * 2.0
    with pytest.raises(NullTypeGradError, match="mathematically undefined.*floor-like steps"):
        sg.grad(cost, x)
    g = sg.grad(cost, x, null_gradients="return")
    assert isinstance(g.type, sg.gradient.NullType)


def test_op_without_grad_names_the_op():
    x = st.dscalar("x")
    with pytest.raises(NullTypeGradError, match="NoGrad.*not implemented"):
        sg.grad(NoGrad()(x), x)


def test_cost_must_be_scalar():
    x = st.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        sg.grad(x * 2.0, x)


def test_float32_gradient_keeps_float32():
    x = st.fvector("x")
    g = sg.grad((x * x).sum(), x)
    assert g.type.dtype == "float32"
    np.testing.assert_allclose(sg.function([x], g)(np.ones(2, "float32")), [2.0, 2.0])


# --------------------------------------------------------------------------- Lop / Rop


def test_lop_is_vector_jacobian_product():
    x = st.dvector("x")
    out = st.exp(x) * x
    v = st.dvector("v")
    f_out = sg.function([x], out)
    lop = sg.function([x, v], sg.Lop(out, x, v))
    xv, vv = RNG.normal(size=4), RNG.normal(size=4)
    jac = numeric_jacobian(f_out, xv)
    np.testing.assert_allclose(lop(xv, vv), vv @ jac, rtol=1e-6, atol=1e-8)


def test_rop_is_jacobian_vector_product():
    x = st.dvector("x")
    out = st.log(st.exp(x) + x * x)
    v = st.dvector("v")
    f_out = sg.function([x], out)
    rop = sg.function([x, v], sg.Rop(out, x, v))
    xv, vv = RNG.normal(size=4), RNG.normal(size=4)
    np.testing.assert_allclose(rop(xv, vv), numeric_jacobian(f_out, xv) @ vv, rtol=1e-6, atol=1e-8)


def test_rop_falls_back_to_lop_transpose():
    x, v = st.dvector("x"), st.dvector("v")
    out = st.exp(ScaleNoRop(3.0)(x))
    rop = sg.function([x, v], sg.Rop(out, x, v))
    xv, vv = RNG.normal(size=3), RNG.normal(size=3)
    np.testing.assert_allclose(rop(xv, vv), 3.0 * np.exp(3.0 * xv) * vv)


def test_rop_of_disconnected_output():
    x, y, v = st.dvector("x"), st.dvector("y"), st.dvector("v")
    with pytest.raises(DisconnectedInputError):
        sg.Rop(y * 2.0, x, v)
    z = sg.Rop(y * 2.0, x, v, disconnected_outputs="ignore")
    np.testing.assert_array_equal(sg.function([x, y, v], z, on_unused_input="ignore")(np.ones(2), np.ones(2), np.ones(2)), 0.0)


# --------------------------------------------------------------------------- jacobian / hessian


@pytest.mark.parametrize("vectorize", [True, False])
def test_jacobian_matches_numeric(vectorize):
    x = st.tensor("x", dtype="float64", shape=(3,))
    out = st.exp(x) * (x * x).sum()
    jac = sg.jacobian(out, x, vectorize=vectorize)
    xv = RNG.normal(size=3)
    got = sg.function([x], jac)(xv)
    np.testing.assert_allclose(got, numeric_jacobian(sg.function([x], out), xv), rtol=1e-6, atol=1e-8)


def test_jacobian_of_matrix_expression_wrt_matrix_shape():
    w = st.dmatrix("w")
    out = st.exp(w) * 2.0
    jac = sg.jacobian(out, w)
    wv = RNG.normal(size=(2, 3))
    got = sg.function([w], jac)(wv)
    assert got.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(got, numeric_jacobian(sg.function([w], out), wv), rtol=1e-6, atol=1e-8)


def test_hessian_and_hessian_vector_product():
    x = st.dvector("x")
    cost = (st.exp(x) * x).sum() + (x * x).sum() * x.sum()
    hess = sg.function([x], sg.hessian(cost, x))
    grad_fn = sg.function([x], sg.grad(cost, x))
    xv = RNG.normal(size=4)
    expected = numeric_jacobian(grad_fn, xv)
    np.testing.assert_allclose(hess(xv), expected, rtol=1e-5, atol=1e-6)
    p = st.dvector("p")
    hvp = sg.function([x, p], sg.hessian_vector_product(cost, x, p))
    pv = RNG.normal(size=4)
    np.testing.assert_allclose(hvp(xv, pv), expected @ pv, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- verify_grad


def test_verify_grad_accepts_a_right_gradient():
    sg.verify_grad(lambda x: RightGrad()(x), [RNG.normal(size=(3, 2))])


def test_verify_grad_catches_a_wrong_gradient():
    with pytest.raises(GradientError, match="input 0"):
        sg.verify_grad(lambda x: WrongGrad()(x), [RNG.normal(size=(3, 2))])


def test_verify_grad_reports_which_input_is_wrong():
    with pytest.raises(GradientError, match="input 1"):
        sg.verify_grad(lambda a, b: st.exp(a) + WrongGrad()(b), [RNG.normal(size=2), RNG.normal(size=2)])


# --------------------------------------------------------------------------- second order on models


def _mlp_loss(x, w1, w2, y):
    hidden = st.tanh(st.dot(x, w1))
    logits = st.dot(hidden, w2)
    return (st.logsumexp(logits, axis=1) - (logits * y).sum(axis=1)).mean()


def test_mlp_second_order():
    xv = RNG.normal(size=(5, 3))
    yv = np.eye(2)[RNG.integers(0, 2, size=5)]
    w1v, w2v = RNG.normal(size=(3, 4)) * 0.5, RNG.normal(size=(4, 2)) * 0.5
    sg.verify_grad(lambda w1, w2: _mlp_loss(st.constant(xv), w1, w2, st.constant(yv)), [w1v, w2v])
    # Second order: the gradient itself has the right gradient (Hessian-vector products).
    sg.verify_grad(
        lambda w1: sg.grad(_mlp_loss(st.constant(xv), w1, st.constant(w2v), st.constant(yv)), w1),
        [w1v],
    )
    w1 = st.dmatrix("w1")
    hess = sg.function([w1], sg.hessian(_mlp_loss(st.constant(xv), w1, st.constant(w2v), st.constant(yv)), w1))
    grad_fn = sg.function([w1], sg.grad(_mlp_loss(st.constant(xv), w1, st.constant(w2v), st.constant(yv)), w1))
    np.testing.assert_allclose(hess(w1v), numeric_jacobian(grad_fn, w1v), rtol=1e-4, atol=1e-6)


def _gmm_loglik(data, logits, means, log_sigmas):
    # data (n,), K components: log sum_k pi_k N(x | mu_k, sigma_k)
    x = data.dimshuffle(0, "x")
    z = (x - means.dimshuffle("x", 0)) / st.exp(log_sigmas).dimshuffle("x", 0)
    log_norm = -0.5 * z * z - log_sigmas.dimshuffle("x", 0) - 0.5 * np.log(2 * np.pi)
    return st.logsumexp(st.log_softmax(logits).dimshuffle("x", 0) + log_norm, axis=1).sum()


def test_gaussian_mixture_second_order():
    data = RNG.normal(size=7)
    params = [RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3) * 0.3]
    build = lambda lg, mu, ls: _gmm_loglik(st.constant(data), lg, mu, ls)
    sg.verify_grad(build, params)
    sg.verify_grad(lambda mu: sg.grad(build(st.constant(params[0]), mu, st.constant(params[2])), mu), [params[1]])
    mu = st.dvector("mu")
    cost = build(st.constant(params[0]), mu, st.constant(params[2]))
    hess = sg.function([mu], sg.hessian(cost, mu))(params[1])
    grad_fn = sg.function([mu], sg.grad(cost, mu))
    np.testing.assert_allclose(hess, numeric_jacobian(grad_fn, params[1]), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-8, atol=1e-10)


class InfGrad(WrongGrad):
    """A gradient that is infinite: verify_grad must not let it through."""

    def grad(self, inputs, grads):
        return [grads[0] * (st.cos(inputs[0]) / 0.0)]


def test_verify_grad_rejects_non_finite_gradients():
    with pytest.raises(GradientError, match="non-finite"):
        sg.verify_grad(lambda x: InfGrad()(x), [RNG.normal(size=3)])


def test_check_op_rejects_non_finite_rop():
    from symgraph.testing import check_op

    class InfRop(RightGrad):
        def R_op(self, inputs, eval_points):
            return [eval_points[0] / 0.0]

    with pytest.raises(AssertionError, match="not finite"):
        check_op(lambda x: InfRop()(x), [RNG.normal(size=3)], np.sin, grad=False, shape=False)


def test_consider_constant_variable_can_still_be_differentiated():
    x = st.dscalar("x")
    y = x * x
    # y is a constant to what lies above it, but d(3y)/dy is still 3.
    g = sg.grad(y * 3.0, y, consider_constant=[y])
    assert sg.function([x], g, on_unused_input="ignore")(2.0) == pytest.approx(3.0)
    # ... and nothing flows through y to x.
    gx = sg.grad(y * 3.0 + x, x, consider_constant=[y])
    assert sg.function([x], gx, on_unused_input="ignore")(2.0) == pytest.approx(1.0)


def test_known_grads_add_to_the_cost_gradient():
    x = st.dscalar("x")
    y = x * x
    g = sg.grad(y * 1.0, x, known_grads={y: st.constant(1.0)})
    assert sg.function([x], g)(2.0) == pytest.approx(2 * 2.0 * 2.0)


def test_gradient_wrt_variables_that_depend_on_each_other():
    # x's gradient includes the path through y even though y is also requested.
    x = st.dscalar("x")
    y = 2.0 * x
    cost = y * y + x
    gx, gy = sg.grad(cost, [x, y])
    f = sg.function([x], [gx, gy])
    got_x, got_y = f(1.5)
    assert got_x == pytest.approx(8 * 1.5 + 1)
    assert got_y == pytest.approx(2 * 3.0)
