"""Where the C runtime (``c_backend/``: ``sg_runtime.h``, ``sg_math.h``) lives, and its constants.

The runtime is header-only: generated code does ``#include "sg_runtime.h"`` and is compiled
with ``-I <include_dir()>``; nothing is linked. This module only locates the directory
(following the rule in ``c_backend/README.md``) and mirrors the few constants the Python
side must agree on with the headers (dtype codes, error codes, buffer sizes), so that no
other module hard-codes them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

__all__ = [
    "HEADERS",
    "DTYPE_CODES",
    "ITEMSIZES",
    "ERROR_CODES",
    "ERRMSG_SIZE",
    "MAXDIMS",
    "RECOMMENDED_CFLAGS",
    "include_dir",
    "include_flags",
    "header_path",
]

#: The runtime's public headers (sg_runtime.h includes sg_math.h).
HEADERS = ("sg_runtime.h", "sg_math.h")

#: sg_dtype codes of sg_runtime.h, keyed by NumPy dtype name (same order as
#: symgraph.tensor.scalar_ops.SUPPORTED_DTYPES).
DTYPE_CODES = {
    "bool": 0,
    "int8": 1,
    "int16": 2,
    "int32": 3,
    "int64": 4,
    "uint8": 5,
    "float32": 6,
    "float64": 7,
}

#: Bytes per element of each dtype the backend handles (sg_dtype_itemsize in sg_runtime.h).
ITEMSIZES = {name: np.dtype(name).itemsize for name in DTYPE_CODES}

#: Return codes of generated functions (SG_OK / SG_ERR_* in sg_runtime.h).
ERROR_CODES = {
    0: "ok",
    1: "runtime",
    2: "shape",
    3: "value",
    4: "memory",
    5: "type",
    6: "index",
}

#: Size of sg_error.msg (SG_ERRMSG_SIZE) and the most dimensions of a view (SG_MAXDIMS).
ERRMSG_SIZE = 512
MAXDIMS = 64

#: Flags generated code needs for NumPy semantics: ``-fwrapv`` makes signed integer overflow
#: wrap as NumPy's does (plain C leaves it undefined, and the optimiser exploits that).
RECOMMENDED_CFLAGS = ("-std=gnu11", "-fwrapv")


@functools.lru_cache(maxsize=None)
def include_dir() -> Path:
    """The directory holding the runtime headers.

    Installed packages ship it as ``symgraph/c_backend``; source checkouts and editable
    installs keep it at ``<repo>/c_backend``, one level above the package. Raises
    ``FileNotFoundError`` (naming both places) if neither holds ``sg_runtime.h``.
    """
    import symgraph

    package_dir = Path(symgraph.__file__).resolve().parent
    candidates = (package_dir / "c_backend", package_dir.parent / "c_backend")
    for candidate in candidates:
        # Check for the header, not just the directory: an installed package may carry an
        # empty c_backend from an older build while the source tree has the real one.
        if (candidate / HEADERS[0]).is_file():
            return candidate
    raise FileNotFoundError(
        "symgraph's C runtime (sg_runtime.h) was not found in " + " or ".join(str(c) for c in candidates)
    )


def include_flags() -> list[str]:
    """Compiler flags making the runtime headers includable (``["-I", <dir>]``)."""
    return ["-I", str(include_dir())]


def header_path(name: str = "sg_runtime.h") -> Path:
    """The full path of one runtime header (``FileNotFoundError`` if it is missing)."""
    path = include_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"C runtime header {name!r} not found in {include_dir()}")
    return path
