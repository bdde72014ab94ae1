"""Pass 7, in-place: let an op overwrite an intermediate result no one reads afterwards.

Turning ``exp(a + b)`` into ``exp`` written into the memory of ``a + b`` saves an allocation
per node; for ``inc_subtensor``/``set_subtensor`` it saves a full copy of ``x``. The pass
rewrites

* an :class:`~symgraph.tensor.elemwise.Elemwise` node into :class:`InplaceElemwise` with
  ``inplace_pattern = {0: i}`` for the first input ``i`` whose type equals the output type;
* an :class:`~symgraph.tensor.subtensor.IncSubtensor` (or ``AdvancedIncSubtensor``) into
  :class:`InplaceIncSubtensor` (``InplaceAdvancedIncSubtensor``), overwriting ``x``,

when the overwritten input is *safe to destroy*:

* it owns fresh memory: it is computed in the graph (not a function input, shared value or
  constant) by an op that does not declare it a view (a view may be read-only or overlap
  itself, e.g. ``broadcast_to``); the result of another in-place op counts, since that op's
  input passed the same test;
* nothing else will read it: every other reader of it or of a view of it runs earlier in the
  graph's topological order (the destroy handler then turns that into an ordering
  constraint), it is not a function output, and no other input of the node looks into it;
* no other op already overwrites it.

Decisions are made greedily in one walk over a fixed topological order, so every constraint
points forward in that order and the result is acyclic; the graph is then rebuilt once. The
:class:`~symgraph.rewriting.destroyhandler.DestroyHandler` validates the result when the
function is compiled. Function inputs are never overwritten by this pass, even with
``In(mutable=True)`` (the pass does not see the input specs): conservative, not wrong.

The in-place ops are subclasses living here (rather than flags on the library's ops) so the
library classes stay simple; both fall back to computing a fresh result if, at run time, the
memory they were told to overwrite turns out to be read-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.graph.basic import Apply, Variable, io_toposort
from symgraph.tensor.elemwise import Elemwise, _check_runtime_shapes, _raw_function_gives
from symgraph.tensor.subtensor import AdvancedIncSubtensor, IncSubtensor

__all__ = [
    "INPLACE",
    "inplace_pass",
    "InplaceElemwise",
    "InplaceIncSubtensor",
    "InplaceAdvancedIncSubtensor",
    "inplace_version",
]


# --------------------------------------------------------------------------- in-place ops


class InplaceElemwise(Elemwise):
    """An :class:`Elemwise` writing its output into input ``inplace_pattern[0][1]``.

    NumPy ufuncs are called with ``out=`` that input (exact overlap of an output with an
    input is well defined for ufuncs); other scalar functions compute the result and copy it
    over. Either way the whole result is computed from the inputs before they can be seen
    modified, so the op tolerates aliased inputs (``x * x`` into ``x``).
    """

    destroyhandler_tolerate_aliased = True

    def __init__(self, scalar_op: Any, inplace_pattern: Any):
        super().__init__(scalar_op, inplace_pattern)
        if not self.inplace_pattern:
            raise ValueError("InplaceElemwise needs a non-empty inplace_pattern")

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        target = inputs[self.inplace_pattern[0][1]]
        if not (isinstance(target, np.ndarray) and target.flags.writeable):
            # Not ours to write after all (e.g. a read-only array an op handed over): stay correct.
            Elemwise(self.scalar_op).perform(node, inputs, output_storage)
            return
        super().perform(node, inputs, output_storage)

    def make_py_thunk(self, node, storage_map, compute_map, no_recycling, debug=False):
        """A direct ``ufunc(*inputs, out=target)`` call when the table function is a ufunc
        giving the output dtype without input casts; :meth:`perform` otherwise."""
        fn = getattr(getattr(self.scalar_op, "spec", None), "impl", None)
        out_dtype = node.outputs[0].type.numpy_dtype
        in_dtypes = tuple(i.type.dtype for i in node.inputs)
        try:
            direct = (
                not debug
                and isinstance(fn, np.ufunc)
                and fn.nout == 1
                and fn.nin == len(node.inputs)
                and all(c is None or c == d for c, d in zip(self.scalar_op.input_casts(*in_dtypes), in_dtypes))
                and _raw_function_gives(self.scalar_op, in_dtypes, out_dtype)
            )
        except (AttributeError, TypeError):  # scalar ops outside the table (composites)
            direct = False
        if not direct:
            # Elemwise.make_py_thunk sends in-place ops to the generic perform() path.
            return super().make_py_thunk(node, storage_map, compute_map, no_recycling, debug)
        in_cells = [storage_map[v] for v in node.inputs]
        out_cell = storage_map[node.outputs[0]]
        flag = compute_map[node.outputs[0]] if compute_map is not None else [False]
        target_index = self.inplace_pattern[0][1]
        ndarray, asarray, op = np.ndarray, np.asarray, self

        def thunk():
            values = [c[0] for c in in_cells]
            target = values[target_index]
            shape = target.shape
            if any(v.shape != shape for v in values):
                _check_runtime_shapes(op, node, values)
            if type(target) is ndarray and target.flags.writeable:
                fn(*values, out=target)
                out_cell[0] = target
            else:
                r = fn(*values)
                out_cell[0] = r if type(r) is ndarray else asarray(r)
            flag[0] = True

        thunk.inputs, thunk.outputs = in_cells, [out_cell]
        thunk.lazy, thunk.node, thunk.perform = False, node, self.perform
        return thunk


class _CopyIsView(np.ndarray):
    """An ndarray whose ``copy()`` returns a plain view of the same memory.

    The in-place increment ops hand ``x`` to their parent's ``perform`` wrapped in this: the
    parent computes on ``x.copy()``, which then *is* ``x``'s memory. If the parent's
    implementation stops calling ``copy()`` the result is merely not in place, never wrong.
    """

    def copy(self, order: str = "C") -> np.ndarray:  # noqa: ARG002 - ndarray's signature
        return self.view(np.ndarray)


def _inplace_perform(op: Any, parent: type, inputs: list, node: Apply, output_storage: list[list]) -> None:
    x = inputs[0]
    if isinstance(x, np.ndarray) and x.flags.writeable:
        inputs = [x.view(_CopyIsView), *inputs[1:]]
    parent.perform(op, node, inputs, output_storage)
    out = output_storage[0][0]
    if type(out) is not np.ndarray and isinstance(out, np.ndarray):
        output_storage[0][0] = out.view(np.ndarray)


class InplaceIncSubtensor(IncSubtensor):
    """:class:`IncSubtensor` writing into ``x`` (input 0) instead of a copy of it."""

    destroy_map = {0: [0]}

    def __str__(self) -> str:
        return f"{super().__str__()}{{inplace}}"

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        _inplace_perform(self, IncSubtensor, inputs, node, output_storage)


class InplaceAdvancedIncSubtensor(AdvancedIncSubtensor):
    """:class:`AdvancedIncSubtensor` writing into ``x`` (input 0) instead of a copy of it."""

    destroy_map = {0: [0]}

    def __str__(self) -> str:
        return f"{super().__str__()}{{inplace}}"

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        _inplace_perform(self, AdvancedIncSubtensor, inputs, node, output_storage)


_INC_VARIANTS = {IncSubtensor: InplaceIncSubtensor, AdvancedIncSubtensor: InplaceAdvancedIncSubtensor}


def _with_class(op: Any, cls: type) -> Any:
    # Copying the attributes (not calling the constructor) keeps every prop, whatever the
    # constructor's signature becomes.
    new = object.__new__(cls)
    new.__dict__.update(op.__dict__)
    return new


def inplace_version(op: Any, input_index: int) -> Any | None:
    """The in-place variant of ``op`` overwriting input ``input_index``, or ``None``."""
    if type(op) is Elemwise and not op.inplace_pattern:
        return InplaceElemwise(op.scalar_op, {0: input_index})
    cls = _INC_VARIANTS.get(type(op))
    if cls is not None and input_index == 0:
        return _with_class(op, cls)
    return None


def _candidate_inputs(node: Apply) -> list[int]:
    op = node.op
    if type(op) is Elemwise and not op.inplace_pattern:
        out_type = node.outputs[0].type
        return [i for i, v in enumerate(node.inputs) if v.type == out_type]
    if type(op) in _INC_VARIANTS:
        return [0]
    return []


# --------------------------------------------------------------------------- the pass


def _view_outputs(node: Apply, input_index: int) -> list[Variable]:
    view_map = getattr(node.op, "view_map", None) or {}
    destroy_map = getattr(node.op, "destroy_map", None) or {}
    return [node.outputs[k] for k, ins in view_map.items() if input_index in ins and k not in destroy_map]


def _plan(fgraph: Any) -> dict[Apply, Any]:
    """``{node: in-place op}`` for the nodes of ``fgraph`` that may overwrite an input."""
    if not any(_candidate_inputs(n) for n in fgraph.apply_nodes):
        return {}
    order = fgraph.toposort()
    if any(getattr(n.op, "destroy_map", None) for n in order):
        # Some ops already overwrite memory: decide along an order honouring their
        # constraints, and stay out of a graph the compiler will reject anyway.
        from symgraph.rewriting.destroyhandler import DestroyHandler
        from symgraph.graph.utils import InconsistencyError

        try:
            # Only the orderings matter here; whether the inputs these ops overwrite may be
            # overwritten is the compiler's check (it knows which inputs are mutable).
            handler = DestroyHandler(mutable=range(len(fgraph.inputs)))
            order = io_toposort(fgraph.inputs, fgraph.outputs, handler.validate(fgraph))
        except (InconsistencyError, ValueError):
            return {}
    position = {n: k for k, n in enumerate(order)}
    clients = fgraph.clients
    inputs = set(fgraph.inputs)
    fresh: dict[Variable, bool] = {}
    destroyed: set[Variable] = set()
    for node in order:
        for idx, ins in (getattr(node.op, "destroy_map", None) or {}).items():
            destroyed.update(node.inputs[i] for i in ins)
    decisions: dict[Apply, Any] = {}

    def owns_fresh_memory(var: Variable) -> bool:
        """Computed here, writeable, not a view (following in-place chains to their start)."""
        chain = []
        ok = False
        while True:
            if var in fresh:
                ok = fresh[var]
                break
            chain.append(var)
            node = var.owner
            if node is None or var in inputs:
                break
            if node in decisions:
                ok = True  # its overwritten input passed this test
                break
            destroy_map = getattr(node.op, "destroy_map", None) or {}
            if var.index in destroy_map:
                var = node.inputs[destroy_map[var.index][0]]
                continue
            ok = var.index not in (getattr(node.op, "view_map", None) or {})
            break
        for v in chain:
            fresh[v] = ok
        return ok

    def only_earlier_readers(node: Apply, var: Variable, i: int) -> bool:
        """Every reader of ``var`` or a view of it, other than ``node`` through input ``i``,
        runs before ``node``; nothing returns it. ``node`` may read ``var`` through other
        inputs only if it is elementwise (it computes its whole result before writing)."""
        tolerant = isinstance(node.op, Elemwise)
        here = position[node]
        stack, seen = [var], {var}
        while stack:
            v = stack.pop()
            for client, j in clients.get(v, ()):
                if client == "output":
                    return False
                if client is node:
                    if j != i and (v is not var or not tolerant):
                        return False  # node reads what it would overwrite through another input
                    continue
                if position.get(client, here + 1) >= here:
                    return False
                for o in _view_outputs(client, j):
                    if o not in seen:
                        seen.add(o)
                        stack.append(o)
        return True

    for node in order:
        for i in _candidate_inputs(node):
            var = node.inputs[i]
            if var in destroyed or not owns_fresh_memory(var) or not only_earlier_readers(node, var, i):
                continue
            new_op = inplace_version(node.op, i)
            if new_op is None:
                continue
            decisions[node] = new_op
            destroyed.add(var)
            break
    return decisions


def inplace_pass(fgraph: Any) -> int:
    """Make the safe nodes of ``fgraph`` in-place (see the module docstring); returns how many."""
    decisions = _plan(fgraph)
    if not decisions:
        return 0
    memo: dict[Variable, Variable] = {}
    for node in fgraph.toposort():
        new_inputs = [memo.get(v, v) for v in node.inputs]
        new_op = decisions.get(node)
        if new_op is None and all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        if new_op is None:
            new_node = node.clone_with_new_inputs(new_inputs)
        else:
            new_node = Apply(new_op, new_inputs, [o.clone() for o in node.outputs])
        for old, new in zip(node.outputs, new_node.outputs):
            trace = getattr(old.tag, "trace", None)
            if trace and not getattr(new.tag, "trace", None):
                new.tag.trace = trace
            memo[old] = new
    pairs = [(o, memo[o]) for o in fgraph.outputs if o in memo]
    if pairs:
        fgraph.replace_all(pairs, reason="inplace")
    return len(decisions)


INPLACE = inplace_pass
