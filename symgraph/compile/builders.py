"""Ops defined by a graph: :class:`OpFromGraph`.

An ``OpFromGraph`` packages the subgraph between some ``inputs`` and ``outputs`` as a
single :class:`~symgraph.graph.op.Op`. Applying it to other variables makes one node whose
computation is the packaged graph (PyTensor semantics)::

    x, y = st.dscalar("x"), st.dscalar("y")
    op = OpFromGraph([x, y], [x + y * 2.0])
    z = op(a, b) + op(b, a)          # two nodes of the same op

Evaluation: the first time a node of the op runs, the inner graph is compiled with
:func:`symgraph.function` (with the op's extra keyword arguments, e.g. ``mode=``, and
``on_unused_input="ignore"``); the compiled function is cached on the op and reused by
every node. Compiling, rather than running each inner node's thunk directly, gives the
inner graph the same rewrites and linker as any function and honours the ``mode`` given.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable, ancestors, graph_inputs, rebuild_graph
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.null_type import DisconnectedType, disconnected_type
from symgraph.graph.op import HasInnerGraph, Op
from symgraph.graph.replace import graph_replace
from symgraph.graph.utils import MissingInputError, format_trace

__all__ = ["OpFromGraph"]


def _shared_variable_class():
    # The compile package imports this module, so look the class up lazily.
    from symgraph.compile.sharedvalue import SharedVariable

    return SharedVariable if isinstance(SharedVariable, type) else ()


def _as_variable_list(what: str, values: Any) -> list[Variable]:
    if isinstance(values, Variable) or not isinstance(values, (list, tuple)):
        raise TypeError(f"OpFromGraph: {what} must be a list of Variables, got {type(values).__name__}")
    values = list(values)
    for i, v in enumerate(values):
        if not isinstance(v, Variable):
            raise TypeError(f"OpFromGraph: {what}[{i}] is not a Variable but {type(v).__name__} {v!r}")
    return values


class OpFromGraph(Op, HasInnerGraph):
    """An Op computing the graph between ``inputs`` and ``outputs``.

    Parameters
    ----------
    inputs
        The variables the op's explicit inputs stand for (a list; no duplicates, no constants).
    outputs
        The variables it computes (a list).
    inline
        A hint for the rewriter: when ``True`` the op's nodes may be replaced by a copy of the
        inner graph during compilation (see :meth:`inline_outputs`); when ``False`` the op is
        kept and runs its compiled inner function.
    name
        Shown by ``str(op)`` and in printed graphs.
    **kwargs
        Passed to :func:`symgraph.function` when the inner graph is compiled (``mode=``...).
        ``updates`` and ``givens`` are not supported.

    Shared variables the outputs depend on (and that are not among ``inputs``) become
    implicit inputs: they are listed in :attr:`shared_inputs`, are replaced by plain
    variables inside the inner graph, and are appended to the inputs of every node, so the
    node reads their current value when it runs. Any other root the outputs need that is
    neither an input, a shared variable nor a constant raises
    :class:`~symgraph.graph.utils.MissingInputError`.

    lop_overrides, rop_overrides
        Optional callables replacing the derived derivatives: ``lop_overrides(inputs,
        outputs, output_grads)`` returns one gradient per input and
        ``rop_overrides(inputs, eval_points)`` one tangent per output (PyTensor's
        signatures). By default gradients and R_ops flow through the inner graph.

    Each instance is its own op: two ``OpFromGraph`` built from the same graph are not equal
    (as in PyTensor).
    """

    def __init__(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        inline: bool = False,
        name: str | None = None,
        lop_overrides: Any = None,
        rop_overrides: Any = None,
        **kwargs: Any,
    ):
        inputs = _as_variable_list("inputs", inputs)
        outputs = _as_variable_list("outputs", outputs)
        if not outputs:
            raise ValueError("OpFromGraph needs at least one output")
        if "updates" in kwargs or "givens" in kwargs:
            raise NotImplementedError("OpFromGraph does not support updates or givens")
        seen: set[Variable] = set()
        for i, inp in enumerate(inputs):
            if isinstance(inp, Constant):
                raise TypeError(f"OpFromGraph: inputs[{i}] is the constant {inp}; constants cannot be inputs")
            if inp in seen:
                raise ValueError(
                    f"OpFromGraph: {inp} is given more than once as an input; use distinct variables"
                )
            seen.add(inp)

        shared_cls = _shared_variable_class()
        shared: list[Variable] = []
        for root in graph_inputs(outputs, blockers=inputs):
            if root in seen or isinstance(root, Constant):
                continue
            if shared_cls and isinstance(root, shared_cls):
                shared.append(root)
                continue
            name_part = f" {root.name!r}" if root.name else ""
            trace = format_trace(getattr(root.tag, "trace", None))
            raise MissingInputError(
                f"OpFromGraph: the outputs depend on the variable{name_part} ({root}, type {root.type}), "
                "which is not among the inputs (and is neither a constant nor a shared variable)"
                + (f"\nIt was created at:\n{trace}" if trace else "")
            )

        # The inner graph runs on fresh variables standing for the inputs and shared values.
        outer = inputs + shared
        inner_inputs = [v.type.make_variable(v.name) for v in outer]
        inner_outputs, _ = rebuild_graph(outputs, dict(zip(outer, inner_inputs)))
        self._fgraph = FunctionGraph(inner_inputs, inner_outputs, clone=False)
        self.shared_inputs: list[Variable] = shared
        self.input_types = [v.type for v in inputs]
        self.output_types = [v.type for v in outputs]
        self.is_inline = bool(inline)
        self.name = name
        self.kwargs = dict(kwargs)
        self.lop_overrides = lop_overrides
        self.rop_overrides = rop_overrides
        self._fn = None

    # ------------------------------------------------------------------ inner graph

    @property
    def fgraph(self) -> FunctionGraph:
        """The inner graph: inputs are the explicit inputs followed by the shared ones."""
        return self._fgraph

    @property
    def inner_inputs(self) -> list[Variable]:
        return self._fgraph.inputs

    @property
    def inner_outputs(self) -> list[Variable]:
        return self._fgraph.outputs

    def clone(self) -> "OpFromGraph":
        """A new op (not equal to this one) with a copy of the inner graph."""
        res = copy.copy(self)
        res._fgraph = self._fgraph.clone()
        res.shared_inputs = list(self.shared_inputs)
        res.kwargs = dict(self.kwargs)
        res._fn = None
        return res

    def inline_outputs(self, inputs: Sequence[Variable]) -> list[Variable]:
        """The inner outputs with the inner inputs replaced by ``inputs`` (all of them, shared
        ones included, as in a node's inputs): what inlining a node of this op produces."""
        inputs = list(inputs)
        if len(inputs) != len(self.inner_inputs):
            raise ValueError(f"{self}: expected {len(self.inner_inputs)} inputs, got {len(inputs)}")
        return graph_replace(list(self.inner_outputs), list(zip(self.inner_inputs, inputs)))

    # ------------------------------------------------------------------ building

    def __str__(self) -> str:
        return self.name if self.name is not None else f"OpFromGraph{{inline={self.is_inline}}}"

    def __repr__(self) -> str:
        return str(self)

    def __call__(self, *inputs: Any, **kwargs: Any):
        """Apply the op to its explicit inputs (the shared values are added), or to all inputs."""
        n_explicit = len(self.input_types)
        if len(inputs) == n_explicit:
            inputs = tuple(inputs) + tuple(self.shared_inputs)
        elif len(inputs) != len(self.inner_inputs):
            extra = f" (or {len(self.inner_inputs)} with its shared values)" if self.shared_inputs else ""
            raise TypeError(f"{self} takes {n_explicit} inputs{extra}, got {len(inputs)}")
        return super().__call__(*inputs, **kwargs)

    def make_node(self, *inputs: Any) -> Apply:
        """A node of this op on ``inputs`` (explicit inputs then shared values), type-checked."""
        if len(inputs) != len(self.inner_inputs):
            raise TypeError(f"{self}: make_node expects {len(self.inner_inputs)} inputs, got {len(inputs)}")
        checked = []
        for i, (inp, inner) in enumerate(zip(inputs, self.inner_inputs)):
            expected = inner.type
            try:
                checked.append(expected.filter_variable(inp))
            except (TypeError, ValueError) as exc:
                got = inp.type if isinstance(inp, Variable) else f"{type(inp).__name__} {inp!r}"
                raise TypeError(f"{self}: input {i} should have type {expected}, got {got}") from exc
        return Apply(self, checked, [t() for t in self.output_types])

    # ------------------------------------------------------------------ evaluation

    @property
    def fn(self):
        """The compiled inner function (compiled on first use, then cached)."""
        if self._fn is None:
            from symgraph.compile.function import function

            kwargs = dict(self.kwargs)
            kwargs.setdefault("on_unused_input", "ignore")
            self._fn = function(list(self.inner_inputs), list(self.inner_outputs), **kwargs)
        return self._fn

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        results = self.fn(*inputs)
        for cell, value in zip(output_storage, results):
            # The node promises fresh outputs (it has no view_map): never hand out an input.
            if any(value is inp or _shares_memory(value, inp) for inp in inputs):
                value = copy.deepcopy(value)
            cell[0] = value

    # ------------------------------------------------------------------ derivatives and shapes

    def L_op(self, inputs, outputs, output_grads):
        """Gradients through the inner graph (or ``lop_overrides``)."""
        if self.lop_overrides is not None:
            return list(self.lop_overrides(list(inputs), list(outputs), list(output_grads)))
        from symgraph.gradient import grad

        inner = self.inline_outputs(inputs)
        known = {o: g for o, g in zip(inner, output_grads) if not isinstance(g.type, DisconnectedType)}
        if not known:
            return [disconnected_type() for _ in inputs]
        return grad(
            None,
            list(inputs),
            known_grads=known,
            disconnected_inputs="ignore",
            return_disconnected="disconnected",
            null_gradients="return",
        )

    def R_op(self, inputs, eval_points):
        """Directional derivatives through the inner graph (or ``rop_overrides``)."""
        if self.rop_overrides is not None:
            return list(self.rop_overrides(list(inputs), list(eval_points)))
        from symgraph.gradient import Rop

        pairs = [(x, e) for x, e in zip(inputs, eval_points) if e is not None]
        inner = self.inline_outputs(inputs)
        return Rop(
            inner, [x for x, _ in pairs], [e for _, e in pairs],
            disconnected_outputs="ignore", return_disconnected="none",
        )

    def infer_shape(self, fgraph, node, input_shapes):
        """The inner outputs' shapes, inferred on the node's own inputs."""
        from symgraph.tensor.shape import symbolic_shape

        return [symbolic_shape(o) for o in self.inline_outputs(node.inputs)]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """``pattern[i][j]``: whether inner output ``j`` depends on inner input ``i``."""
        deps = [set(ancestors([out])) for out in self.inner_outputs]
        return [[inp in dep for dep in deps] for inp in self.inner_inputs]

    # ------------------------------------------------------------------ pickling

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fn"] = None  # recompiled on demand after unpickling
        return state


def _shares_memory(a: Any, b: Any) -> bool:
    return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.may_share_memory(a, b)
