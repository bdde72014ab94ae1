"""The C backend of symgraph (issue #5), built piece by piece.

Each module under this package is one self-contained part of the backend:

- :mod:`symgraph.link.c.cache` -- the content-addressed compilation cache (a per-key file lock,
  atomic installation of compiled artifacts, checksummed manifests, LRU pruning).

Nothing here is used by the default modes yet (``config.linker`` is still ``'py'``).  This file
deliberately imports none of its submodules so that importing one part never pulls in (or breaks
on) another part that is still being written.
"""
