"""Tensor products: :func:`dot`, :func:`matmul` (and ``@``), :func:`tensordot`, :func:`einsum`
and :func:`outer`.

Three ops do the work:

- :class:`Dot`: NumPy's ``np.dot`` for 1-d and 2-d operands (vector-vector, matrix-vector,
  vector-matrix, matrix-matrix). It is the common case and runs on BLAS.
- :class:`MatMul`: ``np.matmul`` on operands of rank >= 2, broadcasting the leading (batch)
  dimensions. :func:`matmul` promotes 1-d operands to matrices around it, as NumPy does.
- :class:`Einsum`: a general Einstein summation whose (explicit, ellipsis-free) subscripts are
  its only prop. :func:`tensordot`, and :func:`dot` on operands of rank > 2, build one.

Gradients are products again (the adjoint of a contraction is a contraction), so they are
exact and differentiable to any order; forward-mode derivatives follow the product rule.

Broadcasting rule
-----------------
As in PyTensor, a batch dimension broadcasts only when its *static* size is 1 (known when the
graph is built). Two batch dimensions of unknown size must be equal at run time; a run-time
size of 1 against a larger size raises ``ValueError`` instead of broadcasting silently, because
the gradient (which sums over broadcast dimensions) is decided when the graph is built. Give
such an input a static shape (e.g. ``st.tensor(shape=(1, None, None))``) to broadcast it.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable
from symgraph.graph.null_type import DisconnectedType
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_operand, as_tensor_variable
from symgraph.tensor.elemwise import is_weak_scalar
from symgraph.tensor.scalar_ops import upcast
from symgraph.tensor.type import TensorType, _format_shape
from symgraph.tensor.variable import TensorVariable, tensor_method

__all__ = ["Dot", "MatMul", "Einsum", "dot", "matmul", "tensordot", "einsum", "outer"]

_LETTERS = string.ascii_letters  # the labels np.einsum accepts


# --------------------------------------------------------------------------- helpers


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def _grad_for(g: TensorVariable | None, x: TensorVariable) -> TensorVariable:
    """The gradient term ``g`` adjusted to input ``x``: cast to ``x``'s float dtype (a float32
    input of a float64 product gets a float32 gradient), with ``x``'s static size-1 dimensions
    (the product formulas can lose them, and broadcasting relies on them). Integer and boolean
    inputs cannot be perturbed, so their gradient is zero (in ``floatX``), as in PyTensor;
    ``g=None`` also means a zero gradient."""
    if g is None or not _is_float(x.dtype):
        from symgraph.tensor.creation import zeros_like

        return zeros_like(x, dtype=x.dtype if _is_float(x.dtype) else config.floatX)
    if g.dtype != x.dtype:
        from symgraph.tensor.basic import cast

        g = cast(g, x.dtype)
    if any(xs == 1 and gs != 1 for xs, gs in zip(x.type.shape, g.type.shape)):
        from symgraph.tensor.shape import specify_shape

        g = specify_shape(g, tuple(1 if xs == 1 else None for xs in x.type.shape))
    return g


def _add_terms(terms: list) -> TensorVariable | None:
    """Sum of the non-``None`` terms (``None`` when there are none): the product rule's sum."""
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _is_disconnected(g: Any) -> bool:
    return isinstance(getattr(g, "type", None), DisconnectedType)


def _static_mismatch(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a != b


def _swap_last(x: TensorVariable) -> TensorVariable:
    """``x`` with its last two dimensions swapped (the batched transpose; a view)."""
    order = list(range(x.ndim))
    order[-2], order[-1] = order[-1], order[-2]
    return x.dimshuffle(*order)


# --------------------------------------------------------------------------- Dot


class Dot(Op):
    """``np.dot`` of two operands of rank 1 or 2 (contracting ``a``'s last axis with ``b``'s first).

    Output dtype: NumPy promotion of the two dtypes. Use :func:`dot` rather than the op: it also
    handles scalars and higher ranks.
    """

    __props__ = ()

    def __str__(self) -> str:
        return "Dot"

    def make_node(self, a: Any, b: Any) -> Apply:
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for k, v in enumerate((a, b)):
            if v.ndim not in (1, 2):
                raise TypeError(
                    f"Dot takes 1-d or 2-d operands, got {v} of type {v.type} as operand {k}; "
                    "use st.dot, st.matmul or st.tensordot for other ranks"
                )
        if _static_mismatch(a.type.shape[-1], b.type.shape[0]):
            raise ValueError(
                f"dot: shapes {_format_shape(a.type.shape)} and {_format_shape(b.type.shape)} are not "
                f"aligned: the last dimension of the first operand ({a.type.shape[-1]}) must equal the "
                f"first dimension of the second ({b.type.shape[0]})"
            )
        out_shape = a.type.shape[:-1] + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), out_shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise ValueError(
                f"dot: shapes {a.shape} and {b.shape} are not aligned: the last dimension of the "
                f"first operand ({a.shape[-1]}) must equal the first dimension of the second ({b.shape[0]})"
            )
        out_dtype = node.outputs[0].type.numpy_dtype
        # np.dot returns a NumPy scalar for two vectors; values must be ndarrays.
        output_storage[0][0] = np.asarray(np.dot(a, b), dtype=out_dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        a, b = inputs
        (gz,) = output_grads
        ranks = (a.ndim, b.ndim)
        if ranks == (1, 1):  # z = sum_i a_i b_i
            ga, gb = gz * b, gz * a
        elif ranks == (2, 1):  # z_i = sum_j a_ij b_j
            ga, gb = self(gz.dimshuffle(0, "x"), b.dimshuffle("x", 0)), self(a.T, gz)
        elif ranks == (1, 2):  # z_j = sum_i a_i b_ij
            ga, gb = self(b, gz), self(a.dimshuffle(0, "x"), gz.dimshuffle("x", 0))
        else:  # z = a b
            ga, gb = self(gz, b.T), self(a.T, gz)
        return [_grad_for(ga, a), _grad_for(gb, b)]

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        a, b = inputs
        ea, eb = eval_points
        return [_add_terms([None if ea is None else self(ea, b), None if eb is None else self(a, eb)])]


_dot_op = Dot()


# --------------------------------------------------------------------------- MatMul


class MatMul(Op):
    """``np.matmul`` of two operands of rank >= 2: matrix products over the last two dimensions,
    broadcasting the leading (batch) dimensions.

    Batch dimensions broadcast only when their static size is 1 (see the module docstring).
    Use :func:`matmul` (or ``a @ b``), which also accepts 1-d operands.
    """

    __props__ = ()

    def __str__(self) -> str:
        return "MatMul"

    def make_node(self, a: Any, b: Any) -> Apply:
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for k, v in enumerate((a, b)):
            if v.ndim < 2:
                raise TypeError(
                    f"MatMul takes operands of rank >= 2, got {v} of type {v.type} as operand {k}; use st.matmul"
                )
        sa, sb = a.type.shape, b.type.shape
        if _static_mismatch(sa[-1], sb[-2]):
            raise ValueError(
                f"matmul: shapes {_format_shape(sa)} and {_format_shape(sb)} are not aligned: the last "
                f"dimension of the first operand ({sa[-1]}) must equal the second-to-last of the second ({sb[-2]})"
            )
        batch = self._static_batch(sa[:-2], sb[:-2])
        out_type = TensorType(upcast(a.dtype, b.dtype), batch + (sa[-2], sb[-1]))
        return Apply(self, [a, b], [out_type()])

    @staticmethod
    def _static_batch(ba: tuple, bb: tuple) -> tuple:
        """Broadcast of the batch shapes; sizes missing on the left count as a static 1."""
        n = max(len(ba), len(bb))
        ba = (1,) * (n - len(ba)) + tuple(ba)
        bb = (1,) * (n - len(bb)) + tuple(bb)
        out = []
        for d, (x, y) in enumerate(zip(ba, bb)):
            if x == 1:
                out.append(y)
            elif y == 1:
                out.append(x)
            elif _static_mismatch(x, y):
                raise ValueError(
                    f"matmul: batch shapes {_format_shape(ba)} and {_format_shape(bb)} cannot be "
                    f"broadcast together (sizes {x} and {y} in batch dimension {d})"
                )
            else:
                out.append(x if x is not None else y)
        return tuple(out)

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        a, b = inputs
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last dimension of the "
                f"first operand ({a.shape[-1]}) must equal the second-to-last of the second ({b.shape[-2]})"
            )
        out_ndim = node.outputs[0].type.ndim
        n_batch = out_ndim - 2
        for d in range(n_batch):
            sizes = []
            for v, var in zip((a, b), node.inputs):
                k = d - (out_ndim - v.ndim)
                # Dims missing on the left or statically 1 broadcast by design.
                if k >= 0 and var.type.shape[k] != 1:
                    sizes.append(v.shape[k])
            if len(sizes) == 2 and sizes[0] != sizes[1]:
                raise ValueError(
                    f"matmul: batch dimensions of shapes {a.shape} and {b.shape} do not match (sizes "
                    f"{sizes[0]} and {sizes[1]} in batch dimension {d}); only dimensions whose static "
                    "size is 1 broadcast (give the input a static shape to broadcast it)"
                )
        out_dtype = node.outputs[0].type.numpy_dtype
        output_storage[0][0] = np.asarray(np.matmul(a, b), dtype=out_dtype)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        a, b = node.inputs
        sa, sb = input_shapes
        out_static = node.outputs[0].type.shape
        out_ndim = len(out_static)
        batch = []
        for d in range(out_ndim - 2):
            if out_static[d] is not None:
                batch.append(out_static[d])
                continue
            for var, shp in ((a, sa), (b, sb)):
                k = d - (out_ndim - var.ndim)
                if k >= 0 and var.type.shape[k] != 1:
                    batch.append(shp[k])
                    break
            else:  # pragma: no cover - out_static would then be 1
                batch.append(1)
        return [tuple(batch) + (sa[-2], sb[-1])]

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        a, b = inputs
        (gz,) = output_grads
        ga = _sum_to_static(self(gz, _swap_last(b)), a)
        gb = _sum_to_static(self(_swap_last(a), gz), b)
        return [_grad_for(ga, a), _grad_for(gb, b)]

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        a, b = inputs
        ea, eb = eval_points
        return [_add_terms([None if ea is None else self(ea, b), None if eb is None else self(a, eb)])]


_matmul_op = MatMul()


def _sum_to_static(g: TensorVariable, like: TensorVariable) -> TensorVariable:
    """Sum ``g`` over the leading dimensions ``like`` lacks and over the dimensions where ``like``
    is statically 1 but ``g`` is not: the adjoint of broadcasting ``like`` to ``g``'s shape.

    Built from an :class:`Einsum` (a sum is a one-operand contraction) and a
    :class:`~symgraph.tensor.elemwise.DimShuffle`, so gradients need no other module.
    """
    extra = g.ndim - like.ndim
    summed = [d for d in range(g.ndim) if d < extra or (like.type.shape[d - extra] == 1 and g.type.shape[d] != 1)]
    if not summed:
        return g
    labels = _LETTERS[: g.ndim]
    kept = "".join(labels[d] for d in range(g.ndim) if d not in summed)
    reduced = Einsum(f"{labels}->{kept}")(g)
    # Put back the size-1 dimensions of `like` that were summed over.
    order: list[int | str] = []
    k = 0
    for d in range(extra, g.ndim):
        if d in summed:
            order.append("x")
        else:
            order.append(k)
            k += 1
    return reduced.dimshuffle(*order)


# --------------------------------------------------------------------------- Einsum


def _parse_explicit(subscripts: str) -> tuple[tuple[str, ...], str]:
    """Split explicit, ellipsis-free subscripts into the operands' labels and the output's."""
    if "->" not in subscripts:
        raise ValueError(
            f"Einsum: subscripts {subscripts!r} need an explicit '->' output (st.einsum accepts implicit ones)"
        )
    lhs, out = subscripts.split("->")
    ins = tuple(lhs.split(","))
    for part in (*ins, out):
        bad = [c for c in part if c not in _LETTERS]
        if bad:
            raise ValueError(
                f"Einsum: invalid label {bad[0]!r} in {subscripts!r}; labels are ASCII letters "
                "(st.einsum expands '...' before building the op)"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"Einsum: output labels {out!r} repeat a label in {subscripts!r}")
    known = set("".join(ins))
    missing = [c for c in out if c not in known]
    if missing:
        raise ValueError(f"Einsum: output label {missing[0]!r} does not appear in any operand of {subscripts!r}")
    return ins, out


class Einsum(Op):
    """An Einstein summation with explicit subscripts, e.g. ``Einsum("ij,jk->ik")``.

    The subscripts (the only prop) name every dimension of every operand with a letter and list
    the output's labels after ``->``; no ``...``. Labels repeated inside an operand take its
    diagonal; labels absent from the output are summed over. :func:`einsum` accepts NumPy's full
    syntax (implicit output, ellipsis) and builds this op.

    Sizes sharing a label must be equal (a size-1 dimension does not broadcast against a
    label's other sizes; :func:`einsum` gives statically broadcast ellipsis dimensions a label of
    their own). The output dtype is NumPy's promotion of the operands' dtypes.
    """

    __props__ = ("subscripts",)

    def __init__(self, subscripts: str):
        subscripts = "".join(str(subscripts).split())  # whitespace is not meaningful
        self.subscripts = subscripts
        self.in_labels, self.out_labels = _parse_explicit(subscripts)

    def __str__(self) -> str:
        return f"Einsum{{{self.subscripts}}}"

    # ------------------------------------------------------------------ building

    def _label_sizes(self, shapes: Sequence[Sequence[Any]], static: bool) -> dict[str, Any]:
        """Each label's size from ``shapes``; ``ValueError`` if two known sizes disagree."""
        sizes: dict[str, Any] = {}
        where: dict[str, tuple[int, int]] = {}
        for k, (labels, shape) in enumerate(zip(self.in_labels, shapes)):
            for axis, (label, size) in enumerate(zip(labels, shape)):
                if static and size is None:
                    continue
                if label in sizes and sizes[label] != size:
                    k0, a0 = where[label]
                    when = "" if static else " at run time"
                    raise ValueError(
                        f"{self}: label {label!r} has size {sizes[label]} in operand {k0} (axis {a0}) but "
                        f"size {size} in operand {k} (axis {axis}){when}; dimensions sharing a label must "
                        "have equal sizes"
                    )
                sizes.setdefault(label, size)
                where.setdefault(label, (k, axis))
        return sizes

    def make_node(self, *operands: Any) -> Apply:
        if len(operands) != len(self.in_labels):
            raise TypeError(f"{self} takes {len(self.in_labels)} operands, got {len(operands)}")
        variables = [as_tensor_variable(x) for x in operands]
        for k, (labels, v) in enumerate(zip(self.in_labels, variables)):
            if v.ndim != len(labels):
                raise ValueError(
                    f"{self}: operand {k} ({v}, type {v.type}) has {v.ndim} dimensions but its "
                    f"subscripts {labels!r} name {len(labels)}"
                )
        sizes = self._label_sizes([v.type.shape for v in variables], static=True)
        out_shape = tuple(sizes.get(label) for label in self.out_labels)
        return Apply(self, variables, [TensorType(upcast(*(v.dtype for v in variables)), out_shape)()])

    # ------------------------------------------------------------------ evaluation

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        sizes = self._label_sizes([x.shape for x in inputs], static=False)
        # Summing naively costs the product of all label sizes; above a small size, let NumPy
        # find a pairwise order that goes through BLAS (its search costs ~10 us).
        work = 1
        for size in sizes.values():
            work *= size
        optimize = "greedy" if (len(inputs) > 2 or work > 20000) else False
        out = np.einsum(self.subscripts, *inputs, optimize=optimize)
        out = np.asarray(out, dtype=node.outputs[0].type.numpy_dtype)
        # np.einsum returns views for pure transposes and diagonals; the op declares none.
        if any(np.may_share_memory(out, x) for x in inputs):
            out = out.copy()
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        first: dict[str, Any] = {}
        for labels, shape in zip(self.in_labels, input_shapes):
            for label, size in zip(labels, shape):
                first.setdefault(label, size)
        static = node.outputs[0].type.shape
        return [tuple(s if s is not None else first[label] for s, label in zip(static, self.out_labels))]

    # ------------------------------------------------------------------ derivatives

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        (gz,) = output_grads
        return [
            _grad_for(self._operand_grad(inputs, gz, k) if _is_float(x.dtype) else None, x)
            for k, x in enumerate(inputs)
        ]

    def _operand_grad(self, inputs: Sequence[Variable], gz: Variable, k: int) -> TensorVariable:
        """The gradient w.r.t. operand ``k``: the output gradient contracted with the other
        operands, producing operand ``k``'s labels.

        Two cases need more than one contraction. A label repeated in operand ``k`` (a
        diagonal) is renamed apart and tied back with an identity matrix, so the gradient lands
        on the diagonal. A label found only in operand ``k`` (summed away) cannot come out of a
        contraction: it is left out and broadcast back afterwards.
        """
        x = inputs[k]
        labels = self.in_labels[k]
        used = set(self.subscripts)
        fresh = (c for c in _LETTERS if c not in used)
        target: list[str] = []
        extra_ops: list[TensorVariable] = []
        extra_labels: list[str] = []
        for axis, label in enumerate(labels):
            if label in target:
                new = next(fresh)
                from symgraph.tensor.creation import eye
                from symgraph.tensor.shape import shape_i

                extra_ops.append(eye(shape_i(x, axis), dtype=gz.dtype))
                extra_labels.append(label + new)
                target.append(new)
            else:
                target.append(label)
        other_labels = [self.out_labels] + [s for j, s in enumerate(self.in_labels) if j != k] + extra_labels
        available = set("".join(other_labels))
        kept = [lab for lab in target if lab in available]
        operands = [gz] + [v for j, v in enumerate(inputs) if j != k] + extra_ops
        if len(operands) == 1 and other_labels[0] == "".join(kept):
            g = gz  # e.g. the gradient of a plain sum: no contraction left to do
        else:
            g = Einsum(",".join(other_labels) + "->" + "".join(kept))(*operands)
        if len(kept) == len(target):
            return g
        # Broadcast back along the labels only operand k had (their sum's adjoint).
        order: list[int | str] = []
        i = 0
        for lab in target:
            if lab in available:
                order.append(i)
                i += 1
            else:
                order.append("x")
        g = g.dimshuffle(*order)
        if all(x.type.shape[axis] == 1 for axis, lab in enumerate(target) if lab not in available):
            return g
        from symgraph.tensor.shape import broadcast_to, shape

        return broadcast_to(g, shape(x))

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        # Multilinear: the derivative is the sum of the products with one operand replaced.
        terms = []
        for k, e in enumerate(eval_points):
            if e is not None:
                terms.append(self(*inputs[:k], e, *inputs[k + 1 :]))
        return [_add_terms(terms)]


# --------------------------------------------------------------------------- einsum parsing


def _split_operand(sub: str, ndim: int, k: int, subscripts: str) -> tuple[str, str, int]:
    """Labels before and after ``...`` in one operand's subscripts, and the ellipsis length."""
    if sub.count("...") > 1 or sub.replace("...", "").count(".") > 0:
        raise ValueError(f"einsum: operand {k}'s subscripts {sub!r} in {subscripts!r} have a malformed '...'")
    bad = [c for c in sub.replace("...", "") if c not in _LETTERS]
    if bad:
        raise ValueError(f"einsum: invalid label {bad[0]!r} in {subscripts!r}; labels are ASCII letters")
    if "..." in sub:
        head, tail = sub.split("...")
        n_ell = ndim - len(head) - len(tail)
        if n_ell < 0:
            raise ValueError(
                f"einsum: operand {k} has {ndim} dimensions but its subscripts {sub!r} name {len(head) + len(tail)}"
            )
        return head, tail, n_ell
    if len(sub) != ndim:
        raise ValueError(f"einsum: operand {k} has {ndim} dimensions but its subscripts {sub!r} name {len(sub)}")
    return sub, "", 0


def _normalize_subscripts(subscripts: str, variables: Sequence[TensorVariable]) -> str:
    """NumPy einsum subscripts made explicit and ellipsis-free for these operands.

    Implicit output: the labels used exactly once, in alphabetical (ASCII) order, after the
    ellipsis dimensions. Ellipsis dimensions get unused letters, aligned on the right; an
    operand whose ellipsis dimension is statically 1 where the broadcast result is not gets a
    letter of its own there (summed over a single element), which is how it broadcasts.
    """
    if not isinstance(subscripts, str):
        raise TypeError(
            f"einsum: subscripts must be a string, got {subscripts!r} (the interleaved form is not supported)"
        )
    compact = "".join(subscripts.split())
    if compact.count("->") > 1 or compact.replace("->", "").count(">") or compact.replace("->", "").count("-"):
        raise ValueError(f"einsum: malformed subscripts {subscripts!r}")
    lhs, arrow, out = compact.partition("->")
    parts = lhs.split(",")
    if len(parts) != len(variables):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} describe {len(parts)} operands but {len(variables)} were given"
        )
    split = [_split_operand(p, v.ndim, k, subscripts) for k, (p, v) in enumerate(zip(parts, variables))]
    n_ell = max((s[2] for s in split), default=0)
    has_ellipsis = any("..." in p for p in parts)

    used = set(c for c in compact if c in _LETTERS)
    fresh = iter(c for c in _LETTERS if c not in used)

    def take() -> str:
        try:
            return next(fresh)
        except StopIteration:
            raise ValueError(f"einsum: {subscripts!r} needs more than {len(_LETTERS)} distinct labels") from None

    ell_labels = [take() for _ in range(n_ell)]
    # Static broadcast size of each ellipsis dimension (1 only if every operand has 1 there).
    ell_static: list[Any] = [1] * n_ell
    for (head, tail, m), v in zip(split, variables):
        for j in range(m):
            size = v.type.shape[len(head) + j]
            if size != 1:
                d = n_ell - m + j
                ell_static[d] = size if ell_static[d] in (1, None) else ell_static[d]
    operand_labels = []
    for (head, tail, m), v in zip(split, variables):
        mid = []
        for j in range(m):
            d = n_ell - m + j
            own = v.type.shape[len(head) + j] == 1 and ell_static[d] != 1
            mid.append(take() if own else ell_labels[d])
        operand_labels.append(head + "".join(mid) + tail)

    if arrow:
        if "..." in out:
            head, _, tail = out.partition("...")
            out_labels = head + "".join(ell_labels) + tail
        elif n_ell:
            raise ValueError(
                f"einsum: the operands have {n_ell} ellipsis dimension(s) but the output {out!r} in "
                f"{subscripts!r} has no '...' to put them in"
            )
        else:
            out_labels = out
        bad = [c for c in out.replace("...", "") if c not in _LETTERS]
        if bad:
            raise ValueError(f"einsum: invalid output label {bad[0]!r} in {subscripts!r}")
    else:
        letters = "".join(p.replace("...", "") for p in parts)
        singles = sorted(c for c in set(letters) if letters.count(c) == 1)
        out_labels = ("".join(ell_labels) if has_ellipsis else "") + "".join(singles)
    return ",".join(operand_labels) + "->" + out_labels


# --------------------------------------------------------------------------- user functions


def einsum(subscripts: str, *operands: Any) -> TensorVariable:
    """Einstein summation over ``operands``, with NumPy's ``np.einsum`` subscripts.

    Explicit (``"ij,jk->ik"``) and implicit (``"ij,jk"``: output = labels used once, sorted)
    modes, ``...`` for broadcast dimensions, repeated labels for diagonals and traces
    (``"ii->"``). Broadcasting of ellipsis dimensions follows the static rule of this module.
    The interleaved ``einsum(op, [0, 1], ...)`` form is not supported.

    >>> import symgraph.tensor as st
    >>> a, b = st.matrix("a"), st.matrix("b")
    >>> str(st.einsum("ij,jk", a, b).owner.op)
    'Einsum{ij,jk->ik}'
    """
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    variables = [as_tensor_variable(x) for x in operands]
    return Einsum(_normalize_subscripts(subscripts, variables))(*variables)


def _normalize_axes(axes: Sequence[int], ndim: int, which: str) -> list[int]:
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or isinstance(ax, bool) or not -ndim <= ax < ndim:
            raise ValueError(f"tensordot: axis {ax!r} is out of range for the {ndim}-d operand {which}")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"tensordot: axes {tuple(axes)} of operand {which} repeat an axis")
    return out


def tensordot(a: Any, b: Any, axes: Any = 2) -> TensorVariable:
    """``np.tensordot``: sum the products of ``a`` and ``b`` over the given axes.

    ``axes`` is an int ``N`` (``a``'s last ``N`` axes with ``b``'s first ``N``) or a pair of
    sequences (or ints) of axes of ``a`` and of ``b``, contracted pairwise. The result has
    ``a``'s remaining axes followed by ``b``'s. Built as an :class:`Einsum`.
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: axes={n} needs operands of rank >= {n}, got ranks {a.ndim} and {b.ndim}")
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            if isinstance(axes, str):
                raise TypeError
            axes_a, axes_b = axes
        except (TypeError, ValueError):
            raise ValueError(f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}") from None
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
        if len(axes_a) != len(axes_b):
            raise ValueError(f"tensordot: {len(axes_a)} axes of a but {len(axes_b)} axes of b in axes={axes!r}")
        axes_a = _normalize_axes(axes_a, a.ndim, "a")
        axes_b = _normalize_axes(axes_b, b.ndim, "b")
    for i, j in zip(axes_a, axes_b):
        if _static_mismatch(a.type.shape[i], b.type.shape[j]):
            raise ValueError(
                f"tensordot: axis {i} of a (size {a.type.shape[i]}) and axis {j} of b (size "
                f"{b.type.shape[j]}) are contracted together but differ in size"
            )
    letters = iter(_LETTERS)
    la = [next(letters) for _ in range(a.ndim)]
    lb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        lb[j] = la[i]
    out = [la[i] for i in range(a.ndim) if i not in axes_a] + [lb[j] for j in range(b.ndim) if j not in axes_b]
    return Einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}")(a, b)


def dot(a: Any, b: Any) -> TensorVariable:
    """``np.dot``: the product of ``a`` and ``b``.

    - 1-d and 2-d operands: inner product, matrix-vector, vector-matrix or matrix product
      (a :class:`Dot` node).
    - a scalar (0-d tensor or Python number) and anything: elementwise multiplication.
    - higher ranks: the sum over ``a``'s last axis and ``b``'s second-to-last (last if 1-d),
      as NumPy does (built with :func:`tensordot`).

    Output dtype: NumPy promotion of the operands' dtypes.
    """
    if is_weak_scalar(a) or is_weak_scalar(b):
        from symgraph.tensor.basic import mul

        return mul(as_operand(a), as_operand(b))
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        from symgraph.tensor.basic import mul

        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot_op(a, b)
    return tensordot(a, b, axes=([a.ndim - 1], [max(b.ndim - 2, 0)]))


def matmul(a: Any, b: Any) -> TensorVariable:
    """``np.matmul`` (the ``@`` operator): matrix products broadcast over leading dimensions.

    A 1-d first operand is treated as a row vector and a 1-d second operand as a column
    vector, and the added dimension is removed from the result. Scalars are rejected, as in
    NumPy. Batch dimensions broadcast when their static size is 1 (see the module docstring).
    Operands of rank <= 2 give a :class:`Dot` node, higher ranks a :class:`MatMul`.
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for k, v in enumerate((a, b)):
        if v.ndim == 0:
            raise ValueError(f"matmul: operand {k} ({v}, type {v.type}) is a scalar; use * to multiply by a scalar")
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot_op(a, b)
    a2 = a.dimshuffle("x", 0) if a.ndim == 1 else a
    b2 = b.dimshuffle(0, "x") if b.ndim == 1 else b
    out = _matmul_op(a2, b2)
    drop = []
    if a.ndim == 1:
        drop.append(out.ndim - 2)
    if b.ndim == 1:
        drop.append(out.ndim - 1)
    if drop:
        out = out.dimshuffle(*[d for d in range(out.ndim) if d not in drop])
    return out


def outer(a: Any, b: Any) -> TensorVariable:
    """``np.outer``: the outer product of ``a`` and ``b`` flattened to vectors (an
    ``(a.size, b.size)`` matrix)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)

    def as_vector(v: TensorVariable) -> TensorVariable:
        if v.ndim == 1:
            return v
        if v.ndim == 0:
            return v.dimshuffle("x")
        from symgraph.tensor.shape import flatten

        return flatten(v, 1)

    return _dot_op(as_vector(a).dimshuffle(0, "x"), as_vector(b).dimshuffle("x", 0))


# --------------------------------------------------------------------------- methods


@tensor_method("__matmul__")
def _matmul_method(self: TensorVariable, other: Any) -> TensorVariable:
    """``self @ other``: :func:`matmul`."""
    try:
        other = as_tensor_variable(other)
    except TypeError:
        return NotImplemented
    return matmul(self, other)


@tensor_method("__rmatmul__")
def _rmatmul_method(self: TensorVariable, other: Any) -> TensorVariable:
    """``other @ self``: :func:`matmul` with the tensor on the right."""
    try:
        other = as_tensor_variable(other)
    except TypeError:
        return NotImplemented
    return matmul(other, self)


@tensor_method("dot")
def _dot_method(self: TensorVariable, other: Any) -> TensorVariable:
    """``x.dot(y)``: :func:`dot`."""
    return dot(self, other)
