"""The rewrite engine: rules keyed by Op class, run by one fixed-point driver.

A :class:`Rule` looks at one node and returns replacement outputs (or ``None`` to leave
it). A :class:`RulePass` is a named list of rules; running it over a
:class:`~symgraph.graph.fg.FunctionGraph` is one call to :func:`apply_rules`.

Graph nodes are immutable and interned, so the driver does not mutate the graph node by
node (each such ``replace`` would rebuild everything downstream: quadratic on large
graphs). Instead one *sweep* walks the graph in topological order and rebuilds it as it
goes: each node is first rebuilt on its inputs' rewritten versions, then the rules are
tried on it until none applies. Sweeps repeat until one changes nothing, and the new
outputs are swapped into the FunctionGraph once at the end. A sweep costs O(nodes), and
interning makes identical rebuilt subexpressions merge for free.

A rule that raises is a bug: the error surfaces with the rule's name and the node, unless
``config.on_rewrite_error == 'warn'``. ``config.print_rewrites`` logs every applied
rewrite. Replacement variables inherit the creation trace of what they replace, so runtime
errors still point at user code.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable, ancestors, io_toposort
from symgraph.graph.fg import FunctionGraph

__all__ = [
    "Rule",
    "RulePass",
    "RewriteContext",
    "RewriteError",
    "node_rewriter",
    "apply_rules",
    "rewrite_graph",
]


class RewriteError(RuntimeError):
    """A rewrite rule raised: the message names the rule and the node it was applied to."""


@dataclass(frozen=True)
class Rule:
    """One local rewrite.

    ``fn(ctx, node)`` returns ``None`` (no change), a replacement for each of the node's
    outputs (a list; ``None`` entries keep that output), or a dict ``{old output: new}``.
    ``ops`` lists the Op classes (or instances) the rule applies to; ``None`` means every
    node. ``name`` identifies the rule in logs and errors.
    """

    name: str
    fn: Callable[["RewriteContext", Apply], Any]
    ops: tuple | None = None

    def applies_to(self, op: Any) -> bool:
        if self.ops is None:
            return True
        return any(op == key if not isinstance(key, type) else isinstance(op, key) for key in self.ops)


def node_rewriter(ops: Iterable[Any] | None, name: str | None = None) -> Callable[[Callable], Rule]:
    """Decorator turning ``fn(ctx, node)`` into a :class:`Rule` for nodes of ``ops``."""

    def make(fn: Callable) -> Rule:
        return Rule(name or fn.__name__, fn, None if ops is None else tuple(ops))

    return make


@dataclass
class RewriteContext:
    """What a rule may ask about the graph being rewritten.

    ``clients`` are those of the graph as it was when the sweep started (a rule may use
    them to decide, e.g., whether an intermediate has other readers); ``fgraph`` is that
    graph; ``pass_name`` the running pass.
    """

    fgraph: FunctionGraph
    pass_name: str
    clients: dict = field(default_factory=dict)

    def n_clients(self, var: Variable) -> int:
        """How many readers ``var`` had at the start of the sweep (outputs count as readers)."""
        return len(self.clients.get(var, ()))


@dataclass
class RulePass:
    """A named list of rules applied to a fixed point (see :func:`apply_rules`)."""

    name: str
    rules: list[Rule]
    max_sweeps: int = 20

    def __call__(self, fgraph: FunctionGraph) -> int:
        return apply_rules(fgraph, self.rules, self.name, self.max_sweeps)




def _index_rules(rules: Sequence[Rule]):
    """A function giving the rules that apply to an op, in the pass's order, computed once
    per distinct op (ops hash by their props, so equal ops share the entry)."""
    cache: dict[Any, list[Rule]] = {}

    def for_op(op: Any) -> list[Rule]:
        try:
            found = cache.get(op)
        except TypeError:  # an unhashable op: no caching
            return [r for r in rules if r.applies_to(op)]
        if found is None:
            found = cache[op] = [r for r in rules if r.applies_to(op)]
        return found

    return for_op


def _normalise(node: Apply, result: Any, rule: Rule) -> list[Variable] | None:
    if result is None or result is False:
        return None
    if isinstance(result, dict):
        result = [result.get(o) for o in node.outputs]
    if isinstance(result, Variable):
        result = [result]
    result = list(result)
    if len(result) != len(node.outputs):
        raise RewriteError(
            f"rule {rule.name!r} returned {len(result)} replacements for the {len(node.outputs)} outputs of {node}"
        )
    new = []
    for old, rep in zip(node.outputs, result):
        if rep is None or rep is old:
            new.append(old)
            continue
        if not isinstance(rep, Variable):
            raise RewriteError(f"rule {rule.name!r} returned a non-variable {rep!r} for {old}")
        if rep.type != old.type:
            try:
                rep = old.type.filter_variable(rep, allow_convert=True)
            except TypeError as exc:
                raise RewriteError(
                    f"rule {rule.name!r} replaced {old} of type {old.type} by {rep} of incompatible type {rep.type}"
                ) from exc
        new.append(rep)
    if all(a is b for a, b in zip(new, node.outputs)):
        return None
    return new


def _inherit_traces(old: Variable, new: Variable, known: set) -> None:
    """Give ``new`` and the nodes a rewrite created for it ``old``'s creation trace."""
    trace = getattr(old.tag, "trace", None)
    if not trace:
        return
    for v in ancestors([new], blockers=known):
        if v in known or v.owner is None:
            continue
        v.tag.trace = trace
        known.add(v)


def _run_rule(rule: Rule, ctx: RewriteContext, node: Apply) -> list[Variable] | None:
    try:
        return _normalise(node, rule.fn(ctx, node), rule)
    except RewriteError:
        raise
    except Exception as exc:
        message = f"rewrite rule {rule.name!r} (pass {ctx.pass_name!r}) failed on node {node}: {type(exc).__name__}: {exc}"
        if config.on_rewrite_error == "warn":
            warnings.warn(message + " (skipped: config.on_rewrite_error='warn')", stacklevel=2)
            return None
        raise RewriteError(message) from exc


def rewrite_graph(
    outputs: Sequence[Variable],
    rules: Sequence[Rule] | Callable[[Any], list[Rule]],
    ctx: RewriteContext,
    max_local: int = 20,
) -> tuple[list[Variable], int]:
    """One sweep: rebuild the graph above ``outputs`` applying ``rules`` (a list, or an index
    from :func:`_index_rules`); returns the new outputs and the number of rewrites applied."""
    rules_for = rules if callable(rules) else _index_rules(rules)
    memo: dict[Variable, Variable] = {}
    known = set(ctx.clients)  # variables of the graph before this sweep
    applied = 0
    inputs = set(ctx.fgraph.inputs) if ctx.fgraph is not None else set()
    for node in io_toposort(list(inputs), list(outputs)):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            current = node.clone_with_new_inputs(new_inputs, strict=False)
            for old, new in zip(node.outputs, current.outputs):
                memo[old] = new
        else:
            current = node
        outs = list(current.outputs)
        for _ in range(max_local):
            replaced = None
            for rule in rules_for(current.op):
                replaced = _run_rule(rule, ctx, current)
                if replaced is not None:
                    break
            if replaced is None:
                break
            applied += 1
            if config.print_rewrites:
                print(
                    f"rewrite {rule.name} [{ctx.pass_name}]: {current} -> {', '.join(map(str, replaced))}",
                    file=sys.stdout,
                )
            for old, new in zip(node.outputs, replaced):
                _inherit_traces(old, new, known)
            outs = replaced
            owners = {o.owner for o in outs}
            # Keep rewriting while the whole result is one new node; anything else is
            # revisited by the next sweep.
            if len(owners) != 1 or None in owners or owners == {current}:
                break
            nxt = owners.pop()
            if list(nxt.outputs) != outs:
                break
            current = nxt
        for old, new in zip(node.outputs, outs):
            if new is not old:
                memo[old] = new
    return [memo.get(o, o) for o in outputs], applied


def apply_rules(fgraph: FunctionGraph, rules: Sequence[Rule], pass_name: str = "rules", max_sweeps: int = 20) -> int:
    """Apply ``rules`` to ``fgraph`` until a sweep changes nothing; returns the rewrite count."""
    total = 0
    rules_for = _index_rules(rules)  # shared by every sweep of this pass
    for _ in range(max_sweeps):
        ctx = RewriteContext(fgraph, pass_name, fgraph.clients)
        new_outputs, applied = rewrite_graph(fgraph.outputs, rules_for, ctx)
        if not applied:
            break
        total += applied
        pairs = [(old, new) for old, new in zip(fgraph.outputs, new_outputs) if old is not new]
        if pairs:
            fgraph.replace_all(pairs, reason=pass_name)
    return total
