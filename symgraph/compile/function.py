"""Compiling graphs into callables: :func:`function`, :class:`Function`, :class:`FunctionMaker`.

``function(inputs, outputs)`` gathers the shared variables the outputs (and updates) need,
applies ``givens``, builds a :class:`~symgraph.graph.fg.FunctionGraph` on copies of the
inputs, runs the mode's rewrites, checks that no op overwrites memory the caller owns, and
links the graph with the mode's linker. The :class:`Function` it returns binds arguments to
input cells, runs the linked graph, copies any result that could alias memory the caller or
the function still owns, and applies updates.
"""

from __future__ import annotations

import copy
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symgraph.compile.io import In, Out
from symgraph.compile.mode import Mode, get_mode
from symgraph.compile.sharedvalue import SharedVariable
from symgraph.graph.basic import Constant, Variable, ancestors, rebuild_graph
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.utils import InconsistencyError, user_frames
from symgraph.graph.aliasing import memory_roots, view_ancestors

if TYPE_CHECKING:  # profiling imports this module (ProfiledFunction subclasses Function)
    from symgraph.compile.profiling import ProfileStats

__all__ = ["function", "Function", "FunctionMaker", "UnusedInputError"]

_MISSING = object()


class UnusedInputError(ValueError):
    """An input of ``function()`` is not needed to compute the outputs or updates."""


def _copy_value(value: Any) -> Any:
    if type(value) is np.ndarray:
        return value.copy()
    return copy.deepcopy(value)


def _describe_input(spec: In) -> str:
    if spec.name is not None:
        return f'with name "{spec.name}"'
    return f"(unnamed, of type {spec.variable.type})"


def _as_variable(value: Any, what: str) -> Variable:
    if isinstance(value, Variable):
        return value
    try:
        from symgraph.tensor import as_tensor_variable
    except ImportError:  # the tensor module is optional for generic graphs
        as_tensor_variable = None
    if as_tensor_variable is not None:
        try:
            return as_tensor_variable(value)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{what} must be a symbolic Variable, got {type(value).__name__} {value!r}")


# --------------------------------------------------------------------------- argument checks


def _normalize_inputs(inputs: Any) -> list[In]:
    if inputs is None:
        inputs = []
    if isinstance(inputs, (Variable, In)):
        raise TypeError(
            "function(): the inputs must be given as a list, even when there is only one "
            f"(function([{inputs}], ...))"
        )
    specs = []
    seen: dict[Variable, int] = {}
    for i, inp in enumerate(inputs):
        # A copy: compiling fills in details (a filtered default) the caller's In must not see.
        spec = copy.copy(inp) if isinstance(inp, In) else None
        if spec is None:
            if not isinstance(inp, Variable):
                raise TypeError(
                    f"function(): input {i} must be a symbolic Variable or an In, got "
                    f"{type(inp).__name__} {inp!r}"
                )
            spec = In(inp)
        var = spec.variable
        if isinstance(var, SharedVariable):
            raise TypeError(
                f"function(): input {i} ({var}) is a shared variable; shared variables are passed "
                "implicitly and cannot be explicit inputs. To substitute a value for it, use "
                "givens={shared_var: other_variable}"
            )
        if isinstance(var, Constant):
            raise TypeError(f"function(): input {i} ({var}) is a constant; constants cannot be inputs")
        if var.owner is not None:
            raise TypeError(
                f"function(): input {i} ({var}) is computed by {var.owner.op}; inputs must be root "
                "variables (use givens= to substitute a value for a computed variable)"
            )
        if var in seen:
            raise ValueError(
                f"function(): the variable {var} is given as an input more than once "
                f"(positions {seen[var]} and {i})"
            )
        seen[var] = i
        specs.append(spec)
    return specs


def _normalize_outputs(outputs: Any) -> tuple[list[Out], bool]:
    """The outputs as Out specs, and whether the function returns a single value."""
    if outputs is None:
        return [], False
    if isinstance(outputs, (Variable, Out)):
        outputs, single = [outputs], True
    elif isinstance(outputs, (list, tuple)):
        outputs, single = list(outputs), False
    else:
        outputs, single = [outputs], True
    specs = []
    for i, out in enumerate(outputs):
        if isinstance(out, Out):
            specs.append(out)
        else:
            specs.append(Out(_as_variable(out, f"function(): output {i}")))
    return specs, single


def _pairs(mapping: Any, what: str) -> list[tuple[Any, Any]]:
    if mapping is None:
        return []
    if isinstance(mapping, Mapping):
        return list(mapping.items())
    try:
        pairs = [tuple(p) for p in mapping]
    except TypeError:
        raise TypeError(f"function(): {what} must be a dict or a list of pairs, got {mapping!r}") from None
    for p in pairs:
        if len(p) != 2:
            raise TypeError(f"function(): each entry of {what} must be a pair, got {p!r}")
    return pairs


def _checked_givens(givens: Any) -> dict[Variable, Variable]:
    result: dict[Variable, Variable] = {}
    for old, new in _pairs(givens, "givens"):
        if not isinstance(old, Variable):
            raise TypeError(f"function(): givens keys must be symbolic Variables, got {old!r}")
        if old in result:
            raise ValueError(f"function(): {old} appears more than once in givens")
        try:
            result[old] = old.type.filter_variable(new)
        except (TypeError, ValueError) as exc:
            new_type = getattr(new, "type", type(new).__name__)
            raise TypeError(
                f"function(): givens replaces {old} (type {old.type}) by {new} (type {new_type}), "
                f"which is not compatible: {exc}"
            ) from exc
    return result


def _checked_update(target: Variable, expr: Any) -> Variable:
    """``expr`` as a variable of ``target``'s type, or a TypeError naming ``target``."""
    try:
        return target.type.filter_variable(expr, allow_convert=True)
    except (TypeError, ValueError) as exc:
        expr_type = getattr(expr, "type", type(expr).__name__)
        what = "shared variable" if isinstance(target, SharedVariable) else "input"
        raise TypeError(
            f"function(): the update of {what} {target.name or target!r} (type {target.type}) "
            f"is {expr} of type {expr_type}, which cannot be converted to the {what}'s type. "
            f"Cast the update expression to the {what}'s dtype and shape."
        ) from exc


# --------------------------------------------------------------------------- compilation


class FunctionMaker:
    """The compiled form of a function: its graph, input/output specs and linking plan.

    Attributes
    ----------
    fgraph
        The rewritten graph that runs. ``fgraph.inputs`` are the explicit inputs followed by
        the shared variables; ``fgraph.outputs`` are the outputs followed by the update
        expressions.
    inputs
        One :class:`In` per graph input (shared ones have ``implicit=True``).
    outputs
        One :class:`Out` per user output.
    mode, linker
        The :class:`Mode` used and the linker bound to ``fgraph``.
    profile
        The :class:`ProfileStats` its functions record into, or ``None``.
    """

    def __init__(
        self,
        fgraph: FunctionGraph,
        inputs: list[In],
        outputs: list[Out],
        mode: Mode,
        single: bool,
        name: str | None,
        display_name: str,
        allow_input_downcast: bool | None,
        profile: "ProfileStats | None" = None,
        compile_info: dict | None = None,
    ):
        self.fgraph = fgraph
        self.inputs = inputs
        self.outputs = outputs
        self.mode = mode
        self.single = single
        self.name = name
        self.display_name = display_name
        self.allow_input_downcast = allow_input_downcast
        self.profile = profile
        # Times and node counts of the compilation, for the profile (see function()).
        self.compile_info = dict(compile_info or {})
        # Identifies this compiled function in a shared ProfileStats, across copies and pickling.
        self.profile_key = uuid.uuid4().hex if profile is not None else None
        self._plan()

    def _plan(self) -> None:
        """Decide which results to copy and which cells to empty before each run."""
        fgraph = self.fgraph
        if len(fgraph.inputs) != len(self.inputs):
            raise InconsistencyError(
                f"the graph has {len(fgraph.inputs)} inputs but the function {len(self.inputs)} "
                "(a rewrite must not add graph inputs)"
            )
        n_out = len(self.outputs)
        # fgraph output index -> graph input index it updates.
        self.update_targets: list[tuple[int, int]] = sorted(fgraph.update_mapping.items())
        roots = memory_roots(fgraph.toposort(), fgraph.inputs)
        for out in fgraph.outputs:
            roots.setdefault(out, frozenset((out,)))
        borrowed = [k for k in range(n_out) if self.outputs[k].borrow]
        kept = [k for k in range(n_out) if not self.outputs[k].borrow]
        claimed: set[Variable] = set()
        copies: list[int] = []
        for k in borrowed:
            claimed |= roots[fgraph.outputs[k]]
        for k, target in self.update_targets:
            out_roots = roots[fgraph.outputs[k]]
            if any(r.owner is None for r in out_roots):
                # The new value would alias an input, a constant or another shared value;
                # only "s <- s" (or a view of s) needs no copy.
                if out_roots != {fgraph.inputs[target]}:
                    copies.append(k)
            elif out_roots & claimed:
                copies.append(k)
            else:
                claimed |= out_roots
        for k in kept:
            out_roots = roots[fgraph.outputs[k]]
            if any(r.owner is None for r in out_roots) or out_roots & claimed:
                copies.append(k)
            else:
                claimed |= out_roots
        self.copied_outputs = sorted(copies)
        keep_fresh = [fgraph.outputs[k] for k in kept] + [fgraph.outputs[k] for k, _ in self.update_targets]
        self.no_recycling = view_ancestors(keep_fresh)
        self.linker = self.mode.make_linker().accept(fgraph, self.no_recycling)

    # ------------------------------------------------------------------ pickling

    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("linker", "update_targets", "copied_outputs", "no_recycling"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        # The pickled graph is already rewritten: re-plan and re-link, never re-rewrite.
        state.setdefault("profile", None)  # pickled before profiling existed
        state.setdefault("compile_info", {})
        state.setdefault("profile_key", None)
        self.__dict__.update(state)
        # Features are not pickled: re-attach the destroy handler so readers of overwritten
        # values still run before the ops overwriting them.
        _check_destroyers(self.fgraph, self.inputs)
        self._plan()

    def create(self, trust_input: bool = False) -> "Function":
        """A new callable :class:`Function` with its own storage (shared values stay shared)."""
        return Function(self, trust_input=trust_input)


def _check_destroyers(fgraph: FunctionGraph, specs: list[In]) -> None:
    """Refuse ops that overwrite memory the caller owns, or that others still read.

    The :class:`~symgraph.rewriting.destroyhandler.DestroyHandler` validates every
    ``destroy_map``/``view_map`` of the rewritten graph (inputs only if ``In(mutable=True)``,
    shared values only inside their own update, never constants, at most one destroyer per
    value, readers first) and raises :class:`InconsistencyError` otherwise. When the graph
    has destroyers the handler stays attached, so the execution order (``fgraph.toposort``)
    runs every other reader of an overwritten value before the op overwriting it.
    """
    from symgraph.rewriting.destroyhandler import DestroyHandler

    if not any(getattr(n.op, "destroy_map", None) for n in fgraph.apply_nodes):
        return
    # Attaching validates (raising on an unsafe graph) and re-sorts the graph.
    fgraph.attach_feature(DestroyHandler.for_specs(specs))


def _collect_updates(
    out_vars: list[Variable],
    explicit_updates: list[tuple[SharedVariable, Variable]],
    state_updates: list[Variable],
    givens: dict[Variable, Variable],
    no_default_updates: Any,
) -> tuple[list[Variable], dict[SharedVariable, Variable], list[SharedVariable]]:
    """Apply givens; add default updates; list every shared variable the graph needs.

    Returns the outputs with givens applied, the update of each shared variable (explicit
    ones first, then default ones) and all shared variables in discovery order.
    """
    excluded: set = set()
    use_defaults = True
    if no_default_updates is True:
        use_defaults = False
    elif no_default_updates not in (False, None):
        excluded = set(no_default_updates)

    def substitute(variables: list[Variable]) -> list[Variable]:
        return rebuild_graph(variables, givens)[0] if givens else list(variables)

    targets = [s for s, _ in explicit_updates]
    rebuilt = substitute(out_vars + [e for _, e in explicit_updates] + state_updates)
    n_out = len(out_vars)
    out_vars = rebuilt[:n_out]
    updates = dict(zip(targets, rebuilt[n_out : n_out + len(targets)]))
    state_exprs = rebuilt[n_out + len(targets) :]

    shared_vars: dict[SharedVariable, None] = dict.fromkeys(targets)
    frontier = out_vars + list(updates.values()) + state_exprs
    while frontier:
        # A shared variable replaced by givens is found only if its replacement uses it.
        found = [v for v in ancestors(frontier) if isinstance(v, SharedVariable) and v not in shared_vars]
        frontier = []
        for var in found:
            shared_vars[var] = None
            default = var.default_update
            if use_defaults and default is not None and var not in updates and var not in excluded:
                expr = substitute([_checked_update(var, default)])[0]
                updates[var] = expr
                frontier.append(expr)
    return out_vars + state_exprs, updates, list(shared_vars)


def function(
    inputs: Sequence[Variable | In] | None,
    outputs: Any = None,
    mode: Mode | str | None = None,
    updates: Any = None,
    givens: Any = None,
    no_default_updates: Any = False,
    name: str | None = None,
    allow_input_downcast: bool | None = None,
    on_unused_input: str = "raise",
    trust_input: bool = False,
    profile: "bool | ProfileStats | None" = None,
) -> "Function":
    """Compile a callable computing ``outputs`` from ``inputs``.

    Parameters
    ----------
    inputs
        A list of input variables or :class:`In` specs (the positional parameters, in order).
    outputs
        A variable or :class:`Out` (the function returns one value), a list of them (it
        returns a list) or ``None`` (it returns ``[]``).
    mode
        A :class:`Mode`, a mode name, or ``None`` for the default mode.
    updates
        A dict or list of ``(shared_variable, expression)``: after each call each shared
        variable takes the value of its expression, all computed from the old values.
    givens
        A dict or list of ``(variable, replacement)`` substituted in the graph first.
    no_default_updates
        ``True`` to ignore the ``default_update`` of shared variables, or a list of shared
        variables whose default update is ignored.
    name
        Shown in error messages (default: where ``function`` was called).
    allow_input_downcast
        Allow lossy casts of arguments (per-input ``In.allow_downcast`` takes precedence).
    on_unused_input
        ``"raise"`` (:class:`UnusedInputError`), ``"warn"`` or ``"ignore"`` for inputs the
        outputs do not depend on.
    trust_input
        Skip checking and converting arguments (faster; wrong arguments give wrong results
        or errors from inside the graph).
    profile
        ``True`` to record compile times, calls and the time of each thunk in a new
        :class:`~symgraph.compile.profiling.ProfileStats` (``f.profile``); a
        ``ProfileStats`` to record into it (several functions can share one); ``False``
        for none; ``None`` (default) follows ``config.profile``. Unprofiled functions
        (``f.profile is None``) pay nothing for the feature.
    """
    started = time.perf_counter()
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"function(): on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    mode = get_mode(mode)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"function(): name must be a string, got {name!r}")
    site = user_frames(1)
    display_name = name if name is not None else (f"{site[0][0]}:{site[0][1]}" if site else "<unnamed>")
    from_config = profile is None
    if from_config:
        from symgraph.configdefaults import config

        profile = config.profile
    if profile is not False:
        from symgraph.compile.profiling import resolve_profile, summary_at_exit

        profile = resolve_profile(profile, display_name)
        if from_config and profile is not None:  # whole-program profiling: report at exit
            summary_at_exit(profile)
    else:
        profile = None

    specs = _normalize_inputs(inputs)
    out_specs, single = _normalize_outputs(outputs)
    givens_map = _checked_givens(givens)

    explicit_updates: list[tuple[SharedVariable, Variable]] = []
    for target, expr in _pairs(updates, "updates"):
        if not isinstance(target, SharedVariable):
            raise TypeError(
                f"function(): updates may only target shared variables, got {target!r} "
                f"({type(target).__name__}) with update {expr}"
            )
        if any(target is t for t, _ in explicit_updates):
            raise ValueError(f"function(): the shared variable {target} is updated more than once")
        explicit_updates.append((target, _checked_update(target, expr)))

    state_specs = [s for s in specs if s.update is not None]
    state_updates = []
    for s in state_specs:
        if s.value is None:
            raise ValueError(
                f"function(): input {s.variable} has an update but no value; an updated input "
                "keeps state between calls and needs an initial value (In(x, value=..., update=...))"
            )
        state_updates.append(_checked_update(s.variable, s.update))

    n_user = len(out_specs)
    out_vars = [o.variable for o in out_specs]
    graph_vars, shared_updates, shared_vars = _collect_updates(
        out_vars, explicit_updates, state_updates, givens_map, no_default_updates
    )
    out_vars = graph_vars[:n_user]
    state_exprs = graph_vars[n_user:]

    used = set(ancestors(graph_vars + list(shared_updates.values())))
    for i, spec in enumerate(specs):
        if spec.variable not in used and on_unused_input != "ignore":
            msg = (
                f"function(): input {i} ({spec.variable}{f', named {spec.name!r}' if spec.name else ''}) "
                "is not part of the graph needed to compute the outputs and updates. Pass "
                "on_unused_input='warn' or 'ignore' to function() to accept unused inputs."
            )
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            warnings.warn(msg, stacklevel=2)

    implicit_specs = []
    for var in shared_vars:
        spec = In(var, update=shared_updates.get(var))
        spec.implicit = True
        spec.shared = True
        implicit_specs.append(spec)
    all_specs = specs + implicit_specs

    for spec in specs:
        if spec.value is not None:
            try:
                spec.value = spec.variable.type.filter(
                    spec.value, strict=spec.strict, allow_downcast=_downcast(spec, allow_input_downcast)
                )
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"function(): the default value of input {spec.name or spec.variable}: {exc}") from exc

    fg_inputs = [s.variable for s in all_specs]
    update_exprs, update_mapping = [], {}
    input_pos = {v: i for i, v in enumerate(fg_inputs)}
    for spec, expr in zip(state_specs, state_exprs):
        update_mapping[n_user + len(update_exprs)] = input_pos[spec.variable]
        update_exprs.append(expr)
    for var in shared_vars:
        if var in shared_updates:
            update_mapping[n_user + len(update_exprs)] = input_pos[var]
            update_exprs.append(shared_updates[var])
    fgraph = FunctionGraph(fg_inputs, out_vars + update_exprs, clone=True, update_mapping=update_mapping)
    nodes_before = len(fgraph.apply_nodes)
    rewrite_start = time.perf_counter()
    mode.rewrite(fgraph)
    rewrite_time = time.perf_counter() - rewrite_start
    _check_destroyers(fgraph, all_specs)
    compile_info = {"rewrite_time": rewrite_time, "nodes_before": nodes_before, "nodes_after": len(fgraph.apply_nodes)}
    maker = FunctionMaker(
        fgraph, all_specs, out_specs, mode, single, name, display_name, allow_input_downcast,
        profile=profile, compile_info=compile_info,
    )
    fn = maker.create(trust_input=trust_input)
    if fn._profile_record is not None:
        # Known only once linked, so after the record was made.
        maker.compile_info["compile_time"] = time.perf_counter() - started
        fn._profile_record.compile_time = maker.compile_info["compile_time"]
    return fn


def _downcast(spec: In, default: bool | None) -> bool | None:
    return default if spec.allow_downcast is None else spec.allow_downcast


# --------------------------------------------------------------------------- the callable


class Function:
    """A compiled function: call it with the input values (positionally or by name).

    Attributes: ``maker`` (the :class:`FunctionMaker`), ``name``, ``trust_input``
    (settable: skip argument checks), ``input_storage``/``output_storage`` (the cells of the
    graph's inputs and outputs), ``vm`` (the linked graph) and ``profile`` (its
    :class:`~symgraph.compile.profiling.ProfileStats`, or ``None`` when not profiled).
    """

    def __init__(self, maker: FunctionMaker, trust_input: bool = False, defaults: list | None = None):
        self.maker = maker
        self.name = maker.name
        self.trust_input = bool(trust_input)
        fgraph = maker.fgraph
        specs = maker.inputs
        explicit = [s for s in specs if not s.implicit]
        self._explicit = explicit
        self._n_args = len(explicit)
        input_cells = [s.variable.container.storage if s.implicit else [None] for s in specs]
        link_start = time.perf_counter()
        self.vm = maker.linker.make_vm(input_cells)
        link_time = time.perf_counter() - link_start
        self.profile = getattr(maker, "profile", None)
        self._profile_record = None
        if self.profile is not None:
            self._profile_record = self.profile.attach(
                maker.profile_key, maker.display_name, self.vm, maker.compile_info, link_time
            )
            if type(self) is Function:
                from symgraph.compile.profiling import ProfiledFunction

                # Only profiled functions get the timed __call__: Function.__call__ stays as is.
                self.__class__ = ProfiledFunction
        self._run = self.vm.run
        self.input_storage = self.vm.input_storage
        self.output_storage = self.vm.output_storage
        self._arg_cells = self.input_storage[: self._n_args]
        downcast = maker.allow_input_downcast
        self._filters = [
            (s.variable.type.filter, s.strict, _downcast(s, downcast)) for s in explicit
        ]
        # Default values live in their own cells: an updated input stores its new state there.
        if defaults is None:
            defaults = [_MISSING if s.value is None else s.value for s in explicit]
        self._defaults = [None if d is _MISSING else [d] for d in defaults]
        self._copy_default = [s.mutable for s in explicit]
        names: dict[str, int] = {}
        ambiguous: set[str] = set()
        for i, s in enumerate(explicit):
            if s.name is not None:
                if s.name in names:
                    ambiguous.add(s.name)
                names[s.name] = i
        self._names = {k: v for k, v in names.items() if k not in ambiguous}
        self._ambiguous = ambiguous

        n_user = len(maker.outputs)
        self._n_user = n_user
        self._out_cells = self.output_storage
        self._copies = tuple(maker.copied_outputs)
        update_cells = []
        for k, target in maker.update_targets:
            spec = specs[target]
            cell = spec.variable.container.storage if spec.implicit else self._defaults[target]
            update_cells.append((k, cell))
        self._updates = tuple(update_cells)
        self._single = maker.single
        # The common case (one output, nothing to copy or update) skips all list building.
        self._simple_single = maker.single and not self._copies and not self._updates
        self._only_cell = self._out_cells[0] if self._simple_single else None
        if len(fgraph.outputs) != len(self._out_cells):
            raise InconsistencyError("output cells do not match the graph outputs")

    # ------------------------------------------------------------------ calling

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._n_args:
            self._bind(args, kwargs)
        elif self.trust_input:
            for cell, arg in zip(self._arg_cells, args):
                cell[0] = arg
        else:
            try:
                for cell, arg, (filt, strict, downcast) in zip(self._arg_cells, args, self._filters):
                    cell[0] = filt(arg, strict, downcast)
            except (TypeError, ValueError):
                # Filter again one by one: that finds the bad argument and names it.
                self._bind(args, kwargs)
                raise
        self._run()
        if self._simple_single:
            return self._only_cell[0]
        outputs = [cell[0] for cell in self._out_cells]
        for k in self._copies:
            outputs[k] = _copy_value(outputs[k])
        if self._updates:
            for k, cell in self._updates:
                cell[0] = outputs[k]
            del outputs[self._n_user :]
        if self._single:
            return outputs[0]
        return outputs

    def _bind(self, args: tuple, kwargs: dict) -> None:
        """Fill the input cells from positional and keyword arguments and defaults."""
        n = self._n_args
        explicit = self._explicit
        if len(args) > n:
            raise TypeError(
                f'symgraph function "{self.maker.display_name}" takes at most {n} argument'
                f"{'s' if n != 1 else ''} ({len(args)} given)"
            )
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            index = self._names.get(key)
            if index is None:
                if key in self._ambiguous:
                    raise TypeError(
                        f'symgraph function "{self.maker.display_name}": several inputs are named '
                        f"{key!r}; pass them positionally"
                    )
                valid = ", ".join(repr(k) for k in self._names) or "none"
                raise TypeError(
                    f'symgraph function "{self.maker.display_name}" got an unexpected keyword argument '
                    f"{key!r}; valid input names are: {valid}"
                )
            if values[index] is not _MISSING:
                raise TypeError(
                    f'symgraph function "{self.maker.display_name}" got multiple values for input '
                    f"{key!r} (index {index}): positionally and by keyword"
                )
            values[index] = value
        trust = self.trust_input
        for i, (cell, value) in enumerate(zip(self._arg_cells, values)):
            if value is _MISSING:
                default = self._defaults[i]
                if default is None:
                    spec = explicit[i]
                    raise TypeError(
                        f'symgraph function "{self.maker.display_name}" is missing the required input '
                        f"{_describe_input(spec)} at index {i} (0-based)"
                    )
                cell[0] = _copy_value(default[0]) if self._copy_default[i] else default[0]
            elif trust:
                cell[0] = value
            else:
                filt, strict, downcast = self._filters[i]
                try:
                    cell[0] = filt(value, strict, downcast)
                except (TypeError, ValueError) as exc:
                    message = (
                        f"Bad input argument {_describe_input(explicit[i])} to symgraph function "
                        f'"{self.maker.display_name}" at index {i} (0-based): {exc}'
                    )
                    try:
                        new_exc = type(exc)(message)
                    except Exception:
                        new_exc = TypeError(message)
                    raise new_exc from exc

    # ------------------------------------------------------------------ helpers

    def free(self) -> None:
        """Drop the intermediate results kept in the function's storage."""
        keep = {id(c) for c in self.input_storage}
        for var, cell in self.vm.storage_map.items():
            if id(cell) not in keep and not isinstance(var, Constant):
                cell[0] = None

    def copy(self, name: str | None = None) -> "Function":
        """A function like this one with its own storage and defaults; shared values stay shared."""
        defaults = [_MISSING if d is None else _copy_value(d[0]) for d in self._defaults]
        fn = Function(self.maker, trust_input=self.trust_input, defaults=defaults)
        if name is not None:
            fn.name = name
        return fn

    def implementations(self) -> list[str]:
        """Per node of ``self.maker.fgraph`` in toposort order, ``"c"`` or ``"py"``: whether
        the linker gave it compiled C or a Python thunk (all ``"py"`` with the ``'py'`` linker)."""
        by_node = dict(zip(self.vm.nodes, self.vm.implementations))
        return [by_node.get(node, "py") for node in self.maker.fgraph.toposort()]

    def __reduce__(self):
        defaults = [_MissingMarker() if d is None else d[0] for d in self._defaults]
        return (_restore_function, (self.maker, defaults, self.trust_input, self.name))

    def __repr__(self) -> str:
        return f"<symgraph Function {self.maker.display_name!r}: {len(self._explicit)} inputs, {self._n_user} outputs>"


class _MissingMarker:
    """Pickled in place of 'no default value'."""


def _restore_function(maker: FunctionMaker, defaults: list, trust_input: bool, name: str | None) -> Function:
    defaults = [_MISSING if isinstance(d, _MissingMarker) else d for d in defaults]
    fn = Function(maker, trust_input=trust_input, defaults=defaults)
    fn.name = name
    return fn
