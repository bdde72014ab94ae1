"""Which C code a node gets: the op's own ``c_code`` or an implementation registered here.

The contract is described in ``docs/c_backend.md``. Built-in tensor ops keep their math in
``symgraph.tensor`` and get their C from backend modules (``symgraph.link.c.ops_*``), which
register an implementation object per op class with :func:`register_c_impl`. A user op
simply defines ``c_code`` (and optionally ``c_support_code``, ``c_kernel_code``,
``c_headers``, ``c_init_code``, ``c_code_cache_version``) on its class, as in PyTensor.

:func:`c_impl_for` returns the object whose methods generate a node's C, or ``None`` when
the node has none; the generator still calls ``c_code`` and treats ``NotImplementedError``
as "this node runs in Python".
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["CImpl", "register_c_impl", "c_impl_for", "BACKEND_MODULES"]

#: Backend modules whose import registers implementations (imported on first lookup).
BACKEND_MODULES = (
    "symgraph.link.c.ops_elemwise",
    "symgraph.link.c.ops_reduce",
    "symgraph.link.c.ops_blas",
    "symgraph.link.c.ops_shape",
    "symgraph.link.c.ops_indexing",
    "symgraph.link.c.ops_creation",
    "symgraph.link.c.ops_random",
)


class CImpl:
    """Base of registered implementations: every optional method has its default here."""

    def c_code(self, node: Any, name: str, inputs: list[str], outputs: list[str], sub: dict) -> str:
        raise NotImplementedError(f"no C code for {node.op}")

    def c_support_code(self, node: Any) -> str:
        return ""

    def c_kernel_code(self, node: Any) -> tuple[str, str]:
        """``(declarations, definitions)``: C that needs only the runtime (``sg_runtime.h``,
        not Python's or NumPy's headers), typically the loops over elements. The
        definitions may be compiled in a translation unit of their own, in parallel with the
        rest of the module; the declarations (types, prototypes) are seen by both. A
        function that ``c_code`` or the support code calls is declared ``SG_KERNEL`` (not
        ``static``) in both."""
        return "", ""

    def c_headers(self, node: Any) -> list[str]:
        return []

    def c_init_code(self, node: Any) -> str:
        return ""

    def c_code_cache_version(self) -> tuple:
        return ()


_REGISTRY: dict[type, CImpl] = {}
_loaded = [False]


def register_c_impl(*op_classes: type) -> Callable[[type], type]:
    """Class decorator: an instance of the decorated :class:`CImpl` subclass generates C for
    nodes whose op is an instance of one of ``op_classes`` (exact class first, then the
    nearest registered base class)."""

    def register(cls: type) -> type:
        impl = cls()
        for op_class in op_classes:
            _REGISTRY[op_class] = impl
        return cls

    return register


def _load_backend_modules() -> None:
    if _loaded[0]:
        return
    _loaded[0] = True
    for module in BACKEND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside the module: surface it
                raise


def c_impl_for(op: Any) -> Any:
    """The object generating ``op``'s C (the op itself if it defines ``c_code``), or None."""
    if callable(getattr(op, "c_code", None)):
        return op
    _load_backend_modules()
    for klass in type(op).__mro__:
        impl = _REGISTRY.get(klass)
        if impl is not None:
            return impl
    return None
