"""Joining and splitting tensors: :func:`concatenate`, :func:`stack`, :func:`split`,
:func:`split_sizes`, :func:`tile` and :func:`repeat`.

``tile`` is built from :func:`~symgraph.tensor.shape.broadcast_to` and
:func:`~symgraph.tensor.shape.reshape`, so it needs no op of its own: its gradient sums
the tiles back through theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.null_type import disconnected_type
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.creation import zeros_like
from symgraph.tensor.shape import _is_disconnected, broadcast_to, expand_dims, flatten, reshape, specify_shape
from symgraph.tensor.shape_inference import (
    _as_shape_vector,
    _int_scalar,
    _is_int,
    _normalize_axis,
    _prod,
    _shape_entries,
    _static_int,
    _static_vector,
    _vector_elements,
    make_vector,
    shape_i,
)
from symgraph.tensor.type import TensorType, _format_shape
from symgraph.tensor.variable import TensorVariable, tensor_method

__all__ = [
    "Join",
    "Split",
    "Repeat",
    "RepeatSum",
    "concatenate",
    "join",
    "stack",
    "split",
    "split_sizes",
    "tile",
    "repeat",
]


def _to_dtype(v: TensorVariable, dtype: str) -> TensorVariable:
    if v.dtype == dtype:
        return v
    from symgraph.tensor.basic import cast

    return cast(v, dtype)


# --------------------------------------------------------------------------- Join


class Join(Op):
    """Concatenate tensors along ``axis`` (``np.concatenate``).

    All inputs have the same rank (at least 1) and equal sizes outside ``axis``; the
    output dtype is their NumPy promotion. Static sizes are checked when the node is
    built and the others when it runs, with a ``ValueError`` naming the mismatch.
    """

    __props__ = ("axis",)

    def __init__(self, axis: int = 0):
        if not _is_int(axis):
            raise TypeError(f"Join: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def __str__(self):
        return f"Join{{axis={self.axis}}}"

    def make_node(self, *tensors: Any) -> Apply:
        if not tensors:
            raise ValueError("concatenate: need at least one tensor to concatenate")
        tensors = tuple(as_tensor_variable(t) for t in tensors)
        ndim = tensors[0].ndim
        if ndim == 0:
            raise ValueError("concatenate: 0-d tensors cannot be concatenated (use stack)")
        for i, t in enumerate(tensors):
            if t.ndim != ndim:
                raise ValueError(
                    f"concatenate: all inputs must have the same number of dimensions; input 0 is {ndim}-d "
                    f"but input {i} ({t}) is {t.ndim}-d"
                )
        if not 0 <= self.axis < ndim:
            raise np.exceptions.AxisError(self.axis, ndim, "concatenate")
        dtype = np.result_type(*(t.dtype for t in tensors)).name
        out: list[int | None] = []
        for d in range(ndim):
            sizes = [t.type.shape[d] for t in tensors]
            if d == self.axis:
                out.append(None if None in sizes else sum(sizes))
                continue
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise ValueError(
                    f"concatenate: input shapes {', '.join(_format_shape(t.type.shape) for t in tensors)} differ "
                    f"in dimension {d} (only dimension {self.axis}, the concatenation axis, may differ)"
                )
            out.append(known.pop() if known else None)
        return Apply(self, list(tensors), [TensorType(dtype, out)()])

    def perform(self, node, inputs, output_storage):
        first = inputs[0].shape
        for i, v in enumerate(inputs):
            if v.ndim != len(first) or any(
                a != b for d, (a, b) in enumerate(zip(v.shape, first)) if d != self.axis
            ):
                raise ValueError(
                    f"concatenate: input 0 has shape {first} but input {i} has shape {v.shape}; they may only "
                    f"differ in dimension {self.axis}"
                )
        dtype = node.outputs[0].type.numpy_dtype
        output_storage[0][0] = np.concatenate(inputs, axis=self.axis, dtype=dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor.basic import add

        out = []
        for d in range(node.outputs[0].ndim):
            column = [shp[d] for shp in input_shapes]
            if d == self.axis:
                out.append(add(*column) if len(column) > 1 else column[0])
            else:
                # Any input's size will do; a constant one saves computing a shape.
                out.append(next((s for s in column if isinstance(s, Constant)), column[0]))
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if len(inputs) == 1:
            return [_to_dtype(g, inputs[0].dtype)]
        sizes = [shape_i(t, self.axis) for t in inputs]
        pieces = Split(len(inputs), self.axis)(g, make_vector(*sizes))
        return [_to_dtype(p, t.dtype) for p, t in zip(pieces, inputs)]

    def R_op(self, inputs, eval_points):
        if all(e is None for e in eval_points):
            return [None]
        return [self(*(zeros_like(x) if e is None else e for x, e in zip(inputs, eval_points)))]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> TensorVariable:
    """Join ``tensors`` along an existing dimension ``axis`` (``np.concatenate``)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor to concatenate")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be concatenated (use stack)")
    axis = _normalize_axis(axis, ndim, "concatenate")
    if len(tensors) == 1:
        return tensors[0]
    return Join(axis)(*tensors)


def join(axis: int, *tensors: Any) -> TensorVariable:
    """PyTensor's argument order for :func:`concatenate`: ``join(axis, a, b, ...)``."""
    return concatenate(tensors, axis=axis)




def stack(tensors: Sequence[Any], axis: int = 0) -> TensorVariable:
    """Join same-shaped ``tensors`` along a new dimension ``axis`` (``np.stack``)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor to stack")
    ndim = tensors[0].ndim
    for i, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ValueError(f"stack: all inputs must have the same shape; input 0 is {ndim}-d, input {i} is {t.ndim}-d")
    axis = _normalize_axis(axis, ndim + 1, "stack")
    expanded = [expand_dims(t, axis) for t in tensors]
    if len(expanded) == 1:
        return expanded[0]
    # Join allows different sizes along the joined axis; here each is 1, so only the
    # other dimensions need checking, and Join does that.
    return Join(axis)(*expanded)


# --------------------------------------------------------------------------- Split


class Split(Op):
    """Split a tensor along ``axis`` into ``n_splits`` pieces of given sizes.

    Inputs: the tensor and an integer vector of ``n_splits`` sizes summing to the size of
    ``axis``. The outputs are views of the input.
    """

    __props__ = ("n_splits", "axis")

    def __init__(self, n_splits: int, axis: int = 0):
        if not _is_int(n_splits) or n_splits < 1:
            raise TypeError(f"Split: n_splits must be a positive int, got {n_splits!r}")
        if not _is_int(axis) or axis < 0:
            raise TypeError(f"Split: axis must be a non-negative int, got {axis!r}")
        self.n_splits = int(n_splits)
        self.axis = int(axis)
        self.view_map = {i: [0] for i in range(self.n_splits)}

    def __str__(self):
        return f"Split{{{self.n_splits}, axis={self.axis}}}"

    def make_node(self, x: Any, splits: Any) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise np.exceptions.AxisError(self.axis, x.ndim, "split")
        splits = _as_shape_vector(splits, "split")
        if splits.type.shape[0] not in (None, self.n_splits):
            raise ValueError(f"{self}: got {splits.type.shape[0]} split sizes for {self.n_splits} pieces")
        if splits.type.shape[0] is None:
            splits = specify_shape(splits, (self.n_splits,))
        sizes = _static_vector(splits)
        if any(s is not None and s < 0 for s in sizes):
            raise ValueError(f"split: negative split size in {_format_shape(tuple(sizes))}")
        total = x.type.shape[self.axis]
        if total is not None and None not in sizes and sum(sizes) != total:
            raise ValueError(
                f"split: the split sizes {tuple(sizes)} sum to {sum(sizes)}, but dimension {self.axis} of {x} "
                f"has size {total}"
            )
        outputs = []
        for s in sizes:
            shp = list(x.type.shape)
            shp[self.axis] = s
            outputs.append(TensorType(x.dtype, shp)())
        return Apply(self, [x, splits], outputs)

    def perform(self, node, inputs, output_storage):
        x, splits = inputs
        sizes = [int(s) for s in splits]
        if len(sizes) != self.n_splits:
            raise ValueError(f"{self}: got {len(sizes)} split sizes for {self.n_splits} pieces")
        if any(s < 0 for s in sizes) or sum(sizes) != x.shape[self.axis]:
            raise ValueError(
                f"split: the split sizes {tuple(sizes)} must be non-negative and sum to {x.shape[self.axis]}, "
                f"the size of dimension {self.axis} of the input (shape {x.shape})"
            )
        index = [slice(None)] * x.ndim
        start = 0
        for cell, size in zip(output_storage, sizes):
            index[self.axis] = slice(start, start + size)
            cell[0] = x[tuple(index)]
            start += size

    def infer_shape(self, fgraph, node, input_shapes):
        sizes = _vector_elements(node.inputs[1])
        out = []
        for s in sizes:
            shp = list(input_shapes[0])
            shp[self.axis] = s
            out.append(tuple(shp))
        return out

    def connection_pattern(self, node):
        return [[True] * self.n_splits, [False] * self.n_splits]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        grads = [zeros_like(o) if _is_disconnected(g) else g for o, g in zip(outputs, output_grads)]
        return [Join(self.axis)(*grads) if len(grads) > 1 else grads[0], disconnected_type()]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None] * self.n_splits
        return self(eval_points[0], inputs[1], return_list=True)


def split_sizes(x: Any, splits_size: Any, n_splits: int | None = None, axis: int = 0) -> list[TensorVariable]:
    """Split ``x`` along ``axis`` into pieces of the given sizes (PyTensor's ``split``).

    ``splits_size`` is a sequence of ints/integer scalars or an integer vector variable
    (``n_splits`` is then needed if its length is not static). The sizes must add up to
    the size of ``axis``.
    """
    x = as_tensor_variable(x)
    axis = _normalize_axis(axis, x.ndim, "split")
    splits = _as_shape_vector(splits_size, "split")
    if n_splits is None:
        if splits.type.shape[0] is None:
            raise ValueError("split: the number of pieces is not known when the graph is built; pass n_splits")
        n_splits = splits.type.shape[0]
    return Split(n_splits, axis)(x, splits, return_list=True)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[TensorVariable]:
    """Split ``x`` along ``axis`` like ``np.split``.

    An int ``n`` gives ``n`` equal pieces (the size must be divisible by ``n``: checked at
    build time when static, at run time otherwise). A sequence of ints gives the indices
    where pieces start; with a static size they follow NumPy's slicing rules (negative
    and out-of-range indices), otherwise they must be non-negative, non-decreasing and
    within the size. PyTensor's ``split(x, sizes, n_splits, axis)`` is :func:`split_sizes`.
    """
    x = as_tensor_variable(x)
    axis = _normalize_axis(axis, x.ndim, "split")
    total = x.type.shape[axis]
    if _is_int(indices_or_sections):
        n = int(indices_or_sections)
        if n < 1:
            raise ValueError(f"split: the number of sections must be positive, got {n}")
        if total is not None:
            if total % n:
                raise ValueError(f"split: dimension {axis} of size {total} cannot be split into {n} equal sections")
            return split_sizes(x, [total // n] * n, n, axis)
        from symgraph.tensor.basic import floor_divide

        each = floor_divide(shape_i(x, axis), n)
        return split_sizes(x, make_vector(*([each] * n)), n, axis)
    indices = [int(i) if _is_int(i) else i for i in indices_or_sections]
    if not all(_is_int(i) for i in indices):
        raise TypeError(f"split: indices must be ints, got {indices_or_sections!r}")
    if total is not None:
        bounds = [0, *indices, total]
        sizes = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            start, stop, _ = slice(a, b).indices(total)
            sizes.append(max(0, stop - start))
        if sum(sizes) != total:
            # Overlapping or decreasing indices: NumPy returns overlapping/empty slices,
            # which one split cannot express.
            raise ValueError(f"split: indices {indices} must be non-decreasing for a split into pieces")
        return split_sizes(x, sizes, len(sizes), axis)
    if any(i < 0 for i in indices) or any(a > b for a, b in zip(indices[:-1], indices[1:])):
        raise ValueError(
            f"split: with a size unknown at build time, indices must be non-negative and non-decreasing, got {indices}"
        )
    size = shape_i(x, axis)
    sizes = [indices[0]] if indices else []
    sizes += [b - a for a, b in zip(indices[:-1], indices[1:])]
    sizes.append(size - (indices[-1] if indices else 0))
    return split_sizes(x, make_vector(*sizes), len(sizes), axis)


# --------------------------------------------------------------------------- tile


def tile(x: Any, reps: Any) -> TensorVariable:
    """Repeat the whole of ``x`` ``reps`` times along each dimension (``np.tile``).

    ``reps`` is an int or a sequence of ints/integer scalars; like NumPy, a shorter
    ``reps`` is padded with leading 1s and a longer one adds leading dimensions to ``x``.
    """
    x = as_tensor_variable(x)
    reps = [reps] if (_is_int(reps) or (isinstance(reps, Variable) and reps.type.ndim == 0)) else list(reps)
    reps = [int(r) if _is_int(r) else _int_scalar(r, "tile") for r in reps]
    if any(_is_int(r) and r < 0 for r in reps):
        raise ValueError(f"tile: negative repetitions {reps}")
    d = max(len(reps), x.ndim)
    reps = [1] * (d - len(reps)) + reps
    if x.ndim < d:
        x = expand_dims(x, tuple(range(d - x.ndim)))
    if all(_is_int(r) and r == 1 for r in reps):
        return x
    sizes = _shape_entries(x)
    # (s0, s1) -> (1, s0, 1, s1) -> broadcast to (r0, s0, r1, s1) -> (r0*s0, r1*s1).
    interleaved = x.dimshuffle(*[e for k in range(d) for e in ("x", k)])
    target = [e for r, s in zip(reps, sizes) for e in (r, s)]
    return reshape(broadcast_to(interleaved, target), [_prod([r, s]) for r, s in zip(reps, sizes)], ndim=d)


# --------------------------------------------------------------------------- repeat


def _repeat_counts(repeats: np.ndarray, n: int, where: str) -> np.ndarray:
    """``repeats`` as one count per element along the axis, validated."""
    counts = np.broadcast_to(repeats, (n,)) if repeats.ndim == 0 else repeats
    if counts.shape != (n,):
        raise ValueError(f"{where}: got {counts.shape[0]} repeat counts for an axis of size {n}")
    if (counts < 0).any():
        raise ValueError(f"{where}: repeat counts must be non-negative, got {repeats}")
    return counts


class Repeat(Op):
    """``np.repeat(x, repeats, axis)``: each element along ``axis`` repeated.

    ``repeats`` is an integer scalar (the same count for all) or a vector with one count
    per element. The gradient sums each element's copies (:class:`RepeatSum`).
    """

    __props__ = ("axis",)

    def __init__(self, axis: int):
        if not _is_int(axis) or axis < 0:
            raise TypeError(f"Repeat: axis must be a non-negative int, got {axis!r}")
        self.axis = int(axis)

    def __str__(self):
        return f"Repeat{{axis={self.axis}}}"

    def make_node(self, x: Any, repeats: Any) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise np.exceptions.AxisError(self.axis, x.ndim, "repeat")
        repeats = as_tensor_variable(repeats)
        if repeats.ndim > 1 or repeats.dtype[0] not in "iu":
            raise TypeError(f"repeat: repeats must be an integer scalar or vector, got {repeats} of type {repeats.type}")
        n = x.type.shape[self.axis]
        size = None
        if repeats.ndim == 1 and repeats.type.shape[0] is not None and n is not None and repeats.type.shape[0] != n:
            raise ValueError(f"repeat: got {repeats.type.shape[0]} repeat counts for an axis of size {n}")
        if isinstance(repeats, Constant):
            if (repeats.data < 0).any():
                raise ValueError(f"repeat: repeat counts must be non-negative, got {repeats.data}")
            if repeats.ndim == 1:
                size = int(repeats.data.sum())
            elif n is not None:
                size = n * int(repeats.data)
        elif repeats.ndim == 0 and n is not None and (r := _static_int(repeats)) is not None:
            size = n * r
        shp = list(x.type.shape)
        shp[self.axis] = size
        return Apply(self, [x, repeats], [TensorType(x.dtype, shp)()])

    def perform(self, node, inputs, output_storage):
        x, repeats = inputs
        counts = _repeat_counts(repeats, x.shape[self.axis], "repeat")
        output_storage[0][0] = np.repeat(x, counts, axis=self.axis)

    def infer_shape(self, fgraph, node, input_shapes):
        x, repeats = node.inputs
        shp = list(input_shapes[0])
        if repeats.ndim == 0:
            shp[self.axis] = shp[self.axis] * repeats
        elif isinstance(repeats, Constant):
            shp[self.axis] = int(repeats.data.sum())
        else:
            from symgraph.tensor.reduction import sum as _sum

            shp[self.axis] = _sum(repeats)
        return [tuple(shp)]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, repeats = inputs
        (g,) = output_grads
        return [RepeatSum(self.axis)(g, repeats, shape_i(x, self.axis)), disconnected_type()]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], inputs[1])]


class RepeatSum(Op):
    """The transpose of :class:`Repeat`: sums each run of copies along ``axis``.

    Inputs: the repeated array, the repeat counts, and ``n``, the size of the axis before
    repeating (needed when every count is 0).
    """

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = int(axis)

    def __str__(self):
        return f"RepeatSum{{axis={self.axis}}}"

    def make_node(self, g: Any, repeats: Any, n: Any) -> Apply:
        g = as_tensor_variable(g)
        repeats = as_tensor_variable(repeats)
        n = _int_scalar(n, "repeat")
        shp = list(g.type.shape)
        shp[self.axis] = _static_int(n)
        return Apply(self, [g, repeats, n], [TensorType(g.dtype, shp)()])

    def perform(self, node, inputs, output_storage):
        g, repeats, n = inputs
        counts = _repeat_counts(repeats, int(n), "repeat (gradient)")
        if counts.sum() != g.shape[self.axis]:
            raise ValueError(
                f"repeat (gradient): the counts add up to {counts.sum()}, but the gradient has size "
                f"{g.shape[self.axis]} along axis {self.axis}"
            )
        shp = list(g.shape)
        shp[self.axis] = int(n)
        out = np.zeros(shp, dtype=g.dtype)
        nonzero = counts > 0
        if nonzero.any():
            # Start of each run; runs of length 0 are skipped (reduceat would misread them).
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nonzero]
            index = [slice(None)] * g.ndim
            index[self.axis] = nonzero
            out[tuple(index)] = np.add.reduceat(g, starts, axis=self.axis)
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, input_shapes):
        shp = list(input_shapes[0])
        shp[self.axis] = node.inputs[2]
        return [tuple(shp)]

    def connection_pattern(self, node):
        return [[True], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        _, repeats, _ = inputs
        (gg,) = output_grads
        return [Repeat(self.axis)(gg, repeats), disconnected_type(), disconnected_type()]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


def repeat(x: Any, repeats: Any, axis: int | None = None) -> TensorVariable:
    """Repeat each element of ``x`` (``np.repeat``).

    ``repeats`` is an int, an integer scalar, or one count per element along ``axis``
    (a sequence or an integer vector). With ``axis=None`` the flattened ``x`` is
    repeated. A count vector of length 1 applies to every element, as in NumPy, when its
    length is known at build time.
    """
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = _normalize_axis(axis, x.ndim, "repeat")
    if _is_int(repeats):
        if repeats < 0:
            raise ValueError(f"repeat: repeat counts must be non-negative, got {repeats}")
        repeats = constant(int(repeats), dtype="int64")
    elif not isinstance(repeats, Variable):
        arr = np.asarray(repeats)
        if arr.dtype.kind not in "iu" and arr.size:
            raise TypeError(f"repeat: repeats must be integers, got {repeats!r}")
        repeats = constant(arr.astype("int64"))
    repeats = as_tensor_variable(repeats)
    if repeats.ndim == 1 and repeats.type.shape[0] == 1:
        repeats = repeats.dimshuffle()  # one count for all elements
    return Repeat(axis)(x, repeats)


@tensor_method("repeat")
def _repeat_method(self, repeats: Any, axis: int | None = None) -> TensorVariable:
    """See :func:`repeat`."""
    return repeat(self, repeats, axis)
