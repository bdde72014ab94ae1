"""Automatic differentiation: train a small neural network, then look at second derivatives.

Run it from anywhere: ``python tutorials/02_autodiff.py`` (about a second). It

1. trains a one-hidden-layer network by gradient descent on a tiny synthetic data set, with
   the gradients from ``sg.grad`` and the weights held in shared variables that the compiled
   training step updates in place of a Python loop over parameters;
2. computes the Hessian of a logistic-regression loss with ``sg.hessian`` and checks it
   against the closed form, and a Hessian-vector product without forming the Hessian;
3. checks gradients numerically with ``sg.verify_grad``, including one that is wrong on
   purpose.

Every number is checked, so the script fails loudly if symgraph computes something else.
"""

import numpy as np

import symgraph as sg
import symgraph.tensor as st
from symgraph.gradient import GradientError
from symgraph.graph import Apply, Op

rng = np.random.default_rng(0)

# --------------------------------------------------------------------------- 1. training
# Points in the plane, labelled by the quadrant they fall in: class 1 where x0 * x1 > 0.
# No straight line separates the classes (it is XOR), so the network needs its hidden layer.
# Points close to the axes are dropped to leave a margin between the classes.
points = rng.uniform(-1.0, 1.0, size=(600, 2))
points = points[np.abs(points).min(axis=1) > 0.1][:300]
labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)

n_hidden = 16
W1 = sg.shared(rng.standard_normal((2, n_hidden)), name="W1")
b1 = sg.shared(np.zeros(n_hidden), name="b1")
W2 = sg.shared(rng.standard_normal((n_hidden, 2)) / np.sqrt(n_hidden), name="W2")
b2 = sg.shared(np.zeros(2), name="b2")
params = [W1, b1, W2, b2]

X = st.dmatrix("X")
y = st.lvector("y")
# b1 is a vector: it broadcasts over the rows because adding a vector to a matrix
# prepends a dimension of static size 1 to it.
hidden = st.tanh(X @ W1 + b1)
logits = hidden @ W2 + b2
# Mean cross-entropy: -log softmax(logits)[i, y[i]] averaged over the rows.
loss = -st.mean(st.log_softmax(logits, axis=1)[st.arange(X.shape[0]), y])
accuracy = st.mean(st.eq(st.argmax(logits, axis=1), y))

grads = sg.grad(loss, params)  # one symbolic gradient per parameter
learning_rate = 0.5
train_step = sg.function(
    [X, y],
    loss,
    updates=[(p, p - learning_rate * g) for p, g in zip(params, grads)],
)
evaluate = sg.function([X, y], [loss, accuracy])

first_loss, first_accuracy = evaluate(points, labels)
for step in range(400):
    train_step(points, labels)
final_loss, final_accuracy = evaluate(points, labels)
print(f"loss {float(first_loss):.3f} -> {float(final_loss):.3f}, "
      f"accuracy {float(first_accuracy):.2f} -> {float(final_accuracy):.2f}")
assert final_loss < first_loss / 5, (first_loss, final_loss)
assert final_accuracy >= 0.95, final_accuracy

# The gradient graph is an ordinary graph: compile it and compare it with finite differences
# of the loss along a random direction of W1.
loss_and_grad = sg.function([X, y], [loss, grads[0]])
w1 = W1.get_value()
direction = rng.standard_normal(w1.shape)
eps = 1e-6
W1.set_value(w1 + eps * direction)
loss_plus = float(loss_and_grad(points, labels)[0])
W1.set_value(w1 - eps * direction)
loss_minus = float(loss_and_grad(points, labels)[0])
W1.set_value(w1)
analytic = float(np.sum(loss_and_grad(points, labels)[1] * direction))
np.testing.assert_allclose((loss_plus - loss_minus) / (2 * eps), analytic, rtol=1e-5, atol=1e-8)

# --------------------------------------------------------------------------- 2. Hessians
# Logistic regression: loss(w) = mean(softplus(-t * (A @ w))) with targets t = +-1. Its
# Hessian is A.T @ diag(p * (1 - p)) @ A / n with p = sigmoid(A @ w).
A_val = rng.standard_normal((50, 3))
t_val = np.where(rng.uniform(size=50) < 0.5, -1.0, 1.0)

A = st.dmatrix("A")
t = st.dvector("t")
w = st.dvector("w")
lr_loss = st.mean(st.softplus(-t * (A @ w)))
H = sg.hessian(lr_loss, w)  # a symbolic 3x3 matrix
v = st.dvector("v")
Hv = sg.hessian_vector_product(lr_loss, w, v)  # H @ v, without building H
second_order = sg.function([A, t, w, v], [H, Hv])

w_val = np.array([0.3, -0.2, 0.5])
v_val = np.array([1.0, 2.0, -1.0])
H_val, Hv_val = second_order(A_val, t_val, w_val, v_val)
p = 1.0 / (1.0 + np.exp(-A_val @ w_val))
H_exact = A_val.T @ (A_val * (p * (1 - p))[:, None]) / len(A_val)
print("Hessian of the logistic loss:\n", H_val)
np.testing.assert_allclose(H_val, H_exact, rtol=1e-10)
np.testing.assert_allclose(Hv_val, H_exact @ v_val, rtol=1e-10)

# Newton's method uses it: a few steps drive the gradient to zero.
g_lr = sg.grad(lr_loss, w)
newton_step = sg.function([A, t, w], w - st.linalg.solve(H, g_lr))
gradient_at = sg.function([A, t, w], g_lr)
w_newton = np.zeros(3)
for _ in range(8):
    w_newton = newton_step(A_val, t_val, w_newton)
assert np.abs(gradient_at(A_val, t_val, w_newton)).max() < 1e-10

# --------------------------------------------------------------------------- 3. verify_grad
# verify_grad builds the function on symbolic inputs shaped like the given arrays and compares
# its gradient with central finite differences along random directions.
sg.verify_grad(lambda a, b: st.tanh(a @ b).sum(axis=0), [rng.standard_normal((4, 3)), rng.standard_normal((3, 2))], rng=rng)
sg.verify_grad(lambda x: st.logsumexp(x, axis=1), [rng.standard_normal((5, 4))], rng=rng)


class BadSquare(Op):
    """x ** 2, with a wrong derivative (x instead of 2 * x), to show what verify_grad catches."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] ** 2

    def grad(self, inputs, output_grads):
        return [output_grads[0] * inputs[0]]  # should be 2 * x


try:
    sg.verify_grad(BadSquare(), [np.array([1.0, 2.0, 3.0])], rng=rng)
except GradientError as err:
    print("verify_grad caught the wrong derivative:", str(err).splitlines()[0])
else:
    raise AssertionError("verify_grad did not notice the wrong gradient")

print("\nautodiff: all results check out")
