"""Content-addressed cache of compiled C modules.

A compiled module is identified by a *key*: the SHA-256 of everything that can change the bytes
the compiler produces or whether they can be loaded -- the generated source, the compiler command
and its version, the flags, the symgraph version, the NumPy version and C-ABI version, and the
platform (OS, machine, Python implementation and extension suffix).  Two graphs that generate the
same source share one module; anything else that differs gives a different key, so a stale module
is never loaded.

Layout of the cache root (``config.compiledir`` by default)::

    <root>/modules/<key>/manifest.json      what the entry is (JSON, written last, atomically)
    <root>/modules/<key>/<key16>-<nonce>.so  the artifact named by the manifest
    <root>/locks/<key>.lock                 the per-key file lock

Concurrency rules (why the code looks the way it does):

- One :class:`filelock.FileLock` *per key*.  Building takes the key's lock, so N processes asking
  for the same missing module compile it once; processes compiling different modules never wait
  for each other.  There is no global lock.
- The compiler writes into a temporary file inside the entry directory (same filesystem), which is
  then moved into place with :func:`os.replace` (atomic); the manifest, which records the
  artifact's size and SHA-256, is written the same way and *last*.  An entry is valid only if its
  manifest parses and the artifact matches it, so a crash at any point leaves either nothing or
  something that is detected as invalid.
- Lookups read without the lock (a hit costs one small JSON read and a checksum).  Only when an
  entry looks invalid is the lock taken and the entry checked again, so a reader never discards a
  module that another process is halfway through installing.
- Each build gives the artifact a fresh file name.  ``dlopen`` identifies libraries by path, so a
  process that loaded a module before it was rebuilt would otherwise get the old image back.
- The cache never deletes lock files itself, not even in :meth:`ModuleCache.clear`: unlinking a
  lock file that another process is waiting on could let two processes "hold" the same lock.
  (Recent ``filelock`` releases remove the file on release and guard that race themselves.)

A corrupt entry (truncated or modified artifact, missing or unreadable manifest) is discarded with a
:class:`CacheCorruptionWarning` and rebuilt by :meth:`ModuleCache.get_or_build`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence


__all__ = [
    "DEFAULT_COMPILER",
    "DEFAULT_MAX_BYTES",
    "CacheBuildError",
    "CacheCorruptionWarning",
    "CacheEntry",
    "ModuleCache",
    "compiler_version",
    "key_material",
    "make_key",
]

#: Compiler command used in the key when the caller does not name one.
DEFAULT_COMPILER: tuple[str, ...] = ("gcc",)
#: Size bound applied by ``python -m symgraph.cache prune`` when ``--max-size`` is not given.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Seconds to wait for another process to finish building the same key before giving up.
LOCK_TIMEOUT = 600.0
#: Bumped whenever the manifest format changes; older manifests are then treated as corrupt.
MANIFEST_FORMAT = 1

_MANIFEST = "manifest.json"
#: Empty file whose modification time records an entry's last use (see ModuleCache._touch).
_USED = "used"


def _filelock():
    # Imported on first use: a cache hit takes no lock, and importing filelock costs a
    # noticeable part of a warm compile (about 35 ms).
    import filelock

    return filelock
_TMP_PREFIX = ".tmp-"
_REQUIRED_FIELDS = ("format", "key", "artifact", "size", "sha256", "created", "last_used")


class CacheCorruptionWarning(UserWarning):
    """An invalid cache entry was found and discarded (it will be rebuilt on demand)."""


class CacheBuildError(RuntimeError):
    """The build function returned without producing an artifact."""


# --------------------------------------------------------------------------------------------
# Key material
# --------------------------------------------------------------------------------------------


def _as_command(compiler: Sequence[str] | str) -> tuple[str, ...]:
    return (compiler,) if isinstance(compiler, str) else tuple(compiler)


@functools.lru_cache(maxsize=None)
def _compiler_version_cached(command: tuple[str, ...]) -> str:
    try:
        proc = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        # An unusable compiler still gets a stable key component; the build itself will fail
        # with the real error message.
        return f"<unavailable: {type(exc).__name__}>"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else "<unknown>"


def compiler_version(compiler: Sequence[str] | str = DEFAULT_COMPILER) -> str:
    """First line of ``<compiler> --version``, run once per process and command.

    Part of the key because upgrading the compiler can change the generated machine code (and,
    for a broken upgrade, whether a module works at all).
    """
    return _compiler_version_cached(_as_command(compiler))


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, str]:
    """The parts of the key that describe this interpreter and machine (constant per process)."""
    import numpy as np

    import symgraph

    try:  # the C-API version number that compiled extensions are built against
        from numpy._core import multiarray

        numpy_abi = hex(multiarray._get_ndarray_c_version())
    except (ImportError, AttributeError):  # pragma: no cover - older/newer NumPy layouts
        numpy_abi = "unknown"
    return {
        "symgraph": symgraph.__version__,
        "numpy": np.__version__,
        "numpy_abi": numpy_abi,
        "platform": sys.platform,
        "machine": platform.machine(),
        "python": f"{sys.implementation.cache_tag}",
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
    }


def key_material(
    source: str,
    flags: Sequence[str] = (),
    compiler: Sequence[str] | str = DEFAULT_COMPILER,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the key is computed from, as a JSON-serialisable dict.

    The source itself is represented by its SHA-256 and length so the dict stays small enough to
    store in each manifest.  ``extra`` lets a caller add its own components (e.g. op cache
    versions); it must be JSON-serialisable.
    """
    command = _as_command(compiler)
    material: dict[str, Any] = {
        "source_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "source_len": len(source),
        "compiler": list(command),
        "compiler_version": compiler_version(command),
        # Order is kept: the order of flags can matter (later -O wins, link order).
        "flags": [str(f) for f in flags],
        **_environment(),
    }
    if extra:
        material["extra"] = extra
    return material


def make_key(
    source: str,
    flags: Sequence[str] = (),
    compiler: Sequence[str] | str = DEFAULT_COMPILER,
    extra: dict[str, Any] | None = None,
) -> str:
    """The cache key (64 hex digits) of a module built from ``source`` with ``flags``."""
    return _key_of(key_material(source, flags, compiler, extra))


def _key_of(material: dict[str, Any]) -> str:
    # Canonical JSON (sorted keys, fixed separators) so equal material always hashes equally.
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` next to ``path`` under a unique name, then rename it over ``path``.

    Readers therefore see either the old or the new manifest, never a half-written one.
    """
    tmp = path.with_name(f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.json")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _dir_size(path: Path) -> int:
    total = 0
    try:
        for child in path.iterdir():
            try:
                total += child.stat().st_size
            except OSError:
                pass
    except OSError:
        pass
    return total


def _is_key(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


@dataclass
class CacheEntry:
    """One entry as seen by :meth:`ModuleCache.entries` (``valid`` is False for a broken one)."""

    key: str
    directory: Path
    size: int
    created: float
    last_used: float
    valid: bool
    artifact: Path | None = None
    manifest: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


class ModuleCache:
    """A directory of compiled modules indexed by :func:`make_key`.

    ``root`` defaults to ``config.compiledir`` (read when the cache is created, so tests and
    tools can point it elsewhere with ``SYMGRAPH_COMPILEDIR`` or by changing the flag).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, lock_timeout: float = LOCK_TIMEOUT):
        if root is None:
            from symgraph.configdefaults import config

            root = config.compiledir
        self.root = Path(root).expanduser()
        self.modules_dir = self.root / "modules"
        self.locks_dir = self.root / "locks"
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ModuleCache({str(self.root)!r})"

    # -- paths and locks ---------------------------------------------------------------------

    def key(
        self,
        source: str,
        flags: Sequence[str] = (),
        compiler: Sequence[str] | str = DEFAULT_COMPILER,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Same as :func:`make_key` (the key does not depend on the cache location)."""
        return make_key(source, flags, compiler, extra)

    def entry_dir(self, key: str) -> Path:
        if not _is_key(key):
            # Keys become path components; refuse anything that could escape the root.
            raise ValueError(f"not a cache key: {key!r}")
        return self.modules_dir / key

    def lock(self, key: str, timeout: float | None = None) -> Any:
        """The file lock guarding ``key`` (one lock file per key, never a global one)."""
        self.entry_dir(key)  # validates the key
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        return _filelock().FileLock(
            str(self.locks_dir / f"{key}.lock"),
            timeout=self.lock_timeout if timeout is None else timeout,
        )

    # -- validation --------------------------------------------------------------------------

    def _check(self, key: str) -> tuple[Path | None, dict[str, Any] | None, str | None]:
        """Validate an entry without locking.

        Returns ``(artifact, manifest, None)`` for a good entry, ``(None, None, None)`` when there
        is no entry at all, and ``(None, manifest_or_None, reason)`` when it is broken.
        """
        directory = self.entry_dir(key)
        manifest_path = directory / _MANIFEST
        try:
            text = manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if not directory.is_dir():
                return None, None, None
            return None, None, "missing manifest"
        except OSError as exc:
            return None, None, f"unreadable manifest ({exc})"
        try:
            manifest = json.loads(text)
        except ValueError:
            return None, None, "manifest is not valid JSON"
        if not isinstance(manifest, dict) or any(f not in manifest for f in _REQUIRED_FIELDS):
            return None, None, "manifest lacks required fields"
        if manifest["format"] != MANIFEST_FORMAT or manifest["key"] != key:
            return None, manifest, "manifest does not describe this key"
        name = manifest["artifact"]
        if not isinstance(name, str) or not name or os.path.basename(name) != name:
            return None, manifest, "manifest names an invalid artifact"
        artifact = directory / name
        try:
            size = artifact.stat().st_size
        except OSError:
            return None, manifest, "artifact is missing"
        if size != manifest["size"]:
            return None, manifest, f"artifact size {size} != recorded {manifest['size']}"
        try:
            digest = _file_sha256(artifact)
        except OSError as exc:
            return None, manifest, f"artifact unreadable ({exc})"
        if digest != manifest["sha256"]:
            return None, manifest, "artifact checksum mismatch"
        return artifact, manifest, None

    def _discard(self, key: str, reason: str | None, warn: bool = True) -> None:
        """Remove an entry's directory (caller holds the key's lock)."""
        directory = self.entry_dir(key)
        if reason is not None and warn:
            # Debris of a build that crashed before installing anything is not worth a warning.
            leftovers = [p for p in directory.iterdir() if not p.name.startswith(_TMP_PREFIX)] if directory.is_dir() else []
            if leftovers:
                warnings.warn(
                    f"symgraph cache entry {key[:16]} in {self.root} is corrupt ({reason}); "
                    "discarding it, it will be rebuilt",
                    CacheCorruptionWarning,
                    stacklevel=3,
                )
        shutil.rmtree(directory, ignore_errors=True)

    def _touch(self, key: str, manifest: dict[str, Any]) -> None:
        """Record a use for LRU pruning: set the mtime of the entry's ``used`` file.

        No lock and no manifest rewrite, so a hit stays cheap; :meth:`entries` reports the
        later of the manifest's ``last_used`` and that time.
        """
        used = self.entry_dir(key) / _USED
        try:
            os.utime(used)
        except FileNotFoundError:
            try:
                used.touch()
            except OSError:
                pass
        except OSError:
            pass

    def _check_manifest_only(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.entry_dir(key) / _MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- lookup and build --------------------------------------------------------------------

    def get(self, key: str) -> Path | None:
        """The artifact stored under ``key``, or None.

        A corrupt entry is discarded (with a :class:`CacheCorruptionWarning`) and None returned.
        """
        artifact, manifest, reason = self._check(key)
        if artifact is not None:
            self._touch(key, manifest)
            return artifact
        if reason is None:
            return None
        # Looks broken -- but it may be half-installed by a process holding the lock right now.
        # Wait for the lock and look again before throwing anything away.
        with self.lock(key):
            return self._get_locked(key)

    def _get_locked(self, key: str) -> Path | None:
        artifact, manifest, reason = self._check(key)
        if artifact is not None:
            manifest["last_used"] = time.time()
            try:
                _write_json_atomic(self.entry_dir(key) / _MANIFEST, manifest)
            except OSError:
                pass
            return artifact
        if reason is not None:
            self._discard(key, reason)
        return None

    def get_or_build(
        self,
        source: str,
        flags: Sequence[str],
        build_fn: Callable[[str, list[str], str], Any],
        compiler: Sequence[str] | str = DEFAULT_COMPILER,
        suffix: str = ".so",
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Return the artifact for ``(source, flags, compiler)``, building it if needed.

        ``build_fn(source, flags, out_path)`` must write the compiled artifact to ``out_path``
        (a temporary name inside the cache; it is moved into place afterwards).  If it raises,
        nothing is installed, the temporary file is removed and the exception propagates.  When
        several processes ask for the same missing key, one builds and the others wait for the
        key's lock and then find the finished entry.
        """
        flags = [str(f) for f in flags]
        material = key_material(source, flags, compiler, extra)
        key = _key_of(material)
        artifact = self.get(key)
        if artifact is not None:
            return artifact
        with self.lock(key):
            artifact = self._get_locked(key)  # another process may have built it meanwhile
            if artifact is not None:
                return artifact
            return self._build_locked(key, material, source, flags, build_fn, suffix)

    def _build_locked(self, key, material, source, flags, build_fn, suffix) -> Path:
        directory = self.entry_dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        nonce = secrets.token_hex(4)
        tmp = directory / f"{_TMP_PREFIX}{os.getpid()}-{nonce}{suffix}"
        final = directory / f"{key[:16]}-{nonce}{suffix}"
        started = time.time()
        try:
            build_fn(source, list(flags), str(tmp))
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise CacheBuildError(f"build function produced no artifact at {tmp}")
            size = tmp.stat().st_size
            digest = _file_sha256(tmp)
            os.replace(tmp, final)
            now = time.time()
            manifest = {
                "format": MANIFEST_FORMAT,
                "key": key,
                "artifact": final.name,
                "size": size,
                "sha256": digest,
                "created": now,
                "last_used": now,
                "build_seconds": round(now - started, 6),
                "material": material,
            }
            _write_json_atomic(directory / _MANIFEST, manifest)
        except BaseException:
            # Leave no entry behind: a half-built entry would only be discarded later with a
            # misleading corruption warning.
            tmp.unlink(missing_ok=True)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return final

    # -- inspection and maintenance ----------------------------------------------------------

    def keys(self) -> list[str]:
        """Keys of all entry directories (valid or not)."""
        try:
            return sorted(p.name for p in self.modules_dir.iterdir() if p.is_dir() and _is_key(p.name))
        except FileNotFoundError:
            return []

    def entries(self, verify: bool = True) -> list[CacheEntry]:
        """Describe every entry.  ``verify=False`` skips checksumming (only the manifest is read)."""
        result = []
        for key in self.keys():
            directory = self.entry_dir(key)
            if verify:
                artifact, manifest, reason = self._check(key)
                valid = artifact is not None
            else:
                manifest = self._check_manifest_only(key)
                valid = manifest is not None and all(f in manifest for f in _REQUIRED_FIELDS)
                artifact = directory / manifest["artifact"] if valid else None
            if manifest is None or not valid:
                try:
                    mtime = directory.stat().st_mtime
                except OSError:
                    continue
            created = float(manifest["created"]) if valid else mtime
            last_used = float(manifest["last_used"]) if valid else mtime
            if valid:
                try:
                    last_used = max(last_used, (directory / _USED).stat().st_mtime)
                except OSError:
                    pass
            result.append(
                CacheEntry(key, directory, _dir_size(directory), created, last_used, valid, artifact, manifest)
            )
        return result

    def total_size(self) -> int:
        return sum(_dir_size(self.modules_dir / k) for k in self.keys())

    def remove(self, key: str, timeout: float | None = None) -> bool:
        """Delete one entry under its lock; False if it did not exist or the lock was busy."""
        try:
            with self.lock(key, timeout=timeout):
                directory = self.entry_dir(key)
                if not directory.exists():
                    return False
                shutil.rmtree(directory, ignore_errors=True)
                return True
        except _filelock().Timeout:
            return False

    def clear(self) -> int:
        """Delete every entry (each under its own lock) and the precompiled headers
        (``<root>/pch``, rebuilt on demand); returns how many entries were removed."""
        shutil.rmtree(self.root / "pch", ignore_errors=True)
        return sum(self.remove(key) for key in self.keys())

    def prune(self, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
        """Delete least-recently-used entries until the cache holds at most ``max_bytes``.

        Broken entries go first (they would be rebuilt anyway); then valid ones in order of
        their manifest's ``last_used``.  An entry whose lock is busy (being built or used right
        now) is skipped rather than waited for.  Returns the removed keys, in removal order.
        """
        entries = self.entries(verify=False)
        total = sum(e.size for e in entries)
        removed = []
        for entry in sorted(entries, key=lambda e: (e.valid, e.last_used)):
            if total <= max_bytes:
                break
            if self.remove(entry.key, timeout=0):
                total -= entry.size
                removed.append(entry.key)
        return removed
