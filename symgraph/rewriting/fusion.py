"""Pass 6, fusion: connected elementwise subgraphs become one ``Elemwise(Composite)`` node.

The pass is a whole-graph function (it needs every variable's clients), not a rule list:

1. Walk the nodes from the outputs back (reverse topological order). Each fusable
   :class:`~symgraph.tensor.elemwise.Elemwise` node not yet taken becomes the *root* of a
   group, which then absorbs, depth first, every producer of its inputs that is itself a
   fusable Elemwise whose output is read by nothing but the consuming node (so the
   intermediate disappears: composites have a single output). A producer read elsewhere
   too, or a graph output, stays outside and becomes an input of the composite.
2. A :class:`~symgraph.tensor.elemwise.DimShuffle` that only inserts broadcastable
   dimensions (no transposition, no dropped dimension) is absorbed too when it sits
   between two group members: an elementwise op commutes with such a dimshuffle, so it is
   moved to the group's inputs (``exp(x).dimshuffle(0, 'x') * y`` becomes
   ``Composite{exp(i0) * i1}(x.dimshuffle(0, 'x'), y)``), where it is a free view.
3. Constants with a single element (what weak Python scalars become) are embedded in the
   composite instead of being inputs.
4. Each group of at least two Elemwise nodes is replaced, in one forward rebuild of the
   graph, by ``Elemwise(Composite(...))`` applied to its inputs; the new node must have
   exactly the type of the root's output (otherwise the group is left alone).

Elemwise ops already working in place and existing composites are left alone. Groups
are capped at :data:`MAX_NODES` elementary ops.

Reductions at the ends of groups (:func:`fuse_reductions`, run after the groups are
built): a ``sum``/``prod``/``max``/``min`` :class:`~symgraph.tensor.reduction.Reduce`
whose input is the output of an Elemwise (a table op or a composite) read by nothing
else becomes one :class:`~symgraph.tensor.fused_reduce.FusedReduce` node on the
Elemwise's inputs (``sum(exp(x) * y, axis=1)`` becomes
``FusedReduce{sum, axes=(1,), Composite{exp(i0) * i1}}(x, y)``), so a backend can
accumulate without materialising the intermediate. ``keepdims`` is a DimShuffle after
the Reduce and stays outside. ``logsumexp``, ``all`` and ``any`` are not fused.
"""

from __future__ import annotations

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.fg import FunctionGraph
from symgraph.tensor.composite import Composite, constant_ref
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.fused_reduce import FUSABLE_KINDS, FusedReduce
from symgraph.tensor.reduction import Reduce
from symgraph.tensor.scalar_ops import SUPPORTED_DTYPES, ScalarOp

__all__ = ["FUSION", "fuse", "fuse_elemwise", "fuse_reductions", "MAX_NODES"]

#: Largest number of elementary ops in one composite (keeps the generated C small and the
#: recursive collection shallow).
MAX_NODES = 64


def _fusable(node: Apply) -> bool:
    op = node.op
    return (
        isinstance(op, Elemwise)
        and not op.inplace_pattern
        and type(op.scalar_op) is ScalarOp
        and len(node.outputs) == 1
    )


def _broadcast_only(op) -> bool:
    """A DimShuffle that keeps every input dimension in order and only inserts 'x's."""
    return isinstance(op, DimShuffle) and not op.drop and list(op.shuffle) == list(range(op.input_ndim))


def _compose(outer: tuple | None, inner: tuple) -> tuple:
    """The order of ``DimShuffle(outer)(DimShuffle(inner)(v))`` as one DimShuffle of ``v``.

    ``outer`` indexes the dimensions of the inner dimshuffle's output.
    """
    if outer is None:
        return inner
    return tuple("x" if e == "x" else inner[e] for e in outer)


def _only_reader(var: Variable, clients: dict, node: Apply) -> bool:
    """Whether every reader of ``var`` is ``node`` (which may read it several times)."""
    found = clients.get(var)
    return bool(found) and all(c[0] is node for c in found)


def _embeddable(var: Variable) -> bool:
    return (
        isinstance(var, Constant)
        and getattr(var.type, "dtype", None) in SUPPORTED_DTYPES
        and all(s == 1 for s in var.type.shape)
    )


class _Group:
    """One fusion group being collected: its inner DAG, inputs and member nodes."""

    def __init__(self, root: Apply, clients: dict, taken: set):
        self.root = root
        self.clients = clients
        self.taken = taken
        self.members: list[Apply] = []  # absorbed nodes (Elemwise and DimShuffle)
        self.n_elemwise = 0
        self.nodes: list[tuple] = []  # (row name, refs)
        self.leaves: list[tuple[Variable, tuple | None]] = []  # (variable, dimshuffle order)
        self.memo: dict[tuple, tuple] = {}  # (variable, order) -> ref

    def absorb(self, node: Apply, order: tuple | None) -> tuple:
        """Add Elemwise ``node`` (seen through the pending dimshuffle ``order``); its ref."""
        self.members.append(node)
        self.n_elemwise += 1
        refs = tuple(self.ref(inp, order, node) for inp in node.inputs)
        self.nodes.append((node.op.scalar_op.name, refs))
        return ("t", len(self.nodes) - 1)

    def ref(self, var: Variable, order: tuple | None, consumer: Apply) -> tuple:
        key = (var, order)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._new_ref(var, order, consumer)
        return found

    def _can_take(self, node: Apply | None, var: Variable, consumer: Apply) -> bool:
        return (
            node is not None
            and node not in self.taken
            and self.n_elemwise < MAX_NODES
            and _only_reader(var, self.clients, consumer)
        )

    def _new_ref(self, var: Variable, order: tuple | None, consumer: Apply) -> tuple:
        if _embeddable(var):
            return constant_ref(var.data)
        owner = var.owner
        if self._can_take(owner, var, consumer):
            if _fusable(owner):
                return self.absorb(owner, order)
            if _broadcast_only(owner.op):
                inner = owner.inputs[0]
                if self._can_take(inner.owner, inner, owner) and _fusable(inner.owner):
                    self.members.append(owner)
                    return self.ref(inner, _compose(order, owner.op.new_order), owner)
        self.leaves.append((var, order))
        return ("i", len(self.leaves) - 1)


def _leaf(var: Variable, order: tuple | None, trace=None) -> Variable:
    if order is None:
        return var
    out = DimShuffle(var.ndim, order)(var)
    if trace:
        out.tag.trace = trace
    return out


def _collect(root: Apply, clients: dict, taken: set):
    """The group rooted at ``root`` as ``(members, leaves, composite op)``, or ``None``
    when it would hold a single Elemwise or cannot be built faithfully."""
    group = _Group(root, clients, taken)
    try:
        out_ref = group.absorb(root, None)
    except RecursionError:  # pathological depth: leave the subgraph unfused
        return None
    if group.n_elemwise < 2 or not group.leaves:
        return None
    op = Elemwise(Composite.get(len(group.leaves), group.nodes, (out_ref,)))
    if not _same_type(op, group.leaves, root.outputs[0]):
        return None
    return group.members, group.leaves, op


def _same_type(op: Elemwise, leaves: list, out: Variable) -> bool:
    """Whether ``op`` applied to ``leaves`` gives exactly ``out``'s type, computed without
    building the node (static shapes broadcast as Elemwise.make_node does)."""
    try:
        dtype = op.scalar_op.check_dtypes(*(v.type.dtype for v, _ in leaves))
    except TypeError:
        return False
    if dtype != out.type.dtype:
        return False
    ndim = out.type.ndim
    shapes = []
    for v, order in leaves:
        shape = v.type.shape if order is None else tuple(1 if e == "x" else v.type.shape[e] for e in order)
        if len(shape) > ndim:
            return False
        shapes.append((1,) * (ndim - len(shape)) + tuple(shape))
    for d, want in enumerate(out.type.shape):
        sizes = {s[d] for s in shapes}
        known = sizes - {1, None}
        if len(known) > 1:
            return False
        got = 1 if sizes == {1} else (known.pop() if known else None)
        if got != want:
            return False
    return True


def fuse_elemwise(fgraph: FunctionGraph) -> int:
    """Replace every fusable elementwise group of ``fgraph``; returns the number of groups."""
    # The new nodes are built on the graph's own (cloned) inputs, which carry no test
    # values: computing them would fail under compute_test_value='raise' for no benefit.
    with config.change_flags(compute_test_value="off"):
        return _fuse(fgraph)


def _fuse(fgraph: FunctionGraph) -> int:
    clients = fgraph.clients
    order = fgraph.toposort()
    taken: set[Apply] = set()
    groups: dict[Apply, tuple] = {}
    for node in reversed(order):
        if node in taken or not _fusable(node):
            continue
        found = _collect(node, clients, taken)
        if found is None:
            continue
        members, leaves, op = found
        taken.update(members)
        groups[node] = (leaves, op)
    if not groups:
        return 0

    # One forward rebuild: members vanish, roots become composites, the rest is re-made on
    # the rewritten inputs (interning keeps unchanged nodes as they are).
    memo: dict[Variable, Variable] = {}
    for node in order:
        group = groups.get(node)
        if group is not None:
            leaves, op = group
            old = node.outputs[0]
            trace = getattr(old.tag, "trace", None)
            new_leaves = [_leaf(memo.get(v, v), o, trace) for v, o in leaves]
            new = op(*new_leaves)
            if trace:
                # Errors in the fused node point at the line that built the root.
                new.tag.trace = trace
            memo[old] = new
            continue
        if node in taken:
            continue
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            rebuilt = node.clone_with_new_inputs(new_inputs, strict=False)
            for old, new in zip(node.outputs, rebuilt.outputs):
                memo[old] = new
    pairs = [(o, memo[o]) for o in fgraph.outputs if o in memo and memo[o] is not o]
    if pairs:
        fgraph.replace_all(pairs, reason="fusion")
    return len(groups)


# --------------------------------------------------------------------------- reductions


def _reduce_source(node: Apply, clients: dict) -> Apply | None:
    """The Elemwise node whose output ``node`` (a Reduce) can absorb, or ``None``."""
    op = node.op
    if not isinstance(op, Reduce) or op.kind not in FUSABLE_KINDS or not op.axis:
        return None
    (x,) = node.inputs
    owner = x.owner
    if owner is None or not isinstance(owner.op, Elemwise) or owner.op.inplace_pattern:
        return None
    if type(owner.op.scalar_op) not in (ScalarOp, Composite) or len(owner.outputs) != 1:
        return None
    # The intermediate disappears: nobody else (another node, a graph output) may read it.
    if not _only_reader(x, clients, node):
        return None
    return owner


def fuse_reductions(fgraph: FunctionGraph) -> int:
    """Replace every ``Reduce(Elemwise(...))`` pair that can fuse by one ``FusedReduce``
    node (see the module docstring); returns the number of pairs fused."""
    with config.change_flags(compute_test_value="off"):
        return _fuse_reductions(fgraph)


def _fuse_reductions(fgraph: FunctionGraph) -> int:
    clients = fgraph.clients
    order = fgraph.toposort()
    fused: dict[Apply, tuple[Apply, FusedReduce]] = {}
    for node in order:
        if not isinstance(node.op, Reduce):
            continue
        source = _reduce_source(node, clients)
        if source is None:
            continue
        op = FusedReduce(source.op.scalar_op, node.op.kind, node.op.axis, node.op.dtype)
        # Built on the original inputs only to compare types (the node is interned and cheap).
        if op.make_node(*source.inputs).outputs[0].type == node.outputs[0].type:
            fused[node] = (source, op)
    if not fused:
        return 0
    absorbed = {source for source, _ in fused.values()}
    memo: dict[Variable, Variable] = {}
    # One forward rebuild, as in _fuse: a fused reduction may feed another one.
    for node in order:
        found = fused.get(node)
        if found is not None:
            source, op = found
            old = node.outputs[0]
            new = op(*[memo.get(i, i) for i in source.inputs])
            trace = getattr(old.tag, "trace", None)
            if trace:
                new.tag.trace = trace
            memo[old] = new
        elif node not in absorbed:
            _rebuild(node, memo)
    pairs = [(o, memo[o]) for o in fgraph.outputs if o in memo and memo[o] is not o]
    if pairs:
        fgraph.replace_all(pairs, reason="fusion")
    return len(fused)


def _rebuild(node: Apply, memo: dict) -> None:
    new_inputs = [memo.get(i, i) for i in node.inputs]
    if any(a is not b for a, b in zip(new_inputs, node.inputs)):
        rebuilt = node.clone_with_new_inputs(new_inputs, strict=False)
        for old, new in zip(node.outputs, rebuilt.outputs):
            memo[old] = new


def fuse(fgraph: FunctionGraph) -> int:
    """The fusion pass: elementwise groups (:func:`fuse_elemwise`), then reductions at
    their ends (:func:`fuse_reductions`); returns the number of fused nodes made."""
    return fuse_elemwise(fgraph) + fuse_reductions(fgraph)


FUSION = fuse
