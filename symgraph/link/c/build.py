"""Compile a C source into a shared library and load it with cffi (ABI mode).

This is the build step of the C backend: generated C is compiled with ``gcc`` into a ``.so``
and opened with ``cffi.FFI().dlopen``. ABI mode is used on purpose: it needs no Python
headers and no ``distutils``/``setuptools`` build, so one compiler run per module is the
whole cost (API mode would compile a CPython extension wrapper too).

Two cache levels sit in front of the compiler (see :func:`compile_c`):

1. an in-process dict keyed by ``sha256(source, cdef, flags, compiler, include dir)``, so a
   module is loaded at most once per process;
2. the content-addressed on-disk cache (:class:`symgraph.link.c.cache.ModuleCache`, rooted at
   ``config.compiledir`` as read at call time), shared by all processes. Its key also covers
   the cdef, the include directory and the *contents* of the runtime headers, so editing
   ``c_backend/*.h`` never loads a module built against the old headers.

Passing ``directory=`` to :func:`compile_c` bypasses the disk cache (a plain build into that
directory), which tests and one-off experiments use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


__all__ = [
    "DEFAULT_FLAGS",
    "CompileError",
    "CModule",
    "compile_c",
    "build_shared_object",
    "include_dir",
    "compiler",
    "clear_memory_cache",
    "runtime_headers_digest",
    "compile_extension",
    "split_units",
    "python_include_flags",
    "openmp_flags",
    "toolchain_problem",
]

#: Flags for generated code. ``-O0``: most of a generated module is bookkeeping run once per
#: call, and gcc's time grows steeply with the level (W4's module: 1.2 s at -O3, 0.22 s at
#: -O0); the loops over elements opt back in per function with ``SG_HOT`` (-O3) and
#: ``SG_WARM`` (-Og) from ``sg_runtime.h``, so code that touches every element is compiled
#: as before. ``-fno-math-errno`` lets gcc inline/vectorise math calls (they no longer have
#: the errno side effect); ``-fwrapv`` gives signed integer overflow NumPy's wrap-around
#: meaning instead of undefined behaviour. No ``-ffast-math``: NaN and inf must behave as in
#: NumPy. ``-ffp-contract=off``: ``a*b + c`` is rounded twice, as NumPy does, instead of
#: becoming one fused multiply-add (gcc's default for GNU C with ``-march=native``).
#: ``-pipe``: no temporary files between the compiler's stages.
DEFAULT_FLAGS: tuple[str, ...] = (
    "-O0",
    "-pipe",
    "-march=native",
    "-fno-math-errno",
    "-fwrapv",
    "-ffp-contract=off",
    "-std=gnu11",
    "-shared",
    "-fPIC",
)


class CompileError(RuntimeError):
    """The C compiler failed; the message holds its output and the path of the source."""


@dataclass
class CModule:
    """A compiled and loaded module: ``lib`` holds the functions declared in the cdef."""

    ffi: Any  # cffi.FFI (None for extension modules)
    lib: Any
    path: str
    key: str
    #: seconds the compiler run took (0.0 when the module came from the in-process cache)
    compile_seconds: float
    #: whether this object was returned from the in-process cache
    cached: bool = field(default=False)
    #: whether the library came from the on-disk cache without running the compiler
    disk_cached: bool = field(default=False)


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


def build_shared_object(
    source: str,
    out_path: str | os.PathLike,
    flags: Sequence[str] = DEFAULT_FLAGS,
    libraries: Sequence[str] = (),
    kernels: str = "",
) -> float:
    """Compile ``source`` into the shared library ``out_path``; returns the compile seconds.

    With ``kernels`` (a second translation unit: the kernels source of
    ``region.generate_module``), both units are compiled at once by two compiler processes
    and then linked: the machine's second core compiles the loops while the first compiles
    the rest (W4's module: 0.48 s in one unit, about 0.3 s as two).

    The library is written to a temporary name next to ``out_path`` and renamed into place,
    so a reader never sees a half-written file. The sources are kept next to it, as
    ``<name>.c`` and ``<name>.kernels.c``.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Unique temporary names: two threads or processes building the same key must not
    # truncate each other's files; the final names appear atomically (os.replace).
    tag = f"{os.getpid()}.{threading.get_ident()}"
    units = [(out_path.with_name(f".{out_path.stem}.{tag}.c"), source, ".c")]
    if kernels:
        units.append((out_path.with_name(f".{out_path.stem}.{tag}.kernels.c"), kernels, ".kernels.c"))
    for path, text, _ in units:
        path.write_text(text)
    tmp_out = out_path.with_name(f".{out_path.name}.{tag}.tmp")
    inc = include_dir()
    include = [f"-I{inc}"] if inc is not None else []
    # Libraries after the inputs: with --as-needed linkers, earlier ones would be dropped.
    link_tail = ["-o", str(tmp_out), *libraries, "-lm"]
    start = time.perf_counter()
    try:
        if len(units) == 1:
            _run_compiler([compiler(), *flags, *include, str(units[0][0]), *link_tail], units[0][0])
        else:
            objects = [path.with_suffix(".o") for path, _, _ in units]
            unit_flags = [f for f in flags if f != "-shared"]
            procs = [
                (subprocess.Popen([compiler(), *unit_flags, *include, "-c", str(path), "-o", str(obj)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), path)
                for (path, _, _), obj in zip(units, objects)
            ]
            try:
                for proc, path in procs:
                    _, stderr = proc.communicate()
                    if proc.returncode != 0:
                        raise CompileError(
                            f"C compilation failed (exit {proc.returncode}) for {path}\n"
                            f"command: {' '.join(proc.args)}\n{stderr.strip()}"
                        )
                # the flags again: options such as -fopenmp also choose libraries to link
                _run_compiler([compiler(), *flags, *map(str, objects), *link_tail], units[0][0])
            finally:
                for proc, _ in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                for obj in objects:
                    obj.unlink(missing_ok=True)
    except CompileError:
        tmp_out.unlink(missing_ok=True)  # the sources stay, named in the message
        raise
    seconds = time.perf_counter() - start
    os.replace(tmp_out, out_path)
    for path, _, suffix in units:  # kept next to the library for debugging
        os.replace(path, out_path.with_suffix(suffix))
    return seconds


def _run_compiler(cmd: list[str], source_path: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(
            f"C compilation failed (exit {proc.returncode}) for {source_path}\n"
            f"command: {' '.join(cmd)}\n{proc.stderr.strip()}"
        )


def _load(path: str, cdef: str) -> tuple[Any, Any]:
    import cffi  # imported here: extension modules (the linker's path) do not need it

    ffi = cffi.FFI()
    ffi.cdef(cdef)
    return ffi, ffi.dlopen(path)


def runtime_headers_digest(inc: Path | None = None) -> str:
    """SHA-256 over the names and contents of the runtime headers in ``inc`` (the include dir).

    Part of the disk-cache key: generated sources only say ``#include "sg_math.h"``, so the
    source text alone does not change when a header does.
    """
    inc = include_dir() if inc is None else inc
    h = hashlib.sha256()
    if inc is not None:
        for header in sorted(Path(inc).glob("*.h")):
            h.update(header.name.encode())
            h.update(b"\0")
            h.update(header.read_bytes())
            h.update(b"\0\1")
    return h.hexdigest()


def _build_into_disk_cache(
    source: str,
    cdef: str,
    flags: tuple[str, ...],
    libraries: Sequence[str],
    build_flags: tuple[str, ...] = (),
    kernels: str = "",
) -> tuple[Path, float, bool]:
    """Get the library for ``source`` from the ``config.compiledir`` cache, compiling on a miss.

    Returns ``(path, compile seconds, whether it was a cache hit)``. The cache takes the key's
    file lock while compiling, so concurrent processes compile one module once.
    ``build_flags`` go on the compiler command only, not into the key: they must not change
    the artifact (the directory of a precompiled header).
    """
    from symgraph.link.c.cache import ModuleCache

    inc = include_dir()
    built: list[float] = []

    def build_fn(src: str, _flags: list[str], out_path: str) -> None:
        seconds = build_shared_object(src, out_path, tuple(build_flags) + tuple(flags), libraries, kernels)
        built.append(seconds)
        # build_shared_object keeps the sources next to the library under the temporary name
        # the cache chose (".tmp-..."); give them stable names so they are not taken for debris.
        for suffix, name in ((".c", "source.c"), (".kernels.c", "kernels.c")):
            kept = Path(out_path).with_suffix(suffix)
            if kept.exists():
                os.replace(kept, Path(out_path).parent / name)

    extra = {
        "cdef": hashlib.sha256(cdef.encode()).hexdigest(),
        "include_dir": str(inc or ""),
        "headers": runtime_headers_digest(inc),
    }
    if kernels:
        extra["kernels"] = hashlib.sha256(kernels.encode()).hexdigest()
    path = ModuleCache().get_or_build(
        source,
        list(flags) + list(libraries),  # libraries change the artifact too: part of the key
        build_fn,
        compiler=compiler(),
        extra=extra,
    )
    return path, (built[0] if built else 0.0), not built


def compile_c(
    source: str,
    cdef: str,
    flags: Sequence[str] = DEFAULT_FLAGS,
    directory: str | os.PathLike | None = None,
    libraries: Sequence[str] = (),
) -> CModule:
    """Compile ``source`` (unless an identical build is cached) and load it.

    ``cdef`` declares, in cffi's C subset, the types and functions Python will use.
    ``libraries`` are extra ``-l`` options (libm is always linked). Lookup order: the
    in-process cache, then (when ``directory`` is None) the on-disk cache under
    ``config.compiledir``, then the compiler. With ``directory`` given, the ``.so`` is built
    straight into it and the disk cache is not used. Returns a :class:`CModule`; its ``lib``
    holds the functions. Raises :class:`CompileError` with the compiler's output on failure.
    """
    flags = tuple(flags)
    key = _key(source, cdef, flags + tuple(libraries), include_dir())
    with _lock:
        found = _MEMORY_CACHE.get(key)
    if found is not None:
        return CModule(found.ffi, found.lib, found.path, key, 0.0, cached=True)
    disk_hit = False
    if directory is None:
        so_path, seconds, disk_hit = _build_into_disk_cache(source, cdef, flags, libraries)
    else:
        so_path = Path(directory) / f"sg_{key[:24]}.so"
        seconds = build_shared_object(source, so_path, flags, libraries)
    ffi, lib = _load(str(so_path), cdef)
    module = CModule(ffi, lib, str(so_path), key, seconds, disk_cached=disk_hit)
    with _lock:
        # Two threads may have compiled the same source: keep the first, both are valid.
        module = _MEMORY_CACHE.setdefault(key, module)
    return module


def python_include_flags() -> tuple[str, ...]:
    """``-I`` flags for ``Python.h`` and NumPy's C headers (generated extension modules)."""
    import sysconfig

    import numpy

    return (f"-I{sysconfig.get_paths()['include']}", f"-I{numpy.get_include()}")


#: Size (characters) from which a module's kernels source is compiled as a unit of its own,
#: in parallel with the module (:func:`split_units`). Below it, the second compiler process
#: and the link step cost about what the parallelism saves.
SPLIT_MIN_CHARS = 4000


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def split_units(kernels: str) -> bool:
    """Whether ``kernels`` (a kernels source) is compiled as a unit of its own, in parallel
    with its module: when it is at least :data:`SPLIT_MIN_CHARS` long and this process may
    use two or more cores."""
    return len(kernels) >= SPLIT_MIN_CHARS and _usable_cpus() >= 2


def compile_extension(
    source: str, name: str, libraries: Sequence[str] = (), flags: Sequence[str] = DEFAULT_FLAGS, kernels: str = ""
) -> Any:
    """Compile ``source`` (a CPython extension defining ``PyInit_<name>``) and import it.

    ``kernels`` is the kernels source of ``region.generate_module`` (C needing only the
    runtime). When it is large enough to pay for a second compiler process and a link step
    (:func:`split_units`), it is compiled as a unit of its own, in parallel; otherwise it is
    appended to ``source``.

    The library goes through the same caches as :func:`compile_c` (in-process, then the
    content-addressed disk cache); the key covers the Python and NumPy include paths, so a
    module built for another interpreter or NumPy is never loaded. Returns the module
    object, with ``__sg_compile_seconds__`` (0.0 on a cache hit) and ``__sg_disk_cached__``.
    """
    import importlib.machinery

    flags = tuple(flags) + python_include_flags()
    if kernels and not split_units(kernels):
        source, kernels = source + "\n" + kernels, ""
    key = _key(source + "\0" + kernels, name, flags + tuple(libraries), include_dir())
    with _lock:
        found = _MEMORY_CACHE.get(key)
    if found is not None:
        return found.lib
    so_path, seconds, disk_hit = _build_into_disk_cache(
        source, name, flags, libraries, _precompiled_header_flags(flags), kernels
    )
    _EXTENSIONS_BUILT[0] += not disk_hit
    loader = importlib.machinery.ExtensionFileLoader(name, str(so_path))
    spec = importlib.machinery.ModuleSpec(name, loader, origin=str(so_path))
    module = loader.create_module(spec)
    loader.exec_module(module)
    module.__sg_compile_seconds__ = seconds
    module.__sg_disk_cached__ = disk_hit
    with _lock:
        entry = _MEMORY_CACHE.setdefault(key, CModule(None, module, str(so_path), key, seconds, disk_cached=disk_hit))
    return entry.lib


_OPENMP: list[tuple[str, ...]] = []


def openmp_flags() -> tuple[str, ...]:
    """``("-fopenmp", "-DSG_OPENMP")`` when the compiler has OpenMP (libgomp), else ``()``.

    The runtime's ``sg_par_for`` guards its ``#pragma omp`` with ``#ifdef SG_OPENMP``, so a
    compiler without OpenMP still builds it (single-threaded). Checked once per process.
    """
    if not _OPENMP:
        try:
            found = subprocess.run(
                [compiler(), "-print-file-name=libgomp.so"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        _OPENMP.append(("-fopenmp", "-DSG_OPENMP") if os.path.isabs(found) and os.path.exists(found) else ())
    return _OPENMP[0]


_TOOLCHAIN: list[str | None] = []


def toolchain_problem() -> str | None:
    """Why generated extension modules cannot be built here (None when they can).

    Checks once per process for the compiler, ``Python.h`` and NumPy's headers; the C
    linker runs everything in Python (with one warning) when something is missing.
    """
    if not _TOOLCHAIN:
        import shutil
        import sysconfig

        import numpy

        problem = None
        if shutil.which(compiler()) is None:
            problem = f"the C compiler {compiler()!r} was not found (set $CC)"
        elif not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
            problem = f"Python.h was not found in {sysconfig.get_paths()['include']} (install the Python headers)"
        elif not (Path(numpy.get_include()) / "numpy" / "arrayobject.h").is_file():
            problem = "NumPy's C headers were not found"
        _TOOLCHAIN.append(problem)
    return _TOOLCHAIN[0]


#: Modules this process compiled; from PCH_AFTER on, a precompiled prelude is used.
_EXTENSIONS_BUILT = [0]
PCH_AFTER = 2
_PCH_FAILED: set[str] = set()


def _precompiled_header_flags(flags: tuple[str, ...]) -> tuple[str, ...]:
    """``("-I<dir>",)`` where ``sg_module.h.gch`` (the generated modules' prelude,
    precompiled with ``flags``) lives, or ``()``.

    Parsing ``Python.h`` and NumPy's headers costs about 0.1 s per module. A process that
    compiles several modules (a test suite, a notebook) builds the precompiled header once
    (about 0.7 s) into ``config.compiledir`` and reuses it; a process compiling only one or
    two never pays for it. gcc checks the header against the flags and silently parses the
    real one if it does not match, so a stale header can only cost time.
    """
    inc = include_dir()
    if _EXTENSIONS_BUILT[0] < PCH_AFTER or inc is None or "gcc" not in os.path.basename(compiler()):
        return ()
    from symgraph.configdefaults import config

    h = hashlib.sha256()
    for part in (*flags, compiler(), runtime_headers_digest(inc), str(inc)):
        h.update(part.encode() + b"\0")
    key = h.hexdigest()[:32]
    if key in _PCH_FAILED:
        return ()
    directory = Path(config.compiledir).expanduser() / "pch" / key
    target = directory / "sg_module.h.gch"
    if not target.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".sg_module.{os.getpid()}.{threading.get_ident()}.gch"
        cmd = [compiler(), *(f for f in flags if f != "-shared"), f"-I{inc}", "-x", "c-header",
               str(inc / "sg_module.h"), "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            _PCH_FAILED.add(key)
            return ()
        os.replace(tmp, target)  # atomic: concurrent builders write identical files
    return (f"-I{directory}",)
