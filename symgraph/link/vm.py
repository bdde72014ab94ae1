"""The Python linker: run a FunctionGraph's thunks in order over shared storage cells.

Every variable of the graph gets a *cell*, a one-element list. A node's thunk reads its
inputs' cells and writes its outputs' cells; the caller fills the input cells, calls the
:class:`VM`, and reads the output cells. Around that loop the VM

- frees intermediate results right after their last reader ran (``allow_gc``), so a long
  chain of large temporaries does not stay in memory;
- empties the ``no_recycling`` cells before each run, so no op writes into an array an
  earlier call handed to the user (ops may reuse the array found in an output cell);
- turns any exception raised by a thunk into one naming the node, its input values and the
  user's line that built it (:func:`symgraph.link.utils.raise_with_op`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from symgraph.configdefaults import config
from symgraph.graph.basic import Constant, Variable
from symgraph.link.utils import raise_with_op

__all__ = ["VM", "VMLinker", "LINKERS"]


class VM:
    """A linked graph, ready to run: call it (or its :attr:`run`) to compute the outputs.

    Attributes
    ----------
    fgraph
        The graph it runs.
    nodes, thunks
        The apply nodes in execution order, and the thunks running them (one per node, or
        one per C region of several nodes: see ``thunk_nodes``).
    thunk_nodes
        Per thunk, the list of nodes it runs.
    storage_map
        Variable -> cell for every variable of the graph.
    input_storage, output_storage
        The cells of ``fgraph.inputs`` and ``fgraph.outputs``, in order.
    no_recycling
        The cells emptied before each run.
    post_thunk_clear
        Per thunk, the cells freed once it has run (empty lists without ``allow_gc``).
    implementations
        Per node, which implementation its thunk uses: ``"py"`` or ``"c"``.
    run
        A zero-argument callable doing one run; the fastest way to call the VM. A timing
        runner replaces it after :meth:`enable_profiling` (then ``profiling`` is true).
    """

    def __init__(
        self,
        fgraph: Any,
        nodes: list,
        thunks: list,
        storage_map: dict,
        input_storage: list,
        output_storage: list,
        no_recycling: list,
        post_thunk_clear: list,
        allow_gc: bool,
        implementations: list[str] | None = None,
        thunk_nodes: list[list] | None = None,
    ):
        self.fgraph = fgraph
        self.nodes = nodes
        self.thunks = thunks
        self.storage_map = storage_map
        self.input_storage = input_storage
        self.output_storage = output_storage
        self.no_recycling = no_recycling
        self.post_thunk_clear = post_thunk_clear
        self.allow_gc = allow_gc
        self.implementations = list(implementations) if implementations is not None else ["py"] * len(nodes)
        # The nodes each thunk runs: one each, except C regions, which run several.
        self.thunk_nodes = thunk_nodes if thunk_nodes is not None else [[node] for node in nodes]
        self.run = self._make_runner()
        self.profiling = False

    def __call__(self) -> None:
        self.run()

    def _on_error(self, thunk: Any) -> None:
        """Report the exception being handled as raised by ``thunk``'s node."""
        exc_info = sys.exc_info()
        # The failing thunk is found by identity; this scan only happens on errors, which
        # keeps the success path free of index bookkeeping.
        index = next((i for i, t in enumerate(self.thunks) if t is thunk), None)
        if index is None:  # not raised by a thunk: nothing to add
            raise exc_info[1]
        nodes = self.thunk_nodes[index]
        # A C region says which of its nodes failed (the index C recorded before running it).
        position = getattr(exc_info[1], "sg_node_index", 0)
        node = nodes[position] if isinstance(position, int) and 0 <= position < len(nodes) else nodes[0]
        raise_with_op(self.fgraph, node, thunk, exc_info, self.storage_map)

    def _cells_to_clear(self) -> tuple:
        # Thunks that always store a new object into their output cells (C regions) make
        # emptying those cells beforehand pointless.
        fresh = {id(cell) for t in self.thunks if getattr(t, "fresh_outputs", False) for cell in t.args[2]}
        return tuple(cell for cell in self.no_recycling if id(cell) not in fresh)

    def enable_profiling(self, thunk_times: list, thunk_calls: list, run_totals: list) -> None:
        """Make :attr:`run` a timing runner that adds, on every run, each thunk's time (in
        seconds, ``time.perf_counter``) to ``thunk_times[i]`` and 1 to ``thunk_calls[i]``, and
        the run's time and 1 to ``run_totals[0]`` and ``run_totals[1]``.

        The lists are updated in place (their owner may zero them at any time). The untimed
        runner is kept as :attr:`untimed_run`; :meth:`disable_profiling` restores it.
        """
        n = len(self.thunks)
        if len(thunk_times) != n or len(thunk_calls) != n or len(run_totals) != 2:
            raise ValueError(f"enable_profiling: expected {n} thunk slots and 2 totals")
        if not hasattr(self, "untimed_run"):
            self.untimed_run = self.run
        self.run = self._make_timed_runner(thunk_times, thunk_calls, run_totals)
        self.profiling = True

    def disable_profiling(self) -> None:
        """Go back to the untimed runner."""
        if hasattr(self, "untimed_run"):
            self.run = self.untimed_run
        self.profiling = False

    def _make_timed_runner(self, times: list, calls: list, totals: list) -> Callable[[], None]:
        # A separate closure, so the untimed runners above keep their cost when profiling
        # is off. It handles recycling and gc in one loop: its own timer calls dominate.
        steps = tuple(enumerate(zip(self.thunks, (tuple(c) for c in self.post_thunk_clear))))
        clear_before = self._cells_to_clear()
        on_error = self._on_error
        clock = time.perf_counter

        def run_timed() -> None:
            start = clock()
            for cell in clear_before:
                cell[0] = None
            thunk = None
            try:
                for i, (thunk, clears) in steps:
                    t0 = clock()
                    thunk()
                    times[i] += clock() - t0
                    calls[i] += 1
                    for cell in clears:
                        cell[0] = None
            except Exception:
                on_error(thunk)
            finally:
                totals[0] += clock() - start
                totals[1] += 1

        run_timed.timed = True
        return run_timed

    def _make_runner(self) -> Callable[[], None]:
        # One closure per situation, so the loop does no work it does not need: this loop
        # is the whole per-call cost of the VM.
        thunks = tuple(self.thunks)
        clear_before = self._cells_to_clear()
        on_error = self._on_error
        if any(self.post_thunk_clear):
            steps = tuple(zip(thunks, (tuple(c) for c in self.post_thunk_clear)))

            def run_gc() -> None:
                for cell in clear_before:
                    cell[0] = None
                thunk = None
                try:
                    for thunk, clears in steps:
                        thunk()
                        for cell in clears:
                            cell[0] = None
                except Exception:
                    on_error(thunk)

            return run_gc

        if clear_before:

            def run_clearing() -> None:
                for cell in clear_before:
                    cell[0] = None
                thunk = None
                try:
                    for thunk in thunks:
                        thunk()
                except Exception:
                    on_error(thunk)

            return run_clearing

        if len(thunks) == 1:  # a whole graph in one C region, or one node
            (only,) = thunks

            def run_one() -> None:
                try:
                    only()
                except Exception:
                    on_error(only)

            return run_one

        def run() -> None:
            thunk = None
            try:
                for thunk in thunks:
                    thunk()
            except Exception:
                on_error(thunk)

        return run


class VMLinker:
    """The ``'py'`` linker: builds a :class:`VM` running each node's ``make_thunk`` thunk.

    Parameters
    ----------
    allow_gc
        Free intermediate results after their last use; ``None`` reads ``config.allow_gc``
        when the VM is made.

    Use: ``linker.accept(fgraph, no_recycling)`` then ``linker.make_vm(input_storage)``.
    Lazy thunks (ops evaluating their inputs on demand) are not supported yet.
    """

    name = "py"

    def __init__(self, allow_gc: bool | None = None):
        self.allow_gc = allow_gc
        self.fgraph = None
        self.no_recycling: list[Variable] = []

    def accept(self, fgraph: Any, no_recycling: Iterable[Variable] | None = None) -> "VMLinker":
        """Bind to ``fgraph``; returns a new linker if this one is already bound.

        ``no_recycling`` lists variables whose cells must be emptied before every run
        (results handed to the caller, and the computed variables they view into).
        """
        if self.fgraph is not None and self.fgraph is not fgraph:
            return type(self)(allow_gc=self.allow_gc).accept(fgraph, no_recycling)
        self.fgraph = fgraph
        self.no_recycling = list(no_recycling or ())
        return self

    def make_vm(
        self,
        input_storage: Sequence[list | None] | None = None,
        storage_map: dict | None = None,
    ) -> VM:
        """Link the accepted graph: make cells and thunks and return the :class:`VM`.

        ``input_storage`` optionally gives the cell of each graph input (``None`` entries get
        a new cell); passing a shared variable's container cell binds the VM to it.
        ``storage_map`` may pre-assign cells to other variables.
        """
        fgraph = self.fgraph
        if fgraph is None:
            raise ValueError("VMLinker.make_vm: call accept(fgraph) first")
        allow_gc = config.allow_gc if self.allow_gc is None else bool(self.allow_gc)
        nodes = fgraph.toposort()
        storage_map = dict(storage_map or {})
        inputs = list(fgraph.inputs)
        if input_storage is None:
            input_storage = [None] * len(inputs)
        if len(input_storage) != len(inputs):
            raise ValueError(f"make_vm: {len(input_storage)} input cells for {len(inputs)} graph inputs")
        for var, cell in zip(inputs, input_storage):
            storage_map[var] = cell if cell is not None else storage_map.get(var, [None])
        for node in nodes:
            for var in node.inputs:
                if var not in storage_map:
                    storage_map[var] = [var.data] if isinstance(var, Constant) else [None]
            for var in node.outputs:
                storage_map.setdefault(var, [None])
        for var in fgraph.outputs:
            if var not in storage_map:
                storage_map[var] = [var.data] if isinstance(var, Constant) else [None]

        units = self.make_thunks(nodes, storage_map)
        thunks = [thunk for thunk, _, _ in units]
        thunk_nodes = [list(covered) for _, covered, _ in units]
        nodes = [node for covered in thunk_nodes for node in covered]
        implementations = [impl for _, covered, impl in units for _ in covered]

        no_recycling_cells = []
        seen_cells: set[int] = set()
        for var in self.no_recycling:
            if var.owner is None:  # inputs and constants are never recycled
                continue
            cell = storage_map.get(var)
            if cell is not None and id(cell) not in seen_cells:
                seen_cells.add(id(cell))
                no_recycling_cells.append(cell)

        post_thunk_clear: list[list] = [[] for _ in thunks]
        if allow_gc:
            # Never free what the caller owns: inputs (their cells are bound to arguments
            # or shared containers), constants and outputs.
            keep = set(inputs)
            keep.update(fgraph.outputs)
            last_use: dict[Variable, int] = {}
            for i, covered in enumerate(thunk_nodes):
                for node in covered:
                    for var in node.outputs:
                        last_use[var] = i  # an output nobody reads is freed right away
                    for var in node.inputs:
                        if var in last_use:
                            last_use[var] = i
            for var, i in last_use.items():
                if var not in keep:
                    post_thunk_clear[i].append(storage_map[var])

        return VM(
            fgraph=fgraph,
            nodes=nodes,
            thunks=thunks,
            storage_map=storage_map,
            input_storage=[storage_map[v] for v in inputs],
            output_storage=[storage_map[v] for v in fgraph.outputs],
            no_recycling=no_recycling_cells,
            post_thunk_clear=post_thunk_clear,
            allow_gc=allow_gc,
            implementations=implementations,
            thunk_nodes=thunk_nodes,
        )

    def make_thunks(self, nodes: list, storage_map: dict) -> list[tuple[Callable[[], None], list, str]]:
        """The thunks running ``nodes`` (a toposort): ``(thunk, nodes it runs, "py"|"c")``
        each, in execution order. One per node here; the C linker groups nodes into regions."""
        units = []
        for node in nodes:
            try:
                thunk, impl = self.make_node_thunk(node, storage_map)
            except Exception as exc:
                exc.add_note(f"symgraph: raised while making the thunk of node {node} (op {node.op})")
                raise
            if getattr(thunk, "lazy", False):
                raise NotImplementedError(
                    f"the 'py' linker does not support lazy thunks yet; op {node.op} "
                    f"(node {node}) returned one"
                )
            units.append((thunk, [node], impl))
        return units

    def make_node_thunk(self, node: Any, storage_map: dict) -> tuple[Callable[[], None], str]:
        """The thunk running ``node`` over ``storage_map``'s cells, and its kind (``"py"``).

        The hook subclasses override to choose an implementation per node (the C linker
        tries generated C first).
        """
        return node.op.make_thunk(node, storage_map, None, self.no_recycling), "py"

    def __getstate__(self):
        # A linker pickles as its settings; the graph it was bound to is linked again.
        return {"allow_gc": self.allow_gc}

    def __setstate__(self, state):
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"VMLinker(allow_gc={self.allow_gc!r})"


# Linker names accepted by Mode (config.linker has its own, narrower list of choices).
LINKERS: dict[str, Any] = {"py": VMLinker}


def _register_c_linker() -> None:
    # Imported lazily by name so that importing the VM never pulls in cffi; the class is
    # resolved on first use through _LazyLinker.
    LINKERS["c"] = _LazyLinker("symgraph.link.c.linker", "CVMLinker")
    LINKERS["check"] = _LazyLinker("symgraph.link.c.linker", "CheckLinker")


class _LazyLinker:
    """A LINKERS entry that imports its linker class only when a linker is made."""

    def __init__(self, module: str, name: str):
        self.module = module
        self.name = name

    def resolve(self) -> type:
        import importlib

        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> "VMLinker":
        return self.resolve()(*args, **kwargs)


_register_c_linker()
