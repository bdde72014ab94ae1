"""The opt-in ``'c'`` linker: generated C for the nodes that have it, Python for the rest.

:class:`CVMLinker` is the :class:`~symgraph.link.vm.VMLinker` with one change: for every node
it first tries :func:`symgraph.link.c.elemwise_codegen.make_c_thunk` (one compiled module per
elementwise node, ``Elemwise`` of a scalar-table row or of a fused ``Composite``), and when the
node is outside what the C code generator handles (it raises ``NotImplementedError``) it uses
the op's own Python thunk. Everything else -- cells, garbage collection, ``no_recycling``,
error reports naming the node and the user's line -- is the VM's, so the two kinds of thunks
mix freely in one run.

Which implementation each node got is recorded on the VM (``vm.implementations``) and
exposed as :meth:`symgraph.compile.function.Function.implementations`. Why a node fell back
to Python is kept in :attr:`CVMLinker.fallback_reasons` (useful when a node one expected in C
is not).

This is the per-node stage of issue #5's linker (which will emit one C function per maximal
C region). Nothing selects it by default: use ``sg.Mode(linker='c')``.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

from symgraph.link.c.build import CompileError
from symgraph.link.c.elemwise_codegen import make_c_thunk
from symgraph.link.vm import VMLinker
from symgraph.tensor.elemwise import Elemwise

__all__ = ["CVMLinker", "CFallbackWarning"]


class CFallbackWarning(RuntimeWarning):
    """A node the C generator accepted failed to compile; it runs in Python instead.

    This signals a bug in the generated code (the generator should have refused the node),
    so it is a warning rather than a silent fallback.
    """


class CVMLinker(VMLinker):
    """The ``'c'`` linker: a VM whose thunks are compiled C where possible (see module doc).

    Parameters
    ----------
    allow_gc
        As for :class:`~symgraph.link.vm.VMLinker`.

    Attributes
    ----------
    fallback_reasons
        Node -> why it runs in Python, for the nodes of the last :meth:`make_vm` that were
        tried in C and refused (nodes that are not elementwise are not listed: they have no
        C yet by design).
    """

    name = "c"

    def __init__(self, allow_gc: bool | None = None):
        super().__init__(allow_gc=allow_gc)
        self.fallback_reasons: dict[Any, str] = {}

    def make_vm(self, input_storage=None, storage_map=None):
        self.fallback_reasons = {}
        return super().make_vm(input_storage, storage_map)

    def make_node_thunk(self, node: Any, storage_map: dict) -> tuple[Callable[[], None], str]:
        """Generated C for elementwise nodes the generator supports, else the Python thunk."""
        if isinstance(node.op, Elemwise):
            try:
                return make_c_thunk(node, storage_map, None, self.no_recycling), "c"
            except NotImplementedError as exc:
                # The normal way out: a dtype, row or helper the generator does not cover.
                self.fallback_reasons[node] = str(exc)
            except CompileError as exc:
                # The generator accepted the node but gcc rejected its code: keep the
                # function working, and say so loudly.
                self.fallback_reasons[node] = f"compilation failed: {exc}"
                warnings.warn(
                    f"symgraph C linker: node {node} (op {node.op}) failed to compile and runs "
                    f"in Python instead:\n{exc}",
                    CFallbackWarning,
                    stacklevel=2,
                )
        return super().make_node_thunk(node, storage_map)

    def __repr__(self) -> str:
        return f"CVMLinker(allow_gc={self.allow_gc!r})"
