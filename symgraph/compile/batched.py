"""Evaluating one graph on every row of a batch: the vectorised Jacobian's engine.

:func:`symgraph.gradient.jacobian` builds the pullback ``u -> J^T u`` of the flattened
expression once, and a :class:`BatchedPullback` node applies it to each row of the
identity matrix. The inner graph is compiled once, on first use.
"""

from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable, graph_inputs
from symgraph.graph.null_type import grad_not_implemented
from symgraph.graph.op import Op

__all__ = ["BatchedPullback", "batched_pullback"]


class BatchedPullback(Op):
    """Applies the graph ``outputs(u, *context)`` to each row ``u`` of a batch and stacks
    the results: output ``k`` has shape ``(batch_size,) + outputs[k].shape``.

    Each instance owns its inner graph, so instances compare by identity.
    """

    def __init__(self, row: Variable, context: list[Variable], outputs: list[Variable]):
        self.row = row
        self.context = list(context)
        self.inner_outputs = list(outputs)
        self._fn = None

    def __str__(self):
        return f"BatchedPullback{{{len(self.inner_outputs)} outputs}}"

    def make_node(self, batch, *context):
        import symgraph.tensor as st

        batch = st.as_tensor_variable(batch)
        if batch.type.ndim != self.row.type.ndim + 1:
            raise TypeError(f"{self}: the batch must have rank {self.row.type.ndim + 1}, got {batch.type}")
        if len(context) != len(self.context):
            raise TypeError(f"{self}: expected {len(self.context)} context inputs, got {len(context)}")
        outputs = [st.TensorType(o.type.dtype, (None, *o.type.shape))() for o in self.inner_outputs]
        return Apply(self, [batch, *context], outputs)

    def perform(self, node, inputs, output_storage):
        if self._fn is None:
            from symgraph.compile.function import function

            self._fn = function([self.row, *self.context], self.inner_outputs, on_unused_input="ignore")
        batch, *context = inputs
        results = [self._fn(row, *context) for row in batch]
        for k, (out, cell) in enumerate(zip(node.outputs, output_storage)):
            dtype = out.type.numpy_dtype
            if results:
                cell[0] = np.stack([np.asarray(r[k], dtype=dtype) for r in results])
            else:
                inner_shape = tuple(0 if s is None else s for s in self.inner_outputs[k].type.shape)
                cell[0] = np.zeros((0, *inner_shape), dtype=dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [
            grad_not_implemented(self, i, x, "differentiate a vectorize=False jacobian instead")
            for i, x in enumerate(inputs)
        ]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fn"] = None
        return state


def batched_pullback(flat, wrt, consider_constant=None, disconnected_inputs="raise") -> list[Variable]:
    """The Jacobian blocks ``d flat / d w`` for each ``w`` in ``wrt``, each of shape
    ``(flat.size,) + w.shape``, from one batched evaluation of the pullback of ``flat``."""
    import symgraph.tensor as st
    from symgraph.gradient import Lop

    row = flat.type.clone(shape=(None,))()
    pulled = Lop(flat, wrt, row, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
    context = [v for v in graph_inputs(pulled) if v.owner is None and not isinstance(v, Constant) and v is not row]
    op = BatchedPullback(row, context, pulled)
    identity = st.eye(st.shape_i(flat, 0), dtype=flat.type.dtype)
    outs = op(identity, *context, return_list=True)
    return list(outs)
