"""The specialised Elemwise thunk must agree with Elemwise.perform in value, dtype and kind."""

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, get_scalar_op


def _run(node, values, use_perform):
    storage = {v: [x] for v, x in zip(node.inputs, values)}
    storage.update({o: [None] for o in node.outputs})
    compute = {v: [True] for v in node.inputs}
    compute.update({o: [False] for o in node.outputs})
    if use_perform:
        node.op.perform(node, list(values), [storage[o] for o in node.outputs])
    else:
        thunk = node.op.make_thunk(node, storage, compute, no_recycling=[])
        thunk()
        assert compute[node.outputs[0]][0] is True
    return storage[node.outputs[0]][0]


@pytest.mark.parametrize("row", SCALAR_OP_TABLE, ids=lambda r: r.name)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("ndim", [0, 2])
def test_thunk_matches_perform(row, dtype, ndim):
    op = get_scalar_op(row.name)
    nin = 2 if op.variadic else row.nin
    rng = np.random.default_rng(0)
    shape = (3, 4)[:ndim]
    values = [np.asarray(rng.uniform(0.5, 3.0, size=shape)).astype(dtype) for _ in range(nin)]
    variables = [st.tensor(dtype=dtype, shape=(None,) * ndim) for _ in range(nin)]
    node = st.Elemwise(op)(*variables).owner
    fast = _run(node, values, use_perform=False)
    slow = _run(node, values, use_perform=True)
    assert type(fast) is np.ndarray and type(slow) is np.ndarray
    assert fast.dtype == slow.dtype == node.outputs[0].type.numpy_dtype
    np.testing.assert_array_equal(fast, slow)
