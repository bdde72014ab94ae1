"""Random numbers in graphs: shared generators, default updates, RandomStream, Monte Carlo.

Run it from anywhere: ``python tutorials/03_random.py`` (about a second). Every result is
checked, so the script fails loudly if symgraph computes something else.

Random ops are functional, as in PyTensor: ``st.random.normal(rng, ...)`` returns a *new*
generator together with the draws and never changes the one it was given. What makes a
compiled function draw new numbers on each call is an update of the shared generator to that
new generator, which symgraph sets up for you as the shared variable's ``default_update``.
"""

import numpy as np

import symgraph as sg
import symgraph.tensor as st
from symgraph.tensor.random import RandomStream

# --------------------------------------------------------------------------- 1. a shared generator
rng = sg.shared(np.random.default_rng(42), name="rng")
next_rng, x = st.random.normal(rng, 0.0, 1.0, size=(3,))
assert rng.default_update is next_rng  # set when the draw was built

draw = sg.function([], x)
first, second = draw(), draw()
print("two calls:", first, second)
assert not np.allclose(first, second)  # the default update advanced the generator

# Same seed, same numbers: NumPy's own generator with seed 42 draws exactly these.
np.testing.assert_array_equal(first, np.random.default_rng(42).normal(0.0, 1.0, size=3))

# Re-seeding the shared variable replays the sequence.
rng.set_value(np.random.default_rng(42))
np.testing.assert_array_equal(draw(), first)
np.testing.assert_array_equal(draw(), second)

# A function compiled with no_default_updates=True reads the generator without advancing it.
peek = sg.function([], x, no_default_updates=True)
np.testing.assert_array_equal(peek(), peek())

# Several draws in one graph: chain them, passing each next_rng on, so that they use
# different random bits and one call advances the generator past all of them.
rng2 = sg.shared(np.random.default_rng(7), name="rng2")
rng_after_u, u = st.random.uniform(rng2, 0.0, 1.0, size=(4,))
rng_after_k, k = st.random.integers(rng_after_u, 0, 10, size=(4,))
assert rng2.default_update is rng_after_k
u_val, k_val = sg.function([], [u, k])()
assert u_val.dtype == np.float64 and k_val.dtype == np.int64
assert np.all((0 <= u_val) & (u_val < 1)) and np.all((0 <= k_val) & (k_val < 10))

# --------------------------------------------------------------------------- 2. RandomStream
# RandomStream hands out one shared generator per draw and returns the draws only.
srng = RandomStream(seed=123)
coin = srng.bernoulli(0.25, size=(8,))
noise = srng.normal(0.0, 2.0, size=(2, 2))
sample = sg.function([], [coin, noise])
a1, a2 = sample(), sample()
srng.seed(123)  # restart every generator of the stream
b1, b2 = sample(), sample()
for a, b in zip(a1 + a2, b1 + b2):
    np.testing.assert_array_equal(a, b)
print("RandomStream replays after seed():", a1[0])

# --------------------------------------------------------------------------- 3. Monte Carlo
# E[exp(Z)] for Z ~ Normal(0, 1) is exp(1/2). Estimate it from n draws and compare with a
# tolerance of five standard errors (the estimate's standard deviation is std(exp(Z))/sqrt(n)).
n = st.lscalar("n")
mc_rng = sg.shared(np.random.default_rng(2024), name="mc_rng")
_, z = st.random.normal(mc_rng, 0.0, 1.0, size=(n,))
values = st.exp(z)
estimate = sg.function([n], [st.mean(values), st.std(values)])

n_draws = 200_000
mean, std = estimate(n_draws)
standard_error = float(std) / np.sqrt(n_draws)
exact = np.exp(0.5)
print(f"E[exp(Z)] ~ {float(mean):.5f} +- {standard_error:.5f} (exact {exact:.5f})")
assert abs(float(mean) - exact) < 5 * standard_error

# The area of the unit disc from uniform points in the square [-1, 1]^2: pi.
pts_rng = sg.shared(np.random.default_rng(99), name="pts_rng")
_, pts = st.random.uniform(pts_rng, -1.0, 1.0, size=(n, 2))
inside = st.sum(pts**2, axis=1) <= 1.0
pi_estimate = sg.function([n], 4.0 * st.mean(inside))
p_inside = np.pi / 4
pi_error = 4 * np.sqrt(p_inside * (1 - p_inside) / n_draws)
pi_hat = float(pi_estimate(n_draws))
print(f"pi ~ {pi_hat:.4f} +- {pi_error:.4f}")
assert abs(pi_hat - np.pi) < 5 * pi_error

# Gradients through random draws (the reparameterisation trick): with Z standard normal,
# d/dmu E[(mu + sigma * Z)^2] = 2 * mu and d/dsigma = 2 * sigma. The draws are inputs of the
# graph like any other, so sg.grad differentiates the sample average.
mu, sigma = st.dscalar("mu"), st.dscalar("sigma")
grad_rng = sg.shared(np.random.default_rng(5), name="grad_rng")
_, eps = st.random.normal(grad_rng, 0.0, 1.0, size=(n,))
objective = st.mean((mu + sigma * eps) ** 2)
d_mu, d_sigma = sg.grad(objective, [mu, sigma])
mc_grads = sg.function([mu, sigma, n], [d_mu, d_sigma])
g_mu, g_sigma = mc_grads(1.5, 0.5, n_draws)
print(f"d/dmu ~ {float(g_mu):.4f} (exact 3.0), d/dsigma ~ {float(g_sigma):.4f} (exact 1.0)")
# The estimates are 2*mu + 2*sigma*mean(eps) and 2*mu*mean(eps) + 2*sigma*mean(eps**2); their
# standard errors are 2*sigma/sqrt(n) and sqrt(4*mu**2 + 8*sigma**2)/sqrt(n). Allow five.
se_mu = 2 * 0.5 / np.sqrt(n_draws)
se_sigma = np.sqrt(4 * 1.5**2 + 8 * 0.5**2) / np.sqrt(n_draws)
assert abs(float(g_mu) - 3.0) < 5 * se_mu and abs(float(g_sigma) - 1.0) < 5 * se_sigma

print("\nrandom: all results check out")
