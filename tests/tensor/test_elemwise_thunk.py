"""The specialised Elemwise thunk must agree with Elemwise.perform in value, dtype and kind,
for every row of the scalar table and every dtype it accepts, including broadcasting."""

import numpy as np
import pytest

import symgraph.tensor as st
from elemwise_cases import CASES, draw
from symgraph.tensor import elemwise as elemwise_module
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, SUPPORTED_DTYPES, VARIADIC, get_scalar_op


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


def _values(row, dtype, shapes, rng):
    case = CASES.get(row.name)
    if case is None:  # cast rows: any values
        return [np.asarray(rng.uniform(-3, 3, size=shapes[0])).astype(dtype)]
    return [draw(case, dtype, shape, rng, i) for i, shape in enumerate(shapes)]


def _dtypes(row):
    case = CASES.get(row.name)
    return case.dtypes if case is not None else SUPPORTED_DTYPES


CASES_BY_ROW = [(row, dtype) for row in SCALAR_OP_TABLE for dtype in _dtypes(row)]


@pytest.mark.parametrize("row, dtype", CASES_BY_ROW, ids=[f"{r.name}-{d}" for r, d in CASES_BY_ROW])
@pytest.mark.parametrize("shapes", ["0d", "2d", "broadcast"])
def test_thunk_matches_perform(row, dtype, shapes):
    op = get_scalar_op(row.name)
    nin = 2 if op.variadic else row.nin
    shape_list = {
        "0d": [()] * nin,
        "2d": [(3, 4)] * nin,
        "broadcast": [(3, 1), (1, 4), (3, 4)][:nin] if nin > 1 else [(3, 4)],
    }[shapes]
    rng = np.random.default_rng(0)
    values = _values(row, dtype, shape_list, rng)
    variables = [
        st.tensor(dtype=v.dtype.name, shape=tuple(1 if s == 1 else None for s in v.shape)) for v in values
    ]
    node = st.Elemwise(op)(*variables).owner
    with np.errstate(all="ignore"):
        fast = _run(node, values, use_perform=False)
        slow = _run(node, values, use_perform=True)
    assert type(fast) is np.ndarray and type(slow) is np.ndarray
    assert fast.dtype == slow.dtype == node.outputs[0].type.numpy_dtype
    assert fast.shape == slow.shape
    np.testing.assert_array_equal(fast, slow)
    for v in values:
        assert not np.shares_memory(fast, v)


def test_fast_path_is_taken_for_same_dtype_inputs():
    """The specialised thunk (not Op.make_py_thunk's perform wrapper) serves the common case;
    ops whose inputs need converting go through perform."""
    x, y = st.dvector("x"), st.dvector("y")
    i = st.lvector("i")
    cases = {x + y: True, st.exp(x): True, x < y: True, st.clip(x, 0.0, 1.0): True,
             st.exp(i): False, x + i: False, st.cast(x, "float32"): True}
    for var, fast in cases.items():
        node = var.owner
        storage = {v: [None] for v in (*node.inputs, *node.outputs)}
        thunk = node.op.make_thunk(node, storage, None, no_recycling=[])
        assert (thunk.__qualname__.startswith("Elemwise.make_py_thunk")) == fast, str(node.op)


def test_variadic_with_more_than_two_inputs_uses_perform():
    a, b, c = st.dvector("a"), st.dvector("b"), st.dvector("c")
    node = st.add(a, b, c).owner
    out = _run(node, [np.ones(2), np.ones(2), np.ones(2)], use_perform=False)
    np.testing.assert_array_equal(out, [3.0, 3.0])
    assert get_scalar_op("add").nin == VARIADIC


def test_probe_cache_is_keyed_by_op_and_dtypes():
    x = st.fvector("x")
    node = st.sqrt(x).owner
    storage = {v: [None] for v in (*node.inputs, *node.outputs)}
    node.op.make_thunk(node, storage, None, no_recycling=[])
    assert elemwise_module._FAST_OK[("sqrt", ("float32",))] is True
