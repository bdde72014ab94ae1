"""Helpers shared by the shape/creation/join op tests (not a test module)."""

import symgraph as sg
from symgraph.graph.basic import ancestors
from symgraph.tensor.shape import symbolic_shape


def check_shape(out, inputs, values):
    """``out``'s infer_shape (no fallback, without computing ``out``) matches its real shape."""
    dims = symbolic_shape(out, fallback=False)
    if out.owner is not None:
        assert out not in set(ancestors(list(dims))), "infer_shape computed the op itself"
    real = sg.function(inputs, out, on_unused_input="ignore")(*values).shape
    if dims:
        got = sg.function(inputs, list(dims), on_unused_input="ignore")(*values)
        assert tuple(int(d) for d in got) == real, f"infer_shape gives {tuple(int(d) for d in got)}, real {real}"
    else:
        assert real == ()
