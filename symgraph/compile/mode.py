"""Compilation modes: which graph rewrites run, and which linker runs the result.

A :class:`Mode` names an *optimizer* (a set of rewrite passes) and a *linker*. Rewrite
passes live in a small ordered registry, :func:`register_rewrite_pass`; each pass says
which optimizers it belongs to (``"fast_run"``, ``"fast_compile"``) and carries tags, so
``mode.including("tag")``/``mode.excluding("tag")`` add or remove passes by tag or name.
No passes ship with this module: the rewrite machinery registers its own.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from symgraph.configdefaults import PARAMS, config
from symgraph.link.vm import LINKERS, VMLinker

__all__ = [
    "Mode",
    "FAST_RUN",
    "FAST_COMPILE",
    "get_mode",
    "get_default_mode",
    "predefined_modes",
    "OPTIMIZERS",
    "RewritePass",
    "register_rewrite_pass",
    "unregister_rewrite_pass",
    "registered_rewrite_passes",
]

# Optimizer names a Mode accepts. None (or "None") runs no pass unless one is included by tag.
OPTIMIZERS: tuple[str, ...] = ("fast_run", "fast_compile", "None")


@dataclass(frozen=True)
class RewritePass:
    """A named whole-graph rewrite: ``fn(fgraph)`` mutates ``fgraph`` through ``replace``.

    ``optimizers`` lists the optimizer names that run it by default, ``position`` orders
    passes (lower first; ties keep registration order) and ``tags`` are extra names
    :meth:`Mode.including`/:meth:`Mode.excluding` can select it by.
    """

    name: str
    fn: Callable[[Any], None]
    optimizers: frozenset
    position: float
    tags: frozenset
    order: int  # registration order, the tie-breaker

    def selected_by(self, optimizer: str | None, including: Iterable[str], excluding: Iterable[str]) -> bool:
        names = self.tags | {self.name}
        if names & set(excluding):
            return False
        return (optimizer is not None and optimizer in self.optimizers) or bool(names & set(including))


_PASSES: dict[str, RewritePass] = {}
_registration_counter = [0]


def register_rewrite_pass(
    name: str,
    fn: Callable[[Any], None] | None = None,
    optimizers: Iterable[str] = ("fast_run",),
    position: float = 0.0,
    tags: Iterable[str] = (),
    replace: bool = False,
):
    """Register ``fn(fgraph) -> None`` as the rewrite pass ``name``.

    Usable directly or as a decorator (``@register_rewrite_pass("merge", optimizers=...)``).
    ``optimizers`` must be names from :data:`OPTIMIZERS` (other than ``"None"``). A name
    already registered raises ``ValueError`` unless ``replace=True``. Returns ``fn``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_rewrite_pass: the name must be a non-empty string, got {name!r}")
    optimizers = frozenset(optimizers)
    valid = set(OPTIMIZERS) - {"None"}
    unknown = optimizers - valid
    if unknown:
        raise ValueError(
            f"register_rewrite_pass({name!r}): unknown optimizer(s) {sorted(unknown)}; "
            f"valid ones are {sorted(valid)}"
        )
    if isinstance(tags, str):
        tags = (tags,)

    def register(func: Callable[[Any], None]) -> Callable[[Any], None]:
        if not callable(func):
            raise TypeError(f"register_rewrite_pass({name!r}): {func!r} is not callable")
        if name in _PASSES and not replace:
            raise ValueError(f"a rewrite pass named {name!r} is already registered (pass replace=True)")
        _registration_counter[0] += 1
        _PASSES[name] = RewritePass(
            name, func, optimizers, float(position), frozenset(tags), _registration_counter[0]
        )
        return func

    if fn is None:
        return register
    return register(fn)


def unregister_rewrite_pass(name: str) -> None:
    """Remove the pass ``name`` (``KeyError`` if there is none)."""
    del _PASSES[name]


def registered_rewrite_passes() -> list[RewritePass]:
    """All registered passes, in the order they run."""
    return sorted(_PASSES.values(), key=lambda p: (p.position, p.order))


def _check_optimizer(optimizer: Any) -> str | None:
    if optimizer is None or optimizer == "None":
        return None
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return optimizer
    raise ValueError(f"unknown optimizer {optimizer!r}; valid optimizers are {', '.join(map(repr, OPTIMIZERS))} (or None)")


def _check_linker(linker: Any):
    if isinstance(linker, str):
        if linker not in LINKERS:
            raise ValueError(f"unknown linker {linker!r}; valid linkers are {', '.join(map(repr, sorted(LINKERS)))}")
        return linker
    if isinstance(linker, VMLinker):
        return linker
    raise ValueError(
        f"unknown linker {linker!r}; valid linkers are {', '.join(map(repr, sorted(LINKERS)))} "
        "(or a VMLinker instance)"
    )


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    tags = tuple(tags)
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"rewrite tags must be strings, got {tag!r}")
    return tags


class Mode:
    """How :func:`symgraph.function` compiles: an optimizer (rewrite passes) and a linker.

    Parameters
    ----------
    linker
        ``"c"`` (generated C where nodes have it, Python elsewhere; see
        ``docs/c_backend.md``), ``"py"`` (the Python VM), ``"check"`` (C and Python run and
        compared node by node) or a :class:`~symgraph.link.vm.VMLinker` instance.
    optimizer
        ``"fast_run"``, ``"fast_compile"``, or ``None``/``"None"`` for no rewriting.
    including, excluding
        Tags or pass names to add to / remove from the optimizer's passes.

    Modes are immutable values: :meth:`including`, :meth:`excluding` and :meth:`clone`
    return new modes. They compare equal when their settings are equal, and pickle.
    """

    def __init__(
        self,
        linker: Any = "c",
        optimizer: str | None = "fast_run",
        including: Iterable[str] = (),
        excluding: Iterable[str] = (),
    ):
        self._linker = _check_linker(linker)
        self._optimizer = _check_optimizer(optimizer)
        self._including = _tags(including)
        self._excluding = _tags(excluding)

    @property
    def linker(self) -> str:
        """The linker's name (``"c"``, ``"py"``, ``"check"``)."""
        return self._linker if isinstance(self._linker, str) else self._linker.name

    @property
    def optimizer(self) -> str | None:
        """The optimizer's name, or ``None`` when no rewriting is asked for."""
        return self._optimizer

    @property
    def included(self) -> tuple[str, ...]:
        return self._including

    @property
    def excluded(self) -> tuple[str, ...]:
        return self._excluding

    def make_linker(self) -> VMLinker:
        """A fresh, unbound linker of this mode's kind."""
        if isinstance(self._linker, str):
            return LINKERS[self._linker]()
        return type(self._linker)(allow_gc=self._linker.allow_gc)

    def clone(self, **changes: Any) -> "Mode":
        """A mode with some of ``linker``, ``optimizer``, ``including``, ``excluding`` changed."""
        settings = {
            "linker": self._linker,
            "optimizer": self._optimizer,
            "including": self._including,
            "excluding": self._excluding,
        }
        unknown = set(changes) - set(settings)
        if unknown:
            raise TypeError(f"Mode.clone: unknown settings {sorted(unknown)}")
        settings.update(changes)
        return Mode(**settings)

    def including(self, *tags: str) -> "Mode":
        """A mode that also runs the passes with any of ``tags`` (names or tags)."""
        added = tuple(t for t in _tags(tags) if t not in self._including)
        return self.clone(
            including=self._including + added,
            excluding=tuple(t for t in self._excluding if t not in tags),
        )

    def excluding(self, *tags: str) -> "Mode":
        """A mode that skips the passes with any of ``tags`` (names or tags)."""
        added = tuple(t for t in _tags(tags) if t not in self._excluding)
        return self.clone(
            excluding=self._excluding + added,
            including=tuple(t for t in self._including if t not in tags),
        )

    def rewrite_passes(self) -> list[RewritePass]:
        """The registered passes this mode runs, in order."""
        return [
            p
            for p in registered_rewrite_passes()
            if p.selected_by(self._optimizer, self._including, self._excluding)
        ]

    def rewrite(self, fgraph: Any) -> Any:
        """Run this mode's rewrite passes on ``fgraph`` (in place); returns ``fgraph``.

        A pass that raises stops compilation (``config.on_rewrite_error == "raise"``, with
        a note naming the pass) or is skipped with a warning (``"warn"``).
        """
        passes = self.rewrite_passes()
        if not passes:
            return fgraph
        # Rewrites build many short-lived nodes: computing test values for them is wasted
        # (and may fail on intermediate forms), and the cyclic garbage collector would scan
        # the whole graph (nodes and outputs reference each other) again and again.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with config.change_flags(compute_test_value="off"):
                self._run_passes(passes, fgraph)
        finally:
            if gc_was_enabled:
                gc.enable()
        return fgraph

    def _run_passes(self, passes: list, fgraph: Any) -> None:
        for rewrite_pass in passes:
            try:
                rewrite_pass.fn(fgraph)
            except Exception as exc:
                if config.on_rewrite_error == "warn":
                    warnings.warn(
                        f"rewrite pass {rewrite_pass.name!r} failed and was skipped: "
                        f"{type(exc).__name__}: {exc}",
                        stacklevel=2,
                    )
                    continue
                exc.add_note(f"symgraph: raised by the rewrite pass {rewrite_pass.name!r}")
                raise

    # ------------------------------------------------------------------ value semantics

    def _key(self) -> tuple:
        linker = self._linker if isinstance(self._linker, str) else (type(self._linker), self._linker.allow_gc)
        return (linker, self._optimizer, self._including, self._excluding)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Mode) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        linker = self._linker if isinstance(self._linker, str) else repr(self._linker)
        parts = [f"linker={linker!r}", f"optimizer={self._optimizer!r}"]
        if self._including:
            parts.append(f"including={self._including!r}")
        if self._excluding:
            parts.append(f"excluding={self._excluding!r}")
        return f"Mode({', '.join(parts)})"

    __str__ = __repr__


FAST_RUN = Mode("c", "fast_run")
FAST_COMPILE = Mode("py", "fast_compile")

predefined_modes: dict[str, Mode] = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE}


def get_default_mode() -> Mode:
    """The mode ``function()`` uses when given none.

    It is the named mode ``config.mode``; a ``config.optimizer`` other than its default
    (``"fast_run"``) replaces that mode's optimizer, and ``config.linker`` (unless
    ``"auto"``) its linker.
    """
    mode = predefined_modes[config.mode]
    if config.optimizer != PARAMS["optimizer"].default:
        mode = mode.clone(optimizer=config.optimizer)
    if config.linker != "auto" and config.linker != mode.linker:
        mode = mode.clone(linker=config.linker)
    return mode


def get_mode(mode: Mode | str | None) -> Mode:
    """``mode`` as a :class:`Mode`: ``None`` gives the default mode, a string a named mode."""
    if mode is None:
        return get_default_mode()
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        try:
            return predefined_modes[mode]
        except KeyError:
            raise ValueError(
                f"unknown mode {mode!r}; valid names are {', '.join(map(repr, predefined_modes))} "
                "(or pass a Mode instance)"
            ) from None
    raise TypeError(f"mode must be None, a mode name or a Mode, got {type(mode).__name__} {mode!r}")


def _register_standard_passes() -> None:
    """Register the rewriting package's standard pipeline (merge, constant folding, ...)."""
    from symgraph.rewriting import standard_passes

    for name, fn, optimizers, position, tags in standard_passes():
        register_rewrite_pass(name, fn, optimizers=optimizers, position=position, tags=tags)


_register_standard_passes()
