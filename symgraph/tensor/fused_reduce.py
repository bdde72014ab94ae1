"""``FusedReduce``: an elementwise expression and the reduction of its result, as one op.

The fusion pass (:mod:`symgraph.rewriting.fusion`) replaces ``Reduce(Elemwise(f)(x, y, ...))``
by ``FusedReduce(f, kind, axis, dtype)(x, y, ...)`` when the elementwise result is read by
nothing but the reduction, so that a compiled backend can compute ``f`` and accumulate it
in one loop, without materialising the intermediate array (:meth:`FusedReduce.c_reduce_code`
describes that loop body). ``f`` is a table :class:`~symgraph.tensor.scalar_ops.ScalarOp`
or a :class:`~symgraph.tensor.composite.Composite`.

Semantics are exactly those of the unfused pair:

- the inputs broadcast as :class:`~symgraph.tensor.elemwise.Elemwise` inputs do (only
  dimensions of static size 1 broadcast; a run-time size 1 elsewhere is a ``ValueError``);
- the elementwise result has the scalar op's dtype; the reduction's output dtype follows
  :class:`~symgraph.tensor.reduction.Reduce`'s rule for that dtype (``sum`` and ``prod``
  accumulate small integers in int64) or its explicit ``dtype``;
- ``max``/``min`` over an empty axis raise ``ValueError`` (no identity), as Reduce does.

The Python implementation evaluates the elementwise expression with the scalar op's own
evaluator (the Composite's plan, with its buffer reuse) and then calls the reduction's
NumPy function, so values are bit-identical to the unfused graph.

Like Composite, the op is made by rewrites after gradients are taken: its gradient is
not implemented (``grad_not_implemented`` explains why).
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.null_type import grad_not_implemented
from symgraph.graph.op import Op
from symgraph.tensor.composite import C_TYPES, Composite
from symgraph.tensor.elemwise import Elemwise, _broadcast_error, broadcast_shape
from symgraph.tensor.reduction import REDUCTIONS, Reduce
from symgraph.tensor.scalar_ops import ScalarOp
from symgraph.tensor.type import TensorType

__all__ = ["FusedReduce", "FUSABLE_KINDS"]

#: The reductions that fuse: one accumulator updated once per element. ``logsumexp`` is
#: its own stabilised op (it needs the maximum first), ``all``/``any`` short-circuit.
FUSABLE_KINDS = ("sum", "prod", "max", "min")

_GRAD_COMMENT = (
    "FusedReduce is made by the fusion rewrite, which runs after gradients are taken. "
    "Take the gradient of the unfused graph (fusion only happens when a function is compiled)."
)


class FusedReduce(Op):
    """``Reduce(kind, axis, dtype)(Elemwise(scalar_op)(*inputs))`` computed by one node.

    Parameters
    ----------
    scalar_op
        The elementwise expression: a table :class:`ScalarOp` or a :class:`Composite`.
    kind
        One of :data:`FUSABLE_KINDS`.
    axis
        The reduced axes, normalised as for :class:`Reduce` (sorted, distinct, >= 0).
    dtype
        The :class:`Reduce` op's explicit output dtype, or ``None`` for its rule.
    """

    __props__ = ("scalar_op", "kind", "axis", "dtype")

    def __init__(self, scalar_op: ScalarOp, kind: str, axis: Sequence[int], dtype: str | None = None):
        if not isinstance(scalar_op, ScalarOp):
            raise TypeError(f"FusedReduce needs a ScalarOp or Composite, got {scalar_op!r}")
        if kind not in FUSABLE_KINDS:
            raise ValueError(f"FusedReduce: kind must be one of {FUSABLE_KINDS}, got {kind!r}")
        # Reduce validates the axes and dtype and owns the dtype rule: reusing it keeps the
        # fused output dtype identical to the unfused one by construction.
        self.reduce_op = Reduce(kind, axis, dtype)
        self.scalar_op = scalar_op
        self.kind = kind
        self.axis = self.reduce_op.axis
        self.dtype = self.reduce_op.dtype
        self.elemwise_op = Elemwise(scalar_op)

    def __reduce__(self):
        return (FusedReduce, (self.scalar_op, self.kind, self.axis, self.dtype))

    def __str__(self) -> str:
        dtype = f", dtype={self.dtype}" if self.dtype else ""
        return f"FusedReduce{{{self.kind}, axes={self.axis}{dtype}, {self.scalar_op}}}"

    # ------------------------------------------------------------------ building

    def make_node(self, *inputs: Any) -> Apply:
        # The Elemwise node gives the broadcast inputs and the intermediate's type with
        # exactly Elemwise's conversions (weak scalars, rank padding, static shapes). It is
        # interned, so in the rewrite this returns the node being replaced.
        inner = self.elemwise_op.make_node(*inputs)
        elem = inner.outputs[0]
        if self.axis and self.axis[-1] >= elem.ndim:
            raise ValueError(f"{self}: axis {self.axis[-1]} is out of range for a {elem.ndim}-d elementwise result")
        shape = tuple(s for d, s in enumerate(elem.type.shape) if d not in self.axis)
        out_type = TensorType(self.reduce_op.output_dtype(elem.type.dtype), shape)
        return Apply(self, list(inner.inputs), [out_type()])

    def _elem_type(self, node: Apply) -> TensorType:
        """The type of the (not materialised) elementwise intermediate."""
        dtype = self.scalar_op.check_dtypes(*(i.type.dtype for i in node.inputs))
        return TensorType(dtype, self.elemwise_op._broadcast_static_shapes(node.inputs))

    # ------------------------------------------------------------------ evaluation

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        if len(inputs) > 1:
            self._check_runtime_shapes(node, inputs)
        elem_dtype = self.scalar_op.check_dtypes(*(v.dtype.name for v in inputs))
        # Exactly what Elemwise.perform computes (Composite.impl is its evaluator).
        x = np.asarray(self.scalar_op.impl(*inputs), dtype=elem_dtype)
        if REDUCTIONS[self.kind].identity is None and builtins.any(x.shape[a] == 0 for a in self.axis):
            raise ValueError(
                f"{self}: cannot reduce an elementwise result of shape {x.shape} over an empty "
                f"axis; {self.kind} has no identity value"
            )
        out_dtype = node.outputs[0].type.dtype
        result = REDUCTIONS[self.kind].impl(x, self.axis, out_dtype)
        output_storage[0][0] = np.asarray(result, dtype=out_dtype)

    def _check_runtime_shapes(self, node: Apply, values: Sequence[np.ndarray]) -> None:
        """Elemwise's broadcasting rule: inputs not statically 1 in a dimension agree there."""
        for d in range(node.inputs[0].type.ndim):
            first = None
            for k, inp in enumerate(node.inputs):
                if inp.type.shape[d] == 1:
                    continue
                if first is None:
                    first = k
                elif values[k].shape[d] != values[first].shape[d]:
                    raise _broadcast_error(self, node, values, d, first, k)

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        """Elemwise's output shape (static size, else the first input not statically 1 in
        that dimension, else 1) without the reduced axes."""
        full = broadcast_shape(self._elem_type(node).shape, node.inputs, input_shapes)
        return [tuple(size for d, size in enumerate(full) if d not in self.axis)]

    # ------------------------------------------------------------------ derivatives

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, i, x, _GRAD_COMMENT) for i, x in enumerate(inputs)]

    def R_op(self, inputs, eval_points):
        raise NotImplementedError(f"the R_op of {self} is not implemented: {_GRAD_COMMENT}")

    # ------------------------------------------------------------------ C description

    def c_reduce_code(self, inputs: list[str], input_dtypes: Sequence[str]) -> dict[str, Any]:
        """The pieces of a one-loop C implementation, for a backend to assemble.

        Returns a dict with ``"value"`` (the C expression of the elementwise value on the C
        expressions ``inputs``), ``"value_type"`` and ``"acc_type"`` (C types),
        ``"init"`` (the accumulator's initial C value, or ``None``: start from the first
        element, for ``max``/``min``) and ``"update"`` (a template with ``%(acc)s`` and
        ``%(v)s`` updating the accumulator with one value). ``max``/``min`` propagate NaN
        as NumPy does: once the accumulator is NaN no comparison replaces it, and a NaN
        value always does.
        """
        value_dtype = self.scalar_op.check_dtypes(*input_dtypes)
        acc_dtype = self.reduce_op.output_dtype(value_dtype)
        value_type, acc_type = C_TYPES[value_dtype], C_TYPES[acc_dtype]
        if isinstance(self.scalar_op, Composite):
            value = self.scalar_op.c_expr(list(inputs), value_type, tuple(input_dtypes))
        else:
            value = self.scalar_op.c_expr(list(inputs), value_type)
        if self.kind in ("sum", "prod"):
            sign = "+" if self.kind == "sum" else "*"
            init = "0" if self.kind == "sum" else "1"
            update = f"%(acc)s {sign}= ({acc_type})(%(v)s);"
        else:
            cmp = ">" if self.kind == "max" else "<"
            init = None
            update = f"if ((%(v)s) {cmp} %(acc)s || (%(v)s) != (%(v)s)) %(acc)s = (%(v)s);"
        return {"value": value, "value_type": value_type, "acc_type": acc_type, "init": init, "update": update}
