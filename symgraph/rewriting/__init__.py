"""Graph rewriting: rules keyed by Op, one fixed-point driver, passes as named rule lists.

The standard pipeline (each a :class:`~symgraph.rewriting.basic.RulePass` or a function
``fn(fgraph)``), in FAST_RUN order: merge, constant folding, canonicalise, stabilise,
specialise, fuse, in-place. FAST_COMPILE runs merge and constant folding only.
:func:`standard_passes` lists them for the compiler's pass registry.
"""

from symgraph.rewriting.basic import (
    RewriteContext,
    RewriteError,
    Rule,
    RulePass,
    apply_rules,
    node_rewriter,
    rewrite_graph,
)
from symgraph.rewriting.folding import CONSTANT_FOLDING, MERGE
from symgraph.rewriting.canonicalize import CANONICALIZE
from symgraph.rewriting.stabilize import STABILIZE
from symgraph.rewriting.specialize import SPECIALIZE
from symgraph.rewriting.fusion import FUSION
from symgraph.rewriting.inplace import INPLACE


def standard_passes():
    """``(name, fn, optimizers, position, tags)`` for every standard pass, in order."""
    both = ("fast_run", "fast_compile")
    return [
        ("merge", MERGE, both, 0.0, ("merge",)),
        ("constant_folding", CONSTANT_FOLDING, both, 1.0, ("constant_folding",)),
        ("canonicalize", CANONICALIZE, ("fast_run",), 2.0, ("canonicalize",)),
        ("stabilize", STABILIZE, ("fast_run",), 3.0, ("stabilize",)),
        ("specialize", SPECIALIZE, ("fast_run",), 4.0, ("specialize",)),
        ("fusion", FUSION, ("fast_run",), 5.0, ("fusion",)),
        ("inplace", INPLACE, ("fast_run",), 6.0, ("inplace",)),
    ]


__all__ = [
    "RewriteContext",
    "RewriteError",
    "Rule",
    "RulePass",
    "apply_rules",
    "node_rewriter",
    "rewrite_graph",
    "standard_passes",
    "MERGE",
    "CONSTANT_FOLDING",
    "CANONICALIZE",
    "STABILIZE",
    "SPECIALIZE",
    "FUSION",
    "INPLACE",
]
