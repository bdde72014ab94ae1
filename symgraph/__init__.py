"""symgraph: a symbolic computational-graph compiler for Python.

Build graphs of variables with :mod:`symgraph.tensor` (``import symgraph.tensor as st``),
compile them with :func:`function`, and call the result like a Python function.
"""

__version__ = "0.1.0"

from symgraph.configdefaults import config
from symgraph import graph
from symgraph.graph import Apply, Constant, FunctionGraph, Op, Type, Variable, clone_replace, graph_replace
from symgraph import tensor
from symgraph.gradient import Lop, Rop, grad, hessian, hessian_vector_product, jacobian, verify_grad
from symgraph.compile import (
    FAST_COMPILE, FAST_RUN, Function, In, Mode, OpFromGraph, Out, ProfileStats, SharedVariable, function, get_mode,
    shared,
)
from symgraph.printing import debugprint, dprint, pp, pprint

__all__ = [
    "__version__", "config", "graph", "tensor",
    "Apply", "Constant", "FunctionGraph", "Op", "Type", "Variable", "clone_replace", "graph_replace",
    "grad", "Lop", "Rop", "jacobian", "hessian", "hessian_vector_product", "verify_grad",
    "function", "Function", "In", "Out", "Mode", "FAST_RUN", "FAST_COMPILE", "get_mode",
    "shared", "SharedVariable", "OpFromGraph", "ProfileStats",
    "debugprint", "dprint", "pprint", "pp",
]
