"""The graph core: variables, nodes, types, ops, function graphs and graph utilities."""

from symgraph.graph.basic import (
    Apply,
    Constant,
    Variable,
    ancestors,
    applys_between,
    clone,
    clone_get_equiv,
    graph_inputs,
    io_toposort,
    rebuild_graph,
    toposort,
    vars_between,
)
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.null_type import (
    DisconnectedType,
    NullType,
    disconnected_type,
    grad_not_implemented,
    grad_undefined,
)
from symgraph.graph.op import (
    HasInnerGraph,
    Op,
    compute_test_value,
    get_test_value,
    get_test_values,
    missing_test_message,
)
from symgraph.graph.replace import clone_replace, graph_replace
from symgraph.graph.type import GenericType, Type, generic
from symgraph.graph.utils import (
    InconsistencyError,
    MethodNotDefined,
    MissingInputError,
    TestValueError,
    add_tag_trace,
)

__all__ = [
    "Apply", "Constant", "Variable", "ancestors", "applys_between", "clone", "clone_get_equiv",
    "graph_inputs", "io_toposort", "rebuild_graph", "toposort", "vars_between", "FunctionGraph",
    "HasInnerGraph", "Op", "compute_test_value", "get_test_value", "get_test_values",
    "missing_test_message", "clone_replace", "graph_replace", "GenericType", "Type", "generic",
    "DisconnectedType", "NullType", "disconnected_type", "grad_not_implemented", "grad_undefined",
    "InconsistencyError", "MethodNotDefined", "MissingInputError", "TestValueError", "add_tag_trace",
]
