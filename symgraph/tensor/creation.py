"""Creating tensors: :func:`alloc`, :func:`zeros`, :func:`ones`, :func:`full` and their
``*_like`` forms, :func:`arange` and :func:`eye`; and the broadcasting ops that share
``Alloc``'s structure, :class:`BroadcastTo` and its transpose :class:`SumToShape` (used
through :func:`symgraph.tensor.shape.broadcast_to` and ``sum_to_shape``).

Dtype defaults follow NumPy, with ``config.floatX`` standing in for float64 where NumPy
would pick it for Python floats: ``zeros((2,))`` and ``full(3, 1.5)`` are floatX,
``full(3, 7)`` is int64, ``zeros_like(x)`` has ``x``'s dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.null_type import disconnected_type, grad_undefined
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, Elemwise, is_weak_scalar
from symgraph.tensor.shape_inference import (
    _as_shape_entries,
    _int_scalar,
    _shape_entries,
    _static_int,
    shape_i,
    shape_tuple,
)
from symgraph.tensor.type import TensorType, _format_shape, normalize_dtype
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Alloc",
    "BroadcastTo",
    "SumToShape",
    "ARange",
    "Eye",
    "alloc",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "eye",
    "identity",
]


# --------------------------------------------------------------------------- broadcasting


class _BroadcastLike(Op):
    """Shared structure of :class:`BroadcastTo` (a read-only view) and ``Alloc`` (a new
    array): ``op(value, *shape)`` broadcasts ``value`` to ``shape`` like NumPy.

    The output's static shape combines the constant entries of ``shape`` with the
    value's static shape. Gradients sum back over the broadcast dimensions, decided at
    run time (:class:`SumToShape`), so values whose size-1 dimensions are not static
    still get correct gradients.
    """

    __props__ = ()
    _name = "broadcast_to"

    def make_node(self, value: Any, *shape_: Any) -> Apply:
        value = as_tensor_variable(value)
        dims = [_int_scalar(s, self._name) for s in shape_]
        if value.ndim > len(dims):
            raise ValueError(
                f"{self._name}: {value} of type {value.type} has more dimensions than the target shape "
                f"({len(dims)} entries)"
            )
        static = [_static_int(s) for s in dims]
        for d, s in enumerate(static):
            if s is not None and s < 0:
                raise ValueError(f"{self._name}: negative size {s} in the target shape")
        lead = len(dims) - value.ndim
        out: list[int | None] = list(static)
        for d, vs in enumerate(value.type.shape):
            target = static[lead + d]
            if vs is None or vs == 1:
                continue
            if target is None:
                out[lead + d] = vs
            elif target != vs:
                raise ValueError(
                    f"{self._name}: cannot broadcast {value} of shape {_format_shape(value.type.shape)} to shape "
                    f"{_format_shape(tuple(static))}"
                )
        return Apply(self, [value, *dims], [TensorType(value.dtype, out)()])

    def _target(self, value: np.ndarray, dims: Sequence) -> tuple[int, ...]:
        target = tuple(int(d) for d in dims)
        lead = len(target) - value.ndim
        bad = lead < 0 or any(s < 0 for s in target) or any(
            vs not in (1, ts) for vs, ts in zip(value.shape, target[lead:])
        )
        if bad:
            raise ValueError(f"{self._name}: cannot broadcast an array of shape {value.shape} to shape {target}")
        return target

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def connection_pattern(self, node):
        # The sizes only say where values go: growing them does not change any value.
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        value = inputs[0]
        (g,) = output_grads
        return [_sum_to_shape(g, shape_tuple(value))] + [disconnected_type() for _ in inputs[1:]]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


class BroadcastTo(_BroadcastLike):
    """``np.broadcast_to``: a read-only view of the value broadcast to a shape."""

    view_map = {0: [0]}

    def perform(self, node, inputs, output_storage):
        value, *dims = inputs
        output_storage[0][0] = np.broadcast_to(value, self._target(value, dims))


def _broadcast_to(x: Any, shape: Any) -> TensorVariable:
    """:func:`symgraph.tensor.shape.broadcast_to`: ``x`` broadcast to ``shape``, a read-only view.

    Like NumPy, dimensions of size 1 (and missing leading ones) are repeated; any other
    mismatch raises ``ValueError``. The gradient sums back over the repeated dimensions.
    """
    x = as_tensor_variable(x)
    dims = _as_shape_entries(shape, "broadcast_to")
    if len(dims) == x.ndim and all(_static_int(d) == s for d, s in zip(dims, x.type.shape)):
        return x
    return BroadcastTo()(x, *dims)


class SumToShape(Op):
    """Sum an array down to ``shape``, undoing a broadcast: leading extra dimensions are
    summed away and dimensions where ``shape`` is 1 are summed with ``keepdims``.

    Inputs: the array, then one integer scalar per target dimension. The transpose of
    :class:`BroadcastTo`, and the gradient of broadcasting ops.
    """

    __props__ = ()

    def make_node(self, g: Any, *shape_: Any) -> Apply:
        g = as_tensor_variable(g)
        dims = [_int_scalar(s, "sum_to_shape") for s in shape_]
        if len(dims) > g.ndim:
            raise ValueError(f"sum_to_shape: target shape has {len(dims)} entries but {g} has only {g.ndim} dimensions")
        lead = g.ndim - len(dims)
        out = []
        for d, s in enumerate(dims):
            static = _static_int(s)
            gs = g.type.shape[lead + d]
            if static is not None and gs is not None and static not in (1, gs):
                raise ValueError(
                    f"sum_to_shape: cannot sum {g} of shape {_format_shape(g.type.shape)} to size {static} "
                    f"in dimension {lead + d}"
                )
            out.append(static)
        return Apply(self, [g, *dims], [TensorType(g.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        g, *dims = inputs
        target = tuple(int(d) for d in dims)
        lead = g.ndim - len(target)
        if lead < 0 or any(ts not in (1, gs) for ts, gs in zip(target, g.shape[lead:])):
            raise ValueError(f"sum_to_shape: cannot sum an array of shape {g.shape} to shape {target}")
        axes = tuple(range(lead)) + tuple(
            lead + d for d, (ts, gs) in enumerate(zip(target, g.shape[lead:])) if ts == 1 and gs != 1
        )
        out = np.sum(g, axis=axes, keepdims=True) if axes else g
        output_storage[0][0] = np.asarray(out, dtype=g.dtype).reshape(target)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        g = inputs[0]
        (gg,) = output_grads
        return [_broadcast_to(gg, shape_tuple(g))] + [disconnected_type() for _ in inputs[1:]]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]


def _sum_to_shape(g: Any, shape: Any) -> TensorVariable:
    """:func:`symgraph.tensor.shape.sum_to_shape`: ``g`` summed down to ``shape``."""
    g = as_tensor_variable(g)
    dims = _as_shape_entries(shape, "sum_to_shape")
    if len(dims) == g.ndim and all(
        (s := _static_int(d)) is not None and s == gs for d, gs in zip(dims, g.type.shape)
    ):
        return g
    return SumToShape()(g, *dims)


# --------------------------------------------------------------------------- Alloc


class Alloc(_BroadcastLike):
    """``alloc(value, *shape)``: a new array of ``shape`` filled by broadcasting ``value``.

    Unlike :class:`~symgraph.tensor.shape.BroadcastTo` the result is a fresh, writable
    array that aliases nothing.
    """

    _name = "alloc"

    def perform(self, node, inputs, output_storage):
        value, *dims = inputs
        target = self._target(value, dims)
        dtype = node.outputs[0].type.numpy_dtype
        if value.size == 1 and not value.any():
            out = np.zeros(target, dtype=dtype)  # calloc: cheaper than filling
        else:
            out = np.empty(target, dtype=dtype)
            out[...] = value
        output_storage[0][0] = out

    def do_constant_folding(self, fgraph, node) -> bool:
        """Whether to replace this alloc by its value when its inputs are constant.

        As in PyTensor, not when the result is a graph output (a folded constant would have
        to be copied on every call), nor when it feeds an op it can be lifted through
        (elementwise ops, DimShuffle, Alloc, Join), nor when it is the buffer an
        increment/set-subtensor or an in-place op writes into (the op would copy the
        constant first, and the folded array would stay alive).
        """
        if fgraph is None:
            return True
        clients = fgraph.clients.get(node.outputs[0], [])
        if not clients:
            return False
        from symgraph.tensor.join import Join

        inc_classes = _inc_subtensor_classes()
        for client, idx in clients:
            if client == "output":
                return False
            op = client.op
            if isinstance(op, (Elemwise, DimShuffle, Alloc, Join)):
                return False
            if idx == 0 and (isinstance(op, inc_classes) or 0 in sum(dict(op.destroy_map).values(), [])):
                return False
        return True


def _inc_subtensor_classes() -> tuple[type, ...]:
    """The indexing ops that write into their first input (set/inc subtensor)."""
    try:
        from symgraph.tensor import subtensor
    except ImportError:  # pragma: no cover
        return ()
    return tuple(
        cls
        for name in ("IncSubtensor", "AdvancedIncSubtensor", "AdvancedIncSubtensor1")
        if isinstance(cls := getattr(subtensor, name, None), type)
    )


def alloc(value: Any, *shape: Any) -> TensorVariable:
    """A new array of shape ``shape`` (one int or integer scalar per dimension) filled with
    ``value`` broadcast like NumPy. ``alloc(0.0, n, m)`` is an ``(n, m)`` array of zeros."""
    if len(shape) == 1 and not _is_scalar_like(shape[0]):
        shape = tuple(_as_shape_entries(shape[0], "alloc"))
    return Alloc()(value, *shape)


def _is_scalar_like(x: Any) -> bool:
    if isinstance(x, Variable):
        return getattr(x.type, "ndim", None) == 0
    return np.ndim(x) == 0


# --------------------------------------------------------------------------- full and friends


def _fill_value(value: Any, dtype: Any) -> TensorVariable:
    """``value`` as a tensor of ``dtype`` (``None``: the default). Values are cast like
    NumPy's ``full`` does (``full(2, 2.5, dtype=int)`` is ``[2, 2]``); variables need
    ``cast``."""
    if dtype is None:
        return as_tensor_variable(value)
    dtype = normalize_dtype(dtype)
    if isinstance(value, Variable):
        v = as_tensor_variable(value)
        if v.dtype == dtype:
            return v
        from symgraph.tensor.basic import cast

        return cast(v, dtype)
    with np.errstate(all="ignore"):
        arr = np.asarray(value).astype(dtype)
    return constant(arr)


def full(shape: Any, fill_value: Any, dtype: Any = None) -> TensorVariable:
    """A new array of ``shape`` filled with ``fill_value`` (NumPy's ``full``).

    ``shape`` is an int, a sequence of ints/integer scalars, or an integer vector; the
    dtype defaults to ``fill_value``'s (floatX for Python floats).
    """
    entries = _as_shape_entries(shape, "full")
    return Alloc()(_fill_value(fill_value, dtype), *entries)


def zeros(shape: Any, dtype: Any = None) -> TensorVariable:
    """A new array of zeros of ``shape``; ``dtype`` defaults to ``config.floatX``."""
    return full(shape, 0, config.floatX if dtype is None else dtype)


def ones(shape: Any, dtype: Any = None) -> TensorVariable:
    """A new array of ones of ``shape``; ``dtype`` defaults to ``config.floatX``."""
    return full(shape, 1, config.floatX if dtype is None else dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None) -> TensorVariable:
    """An array with ``x``'s shape filled with ``fill_value``, of ``x``'s dtype by default
    (``fill_value`` is cast to it, as in NumPy)."""
    x = as_tensor_variable(x)
    return Alloc()(_fill_value(fill_value, x.dtype if dtype is None else dtype), *_shape_entries(x))


def zeros_like(x: Any, dtype: Any = None) -> TensorVariable:
    """Zeros with ``x``'s shape and (by default) dtype."""
    return full_like(x, 0, dtype)


def ones_like(x: Any, dtype: Any = None) -> TensorVariable:
    """Ones with ``x``'s shape and (by default) dtype."""
    return full_like(x, 1, dtype)


# --------------------------------------------------------------------------- ARange


class ARange(Op):
    """``np.arange(start, stop, step)`` of ``dtype`` from three scalar inputs.

    The length is ``max(0, ceil((stop - start) / step))``; a zero step raises
    ``ValueError``. Gradients (float dtypes): ``start`` shifts every element and ``step``
    scales the element index; ``stop`` only changes the length, so it is disconnected.
    Integer outputs give zero gradients, as in PyTensor.
    """

    __props__ = ("dtype",)

    def __init__(self, dtype: Any):
        self.dtype = normalize_dtype(dtype)

    def __str__(self):
        return f"ARange{{{self.dtype}}}"

    def make_node(self, start: Any, stop: Any, step: Any) -> Apply:
        inputs = []
        for name, v in (("start", start), ("stop", stop), ("step", step)):
            v = as_tensor_variable(v)
            if v.ndim != 0:
                raise TypeError(f"arange: {name} must be a scalar, got {v} of type {v.type}")
            if v.dtype == "bool":
                raise TypeError(f"arange: {name} must be a number, got the boolean {v}")
            inputs.append(v)
        values = [_static_number(v) for v in inputs]
        length = None if None in values else _arange_length(*values)
        return Apply(self, inputs, [TensorType(self.dtype, (length,))()])

    def perform(self, node, inputs, output_storage):
        start, stop, step = (v.item() for v in inputs)
        if step == 0:
            raise ValueError("arange: step must not be zero")
        output_storage[0][0] = np.arange(start, stop, step, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor.basic import cast, ceil, maximum

        start, stop, step = node.inputs
        if all(v.dtype[0] in "iu" for v in node.inputs):
            start, stop, step = (cast(v, "int64") if v.dtype != "int64" else v for v in (start, stop, step))
            from symgraph.tensor.basic import floor_divide, sign

            n = floor_divide(stop - start + step - sign(step), step)
        else:
            # NumPy computes the length in double precision whatever the inputs' dtype.
            start, stop, step = (cast(v, "float64") if v.dtype != "float64" else v for v in (start, stop, step))
            n = cast(ceil((stop - start) / step), "int64")
        return [(maximum(n, 0),)]

    def connection_pattern(self, node):
        return [[True], [False], [True]]

    def L_op(self, inputs, outputs, output_grads):
        start, _, step = inputs
        (gz,) = output_grads
        if self.dtype[0] not in "f":
            # Integer outputs: their values cannot move continuously with start or step.
            return [zeros_like(start, config.floatX), disconnected_type(), zeros_like(step, config.floatX)]
        from symgraph.tensor.reduction import sum as _sum

        index = arange(shape_i(outputs[0], 0), dtype=self.dtype)
        g_start, g_step = _sum(gz), _sum(gz * index)
        return [_to_dtype(g_start, start.dtype), disconnected_type(), _to_dtype(g_step, step.dtype)]

    def R_op(self, inputs, eval_points):
        e_start, _, e_step = eval_points
        if e_start is None and e_step is None:
            return [None]
        out = self(*inputs)
        result = zeros_like(out)
        if e_start is not None:
            result = result + e_start
        if e_step is not None:
            result = result + arange(shape_i(out, 0), dtype=self.dtype) * e_step
        return [_to_dtype(result, self.dtype)]


def _arange_length(start: Any, stop: Any, step: Any) -> int:
    """The length of ``np.arange(start, stop, step)``, computed as NumPy does (exactly for
    integers, in double precision otherwise) without building the array."""
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if all(isinstance(v, int) for v in (start, stop, step)):
        return max(0, -((start - stop) // step))
    return max(0, math.ceil((stop - start) / step))


def _to_dtype(v: TensorVariable, dtype: str) -> TensorVariable:
    if v.dtype == dtype:
        return v
    from symgraph.tensor.basic import cast

    return cast(v, dtype)


def _static_number(v: TensorVariable) -> Any:
    """The Python value of a scalar known at build time, else ``None``."""
    if isinstance(v, Constant):
        return np.asarray(v.data).item()
    if v.dtype[0] in "iu":
        return _static_int(v)
    return None


def _arange_dtype(values: list) -> str:
    """NumPy's ``arange`` dtype for these arguments, with variables keeping their dtype
    (PyTensor's rule: ``arange(n)`` of an int32 ``n`` is int32) and Python floats floatX."""
    strong = [v.dtype for v in values if isinstance(v, Variable)]
    weak = [v for v in values if is_weak_scalar(v) and not isinstance(v, bool)]
    if strong:
        dtype = np.result_type(*strong, *weak).name
    elif any(isinstance(v, float) for v in weak):
        dtype = config.floatX
    else:
        dtype = np.result_type(*[np.asarray(v) for v in values]).name
    return "int64" if dtype == "bool" else dtype


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> TensorVariable:
    """Evenly spaced values in ``[start, stop)``, like ``np.arange`` (``arange(n)`` is
    ``0..n-1``). Arguments are numbers or scalar variables; ``dtype`` defaults to their
    promoted dtype (see the module docstring)."""
    if stop is None:
        start, stop = 0, start
    values = [v if is_weak_scalar(v) else as_tensor_variable(v) for v in (start, stop, step)]
    dtype = _arange_dtype(values) if dtype is None else normalize_dtype(dtype)
    if dtype == "bool":
        raise TypeError("arange: dtype bool is not supported")
    inputs = []
    for v in values:
        if is_weak_scalar(v):
            # Python numbers take a dtype able to hold them exactly.
            v = constant(v, dtype="int64" if isinstance(v, int) else "float64")
        inputs.append(v)
    return ARange(dtype)(*inputs)


# --------------------------------------------------------------------------- Eye


class Eye(Op):
    """``np.eye(n, m, k)``: an ``(n, m)`` array of ``dtype`` with ones on diagonal ``k``."""

    __props__ = ("dtype",)

    def __init__(self, dtype: Any = None):
        self.dtype = normalize_dtype(config.floatX if dtype is None else dtype)

    def __str__(self):
        return f"Eye{{{self.dtype}}}"

    def make_node(self, n: Any, m: Any, k: Any) -> Apply:
        n, m, k = (_int_scalar(v, "eye") for v in (n, m, k))
        static = []
        for v in (n, m):
            s = _static_int(v)
            if s is not None and s < 0:
                raise ValueError(f"eye: negative dimension {s}")
            static.append(s)
        return Apply(self, [n, m, k], [TensorType(self.dtype, static)()])

    def perform(self, node, inputs, output_storage):
        n, m, k = (int(v) for v in inputs)
        if n < 0 or m < 0:
            raise ValueError(f"eye: negative dimension in ({n}, {m})")
        output_storage[0][0] = np.eye(n, m, k, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[0], node.inputs[1])]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_undefined(self, i, inp, "the sizes and diagonal offset are integers") for i, inp in enumerate(inputs)]

    def R_op(self, inputs, eval_points):
        return [None]


def eye(n: Any, m: Any = None, k: Any = 0, dtype: Any = None) -> TensorVariable:
    """An ``(n, m)`` array with ones on diagonal ``k`` and zeros elsewhere (``m`` defaults
    to ``n``; ``dtype`` to ``config.floatX``)."""
    return Eye(dtype)(n, n if m is None else m, k)


def identity(n: Any, dtype: Any = None) -> TensorVariable:
    """The ``(n, n)`` identity matrix (``eye(n)``)."""
    return eye(n, dtype=dtype)
