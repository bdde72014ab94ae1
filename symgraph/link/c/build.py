"""Compile a C source into a shared library and load it with cffi (ABI mode).

This is the build step of the C backend prototype (issue #5): generated C is compiled with
``gcc`` into a ``.so`` and opened with ``cffi.FFI().dlopen``. ABI mode is used on purpose:
it needs no Python headers and no ``distutils``/``setuptools`` build, so one compiler run
per module is the whole cost (API mode would compile a CPython extension wrapper too).

Caching here is deliberately minimal: an in-process dict keyed by
``sha256(source, cdef, flags, compiler, include dir)``. The content-addressed on-disk cache
(``symgraph/link/c/cache.py``, under ``config.compiledir``) is meant to sit behind
:func:`compile_c`: the same key, and instead of compiling into a temporary directory,
``cache.get_or_build(key, build_fn)`` would return the path of the ``.so`` (building it with
:func:`build_shared_object` under the key's lock), after which only :func:`_load` runs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cffi

__all__ = [
    "DEFAULT_FLAGS",
    "CompileError",
    "CModule",
    "compile_c",
    "build_shared_object",
    "include_dir",
    "compiler",
    "clear_memory_cache",
]

#: Flags for generated code. ``-fno-math-errno`` lets gcc inline/vectorise math calls (they
#: no longer have the errno side effect); ``-fwrapv`` gives signed integer overflow NumPy's
#: wrap-around meaning instead of undefined behaviour. No ``-ffast-math``: NaN and inf must
#: behave as in NumPy.
DEFAULT_FLAGS: tuple[str, ...] = (
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fwrapv",
    "-std=gnu11",
    "-shared",
    "-fPIC",
)


class CompileError(RuntimeError):
    """The C compiler failed; the message holds its output and the path of the source."""


@dataclass
class CModule:
    """A compiled and loaded module: ``lib`` holds the functions declared in the cdef."""

    ffi: cffi.FFI
    lib: Any
    path: str
    key: str
    #: seconds the compiler run took (0.0 when the module came from the in-process cache)
    compile_seconds: float
    #: whether this object was returned from the in-process cache
    cached: bool = field(default=False)


def compiler() -> str:
    """The C compiler command (``$CC`` if set, else ``gcc``)."""
    return os.environ.get("CC", "gcc")


def include_dir() -> Path | None:
    """The ``c_backend`` directory holding the runtime headers, or ``None`` if not found.

    Prefers ``symgraph.link.c.runtime`` when another part of the backend provides it;
    otherwise follows c_backend/README.md: ``<package>/c_backend`` (installed) then
    ``<package>/../c_backend`` (source tree / editable install).
    """
    try:  # the runtime module may not exist yet; it is the authority once it does
        from symgraph.link.c import runtime  # type: ignore[attr-defined]

        for name in ("include_dir", "INCLUDE_DIR"):
            found = getattr(runtime, name, None)
            found = found() if callable(found) else found
            if found:
                return Path(found)
    except Exception:  # noqa: BLE001 - any failure there just means "use the README rule"
        pass
    import symgraph

    package_dir = Path(symgraph.__file__).resolve().parent
    for candidate in (package_dir / "c_backend", package_dir.parent / "c_backend"):
        if candidate.is_dir():
            return candidate
    return None


def has_header(name: str) -> bool:
    """Whether the runtime directory provides header ``name`` (e.g. ``"sg_math.h"``)."""
    d = include_dir()
    return d is not None and (d / name).is_file()


_lock = threading.Lock()
_MEMORY_CACHE: dict[str, CModule] = {}
_TMP_ROOT: str | None = None


def clear_memory_cache() -> None:
    """Forget the in-process cache (loaded libraries stay loaded while referenced)."""
    with _lock:
        _MEMORY_CACHE.clear()


def _key(source: str, cdef: str, flags: Sequence[str], inc: Path | None) -> str:
    h = hashlib.sha256()
    for part in (source, cdef, "\0".join(flags), compiler(), str(inc or "")):
        h.update(part.encode())
        h.update(b"\0\1")  # separator so that parts cannot run into each other
    return h.hexdigest()


def _tmp_root() -> str:
    global _TMP_ROOT
    if _TMP_ROOT is None:
        _TMP_ROOT = tempfile.mkdtemp(prefix="symgraph-c-")
    return _TMP_ROOT


def build_shared_object(
    source: str,
    out_path: str | os.PathLike,
    flags: Sequence[str] = DEFAULT_FLAGS,
    libraries: Sequence[str] = (),
) -> float:
    """Compile ``source`` into the shared library ``out_path``; returns the compile seconds.

    The library is written to a temporary name next to ``out_path`` and renamed into place,
    so a reader never sees a half-written file.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Unique temporary names: two threads or processes building the same key must not
    # truncate each other's files; the final names appear atomically (os.replace).
    tag = f"{os.getpid()}.{threading.get_ident()}"
    src_path = out_path.with_name(f".{out_path.stem}.{tag}.c")
    src_path.write_text(source)
    tmp_out = out_path.with_name(f".{out_path.name}.{tag}.tmp")
    cmd = [compiler(), *flags]
    inc = include_dir()
    if inc is not None:
        cmd.append(f"-I{inc}")
    # Libraries after the source: with --as-needed linkers, earlier ones would be dropped.
    cmd += [str(src_path), "-o", str(tmp_out), *libraries, "-lm"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tmp_out.unlink(missing_ok=True)  # the source stays, named in the message
        raise CompileError(
            f"C compilation failed (exit {proc.returncode}) for {src_path}\n"
            f"command: {' '.join(cmd)}\n{proc.stderr.strip()}"
        )
    os.replace(tmp_out, out_path)
    os.replace(src_path, out_path.with_suffix(".c"))  # kept next to the library for debugging
    return seconds


def _load(path: str, cdef: str) -> tuple[cffi.FFI, Any]:
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    return ffi, ffi.dlopen(path)


def compile_c(
    source: str,
    cdef: str,
    flags: Sequence[str] = DEFAULT_FLAGS,
    directory: str | os.PathLike | None = None,
    libraries: Sequence[str] = (),
) -> CModule:
    """Compile ``source`` (unless an identical build is cached in this process) and load it.

    ``cdef`` declares, in cffi's C subset, the types and functions Python will use. The
    ``.so`` goes into ``directory`` (a fresh per-process temporary directory by default).
    ``libraries`` are extra ``-l`` options (libm is always linked). Returns a :class:`CModule`; its ``lib`` holds the functions. Raises
    :class:`CompileError` with the compiler's output on failure.
    """
    flags = tuple(flags)
    key = _key(source, cdef, flags + tuple(libraries), include_dir())
    with _lock:
        found = _MEMORY_CACHE.get(key)
    if found is not None:
        return CModule(found.ffi, found.lib, found.path, key, 0.0, cached=True)
    base = Path(directory) if directory is not None else Path(_tmp_root())
    so_path = base / f"sg_{key[:24]}.so"
    seconds = build_shared_object(source, so_path, flags, libraries)
    ffi, lib = _load(str(so_path), cdef)
    module = CModule(ffi, lib, str(so_path), key, seconds)
    with _lock:
        # Two threads may have compiled the same source: keep the first, both are valid.
        module = _MEMORY_CACHE.setdefault(key, module)
    return module


def _cleanup() -> None:  # pragma: no cover - runs at interpreter exit
    if _TMP_ROOT is not None:
        shutil.rmtree(_TMP_ROOT, ignore_errors=True)


import atexit  # noqa: E402 - kept next to the function it registers

atexit.register(_cleanup)
