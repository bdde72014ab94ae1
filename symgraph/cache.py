"""Manage symgraph's compiled-module cache from the command line.

Usage::

    python -m symgraph.cache list                 # one line per entry: key, size, age, status
    python -m symgraph.cache info                 # cache root, entry count, total size
    python -m symgraph.cache clear                # remove every entry (each under its key's lock)
    python -m symgraph.cache prune [--max-size N] # drop least-recently-used entries above N bytes

``N`` accepts plain bytes or a ``K``/``M``/``G`` suffix (powers of 1024); the default is
:data:`symgraph.link.c.cache.DEFAULT_MAX_BYTES` (512 MiB).  The cache root is
``config.compiledir`` (set it with ``SYMGRAPH_COMPILEDIR``) unless ``--root`` is given.

The cache itself lives in :mod:`symgraph.link.c.cache`; this module re-exports its public names
so ``from symgraph.cache import ModuleCache`` works too.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from symgraph.link.c.cache import __all__ as _cache_all
from symgraph.link.c.cache import (
    DEFAULT_COMPILER,
    DEFAULT_MAX_BYTES,
    CacheBuildError,
    CacheCorruptionWarning,
    CacheEntry,
    ModuleCache,
    compiler_version,
    key_material,
    make_key,
)

__all__ = [*_cache_all, "main", "parse_size"]

_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2,
          "MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3}


def parse_size(text: str) -> int:
    """``"1048576"``, ``"512K"``, ``"1.5G"`` -> bytes (binary units)."""
    t = text.strip().upper()
    number = t.rstrip("KMGIB")
    unit = t[len(number):]
    if unit not in _UNITS or not number:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use bytes or a K/M/G suffix)")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"size must be non-negative: {text!r}")
    return int(value * _UNITS[unit])


def format_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for limit, div, unit in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "h")):
        if seconds < limit:
            return f"{seconds / div:.0f} {unit}"
    return f"{seconds / 86400:.1f} d"


def _cmd_list(cache: ModuleCache, args: argparse.Namespace) -> int:
    now = time.time()
    entries = sorted(cache.entries(verify=True), key=lambda e: e.last_used, reverse=True)
    if not entries:
        print(f"(no entries in {cache.root})")
    for e in entries:
        status = "ok" if e.valid else "CORRUPT"
        print(f"{e.key}  {format_size(e.size):>10}  used {format_age(now - e.last_used)} ago  "
              f"created {format_age(now - e.created)} ago  {status}")
    return 0


def _cmd_info(cache: ModuleCache, args: argparse.Namespace) -> int:
    entries = cache.entries(verify=False)
    print(f"root: {cache.root}")
    print(f"entries: {len(entries)}")
    print(f"total size: {format_size(sum(e.size for e in entries))} ({sum(e.size for e in entries)} bytes)")
    print(f"default prune bound: {format_size(DEFAULT_MAX_BYTES)}")
    return 0


def _cmd_clear(cache: ModuleCache, args: argparse.Namespace) -> int:
    print(f"removed {cache.clear()} entries from {cache.root}")
    return 0


def _cmd_prune(cache: ModuleCache, args: argparse.Namespace) -> int:
    removed = cache.prune(args.max_size)
    print(f"removed {len(removed)} entries; {format_size(cache.total_size())} left "
          f"(bound {format_size(args.max_size)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m symgraph.cache``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m symgraph.cache", description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="cache directory (default: config.compiledir)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per entry").set_defaults(func=_cmd_list)
    sub.add_parser("info", help="root and totals").set_defaults(func=_cmd_info)
    sub.add_parser("clear", help="remove every entry").set_defaults(func=_cmd_clear)
    prune = sub.add_parser("prune", help="remove least-recently-used entries above a size bound")
    prune.add_argument("--max-size", type=parse_size, default=DEFAULT_MAX_BYTES,
                       help="size bound in bytes or with K/M/G suffix (default 512M)")
    prune.set_defaults(func=_cmd_prune)
    args = parser.parse_args(argv)
    return args.func(ModuleCache(args.root), args)


if __name__ == "__main__":
    sys.exit(main())
