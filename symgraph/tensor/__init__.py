"""Symbolic n-dimensional arrays. Use as ``import symgraph.tensor as st``.

>>> import symgraph.tensor as st
>>> x = st.matrix("x")
>>> y = st.vector("y", dtype="float32")
>>> z = st.exp(x + y)            # y broadcasts over the rows of x
>>> str(z.type)
'Matrix(float64, shape=(?, ?))'
"""

import importlib

from symgraph.tensor import basic, elemwise, scalar_ops, type, variable
from symgraph.tensor.basic import *  # noqa: F401,F403  (constructors and elementwise functions)
from symgraph.tensor.basic import __all__ as _basic_all
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.scalar_ops import ScalarOp, get_scalar_op
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import TensorConstant, TensorVariable, tensor_method

# The op families, in dependency order: a module may import the ones above it at module
# level; it imports later ones inside functions.
# Their public functions are exported here; some share a module's name (``shape``, ``join``),
# and the function wins, as in PyTensor (the module stays reachable via sys.modules).
_FAMILIES = ("shape", "creation", "join", "reduction", "special", "subtensor", "products")
_family_names: list[str] = []
for _family in _FAMILIES:
    _module = importlib.import_module(f"symgraph.tensor.{_family}")
    _family_names.extend(_module.__all__)
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})
del _family, _module
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
    *_family_names,
]
