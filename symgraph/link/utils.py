"""Helpers shared by linkers: runtime error reports.

:func:`raise_with_op` turns an exception raised while a node runs into one that tells the
user which node failed, on what values, and where their code built that node. (Which
results may share memory is worked out in :mod:`symgraph.graph.aliasing`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.utils import format_trace

__all__ = ["raise_with_op", "node_error_details"]

# Values with at most this many elements are printed in error reports; bigger ones are not,
# so a report stays readable when the failing arrays are large.
_MAX_SHOWN_ELEMENTS = 8


def _describe_value(value: Any) -> tuple[str, str, str | None]:
    """``(shape, dtype, short repr or None)`` of a runtime value, for error reports."""
    if value is None:
        return "None", "None", None
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    shape_text = str(tuple(shape)) if shape is not None else "no shape"
    dtype_text = str(dtype) if dtype is not None else type(value).__name__
    shown = None
    size = getattr(value, "size", None)
    if isinstance(value, (np.ndarray, np.generic)):
        if size is not None and size <= _MAX_SHOWN_ELEMENTS:
            shown = repr(value)
    elif isinstance(value, (bool, int, float, complex, str)):
        shown = repr(value)[:80]
    return shape_text, dtype_text, shown


def node_error_details(
    fgraph: Any,
    node: Apply,
    thunk: Any = None,
    storage_map: Mapping[Variable, list] | None = None,
) -> str:
    """The report appended to an exception raised while running ``node``.

    It names the op, the node, its position in the execution order, the types of its
    inputs, the shapes and dtypes of the values it was given, and where user code created it.
    """
    lines = [f"Op: {node.op}", f"Apply node that caused the error: {node}"]
    order = None
    if fgraph is not None:
        try:
            order = fgraph.toposort().index(node)
        except (ValueError, AttributeError):
            order = None
    if order is not None:
        lines.append(f"Toposort index: {order}")
    lines.append(f"Inputs types: [{', '.join(str(i.type) for i in node.inputs)}]")
    cells = getattr(thunk, "inputs", None)
    if cells is None and storage_map is not None:
        cells = [storage_map.get(i) for i in node.inputs]
    if cells is not None:
        described = [_describe_value(c[0] if c is not None else None) for c in cells]
        lines.append(f"Inputs shapes: [{', '.join(d[0] for d in described)}]")
        lines.append(f"Inputs dtypes: [{', '.join(d[1] for d in described)}]")
        if any(d[2] is not None for d in described):
            shown = ", ".join(d[2] if d[2] is not None else "<not shown>" for d in described)
            lines.append(f"Inputs values: [{shown}]")
    if fgraph is not None and getattr(fgraph, "clients", None) is not None:
        clients = []
        for out in node.outputs:
            clients.append("[" + ", ".join(_client_text(c) for c in fgraph.clients.get(out, ())) + "]")
        lines.append(f"Outputs clients: [{', '.join(clients)}]")
    trace = format_trace(getattr(node.outputs[0].tag, "trace", None)) if node.outputs else ""
    if trace:
        lines.append("Backtrace when the node was created (most recent call last):")
        lines.append(trace)
    else:
        lines.append(
            "The node's creation trace is not available (config.traceback__limit may be 0, "
            "or the node was made by a rewrite)."
        )
    return "\n".join(lines)


def _client_text(client) -> str:
    node, index = client
    if node == "output":
        return f"output[{index}]"
    return str(node.op)


def raise_with_op(
    fgraph: Any,
    node: Apply,
    thunk: Any = None,
    exc_info: tuple | None = None,
    storage_map: Mapping[Variable, list] | None = None,
) -> NoReturn:
    """Re-raise the exception in ``exc_info`` with a report about ``node`` appended.

    The new exception has the original's class when that class can be built from a single
    message string, else that of its nearest base class that can (NumPy's
    ``_ArrayMemoryError`` becomes a ``MemoryError``, so ``except MemoryError`` still
    catches it), else it is a ``RuntimeError``. Either way it is chained ``from`` the
    original, whose traceback (into the op's code) stays available. Attributes
    ``symgraph_node`` and ``symgraph_original`` on the new exception give the failing node
    and the original exception.
    """
    if exc_info is None:
        import sys

        exc_info = sys.exc_info()
    exc_type, exc_value, _ = exc_info
    if exc_value is None:
        raise RuntimeError(f"raise_with_op called without an exception for node {node}")
    details = node_error_details(fgraph, node, thunk, storage_map)
    original = str(exc_value)
    message = f"{original}\n{details}" if original else details
    new_exc: BaseException | None = None
    for klass in exc_type.__mro__:
        if not (isinstance(klass, type) and issubclass(klass, BaseException)) or klass in (BaseException, Exception):
            break
        try:
            new_exc = klass(message if klass is exc_type else f"{exc_type.__name__}: {message}")
        except Exception:
            continue
        if isinstance(new_exc, BaseException):
            break
        new_exc = None
    if not isinstance(new_exc, BaseException):
        new_exc = RuntimeError(f"{exc_type.__name__}: {message}")
    try:
        new_exc.symgraph_node = node
        new_exc.symgraph_original = exc_value
    except AttributeError:  # exception classes with __slots__
        pass
    raise new_exc from exc_value
