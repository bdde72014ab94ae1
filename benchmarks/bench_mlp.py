"""Workload W4: the loss of a small MLP and its gradients w.r.t. both weight matrices.

    logits = tanh(X @ W1) @ W2
    loss   = mean(logsumexp(logits, axis=1) - logits[range(n), y])    # softmax cross-entropy

with ``X`` 512x256, ``W1`` 256x256, ``W2`` 256x10 (float64) and integer labels ``y`` in
[0, 10). One call returns ``(loss, dloss/dW1, dloss/dW2)``.

The baseline is the same computation written by hand in NumPy (forward pass, then
backpropagation with the softmax shortcut ``dlogits = (softmax(logits) - onehot(y)) / n``).
symgraph builds the gradients with ``sg.grad``; PyTensor with ``pytensor.grad`` and JAX with
``jax.value_and_grad`` under ``jax.jit``, when they are installed. All three outputs of every
system are checked against the NumPy numbers before anything is timed (and the NumPy gradients
themselves against central finite differences).

Usage: ``python benchmarks/bench_mlp.py [--quick] [--batch N] [--hidden N] [--rounds N]``
"""

from __future__ import annotations

import argparse

import numpy as np

from _bench_utils import (
    symgraph_linker_cases,
    Case,
    environment_line,
    jax_case,
    measure,
    optional_import,
    optional_jax,
    print_table,
    pytensor_function_cases,
)

import symgraph as sg
import symgraph.tensor as st

N_CLASSES = 10


def numpy_loss_and_grads(X, W1, W2, y):
    """Forward pass and hand-written backpropagation."""
    n = X.shape[0]
    h = np.tanh(X @ W1)
    logits = h @ W2
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, y])
    dlogits = e / s  # softmax
    dlogits[rows, y] -= 1.0
    dlogits /= n
    gW2 = h.T @ dlogits
    dpre = (dlogits @ W2.T) * (1.0 - h * h)
    gW1 = X.T @ dpre
    return [loss, gW1, gW2]


def _check_numpy_gradients(X, W1, W2, y, rng):
    """The hand-written gradients agree with central finite differences along random directions."""
    _, gW1, gW2 = numpy_loss_and_grads(X, W1, W2, y)
    eps = 1e-6
    for which, g in ((0, gW1), (1, gW2)):
        d = rng.standard_normal(g.shape)
        ws = [W1, W2]
        plus = list(ws)
        minus = list(ws)
        plus[which] = ws[which] + eps * d
        minus[which] = ws[which] - eps * d
        numeric = (numpy_loss_and_grads(X, *plus, y)[0] - numpy_loss_and_grads(X, *minus, y)[0]) / (2 * eps)
        analytic = float(np.sum(g * d))
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (which, numeric, analytic)


def symgraph_cases(inputs, expected):
    X, W1, W2 = st.dmatrix("X"), st.dmatrix("W1"), st.dmatrix("W2")
    y = st.lvector("y")
    logits = st.tanh(X @ W1) @ W2
    loss = st.mean(st.logsumexp(logits, axis=1) - logits[st.arange(X.shape[0]), y])
    gW1, gW2 = sg.grad(loss, [W1, W2])
    return symgraph_linker_cases([X, W1, W2, y], [loss, gW1, gW2], inputs, expected, "sg.grad")


def pytensor_cases(inputs, expected):
    pytensor = optional_import("pytensor")
    if pytensor is None:
        return []
    import pytensor.tensor as pt

    X, W1, W2 = pt.dmatrix("X"), pt.dmatrix("W1"), pt.dmatrix("W2")
    y = pt.lvector("y")
    logits = pt.tanh(X @ W1) @ W2
    loss = pt.mean(pt.logsumexp(logits, axis=1) - logits[pt.arange(X.shape[0]), y])
    gW1, gW2 = pytensor.grad(loss, [W1, W2])
    return pytensor_function_cases(pytensor, [X, W1, W2, y], [loss, gW1, gW2], inputs, expected)


def jax_cases(inputs, expected):
    jax = optional_jax()
    if jax is None:
        return []
    import jax.numpy as jnp

    def loss_fn(W1, W2, X, y):
        logits = jnp.tanh(X @ W1) @ W2
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(X.shape[0]), y])

    value_and_grads = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))

    def call(X, W1, W2, y):
        loss, (gW1, gW2) = value_and_grads(W1, W2, X, y)
        return [loss.block_until_ready(), gW1.block_until_ready(), gW2.block_until_ready()]

    return jax_case(jax, call, inputs, expected, "value_and_grad, device arrays in")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds), for tests")
    parser.add_argument("--batch", type=int, default=None, help="rows of X (default 512, quick 32)")
    parser.add_argument("--hidden", type=int, default=None, help="input and hidden width (default 256, quick 16)")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds (default 15, quick 3)")
    args = parser.parse_args(argv)
    batch = args.batch or (32 if args.quick else 512)
    hidden = args.hidden or (16 if args.quick else 256)
    rounds = args.rounds or (3 if args.quick else 15)
    target = 0.002 if args.quick else 0.1

    print(environment_line())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, hidden))
    W1 = rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)
    W2 = rng.standard_normal((hidden, N_CLASSES)) / np.sqrt(hidden)
    y = rng.integers(0, N_CLASSES, size=batch)
    inputs = (X, W1, W2, y)

    _check_numpy_gradients(X, W1, W2, y, rng)
    expected = numpy_loss_and_grads(*inputs)

    cases = [Case("numpy", numpy_loss_and_grads, inputs, "hand-written forward + backprop")]
    cases += symgraph_cases(inputs, expected)
    cases += pytensor_cases(inputs, expected)
    cases += jax_cases(inputs, expected)
    measure(cases, rounds, target)
    title = f"W4: MLP loss + gradients w.r.t. W1 and W2; X {batch}x{hidden}, W1 {hidden}x{hidden}, W2 {hidden}x{N_CLASSES}"
    print_table(title + " float64", cases, "ms", baseline="numpy")


if __name__ == "__main__":
    main()
