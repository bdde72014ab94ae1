"""Softmax, log-softmax and cumulative sums/products along an axis: :func:`softmax`,
:func:`log_softmax` (ops :class:`Softmax`, :class:`LogSoftmax`), :func:`cumsum` and
:func:`cumprod` (op :class:`CumOp`), and the ``x.cumsum()``/``x.cumprod()`` methods.

They take their axis and dtype rules from :mod:`symgraph.tensor.reduction`, which they
build on; that module re-exports these names, so
``from symgraph.tensor.reduction import Softmax`` keeps working.

Derivative conventions (checked by the tests):

- ``cumprod``: ``cumsum_reversed(g * out) / x``, exact where ``x`` has no zeros (PyTensor
  uses the same formula).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, mul
from symgraph.tensor.reduction import (
    _accumulate_dtype,
    _cast,
    _discrete_input_grad,
    _is_discrete,
    _register_methods,
    _single_axis,
    sum,
)
from symgraph.tensor.scalar_ops import upgrade_to_float
from symgraph.tensor.shape import reshape
from symgraph.tensor.shape import shape as shape_of
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Softmax",
    "LogSoftmax",
    "CumOp",
    "softmax",
    "log_softmax",
    "cumsum",
    "cumprod",
]


# --------------------------------------------------------------------------- softmax


class _SoftmaxBase(Op):
    """Shared structure of :class:`Softmax` and :class:`LogSoftmax`."""

    __props__ = ("axis",)

    def __init__(self, axis: int | None):
        if axis is not None and (
            isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or axis < 0
        ):
            raise ValueError(f"{type(self).__name__}: axis must be None or a non-negative int, got {axis!r}")
        self.axis = None if axis is None else int(axis)

    def __str__(self) -> str:
        return f"{type(self).__name__}{{axis={self.axis}}}"

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.axis is not None and self.axis >= x.ndim:
            raise ValueError(f"{self}: axis {self.axis} is out of range for {x} of type {x.type}")
        x = _cast(x, upgrade_to_float(x.dtype))
        return Apply(self, [x], [x.type()])

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        return [tuple(input_shapes[0])]

    def _sum_keep(self, v: TensorVariable) -> TensorVariable:
        return sum(v, axis=self.axis, keepdims=True)

    def _shifted(self, x: np.ndarray, finite_max: bool) -> np.ndarray:
        """``x`` minus its maximum over the axis (the stabilising shift)."""
        m = np.max(x, axis=self.axis, keepdims=True)
        if finite_max:
            m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
        return x - m


class Softmax(_SoftmaxBase):
    """``exp(x) / sum(exp(x))`` along ``axis`` (None: over all elements), computed stably.

    Gradient: ``sm * (g - sum(g * sm))``; R_op: ``sm * (v - sum(sm * v))``.
    """

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        if x.size == 0:
            output_storage[0][0] = np.empty_like(x)
            return
        e = np.exp(self._shifted(x, finite_max=False))
        output_storage[0][0] = np.asarray(e / np.sum(e, axis=self.axis, keepdims=True), dtype=x.dtype)

    def L_op(self, inputs, outputs, output_grads):
        (sm,), (g,) = outputs, output_grads
        return [sm * (g - self._sum_keep(g * sm))]

    def R_op(self, inputs, eval_points):
        (x,), (ev,) = inputs, eval_points
        if ev is None:
            return [None]
        sm = self(x)
        return [sm * (ev - self._sum_keep(sm * ev))]


class LogSoftmax(_SoftmaxBase):
    """``x - logsumexp(x)`` along ``axis`` (None: over all elements), computed stably.

    Gradient: ``g - softmax(x) * sum(g)``; R_op: ``v - sum(softmax(x) * v)``.
    """

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        if x.size == 0:
            output_storage[0][0] = np.empty_like(x)
            return
        shifted = self._shifted(x, finite_max=True)
        with np.errstate(divide="ignore"):
            res = shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        output_storage[0][0] = np.asarray(res, dtype=x.dtype)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        return [g - Softmax(self.axis)(x) * self._sum_keep(g)]

    def R_op(self, inputs, eval_points):
        (x,), (ev,) = inputs, eval_points
        if ev is None:
            return [None]
        return [ev - self._sum_keep(Softmax(self.axis)(x) * ev)]


def softmax(x: Any, axis: Any = -1) -> TensorVariable:
    """Softmax of ``x`` along ``axis`` (default the last; None: over all elements), as
    ``scipy.special.softmax``. Integer inputs are converted to floats first."""
    x = as_tensor_variable(x)
    return Softmax(_single_axis(x, axis, "softmax"))(x)


def log_softmax(x: Any, axis: Any = -1) -> TensorVariable:
    """Log of the softmax of ``x`` along ``axis`` (None: over all elements), computed
    stably as ``x - logsumexp(x)`` (``scipy.special.log_softmax``)."""
    x = as_tensor_variable(x)
    return LogSoftmax(_single_axis(x, axis, "log_softmax"))(x)


# --------------------------------------------------------------------------- cumulative ops

_CUM_IMPLS = {"add": np.cumsum, "mul": np.cumprod}


class CumOp(Op):
    """Cumulative sum (``mode="add"``) or product (``"mul"``) along ``axis``.

    ``axis=None`` works on the flattened input (the output is a vector), as NumPy.
    ``reverse=True`` accumulates from the end (the gradient of the forward op). The dtype
    follows NumPy's ``cumsum``: integers and booleans give int64.

    The cumprod gradient, ``reverse_cumsum(g * out) / x``, is exact where ``x`` has no zeros.
    """

    __props__ = ("mode", "axis", "reverse")

    def __init__(self, mode: str, axis: int | None = None, reverse: bool = False):
        if mode not in _CUM_IMPLS:
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        if axis is not None and (
            isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or axis < 0
        ):
            raise ValueError(f"CumOp: axis must be None or a non-negative int, got {axis!r}")
        self.mode = mode
        self.axis = None if axis is None else int(axis)
        self.reverse = bool(reverse)

    def __str__(self) -> str:
        name = "CumSum" if self.mode == "add" else "CumProd"
        return f"{name}{{axis={self.axis}{', reverse' if self.reverse else ''}}}"

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        dtype = _accumulate_dtype(x.dtype)
        if self.axis is None:
            sizes = x.type.shape
            shape: tuple = (int(np.prod(sizes, dtype=np.int64)) if None not in sizes else None,)
        else:
            if self.axis >= x.ndim:
                raise ValueError(f"{self}: axis {self.axis} is out of range for {x} of type {x.type}")
            shape = x.type.shape
        return Apply(self, [x], [TensorType(dtype, shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        dtype = node.outputs[0].type.dtype
        a, axis = (x.reshape(-1), 0) if self.axis is None else (x, self.axis)
        fn = _CUM_IMPLS[self.mode]
        if self.reverse:
            res = np.flip(fn(np.flip(a, axis), axis=axis, dtype=dtype), axis)
        else:
            res = fn(a, axis=axis, dtype=dtype)
        output_storage[0][0] = np.asarray(res, dtype=dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        (shape,) = input_shapes
        if self.axis is not None:
            return [tuple(shape)]
        if not shape:
            return [(1,)]
        return [(mul(*shape) if len(shape) > 1 else shape[0],)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (g,) = inputs, outputs, output_grads
        if _is_discrete(x.dtype):
            return [_discrete_input_grad(x)]
        back = CumOp("add", 0 if self.axis is None else self.axis, not self.reverse)
        weighted = g if self.mode == "add" else g * out
        gx = back(weighted)
        if self.axis is None:
            gx = reshape(gx, shape_of(x))
        if self.mode == "mul":
            gx = gx / x
        return [_cast(gx, x.dtype)]

    def R_op(self, inputs, eval_points):
        (x,), (ev,) = inputs, eval_points
        if ev is None:
            return [None]
        if self.mode == "add":
            return [self(ev)]
        # d cumprod = cumprod * cumsum(dx / x), exact where x has no zeros.
        return [self(x) * CumOp("add", self.axis, self.reverse)(ev / x)]


def cumsum(x: Any, axis: Any = None) -> TensorVariable:
    """Cumulative sum along ``axis`` (None: over the flattened input), as ``np.cumsum``."""
    x = as_tensor_variable(x)
    return CumOp("add", _single_axis(x, axis, "cumsum"))(x)


def cumprod(x: Any, axis: Any = None) -> TensorVariable:
    """Cumulative product along ``axis`` (None: over the flattened input), as ``np.cumprod``.

    Its gradient is exact where ``x`` has no zeros (it divides by ``x``, as PyTensor's).
    """
    x = as_tensor_variable(x)
    return CumOp("mul", _single_axis(x, axis, "cumprod"))(x)


# --------------------------------------------------------------------------- methods

_register_methods({"cumsum": cumsum, "cumprod": cumprod}, __name__)
