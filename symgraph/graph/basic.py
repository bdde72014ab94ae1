"""Graph nodes: :class:`Variable`, :class:`Constant` and :class:`Apply`, and graph utilities.

Apply nodes are immutable and interned ("hash-consed"): building a node whose op
(equal by ``__props__``) and inputs (the same variables) match a node that is still
alive returns that node, so equal subexpressions are the same objects. Constants are
interned on (type, data). Consequences a user can rely on:

- ``x + y is x + y`` holds for the output variables (common subexpressions merge for free);
- a graph never changes under your feet; "replacing" a variable rebuilds what depends on
  it (see :func:`rebuild_graph`), leaving the old graph intact;
- cloning a graph without copying its inputs returns the same graph.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from symgraph.graph.utils import (
    Scratchpad,
    ValidatingScratchpad,
    add_tag_trace,
)

__all__ = [
    "Apply",
    "Variable",
    "Constant",
    "ancestors",
    "graph_inputs",
    "io_toposort",
    "toposort",
    "vars_between",
    "applys_between",
    "clone",
    "clone_get_equiv",
    "rebuild_graph",
    "is_in_ancestors",
]

# (op, ids of inputs) -> live Apply node. Weak values: a node nobody references disappears.
# Keys hold input ids, not the inputs: a key holding its inputs would keep their owner nodes
# reachable, so freeing a chain of N nodes would take N garbage collections. Ids are safe
# because a live node keeps its inputs alive, so their ids cannot be reused meanwhile.
_apply_table: "weakref.WeakValueDictionary[tuple, Apply]" = weakref.WeakValueDictionary()
# (class, type, data signature) -> live Constant.
_constant_table: "weakref.WeakValueDictionary[tuple, Constant]" = weakref.WeakValueDictionary()
_auto_names = itertools.count()

_FROZEN_VARIABLE_FIELDS = frozenset(("type", "owner", "index"))


class Variable:
    """A symbolic value: the output of an :class:`Apply` node, or a root of a graph.

    Parameters
    ----------
    type
        The :class:`~symgraph.graph.type.Type` of the values this variable can take.
    owner
        The :class:`Apply` node computing it, or ``None`` for a root (input) variable.
    index
        Position among ``owner.outputs``.
    name
        Optional readable name, used in printing and error messages.

    Equality and hashing are by identity. ``tag`` is a free-form scratchpad; setting
    ``tag.test_value`` validates the value against the type.
    """

    def __init__(self, type, owner: Apply | None = None, index: int | None = None, name: str | None = None):
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "owner", owner)
        object.__setattr__(self, "index", index)
        self.name = name
        self.tag = ValidatingScratchpad("test_value", self._filter_test_value)
        self.auto_name = f"auto_{next(_auto_names)}"

    def _filter_test_value(self, value):
        return self.type.filter(value, strict=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FROZEN_VARIABLE_FIELDS and self.__dict__.get("owner") is not None:
            raise AttributeError(
                f"cannot set {name!r} of {self}: variables owned by a node are immutable; "
                "build a new graph instead (see symgraph.graph.replace.clone_replace)"
            )
        object.__setattr__(self, name, value)

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return f"{op}.0"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self) -> str:
        return str(self)

    def clone(self, **kwargs) -> "Variable":
        """A new root variable with the same type, name and a copy of the tag (no owner)."""
        cp = type(self)(self.type, None, None, kwargs.pop("name", self.name))
        cp.tag = _copy_tag(self.tag, cp)
        for key, value in kwargs.items():
            setattr(cp, key, value)
        return cp

    def get_parents(self) -> list:
        return [self.owner] if self.owner is not None else []

    def get_test_value(self):
        """This variable's test value; raises :class:`TestValueError` when it has none."""
        from symgraph.graph.op import get_test_value

        return get_test_value(self)

    def eval(self, inputs_to_values: Mapping | None = None, **kwargs):
        """Compile (once, cached on the variable) and evaluate this variable.

        ``inputs_to_values`` maps input variables, or their names, to values.
        Extra keyword arguments are passed to :func:`symgraph.function`.
        """
        # Imported here: the compiler sits above the graph layer.
        from symgraph.compile.function import function

        inputs_to_values = dict(inputs_to_values or {})
        if any(isinstance(k, str) for k in inputs_to_values):
            by_name: dict[str, Variable] = {}
            ambiguous = set()
            for v in graph_inputs([self]):
                if v.name is not None and not isinstance(v, Constant):
                    if v.name in by_name and by_name[v.name] is not v:
                        ambiguous.add(v.name)
                    by_name[v.name] = v
            for key in inputs_to_values:
                if isinstance(key, str) and key in ambiguous:
                    raise ValueError(
                        f"eval: several inputs of {self} are named {key!r}; pass the variables themselves"
                    )
            resolved = {}
            for key, value in inputs_to_values.items():
                if isinstance(key, str):
                    if key not in by_name:
                        raise ValueError(
                            f"eval: no input named {key!r} in the graph of {self}; "
                            f"named inputs are {sorted(by_name)}"
                        )
                    key = by_name[key]
                resolved[key] = value
            inputs_to_values = resolved
        inputs = tuple(sorted(inputs_to_values, key=id))
        args = [inputs_to_values[v] for v in inputs]
        cache = self.__dict__.setdefault("_fn_cache", {})
        try:
            cache_key = (inputs, tuple(sorted(kwargs.items())))
            fn = cache.get(cache_key)
        except TypeError:  # unhashable options (e.g. givens as a dict): compile uncached
            return function(list(inputs), self, on_unused_input="ignore", **kwargs)(*args)
        if fn is None:
            fn = cache[cache_key] = function(list(inputs), self, on_unused_input="ignore", **kwargs)
        return fn(*args)

    def dprint(self, **kwargs):
        """Print this variable's graph (see :func:`symgraph.printing.debugprint`)."""
        from symgraph.printing import debugprint

        return debugprint(self, **kwargs)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_fn_cache", None)
        return state

    def __setstate__(self, state):
        tag = state.pop("tag", None)
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.tag = _copy_tag(tag, self) if tag is not None else ValidatingScratchpad(
            "test_value", self._filter_test_value
        )

    def __reduce_ex__(self, protocol):
        if self.owner is None:
            return object.__reduce_ex__(self, protocol)
        # A computed variable pickles as a flat description of the graph above it (no
        # recursion, so deep graphs pickle) and is rebuilt through node interning.
        roots, nodes, refs = graph_spec([self])
        return (_rebuild_from_spec, (roots, nodes, refs[0]))


def _copy_tag(tag: Scratchpad, owner_var: Variable) -> ValidatingScratchpad:
    new = ValidatingScratchpad("test_value", owner_var._filter_test_value)
    for key, value in tag.__dict__.items():
        if not key.startswith("_"):
            object.__setattr__(new, key, value)
    return new


def _data_signature(data) -> Any:
    """A hashable key identifying constant data, or None when it cannot be interned."""
    if isinstance(data, (np.ndarray, np.generic)):
        data = np.asarray(data)
        digest = hashlib.blake2b(np.ascontiguousarray(data).tobytes(), digest_size=16).digest()
        return ("ndarray", data.dtype.str, data.shape, digest)
    if isinstance(data, float):
        # By bits, not by value: -0.0 == 0.0 but 1/-0.0 differs from 1/0.0.
        return ("float", data.hex())
    try:
        hash(data)
    except TypeError:
        return None
    return ("object", type(data).__name__, data)


class Constant(Variable):
    """A root variable with a fixed value, ``data``, which is made read-only.

    Constants are interned: equal type, data and name give the same object, so
    graphs that use "the same" constant share it.
    """

    def __new__(cls, type, data, name: str | None = None):
        data = type.filter(data)
        if isinstance(data, np.ndarray) and (data.flags.writeable or data.base is not None):
            # Own a read-only copy: a read-only *view* of writable memory could still change.
            data = data.copy()
            data.setflags(write=False)
        signature = _data_signature(data)
        key = None
        if signature is not None:
            # The name is part of the key so that naming a constant never renames it
            # in someone else's graph; unnamed constants of equal data are shared.
            key = (cls, type, signature, name)
            try:
                existing = _constant_table.get(key)
            except TypeError:  # an unhashable type
                key, existing = None, None
            if existing is not None:
                return existing
        self = object.__new__(cls)
        Variable.__init__(self, type, None, None, name)
        self.data = data
        self._signature = signature
        if key is not None:
            _constant_table[key] = self
        return self

    def __init__(self, *args, **kwargs):
        # All work happens in __new__, which may return an existing (interned) constant.
        pass

    @property
    def value(self):
        return self.data

    def signature(self):
        """The hashable key this constant is interned under (``None`` if not interned)."""
        return self._signature

    def clone(self, **kwargs) -> "Constant":
        """Constants are immutable and interned: cloning returns the constant itself."""
        return self

    def get_test_value(self):
        return self.data

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        data = self.data
        if isinstance(data, np.ndarray):
            if data.size <= 8:
                text = np.array2string(data, separator=", ", threshold=8)
                return text if data.ndim else str(data.item())
            return f"{self.type}{{...}}"
        text = repr(data)
        return text if len(text) <= 40 else text[:37] + "..."

    def __reduce_ex__(self, protocol):
        return (_rebuild_constant, (type(self), self.type, self.data, self.name))


def _rebuild_constant(cls, type, data, name):
    return cls(type, data, name=name)


class Apply:
    """An application of ``op`` to ``inputs``, producing ``outputs``. Immutable and interned.

    ``Apply(op, inputs, outputs)`` takes freshly made output variables (no owner yet)
    and attaches them. If a live node with an equal op and the same inputs exists,
    that node is returned instead and the fresh outputs are dropped.
    """

    __slots__ = ("op", "inputs", "outputs", "tag", "__weakref__")

    def __new__(cls, op, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        inputs = tuple(inputs)
        outputs = tuple(outputs)
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Variable):
                raise TypeError(
                    f"{op}: input {i} is not a symbolic Variable but {type(inp).__name__} {inp!r}; "
                    "convert it first (e.g. with symgraph.tensor.as_tensor_variable)"
                )
        for i, out in enumerate(outputs):
            if not isinstance(out, Variable):
                raise TypeError(f"{op}: output {i} is not a Variable but {type(out).__name__}")
            if out.owner is not None:
                raise ValueError(f"{op}: output {i} ({out}) already belongs to node {out.owner}")
        key: tuple | None = (op, tuple(map(id, inputs)))
        try:
            existing = _apply_table.get(key)
        except TypeError:  # op not hashable: cannot intern it
            key, existing = None, None
        if (
            existing is not None
            and len(existing.outputs) == len(outputs)
            and all(a.type == b.type for a, b in zip(existing.outputs, outputs))
        ):
            return existing
        self = object.__new__(cls)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "tag", Scratchpad())
        trace = None
        for i, out in enumerate(outputs):
            object.__setattr__(out, "owner", self)
            object.__setattr__(out, "index", i)
            if not getattr(out.tag, "trace", None):
                if trace is None:
                    trace = add_tag_trace(out).tag.trace
                else:
                    out.tag.trace = trace
        if key is not None and existing is None:
            _apply_table[key] = self
        return self

    def __setattr__(self, name, value):
        if name in ("op", "inputs", "outputs"):
            raise AttributeError(
                f"Apply nodes are immutable: cannot set {name!r}; build a new node "
                "(node.clone_with_new_inputs) or use FunctionGraph.replace"
            )
        object.__setattr__(self, name, value)

    def __reduce__(self):
        roots, nodes, refs = graph_spec(self.outputs)
        return (_rebuild_node_from_spec, (roots, nodes, refs))

    @property
    def nin(self) -> int:
        return len(self.inputs)

    @property
    def nout(self) -> int:
        return len(self.outputs)

    def default_output(self) -> Variable:
        """The output returned by ``op(*inputs)``: ``outputs[op.default_output]`` or the only one."""
        do = getattr(self.op, "default_output", None)
        if do is None:
            if len(self.outputs) == 1:
                return self.outputs[0]
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs and no default_output")
        if not -len(self.outputs) <= do < len(self.outputs):
            raise ValueError(f"{self.op}.default_output={do} is out of range")
        return self.outputs[do]

    @property
    def out(self) -> Variable:
        return self.default_output()

    def get_parents(self) -> list:
        return list(self.inputs)

    def clone(self, clone_inner_graph: bool = False) -> "Apply":
        """Interned nodes have no distinct copies: a clone with the same inputs is this node."""
        return self

    def clone_with_new_inputs(self, inputs: Sequence[Variable], strict: bool = True) -> "Apply":
        """The node computing ``op`` on ``inputs`` instead.

        With ``strict``, each new input must be convertible to the old input's type; the
        outputs keep their types, names and creation traces. Otherwise the node is remade
        through ``op.make_node`` so output types follow the new input types.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"{self.op} takes {len(self.inputs)} inputs, {len(inputs)} given")
        new_inputs = list(inputs)
        remake = False
        for i, (cur, new) in enumerate(zip(self.inputs, new_inputs)):
            if cur.type != new.type:
                if strict:
                    new_inputs[i] = cur.type.filter_variable(new)
                else:
                    remake = True
        if remake:
            node = self.op.make_node(*new_inputs)
            for old, fresh in zip(self.outputs, node.outputs):
                if not getattr(fresh.tag, "trace", None) and getattr(old.tag, "trace", None):
                    fresh.tag.trace = old.tag.trace
            return node
        return Apply(self.op, new_inputs, [o.clone() for o in self.outputs])

    def __str__(self) -> str:
        return f"{self.op}({', '.join(str(i) for i in self.inputs)})"

    def __repr__(self) -> str:
        return str(self)


# --------------------------------------------------------------------------- traversal


def _as_list(graphs) -> list:
    if isinstance(graphs, Variable):
        return [graphs]
    return list(graphs)


def ancestors(graphs: Iterable[Variable] | Variable, blockers: Iterable[Variable] | None = None) -> Iterator[Variable]:
    """Every variable the ``graphs`` depend on (themselves included), each once, outputs first.

    The walk does not go above variables in ``blockers``.
    """
    blockers = set(blockers or ())
    seen: set[int] = set()
    stack = list(reversed(_as_list(graphs)))
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        yield var
        if var.owner is not None and var not in blockers:
            stack.extend(reversed(var.owner.inputs))


def graph_inputs(graphs, blockers=None) -> list[Variable]:
    """The root variables (no owner, or in ``blockers``) the ``graphs`` depend on, constants included."""
    blockers = set(blockers or ())
    return [v for v in ancestors(graphs, blockers) if v.owner is None or v in blockers]


def is_in_ancestors(node: Apply, var_or_node) -> bool:
    """Whether ``var_or_node`` (a variable or an Apply) lies above ``node``."""
    target = var_or_node
    for v in ancestors(list(node.inputs)):
        if v is target or v.owner is target:
            return True
    return False


def io_toposort(inputs: Iterable[Variable], outputs: Iterable[Variable], orderings: Mapping | None = None) -> list[Apply]:
    """The Apply nodes between ``inputs`` and ``outputs`` in a deterministic topological order.

    ``orderings`` optionally maps a node to extra nodes that must run before it.
    """
    blockers = set(inputs)
    orderings = orderings or {}
    order: list[Apply] = []
    visited: set[Apply] = set()

    def parents(node: Apply) -> Iterator[Apply]:
        for inp in node.inputs:
            if inp.owner is not None and inp not in blockers:
                yield inp.owner
        yield from orderings.get(node, ())

    for out in outputs:
        if out in blockers or out.owner is None or out.owner in visited:
            continue
        root = out.owner
        visited.add(root)
        stack = [(root, parents(root))]
        while stack:
            node, it = stack[-1]
            for parent in it:
                if parent not in visited:
                    visited.add(parent)
                    stack.append((parent, parents(parent)))
                    break
            else:
                stack.pop()
                order.append(node)
    if orderings:
        position = {n: i for i, n in enumerate(order)}
        for node, before in orderings.items():
            for b in before:
                if b in position and node in position and position[b] > position[node]:
                    raise ValueError(f"orderings contain a cycle through {node}")
    return order


def toposort(outputs: Iterable[Variable] | Variable) -> list[Apply]:
    """All Apply nodes above ``outputs`` in topological order."""
    return io_toposort([], _as_list(outputs))


def vars_between(ins: Iterable[Variable], outs: Iterable[Variable]) -> list[Variable]:
    """Variables on paths from ``ins`` up to ``outs`` (walking stops at ``ins``)."""
    return list(ancestors(outs, blockers=ins))


def applys_between(ins: Iterable[Variable], outs: Iterable[Variable]) -> list[Apply]:
    """Apply nodes computing something between ``ins`` and ``outs``."""
    ins = set(ins)
    seen, result = set(), []
    for v in ancestors(outs, blockers=ins):
        if v.owner is not None and v not in ins and v.owner not in seen:
            seen.add(v.owner)
            result.append(v.owner)
    return result


# --------------------------------------------------------------------------- rebuilding


def rebuild_graph(
    outputs: Sequence[Variable],
    replacements: Mapping[Variable, Variable],
    strict: bool = True,
) -> tuple[list[Variable], dict]:
    """Rebuild ``outputs`` with each key of ``replacements`` swapped for its value.

    Only nodes that (transitively) depend on a replaced variable are rebuilt; everything
    else is shared with the old graph. Returns the new outputs and the equivalence map
    (old variable or node -> new one) for everything that changed or was replaced.
    """
    equiv: dict = dict(replacements)
    if not equiv:
        return list(outputs), equiv
    for node in io_toposort(list(replacements), outputs):
        new_inputs = [equiv.get(i, i) for i in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new_node = node.clone_with_new_inputs(new_inputs, strict=strict)
        equiv[node] = new_node
        for old, new in zip(node.outputs, new_node.outputs):
            equiv[old] = new
    return [equiv.get(o, o) for o in outputs], equiv


def clone_get_equiv(
    inputs: Sequence[Variable],
    outputs: Sequence[Variable],
    copy_inputs: bool = True,
    copy_orphans: bool = True,
    memo: dict | None = None,
) -> dict:
    """Map every variable and node between ``inputs`` and ``outputs`` to its clone.

    With ``copy_inputs`` the inputs are replaced by fresh variables (and so is every node
    depending on them); ``copy_orphans`` does the same for non-constant roots that are not
    in ``inputs``. Constants are never copied. ``memo`` pre-seeds the map.
    """
    equiv = dict(memo or {})
    if copy_inputs:
        for inp in inputs:
            equiv.setdefault(inp, inp.clone())
    if copy_orphans:
        input_set = set(inputs)
        for root in graph_inputs(outputs, blockers=inputs):
            if root in input_set or root in equiv:
                continue
            if root.owner is None and not isinstance(root, Constant):
                equiv[root] = root.clone()
    _, changed = rebuild_graph(list(outputs), equiv)
    for v in ancestors(outputs, blockers=inputs):
        changed.setdefault(v, v)
        if v.owner is not None:
            changed.setdefault(v.owner, v.owner)
    for inp in inputs:
        changed.setdefault(inp, inp)
    return changed


def clone(
    inputs: Sequence[Variable],
    outputs: Sequence[Variable],
    copy_inputs: bool = True,
    copy_orphans: bool | None = None,
) -> tuple[list[Variable], list[Variable]]:
    """Clone the graph between ``inputs`` and ``outputs``; returns ``(new_inputs, new_outputs)``."""
    if copy_orphans is None:
        copy_orphans = copy_inputs
    equiv = clone_get_equiv(inputs, outputs, copy_inputs, copy_orphans)
    return [equiv[i] for i in inputs], [equiv[o] for o in outputs]


# --------------------------------------------------------------------------- pickling


def graph_spec(outputs: Sequence[Variable]):
    """Flatten the graph above ``outputs`` for pickling.

    Returns ``(roots, nodes, refs)``: root variables (pickled as objects), one entry
    ``(op, input_refs, output_types, output_names, output_tags)`` per node in topological
    order, and a reference per output. A reference is ``(-1, root_index)`` or
    ``(node_index, output_index)``.
    """
    roots: list[Variable] = []
    where: dict[Variable, tuple[int, int]] = {}
    for v in graph_inputs(outputs):
        where[v] = (-1, len(roots))
        roots.append(v)
    nodes = []
    for n_idx, node in enumerate(toposort(outputs)):
        refs = tuple(where[i] for i in node.inputs)
        nodes.append(
            (
                node.op,
                refs,
                tuple(o.type for o in node.outputs),
                tuple(o.name for o in node.outputs),
                tuple({k: v for k, v in o.tag.__dict__.items() if not k.startswith("_")} for o in node.outputs),
            )
        )
        for o_idx, out in enumerate(node.outputs):
            where[out] = (n_idx, o_idx)
    return roots, nodes, [where[o] for o in outputs]


def rebuild_spec(roots, nodes, refs) -> list[Variable]:
    """Inverse of :func:`graph_spec`: rebuild the nodes (through interning) and return the outputs."""
    built: list[tuple[Variable, ...]] = []

    def lookup(ref):
        node_idx, idx = ref
        return roots[idx] if node_idx < 0 else built[node_idx][idx]

    for op, in_refs, out_types, out_names, out_tags in nodes:
        fresh = []
        for t, name, tag in zip(out_types, out_names, out_tags):
            var = t.make_variable(name)
            for key, value in tag.items():
                object.__setattr__(var.tag, key, value)
            fresh.append(var)
        node = Apply(op, [lookup(r) for r in in_refs], fresh)
        built.append(node.outputs)
    return [lookup(r) for r in refs]


def _rebuild_from_spec(roots, nodes, ref):
    return rebuild_spec(roots, nodes, [ref])[0]


def _rebuild_node_from_spec(roots, nodes, refs):
    return rebuild_spec(roots, nodes, refs)[0].owner
