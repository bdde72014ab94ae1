"""Where a compiled function spends its time: :class:`ProfileStats`.

``sg.function(inputs, outputs, profile=True)`` (or ``config.profile = True``, or the
environment variable ``SYMGRAPH_PROFILE=1``) compiles a function whose ``f.profile`` is a
:class:`ProfileStats`. It records

- compiling: time spent rewriting the graph, linking it (making the thunks, which for the C
  linker includes generating and compiling C, or loading it from the cache) and the whole
  ``function()`` call, with the number of nodes before and after rewriting;
- calling: the number of calls, the time spent in ``Function.__call__`` (argument checks,
  copies and updates included) and in the VM's run;
- per thunk (one node, or one C region running several nodes): its time and call count;
- per node: a Python node's time is its thunk's; a C region times each of its nodes in C
  (``time_nodes`` of the region's module: two clock reads per node, only when profiling),
  and what is left of the region's time is its own work (argument checks, output arrays).

``f.profile.summary()`` prints it as tables; :meth:`ProfileStats.as_dict` gives plain data.
Functions profiled because of ``config.profile`` (not an explicit ``profile=`` argument) also
print their summary to stderr when the interpreter exits, if they were called: the way to
profile a whole program without editing it (``SYMGRAPH_PROFILE=1 python script.py``).
Passing the same ``ProfileStats`` to several ``function()`` calls accumulates them all in one
object (each function keeps its own thunk rows). Functions compiled without profiling pay
nothing: their VM runs its untimed runner and their ``__call__`` is not wrapped.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import numpy as np

from symgraph.compile.function import Function

__all__ = ["ProfileStats", "ProfiledFunction", "resolve_profile", "summary_at_exit"]

#: Profiles to print at exit (summary_at_exit), in the order their functions were compiled.
_AT_EXIT: list = []


def _format_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e9:.0f} ns"


def _percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole > 0 else "    -"


def _describe_thunk(nodes: list) -> str:
    if len(nodes) == 1:
        return str(nodes[0])
    ops: list[str] = []
    for node in nodes:
        name = _clip(str(node.op), 40)  # a fused Composite's name can be very long
        if name not in ops:
            ops.append(name)
    return f"C region: {len(nodes)} nodes ({', '.join(ops)})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


class _FunctionRecord:
    """The counters of one compiled function (shared by its copies and unpickled forms)."""

    def __init__(self, name: str, thunks: list[dict], compile_info: dict):
        self.name = name
        # One dict per thunk: description, impl, nodes, ops, op_classes (strings only, so
        # the stats pickle as plain data).
        self.thunks = thunks
        # Updated in place by the timing runner and the profiled __call__: never rebind.
        self.thunk_times = [0.0] * len(thunks)
        self.thunk_calls = [0] * len(thunks)
        self.run_totals = [0.0, 0]  # seconds in the VM's run, runs
        self.call_totals = [0.0, 0]  # seconds in Function.__call__, calls
        self.rewrite_time = float(compile_info.get("rewrite_time", 0.0))
        self.compile_time = float(compile_info.get("compile_time", 0.0))
        self.nodes_before = compile_info.get("nodes_before")
        self.nodes_after = compile_info.get("nodes_after")
        self.link_time = 0.0
        self.links = 0
        # Per thunk: the seconds of each of its nodes, filled in by C regions (None for
        # thunks that do not time their nodes).
        self.node_times: list[np.ndarray | None] = [None] * len(thunks)

    def reset(self) -> None:
        for i in range(len(self.thunk_times)):
            self.thunk_times[i] = 0.0
            self.thunk_calls[i] = 0
        self.run_totals[0], self.run_totals[1] = 0.0, 0
        self.call_totals[0], self.call_totals[1] = 0.0, 0
        for times in self.node_times:
            if times is not None:
                times[:] = 0.0  # in place: the regions write into this memory

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "calls": self.call_totals[1],
            "call_time": self.call_totals[0],
            "vm_runs": self.run_totals[1],
            "vm_time": self.run_totals[0],
            "thunk_time": sum(self.thunk_times),
            "compile_time": self.compile_time,
            "rewrite_time": self.rewrite_time,
            "link_time": self.link_time,
            "links": self.links,
            "nodes_before_rewriting": self.nodes_before,
            "nodes_after_rewriting": self.nodes_after,
            "thunks": [
                dict(
                    info, time=t, calls=c, function=self.name, index=i,
                    node_times=None if nt is None else [float(x) for x in nt],
                )
                for i, (info, t, c, nt) in enumerate(
                    zip(self.thunks, self.thunk_times, self.thunk_calls, self.node_times)
                )
            ],
        }


class ProfileStats:
    """Time spent compiling and running one or several compiled functions.

    Make one with ``sg.function(..., profile=True)`` and read it as ``f.profile``, or create
    ``ProfileStats(name)`` and pass it as ``profile=`` to several ``function()`` calls to add
    them up. Times are wall-clock seconds (``time.perf_counter``); timing each thunk costs
    about a microsecond per thunk and call, so tiny graphs look slower profiled than not.

    Pickling keeps the counts: a function compiled with ``profile=True`` pickles with its
    stats, and the unpickled function goes on adding to the copy of them it got (call
    :meth:`reset` to start over). ``f.copy()`` shares ``f``'s stats and thunk rows.
    """

    def __init__(self, name: str | None = None):
        self.name = name
        self._records: dict[tuple, _FunctionRecord] = {}

    # ------------------------------------------------------------------ recording

    def attach(self, key: str, name: str, vm: Any, compile_info: dict, link_time: float) -> _FunctionRecord:
        """Register a function's freshly made ``vm`` and switch it to its timing runner.

        ``key`` identifies the compiled function (copies and unpickled forms give the same
        key and so add to the same rows); ``compile_info`` holds ``rewrite_time``,
        ``compile_time``, ``nodes_before``, ``nodes_after``; ``link_time`` is the time
        ``make_vm`` took. Returns the record whose ``call_totals`` the caller updates.
        """
        thunks = []
        offset = 0  # vm.nodes (and vm.implementations) list the thunks' nodes in order
        for nodes in vm.thunk_nodes:
            impl = vm.implementations[offset] if offset < len(vm.implementations) else "py"
            offset += len(nodes)
            thunks.append(
                {
                    "description": _describe_thunk(nodes),
                    "impl": impl,
                    "nodes": [str(n) for n in nodes],
                    "ops": [str(n.op) for n in nodes],
                    "op_classes": [type(n.op).__name__ for n in nodes],
                }
            )
        # A copy relinked into a different split of thunks (say, C unavailable after
        # unpickling) cannot share rows: it gets its own record.
        full_key = (key, tuple((t["description"], t["impl"]) for t in thunks))
        record = self._records.get(full_key)
        if record is None:
            if self.name is None:
                self.name = name
            record = _FunctionRecord(name, thunks, compile_info)
            self._records[full_key] = record
        record.link_time += link_time
        record.links += 1
        for i, (thunk, nodes) in enumerate(zip(vm.thunks, vm.thunk_nodes)):
            time_nodes = getattr(thunk, "time_nodes", None)
            if time_nodes is None:
                continue
            if record.node_times[i] is None:
                record.node_times[i] = np.zeros(len(nodes))
            time_nodes(record.node_times[i])  # copies of the function add to the same array
        vm.enable_profiling(record.thunk_times, record.thunk_calls, record.run_totals)
        return record

    def reset(self) -> None:
        """Zero every call count and run time (compile times are kept)."""
        for record in self._records.values():
            record.reset()

    # ------------------------------------------------------------------ totals

    @property
    def functions(self) -> list[str]:
        """The names of the functions recorded, in the order they were compiled."""
        return [r.name for r in self._records.values()]

    @property
    def calls(self) -> int:
        """Calls of the functions, all together."""
        return sum(r.call_totals[1] for r in self._records.values())

    @property
    def call_time(self) -> float:
        """Seconds spent in the functions' ``__call__``."""
        return sum(r.call_totals[0] for r in self._records.values())

    @property
    def vm_time(self) -> float:
        """Seconds spent in the VMs' runs (a part of :attr:`call_time`)."""
        return sum(r.run_totals[0] for r in self._records.values())

    @property
    def thunk_time(self) -> float:
        """Seconds spent inside the thunks (a part of :attr:`vm_time`)."""
        return sum(sum(r.thunk_times) for r in self._records.values())

    @property
    def rewrite_time(self) -> float:
        return sum(r.rewrite_time for r in self._records.values())

    @property
    def link_time(self) -> float:
        return sum(r.link_time for r in self._records.values())

    @property
    def compile_time(self) -> float:
        """Seconds in ``function()`` (rewriting and the first link included)."""
        return sum(r.compile_time for r in self._records.values())

    def _thunk_rows(self) -> list[dict]:
        rows = [row for r in self._records.values() for row in r.as_dict()["thunks"]]
        rows.sort(key=lambda row: -row["time"])
        return rows

    def _node_rows(self) -> tuple[list[dict], float]:
        """Every node with its time, slowest first, and the C regions' own time.

        A node of a C region that timed its nodes has its own time; a thunk of one node
        has the thunk's; a region that did not time its nodes (made before profiling could
        reach it) is one row under its description.
        """
        rows: list[dict] = []
        glue = 0.0
        for thunk in self._thunk_rows():
            times = thunk["node_times"]
            if times is not None:
                glue += max(thunk["time"] - sum(times), 0.0)
                parts = zip(thunk["nodes"], thunk["op_classes"], times)
            elif len(thunk["nodes"]) == 1:
                parts = zip(thunk["nodes"], thunk["op_classes"], [thunk["time"]])
            else:
                parts = [(thunk["description"], "+".join(sorted(set(thunk["op_classes"]))), thunk["time"])]
            for node, op_class, t in parts:
                rows.append(
                    {"node": node, "op_class": op_class, "impl": thunk["impl"], "time": t,
                     "calls": thunk["calls"], "function": thunk["function"]}
                )
        rows.sort(key=lambda row: -row["time"])
        return rows, glue

    def _op_class_rows(self) -> list[dict]:
        table: dict[tuple[str, str], dict] = {}
        for row in self._node_rows()[0]:
            key = (row["op_class"], row["impl"])
            entry = table.setdefault(key, {"op_class": key[0], "impl": key[1], "time": 0.0, "nodes": 0})
            entry["time"] += row["time"]
            entry["nodes"] += 1
        return sorted(table.values(), key=lambda e: -e["time"])

    def _impl_rows(self) -> dict[str, dict]:
        table: dict[str, dict] = {}
        for row in self._thunk_rows():
            entry = table.setdefault(row["impl"], {"time": 0.0, "thunks": 0, "nodes": 0})
            entry["time"] += row["time"]
            entry["thunks"] += 1
            entry["nodes"] += len(row["nodes"])
        return table

    def as_dict(self) -> dict:
        """Everything recorded, as plain data (dicts, lists, strings and numbers).

        Keys: ``name``, ``calls``, ``call_time``, ``vm_time``, ``thunk_time``,
        ``compile_time``, ``rewrite_time``, ``link_time``; ``functions`` (one dict per
        function with its own totals, compile details and ``thunks``); ``thunks`` (every
        thunk of every function, slowest first: ``description``, ``impl``, ``nodes``,
        ``ops``, ``op_classes``, ``time``, ``calls``, ``function``, ``index``, and
        ``node_times``: a C region's seconds per node, else ``None``); ``nodes`` (every
        node, slowest first: ``node``, ``op_class``, ``impl``, ``time``, ``calls``,
        ``function``); ``c_region_own_time`` (C regions' time outside their nodes);
        ``op_classes`` (time per op class and implementation, slowest first) and
        ``implementations`` (time, thunks and nodes per ``"c"``/``"py"``).
        """
        nodes, region_own_time = self._node_rows()
        return {
            "name": self.name,
            "calls": self.calls,
            "call_time": self.call_time,
            "vm_time": self.vm_time,
            "thunk_time": self.thunk_time,
            "compile_time": self.compile_time,
            "rewrite_time": self.rewrite_time,
            "link_time": self.link_time,
            "functions": [r.as_dict() for r in self._records.values()],
            "thunks": self._thunk_rows(),
            "nodes": nodes,
            "c_region_own_time": region_own_time,
            "op_classes": self._op_class_rows(),
            "implementations": self._impl_rows(),
        }

    # ------------------------------------------------------------------ printing

    def summary(self, file: TextIO | None = None, n_rows: int = 20) -> None:
        """Print the header, the ``n_rows`` slowest thunks and the per-op-class table."""
        out = sys.stdout if file is None else file
        out.write(self.summary_text(n_rows))

    def summary_text(self, n_rows: int = 20) -> str:
        """The text :meth:`summary` prints."""
        lines: list[str] = []
        records = list(self._records.values())
        calls, call_time = self.calls, self.call_time
        lines.append(f"Function profile: {self.name or '<unnamed>'}")
        if len(records) > 1:
            lines.append(f"  {len(records)} functions: {', '.join(r.name for r in records)}")
        if not records:
            lines.append("  (no function recorded)")
        per_call = _format_time(call_time / calls) if calls else "-"
        lines.append(f"  calls: {calls}   time in calls: {_format_time(call_time)}   per call: {per_call}")
        vm_time, thunk_time = self.vm_time, self.thunk_time
        lines.append(
            f"  in the VM: {_format_time(vm_time)} ({_percent(vm_time, call_time).strip()} of call time)"
            f"   in thunks: {_format_time(thunk_time)} ({_percent(thunk_time, vm_time).strip()} of VM time)"
        )
        for r in records:
            prefix = f"  compile [{r.name}]" if len(records) > 1 else "  compile"
            nodes = f"{r.nodes_before} -> {r.nodes_after} nodes" if r.nodes_before is not None else "nodes: -"
            lines.append(
                f"{prefix}: {_format_time(r.compile_time)} in function(); rewriting "
                f"{_format_time(r.rewrite_time)} ({nodes}); linking {_format_time(r.link_time)}"
                f" ({_plural(r.links, 'link')}, {_plural(len(r.thunks), 'thunk')})"
            )

        rows = self._thunk_rows()
        lines.append("")
        shown = rows[: max(int(n_rows), 0)]
        lines.append(f"Thunks, slowest first ({len(shown)} of {len(rows)}):")
        lines.append(f"  {'time %':>6} {'cum %':>6} {'total':>11} {'per call':>11} {'calls':>7} impl  thunk")
        cumulative = 0.0
        for row in shown:
            cumulative += row["time"]
            per = _format_time(row["time"] / row["calls"]) if row["calls"] else "-"
            what = row["description"]
            if len(records) > 1:
                what = f"[{row['function']}] {what}"
            lines.append(
                f"  {_percent(row['time'], thunk_time):>6} {_percent(cumulative, thunk_time):>6} "
                f"{_format_time(row['time']):>11} {per:>11} {row['calls']:>7} {row['impl']:<4}  {_clip(what, 120)}"
            )
        if len(rows) > len(shown):
            rest = sum(row["time"] for row in rows[len(shown):])
            lines.append(f"  ... {len(rows) - len(shown)} more thunks: {_percent(rest, thunk_time).strip()} of thunk time")

        node_rows, glue = self._node_rows()
        if any(row["node_times"] is not None for row in rows):
            lines.append("")
            shown_nodes = node_rows[: max(int(n_rows), 0)]
            lines.append(f"Nodes, slowest first ({len(shown_nodes)} of {len(node_rows)}):")
            lines.append(f"  {'time %':>6} {'cum %':>6} {'total':>11} {'per call':>11} impl  node")
            cumulative = 0.0
            for row in shown_nodes:
                cumulative += row["time"]
                per = _format_time(row["time"] / row["calls"]) if row["calls"] else "-"
                what = row["node"] if len(records) == 1 else f"[{row['function']}] {row['node']}"
                lines.append(
                    f"  {_percent(row['time'], thunk_time):>6} {_percent(cumulative, thunk_time):>6} "
                    f"{_format_time(row['time']):>11} {per:>11} {row['impl']:<4}  {_clip(what, 120)}"
                )
            lines.append(
                f"  C regions outside their nodes (argument checks, output arrays): {_format_time(glue)}"
                f" ({_percent(glue, thunk_time).strip()})"
            )

        lines.append("")
        lines.append("Op classes, slowest first:")
        lines.append(f"  {'time %':>6} {'cum %':>6} {'total':>11} {'nodes':>6} impl  op class")
        cumulative = 0.0
        op_rows = self._op_class_rows()
        for entry in op_rows[: max(int(n_rows), 0)]:
            cumulative += entry["time"]
            lines.append(
                f"  {_percent(entry['time'], thunk_time):>6} {_percent(cumulative, thunk_time):>6} "
                f"{_format_time(entry['time']):>11} {entry['nodes']:>6} {entry['impl']:<4}  "
                f"{_clip(entry['op_class'], 100)}"
            )
        impls = self._impl_rows()
        if impls:
            parts = [
                f"{impl}: {_format_time(e['time'])} ({_percent(e['time'], thunk_time).strip()}, "
                f"{_plural(e['thunks'], 'thunk')}, {_plural(e['nodes'], 'node')})"
                for impl, e in sorted(impls.items())
            ]
            lines.append("")
            lines.append("By implementation: " + "; ".join(parts))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (
            f"<ProfileStats {self.name or '<unnamed>'!r}: {len(self._records)} function"
            f"{'s' if len(self._records) != 1 else ''}, {self.calls} calls, {_format_time(self.call_time)}>"
        )


def resolve_profile(profile: Any, display_name: str) -> ProfileStats | None:
    """The ProfileStats a ``function(profile=...)`` argument asks for (``None``: none)."""
    if isinstance(profile, ProfileStats):
        return profile
    if profile is True:
        return ProfileStats(display_name)
    if profile is False or profile is None:
        return None
    raise TypeError(f"function(): profile must be True, False, None or a ProfileStats, got {profile!r}")


def summary_at_exit(stats: ProfileStats) -> None:
    """Print ``stats.summary()`` to stderr when the interpreter exits, if its functions were
    called by then (function() does this for profiles that ``config.profile`` turned on)."""
    if not _AT_EXIT:
        import atexit

        atexit.register(_print_at_exit)
    if all(s is not stats for s in _AT_EXIT):
        _AT_EXIT.append(stats)


def _print_at_exit() -> None:
    for stats in _AT_EXIT:
        if stats.calls:
            stats.summary(file=sys.stderr)
            sys.stderr.write("\n")


class ProfiledFunction(Function):
    """A :class:`~symgraph.compile.function.Function` compiled with profiling: each call
    is timed into ``profile``.

    ``Function.__init__`` turns a function whose maker has a profile into this class, so
    the plain class's ``__call__`` never checks whether to time.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        totals = self._profile_record.call_totals
        start = time.perf_counter()
        try:
            return Function.__call__(self, *args, **kwargs)
        finally:
            totals[0] += time.perf_counter() - start
            totals[1] += 1
