"""The destroy handler: checks that ops overwriting memory (``destroy_map``) are safe.

An op declares ``destroy_map = {output: [input, ...]}`` when it writes its output into the
memory of an input, and ``view_map`` when an output merely looks into an input's memory.
Both are promises the compiler must honour: once a value has been overwritten nobody may
read it any more. :class:`DestroyHandler` validates a finished graph in one pass over a
fixed topological order and produces the ordering constraints the linker must follow.

Two notions of "the same memory" are used, as in PyTensor:

*value roots* follow ``view_map`` only. The output of a destroyer is a *new value* living
in old memory, so a chain ``y = f_inplace(x); z = g_inplace(y)`` destroys two different
values (``x``, then ``y``) and is legal, whereas two ops both overwriting ``x`` (or views of
``x``) is not: whichever runs second would read garbage.

*memory roots* follow ``view_map`` and ``destroy_map``: they say whose buffer is really
written, and therefore whether the write touches a constant, an input of the function
(allowed only for ``In(x, mutable=True)``) or a shared value (allowed only while computing
that shared variable's own update, as PyTensor does).

The rules checked for every destroyer ``D`` overwriting input value ``v`` (value root ``r``):

1. no other node destroys ``r`` (or a view of it);
2. the memory of ``v`` is not a constant, a protected input or a shared value outside its update;
3. every other reader of ``r`` or of any view of ``r`` runs before ``D`` (an ordering
   constraint ``reader -> D``); a reader that needs ``D``'s result cannot, and neither can
   a function output that is ``r`` or a view of it (it would outlive the overwrite);
4. ``D`` itself reads no other view of ``r`` through another input, unless its op says it
   tolerates that (``destroyhandler_tolerate_aliased = True``; elementwise ops do, since
   they compute their result before writing it).

Errors are :class:`~symgraph.graph.utils.InconsistencyError` naming the ops, the nodes and
the user source lines that created them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from symgraph.graph.basic import Apply, Constant, Variable, ancestors, io_toposort
from symgraph.graph.aliasing import memory_roots as _memory_roots
from symgraph.graph.aliasing import value_roots
from symgraph.graph.aliasing import view_sources as _view_sources
from symgraph.graph.utils import InconsistencyError, format_trace

__all__ = ["DestroyHandler", "value_roots", "check_destroy_map"]


def check_destroy_map(node: Apply) -> None:
    """Reject malformed ``destroy_map``/``view_map`` declarations on ``node``."""
    for attr in ("destroy_map", "view_map"):
        mapping = getattr(node.op, attr, None) or {}
        for out, ins in mapping.items():
            if not (isinstance(out, int) and 0 <= out < len(node.outputs)):
                raise InconsistencyError(f"{node.op} declares {attr} for output {out!r}, but node {node} has {len(node.outputs)} outputs")
            for i in ins:
                if not (isinstance(i, int) and 0 <= i < len(node.inputs)):
                    raise InconsistencyError(f"{node.op} declares {attr} {{{out}: {list(ins)}}}, but node {node} has {len(node.inputs)} inputs")


def _where(node: Apply) -> str:
    """Where user code created ``node`` (its outputs' creation trace), as indented lines."""
    for out in node.outputs:
        text = format_trace(getattr(out.tag, "trace", None), indent="    ")
        if text:
            return f"\n  {node.op} was created at:\n{text}"
    return f"\n  (no creation trace for {node.op}: it was built by a rewrite or config.traceback__limit is 0)"


def _tolerates_aliasing(op: Any) -> bool:
    if getattr(op, "destroyhandler_tolerate_aliased", False):
        return True
    try:  # elementwise ops compute the whole result before writing it
        from symgraph.tensor.elemwise import Elemwise
    except ImportError:  # pragma: no cover - graph layer used without the tensor library
        return False
    return isinstance(op, Elemwise)


# --------------------------------------------------------------------------- the handler


class DestroyHandler:
    """Validate the destroyers of a :class:`~symgraph.graph.fg.FunctionGraph`.

    Parameters
    ----------
    mutable
        Indices of graph inputs that may be overwritten (``In(x, mutable=True)``).
    shared
        Indices of graph inputs that are shared variables: they may be overwritten only by a
        destroyer whose result feeds that variable's own update (``fgraph.update_mapping``).
    names
        ``{input index: description}`` used in messages (default: the variable's str).

    Attach it with ``fgraph.attach_feature(handler)``: ``fgraph.toposort()`` then honours
    the "readers before the destroyer" constraints (see :meth:`orderings`). :meth:`validate`
    raises :class:`InconsistencyError` for an unsafe graph.
    """

    def __init__(self, mutable: Iterable[int] = (), shared: Iterable[int] = (), names: dict[int, str] | None = None):
        self.mutable = frozenset(mutable)
        self.shared = frozenset(shared)
        self.names = dict(names or {})
        self._cache_key: tuple | None = None
        self._cache: dict[Apply, list[Apply]] = {}

    @classmethod
    def for_specs(cls, specs: list) -> "DestroyHandler":
        """A handler for a compiled function's input specs (``In`` objects, graph-input order)."""
        mutable, shared, names = [], [], {}
        for i, spec in enumerate(specs):
            if getattr(spec, "shared", False) or getattr(spec, "implicit", False):
                shared.append(i)
                names[i] = f"the shared variable {spec.variable.name or spec.variable}"
            else:
                if spec.mutable:
                    mutable.append(i)
                names[i] = f"function input {i} ({spec.name or spec.variable})"
        return cls(mutable, shared, names)

    # ------------------------------------------------------------------ feature protocol

    def clone(self) -> "DestroyHandler":
        return DestroyHandler(self.mutable, self.shared, self.names)

    def on_attach(self, fgraph: Any) -> None:
        self._cache_key = None
        self.orderings(fgraph)  # validates now; FunctionGraph then re-sorts with the cache

    def on_change_input(self, fgraph: Any, node: Any, i: int, old: Variable, new: Variable, reason: Any = None) -> None:
        # FunctionGraph asks for orderings while rebuilding, before its outputs are updated,
        # so the order it just computed may follow the old graph's constraints: re-validate
        # the new graph (raising if the change made it unsafe) and sort it again.
        if node == "output" and self._cache_key is not None:
            self._cache_key = None
            fgraph._refresh()

    def orderings(self, fgraph: Any) -> dict[Apply, list[Apply]]:
        """``{destroyer: [nodes that must run before it]}`` for the graph as it is now."""
        key = (id(fgraph), tuple(map(id, fgraph.inputs)), tuple(map(id, fgraph.outputs)))
        if key != self._cache_key:
            self._cache = self.validate(fgraph)
            self._cache_key = key
        return self._cache

    # ------------------------------------------------------------------ validation

    def _describe_root(self, fgraph: Any, root: Variable) -> str:
        if isinstance(root, Constant):
            return f"the constant {root}"
        try:
            pos = fgraph.inputs.index(root)
        except ValueError:
            return str(root)
        return self.names.get(pos, f"graph input {pos} ({root})")

    def validate(self, fgraph: Any) -> dict[Apply, list[Apply]]:
        """Check every destroyer of ``fgraph``; return the ordering constraints.

        Raises :class:`InconsistencyError` with a message naming the destroying op, what it
        overwrites and why that is unsafe.
        """
        inputs, outputs = list(fgraph.inputs), list(fgraph.outputs)
        order = io_toposort(inputs, outputs)
        destroyers = [n for n in order if getattr(n.op, "destroy_map", None)]
        for node in destroyers:
            check_destroy_map(node)
        if not destroyers:
            return {}
        clients: dict[Variable, list] = {}
        for node in order:
            for i, inp in enumerate(node.inputs):
                clients.setdefault(inp, []).append((node, i))
        for k, out in enumerate(outputs):
            clients.setdefault(out, []).append(("output", k))
        vroots = value_roots(order, inputs)
        mroots = _memory_roots(order, inputs)
        input_pos = {v: i for i, v in enumerate(inputs)}
        update_of = {inputs[inp]: out for out, inp in getattr(fgraph, "update_mapping", {}).items()}

        destroyed_by: dict[Variable, tuple[Apply, Variable]] = {}
        before: dict[Apply, dict[Apply, Variable]] = {}  # destroyer -> {reader: what it reads}
        for node in destroyers:
            for out_idx, in_idxs in sorted(node.op.destroy_map.items()):
                for i in in_idxs:
                    var = node.inputs[i]
                    self._check_memory(fgraph, node, out_idx, i, var, mroots[var], input_pos, update_of, outputs)
                    for root in vroots[var]:
                        self._check_value(node, i, var, root, destroyed_by, clients, vroots, before, outputs)
        constraints = {d: list(readers) for d, readers in before.items()}
        self._check_acyclic(order, constraints, before)
        return constraints

    def _check_memory(self, fgraph, node, out_idx, i, var, roots, input_pos, update_of, outputs) -> None:
        """Rule 2: the overwritten memory must be the function's to overwrite."""
        for root in roots:
            what = f"{node.op} (node {node}) overwrites its input {i} ({var})"
            if isinstance(root, Constant):
                raise InconsistencyError(
                    f"{what}, which is (a view of) the constant {root}; constants are shared by every "
                    f"call and cannot be modified.{_where(node)}"
                )
            pos = input_pos.get(root)
            if pos is None:
                continue
            desc = self._describe_root(fgraph, root)
            if pos in self.shared:
                update = outputs[update_of[root]] if root in update_of else None
                if update is not None and node.outputs[out_idx] in set(ancestors([update])):
                    continue  # overwriting s while computing s's own update: PyTensor allows it
                reason = "it has no update" if update is None else "the overwritten result does not feed its update"
                raise InconsistencyError(
                    f"{what}, which is (a view of) {desc}; a shared value may only be overwritten in "
                    f"place as part of computing its own update, and {reason}. Other functions and "
                    f"get_value() would see the modified value.{_where(node)}"
                )
            if pos not in self.mutable:
                raise InconsistencyError(
                    f"{what}, which is (a view of) {desc}; the caller's arrays are never modified "
                    f"unless the input is declared In(variable, mutable=True).{_where(node)}"
                )

    def _check_value(self, node, i, var, root, destroyed_by, clients, vroots, before, outputs) -> None:
        """Rules 1, 3 and 4 for ``node`` overwriting ``var`` (value root ``root``)."""
        previous = destroyed_by.get(root)
        if previous is not None and previous[0] is not node:
            other, other_var = previous
            raise InconsistencyError(
                f"two ops overwrite the same buffer ({root}): {other.op} (node {other}) overwrites "
                f"{other_var} and {node.op} (node {node}) overwrites {var}; whichever runs second would "
                f"read a destroyed value.{_where(other)}{_where(node)}"
            )
        destroyed_by[root] = (node, var)
        own_outputs = set(node.outputs)
        readers = before.setdefault(node, {})
        # Every view of the destroyed value (found through view_map clients).
        impact, queue = {root}, deque([root])
        while queue:
            v = queue.popleft()
            for client, j in clients.get(v, ()):
                if client == "output":
                    continue
                for k, o in enumerate(client.outputs):
                    if j in _view_sources(client, k) and o not in impact and o not in own_outputs:
                        impact.add(o)
                        queue.append(o)
        for v in impact:
            for client, j in clients.get(v, ()):
                if client == "output":
                    view = "" if v is var else f" ({v} is a view of it)"
                    raise InconsistencyError(
                        f"{node.op} (node {node}) overwrites {var}, whose value{view} is also output {j} "
                        f"of the function: the returned value would be read after it was destroyed.{_where(node)}"
                    )
                if client is node:
                    if v is not var and not _tolerates_aliasing(node.op):
                        raise InconsistencyError(
                            f"{node.op} (node {node}) overwrites its input {i} ({var}) and also reads "
                            f"{v}, which shares that memory, through its input {j}; the op does not "
                            f"declare that it tolerates aliased inputs (destroyhandler_tolerate_aliased)."
                            f"{_where(node)}"
                        )
                    continue
                readers.setdefault(client, v)

    def _check_acyclic(self, order: list[Apply], constraints: dict, before: dict) -> None:
        """Rule 3's second half: every reader can run before its destroyer (no cycle)."""
        position = {n: k for k, n in enumerate(order)}
        succ: dict[Apply, list[Apply]] = {n: [] for n in order}
        indeg = dict.fromkeys(order, 0)
        for n in order:
            for parent in {i.owner for i in n.inputs if i.owner is not None and i.owner in position}:
                succ[parent].append(n)
                indeg[n] += 1
        for d, readers in constraints.items():
            for r in readers:
                if r in position:
                    succ[r].append(d)
                    indeg[d] += 1
        ready = [n for n in order if indeg[n] == 0]
        done = 0
        while ready:
            n = ready.pop()
            done += 1
            for s in succ[n]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        if done == len(order):
            return
        # A cycle: find a reader that (through data or other constraints) needs its destroyer.
        for d, readers in before.items():
            for r, v in readers.items():
                if self._reaches(d, r, succ):
                    raise InconsistencyError(
                        f"{d.op} (node {d}) overwrites the memory of {v}, which {r.op} (node {r}) also "
                        f"reads; that read cannot run before the overwrite because it depends on the "
                        f"overwrite's result (directly or through other in-place constraints), so it "
                        f"would see a destroyed value.{_where(d)}{_where(r)}"
                    )
        raise InconsistencyError("the in-place ordering constraints of this graph are cyclic")

    @staticmethod
    def _reaches(src: Apply, dst: Apply, succ: dict) -> bool:
        seen, stack = {src}, [src]
        while stack:
            n = stack.pop()
            for s in succ.get(n, ()):
                if s is dst:
                    return True
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
        return False
