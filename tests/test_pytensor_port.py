"""A custom Op written the way PyTensor's "Creating a new Op: Python implementation" guide
shows, with only the imports changed, must work unmodified in symgraph.

(The op is written here in our own words; only its shape follows the guide: ``__props__``,
``make_node`` with ``as_tensor_variable`` and ``Apply(self, [x], [x.type()])``, ``perform``,
``infer_shape``, ``grad`` and ``R_op``.)
"""

import pickle

import numpy as np
import pytest

# -- the only lines that differ from a PyTensor version -------------------------------------
import symgraph
import symgraph.tensor as pt
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op

# ------------------------------------------------------------------------------------------


class DoubleOp(Op):
    """Multiply a tensor by two."""

    __props__ = ()

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        # The output has exactly the input's type.
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        (out_cell,) = output_storage
        out_cell[0] = x * 2

    def infer_shape(self, fgraph, node, input_shapes):
        # Doubling keeps the shape.
        return input_shapes

    def grad(self, inputs, output_grads):
        (g_out,) = output_grads
        return [g_out * 2]

    def R_op(self, inputs, eval_points):
        # A None eval point means "no direction": pass it through.
        if eval_points[0] is None:
            return eval_points
        return self.grad(inputs, eval_points)


double = DoubleOp()


def test_values_in_function():
    x = pt.dmatrix("x")
    f = symgraph.function([x], double(x))
    data = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(f(data), data * 2)
    # inputs are not modified
    np.testing.assert_allclose(data, np.arange(6.0).reshape(2, 3))


def test_composes_with_library_ops():
    x = pt.dvector("x")
    y = pt.dvector("y")
    f = symgraph.function([x, y], double(x + y) - pt.exp(x))
    a, b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(f(a, b), 2 * (a + b) - np.exp(a))


def test_make_node_converts_constants_and_keeps_types():
    out = double([1.0, 2.0])
    assert isinstance(out.owner.op, DoubleOp)
    assert out.type == out.owner.inputs[0].type
    f32 = pt.fvector("v")
    assert double(f32).type == f32.type
    assert double(f32) is double(f32)  # equal props, same input: the same node


def test_props_make_instances_equal():
    assert DoubleOp() == DoubleOp() and hash(DoubleOp()) == hash(DoubleOp())
    assert str(DoubleOp()) == "DoubleOp"


def test_infer_shape_direct_call():
    x = pt.dmatrix("x")
    node = double(x).owner
    rows, cols = pt.lscalar("rows"), pt.lscalar("cols")
    assert node.op.infer_shape(None, node, [(rows, cols)]) == [(rows, cols)]


def test_grad_expression_evaluates():
    x = pt.dvector("x")
    g = pt.dvector("g")
    (gx,) = double.grad([x], [g])
    f = symgraph.function([g], gx)
    np.testing.assert_allclose(f(np.array([1.0, -2.0, 0.5])), [2.0, -4.0, 1.0])


def test_r_op_expression_evaluates_and_passes_none():
    x = pt.dvector("x")
    v = pt.dvector("v")
    (rv,) = double.R_op([x], [v])
    f = symgraph.function([v], rv)
    np.testing.assert_allclose(f(np.array([3.0, 4.0])), [6.0, 8.0])
    assert double.R_op([x], [None]) == [None]


def test_l_op_defaults_to_grad():
    x = pt.dscalar("x")
    g = pt.dscalar("g")
    (lx,) = double.L_op([x], [double(x)], [g])
    assert symgraph.function([g], lx)(1.5) == pytest.approx(3.0)


def test_op_and_graph_pickle():
    x = pt.dvector("x")
    y = double(x)
    y2 = pickle.loads(pickle.dumps(y))
    assert isinstance(y2.owner.op, DoubleOp) and y2.owner.op == double
    (x2,) = y2.owner.inputs
    f = symgraph.function([x2], y2)
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [2.0, 4.0])
