"""Interned nodes must not outlive their users: one garbage collection frees a dead graph."""

import gc

from symgraph.graph.basic import Apply, _apply_table
from symgraph.graph.op import Op
from symgraph.graph.type import Type


class _Real(Type):
    def filter(self, data, strict=False, allow_downcast=None):
        return float(data)


REAL = _Real()


class _Plus(Op):
    __props__ = ()

    def make_node(self, a, b):
        return Apply(self, [a, b], [REAL()])


def _live_plus_nodes():
    return sum(1 for node in list(_apply_table.values()) if isinstance(node.op, _Plus))


def test_dead_chain_is_freed_by_one_collection():
    gc.collect()
    before = _live_plus_nodes()
    x = REAL("x")
    v = x
    for i in range(2000):
        v = _Plus()(v, REAL.make_constant(float(i % 5)))
    assert _live_plus_nodes() == before + 2000
    del v
    gc.collect()
    assert _live_plus_nodes() == before


def test_live_graph_stays_interned_after_collection():
    x, y = REAL("x"), REAL("y")
    z = _Plus()(x, y)
    gc.collect()
    assert _Plus()(x, y) is z


def test_eval_with_unhashable_options_compiles_uncached():
    import numpy as np

    import symgraph.tensor as st

    x, y = st.dscalar("x"), st.dscalar("y")
    z = x * 2 + y
    assert z.eval({x: 1.0}, givens={y: x}) == 3.0
    assert z.eval({x: 2.0}, givens={y: x}) == 6.0
    assert np.asarray(z.eval({x: 1.0, y: 5.0})) == 7.0


def test_eval_by_ambiguous_name_is_refused():
    import numpy as np
    import pytest

    import symgraph.tensor as st

    a, b = st.dvector("x"), st.dvector("x")
    with pytest.raises(ValueError, match="several inputs .* named 'x'"):
        (a + b).eval({"x": np.ones(2)})
