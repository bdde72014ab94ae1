"""Linear algebra on matrices: :func:`solve`, :func:`solve_triangular`, :func:`inv`, :func:`det`,
:func:`slogdet`, :func:`cholesky`, and the triangle masks :func:`tril` / :func:`triu`.

Use as ``st.linalg.solve(a, b)``. Values are computed by SciPy (``scipy.linalg``); errors it
raises on singular or non-positive-definite matrices are ``numpy.linalg.LinAlgError``, a
``ValueError``. The linear-algebra ops take **2-d** operands only (no batch dimensions);
``tril``/``triu`` act on the last two dimensions of any tensor of rank >= 2.

Dtypes follow NumPy: float32 inputs give float32 results, everything else float64.

Gradients use the standard matrix-calculus results and are built from these same ops (plus
:func:`~symgraph.tensor.products.dot`), so they can be differentiated again:

- ``inv``: ``dA = -X^T G X^T`` with ``X = inv(A)``;
- ``det``: ``dA = g det(A) A^-T``; ``slogdet``: ``dA = g_logabsdet A^-T`` (the sign is piecewise
  constant: zero gradient);
- ``solve``: ``db = solve(A^T, G)``, ``dA = -db x^T``;
- ``cholesky``: Murray's formula ``Phi(S + S^T)`` with ``S = L^-T Phi(L^T G) L^-1``, where ``Phi``
  takes the lower triangle and halves the diagonal.

Ops that read only one triangle of a matrix (``cholesky``, ``solve`` with ``assume_a="sym"`` or
``"pos"``, ``solve_triangular``) are differentiated as functions of that triangle alone: the
gradient is zero on the other triangle, and exact even for inputs that are not symmetric.
On symmetric inputs built symbolically (``A = X @ X.T``) this gives the same gradient w.r.t.
``X`` as the usual symmetric formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.products import _grad_for, _is_disconnected, _static_mismatch, dot, einsum
from symgraph.tensor.scalar_ops import upcast
from symgraph.tensor.type import TensorType, _format_shape
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "Tri",
    "MatrixInverse",
    "Det",
    "SlogDet",
    "Solve",
    "SolveTriangular",
    "Cholesky",
    "tril",
    "triu",
    "inv",
    "det",
    "slogdet",
    "solve",
    "solve_triangular",
    "cholesky",
]


# --------------------------------------------------------------------------- helpers


def _float_dtype(*dtypes: str) -> str:
    """NumPy's linalg result dtype: float32 stays float32, anything else computes in float64."""
    return "float32" if upcast(*dtypes) == "float32" else "float64"


def _square_matrix(op: Op, a: Any) -> TensorVariable:
    """``a`` as a tensor, checked to be a 2-d matrix that may be square."""
    a = as_tensor_variable(a)
    if a.ndim != 2:
        raise TypeError(f"{op} takes a 2-d matrix, got {a} of type {a.type} (batched inputs are not supported)")
    if _static_mismatch(a.type.shape[0], a.type.shape[1]):
        raise ValueError(f"{op}: the matrix must be square, got static shape {_format_shape(a.type.shape)}")
    return a


def _check_square_value(op: Op, a: np.ndarray) -> None:
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{op}: the matrix must be square, got shape {a.shape}")


def _rhs(op: Op, a: TensorVariable, b: Any) -> TensorVariable:
    """The right-hand side ``b`` of a solve, checked against the matrix ``a``."""
    b = as_tensor_variable(b)
    if b.ndim not in (1, 2):
        raise TypeError(f"{op}: the right-hand side must be 1-d or 2-d, got {b} of type {b.type}")
    if _static_mismatch(a.type.shape[1], b.type.shape[0]):
        raise ValueError(
            f"{op}: a matrix of shape {_format_shape(a.type.shape)} cannot solve a right-hand side of "
            f"shape {_format_shape(b.type.shape)} (sizes {a.type.shape[1]} and {b.type.shape[0]} differ)"
        )
    return b


def _check_rhs_value(op: Op, a: np.ndarray, b: np.ndarray) -> None:
    _check_square_value(op, a)
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"{op}: a matrix of shape {a.shape} cannot solve a right-hand side of shape {b.shape} "
            f"(sizes {a.shape[1]} and {b.shape[0]} differ)"
        )


def _run_linalg(op: Op, node: Apply, fn, *args, **kwargs) -> np.ndarray:
    """Call a SciPy routine on ``args`` converted to the output dtype (SciPy would compute
    small integer types in float32, NumPy in float64), naming the op in a LinAlgError."""
    dtype = node.outputs[0].type.numpy_dtype
    args = [np.asarray(x, dtype=dtype) for x in args]
    try:
        out = fn(*args, **kwargs)
    except np.linalg.LinAlgError as exc:
        raise np.linalg.LinAlgError(f"{op}: {exc}") from None
    return np.asarray(out, dtype=dtype)


def _outer_or_dot(u: TensorVariable, x: TensorVariable) -> TensorVariable:
    """``u x^T`` for matching vectors (an outer product) or matrices."""
    if u.ndim == 1:
        return dot(u.dimshuffle(0, "x"), x.dimshuffle("x", 0))
    return dot(u, x.T)


def _phi(x: TensorVariable) -> TensorVariable:
    """The lower triangle of ``x`` with its diagonal halved (Murray's ``Phi``)."""
    return 0.5 * (tril(x) + tril(x, -1))


def _sym_from_triangle(m: TensorVariable, lower: bool) -> TensorVariable:
    """The symmetric matrix a routine reading only one triangle of ``m`` actually uses."""
    if lower:
        return tril(m) + tril(m, -1).T
    return triu(m) + triu(m, 1).T


def _fold_to_triangle(g: TensorVariable, lower: bool) -> TensorVariable:
    """Adjoint of :func:`_sym_from_triangle`: the gradient w.r.t. the matrix whose triangle was
    read, given the gradient ``g`` w.r.t. the symmetric matrix built from it."""
    if lower:
        return tril(g) + tril(g.T, -1)
    return triu(g) + triu(g.T, 1)


def _zero_scalar(dtype: str) -> TensorVariable:
    return constant(np.zeros((), dtype=dtype))


# --------------------------------------------------------------------------- triangles


class Tri(Op):
    """Keep the lower (``lower=True``, like ``np.tril``) or upper (``np.triu``) triangle of the
    last two dimensions, from diagonal ``k`` on; zero the rest. Linear, so its gradient and
    forward derivative are the same mask."""

    __props__ = ("lower", "k")

    def __init__(self, lower: bool, k: int = 0):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"tril/triu: k must be an int, got {k!r}")
        self.lower = bool(lower)
        self.k = int(k)

    def __str__(self) -> str:
        return f"{'Tril' if self.lower else 'Triu'}{{k={self.k}}}"

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise TypeError(f"{self} takes a tensor of rank >= 2, got {x} of type {x.type}")
        return Apply(self, [x], [x.type()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        out = np.tril(x, self.k) if self.lower else np.triu(x, self.k)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        return [tuple(input_shapes[0])]

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        return [_grad_for(self(output_grads[0]), inputs[0])]

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        (e,) = eval_points
        return [None if e is None else self(e)]


def tril(x: Any, k: int = 0) -> TensorVariable:
    """``np.tril``: the lower triangle of the last two dimensions (from diagonal ``k``), zeros above."""
    return Tri(True, k)(x)


def triu(x: Any, k: int = 0) -> TensorVariable:
    """``np.triu``: the upper triangle of the last two dimensions (from diagonal ``k``), zeros below."""
    return Tri(False, k)(x)


# --------------------------------------------------------------------------- inverse and determinants


class MatrixInverse(Op):
    """The inverse of a square matrix (``scipy.linalg.inv``)."""

    __props__ = ()

    def __str__(self) -> str:
        return "MatrixInverse"

    def make_node(self, a: Any) -> Apply:
        a = _square_matrix(self, a)
        return Apply(self, [a], [TensorType(_float_dtype(a.dtype), a.type.shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (a,) = inputs
        _check_square_value(self, a)
        output_storage[0][0] = _run_linalg(self, node, scipy.linalg.inv, a)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        (a,), (x,), (g,) = inputs, outputs, output_grads
        return [_grad_for(-dot(dot(x.T, g), x.T), a)]

    def R_op(self, inputs, eval_points):
        (a,), (e,) = inputs, eval_points
        if e is None:
            return [None]
        x = self(a)
        return [-dot(dot(x, e), x)]


class Det(Op):
    """The determinant of a square matrix (``scipy.linalg.det``), a 0-d tensor."""

    __props__ = ()

    def __str__(self) -> str:
        return "Det"

    def make_node(self, a: Any) -> Apply:
        a = _square_matrix(self, a)
        return Apply(self, [a], [TensorType(_float_dtype(a.dtype), ())()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (a,) = inputs
        _check_square_value(self, a)
        output_storage[0][0] = _run_linalg(self, node, scipy.linalg.det, a)

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        (a,), (d,), (g,) = inputs, outputs, output_grads
        return [_grad_for((g * d) * inv(a).T, a)]

    def R_op(self, inputs, eval_points):
        (a,), (e,) = inputs, eval_points
        if e is None:
            return [None]
        # d det(A) = det(A) tr(A^-1 dA)
        return [self(a) * einsum("ij,ji->", inv(a), e)]


class SlogDet(Op):
    """Sign and natural log of the absolute value of the determinant (``np.linalg.slogdet``).

    Two 0-d outputs, ``(sign, logabsdet)``; the sign has a zero gradient.
    """

    __props__ = ()

    def __str__(self) -> str:
        return "SlogDet"

    def make_node(self, a: Any) -> Apply:
        a = _square_matrix(self, a)
        dtype = _float_dtype(a.dtype)
        return Apply(self, [a], [TensorType(dtype, ())(), TensorType(dtype, ())()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (a,) = inputs
        _check_square_value(self, a)
        dtype = node.outputs[0].type.numpy_dtype
        sign, logabsdet = np.linalg.slogdet(np.asarray(a, dtype=dtype))
        output_storage[0][0] = np.asarray(sign, dtype=dtype)
        output_storage[1][0] = np.asarray(logabsdet, dtype=dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(), ()]

    def L_op(self, inputs, outputs, output_grads):
        (a,) = inputs
        _, g_log = output_grads
        if _is_disconnected(g_log):
            # Only the sign is used, and it is piecewise constant.
            return [_grad_for(None, a)]
        return [_grad_for(g_log * inv(a).T, a)]

    def R_op(self, inputs, eval_points):
        (a,), (e,) = inputs, eval_points
        if e is None:
            return [None, None]
        dtype = _float_dtype(a.dtype)
        return [_zero_scalar(dtype), einsum("ij,ji->", inv(a), e)]


# --------------------------------------------------------------------------- solves


class _SolveOp(Op):
    """Shared structure of the linear solves: ``(a, b) -> x`` with ``a`` a square matrix and
    ``x`` shaped like the right-hand side ``b``. Subclasses name the SciPy routine and its
    options in :attr:`routine`."""

    @property
    def routine(self) -> tuple:
        """``(scipy function, keyword options)`` computing ``x``."""
        raise NotImplementedError

    def make_node(self, a: Any, b: Any) -> Apply:
        a = _square_matrix(self, a)
        b = _rhs(self, a, b)
        return Apply(self, [a, b], [TensorType(_float_dtype(a.dtype, b.dtype), b.type.shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        a, b = inputs
        _check_rhs_value(self, a, b)
        routine, options = self.routine
        output_storage[0][0] = _run_linalg(self, node, routine, a, b, **options)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[1])]


class Solve(_SolveOp):
    """Solve ``a @ x = b`` for ``x`` (``scipy.linalg.solve``); ``b`` is a vector or a matrix.

    ``assume_a``: ``"gen"`` (general), ``"sym"`` (symmetric) or ``"pos"`` (symmetric positive
    definite). The last two read only the triangle of ``a`` chosen by ``lower``.
    """

    __props__ = ("assume_a", "lower")

    _KINDS = ("gen", "sym", "pos")

    def __init__(self, assume_a: str = "gen", lower: bool = False):
        if assume_a == "her":  # the same thing for real matrices
            assume_a = "sym"
        if assume_a not in self._KINDS:
            raise ValueError(f"solve: assume_a must be one of {self._KINDS}, got {assume_a!r}")
        self.assume_a = assume_a
        self.lower = bool(lower)

    def __str__(self) -> str:
        if self.assume_a == "gen":
            return "Solve"
        return f"Solve{{assume_a={self.assume_a!r}, lower={self.lower}}}"


    @property
    def routine(self) -> tuple:
        return scipy.linalg.solve, {"assume_a": self.assume_a, "lower": self.lower}


    def _matrix_used(self, a: TensorVariable) -> TensorVariable:
        return a if self.assume_a == "gen" else _sym_from_triangle(a, self.lower)

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (x,), (g,) = inputs, outputs, output_grads
        # x = M^-1 b, so b_bar = M^-T x_bar and M_bar = -b_bar x^T; M is symmetric unless "gen".
        gb = self(a.T if self.assume_a == "gen" else a, g)
        gm = -_outer_or_dot(gb, x)
        ga = gm if self.assume_a == "gen" else _fold_to_triangle(gm, self.lower)
        return [_grad_for(ga, a), _grad_for(gb, b)]

    def R_op(self, inputs, eval_points):
        a, b = inputs
        ea, eb = eval_points
        if ea is None and eb is None:
            return [None]
        # d x = M^-1 (d b - d M x)
        rhs = eb
        if ea is not None:
            dm_x = dot(self._matrix_used(ea), self(a, b))
            rhs = -dm_x if rhs is None else rhs - dm_x
        return [self(a, rhs)]


class SolveTriangular(_SolveOp):
    """Solve ``t @ x = b`` (or ``t.T @ x = b`` with ``transposed``) for triangular ``t``
    (``scipy.linalg.solve_triangular``); only the triangle chosen by ``lower`` is read."""

    __props__ = ("lower", "transposed")

    def __init__(self, lower: bool = False, transposed: bool = False):
        self.lower = bool(lower)
        self.transposed = bool(transposed)

    def __str__(self) -> str:
        return f"SolveTriangular{{lower={self.lower}, transposed={self.transposed}}}"


    @property
    def routine(self) -> tuple:
        return scipy.linalg.solve_triangular, {"trans": 1 if self.transposed else 0, "lower": self.lower}


    def _mask(self, m: TensorVariable) -> TensorVariable:
        return tril(m) if self.lower else triu(m)

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (x,), (g,) = inputs, outputs, output_grads
        # With M = op(T): b_bar = M^-T x_bar, M_bar = -b_bar x^T, and T_bar = op(M_bar) masked.
        gb = SolveTriangular(self.lower, not self.transposed)(a, g)
        gm = -_outer_or_dot(gb, x)
        ga = self._mask(gm.T if self.transposed else gm)
        return [_grad_for(ga, a), _grad_for(gb, b)]

    def R_op(self, inputs, eval_points):
        a, b = inputs
        ea, eb = eval_points
        if ea is None and eb is None:
            return [None]
        rhs = eb
        if ea is not None:
            dt = self._mask(ea)
            dm_x = dot(dt.T if self.transposed else dt, self(a, b))
            rhs = -dm_x if rhs is None else rhs - dm_x
        return [self(a, rhs)]


# --------------------------------------------------------------------------- Cholesky


class Cholesky(Op):
    """The Cholesky factor of a symmetric positive-definite matrix (``scipy.linalg.cholesky``):
    lower-triangular ``L`` with ``L @ L.T == a`` (``lower=True``) or upper ``U`` with
    ``U.T @ U == a``. Only that triangle of ``a`` is read."""

    __props__ = ("lower",)

    def __init__(self, lower: bool = True):
        self.lower = bool(lower)

    def __str__(self) -> str:
        return f"Cholesky{{lower={self.lower}}}"

    def make_node(self, a: Any) -> Apply:
        a = _square_matrix(self, a)
        return Apply(self, [a], [TensorType(_float_dtype(a.dtype), a.type.shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (a,) = inputs
        _check_square_value(self, a)
        output_storage[0][0] = _run_linalg(self, node, scipy.linalg.cholesky, a, lower=self.lower)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        (a,), (factor,), (g,) = inputs, outputs, output_grads
        # The upper factor of A is the transposed lower factor of A^T: reuse the lower formula.
        chol, g_chol = (factor, g) if self.lower else (factor.T, g.T)
        solve_lt = SolveTriangular(lower=True, transposed=True)  # X -> L^-T X
        p = _phi(dot(chol.T, g_chol))
        w = solve_lt(chol, p)  # L^-T P
        s = solve_lt(chol, w.T).T  # L^-T P L^-1
        ga = _phi(s + s.T)
        return [_grad_for(ga if self.lower else ga.T, a)]

    def R_op(self, inputs, eval_points):
        (a,), (e,) = inputs, eval_points
        if e is None:
            return [None]
        factor = self(a)
        chol, e_low = (factor, e) if self.lower else (factor.T, e.T)
        ds = _sym_from_triangle(e_low, lower=True)
        solve_l = SolveTriangular(lower=True, transposed=False)  # X -> L^-1 X
        y = solve_l(chol, solve_l(chol, ds).T)  # L^-1 dS L^-T (dS symmetric)
        dl = dot(chol, _phi(y))
        return [dl if self.lower else dl.T]


# --------------------------------------------------------------------------- user functions

_inv_op = MatrixInverse()
_det_op = Det()
_slogdet_op = SlogDet()


def inv(a: Any) -> TensorVariable:
    """The inverse of the square matrix ``a``."""
    return _inv_op(a)


def det(a: Any) -> TensorVariable:
    """The determinant of the square matrix ``a`` (a 0-d tensor)."""
    return _det_op(a)


def slogdet(a: Any) -> tuple[TensorVariable, TensorVariable]:
    """``(sign, logabsdet)`` of the determinant of ``a``, as ``np.linalg.slogdet``;
    ``sign * exp(logabsdet) == det(a)`` without overflow."""
    sign, logabsdet = _slogdet_op(a)
    return sign, logabsdet


def solve(a: Any, b: Any, assume_a: str = "gen", lower: bool = False) -> TensorVariable:
    """Solve ``a @ x = b`` for ``x``; ``b`` is a vector or a matrix of right-hand sides.

    ``assume_a="sym"`` or ``"pos"`` (symmetric, positive definite) use faster LAPACK routines
    that read only the triangle selected by ``lower`` (default upper, as SciPy).
    """
    return Solve(assume_a, lower)(a, b)


def solve_triangular(a: Any, b: Any, lower: bool = False, trans: Any = 0) -> TensorVariable:
    """Solve ``a @ x = b`` (``trans=0``/``"N"``) or ``a.T @ x = b`` (``trans=1``/``"T"``) for
    triangular ``a``, reading only its lower (``lower=True``) or upper triangle."""
    if trans in (0, "N"):
        transposed = False
    elif trans in (1, "T", 2, "C"):  # real matrices: conjugate transpose == transpose
        transposed = True
    else:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 'N' or 'T', got {trans!r}")
    return SolveTriangular(lower, transposed)(a, b)


def cholesky(a: Any, lower: bool = True) -> TensorVariable:
    """The Cholesky factor of the symmetric positive-definite ``a``: lower-triangular ``L`` with
    ``L @ L.T == a`` (default, as PyTensor; SciPy defaults to upper) or upper ``U`` with
    ``U.T @ U == a``. Raises ``LinAlgError`` (a ``ValueError``) at run time if ``a`` is not
    positive definite."""
    return Cholesky(lower)(a)
