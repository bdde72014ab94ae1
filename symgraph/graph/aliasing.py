"""Which values share memory: following ``view_map``/``destroy_map`` through a graph.

An op's ``view_map`` says an output looks into an input's memory; its ``destroy_map``
says an output *is* an input, overwritten. The compiler (to decide which results must be
copied before they reach the user) and the destroy handler (to validate in-place
operations) both need these chains; this module is their one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from symgraph.graph.basic import Apply, Variable

__all__ = ["view_sources", "memory_sources", "alias_roots", "value_roots", "memory_roots", "view_ancestors"]


def view_sources(node: Apply, index: int) -> list[int]:
    """Inputs output ``index`` is a view of (a destroyed output is a new value, not a view)."""
    op = node.op
    destroy_map = getattr(op, "destroy_map", None) or {}
    if index in destroy_map:
        return []
    return list((getattr(op, "view_map", None) or {}).get(index, ()))


def memory_sources(node: Apply, index: int) -> list[int]:
    """Inputs whose memory output ``index`` may occupy: those it views or overwrote."""
    op = node.op
    found = list((getattr(op, "view_map", None) or {}).get(index, ()))
    found.extend((getattr(op, "destroy_map", None) or {}).get(index, ()))
    return found


def alias_roots(
    order: Iterable[Apply], inputs: Iterable[Variable], sources: Callable[[Apply, int], list[int]] = memory_sources
) -> dict[Variable, frozenset]:
    """For each variable, the variables whose buffer it aliases, following ``sources(node, i)``
    (the input indices output ``i`` of ``node`` aliases) back through the nodes in ``order``.
    A variable that aliases nothing is its own (single) root."""
    roots: dict[Variable, frozenset] = {v: frozenset((v,)) for v in inputs}
    for node in order:
        for inp in node.inputs:
            if inp not in roots:
                roots[inp] = frozenset((inp,))
        for idx, out in enumerate(node.outputs):
            found = sources(node, idx)
            roots[out] = frozenset().union(*(roots[node.inputs[i]] for i in found)) if found else frozenset((out,))
    return roots


def value_roots(order: Iterable[Apply], inputs: Iterable[Variable]) -> dict[Variable, frozenset]:
    """Roots following ``view_map`` only: the result of an in-place op counts as a new value."""
    return alias_roots(order, inputs, view_sources)


def memory_roots(order: Iterable[Apply], inputs: Iterable[Variable]) -> dict[Variable, frozenset]:
    """Roots following both maps: an in-place output also aliases the input it overwrote."""
    return alias_roots(order, inputs, memory_sources)


def view_ancestors(variables: Iterable[Variable]) -> list[Variable]:
    """``variables`` and every computed variable they may share memory with, without roots.

    Only variables with an owner are returned: those are the storage cells an op could
    reuse on the next run, so they must be emptied first if a result handed to the user
    lives in them.
    """
    seen: dict[Variable, None] = {}
    stack = list(variables)
    while stack:
        var = stack.pop()
        if var in seen or var.owner is None:
            continue
        seen[var] = None
        node = var.owner
        for i in memory_sources(node, var.index):
            stack.append(node.inputs[i])
    return list(seen)
