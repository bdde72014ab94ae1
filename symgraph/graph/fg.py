"""FunctionGraph: a graph with designated inputs and outputs that rewrites act on.

Nodes are immutable, so a :meth:`FunctionGraph.replace` rebuilds the nodes depending
on the replaced variable and swaps in new outputs. The graph remembers which old
variable became which new one, so a variable obtained before a replacement can still
be passed to ``replace`` (it resolves to its current version).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from symgraph.graph.basic import (
    Apply,
    Constant,
    Variable,
    ancestors,
    clone_get_equiv,
    graph_spec,
    io_toposort,
    rebuild_graph,
    rebuild_spec,
)
from symgraph.graph.utils import InconsistencyError, MissingInputError, format_trace

__all__ = ["FunctionGraph"]

Client = tuple  # (Apply, input index) or ("output", output index)


class FunctionGraph:
    """A graph between ``inputs`` and ``outputs``.

    Parameters
    ----------
    inputs
        Root variables the outputs may depend on (default: every non-constant root).
    outputs
        The variables the graph computes.
    features
        Objects attached with :meth:`attach_feature` (listeners such as a destroy handler).
    clone
        Copy the inputs first so the graph is independent of the caller's variables
        (the default). With ``clone=False`` the graph is built on the given variables.
    update_mapping
        ``{output index: input index}`` for outputs that update an input (shared values).

    Attributes ``apply_nodes``, ``variables`` and ``clients`` (variable -> list of
    ``(node, input index)`` or ``("output", output index)``) are kept up to date.
    """

    def __init__(
        self,
        inputs: Sequence[Variable] | None = None,
        outputs: Sequence[Variable] | None = None,
        features: Iterable[Any] | None = None,
        clone: bool = True,
        update_mapping: dict[int, int] | None = None,
    ):
        if outputs is None:
            raise ValueError("FunctionGraph needs outputs")
        outputs = list(outputs)
        for i, out in enumerate(outputs):
            if not isinstance(out, Variable):
                raise TypeError(f"FunctionGraph output {i} is not a Variable: {out!r}")
        if inputs is None:
            inputs = [v for v in ancestors(outputs) if v.owner is None and not isinstance(v, Constant)]
        inputs = list(inputs)
        seen: set[Variable] = set()
        for inp in inputs:
            if not isinstance(inp, Variable):
                raise TypeError(f"FunctionGraph input is not a Variable: {inp!r}")
            if inp in seen:
                raise ValueError(f"input {inp} is given more than once")
            seen.add(inp)
        if clone:
            equiv = clone_get_equiv(inputs, outputs, copy_inputs=True, copy_orphans=False)
            inputs = [equiv[i] for i in inputs]
            outputs = [equiv[o] for o in outputs]
        self.inputs: list[Variable] = inputs
        self.outputs: list[Variable] = outputs
        self.update_mapping = dict(update_mapping or {})
        self._forward: dict[Variable, Variable] = {}
        self._features: list[Any] = []
        self._refresh()
        for feature in features or ():
            self.attach_feature(feature)

    # ------------------------------------------------------------------ structure

    def _structure(self, inputs: list[Variable], outputs: list[Variable]):
        order = io_toposort(inputs, outputs, self._feature_orderings() if self._features else None)
        input_set = set(inputs)
        clients: dict[Variable, list[Client]] = {v: [] for v in inputs}
        missing: list[Variable] = []
        for node in order:
            for i, inp in enumerate(node.inputs):
                if inp not in clients:
                    clients[inp] = []
                    if inp.owner is None and not isinstance(inp, Constant) and inp not in input_set:
                        missing.append(inp)
                clients[inp].append((node, i))
            for out in node.outputs:
                clients.setdefault(out, [])
        for i, out in enumerate(outputs):
            if out not in clients:
                clients[out] = []
                if out.owner is None and not isinstance(out, Constant) and out not in input_set:
                    missing.append(out)
            clients[out].append(("output", i))
        return order, clients, missing

    def _refresh(self) -> None:
        order, clients, missing = self._structure(self.inputs, self.outputs)
        if missing:
            raise _missing_input_error(missing[0], self.outputs)
        self._commit(order, clients)

    def _commit(self, order: list[Apply], clients: dict) -> None:
        self._order = order
        self.apply_nodes: set[Apply] = set(order)
        self.clients: dict[Variable, list[Client]] = clients
        self.variables: set[Variable] = set(clients)

    def toposort(self) -> list[Apply]:
        """The apply nodes in a deterministic topological order (respecting feature orderings)."""
        return list(self._order)

    def orderings(self) -> dict[Apply, list[Apply]]:
        """Extra ordering constraints from attached features: node -> nodes that must run first."""
        return self._feature_orderings()

    def _feature_orderings(self) -> dict:
        merged: dict[Apply, list[Apply]] = {}
        for feature in self._features:
            get = getattr(feature, "orderings", None)
            if get is not None:
                for node, before in get(self).items():
                    merged.setdefault(node, []).extend(before)
        return merged

    # ------------------------------------------------------------------ features

    def attach_feature(self, feature: Any) -> None:
        """Attach a listener; it gets ``on_attach(fgraph)`` now and callbacks on every change."""
        if feature in self._features:
            return
        on_attach = getattr(feature, "on_attach", None)
        if on_attach is not None:
            on_attach(self)
        self._features.append(feature)
        if hasattr(feature, "orderings"):
            self._refresh()

    def remove_feature(self, feature: Any) -> None:
        self._features.remove(feature)
        on_detach = getattr(feature, "on_detach", None)
        if on_detach is not None:
            on_detach(self)
        if hasattr(feature, "orderings"):
            self._refresh()

    def execute_callbacks(self, name: str, *args: Any) -> None:
        for feature in list(self._features):
            fn = getattr(feature, name, None)
            if fn is not None:
                fn(self, *args)

    # ------------------------------------------------------------------ changes

    def resolve(self, var: Variable) -> Variable:
        """The current version of ``var`` (itself unless a replace rebuilt it)."""
        while var in self._forward:
            var = self._forward[var]
        return var

    def replace(
        self,
        var: Variable,
        new_var: Variable,
        reason: str | None = None,
        verbose: bool | None = None,
        import_missing: bool = False,
    ) -> None:
        """Replace ``var`` by ``new_var`` everywhere in the graph.

        ``new_var`` must have a type compatible with ``var``'s. Roots of ``new_var`` that
        are not inputs raise :class:`MissingInputError` unless ``import_missing``, which
        makes them new inputs.
        """
        self.replace_all([(var, new_var)], reason=reason, import_missing=import_missing)

    def replace_all(
        self,
        pairs: Iterable[tuple[Variable, Variable]],
        reason: str | None = None,
        import_missing: bool = False,
    ) -> None:
        """Replace each ``var`` by its ``new_var``, in one rebuild of the graph."""
        pairs = [(self.resolve(var), new_var) for var, new_var in pairs]
        new_vars = self._current_versions([new for _, new in pairs])
        mapping: dict[Variable, Variable] = {}
        for (var, _), new_var in zip(pairs, new_vars):
            if var not in self.variables:
                raise ValueError(f"cannot replace {var}: it is not in this FunctionGraph")
            if new_var is var:
                continue
            try:
                new_var = var.type.filter_variable(new_var, allow_convert=True)
            except TypeError as exc:
                raise TypeError(
                    f"replace{f' ({reason})' if reason else ''}: the replacement {new_var} of type "
                    f"{new_var.type} is not compatible with {var} of type {var.type}"
                ) from exc
            mapping[var] = new_var
        if not mapping:
            return
        new_outputs, equiv = rebuild_graph(self.outputs, mapping)
        old_nodes = self.apply_nodes
        old_inputs, old_outputs = self.inputs, self.outputs
        # Features computing orderings look at self: show them the new graph.
        self.inputs, self.outputs = list(self.inputs), new_outputs
        try:
            order, clients, missing = self._structure(self.inputs, new_outputs)
            if missing:
                if not import_missing:
                    raise _missing_input_error(missing[0], new_outputs)
                self.inputs.extend(dict.fromkeys(missing))
                order, clients, missing = self._structure(self.inputs, new_outputs)
        except Exception:
            self.inputs, self.outputs = old_inputs, old_outputs
            raise
        inputs = self.inputs
        self._commit(order, clients)
        imported = [node for node in order if node not in old_nodes]
        # Remember old -> new for variables that left the graph, so references taken before
        # this change still resolve. A variable still (or again) in the graph is current:
        # it must not forward, or replace(a, f(a)) would later turn f(a) into f(f(a)).
        for old, new in equiv.items():
            if isinstance(old, Variable) and old is not new and old not in clients:
                self._forward[old] = new
        for node in imported:
            for out in node.outputs:
                self._forward.pop(out, None)
        for var in list(mapping) + list(mapping.values()) + inputs:
            if var in clients:
                self._forward.pop(var, None)
        for node in old_nodes - self.apply_nodes:
            self.execute_callbacks("on_prune", node, reason)
        for node in imported:
            self.execute_callbacks("on_import", node, reason)
        for i, (old, new) in enumerate(zip(old_outputs, new_outputs)):
            if old is not new:
                self.execute_callbacks("on_change_input", "output", i, old, new, reason)

    def _current_version(self, var: Variable) -> Variable:
        """``var`` with any stale (already replaced) ancestors swapped for their current versions."""
        return self._current_versions([var])[0]

    def _current_versions(self, variables: list[Variable]) -> list[Variable]:
        """:meth:`_current_version` of many variables with one walk over their ancestors."""
        if not self._forward:
            return list(variables)
        variables = [self.resolve(v) for v in variables]
        stale = {v: self.resolve(v) for v in ancestors(variables) if v in self._forward}
        if not stale:
            return variables
        return rebuild_graph(variables, stale)[0]

    def add_input(self, var: Variable) -> None:
        """Make ``var`` (a root variable) an input of the graph."""
        if var in self.inputs:
            return
        if var.owner is not None:
            raise ValueError(f"{var} is computed by {var.owner}; only root variables can be inputs")
        self.inputs.append(var)
        self._refresh()

    def add_output(self, var: Variable) -> int:
        """Append ``var`` to the outputs; returns its index."""
        var = self._current_version(var)
        order, clients, missing = self._structure(self.inputs, self.outputs + [var])
        if missing:
            raise _missing_input_error(missing[0], [var])
        old_nodes = self.apply_nodes
        self.outputs.append(var)
        self._commit(order, clients)
        for node in order:
            if node not in old_nodes:
                self.execute_callbacks("on_import", node, "add_output")
        return len(self.outputs) - 1

    # ------------------------------------------------------------------ copies and checks

    def clone_get_equiv(self, check_integrity: bool = True, attach_feature: bool = True):
        """A copy of the graph on fresh inputs, and the old -> new map."""
        equiv = clone_get_equiv(self.inputs, self.outputs, copy_inputs=True, copy_orphans=False)
        features = [f for f in self._features if hasattr(f, "clone")] if attach_feature else []
        fg = FunctionGraph(
            [equiv[i] for i in self.inputs],
            [equiv[o] for o in self.outputs],
            clone=False,
            update_mapping=self.update_mapping,
        )
        for feature in features:
            fg.attach_feature(feature.clone())
        if check_integrity:
            fg.check_integrity()
        return fg, equiv

    def clone(self, check_integrity: bool = True) -> "FunctionGraph":
        return self.clone_get_equiv(check_integrity)[0]

    def check_integrity(self) -> None:
        """Verify the bookkeeping (clients, nodes, variables) matches the graph; raise if not."""
        order, clients, missing = self._structure(self.inputs, self.outputs)
        if missing:
            raise _missing_input_error(missing[0], self.outputs)
        if set(order) != self.apply_nodes:
            raise InconsistencyError("apply_nodes does not match the graph")
        if set(clients) != self.variables:
            raise InconsistencyError("variables does not match the graph")
        for var, cl in clients.items():
            if sorted(map(_client_key, cl)) != sorted(map(_client_key, self.clients.get(var, []))):
                raise InconsistencyError(f"clients of {var} are out of date")
        for node in order:
            for i, out in enumerate(node.outputs):
                if out.owner is not node or out.index != i:
                    raise InconsistencyError(f"output {i} of {node} does not point back to it")

    def __contains__(self, item) -> bool:
        return item in self.variables or item in self.apply_nodes

    def __str__(self) -> str:
        return f"FunctionGraph({', '.join(_expr(o, 3) for o in self.outputs)})"

    def __repr__(self) -> str:
        return str(self)

    def __reduce__(self):
        roots, nodes, refs = graph_spec(self.outputs)
        return (_rebuild_fgraph, (self.inputs, roots, nodes, refs, self.update_mapping))


def _rebuild_fgraph(inputs, roots, nodes, refs, update_mapping):
    outputs = rebuild_spec(roots, nodes, refs)
    return FunctionGraph(inputs, outputs, clone=False, update_mapping=update_mapping)


def _client_key(client) -> tuple:
    node, i = client
    return (id(node), i)


def _expr(var: Variable, depth: int) -> str:
    if var.owner is None or var.name is not None:
        return str(var)
    if depth == 0:
        return "..."
    return f"{var.owner.op}({', '.join(_expr(i, depth - 1) for i in var.owner.inputs)})"


def _missing_input_error(var: Variable, outputs: Sequence[Variable]) -> MissingInputError:
    name = f"{var.name!r} " if var.name else ""
    trace = format_trace(getattr(var.tag, "trace", None))
    where = f"\nIt was created at:\n{trace}" if trace else ""
    return MissingInputError(
        f"The graph of {', '.join(map(str, outputs))} needs the variable {name}({var}, type {var.type}), "
        f"which is not among the inputs. Pass it as an input, give it a value with givens=, "
        f"or make it a shared variable.{where}"
    )
