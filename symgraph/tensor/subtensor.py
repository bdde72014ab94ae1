"""NumPy indexing of tensors: ``x[idx]``, :func:`set_subtensor`, :func:`inc_subtensor`, :func:`take`.

This module holds the indexing ops and the user functions. How an index is stored (the
``idx_list`` prop and its entries ``IdxSlice``, ``SCALAR`` and ``ARRAY``, re-exported here),
how a Python key is parsed, and NumPy's shape rules are in
:mod:`symgraph.tensor.indexing_rules`.

Basic indices (no :data:`ARRAY`) build a :class:`Subtensor`, which returns a view; with an
array or mask it is an :class:`AdvancedSubtensor`, which copies. Their ``str`` shows the index
with ``iK``/``aK`` for index input ``K`` (a scalar / an array): ``Subtensor{1:i0, ::-1}``.

Shapes follow NumPy exactly (see :mod:`~symgraph.tensor.indexing_rules`); the symbolic
shapes used by ``infer_shape`` come from the same rules, through :class:`IndexShape` when
they are not simply dimensions of ``x`` or of an index array.

Gradients: indexing scatters the output gradient back with :class:`AdvancedIncSubtensor`
(``np.add.at`` semantics, so repeated indices accumulate). ``set_subtensor`` with repeated
indices keeps NumPy's "last write wins"; its gradient w.r.t. ``y`` only reaches the writes
that survive (:class:`LastWriteMask`). Index inputs are integers: like PyTensor, they are
not connected to the outputs for differentiation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable
from symgraph.graph.null_type import disconnected_type
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.indexing_rules import ARRAY, SCALAR  # noqa: F401  (re-exported: part of this module's API)
from symgraph.tensor.indexing_rules import (
    _INT_KINDS,
    IdxSlice,
    _as_index_tuple,
    _check_index_inputs,
    _check_kind,
    _format_idx,
    _index_error,
    _indexed_shape,
    _is_advanced,
    _n_index_inputs,
    _normalize_index,
    _runtime_desc,
    _static_desc,
    _validate_idx_list,
)
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import TensorConstant, TensorVariable, tensor_method

__all__ = [
    "IdxSlice",
    "Subtensor",
    "AdvancedSubtensor",
    "IncSubtensor",
    "AdvancedIncSubtensor",
    "IndexShape",
    "LastWriteMask",
    "set_subtensor",
    "inc_subtensor",
    "take",
]


def _may_repeat(index_inputs) -> bool:
    """Whether two elements of an index may address the same position (integer arrays)."""
    return any(v.ndim > 0 and v.dtype != "bool" for v in index_inputs)


# --------------------------------------------------------------------------- the ops


class _IndexOp(Op):
    """Shared parts of the ops taking ``(x, [y,] *index inputs)`` with an ``idx_list`` prop."""

    _n_data = 1  # inputs before the index inputs
    _name = "Subtensor"
    _advanced: bool | None = False

    def __init__(self, idx_list: tuple):
        self.idx_list = _validate_idx_list(idx_list)
        self._static_index = None if _n_index_inputs(self.idx_list) else _as_index_tuple(self.idx_list, ())
        # Appended to basic indices so that a full integer index gives a 0-d view, not a scalar.
        self._view_suffix = () if any(e is Ellipsis for e in self.idx_list) else (Ellipsis,)

    def __str__(self) -> str:
        return f"{self._name}{{{_format_idx(self.idx_list)}}}"

    def _index(self, index_values) -> tuple:
        if self._static_index is not None:
            return self._static_index
        return _as_index_tuple(self.idx_list, index_values)

    def _result_shape(self, x_shape, index_inputs, runtime=False):
        descs = [_runtime_desc(v) if runtime else _static_desc(v) for v in index_inputs]
        return _indexed_shape(tuple(x_shape), self.idx_list, descs)

    def _prefixed(self, exc):
        return type(exc)(f"{self}: {exc}")

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[i < self._n_data] for i in range(len(node.inputs))]

    def _indexed_infer_shape(self, node: Apply, input_shapes, out_type):
        """Symbolic shape of ``x[idx]`` for this node's index inputs, from the input shapes."""
        x_shape = input_shapes[0]
        index_inputs = node.inputs[self._n_data :]
        pairs = self._result_shape([None] * len(x_shape), index_inputs)
        result, shape_node = [], None
        for d, ((_, source), static) in enumerate(zip(pairs, out_type.shape)):
            if static is not None:
                result.append(static)
            elif source is not None and source[0] == "x":
                result.append(x_shape[source[1]])
            elif source is not None:
                result.append(input_shapes[self._n_data + source[1]][source[2]])
            else:
                if shape_node is None:
                    shape_node = IndexShape(self.idx_list).make_node(*x_shape, *index_inputs)
                result.append(shape_node.outputs[d])
        return tuple(result)


def _is_discrete(var: Variable) -> bool:
    return var.type.dtype not in ("float32", "float64")


def _zeros_like(var: Variable, dtype=None):
    from symgraph.tensor.creation import zeros_like

    return zeros_like(var, dtype=dtype)


class Subtensor(_IndexOp):
    """``x[idx]`` for a basic index (integers, slices, ``None``): a view of ``x``.

    Inputs: ``x`` then the symbolic scalars of the index, in order. Integers out of bounds
    raise ``IndexError`` (when building the graph if the size is static).
    """

    __props__ = ("idx_list",)
    view_map = {0: [0]}

    def make_node(self, x: Any, *index_inputs: Any) -> Apply:
        x = as_tensor_variable(x)
        index_inputs = _check_index_inputs(self, self.idx_list, index_inputs)
        _check_kind(self, self._advanced)
        try:
            shape = [s for s, _ in self._result_shape(x.type.shape, index_inputs)]
        except (IndexError, ValueError) as exc:
            raise self._prefixed(exc) from None
        return Apply(self, [x, *index_inputs], [self._out_type(x, shape)()])

    def _out_type(self, x, shape):
        return TensorType(x.type.dtype, shape)

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        x = inputs[0]
        try:
            out = x[self._index(inputs[1:]) + self._view_suffix]
        except IndexError as exc:
            raise _index_error(self, exc, x.shape) from None
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        return [self._indexed_infer_shape(node, input_shapes, node.outputs[0].type)]

    def L_op(self, inputs, outputs, output_grads):
        x, *index_inputs = inputs
        (gz,) = output_grads
        if _is_discrete(x):
            gx = _zeros_like(x, dtype=config.floatX)
        else:
            inc = AdvancedIncSubtensor if _is_advanced(self.idx_list) else IncSubtensor
            gx = inc(self.idx_list)(_zeros_like(x), gz, *index_inputs)
        return [gx] + [disconnected_type() for _ in index_inputs]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [type(self)(self.idx_list)(eval_points[0], *inputs[1:])]


class AdvancedSubtensor(Subtensor):
    """``x[idx]`` for an index with integer arrays or boolean masks: a copy (NumPy semantics).

    Inputs: ``x`` then the symbolic scalars and arrays of the index, in order.
    """

    __props__ = ("idx_list",)
    view_map: dict = {}
    _name = "AdvancedSubtensor"
    _advanced = True

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        x = inputs[0]
        try:
            out = x[self._index(inputs[1:])]
        except IndexError as exc:
            raise _index_error(self, exc, x.shape) from None
        out = np.asarray(out)
        if np.may_share_memory(out, x):  # e.g. a 0-d integer array index, which is basic
            out = out.copy()
        output_storage[0][0] = out


class LastWriteMask(AdvancedSubtensor):
    """Boolean tensor shaped like ``x[idx]``: whether each element is the last one of the
    index to address its position of ``x`` (the write that survives in ``x[idx] = y``).

    Inputs as :class:`AdvancedSubtensor`; only the shape of ``x`` is used. It selects the
    gradient of ``set_subtensor`` w.r.t. ``y`` when indices repeat.
    """

    __props__ = ("idx_list",)
    _name = "LastWriteMask"
    _advanced = None

    def _out_type(self, x, shape):
        return TensorType("bool", shape)

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        x = inputs[0]
        flat_positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)
        try:
            positions = flat_positions[self._index(inputs[1:])]
        except IndexError as exc:
            raise _index_error(self, exc, x.shape) from None
        flat = positions.ravel()
        order = np.arange(flat.size, dtype=np.int64)
        last = np.empty(x.size, dtype=np.int64)
        last[flat] = order  # repeated positions keep the last order, as x[idx] = y does
        output_storage[0][0] = (last[flat] == order).reshape(positions.shape)

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type() for _ in inputs]

    def R_op(self, inputs, eval_points):
        return [None]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[False] for _ in node.inputs]


class IncSubtensor(_IndexOp):
    """``x`` with ``x[idx]`` incremented by ``y`` (or set to ``y``), for a basic index.

    Returns a new tensor; ``x`` is not modified. ``y`` broadcasts to the shape of ``x[idx]``
    (along dimensions it lacks or that are statically of size 1). Inputs: ``x``, ``y``, then
    the index inputs.
    """

    __props__ = ("idx_list", "set_instead_of_inc")
    _n_data = 2

    def __init__(self, idx_list: tuple, set_instead_of_inc: bool = False):
        super().__init__(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self) -> str:
        name = ("Advanced" if _is_advanced(self.idx_list) else "") + ("Set" if self.set_instead_of_inc else "Inc")
        return f"{name}Subtensor{{{_format_idx(self.idx_list)}}}"

    def make_node(self, x: Any, y: Any, *index_inputs: Any) -> Apply:
        from symgraph.tensor.elemwise import is_weak_scalar

        x = as_tensor_variable(x)
        if is_weak_scalar(y):
            try:
                y = constant(y, dtype=x.dtype)
            except TypeError:
                raise TypeError(f"{self}: the value {y!r} does not fit the {x.dtype} tensor {x}") from None
        y = as_tensor_variable(y)
        if not np.can_cast(y.type.numpy_dtype, x.type.numpy_dtype, "same_kind"):
            raise TypeError(
                f"{self}: cannot write {y.dtype} values ({y}) into the {x.dtype} tensor {x}; cast y first"
            )
        index_inputs = _check_index_inputs(self, self.idx_list, index_inputs)
        _check_kind(self, self._advanced)
        try:
            sub = [s for s, _ in self._result_shape(x.type.shape, index_inputs)]
        except (IndexError, ValueError) as exc:
            raise self._prefixed(exc) from None
        if y.ndim > len(sub):
            raise ValueError(f"{self}: y ({y}, {y.ndim}-d) has more dimensions than x[idx] ({len(sub)}-d)")
        for ys, ss in zip(y.type.shape, sub[len(sub) - y.ndim :]):
            if ys is not None and ys != 1 and ss is not None and ys != ss:
                raise ValueError(
                    f"{self}: y of static shape {y.type.shape} cannot be broadcast to the shape "
                    f"{tuple('?' if s is None else s for s in sub)} of x[idx]"
                )
        return Apply(self, [x, y, *index_inputs], [x.type()])

    def _check_y(self, node: Apply, y: np.ndarray, sub_shape: tuple) -> None:
        """Reject ``y`` shapes that do not broadcast, and broadcasting the static type forbids."""
        static = node.inputs[1].type.shape
        offset = len(sub_shape) - y.ndim
        for d, (ys, ss) in enumerate(zip(y.shape, sub_shape[offset:])):
            if ys == ss:
                continue
            if ys != 1:
                raise ValueError(f"{self}: y of shape {y.shape} cannot be broadcast to the shape {sub_shape} of x[idx]")
            if static[d] != 1:
                # The gradient sums over the dimensions y is known to broadcast along.
                raise ValueError(
                    f"{self}: y of shape {y.shape} would broadcast along its dimension {d}, whose size "
                    f"is not statically 1 (type {node.inputs[1].type}); give y a static size of 1 there "
                    "(e.g. with specify_shape or y[None])"
                )

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        x, y = inputs[0], inputs[1]
        out = x.copy()
        index = self._index(inputs[2:])
        try:
            view = out[index + self._view_suffix]
        except IndexError as exc:
            raise _index_error(self, exc, x.shape) from None
        self._check_y(node, y, view.shape)
        if self.set_instead_of_inc:
            view[...] = y
        else:
            view += y
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        x, y, *index_inputs = inputs
        (gz,) = output_grads
        advanced = _is_advanced(self.idx_list)
        if _is_discrete(x):
            gx = _zeros_like(x, dtype=config.floatX)
        elif self.set_instead_of_inc:
            gx = type(self)(self.idx_list, True)(gz, 0, *index_inputs)
        else:
            gx = gz
        if _is_discrete(y):
            gy = _zeros_like(y, dtype=config.floatX)
        else:
            gather = AdvancedSubtensor if advanced else Subtensor
            gy = gather(self.idx_list)(gz, *index_inputs)
            if self.set_instead_of_inc and _may_repeat(index_inputs):
                gy = gy * LastWriteMask(self.idx_list)(gz, *index_inputs)
            gy = _sum_to(gy, y)
        return [gx, gy] + [disconnected_type() for _ in index_inputs]

    def R_op(self, inputs, eval_points):
        x, y, *index_inputs = inputs
        ex, ey = eval_points[0], eval_points[1]
        if ex is None and ey is None:
            return [None]
        ex = _zeros_like(x) if ex is None else ex
        ey = _zeros_like(y) if ey is None else ey
        return [type(self)(self.idx_list, self.set_instead_of_inc)(ex, ey, *index_inputs)]


class AdvancedIncSubtensor(IncSubtensor):
    """:class:`IncSubtensor` for indices with integer arrays or boolean masks.

    Increments follow ``np.add.at``: an index repeated ``k`` times adds ``y`` ``k`` times.
    Setting follows NumPy assignment: of repeated indices, the last write wins.
    """

    __props__ = ("idx_list", "set_instead_of_inc")
    _advanced = True

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        x, y = inputs[0], inputs[1]
        index = self._index(inputs[2:])
        try:
            sub_shape = tuple(s for s, _ in self._result_shape(x.shape, inputs[2:], runtime=True))
        except IndexError as exc:
            raise _index_error(self, exc, x.shape) from None
        self._check_y(node, y, sub_shape)
        out = x.copy()
        if self.set_instead_of_inc:
            out[index] = y
        else:
            _add_at(out, index, y)
        output_storage[0][0] = out


def _add_at(out: np.ndarray, index: Any, y: np.ndarray) -> None:
    """``np.add.at(out, index, y)`` (repeated positions accumulate) for a contiguous ``out``.

    NumPy 2.4's ``add.at`` reads uninitialised memory when ``y`` broadcasts against
    repeated array indices, and lays out some mixed slice/array keys unlike ordinary
    indexing. So: find the flat positions with ordinary indexing, then accumulate with
    1-d arrays and no broadcasting.
    """
    positions = np.arange(out.size).reshape(out.shape)[index]
    values = np.broadcast_to(np.asarray(y, dtype=out.dtype), positions.shape)
    flat = out.reshape(-1)  # a view when ``out`` is contiguous, else a copy
    np.add.at(flat, positions.reshape(-1), np.ascontiguousarray(values).reshape(-1))
    if not np.may_share_memory(flat, out):
        out[...] = flat.reshape(out.shape)


def _sum_to(g: Variable, like: Variable) -> Variable:
    """``g`` summed over the dimensions ``like`` broadcasts along (leading extra dims, and
    dims where ``like`` is statically 1 but ``g`` is not)."""
    from symgraph.tensor.reduction import sum as _sum

    extra = g.ndim - like.ndim
    kept = tuple(
        extra + d for d, s in enumerate(like.type.shape) if s == 1 and g.type.shape[extra + d] != 1
    )
    if kept:
        g = _sum(g, axis=kept, keepdims=True)
    if extra:
        g = _sum(g, axis=tuple(range(extra)))
    return g


class IndexShape(Op):
    """The shape of ``x[idx]`` from the shape of ``x`` and the index inputs, one int64 scalar
    output per dimension (what ``infer_shape`` of the indexing ops uses when the shape is not
    simply that of ``x`` or of an index array). Counts the True entries of masks.

    Inputs: the ``x.ndim`` dimensions of ``x`` (0-d integers), then the index inputs.
    """

    __props__ = ("idx_list",)

    def __init__(self, idx_list: tuple):
        self.idx_list = _validate_idx_list(idx_list)

    def __str__(self) -> str:
        return f"IndexShape{{{_format_idx(self.idx_list)}}}"

    def make_node(self, *inputs: Any) -> Apply:
        n_index = _n_index_inputs(self.idx_list)
        dims = []
        for d in inputs[: len(inputs) - n_index]:
            d = constant(int(d), dtype="int64") if isinstance(d, (int, np.integer)) else as_tensor_variable(d)
            if d.ndim != 0 or d.dtype[0] not in _INT_KINDS:
                raise TypeError(f"{self}: dimensions must be 0-d integers, got {d} of type {d.type}")
            dims.append(d)
        index_inputs = _check_index_inputs(self, self.idx_list, inputs[len(dims) :])
        x_shape = [int(d.data) if isinstance(d, TensorConstant) else None for d in dims]
        descs = [_static_desc(v) for v in index_inputs]
        n_out = len(_indexed_shape(tuple(x_shape), self.idx_list, descs))
        return Apply(self, [*dims, *index_inputs], [TensorType("int64", ())() for _ in range(n_out)])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        n_dims = len(node.inputs) - _n_index_inputs(self.idx_list)
        x_shape = tuple(int(d) for d in inputs[:n_dims])
        descs = [_runtime_desc(v) for v in inputs[n_dims:]]
        try:
            pairs = _indexed_shape(x_shape, self.idx_list, descs)
        except IndexError as exc:
            raise _index_error(self, exc, x_shape) from None
        for cell, (size, _) in zip(output_storage, pairs):
            cell[0] = np.asarray(size, dtype=np.int64)

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        return [() for _ in node.outputs]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[False] * len(node.outputs) for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type() for _ in inputs]

    def R_op(self, inputs, eval_points):
        return [None] * len(self.make_node(*inputs).outputs)


# --------------------------------------------------------------------------- user functions


def _getitem(x: TensorVariable, key: Any) -> TensorVariable:
    idx_list, index_inputs = _normalize_index(x, key)
    op_class = AdvancedSubtensor if _is_advanced(idx_list) else Subtensor
    return op_class(idx_list)(x, *index_inputs)


def _indexing_owner(x: Any, fn_name: str) -> Apply:
    owner = getattr(x, "owner", None)
    if owner is None or type(owner.op) not in (Subtensor, AdvancedSubtensor):
        raise TypeError(
            f"{fn_name}: the first argument must be an indexing expression such as x[idx] "
            f"(a Subtensor or AdvancedSubtensor output), got {x}"
        )
    return owner


def inc_subtensor(x: TensorVariable, y: Any, inplace: bool = False, set_instead_of_inc: bool = False) -> TensorVariable:
    """``x`` (the tensor indexed by the expression ``x[idx]`` passed as first argument) with
    ``x[idx]`` incremented by ``y``, as a new tensor: ``inc_subtensor(a[1:], 2.0)``.

    ``y`` broadcasts to the shape of ``x[idx]``. With repeated integer indices, each occurrence
    adds ``y`` once (``np.add.at``). ``set_instead_of_inc=True`` is :func:`set_subtensor`.
    ``inplace`` is accepted for PyTensor code and changes nothing: results are always new
    tensors, and working in place is left to graph rewrites.
    """
    owner = _indexing_owner(x, "set_subtensor" if set_instead_of_inc else "inc_subtensor")
    op_class = AdvancedIncSubtensor if type(owner.op) is AdvancedSubtensor else IncSubtensor
    return op_class(owner.op.idx_list, set_instead_of_inc)(owner.inputs[0], y, *owner.inputs[1:])


def set_subtensor(x: TensorVariable, y: Any, inplace: bool = False) -> TensorVariable:
    """``x`` with ``x[idx]`` replaced by ``y``, as a new tensor: ``set_subtensor(a[:, 0], 0.0)``.

    The first argument is the expression ``x[idx]``. ``y`` broadcasts to its shape; with
    repeated integer indices the last write wins, as in NumPy. ``inplace`` changes nothing
    (see :func:`inc_subtensor`).
    """
    return inc_subtensor(x, y, set_instead_of_inc=True)


def take(x: Any, indices: Any, axis: int | None = None, mode: str = "raise") -> TensorVariable:
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when ``axis``
    is ``None``), like ``np.take``. ``mode``: ``"raise"`` (out-of-bounds indices raise
    ``IndexError``), ``"wrap"`` (indices taken modulo the size) or ``"clip"``."""
    x = as_tensor_variable(x)
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    indices = indices if isinstance(indices, Variable) else as_tensor_variable(
        np.asarray(indices, dtype=np.int64) if np.size(indices) == 0 else indices
    )
    if indices.dtype[0] not in _INT_KINDS:
        raise TypeError(f"take: indices must be integers, got {indices} of type {indices.type}")
    if axis is None:
        if x.ndim != 1:
            from symgraph.tensor.shape import flatten

            x = flatten(x, 1)
        axis = 0
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"take: axis {axis!r} is out of range for a {x.ndim}-d tensor")
    axis = int(axis) % x.ndim
    if mode != "raise":
        from symgraph.tensor import basic
        from symgraph.tensor.shape import shape_i

        size = shape_i(x, axis)
        if mode == "wrap":
            indices = basic.mod(indices, size)
        else:
            indices = basic.clip(indices, 0, size - 1)
    return x[(slice(None),) * axis + (indices,)]


# --------------------------------------------------------------------------- methods


@tensor_method("__getitem__")
def _getitem_method(self, key):
    """NumPy indexing: integers, slices (symbolic bounds allowed), ``None``, ``...``,
    integer arrays and boolean masks. Basic indices give a view, advanced ones a copy."""
    return _getitem(self, key)


@tensor_method("__setitem__")
def _setitem_method(self, key, value):
    raise TypeError(
        "symbolic tensors are immutable: instead of x[idx] = y use x = st.set_subtensor(x[idx], y) "
        "(or st.inc_subtensor(x[idx], y) for x[idx] += y)"
    )


@tensor_method("__iter__")
def _iter_method(self):
    # Without __iter__, Python would iterate through __getitem__ with 0, 1, 2... forever.
    if self.ndim == 0:
        raise TypeError(f"iteration over the 0-d tensor {self}")
    length = self.type.shape[0]
    if length is None:
        raise TypeError(
            f"cannot iterate over {self} of type {self.type}: its length is not known statically"
        )
    return iter([self[i] for i in range(length)])


@tensor_method("take")
def _take_method(self, indices, axis=None, mode="raise"):
    """Elements at ``indices`` along ``axis``, like ``np.take`` (see :func:`take`)."""
    return take(self, indices, axis=axis, mode=mode)
