"""The ``'c'`` linker (C regions, Python elsewhere) and the ``'check'`` linker.

:class:`CVMLinker` is the :class:`~symgraph.link.vm.VMLinker` with one change: instead of a
thunk per node, it asks every node for C (:func:`symgraph.link.c.region.node_c_code`),
clusters the C-capable nodes into regions (:func:`~symgraph.link.c.region.plan_units`),
generates ONE extension module for all regions, compiles it once (through the
content-addressed cache) and runs each region as one thunk. Nodes without C run their
Python thunks between regions. Cells, garbage collection, ``no_recycling`` and error
reports naming the node and the user's line are the VM's.

:class:`CheckLinker` (``sg.Mode(linker="check")``) makes each C-capable node its own region,
runs it, then runs the node's Python thunk on the same inputs and raises
:class:`CheckError` on the first mismatch.
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import Any, Callable

import numpy as np

from symgraph.configdefaults import config
from symgraph.link.c.ops_blas import numpy_thread_pool
from symgraph.link.c.build import DEFAULT_FLAGS, CompileError, compile_extension, openmp_flags, toolchain_problem
from symgraph.link.c.elemwise_codegen import link_libraries
from symgraph.link.c.region import Region, generate_module, node_c_code, plan_units
from symgraph.link.vm import VMLinker

__all__ = ["CVMLinker", "CheckLinker", "CheckError", "CFallbackWarning"]


class CFallbackWarning(RuntimeWarning):
    """Generated C failed to compile (or a node's C generator crashed); Python runs instead.

    This signals a bug in a C generator (it should have refused the node), so it is a
    warning rather than a silent fallback.
    """


class CheckError(AssertionError):
    """The CHECK linker found a node whose C result differs from its Python result."""


_warned_toolchain: list[str] = []


def _warn_fallback(message: str) -> None:
    # stacklevel 5: the user's sg.function call (linker -> VM -> FunctionMaker -> function)
    warnings.warn(message, CFallbackWarning, stacklevel=5)


class CVMLinker(VMLinker):
    """The ``'c'`` linker: C regions where nodes have C, Python thunks elsewhere.

    Attributes
    ----------
    fallback_reasons
        Node -> why it runs in Python, for nodes whose C generator crashed or whose module
        failed to compile in the last :meth:`make_vm`.
    module
        The extension module of the last :meth:`make_vm` (None without regions).
    source
        Its C source.
    openmp
        Whether it was built with OpenMP (``config.parallel`` is ``"openmp"``, or ``"auto"``
        without NumPy's OpenBLAS thread pool; never when it calls BLAS).
    """

    name = "c"
    single_node_regions = False

    def __init__(self, allow_gc: bool | None = None):
        super().__init__(allow_gc=allow_gc)
        self.fallback_reasons: dict[Any, str] = {}
        self.module = None
        self.source = ""
        self.openmp = False

    def _node_codes(self, nodes: list) -> dict:
        codes = {}
        for node in nodes:
            try:
                nc = node_c_code(node)
            except Exception as exc:  # noqa: BLE001 - a generator bug must not break compiling
                self.fallback_reasons[node] = f"C generator raised {type(exc).__name__}: {exc}"
                _warn_fallback(
                    f"symgraph C linker: generating C for node {node} (op {node.op}) raised "
                    f"{type(exc).__name__}: {exc}; the node runs in Python"
                )
                continue
            if nc is not None:
                codes[node] = nc
        return codes

    def make_thunks(self, nodes: list, storage_map: dict) -> list[tuple[Callable[[], None], list, str]]:
        self.fallback_reasons = {}
        self.module = None
        problem = toolchain_problem()
        if problem is not None:
            if not _warned_toolchain:
                _warned_toolchain.append(problem)
                _warn_fallback(f"symgraph: generated C is unavailable ({problem}); functions run in Python")
            return super().make_thunks(nodes, storage_map)
        codes = self._node_codes(nodes)
        units, module, slots = self._compile(nodes, codes)
        if module is None and any(nc.impl is node.op for node, nc in codes.items()):
            # An op's own c_code (a user op, perhaps written for PyTensor's C API) may be what
            # failed: keep the built-in C and run those ops in Python.
            codes = {node: nc for node, nc in codes.items() if nc.impl is not node.op}
            units, module, slots = self._compile(nodes, codes)
            if module is not None:
                for node in codes:
                    self.fallback_reasons.pop(node, None)
        self.module = module
        result = []
        k = 0
        for unit in units:
            if isinstance(unit, Region) and module is not None:
                thunk = self._region_thunk(module, k, unit, slots[k], storage_map)
                k += 1
                result += self._wrap_region(thunk, unit, storage_map)
            else:
                for node in unit.nodes if isinstance(unit, Region) else [unit]:
                    result += super().make_thunks([node], storage_map)
        return result

    def _compile(self, nodes: list, codes: dict) -> tuple[list, Any, list]:
        """Plan the units for ``codes`` and compile their module: (units, module or None,
        workspace slots per region). A compile failure warns and leaves the module None."""
        units = plan_units(
            nodes, set(codes), list(self.fgraph.outputs), self.single_node_regions, self.fgraph.orderings()
        )
        regions = [u for u in units if isinstance(u, Region)]
        if not regions:
            return units, None, []
        source, kernels, name, slots = generate_module(regions, codes)
        # for reading and for tests: the module, then its kernels unit (compiled separately
        # or appended: build.split_units)
        self.source = source + kernels
        try:
            # OpenMP only where NumPy's OpenBLAS pool is not used (config.parallel, sg_par_for)
            # and never in modules calling BLAS: OpenMP's spinning threads and OpenBLAS's
            # take the cores from each other (W4 became several times slower).
            pool = config.parallel == "auto" and numpy_thread_pool() is not None
            use_omp = (
                config.parallel != "off" and not pool and "sg_par_for(" in source and '"sg_blas.h"' not in source
            )
            flags = DEFAULT_FLAGS + (openmp_flags() if use_omp else ())
            self.openmp = bool(use_omp and openmp_flags())
            libraries = link_libraries(source + kernels)
            return units, compile_extension(source, name, libraries, flags, kernels), slots
        except CompileError as exc:
            for region in regions:
                for node in region.nodes:
                    self.fallback_reasons[node] = f"compilation failed: {exc}"
            _warn_fallback(
                f"symgraph C linker: the generated module failed to compile; its nodes run in "
                f"Python instead:\n{exc}"
            )
            return units, None, slots

    @staticmethod
    def _region_thunk(module: Any, k: int, region: Region, nslots: int, storage_map: dict) -> Callable[[], None]:
        fn = getattr(module, f"region_{k}")
        in_cells = tuple(storage_map[v] for v in region.inputs)
        out_cells = tuple(storage_map[v] for v in region.outputs)
        workspace = module.new_workspace(nslots)
        thunk = functools.partial(fn, workspace, in_cells, out_cells)
        thunk.region = region
        # profiling: time_nodes(float64 vector or None) makes the region time its nodes
        thunk.time_nodes = functools.partial(module.time_nodes, workspace)
        thunk.module = module
        thunk.fresh_outputs = True  # the region stores a new array into each output cell
        return thunk

    def _wrap_region(self, thunk: Callable[[], None], region: Region, storage_map: dict) -> list:
        return [(thunk, list(region.nodes), "c")]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(allow_gc={self.allow_gc!r})"


def _same(c_value: Any, py_value: Any, dtype: np.dtype) -> bool:
    a = np.asarray(c_value)
    b = np.asarray(py_value)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        tol = 1e-5 if np.dtype(dtype).itemsize <= 4 else 1e-10
        return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
    return bool(np.array_equal(a, b))


class CheckLinker(CVMLinker):
    """The CHECK mode's linker: every C node runs in C and in Python; results must agree."""

    name = "check"
    single_node_regions = True

    def _wrap_region(self, thunk: Callable[[], None], region: Region, storage_map: dict) -> list:
        (node,) = region.nodes
        # The Python thunk reads the same input cells and writes private output cells, except
        # for inputs the node overwrites (destroy_map): it gets copies of those taken before
        # the C code runs, else it would apply the update a second time to C's result.
        destroyed = sorted({i for ins in (getattr(node.op, "destroy_map", None) or {}).values() for i in ins})
        private = {v: storage_map[v] for v in node.inputs}
        for i in destroyed:
            private[node.inputs[i]] = [None]
        private.update({v: [None] for v in node.outputs})
        py_thunk = node.op.make_thunk(node, private, None, [])
        out_cells = [storage_map[v] for v in node.outputs]

        def check() -> None:
            for i in destroyed:
                var = node.inputs[i]
                private[var][0] = copy.deepcopy(storage_map[var][0])
            thunk()
            py_thunk()
            for o, var in enumerate(node.outputs):
                c_value = out_cells[o][0]
                if c_value is None:  # output unused by the graph: the region did not export it
                    continue
                py_value = private[var][0]
                dtype = getattr(var.type, "dtype", None)
                same = var.type.values_eq(c_value, py_value) if dtype is None else _same(c_value, py_value, dtype)
                if not same:
                    raise CheckError(
                        f"CHECK mode: output {o} of node {node} differs between C and Python\n"
                        f"C:      {np.asarray(c_value)!r}\nPython: {np.asarray(py_value)!r}"
                    )

        check.region = region
        return [(check, [node], "c")]
