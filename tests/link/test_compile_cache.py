"""Tests of the content-addressed compilation cache (symgraph.link.c.cache, symgraph.cache).

Every test uses a fresh temporary cache root; the user's real compiledir is never touched (the
CLI tests point SYMGRAPH_COMPILEDIR at the temporary directory).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from symgraph import config
from symgraph.link.c import cache as cache_mod
from symgraph.link.c.cache import (
    CacheBuildError,
    CacheCorruptionWarning,
    ModuleCache,
    compiler_version,
    key_material,
    make_key,
)

SOURCE = "int sg_answer(void) { return 42; }\n"


def fake_build(log: list | None = None):
    """A build_fn that 'compiles' by writing the source bytes, recording each call."""

    def build(source, flags, out_path):
        if log is not None:
            log.append((source, tuple(flags), out_path))
        Path(out_path).write_text(f"{flags}\n{source}")

    return build


def leftover_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.startswith(".tmp-")]


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def test_key_is_stable_within_and_across_processes(tmp_path):
    key = make_key(SOURCE, ["-O2", "-fPIC"])
    assert len(key) == 64 and key == make_key(SOURCE, ["-O2", "-fPIC"])
    code = (
        "from symgraph.link.c.cache import make_key; "
        f"print(make_key({SOURCE!r}, ['-O2', '-fPIC']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == key
    # the cache location is not part of the key
    assert ModuleCache(tmp_path / "a").key(SOURCE, ["-O2", "-fPIC"]) == key


def test_every_key_component_changes_the_key(monkeypatch):
    base = make_key(SOURCE, ["-O2"])
    assert make_key(SOURCE + " ", ["-O2"]) != base  # source
    assert make_key(SOURCE, ["-O3"]) != base  # flags
    assert make_key(SOURCE, ["-O2", "-g"]) != base
    assert make_key(SOURCE, ["-O2"], compiler=("cc",)) != base  # compiler command
    assert make_key(SOURCE, ["-O2"], extra={"op_version": 1}) != base
    env = dict(cache_mod._environment())
    for field in ("symgraph", "numpy", "numpy_abi", "platform", "machine", "python"):
        changed = dict(env, **{field: env[field] + "-other"})
        monkeypatch.setattr(cache_mod, "_environment", lambda changed=changed: changed)
        assert make_key(SOURCE, ["-O2"]) != base, field
    monkeypatch.setattr(cache_mod, "_environment", lambda: env)
    assert make_key(SOURCE, ["-O2"]) == base
    # a different compiler version (same command) changes the key as well
    monkeypatch.setattr(cache_mod, "compiler_version", lambda command: "gcc (Fake) 99.0")
    assert make_key(SOURCE, ["-O2"]) != base


def test_key_material_records_versions():
    import numpy as np

    import symgraph

    material = key_material(SOURCE, ["-O2"])
    assert material["symgraph"] == symgraph.__version__
    assert material["numpy"] == np.__version__
    assert material["flags"] == ["-O2"] and material["compiler"] == ["gcc"]
    assert "source" not in material and material["source_len"] == len(SOURCE)


def test_compiler_version_is_cached_per_process(monkeypatch):
    cache_mod._compiler_version_cached.cache_clear()
    calls = []
    real_run = subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(cache_mod.subprocess, "run", counting_run)
    first = compiler_version("gcc")
    assert compiler_version(["gcc"]) == first
    assert len(calls) == 1
    assert compiler_version("no-such-compiler-sg") .startswith("<unavailable")


# ---------------------------------------------------------------------------------------------
# Lookup, build, atomicity
# ---------------------------------------------------------------------------------------------


def test_get_or_build_builds_once_then_hits(tmp_path):
    cache = ModuleCache(tmp_path)
    log = []
    path = cache.get_or_build(SOURCE, ["-O2"], fake_build(log))
    assert path.is_file() and path.parent.parent == tmp_path / "modules"
    assert len(log) == 1 and not leftover_files(tmp_path)
    assert ".tmp-" in Path(log[0][2]).name and Path(log[0][2]).parent == path.parent
    assert cache.get_or_build(SOURCE, ["-O2"], fake_build(log)) == path
    assert len(log) == 1
    key = make_key(SOURCE, ["-O2"])
    assert cache.get(key) == path
    assert cache.get(make_key(SOURCE, ["-O3"])) is None
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["key"] == key and manifest["artifact"] == path.name
    assert manifest["size"] == path.stat().st_size
    assert manifest["material"]["flags"] == ["-O2"]


def test_default_root_is_config_compiledir(tmp_path):
    config.compiledir = str(tmp_path / "cd")
    assert ModuleCache().root == tmp_path / "cd"


def test_get_updates_last_used(tmp_path):
    cache = ModuleCache(tmp_path)
    path = cache.get_or_build(SOURCE, [], fake_build())
    manifest_path = path.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["last_used"] = 1000.0
    manifest_path.write_text(json.dumps(manifest))
    assert cache.get(manifest["key"]) == path
    (entry,) = cache.entries()
    assert entry.last_used > 1000.0  # the hit was recorded (without rewriting the manifest)


def test_failed_build_leaves_no_entry_and_no_temp_files(tmp_path):
    cache = ModuleCache(tmp_path)

    def broken(source, flags, out_path):
        Path(out_path).write_bytes(b"partial output")
        raise RuntimeError("compiler exploded")

    with pytest.raises(RuntimeError, match="compiler exploded"):
        cache.get_or_build(SOURCE, [], broken)
    assert cache.keys() == [] and cache.entries() == []
    assert not [p for p in (tmp_path / "modules").rglob("*")]
    # a build function that writes nothing is an error too, not an empty entry
    with pytest.raises(CacheBuildError):
        cache.get_or_build(SOURCE, [], lambda s, f, o: None)
    assert cache.keys() == [] and not leftover_files(tmp_path)
    # and the key still builds fine afterwards
    assert cache.get_or_build(SOURCE, [], fake_build()).is_file()


def test_invalid_keys_are_rejected(tmp_path):
    cache = ModuleCache(tmp_path)
    for bad in ("../../etc", "abc", "g" * 64):
        with pytest.raises(ValueError):
            cache.get(bad)


# ---------------------------------------------------------------------------------------------
# Corruption
# ---------------------------------------------------------------------------------------------


def _corrupt_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_manifest_garbage(path: Path) -> None:
    (path.parent / "manifest.json").write_text('{"format": 1, "key": ')


def _corrupt_manifest_missing(path: Path) -> None:
    (path.parent / "manifest.json").unlink()


def _corrupt_artifact_missing(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_truncate, _corrupt_flip, _corrupt_manifest_garbage, _corrupt_manifest_missing,
     _corrupt_artifact_missing],
)
def test_corrupt_entry_is_discarded_with_warning_and_rebuilt(tmp_path, corrupt):
    cache = ModuleCache(tmp_path)
    log = []
    path = cache.get_or_build(SOURCE, [], fake_build(log))
    key = make_key(SOURCE, [])
    corrupt(path)
    with pytest.warns(CacheCorruptionWarning, match="corrupt"):
        rebuilt = cache.get_or_build(SOURCE, [], fake_build(log))
    assert len(log) == 2
    assert rebuilt.read_text() == f"[]\n{SOURCE}"
    assert rebuilt != path  # a fresh file name, so a stale dlopen handle is never reused
    assert cache.get(key) == rebuilt and [e.valid for e in cache.entries()] == [True]


def test_get_discards_corrupt_entry(tmp_path):
    cache = ModuleCache(tmp_path)
    path = cache.get_or_build(SOURCE, [], fake_build())
    _corrupt_truncate(path)
    with pytest.warns(CacheCorruptionWarning):
        assert cache.get(make_key(SOURCE, [])) is None
    assert cache.keys() == []


def test_crashed_build_debris_is_cleaned_silently(tmp_path, recwarn):
    cache = ModuleCache(tmp_path)
    key = make_key(SOURCE, [])
    debris = tmp_path / "modules" / key
    debris.mkdir(parents=True)
    (debris / ".tmp-999-deadbeef.so").write_bytes(b"half")
    assert cache.get(key) is None
    assert not debris.exists()
    assert not [w for w in recwarn if issubclass(w.category, CacheCorruptionWarning)]


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from symgraph.link.c.cache import ModuleCache

    root, marker, go, source = sys.argv[1:5]
    while not os.path.exists(go):      # start all workers at the same moment
        time.sleep(0.005)

    def build(src, flags, out_path):
        with open(marker, "a") as f:   # one line per real build
            f.write(f"{os.getpid()}\\n")
        time.sleep(0.5)                # keep the build window wide open for the others
        Path(out_path).write_text(src)

    path = ModuleCache(root).get_or_build(source, ["-O2"], build)
    print(path, Path(path).read_text() == source)
    """
)


def test_four_processes_compile_once_and_all_succeed(tmp_path):
    root, marker, go = tmp_path / "cache", tmp_path / "builds.txt", tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(root), str(marker), str(go), SOURCE],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    time.sleep(0.5)
    go.write_text("go")
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
    lines = {out.strip() for out, _ in results}
    assert len(lines) == 1 and lines.pop().endswith(" True")
    assert len(marker.read_text().splitlines()) == 1
    assert not leftover_files(root)


# ---------------------------------------------------------------------------------------------
# Pruning and clearing
# ---------------------------------------------------------------------------------------------


def _set_last_used(cache: ModuleCache, key: str, when: float) -> None:
    manifest_path = cache.entry_dir(key) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["last_used"] = when
    manifest_path.write_text(json.dumps(manifest))
    used = manifest_path.parent / "used"  # the hit marker, if a lookup already wrote one
    if used.exists():
        os.utime(used, (when, when))


def test_prune_removes_least_recently_used_first(tmp_path):
    cache = ModuleCache(tmp_path)
    keys = []
    for i in range(4):
        src = f"int f{i}(void) {{ return {i}; }}" + "x" * 1000
        cache.get_or_build(src, [], fake_build())
        keys.append(make_key(src, []))
    # used order: key 2 oldest, then 0, then 3, then 1 (newest)
    for key, when in zip(keys, (2000.0, 4000.0, 1000.0, 3000.0)):
        _set_last_used(cache, key, when)
    sizes = {e.key: e.size for e in cache.entries()}
    assert cache.prune(cache.total_size()) == []
    bound = sizes[keys[1]] + sizes[keys[3]]
    assert cache.prune(bound) == [keys[2], keys[0]]
    assert set(cache.keys()) == {keys[1], keys[3]} and cache.total_size() <= bound
    assert cache.prune(0) == [keys[3], keys[1]]
    assert cache.keys() == []


def test_prune_drops_broken_entries_first_and_skips_locked(tmp_path):
    cache = ModuleCache(tmp_path)
    paths = [cache.get_or_build(f"src{i}", [], fake_build()) for i in range(3)]
    keys = [make_key(f"src{i}", []) for i in range(3)]
    for key, when in zip(keys, (1000.0, 2000.0, 3000.0)):
        _set_last_used(cache, key, when)
    (paths[2].parent / "manifest.json").unlink()  # newest but broken
    with cache.lock(keys[0]):  # oldest but in use by "another process"
        removed = cache.prune(0)
    assert removed == [keys[2], keys[1]]
    assert cache.keys() == [keys[0]]


def test_clear_removes_all_entries(tmp_path):
    cache = ModuleCache(tmp_path)
    for i in range(3):
        cache.get_or_build(f"src{i}", [], fake_build())
    assert cache.clear() == 3
    assert cache.keys() == [] and cache.total_size() == 0
    assert cache.clear() == 0


# ---------------------------------------------------------------------------------------------
# A real compiler
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_real_gcc_shared_library_is_cached_and_loadable(tmp_path):
    cache = ModuleCache(tmp_path / "cache")
    source = "int sg_cache_add(int a, int b) { return a + b + 1; }\n"
    builds = []

    def gcc_build(src, flags, out_path):
        builds.append(out_path)
        c_file = tmp_path / f"build{len(builds)}.c"
        c_file.write_text(src)
        subprocess.run(["gcc", *flags, "-o", out_path, str(c_file)], check=True, capture_output=True)

    flags = ["-shared", "-fPIC", "-O2"]
    path = cache.get_or_build(source, flags, gcc_build)
    # Load it in a child process: this test truncates the file below, and truncating a
    # library mapped into this process would crash it (SIGBUS) when it exits.
    check = "import ctypes, sys; sys.exit(ctypes.CDLL(sys.argv[1]).sg_cache_add(2, 3))"
    assert subprocess.run([sys.executable, "-c", check, str(path)], timeout=60).returncode == 6
    assert cache.get_or_build(source, flags, gcc_build) == path and len(builds) == 1
    manifest = cache.entries()[0].manifest
    assert manifest["material"]["compiler_version"] == compiler_version("gcc")
    # truncating the shared object is detected; the rebuilt one loads under a new name
    _corrupt_truncate(path)
    with pytest.warns(CacheCorruptionWarning):
        rebuilt = cache.get_or_build(source, flags, gcc_build)
    assert len(builds) == 2 and rebuilt != path
    assert ctypes.CDLL(str(rebuilt)).sg_cache_add(10, 20) == 31


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(root))
    return subprocess.run([sys.executable, "-m", "symgraph.cache", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_list_info_prune_clear(tmp_path):
    root = tmp_path / "compiledir"
    cache = ModuleCache(root)
    keys = []
    for i in range(3):
        src = f"module {i}" + "y" * 2000
        cache.get_or_build(src, [], fake_build())
        keys.append(make_key(src, []))
    for key, when in zip(keys, (time.time() - 7200, time.time() - 60, time.time())):
        _set_last_used(cache, key, when)

    out = run_cli(root, "info")
    assert out.returncode == 0, out.stderr
    assert str(root) in out.stdout and "entries: 3" in out.stdout
    assert f"({cache.total_size()} bytes)" in out.stdout

    out = run_cli(root, "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.endswith("ok") for line in lines)
    assert lines[0].startswith(keys[2]) and lines[-1].startswith(keys[0])  # most recent first
    assert "used 2 h ago" in lines[-1] and "KiB" in lines[0]

    entry_size = max(e.size for e in cache.entries())
    out = run_cli(root, "prune", "--max-size", str(2 * entry_size))
    assert out.returncode == 0, out.stderr
    assert "removed 1 entries" in out.stdout
    assert set(cache.keys()) == {keys[1], keys[2]}

    out = run_cli(root, "prune")  # default bound (512 MiB) keeps everything
    assert out.returncode == 0 and "removed 0 entries" in out.stdout

    out = run_cli(root, "clear")
    assert out.returncode == 0 and "removed 2 entries" in out.stdout
    assert cache.keys() == []
    out = run_cli(root, "list")
    assert out.returncode == 0 and "no entries" in out.stdout


def test_cli_rejects_bad_arguments(tmp_path):
    assert run_cli(tmp_path, "prune", "--max-size", "lots").returncode == 2
    assert run_cli(tmp_path, "frobnicate").returncode == 2


def test_parse_size():
    from symgraph.cache import parse_size

    assert parse_size("1024") == 1024
    assert parse_size("512K") == 512 * 1024
    assert parse_size("1.5G") == int(1.5 * 1024**3)
    assert parse_size("2mib") == 2 * 1024**2
