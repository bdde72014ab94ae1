"""Quickstart: build a graph, compile it, call it, look at it, keep state between calls.

Run it from anywhere: ``python tutorials/01_quickstart.py``. Every result is checked against
NumPy, so the script fails loudly if symgraph computes something else.
"""

import numpy as np

import symgraph as sg
import symgraph.tensor as st

# 1. Symbolic inputs. Nothing is computed while the graph is built.
x = st.dvector("x")
y = st.dvector("y")
z = st.exp(x) * y + 1

# 2. Compile the graph into a function and call it on ordinary data.
f = sg.function([x, y], z)

xv = np.array([0.0, 1.0, -2.0])
yv = np.array([2.0, 3.0, 0.5])
result = f(xv, yv)
print("f(x, y) =", result)
np.testing.assert_allclose(result, np.exp(xv) * yv + 1)

# Arguments can also be passed by the inputs' names.
np.testing.assert_allclose(f(y=yv, x=xv), result)

# 3. Look at the graph the function runs.
print("\nThe compiled graph:")
sg.debugprint(f)

# 4. Nodes are interned: the same expression built twice is the same variable.
assert (x + y) is (x + y)
assert st.exp(x) is st.exp(x)

# 5. A shared variable keeps its value between calls; `updates` changes it after each call.
#    The function returns the value from before the update.
count = sg.shared(0, name="count")
step = st.lscalar("step")
tick = sg.function([step], count, updates=[(count, count + step)])

seen = [int(tick(s)) for s in (1, 2, 3)]
print("\ntick(1), tick(2), tick(3) returned", seen, "and count is now", count.get_value())
assert seen == [0, 1, 3]
assert count.get_value() == 6

count.set_value(100)
assert int(tick(5)) == 100 and count.get_value() == 105

print("\nquickstart: all results match NumPy")
