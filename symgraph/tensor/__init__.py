"""Symbolic n-dimensional arrays. Use as ``import symgraph.tensor as st``.

>>> import symgraph.tensor as st
>>> x = st.matrix("x")
>>> y = st.vector("y", dtype="float32")
>>> z = st.exp(x + y)            # y broadcasts over the rows of x
>>> str(z.type)
'Matrix(float64, shape=(?, ?))'
"""

from symgraph.tensor import basic, elemwise, scalar_ops, type, variable
from symgraph.tensor.basic import *  # noqa: F401,F403  (constructors and elementwise functions)
from symgraph.tensor.basic import __all__ as _basic_all
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.scalar_ops import ScalarOp, get_scalar_op
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import TensorConstant, TensorVariable

__all__ = [
    "TensorType",
    "TensorVariable",
    "TensorConstant",
    "Elemwise",
    "DimShuffle",
    "ScalarOp",
    "get_scalar_op",
    *_basic_all,
]
