"""The C backend of symgraph: generated C for the nodes that have it, run by the VM.

- :mod:`~symgraph.link.c.c_ops` -- which C a node gets (the op's ``c_code``, or an
  implementation registered by the ``ops_*`` modules);
- :mod:`~symgraph.link.c.region` -- orders nodes into regions and writes one extension
  module per graph;
- :mod:`~symgraph.link.c.build` / :mod:`~symgraph.link.c.cache` -- compiling, the
  content-addressed on-disk cache;
- :mod:`~symgraph.link.c.linker` -- the ``'c'`` and ``'check'`` linkers.

See ``docs/c_backend.md``. This file imports none of its submodules, so that importing the
VM never pulls in the compiler toolchain.
"""
