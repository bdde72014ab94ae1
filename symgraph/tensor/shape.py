"""Shapes: changing them (:func:`reshape`, :func:`flatten`, :func:`squeeze`,
:func:`expand_dims`, :func:`broadcast_to`, :func:`transpose`) and asserting them
(:func:`specify_shape`).

Reading shapes (:func:`shape`, :func:`shape_i`, ``x.shape``), folding them at build time
(:func:`get_scalar_constant_value`...) and computing them symbolically
(:func:`symbolic_shape`) is in :mod:`symgraph.tensor.shape_inference`; this module
re-exports those names, so ``from symgraph.tensor.shape import symbolic_shape`` and
``st.symbolic_shape`` keep working.

Shape entries
-------------
Functions taking a shape accept an ``int``, a sequence of ``int`` and integer scalar
variables, or an integer vector variable of known length. Entries that are constant (or
that fold to constants at build time, such as ``shape_i`` of a statically known
dimension) become static sizes of the output type, which matters for broadcasting: a
dimension broadcasts only when its static size is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.null_type import DisconnectedType, disconnected_type
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.elemwise import DimShuffle
from symgraph.tensor.shape_inference import __all__ as _shape_inference_all
from symgraph.tensor.shape_inference import (
    MakeVector,
    NotScalarConstantError,
    Shape,
    Shape_i,
    _as_shape_entries,
    _as_shape_vector,
    _int_scalar,
    _is_basic_index,
    _is_int,
    _normalize_axes,
    _normalize_axis,
    _prod,
    _shape_entries,
    _static_int,
    _static_vector,
    _vector_elements,
    get_scalar_constant_value,
    get_vector_length,
    infer_static_shape,
    make_vector,
    shape,
    shape_i,
    shape_tuple,
    symbolic_shape,
)
from symgraph.tensor.type import TensorType, _format_shape
from symgraph.tensor.variable import TensorVariable, tensor_method

# Everything shape_inference exports is part of this module's API too.
__all__ = [
    *_shape_inference_all,
    "Reshape",
    "SpecifyShape",
    "reshape",
    "specify_shape",
    "specify_broadcastable",
    "flatten",
    "squeeze",
    "expand_dims",
    "broadcast_to",
    "sum_to_shape",
    "transpose",
    "swapaxes",
]

# --------------------------------------------------------------------------- Reshape


class Reshape(Op):
    """Reshape to ``ndim`` dimensions given by an integer vector of length ``ndim``.

    One entry may be -1: that size is inferred from the number of elements. The result
    is a view of the input when NumPy can make one (``view_map`` declares the aliasing).
    Sizes that do not match raise ``ValueError`` (at build time when they are known).
    """

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim: int):
        if not _is_int(ndim) or ndim < 0:
            raise TypeError(f"Reshape: ndim must be a non-negative int, got {ndim!r}")
        self.ndim = int(ndim)

    def __str__(self):
        return f"Reshape{{{self.ndim}}}"

    def make_node(self, x: Any, shp: Any) -> Apply:
        x = as_tensor_variable(x)
        shp = _as_shape_vector(shp, "reshape")
        if shp.type.shape[0] is not None and shp.type.shape[0] != self.ndim:
            raise ValueError(f"{self}: the shape vector {shp} has {shp.type.shape[0]} entries, expected {self.ndim}")
        if shp.type.shape[0] is None:
            shp = SpecifyShape((True,))(shp, self.ndim)
        requested = _static_vector(shp)
        out_shape = self._static_output(x, requested)
        return Apply(self, [x, shp], [TensorType(x.dtype, out_shape)()])

    def _static_output(self, x: TensorVariable, requested: list) -> tuple:
        if any(r is not None and r < -1 for r in requested):
            raise ValueError(f"reshape: invalid size in {_format_shape(tuple(requested))}: sizes must be >= 0, or -1 once")
        if sum(r == -1 for r in requested) > 1:
            raise ValueError(f"reshape: only one size can be -1, got {_format_shape(tuple(requested))}")
        size = None if None in x.type.shape else int(np.prod(x.type.shape, dtype=np.int64))
        out = [r if r is not None and r >= 0 else None for r in requested]
        known = [r for r in requested if r is not None and r >= 0]
        if size is not None and None not in requested:
            prod = int(np.prod(known, dtype=np.int64))
            if -1 in requested:
                if prod == 0 or size % prod:
                    raise ValueError(
                        f"reshape: cannot reshape {x} of shape {x.type.shape} (size {size}) into "
                        f"shape {tuple(requested)}"
                    )
                out[requested.index(-1)] = size // prod
            elif prod != size:
                raise ValueError(
                    f"reshape: cannot reshape {x} of shape {x.type.shape} (size {size}) into shape {tuple(requested)}"
                )
        return tuple(out)

    def perform(self, node, inputs, output_storage):
        x, shp = inputs
        requested = [int(s) for s in shp]
        if len(requested) != self.ndim:
            raise ValueError(f"{self}: the shape vector has {len(requested)} entries, expected {self.ndim}")
        if any(s < -1 for s in requested) or requested.count(-1) > 1:
            raise ValueError(
                f"reshape: invalid target shape {tuple(requested)}: sizes must be >= 0, with at most one -1"
            )
        if -1 in requested:
            known = int(np.prod([s for s in requested if s != -1], dtype=np.int64))
            if known == 0 or x.size % known:
                raise ValueError(
                    f"reshape: cannot reshape an array of shape {x.shape} (size {x.size}) into shape {tuple(requested)}"
                )
            requested[requested.index(-1)] = x.size // known
        elif int(np.prod(requested, dtype=np.int64)) != x.size:
            raise ValueError(
                f"reshape: cannot reshape an array of shape {x.shape} (size {x.size}) into shape {tuple(requested)}"
            )
        output_storage[0][0] = x.reshape(requested)

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        (g,) = output_grads
        return [reshape(g, shape_tuple(x)), disconnected_type()]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], inputs[1])]

    def infer_shape(self, fgraph, node, input_shapes):
        x_shape = input_shapes[0]
        entries = _vector_elements(node.inputs[1])
        statics = [_static_int(e) for e in entries]
        if all((s is not None and s >= 0) or (s is None and _non_negative(e)) for e, s in zip(entries, statics)):
            return [tuple(entries)]
        from symgraph.tensor.basic import eq, floor_divide, maximum, neg, switch

        size = _prod(x_shape)
        if -1 in statics:
            others = _prod([e for e, s in zip(entries, statics) if s != -1])
            inferred = size if _is_int(others) and others == 1 else floor_divide(size, others)
            return [tuple(inferred if s == -1 else e for e, s in zip(entries, statics))]
        # Which entry is -1 is only known at run time: the product of all entries is then
        # minus the product of the others.
        # (The maximum only avoids a division by zero when no entry is -1.)
        missing = floor_divide(size, maximum(neg(_prod(entries)), 1))
        return [tuple(e if s is not None else switch(eq(e, -1), missing, e) for e, s in zip(entries, statics))]


def _non_negative(v: Variable, depth: int = 8) -> bool:
    """Whether the integer scalar ``v`` is a size, or sums and products of sizes, so that it
    cannot be the -1 of a reshape."""
    if isinstance(v, Constant):
        return bool(np.all(np.asarray(v.data) >= 0))
    node = v.owner
    if node is None or depth == 0:
        return False
    if isinstance(node.op, Shape_i):
        return True
    if _is_basic_index(node.op) and node.inputs[0].owner is not None and isinstance(node.inputs[0].owner.op, Shape):
        return True
    scalar_op = getattr(node.op, "scalar_op", None)
    if getattr(scalar_op, "name", None) in ("add", "mul", "maximum"):
        return all(_non_negative(i, depth - 1) for i in node.inputs)
    if isinstance(node.op, DimShuffle):
        return _non_negative(node.inputs[0], depth - 1)
    return False


def reshape(x: Any, newshape: Any, ndim: int | None = None) -> TensorVariable:
    """``x`` with shape ``newshape`` (NumPy's ``reshape``; one entry may be -1).

    ``newshape`` is an int, a sequence of ints and integer scalar variables, or an
    integer vector variable; ``ndim`` is needed only when that vector's length is not
    known statically. Also ``x.reshape(newshape)`` and ``x.reshape(d0, d1, ...)``.
    """
    x = as_tensor_variable(x)
    shp = _as_shape_vector(newshape, "reshape")
    if ndim is None:
        try:
            ndim = get_vector_length(shp)
        except ValueError:
            raise ValueError(
                f"reshape: the length of the shape {shp} is not known when the graph is built; pass ndim"
            ) from None
    return Reshape(ndim)(x, shp)


@tensor_method("reshape")
def _reshape_method(self, *shape_args: Any, ndim: int | None = None) -> TensorVariable:
    """``x.reshape(shape)`` or ``x.reshape(d0, d1, ...)``: see :func:`reshape`."""
    if len(shape_args) == 1:
        return reshape(self, shape_args[0], ndim=ndim)
    return reshape(self, shape_args, ndim=ndim)


def flatten(x: Any, ndim: int = 1) -> TensorVariable:
    """``x`` with its trailing dimensions merged so that it has ``ndim`` dimensions.

    ``flatten(x)`` is a vector of all elements (C order); ``flatten(x, 2)`` of a
    ``(a, b, c)`` tensor has shape ``(a, b * c)``. Also ``x.flatten(ndim)`` and ``x.ravel()``.
    """
    x = as_tensor_variable(x)
    if not _is_int(ndim) or not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {max(x.ndim, 1)} for {x} of type {x.type}, got {ndim!r}")
    if x.ndim == ndim:
        return x
    entries = _shape_entries(x)
    new = entries[: ndim - 1] + [_prod(entries[ndim - 1 :])]
    return reshape(x, new, ndim=ndim)


@tensor_method("flatten")
def _flatten_method(self, ndim: int = 1) -> TensorVariable:
    """See :func:`flatten`."""
    return flatten(self, ndim)


@tensor_method("ravel")
def _ravel_method(self) -> TensorVariable:
    """All elements as a vector, in C order (``flatten(x)``)."""
    return flatten(self, 1)


# --------------------------------------------------------------------------- SpecifyShape


class SpecifyShape(Op):
    """Assert a tensor's shape at run time and make it static in the output type.

    Inputs: the tensor, then one integer scalar per dimension marked in ``specified``
    (``specified[d]`` says whether dimension ``d`` is checked). The output is the input
    itself (a view); a mismatch raises ``ValueError`` when the graph runs, or when it is
    built if the static shapes already disagree.
    """

    __props__ = ("specified",)
    view_map = {0: [0]}

    def __init__(self, specified: Sequence[bool]):
        self.specified = tuple(bool(s) for s in specified)

    def __str__(self):
        return "SpecifyShape"

    def make_node(self, x: Any, *dims: Any) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim != len(self.specified):
            raise ValueError(f"specify_shape: {x} of type {x.type} has {x.ndim} dimensions, expected {len(self.specified)}")
        if len(dims) != sum(self.specified):
            raise TypeError(f"{self}: expected {sum(self.specified)} sizes, got {len(dims)}")
        dims = tuple(_int_scalar(d, "specify_shape") for d in dims)
        static = list(x.type.shape)
        it = iter(dims)
        requested: list[int | None] = []
        for d, spec in enumerate(self.specified):
            value = _static_int(next(it)) if spec else None
            requested.append(value)
            if value is None:
                continue
            if static[d] is not None and static[d] != value:
                raise ValueError(
                    f"specify_shape: {x} has static shape {_format_shape(x.type.shape)}, which does not match "
                    f"the specified shape {_format_shape(tuple(requested) + (None,) * (x.ndim - d - 1))}"
                )
            static[d] = value
        return Apply(self, [x, *dims], [TensorType(x.dtype, static)()])

    def perform(self, node, inputs, output_storage):
        x, *dims = inputs
        if x.ndim != len(self.specified):
            raise ValueError(f"specify_shape: expected a {len(self.specified)}-d array, got shape {x.shape}")
        it = iter(dims)
        expected = tuple(int(next(it)) if spec else None for spec in self.specified)
        if any(e is not None and e != s for e, s in zip(expected, x.shape)):
            raise ValueError(f"specify_shape: expected shape {_format_shape(expected)}, got an array of shape {x.shape}")
        output_storage[0][0] = x

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        return [self(g, *inputs[1:])] + [disconnected_type() for _ in inputs[1:]]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]

    def infer_shape(self, fgraph, node, input_shapes):
        it = iter(node.inputs[1:])
        return [tuple(next(it) if spec else s for spec, s in zip(self.specified, input_shapes[0]))]


def specify_shape(x: Any, shape: Any) -> TensorVariable:
    """``x``, checked at run time to have ``shape``, with that shape in its static type.

    ``shape`` has one entry per dimension: an int or integer scalar variable to check, or
    ``None`` to leave the dimension unchecked. An integer vector variable of known length
    checks every dimension. Returns ``x`` itself when nothing new would be checked.
    """
    x = as_tensor_variable(x)
    if isinstance(shape, Variable) or _is_int(shape):
        entries: list = _as_shape_entries(shape, "specify_shape")
    else:
        entries = list(shape)
    if len(entries) != x.ndim:
        raise ValueError(f"specify_shape: {x} of type {x.type} has {x.ndim} dimensions, got the shape {shape!r}")
    specified, dims = [], []
    for d, e in enumerate(entries):
        if e is None or (x.type.shape[d] is not None and _static_int(e) == x.type.shape[d]):
            specified.append(False)
        else:
            specified.append(True)
            dims.append(e)
    if not any(specified):
        return x
    return SpecifyShape(tuple(specified))(x, *dims)


def specify_broadcastable(x: Any, *axes: int) -> TensorVariable:
    """``x`` with the dimensions ``axes`` checked to be of size 1 (so they broadcast)."""
    x = as_tensor_variable(x)
    chosen = _normalize_axes(axes, x.ndim, "specify_broadcastable") if axes else ()
    return specify_shape(x, [1 if d in chosen else None for d in range(x.ndim)])


# --------------------------------------------------------------------------- DimShuffle helpers


def squeeze(x: Any, axis: Any = None) -> TensorVariable:
    """Remove dimensions of size 1.

    With ``axis=None`` the dimensions removed are those whose *static* size is 1 (sizes
    known only at run time are kept). Named axes are removed after a run-time check that
    their size is 1 (``ValueError`` otherwise; at build time if the static size is not 1).
    """
    x = as_tensor_variable(x)
    if axis is None:
        axes = tuple(d for d, s in enumerate(x.type.shape) if s == 1)
    else:
        axes = _normalize_axes(axis, x.ndim, "squeeze")
        for a in axes:
            if x.type.shape[a] not in (None, 1):
                raise ValueError(f"squeeze: cannot remove dimension {a} of {x} (type {x.type}): its size is not 1")
        x = specify_broadcastable(x, *axes) if axes else x
    if not axes:
        return x
    return DimShuffle(x.ndim, tuple(d for d in range(x.ndim) if d not in axes))(x)


@tensor_method("squeeze")
def _squeeze_method(self, axis: Any = None) -> TensorVariable:
    """See :func:`squeeze`."""
    return squeeze(self, axis)


def expand_dims(x: Any, axis: Any) -> TensorVariable:
    """Insert size-1 dimensions at positions ``axis`` (int or tuple) of the result, like NumPy."""
    x = as_tensor_variable(x)
    axes = (axis,) if _is_int(axis) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    new = _normalize_axes(axes, out_ndim, "expand_dims")
    it = iter(range(x.ndim))
    order = tuple("x" if d in new else next(it) for d in range(out_ndim))
    return DimShuffle(x.ndim, order)(x)


def transpose(x: Any, axes: Any = None) -> TensorVariable:
    """Permute the dimensions of ``x`` (reverse them when ``axes`` is ``None``), as NumPy."""
    x = as_tensor_variable(x)
    return x.transpose() if axes is None else x.transpose(tuple(axes))


def swapaxes(x: Any, axis1: int, axis2: int) -> TensorVariable:
    """``x`` with dimensions ``axis1`` and ``axis2`` exchanged (also ``x.swapaxes``)."""
    x = as_tensor_variable(x)
    a = _normalize_axis(axis1, x.ndim, "swapaxes")
    b = _normalize_axis(axis2, x.ndim, "swapaxes")
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return x.dimshuffle(*order)


@tensor_method("swapaxes")
def _swapaxes_method(self, axis1: int, axis2: int) -> TensorVariable:
    """See :func:`swapaxes`."""
    return swapaxes(self, axis1, axis2)


# --------------------------------------------------------------------------- broadcasting
# The ops live in :mod:`symgraph.tensor.creation` next to ``Alloc``, with which they share
# their structure; these entry points keep them reachable from here.


def broadcast_to(x: Any, shape: Any) -> TensorVariable:
    """``x`` broadcast to ``shape`` (NumPy's ``broadcast_to``): a read-only view.

    Like NumPy, dimensions of size 1 (and missing leading ones) are repeated; any other
    mismatch raises ``ValueError``. The gradient sums back over the repeated dimensions
    (see :class:`~symgraph.tensor.creation.BroadcastTo`).
    """
    from symgraph.tensor.creation import _broadcast_to

    return _broadcast_to(x, shape)


def sum_to_shape(g: Any, shape: Any) -> TensorVariable:
    """Sum ``g`` down to ``shape`` (which ``g``'s shape broadcasts from), deciding at run
    time which size-1 dimensions were broadcast (see
    :class:`~symgraph.tensor.creation.SumToShape`). Returns ``g`` when nothing can need summing."""
    from symgraph.tensor.creation import _sum_to_shape

    return _sum_to_shape(g, shape)


def _is_disconnected(v: Any) -> bool:
    """Whether ``v`` is a disconnected gradient (or missing)."""
    return v is None or isinstance(getattr(v, "type", None), DisconnectedType)

