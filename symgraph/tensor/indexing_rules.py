"""How indices are represented and what shapes they give: the ``idx_list`` entries
(:data:`SCALAR`, :data:`ARRAY`, :class:`IdxSlice`), the parsing of a Python key into
``(idx_list, index inputs)``, the checks of index inputs, and NumPy's shape rules for
indexing (:func:`_indexed_shape`).

The ops built on them (:class:`~symgraph.tensor.subtensor.Subtensor`,
:class:`~symgraph.tensor.subtensor.AdvancedSubtensor`, the set/inc ops and
:class:`~symgraph.tensor.subtensor.IndexShape`) are in :mod:`symgraph.tensor.subtensor`,
which re-exports ``IdxSlice``, ``SCALAR`` and ``ARRAY``.

How an index is stored
----------------------
As in PyTensor, an indexing op keeps the *structure* of the index in its ``idx_list`` prop
and receives the symbolic parts as inputs after the indexed tensor. Entries of ``idx_list``:

- an ``int``: a constant integer (constants are folded into the prop, so ``x[1]`` and
  ``x[st.constant(1)]`` build the same node);
- ``None``: ``np.newaxis``; ``Ellipsis``: kept only in advanced indices, where it matters
  (it separates advanced indices even when it stands for no dimension);
- :data:`SCALAR`: a symbolic 0-d integer, the next index input;
- :class:`IdxSlice` ``(start, stop, step)``: a slice whose parts are ``None``, ints or
  :data:`SCALAR`;
- :data:`ARRAY`: an integer array or boolean mask, the next index input.

Shape rules
-----------
Shapes follow NumPy exactly, including where the dimensions of advanced indices go: they
replace the indexed dimensions when all advanced indices (integers count too) are adjacent,
and go first otherwise. One function, :func:`_indexed_shape`, implements the rules; it gives
the static output shapes, the build-time errors and, through
:class:`~symgraph.tensor.subtensor.IndexShape`, the symbolic shapes used by ``infer_shape``.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import numpy as np

from symgraph.graph.basic import Variable
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.variable import TensorConstant, TensorVariable

__all__ = ["IdxSlice", "SCALAR", "ARRAY"]

_INT_KINDS = "iu"


class _Marker:
    """A placeholder in ``idx_list`` for a symbolic index input; pickles as the module global."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return self.name


#: ``idx_list`` entry: a symbolic 0-d integer index input.
SCALAR = _Marker("SCALAR")
#: ``idx_list`` entry: an integer-array or boolean-mask index input.
ARRAY = _Marker("ARRAY")


class IdxSlice(NamedTuple):
    """A slice in ``idx_list``: each part is ``None``, an ``int`` or :data:`SCALAR`.

    (A named tuple because Python 3.11 slices are not hashable, and props must be.)
    """

    start: Any
    stop: Any
    step: Any


_FULL = IdxSlice(None, None, None)


class _ArrayDesc(NamedTuple):
    """What the shape rules need to know about an array index (``None`` = unknown)."""

    is_bool: bool
    shape: tuple
    count: int | None  # number of True entries of a mask
    bounds: tuple | None  # (min, max) of an integer array, when known


_UNKNOWN = _Marker("_UNKNOWN")  # a symbolic scalar's unknown value (None means "omitted")


# --------------------------------------------------------------------------- shape rules


def _slice_length(n, start, stop, step):
    """``len(range(n)[start:stop:step])``, or ``None`` when it is not known."""
    if step is None:
        step = 1
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if start is None and stop is None and step in (1, -1):
        return n
    if n is None or _UNKNOWN in (start, stop, step):
        return None
    return len(range(*slice(start, stop, step).indices(n)))


def _check_int_index(value, n, axis):
    if n is not None and not -n <= value < n:
        raise IndexError(f"index {value} is out of bounds for axis {axis} with size {n}")


def _broadcast_index_shapes(shapes):
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for d in range(ndim):
        sizes = {s[d] for s in padded}
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            shown = " ".join(str(tuple("?" if v is None else v for v in s)) for s in shapes)
            raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together with shapes {shown}")
        out.append(known.pop() if known else (1 if sizes == {1} else None))
    return out


def _indexed_shape(x_shape, idx_list, descs):
    """The shape of ``x[idx]`` by NumPy's rules, with the source of each output dimension.

    ``x_shape`` holds ints or ``None`` (unknown); ``descs`` describes each index input in
    order: an int or :data:`_UNKNOWN` for a scalar, an :class:`_ArrayDesc` for an array.
    Returns ``[(size or None, source), ...]`` where ``source`` is ``("x", d)`` when the
    dimension is dimension ``d`` of ``x`` untouched, ``("a", k, axis)`` when it is that axis
    of index input ``k`` (the only array index), else ``None``. Raises ``IndexError`` for
    indices that are wrong whatever the unknown values are.
    """
    descs = list(descs)
    consumed, k = 0, 0  # dimensions of x the index uses (an ellipsis takes the rest)
    for e in idx_list:
        if e is ARRAY:
            consumed += len(descs[k].shape) if descs[k].is_bool else 1
        elif e is not None and e is not Ellipsis:
            consumed += 1
        k += _n_index_inputs((e,))
    if consumed > len(x_shape):
        raise IndexError(
            f"too many indices for tensor: tensor is {len(x_shape)}-dimensional, but {consumed} were indexed"
        )
    parts: list[list] = []  # per idx entry: its output (size, source) pairs; None for advanced
    adv_positions, adv_shapes, adv_arrays = [], [], []
    deferred = []  # bounds checks of integer arrays
    dim, k = 0, 0
    for pos, e in enumerate(idx_list):
        if e is None:
            parts.append([(1, None)])
        elif e is Ellipsis:
            span = len(x_shape) - consumed
            parts.append([(x_shape[d], ("x", d)) for d in range(dim, dim + span)])
            dim += span
        elif isinstance(e, IdxSlice):
            comps = []
            for c in e:
                comps.append(descs[k] if c is SCALAR else c)
                k += c is SCALAR
            n = x_shape[dim]
            full = e.start is None and e.stop is None and e.step in (None, 1, -1)
            parts.append([(n if full else _slice_length(n, *comps), ("x", dim) if full else None)])
            dim += 1
        elif e is ARRAY:
            desc = descs[k]
            if desc.is_bool:
                for j, size in enumerate(desc.shape):
                    n = x_shape[dim + j]
                    # NumPy lets a mask axis of size 0 stand for any size (legacy behaviour).
                    if n is not None and size is not None and n != size and size != 0:
                        raise IndexError(
                            f"boolean index did not match indexed tensor along axis {dim + j}; size of "
                            f"axis is {n} but size of corresponding boolean axis is {size}"
                        )
                adv_shapes.append((desc.count,))
                dim += len(desc.shape)
            else:
                if desc.bounds is not None:
                    deferred.extend((value, x_shape[dim], dim) for value in desc.bounds)
                adv_shapes.append(desc.shape)
                adv_arrays.append(k)
                dim += 1
            adv_positions.append(pos)
            parts.append(None)
            k += 1
        else:  # a constant or symbolic integer
            value = descs[k] if e is SCALAR else e
            k += e is SCALAR
            if value is not _UNKNOWN:
                _check_int_index(value, x_shape[dim], dim)
            adv_positions.append(pos)
            adv_shapes.append(())
            parts.append(None)
            dim += 1
    rest = [(x_shape[d], ("x", d)) for d in range(dim, len(x_shape))]
    basics = [p for p in parts if p is not None]
    if not any(e is ARRAY for e in idx_list):
        return [pair for p in basics for pair in p] + rest
    bshape = _broadcast_index_shapes(adv_shapes)
    if None not in bshape and 0 not in bshape:  # NumPy checks no bounds when nothing is indexed
        for args in deferred:
            _check_int_index(*args)
    if len(adv_arrays) == 1 and sum(e is ARRAY for e in idx_list) == 1:  # other entries are 0-d
        adv = [(s, ("a", adv_arrays[0], j)) for j, s in enumerate(bshape)]
    else:
        adv = [(s, None) for s in bshape]
    if adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1)):
        before = [pair for p in parts[: adv_positions[0]] for pair in p]
        after = [pair for p in parts[adv_positions[-1] + 1 :] for pair in p]
        return before + adv + after + rest
    return adv + [pair for p in basics for pair in p] + rest


def _static_desc(var: TensorVariable):
    """The shape-rule description of an index input known when building the graph."""
    if var.ndim == 0 and var.dtype != "bool":
        return _UNKNOWN
    data = var.data if isinstance(var, TensorConstant) else None
    if var.dtype == "bool":
        return _ArrayDesc(True, var.type.shape, None if data is None else int(np.count_nonzero(data)), None)
    bounds = None if data is None or data.size == 0 else (int(data.min()), int(data.max()))
    return _ArrayDesc(False, var.type.shape, None, bounds)


def _runtime_desc(value: np.ndarray):
    if value.ndim == 0 and value.dtype != np.bool_:
        return int(value)
    if value.dtype == np.bool_:
        return _ArrayDesc(True, value.shape, int(np.count_nonzero(value)), None)
    return _ArrayDesc(False, value.shape, None, (int(value.min()), int(value.max())) if value.size else None)


# --------------------------------------------------------------------------- building indices


def _index_component(c: Any, what: str):
    """A part of an index as an int (constants folded) or a 0-d integer variable."""
    if isinstance(c, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, got the boolean {c!r}")
    if isinstance(c, (int, np.integer)):
        return int(c)
    var = as_tensor_variable(c)
    if var.ndim != 0 or var.dtype[0] not in _INT_KINDS:
        raise TypeError(f"{what} must be a 0-d integer, got {var} of type {var.type}")
    if isinstance(var, TensorConstant):
        return int(var.data)
    return var


def _contains_values(seq) -> bool:
    return any(not isinstance(e, (list, tuple)) or _contains_values(e) for e in seq)


def _normalize_entry(key: Any):
    """One element of an index as ``(entry, inputs)``."""
    if key is None or key is Ellipsis:
        return key, []
    if isinstance(key, slice):
        entry, inputs = [], []
        for c in (key.start, key.stop, key.step):
            c = None if c is None else _index_component(c, "slice indices")
            if isinstance(c, Variable):
                entry.append(SCALAR)
                inputs.append(c)
            else:
                entry.append(c)
        if entry[2] == 0:
            raise ValueError("slice step cannot be zero")
        return IdxSlice(*entry), inputs
    if isinstance(key, (bool, np.bool_)):
        return ARRAY, [constant(bool(key))]
    if isinstance(key, (int, np.integer)):
        return int(key), []
    if isinstance(key, (list, tuple)) and not _contains_values(key):
        # NumPy reads an empty list as an empty integer index, not as floats.
        return ARRAY, [constant(np.zeros(np.shape(key), dtype=np.int64))]
    try:
        var = as_tensor_variable(key)
    except TypeError as exc:
        raise TypeError(f"invalid index {key!r}: {exc}") from None
    if var.dtype != "bool" and var.dtype[0] not in _INT_KINDS:
        raise TypeError(f"indices must be integers or booleans, got {var} of type {var.type}")
    if var.ndim == 0 and var.dtype != "bool":
        return _index_component(var, "indices"), []
    return ARRAY, [var]


def _normalize_index(x: TensorVariable, key: Any) -> tuple[tuple, list]:
    """``(idx_list, index inputs)`` for ``x[key]``."""
    if not isinstance(key, tuple):
        key = (key,)
    entries, inputs = [], []
    for k in key:
        entry, ins = _normalize_entry(k)
        if isinstance(entry, Variable):  # a symbolic scalar
            entry, ins = SCALAR, [entry]
        entries.append(entry)
        inputs.extend(ins)
    if sum(e is Ellipsis for e in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in entries and not any(e is ARRAY for e in entries):
        # In basic indices an ellipsis is just full slices: expand it for a canonical idx_list.
        used = sum(1 for e in entries if e is not None and e is not Ellipsis)
        at = entries.index(Ellipsis)
        entries[at : at + 1] = [_FULL] * max(x.ndim - used, 0)
    # Trailing full slices (and a trailing ellipsis) change nothing: drop them so that equal
    # indices give equal ops (x[1, :] is x[1]). Not after an ellipsis: x[..., 0, :] needs them.
    while entries and (entries[-1] is Ellipsis or (entries[-1] == _FULL and Ellipsis not in entries)):
        entries.pop()
    return tuple(entries), inputs


def _format_idx(idx_list: tuple) -> str:
    counter = iter(range(len(idx_list) * 3))

    def part(c):
        return "" if c is None else f"i{next(counter)}" if c is SCALAR else str(c)

    texts = []
    for e in idx_list:
        if isinstance(e, IdxSlice):
            text = f"{part(e.start)}:{part(e.stop)}"
            texts.append(text + (f":{part(e.step)}" if e.step is not None else ""))
        elif e is ARRAY:
            texts.append(f"a{next(counter)}")
        else:
            texts.append("..." if e is Ellipsis else "None" if e is None else part(e))
    return ", ".join(texts)


def _validate_idx_list(idx_list) -> tuple:
    """``idx_list`` with NumPy ints made ints and slices made :class:`IdxSlice`, or ``TypeError``."""

    def part(c):
        if c is None or c is SCALAR:
            return c
        if isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)):
            return int(c)
        raise TypeError(f"invalid idx_list entry {c!r}: expected None, an int or SCALAR")

    out = []
    for e in idx_list:
        if isinstance(e, (slice, IdxSlice)):
            out.append(IdxSlice(*(part(c) for c in (e.start, e.stop, e.step))))
        elif e is None or e is Ellipsis or e is ARRAY:
            out.append(e)
        else:
            out.append(part(e))
    return tuple(out)


def _input_kinds(idx_list: tuple) -> list:
    """SCALAR or ARRAY for each index input, in order."""
    kinds = []
    for e in idx_list:
        if isinstance(e, IdxSlice):
            kinds.extend(c for c in e if c is SCALAR)
        elif e is SCALAR or e is ARRAY:
            kinds.append(e)
    return kinds


def _n_index_inputs(idx_list: tuple) -> int:
    return len(_input_kinds(idx_list))


def _check_index_inputs(op, idx_list, inputs) -> list:
    kinds = _input_kinds(idx_list)
    if len(inputs) != len(kinds):
        raise TypeError(f"{op} expects {len(kinds)} index inputs, got {len(inputs)}")
    inputs = [as_tensor_variable(v) for v in inputs]
    for kind, v in zip(kinds, inputs):
        if kind is SCALAR and (v.ndim != 0 or v.dtype[0] not in _INT_KINDS):
            raise TypeError(f"{op}: a scalar index must be a 0-d integer, got {v} of type {v.type}")
        if kind is ARRAY and v.dtype != "bool" and v.dtype[0] not in _INT_KINDS:
            raise TypeError(f"{op}: an array index must hold integers or booleans, got {v} of type {v.type}")
    return inputs


def _as_index_tuple(idx_list: tuple, values) -> tuple:
    """The NumPy index for ``idx_list`` given the index input values."""
    it = iter(values)
    out = []
    for e in idx_list:
        if e is SCALAR:
            out.append(operator.index(next(it)))
        elif e is ARRAY:
            out.append(next(it))
        elif isinstance(e, IdxSlice):
            out.append(slice(*(operator.index(next(it)) if c is SCALAR else c for c in e)))
        else:
            out.append(e)
    return tuple(out)


def _index_error(op, exc: IndexError, shape) -> IndexError:
    return IndexError(f"{op}: {exc} (indexing a tensor of shape {shape})")


def _is_advanced(idx_list: tuple) -> bool:
    return any(e is ARRAY for e in idx_list)


def _check_kind(op, advanced: bool | None) -> None:
    """Basic-index ops refuse array entries and advanced ones require one (``None``: any)."""
    if advanced is not None and _is_advanced(op.idx_list) != advanced:
        wanted = "an advanced op (AdvancedSubtensor, AdvancedIncSubtensor)" if not advanced else "a basic op"
        raise TypeError(f"{op}: this index {'has no' if advanced else 'has'} array entries; use {wanted}")

