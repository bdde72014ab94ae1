"""The passes FAST_COMPILE runs too: merging equal constants and constant folding.

Merging identical nodes needs no pass: nodes are interned, so equal subexpressions are
already one node. What remains is constants that are equal but carry different names
(names are part of a constant's identity so that naming one never renames another):
:data:`merge_constants` swaps them for the one unnamed constant of that value.
"""

from __future__ import annotations

from symgraph.graph.basic import Constant
from symgraph.rewriting.basic import RulePass, node_rewriter

__all__ = ["merge_constants", "constant_folding", "MERGE", "CONSTANT_FOLDING"]


@node_rewriter(None)
def merge_constants(ctx, node):
    """Replace named constant inputs by the unnamed interned constant of the same value."""
    if not any(isinstance(i, Constant) and i.name is not None for i in node.inputs):
        return None
    inputs = [i.type.make_constant(i.data) if isinstance(i, Constant) and i.name is not None else i for i in node.inputs]
    return node.clone_with_new_inputs(inputs).outputs


@node_rewriter(None)
def constant_folding(ctx, node):
    """Evaluate a node whose inputs are all constants once, unless its op declines
    (``op.do_constant_folding(fgraph, node)`` returning False)."""
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    if getattr(node.op, "destroy_map", None):
        # It would overwrite a constant; the compiler reports such graphs instead.
        return None
    if not node.op.do_constant_folding(ctx.fgraph, node):
        return None
    if not all(hasattr(o.type, "make_constant") and hasattr(o.type, "dtype") for o in node.outputs):
        return None
    storage = {i: [i.data] for i in node.inputs}
    storage.update({o: [None] for o in node.outputs})
    compute = {v: [v in node.inputs] for v in storage}
    node.op.make_thunk(node, storage, compute, no_recycling=[])()
    return [o.type.make_constant(storage[o][0]) for o in node.outputs]


MERGE = RulePass("merge", [merge_constants])
CONSTANT_FOLDING = RulePass("constant_folding", [constant_folding])
