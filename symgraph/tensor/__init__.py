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
from symgraph.tensor.variable import TensorConstant, TensorVariable, tensor_method

# The op families, in dependency order: a module may import the ones above it at module
# level; it imports later ones inside functions.
from symgraph.tensor import shape, creation, join, reduction, subtensor, products  # noqa: E402
from symgraph.tensor.shape import *  # noqa: F401,F403,E402
from symgraph.tensor.creation import *  # noqa: F401,F403,E402
from symgraph.tensor.join import *  # noqa: F401,F403,E402
from symgraph.tensor.reduction import *  # noqa: F401,F403,E402
from symgraph.tensor.subtensor import *  # noqa: F401,F403,E402
from symgraph.tensor.products import *  # noqa: F401,F403,E402
from symgraph.tensor import linalg, random  # noqa: E402

__all__ = [
    "TensorType",
    "TensorVariable",
    "TensorConstant",
    "Elemwise",
    "DimShuffle",
    "ScalarOp",
    "get_scalar_op",
    "tensor_method",
    *_basic_all,
    *shape.__all__,
    *creation.__all__,
    *join.__all__,
    *reduction.__all__,
    *subtensor.__all__,
    *products.__all__,
]
