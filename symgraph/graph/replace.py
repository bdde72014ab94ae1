"""Substituting variables in graphs: :func:`clone_replace` and :func:`graph_replace`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from symgraph.graph.basic import Constant, Variable, graph_inputs, rebuild_graph

__all__ = ["clone_replace", "graph_replace"]


def _pairs(replace) -> list[tuple[Variable, Variable]]:
    if replace is None:
        return []
    if isinstance(replace, Mapping):
        return list(replace.items())
    return list(replace)


def _checked(pairs, strict: bool) -> dict[Variable, Variable]:
    mapping = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"can only replace Variables, got {old!r}")
        if not isinstance(new, Variable):
            new = old.type.make_constant(new)
        if strict and new.type != old.type:
            new = old.type.filter_variable(new)
        mapping[old] = new
    return mapping


def clone_replace(
    output: Variable | Sequence[Variable],
    replace: Mapping[Variable, Variable] | Iterable[tuple[Variable, Variable]] | None = None,
    strict: bool = True,
    share_inputs: bool = True,
):
    """Copy ``output``'s graph with the variables in ``replace`` substituted.

    ``replace`` maps old variables to new ones (or is a list of pairs). With
    ``share_inputs`` (the default) the copy keeps the original root variables;
    otherwise the roots are cloned too. With ``strict`` each replacement must have a
    type compatible with the variable it replaces. Returns the same structure as
    ``output`` (one variable or a list).
    """
    single = isinstance(output, Variable)
    outputs = [output] if single else list(output)
    mapping = _checked(_pairs(replace), strict)
    if not share_inputs:
        # Clone the roots of the original graph only; replacements are used as given.
        for root in graph_inputs(outputs, blockers=list(mapping)):
            if root not in mapping and root.owner is None and not isinstance(root, Constant):
                mapping[root] = root.clone()
    new_outputs, _ = rebuild_graph(outputs, mapping, strict=strict)
    return new_outputs[0] if single else new_outputs


def graph_replace(
    outputs: Variable | Sequence[Variable],
    replace: Mapping[Variable, Variable] | Iterable[tuple[Variable, Variable]] | None = None,
    strict: bool = True,
):
    """Replace variables in ``outputs``' graph, sharing everything that does not change.

    Nodes are immutable, so this is :func:`clone_replace` with shared inputs: the old graph
    stays valid and untouched.
    """
    return clone_replace(outputs, replace, strict=strict, share_inputs=True)
