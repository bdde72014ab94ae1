"""Automatic differentiation: :func:`grad`, :func:`Lop`, :func:`Rop`, :func:`jacobian`,
:func:`hessian`, :func:`hessian_vector_product` and :func:`verify_grad`.

Reverse mode walks the graph from the cost back to ``wrt`` calling each op's ``L_op``;
forward mode walks it the other way calling each op's ``R_op``, and where an op has no
``R_op`` it uses the transpose of the op's ``L_op`` (the "double pullback": the pullback
``u -> J^T u`` is linear in ``u``, so differentiating ``<J^T u, v>`` w.r.t. ``u`` gives
``J v``). Either way every differentiable op supports both modes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Variable, io_toposort
from symgraph.graph.null_type import (
    DisconnectedType,
    NullType,
    disconnected_type,
    grad_not_implemented,
    grad_undefined,
)
from symgraph.graph.replace import clone_replace
from symgraph.graph.utils import MethodNotDefined

__all__ = [
    "grad",
    "Lop",
    "Rop",
    "jacobian",
    "hessian",
    "hessian_vector_product",
    "verify_grad",
    "GradientError",
    "DisconnectedInputError",
    "NullTypeGradError",
    "DisconnectedType",
    "NullType",
    "disconnected_type",
    "grad_undefined",
    "grad_not_implemented",
]

_FLOAT_DTYPES = ("float32", "float64")


class DisconnectedInputError(ValueError):
    """A gradient was requested w.r.t. a variable the cost does not depend on."""


class NullTypeGradError(TypeError):
    """A requested gradient is undefined or not implemented (the message says which op and why)."""


class GradientError(AssertionError):
    """:func:`verify_grad` found the symbolic gradient far from the finite-difference one."""

    def __init__(self, arg: int, abs_err: float, rel_err: float, abs_tol: float, rel_tol: float, detail: str = ""):
        self.arg, self.abs_err, self.rel_err = arg, abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol
        super().__init__(
            f"gradient mismatch for input {arg}: largest absolute error {abs_err:.3g} "
            f"(tolerance {abs_tol:.3g}), largest relative error {rel_err:.3g} (tolerance {rel_tol:.3g})"
            + (f"\n{detail}" if detail else "")
        )


def _st():
    # The tensor library sits below this module; imported lazily only to keep this
    # module importable on its own for the null/disconnected helpers.
    import symgraph.tensor as st

    return st


def _is_float(var: Variable) -> bool:
    return getattr(var.type, "dtype", None) in _FLOAT_DTYPES


def _is_disconnected(var: Any) -> bool:
    return isinstance(getattr(var, "type", None), DisconnectedType)


def _is_null(var: Any) -> bool:
    return isinstance(getattr(var, "type", None), NullType)


def _zeros_like(var: Variable) -> Variable:
    st = _st()
    dtype = var.type.dtype if _is_float(var) else config.floatX
    return st.zeros_like(var, dtype=dtype)


def _as_list(x) -> tuple[list, bool]:
    if isinstance(x, (list, tuple)):
        return list(x), True
    return [x], False


def _match_dtype(g: Variable, like: Variable) -> Variable:
    """Cast a gradient term to ``like``'s float dtype (a float32 input gets a float32 gradient)."""
    if _is_float(like) and getattr(g.type, "dtype", None) != like.type.dtype:
        return _st().cast(g, like.type.dtype)
    return g


# --------------------------------------------------------------------------- reverse mode


def _backprop(
    seeds: Mapping[Variable, Variable],
    wrt: Sequence[Variable],
    consider_constant: Sequence[Variable] = (),
) -> dict[Variable, Variable]:
    """Accumulate gradients from ``seeds`` (variable -> its gradient) back to ``wrt``.

    Returns a map from every variable on a path between ``wrt`` and the seeds to its
    total gradient (possibly a NullType variable). Variables not in the map are
    disconnected from the seeds.
    """
    blocked = set(consider_constant)
    wrt_set = set(wrt)
    # Walk the whole graph below the seeds: a wrt variable may itself depend on another
    # (grad(cost, [x, 2*x])), and x's gradient must include the path through 2*x. The
    # ``depends`` set below keeps the work to nodes that lead back to some wrt.
    order = io_toposort([], list(seeds))
    # Variables that depend on some wrt: only nodes touching them need differentiating.
    # A consider_constant variable is a constant to everything below it: it does not carry
    # the dependency on wrt further down (unless it is itself in wrt), and no gradient goes
    # through its owner to the variables above it.
    depends: set[Variable] = set(wrt_set)
    for node in order:
        if any(i in depends for i in node.inputs):
            depends.update(o for o in node.outputs if o not in blocked or o in wrt_set)
    terms: dict[Variable, list[Variable]] = {}
    for var, g in seeds.items():
        terms.setdefault(var, []).append(g)
    totals: dict[Variable, Variable] = {}

    def total(var: Variable) -> Variable | None:
        if var in totals:
            return totals[var]
        parts = [t for t in terms.get(var, ()) if not _is_disconnected(t)]
        if not parts:
            return None
        nulls = [t for t in parts if _is_null(t)]
        if nulls:
            result = nulls[0]
        else:
            result = parts[0]
            for t in parts[1:]:
                result = result + t
        totals[var] = result
        return result

    for node in reversed(order):
        if not any(o in depends for o in node.outputs):
            continue
        out_grads = [None if o in blocked else total(o) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        null = next((g for g in out_grads if g is not None and _is_null(g)), None)
        connected = [i in depends for i in node.inputs]
        if null is not None:
            for inp, conn in zip(node.inputs, connected):
                if conn:
                    terms.setdefault(inp, []).append(null)
            continue
        filled = []
        for o, g in zip(node.outputs, out_grads):
            if g is not None:
                filled.append(g)
            elif hasattr(o.type, "dtype"):
                filled.append(_zeros_like(o))
            else:
                filled.append(disconnected_type())
        try:
            in_grads = node.op.L_op(list(node.inputs), list(node.outputs), filled)
        except MethodNotDefined as exc:
            in_grads = [
                grad_not_implemented(node.op, i, inp, str(exc)) if conn else disconnected_type()
                for i, (inp, conn) in enumerate(zip(node.inputs, connected))
            ]
        in_grads = list(in_grads)
        if len(in_grads) != len(node.inputs):
            raise ValueError(
                f"{node.op}.L_op returned {len(in_grads)} gradients for {len(node.inputs)} inputs"
            )
        pattern = node.op.connection_pattern(node)
        has_grad = [g is not None for g in out_grads]
        for i, (inp, g) in enumerate(zip(node.inputs, in_grads)):
            if not connected[i] or g is None or _is_disconnected(g):
                continue
            if not any(p and h for p, h in zip(pattern[i], has_grad)):
                continue
            if not _is_null(g):
                if not isinstance(g, Variable):
                    g = _st().as_tensor_variable(g)
                if hasattr(inp.type, "ndim") and getattr(g.type, "ndim", None) != inp.type.ndim:
                    raise ValueError(
                        f"{node.op}.L_op returned a gradient of rank {getattr(g.type, 'ndim', None)} "
                        f"for input {i} of rank {inp.type.ndim}"
                    )
                g = _match_dtype(g, inp)
            terms.setdefault(inp, []).append(g)
    return {v: total(v) for v in list(terms) if total(v) is not None}


def grad(
    cost: Variable | None,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
    known_grads: Mapping[Variable, Any] | None = None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
):
    """Symbolic gradient of the scalar ``cost`` w.r.t. ``wrt`` (a variable or a list).

    Parameters
    ----------
    consider_constant
        Variables treated as constants: no gradient flows through them.
    disconnected_inputs
        What to do when ``cost`` does not depend on an element of ``wrt``: ``'raise'``
        (:class:`DisconnectedInputError`), ``'warn'`` or ``'ignore'``.
    known_grads
        ``{variable: its gradient}`` to start from, in addition to (or instead of, with
        ``cost=None``) the cost.
    return_disconnected
        The gradient returned for a disconnected input: ``'zero'`` (zeros like it),
        ``'none'`` (``None``) or ``'disconnected'`` (a DisconnectedType variable).
    null_gradients
        ``'raise'`` (:class:`NullTypeGradError` naming the op and why) or ``'return'``
        (return the NullType variable) when a gradient is undefined or not implemented.

    Returns one gradient per element of ``wrt`` (same structure as ``wrt``), each with
    ``wrt``'s dtype when that is a float dtype.
    """
    st = _st()
    wrt_list, was_list = _as_list(wrt)
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt[{i}] is not a symbolic variable but {type(w).__name__}")
    seeds: dict[Variable, Variable] = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: cost must be a symbolic variable, not {type(cost).__name__}")
        if getattr(cost.type, "ndim", 0) != 0:
            raise TypeError(f"grad: cost must be a scalar (0-d), got {cost.type}; sum it or use jacobian")
        dtype = cost.type.dtype if _is_float(cost) else config.floatX
        seeds[cost] = st.ones_like(cost, dtype=dtype)
    for var, g in (known_grads or {}).items():
        if not isinstance(g, Variable):
            g = st.as_tensor_variable(g)
        seeds[var] = seeds[var] + g if var in seeds else g
    if not seeds:
        raise ValueError("grad: give a cost or known_grads")
    totals = _backprop(seeds, wrt_list, consider_constant or ())
    results = []
    for w in wrt_list:
        g = totals.get(w)
        if g is None:
            message = f"grad: the cost does not depend on {w} ({w.type})"
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    message + "; pass disconnected_inputs='ignore' or 'warn' to get a zero gradient"
                )
            if disconnected_inputs == "warn":
                warnings.warn(message, stacklevel=2)
            elif disconnected_inputs != "ignore":
                raise ValueError("grad: disconnected_inputs must be 'raise', 'warn' or 'ignore'")
            if return_disconnected == "zero":
                g = _zeros_like(w)
            elif return_disconnected == "none":
                g = None
            elif return_disconnected == "disconnected":
                g = disconnected_type()
            else:
                raise ValueError("grad: return_disconnected must be 'zero', 'none' or 'disconnected'")
        elif _is_null(g):
            if null_gradients == "raise":
                raise NullTypeGradError(f"grad: the gradient w.r.t. {w} is not available: {g.type.why_null}")
            if null_gradients != "return":
                raise ValueError("grad: null_gradients must be 'raise' or 'return'")
        elif getattr(w.type, "dtype", None) in _FLOAT_DTYPES and g.type.dtype != w.type.dtype:
            g = st.cast(g, w.type.dtype)
        results.append(g)
    return results if was_list else results[0]


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product: ``sum_k eval_points[k] . d f[k] / d wrt``.

    ``f`` and ``eval_points`` are a variable or lists of equal length (each eval point has
    the shape of its ``f``); returns one result per element of ``wrt``.
    """
    f_list, _ = _as_list(f)
    e_list, _ = _as_list(eval_points)
    if len(f_list) != len(e_list):
        raise ValueError(f"Lop: {len(f_list)} outputs but {len(e_list)} eval points")
    known = {}
    st = _st()
    for out, e in zip(f_list, e_list):
        e = e if isinstance(e, Variable) else st.as_tensor_variable(e)
        known[out] = known[out] + e if out in known else e
    return grad(
        None,
        wrt,
        consider_constant=consider_constant,
        known_grads=known,
        disconnected_inputs=disconnected_inputs,
    )


# --------------------------------------------------------------------------- forward mode


def _rop_by_transpose(node, eval_points: Sequence[Variable | None]) -> list[Variable | None]:
    """``J v`` for one node from its ``L_op``: differentiate ``<J^T u, v>`` w.r.t. ``u``."""
    dummies = [o.type() for o in node.outputs]
    pulled = node.op.L_op(list(node.inputs), list(node.outputs), dummies)
    total = None
    for g, v in zip(pulled, eval_points):
        if v is None or g is None or _is_disconnected(g):
            continue
        if _is_null(g):
            return [g for _ in node.outputs]
        term = (g * v).sum()
        total = term if total is None else total + term
    if total is None:
        return [None for _ in node.outputs]
    tangents = grad(total, dummies, disconnected_inputs="ignore", return_disconnected="none")
    # J v does not depend on u (the pullback is linear), but its graph may still mention u
    # (e.g. through zeros_like(u)); substitute a harmless value.
    replace = {u: _zeros_like(o) for u, o in zip(dummies, node.outputs)}
    return [None if t is None else clone_replace(t, replace) for t in tangents]


def Rop(f, wrt, eval_points, disconnected_outputs: str = "raise", return_disconnected: str = "zero"):
    """Jacobian-vector product: the directional derivative of ``f`` along ``eval_points``.

    ``wrt`` and ``eval_points`` are a variable or lists of equal length (each eval point has
    the shape of its ``wrt``). Uses each op's ``R_op``; ops without one go through the
    transpose of their ``L_op``. Returns one result per element of ``f``.
    """
    f_list, f_was_list = _as_list(f)
    w_list, _ = _as_list(wrt)
    e_list, _ = _as_list(eval_points)
    if len(w_list) != len(e_list):
        raise ValueError(f"Rop: {len(w_list)} wrt variables but {len(e_list)} eval points")
    st = _st()
    tangent: dict[Variable, Variable] = {}
    for w, e in zip(w_list, e_list):
        e = e if isinstance(e, Variable) else st.as_tensor_variable(e)
        if hasattr(w.type, "ndim") and e.type.ndim != w.type.ndim:
            raise ValueError(f"Rop: the eval point for {w} has rank {e.type.ndim}, expected {w.type.ndim}")
        tangent[w] = e
    for node in io_toposort(list(tangent), f_list):
        points = [tangent.get(i) for i in node.inputs]
        if all(p is None for p in points):
            continue
        try:
            outs = node.op.R_op(list(node.inputs), points)
        except (MethodNotDefined, NotImplementedError):
            outs = _rop_by_transpose(node, points)
        for o, t in zip(node.outputs, outs):
            if t is None or _is_disconnected(t):
                continue
            if _is_null(t):
                raise NullTypeGradError(f"Rop: the R_op of {node.op} is not available: {t.type.why_null}")
            if not isinstance(t, Variable):
                t = st.as_tensor_variable(t)
            tangent[o] = _match_dtype(t, o)
    results = []
    for out in f_list:
        t = tangent.get(out)
        if t is None:
            message = f"Rop: {out} does not depend on any wrt variable"
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(message + "; pass disconnected_outputs='ignore'")
            if disconnected_outputs == "warn":
                warnings.warn(message, stacklevel=2)
            t = _zeros_like(out) if return_disconnected == "zero" else None
        results.append(t)
    return results if f_was_list else results[0]


# --------------------------------------------------------------------------- higher order


def jacobian(expression: Variable, wrt, consider_constant=None, disconnected_inputs="raise", vectorize: bool = True):
    """The Jacobian of ``expression`` w.r.t. ``wrt``: shape ``expression.shape + wrt.shape``.

    With ``vectorize`` (the default) the pullback ``u -> J^T u`` is built once and evaluated
    on every row of the identity by one :class:`~symgraph.compile.batched.BatchedPullback`
    node, so the expression's size may be known only at run time. With ``vectorize=False``
    one gradient per element of the flattened expression is built and stacked, which needs
    a statically known size but gives a graph that can itself be differentiated again.
    """
    st = _st()
    wrt_list, was_list = _as_list(wrt)
    expr = st.as_tensor_variable(expression)
    if expr.type.ndim == 0:
        g = grad(expr, wrt_list, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        return g if was_list else g[0]
    flat = expr.flatten()
    if vectorize:
        # Compiling the batched pullback needs the compiler, which sits above this module.
        from symgraph.compile.batched import batched_pullback

        blocks = batched_pullback(flat, wrt_list, consider_constant, disconnected_inputs)
    else:
        if None in expr.type.shape:
            raise ValueError(
                f"jacobian(vectorize=False) needs a statically known expression shape, got {expr.type}; "
                "use vectorize=True or st.specify_shape"
            )
        size = int(np.prod(expr.type.shape))
        rows = [
            grad(flat[i], wrt_list, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
            for i in range(size)
        ]
        blocks = [
            st.stack([r[k] for r in rows], axis=0) if size else st.zeros((0, *[st.shape_i(w, d) for d in range(w.type.ndim)]), dtype=w.type.dtype)
            for k, w in enumerate(wrt_list)
        ]
    jacs = [
        block.reshape(st.concatenate([st.shape(expr), st.shape(w)])) if w.type.ndim or expr.type.ndim != 1 else block
        for block, w in zip(blocks, wrt_list)
    ]
    return jacs if was_list else jacs[0]


def hessian(cost: Variable, wrt, consider_constant=None, disconnected_inputs="raise", vectorize: bool = True):
    """The Hessian of the scalar ``cost`` w.r.t. each element of ``wrt``: ``wrt.shape * 2``."""
    wrt_list, was_list = _as_list(wrt)
    result = []
    for w in wrt_list:
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        result.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore", vectorize=vectorize))
    return result if was_list else result[0]


def hessian_vector_product(cost: Variable, wrt, p, consider_constant=None):
    """``H p`` without forming ``H``: the gradient of ``<grad(cost, wrt), p>`` w.r.t. ``wrt``."""
    wrt_list, was_list = _as_list(wrt)
    p_list, _ = _as_list(p)
    if len(p_list) != len(wrt_list):
        raise ValueError(f"hessian_vector_product: {len(wrt_list)} wrt variables but {len(p_list)} vectors")
    grads = grad(cost, wrt_list, consider_constant=consider_constant)
    inner = None
    for g, v in zip(grads, p_list):
        term = (g * v).sum()
        inner = term if inner is None else inner + term
    result = grad(inner, wrt_list, consider_constant=consider_constant, disconnected_inputs="ignore")
    return result if was_list else result[0]


# --------------------------------------------------------------------------- checking


def _default_tolerances(dtype: str) -> tuple[float, float, float]:
    """(eps, abs_tol, rel_tol) for central differences in ``dtype``."""
    if dtype == "float32":
        return 1e-3, 1e-2, 1e-2
    return 1e-6, 1e-5, 1e-4


def verify_grad(
    fun: Callable[..., Variable],
    pt: Sequence[Any],
    n_tests: int = 2,
    rng: np.random.Generator | int | None = None,
    eps: float | None = None,
    out_type: Any = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    mode: Any = None,
) -> None:
    """Check ``grad`` of ``fun`` at ``pt`` against central finite differences.

    ``fun`` maps symbolic inputs (one per array in ``pt``, with the arrays' dtypes and
    shapes) to a symbolic output. The output is projected on a random tensor to get a
    scalar cost; for each input and each of ``n_tests`` random directions ``d`` the
    directional derivative ``(C(x + eps d) - C(x - eps d)) / (2 eps)`` is compared with
    ``<grad C, d>``. Raises :class:`GradientError` naming the input and the largest
    absolute and relative errors when they exceed both tolerances.
    """
    from symgraph.compile.function import function

    st = _st()
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng if rng is not None else 12345)
    pt = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) and p.dtype.kind == "f" else config.floatX) for p in pt]
    if not pt:
        raise ValueError("verify_grad needs at least one input point")
    # Static shapes from the point: a size-1 dim is then legitimately broadcastable.
    inputs = [st.tensor(f"input {i}", dtype=p.dtype.name, shape=p.shape) for i, p in enumerate(pt)]
    out = fun(*inputs)
    if not isinstance(out, Variable):
        raise TypeError(f"verify_grad: fun must return a symbolic variable, got {type(out).__name__}")
    # Finite differences are as precise as the least precise of the inputs and the output.
    low = any(p.dtype == np.float32 for p in pt) or getattr(out.type, "dtype", None) == "float32"
    d_eps, d_abs, d_rel = _default_tolerances("float32" if low else "float64")
    eps = d_eps if eps is None else eps
    abs_tol = d_abs if abs_tol is None else abs_tol
    rel_tol = d_rel if rel_tol is None else rel_tol
    f_out = function(inputs, out, mode=mode, on_unused_input="ignore")
    out_shape = np.shape(f_out(*pt))
    projection_value = rng.uniform(0.5, 1.5, size=out_shape) * rng.choice([-1.0, 1.0], size=out_shape)
    projection = st.constant(np.asarray(projection_value, dtype=out.type.dtype if _is_float(out) else config.floatX))
    cost = (out * projection).sum()
    grads = grad(cost, inputs, disconnected_inputs="ignore")
    f_cost = function(inputs, cost, mode=mode, on_unused_input="ignore")
    f_grad = function(inputs, grads, mode=mode, on_unused_input="ignore")
    for _ in range(n_tests):
        symbolic = f_grad(*pt)
        for i, p in enumerate(pt):
            direction = rng.normal(size=p.shape).astype(p.dtype)
            plus = [q.copy() for q in pt]
            minus = [q.copy() for q in pt]
            plus[i] = (p + eps * direction).astype(p.dtype)
            minus[i] = (p - eps * direction).astype(p.dtype)
            numeric = (float(f_cost(*plus)) - float(f_cost(*minus))) / (2 * eps)
            analytic = float(np.sum(np.asarray(symbolic[i], dtype=np.float64) * direction))
            if not (np.isfinite(numeric) and np.isfinite(analytic)):
                # A nan/inf would compare False against any tolerance and pass silently.
                raise GradientError(
                    i, float("inf"), float("inf"), abs_tol, rel_tol,
                    f"non-finite derivative: finite differences {numeric!r}, symbolic {analytic!r}",
                )
            abs_err = abs(numeric - analytic)
            rel_err = abs_err / max(abs(numeric) + abs(analytic), 1e-8)
            if abs_err > abs_tol and rel_err > rel_tol:
                raise GradientError(
                    i, abs_err, rel_err, abs_tol, rel_tol,
                    f"directional derivative: finite differences {numeric!r}, symbolic {analytic!r}",
                )
