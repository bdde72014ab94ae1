"""BLAS-backed products: :class:`Gemv`, ``beta * y + alpha * dot(A, x)`` in one BLAS call.

``Gemv(inplace)(y, alpha, A, x, beta)`` takes a vector ``y`` (length m), 0-d ``alpha`` and
``beta``, a matrix ``A`` (m x n) and a vector ``x`` (length n); the input order is PyTensor's.
It runs scipy's ``dgemv``/``sgemv`` (by dtype):

- a C-contiguous ``A`` (NumPy's default) is passed as ``A.T`` with ``trans=1``: ``A.T`` is
  Fortran-contiguous, so BLAS reads ``A``'s memory directly and nothing is copied;
- a Fortran-contiguous ``A`` is passed as is with ``trans=0``;
- any other layout (a strided slice, negative strides), an empty operand, or ``alpha == 0`` /
  ``beta == 0`` falls back to NumPy. The last two because BLAS then skips reading ``A``/``x``
  (or ``y``): ``0 * nan`` would become ``0`` instead of ``nan``, which would change values
  against the unrewritten graph.

Dtypes: ``y``, ``A`` and ``x`` must share one float dtype (float32 or float64) and integer
or mixed inputs are rejected with ``TypeError`` in ``make_node``. Gemv is a rewrite target for
float BLAS, so silent casts there would hide a dtype change the rewrite must not make.
``alpha``/``beta`` may be Python numbers or 0-d tensors of any real dtype; they are cast to
the vector dtype (a scale factor's dtype never changes the result's dtype).

``inplace=True`` overwrites ``y`` (``destroy_map = {0: [0]}``); the destroy handler then checks
at compile time that ``y`` is an intermediate no one else reads afterwards. ``inplace=False``
(the default) leaves ``y`` untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import blas as _blas

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import TensorType, _format_shape

__all__ = ["Gemv", "gemv", "gemv_no_inplace", "gemv_inplace"]

_FLOATS = ("float32", "float64")
_GEMV = {"float32": _blas.sgemv, "float64": _blas.dgemv}


def _static_mismatch(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b


def _scalar_input(v: Any, dtype: str, what: str) -> Variable:
    """``v`` as a 0-d tensor of ``dtype`` (Python numbers become constants of that dtype)."""
    from symgraph.tensor.basic import cast, constant

    if not isinstance(v, Variable):
        arr = np.asarray(v)
        if arr.ndim != 0 or arr.dtype.kind not in "biuf":
            raise TypeError(f"Gemv: {what} must be a real scalar, got {v!r}")
        return constant(np.asarray(arr, dtype=dtype))
    v = as_tensor_variable(v)
    if v.ndim != 0:
        raise TypeError(f"Gemv: {what} must be 0-d, got {v} of type {v.type}")
    if v.dtype == dtype:
        return v
    if np.dtype(v.dtype).kind not in "biuf":
        raise TypeError(f"Gemv: {what} must be real, got {v} of type {v.type}")
    return cast(v, dtype)


class Gemv(Op):
    """``beta * y + alpha * dot(A, x)`` (see the module docstring); ``inplace`` overwrites ``y``."""

    __props__ = ("inplace",)

    def __init__(self, inplace: bool = False):
        self.inplace = bool(inplace)
        # Instance attribute: only the in-place variant destroys its first input.
        self.destroy_map = {0: [0]} if self.inplace else {}

    def __str__(self) -> str:
        return "Gemv{inplace}" if self.inplace else "Gemv{no_inplace}"

    def make_node(self, y: Any, alpha: Any, A: Any, x: Any, beta: Any) -> Apply:
        y, A, x = as_tensor_variable(y), as_tensor_variable(A), as_tensor_variable(x)
        for name, v, rank in (("y", y, 1), ("A", A, 2), ("x", x, 1)):
            if v.ndim != rank:
                raise TypeError(f"Gemv: {name} must have rank {rank}, got {v} of type {v.type}")
        if y.dtype not in _FLOATS or A.dtype != y.dtype or x.dtype != y.dtype:
            raise TypeError(
                f"Gemv: y, A and x must share one float dtype (float32 or float64), got "
                f"{y.dtype}, {A.dtype} and {x.dtype}; cast them first (or use dot)"
            )
        (m, n), ym, xn = A.type.shape, y.type.shape[0], x.type.shape[0]
        if _static_mismatch(n, xn) or _static_mismatch(m, ym):
            raise ValueError(
                f"Gemv: shapes are not aligned: A {_format_shape(A.type.shape)}, x "
                f"{_format_shape(x.type.shape)}, y {_format_shape(y.type.shape)} (need A (m, n), x (n,), y (m,))"
            )
        alpha = _scalar_input(alpha, y.dtype, "alpha")
        beta = _scalar_input(beta, y.dtype, "beta")
        out = TensorType(y.dtype, (ym if ym is not None else m,))()
        return Apply(self, [y, alpha, A, x, beta], [out])

    def do_constant_folding(self, fgraph, node: Apply) -> bool:
        # Folding the in-place variant would overwrite a constant's data.
        return not self.inplace

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        y, alpha, A, x, beta = inputs
        (m, n) = A.shape
        if x.shape[0] != n or y.shape[0] != m:
            raise ValueError(
                f"Gemv: shapes are not aligned: A {A.shape}, x {x.shape}, y {y.shape} "
                "(need A (m, n), x (n,), y (m,))"
            )
        dtype = node.outputs[0].type.numpy_dtype
        a, b = alpha.item(), beta.item()
        fn = _GEMV[node.outputs[0].type.dtype]
        blas_ok = m > 0 and n > 0 and a != 0 and b != 0 and y.dtype == dtype
        if blas_ok and A.flags.c_contiguous:
            # A.T of a C-contiguous A is Fortran-contiguous: BLAS reads it without a copy.
            out = fn(a, A.T, x, b, y, trans=1, overwrite_y=int(self.inplace))
        elif blas_ok and A.flags.f_contiguous:
            out = fn(a, A, x, b, y, trans=0, overwrite_y=int(self.inplace))
        else:
            # NumPy keeps 0 * nan = nan and handles any strides and empty operands.
            prod = np.dot(A, x)
            if self.inplace and y.flags.writeable:
                y *= beta
                y += alpha * prod
                out = y
            else:
                out = beta * y + alpha * prod
        # f2py returns y itself when it could overwrite it; otherwise a fresh array.
        output_storage[0][0] = np.asarray(out, dtype=dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        return [(input_shapes[0][0],)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        # out_i = beta y_i + alpha sum_j A_ij x_j, so with g = d cost / d out:
        #   dy = beta g, dalpha = g . (A x), dA = alpha g x^T, dx = alpha A^T g, dbeta = g . y
        from symgraph.tensor.products import _grad_for, dot, outer

        y, alpha, A, x, beta = inputs
        (g,) = output_grads
        grads = [
            beta * g,
            dot(g, dot(A, x)),
            alpha * outer(g, x),
            alpha * dot(A.T, g),
            dot(g, y),
        ]
        return [_grad_for(gr, v) for gr, v in zip(grads, inputs)]

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        # Product rule on each term: d(beta y) + d(alpha A x).
        from symgraph.tensor.products import _add_terms, dot

        y, alpha, A, x, beta = inputs
        ey, ealpha, eA, ex, ebeta = eval_points
        terms = [
            None if ebeta is None else ebeta * y,
            None if ey is None else beta * ey,
            None if ealpha is None else ealpha * dot(A, x),
            None if eA is None else alpha * dot(eA, x),
            None if ex is None else alpha * dot(A, ex),
        ]
        return [_add_terms(terms)]


gemv_no_inplace = Gemv(inplace=False)
gemv_inplace = Gemv(inplace=True)


def gemv(y: Any, alpha: Any, A: Any, x: Any, beta: Any) -> Variable:
    """``beta * y + alpha * dot(A, x)`` as one :class:`Gemv` node (``y`` is not overwritten)."""
    return gemv_no_inplace(y, alpha, A, x, beta)
