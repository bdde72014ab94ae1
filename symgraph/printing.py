"""Readable renderings of graphs.

:func:`debugprint` (alias :func:`dprint`) draws a graph as a tree, one line per variable,
modelled on PyTensor's ``debugprint``::

    Add [id A] 'out'
     ├─ x [id B]
     └─ Mul [id C]
        ├─ y [id D]
        └─ 2.0 [id E]

Every node gets an id (``[id A]``); a node met a second time is printed again as its line
alone, without its inputs, so shared subgraphs are visible and printed once.

:func:`pprint` (alias :func:`pp`) gives a one-line, math-like expression such as
``(x + (y * 2.0))``. It is table-driven: elementwise ops are looked up by their scalar
op's name (``add``, ``mul``...), other ops by class name, and anything unknown prints as
``OpName(arg, ...)``. :func:`register_pprint` adds entries.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any, TextIO

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import HasInnerGraph

__all__ = ["debugprint", "dprint", "pprint", "pp", "register_pprint", "char_from_number"]


# --------------------------------------------------------------------------- ids


def char_from_number(number: int) -> str:
    """The letter id of ``number``: 0 -> ``A``, 25 -> ``Z``, 26 -> ``BA`` (base 26, A = 0)."""
    letters = []
    while True:
        number, digit = divmod(number, 26)
        letters.append(chr(ord("A") + digit))
        if number == 0:
            return "".join(reversed(letters))


class _Ids:
    """Hands out ids in order of first appearance. Outputs of one node share the node's id."""

    def __init__(self, style: str):
        if style not in ("CHAR", "id", "int", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'id', 'int' or '', got {style!r}")
        self.style = style
        self._ids: dict[Any, str] = {}

    def __call__(self, obj: Any) -> str:
        if isinstance(obj, Variable) and obj.owner is not None:
            obj = obj.owner
        if self.style == "":
            return ""
        text = self._ids.get(obj)
        if text is None:
            n = len(self._ids)
            if self.style == "CHAR":
                text = char_from_number(n)
            elif self.style == "int":
                text = str(n)
            else:
                text = str(id(obj))
            self._ids[obj] = text
        return f" [id {text}]"


# --------------------------------------------------------------------------- debugprint


class _Printer:
    """State of one :func:`debugprint` call: ids, expanded nodes, pending inner graphs."""

    def __init__(self, out: TextIO, depth: int, print_type: bool, ids: str, stop_on_name: bool,
                 print_destroy_map: bool, print_view_map: bool):
        self.out = out
        self.depth = depth
        self.print_type = print_type
        self.ids = _Ids(ids)
        self.stop_on_name = stop_on_name
        self.print_destroy_map = print_destroy_map
        self.print_view_map = print_view_map
        self.expanded: set[Apply] = set()
        self.inner_ops: list[Apply] = []  # first node of each op with an inner graph, in order met
        self._inner_seen: set[int] = set()  # ids of those ops

    def write(self, line: str) -> None:
        self.out.write(line.rstrip() + "\n")

    # ---------------------------------------------------------------- one line

    def describe(self, var: Variable, topo: dict | None, labels: dict | None) -> str:
        """The text of ``var``'s line (without the tree prefix)."""
        type_str = f" <{var.type}>" if self.print_type else ""
        if labels is not None and var in labels:
            return f"{labels[var]}{self.ids(var)}{type_str}"
        node = var.owner
        if node is None:
            return f"{var}{self.ids(var)}{type_str}"
        op = node.op
        text = str(op)
        if len(node.outputs) > 1:
            text += f".{var.index}"
        text += self.ids(var) + type_str
        if var.name is not None:
            text += f" '{var.name}'"
        if self.print_destroy_map and getattr(op, "destroy_map", None):
            text += f" d={_map_str(op.destroy_map)}"
        if self.print_view_map and getattr(op, "view_map", None):
            text += f" v={_map_str(op.view_map)}"
        if topo is not None and node in topo:
            text += f" {topo[node]}"
        if isinstance(op, HasInnerGraph) and id(op) not in self._inner_seen:
            self._inner_seen.add(id(op))
            self.inner_ops.append(node)
        return text

    def ref(self, var: Variable) -> str:
        """A short reference to ``var``: its op (or name/value) and id, without extras."""
        node = var.owner
        if node is None:
            return f"{var}{self.ids(var)}"
        index = f".{var.index}" if len(node.outputs) > 1 else ""
        name = f" '{var.name}'" if var.name is not None else ""
        return f"{node.op}{index}{self.ids(var)}{name}"

    # ---------------------------------------------------------------- trees

    def tree(self, var: Variable, first_prefix: str = "", child_prefix: str = " ",
             topo: dict | None = None, labels: dict | None = None) -> None:
        """Print ``var`` and (once per node) the tree of its inputs, without recursion."""
        stack = [(var, first_prefix, child_prefix, 1)]
        while stack:
            v, prefix, kids_prefix, level = stack.pop()
            self.write(prefix + self.describe(v, topo, labels))
            node = v.owner
            if node is None or (labels is not None and v in labels):
                continue
            if node in self.expanded:
                continue
            if self.depth >= 0 and level >= self.depth:
                continue
            if self.stop_on_name and level > 1 and v.name is not None:
                continue
            self.expanded.add(node)
            children = list(node.inputs)
            for i in range(len(children) - 1, -1, -1):
                last = i == len(children) - 1
                stack.append(
                    (
                        children[i],
                        kids_prefix + ("└─ " if last else "├─ "),
                        kids_prefix + ("   " if last else "│  "),
                        level + 1,
                    )
                )

    def inner_graphs(self) -> None:
        """Print the inner graph of every op met that has one, once per op (nested ones included)."""
        if not self.inner_ops:
            return
        self.write("")
        self.write("Inner graphs:")
        done = 0
        while done < len(self.inner_ops):
            node = self.inner_ops[done]
            done += 1
            op = node.op
            self.write("")
            self.write(f"{op}{self.ids(node.outputs[0])}")
            labels = {inp: f"*{i}-{inp}" for i, inp in enumerate(op.inner_inputs)}
            for out in op.inner_outputs:
                self.tree(out, " ← ", "    ", labels=labels)

    # ---------------------------------------------------------------- function graphs

    def fgraph(self, fgraph: FunctionGraph, shared: set, values: dict) -> None:
        topo = {node: i for i, node in enumerate(fgraph.toposort())}
        for out in fgraph.outputs:
            self.tree(out, topo=topo)
        explicit = [v for v in fgraph.inputs if v not in shared]
        implicit = [v for v in fgraph.inputs if v in shared]
        self.write("")
        self.write("Inputs:")
        if not explicit:
            self.write(" (none)")
        for i, inp in enumerate(explicit):
            self.write(f" {i}: {self.describe(inp, None, None)}")
        if implicit:
            self.write("Shared values:")
            for var in implicit:
                value = values.get(var, _NO_VALUE)
                shown = "" if value is _NO_VALUE else f" = {_short(value)}"
                self.write(f" {self.describe(var, None, None)}{shown}")
        updates = getattr(fgraph, "update_mapping", None) or {}
        if updates:
            self.write("Updates:")
            for out_idx, in_idx in sorted(updates.items()):
                target = fgraph.inputs[in_idx]
                source = fgraph.outputs[out_idx]
                self.write(f" {self.ref(target)} <- {self.ref(source)}")
        for flag, attr, title, verb in (
            (self.print_destroy_map, "destroy_map", "Destroy map:", "overwrites"),
            (self.print_view_map, "view_map", "View map:", "is a view of"),
        ):
            if not flag:
                continue
            self.write(title)
            found = False
            for node in fgraph.toposort():
                for o_idx, i_idxs in sorted((getattr(node.op, attr, None) or {}).items()):
                    for i_idx in i_idxs:
                        found = True
                        inp = node.inputs[i_idx]
                        self.write(
                            f" {self.ref(node.outputs[o_idx])}: output {o_idx} {verb} "
                            f"input {i_idx} ({self.ref(inp)})"
                        )
            if not found:
                self.write(" (none)")


_NO_VALUE = object()


def _map_str(mapping: dict) -> str:
    return "{" + ", ".join(f"{k}: {list(v)}" for k, v in sorted(mapping.items())) + "}"


def _short(value: Any, limit: int = 60) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shared_info(fn: Any, fgraph: FunctionGraph) -> tuple[set, dict]:
    """Which inputs of ``fgraph`` hold shared values, and their current values if known."""
    try:
        from symgraph.compile.sharedvalue import SharedVariable
    except ImportError:  # pragma: no cover - the compile layer is always installed
        SharedVariable = None
    shared: set = set()
    values: dict = {}
    maker = getattr(fn, "maker", None)
    specs = list(getattr(maker, "inputs", None) or [])
    for i, var in enumerate(fgraph.inputs):
        spec = specs[i] if i < len(specs) else None
        original = getattr(spec, "variable", None)
        is_shared = bool(getattr(spec, "shared", False))
        for candidate in (var, original):
            if isinstance(SharedVariable, type) and isinstance(candidate, SharedVariable):
                is_shared = True
                try:
                    values[var] = candidate.get_value(borrow=True)
                except Exception:  # pragma: no cover - a broken container still prints
                    pass
                break
        if is_shared:
            shared.add(var)
    return shared, values


def _collect(obj: Any, items: list) -> None:
    if isinstance(obj, (Variable, Apply, FunctionGraph)):
        items.append(obj)
    elif hasattr(obj, "maker") and isinstance(getattr(obj.maker, "fgraph", None), FunctionGraph):
        items.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _collect(item, items)
    else:
        raise TypeError(
            "debugprint: expected a Variable, an Apply node, a FunctionGraph, a compiled function "
            f"or a list of them, got {type(obj).__name__}"
        )


def debugprint(
    obj: Any,
    depth: int = -1,
    print_type: bool = False,
    file: TextIO | str | None = None,
    ids: str = "CHAR",
    stop_on_name: bool = False,
    print_destroy_map: bool = False,
    print_view_map: bool = False,
):
    """Print a graph as a tree of its variables, one line each.

    Parameters
    ----------
    obj
        A :class:`~symgraph.graph.basic.Variable`, an :class:`~symgraph.graph.basic.Apply`
        (all its outputs are printed), a :class:`~symgraph.graph.fg.FunctionGraph`, a compiled
        function (anything with ``.maker.fgraph``: the graph that runs is printed), or a
        list/tuple mixing these.
    depth
        How many levels to print (``1``: the outputs alone); ``-1`` for no limit.
    print_type
        Append each variable's type as ``<type>``.
    file
        Where to write: ``None`` for ``sys.stdout``, ``"str"`` to return the text, or any
        object with a ``write`` method.
    ids
        ``"CHAR"`` (``[id A]``, ``[id B]``... ``[id Z]``, ``[id BA]``), ``"int"``
        (``[id 0]``...), ``"id"`` (Python ``id`` of the node or variable) or ``""`` (none).
        Outputs of one node share its id.
    stop_on_name
        Do not print the inputs of named variables (below the top level).
    print_destroy_map, print_view_map
        Append an op's ``destroy_map``/``view_map`` as ``d={...}``/``v={...}``; for function
        graphs and functions, also list them in a section at the end.

    A line reads ``<op>[.<output index>] [id X] [<type>] ['name'] [d=..] [v=..] [<position>]``
    for a computed variable (``position`` is the node's place in the execution order, shown
    for function graphs and functions), and ``<name or value> [id X] [<type>]`` for a root.
    A node already printed is printed again as that line only. Function graphs and
    functions are followed by their inputs, shared values and updates; ops with an inner
    graph (e.g. ``OpFromGraph``) by an "Inner graphs:" section.

    Returns the text when ``file="str"``, otherwise the file written to.
    """
    items: list = []
    _collect(obj, items)
    if file == "str":
        out: TextIO = io.StringIO()
    elif file is None:
        out = sys.stdout
    else:
        out = file
    printer = _Printer(out, depth, print_type, ids, stop_on_name, print_destroy_map, print_view_map)
    for item in items:
        if isinstance(item, Variable):
            printer.tree(item)
        elif isinstance(item, Apply):
            for output in item.outputs:
                printer.tree(output)
        else:
            fgraph = item if isinstance(item, FunctionGraph) else item.maker.fgraph
            shared, values = _shared_info(None if item is fgraph else item, fgraph)
            printer.fgraph(fgraph, shared, values)
    printer.inner_graphs()
    if file == "str":
        return out.getvalue()
    if hasattr(out, "flush"):
        out.flush()
    return out


dprint = debugprint


# --------------------------------------------------------------------------- pprint

#: Infix binary operators: key -> symbol. Keys are scalar op names (elementwise ops) or op
#: class names (as written or in snake_case: ``TrueDiv`` matches ``true_div``).
PPRINT_INFIX: dict[str, str] = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "true_div": "/",
    "int_div": "//",
    "floor_div": "//",
    "mod": "%",
    "pow": "**",
    "eq": "==",
    "neq": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "and_": "&",
    "or_": "|",
    "xor": "^",
}

#: Prefix unary operators: key -> symbol.
PPRINT_PREFIX: dict[str, str] = {"neg": "-", "invert": "~"}

Printer = Callable[[Variable, list], str]

# Custom printers: key (an op class, a class name or a scalar op name) -> printer(var, args).
_CUSTOM: dict[Any, Printer] = {}


def register_pprint(key: Any, printer: Printer | str) -> None:
    """Make :func:`pprint` print the outputs of nodes matching ``key`` with ``printer``.

    ``key`` is an Op class or class name (subclasses match too), or a scalar op name for
    elementwise ops. ``printer`` is a callable receiving the variable and its inputs' texts
    and returning the text, or an infix symbol such as ``"+"``.
    """
    if isinstance(printer, str):
        symbol = printer

        def printer(var, args):
            return "(" + f" {symbol} ".join(args) + ")"

    _CUSTOM[key] = printer


def _snake(name: str) -> str:
    """``TrueDiv`` -> ``true_div``."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _dimshuffle_printer(var: Variable, args: list) -> str:
    """Broadcasting dimshuffles are implicit in infix notation; a full transpose is ``.T``."""
    op = var.owner.op
    order = tuple(getattr(op, "new_order", ()))
    ndim = getattr(op, "input_ndim", None)
    kept = [d for d in order if d != "x"]
    if ndim is not None and kept == list(range(ndim)):
        return args[0]
    if ndim is not None and ndim >= 2 and order == tuple(range(ndim - 1, -1, -1)):
        arg = args[0]
        return f"{arg}.T" if var.owner.inputs[0].owner is None or arg.startswith("(") else f"({arg}).T"
    return f"{op}({args[0]})"


register_pprint("DimShuffle", _dimshuffle_printer)


def _format_node(var: Variable, args: list) -> str:
    node = var.owner
    op = node.op
    scalar_op = getattr(op, "scalar_op", None)
    if scalar_op is not None:
        keys = [str(getattr(scalar_op, "name", _snake(type(scalar_op).__name__)))]
    else:
        keys = []
        for cls in type(op).__mro__:
            keys.extend((cls, cls.__name__, _snake(cls.__name__)))
    text = None
    for key in keys:
        if key in _CUSTOM:
            text = _CUSTOM[key](var, args)
        elif isinstance(key, str) and key in PPRINT_INFIX and len(args) >= 2:
            text = "(" + f" {PPRINT_INFIX[key]} ".join(args) + ")"
        elif isinstance(key, str) and key in PPRINT_PREFIX and len(args) == 1:
            symbol, arg = PPRINT_PREFIX[key], args[0]
            text = f"{symbol}({arg})" if arg.startswith(symbol) else f"{symbol}{arg}"
        if text is not None:
            break
    if text is None:
        name = keys[0] if scalar_op is not None else str(op)
        text = f"{name}({', '.join(args)})"
    if len(node.outputs) > 1:
        text = f"{text}[{var.index}]"
    return text


def pprint(var: Variable | list | tuple) -> str | list:
    """A one-line, math-like rendering of ``var`` (a list or tuple gives a list of strings).

    Root variables print as their name (or value, for constants). Operations found in the
    tables print as fully parenthesised infix expressions (``(x + (y * 2.0))``) or prefix
    ones (``-x``); other elementwise ops as ``name(args)`` (``exp(x)``); broadcasting
    dimshuffles are left implicit and a full transpose is ``x.T``; any other op prints as
    ``str(op)(args)``. The k-th output of a multi-output node reads ``...[k]``. Shared
    subexpressions are printed each time they are used.
    """
    if isinstance(var, (list, tuple)):
        return [pprint(v) for v in var]
    if not isinstance(var, Variable):
        raise TypeError(f"pprint expects a Variable, got {type(var).__name__}")
    done: dict[Variable, str] = {}
    stack: list[tuple[Variable, bool]] = [(var, False)]
    while stack:  # post-order without recursion, so deep graphs print too
        v, ready = stack.pop()
        if v in done:
            continue
        if v.owner is None:
            done[v] = str(v)
        elif ready:
            done[v] = _format_node(v, [done[i] for i in v.owner.inputs])
        else:
            stack.append((v, True))
            stack.extend((i, False) for i in reversed(v.owner.inputs) if i not in done)
    return done[var]


pp = pprint
