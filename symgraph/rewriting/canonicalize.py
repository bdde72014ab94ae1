"""Pass 3 of FAST_RUN: canonicalisation.

Rewrites that put expressions into one normal form, so that equal expressions intern to
the same node and the later passes (stabilise, specialise, fuse) have fewer shapes of
graph to recognise, and that remove work that does nothing. Every rule here keeps the
value, the dtype and the static shape of what it replaces (:func:`_fit` casts, pads and
broadcasts a candidate replacement to the old output's type, or gives up).

The rules (name: before -> after)
---------------------------------
``flatten_add_mul``
    ``add(add(a, b), c) -> add(a, b, c)`` (and ``mul``), when the inner sum has the outer
    one's dtype (so no intermediate rounding or wrap-around changes) and no other reader.
``sort_add_mul_operands``
    ``x*y`` and ``y*x`` in one graph become one node: both are given a deterministic
    operand order (a structural digest of each operand's graph, constants last). Nodes
    without such a commuted twin keep their order (re-sorting every node would rebuild
    most of a large graph for nothing).
``collect_add_mul_constants``
    ``add(x, 1, y, 2) -> add(x, y, 3)``: constant operands folded into one.
``add_zero``, ``mul_one``, ``true_div_one``
    ``x + 0 -> x``, ``x * 1 -> x``, ``x / 1 -> x`` (cast/broadcast to the output type).
    Safe for every value, NaN and inf included (``-0.0 + 0.0`` gives ``+0.0``: equal values,
    another sign bit, as in PyTensor).
``mul_zero_discrete``
    ``x * 0 -> zeros`` for integer and boolean dtypes only: for floats ``inf * 0`` and
    ``nan * 0`` are NaN, so the float case is deliberately not rewritten.
``sub_rules``
    ``x - x -> zeros`` for integer dtypes only (``inf - inf`` and ``nan - nan`` are NaN);
    ``a - (-b) -> a + b``; ``a - 0 -> a``; ``0 - a -> -a``.
``neg_neg``
    ``-(-x) -> x``.
``compose_dimshuffles``, ``useless_dimshuffle``
    Two DimShuffles (double transposes included) become one; an identity one disappears.
``useless_cast``, ``compose_casts``
    ``cast(x, x.dtype) -> x``; ``cast(cast(x, B), A) -> cast(x, A)`` when the inner cast is
    exact for every value of ``x`` (``int8 -> float32``, not ``int64 -> float64``).
``useless_reshape``, ``compose_reshapes``
    ``reshape(x, x.shape) -> x`` (entries ``Shape_i(x)``/equal static sizes/one -1);
    ``reshape(reshape(x, s1), s2) -> reshape(x, s2)``.
``merge_reductions``, ``useless_reduction``
    ``sum(sum(x, a1), a2) -> sum(x, a1 + a2)`` (also prod/max/min/all/any);
    a reduction over no axis that keeps the dtype -> ``x``.
``shape_of_known``
    ``shape(alloc(v, *s)) -> make_vector(*s)``, ``Shape_i(k)(alloc(v, *s)) -> s[k]`` (also
    ``broadcast_to``), and shapes known statically -> constants.
``switch_constant_condition``, ``useless_second``
    ``where(True, a, b) -> a`` (and all-false -> ``b``), broadcast to the output's shape;
    ``second(a, b) -> b`` when ``b`` already has the output's type.

Constant folding (the FAST_COMPILE rule) runs here too, so that constant subexpressions
created by these rules are folded before the next passes.

Each rule is a :class:`~symgraph.rewriting.basic.Rule` of its own (``CANONICALIZE_RULES``),
usable alone; the pass runs them through two dispatching rules (by scalar op for
Elemwise, by op class otherwise) so that a node costs one rule call, not twenty.

What is deliberately not done: ``x / x -> 1`` (wrong for 0, inf and NaN, and integer
``x / x`` is a float division that gives NaN at 0), float ``x - x`` and float ``x * 0``.
Reassociation (flattening, sorting and collecting constants) may change float results by
rounding, and in extreme cases overflow (``(x * 1e200) * 1e-200``), as in PyTensor.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
import weakref

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Constant, Variable
from symgraph.rewriting.basic import Rule, RulePass, node_rewriter
from symgraph.rewriting.folding import constant_folding
from symgraph.tensor import basic as T
from symgraph.tensor.creation import Alloc, BroadcastTo, alloc
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.reduction import Reduce
from symgraph.tensor.scalar_ops import SUPPORTED_DTYPES, cast_op_name
from symgraph.tensor.shape_inference import MakeVector, Shape, Shape_i, make_vector
from symgraph.tensor.shape import Reshape
from symgraph.tensor.type import TensorType

__all__ = ["CANONICALIZE", "CANONICALIZE_RULES"]


# --------------------------------------------------------------------------- helpers


def _elemwise_name(node) -> str | None:
    """The scalar op name of a non-inplace Elemwise node (rules never touch inplace ones:
    they belong to the in-place pass, which runs last)."""
    op = node.op
    if type(op) is Elemwise and not op.inplace_pattern:
        return op.scalar_op.name
    return None


def _owner_name(var: Variable) -> str | None:
    return None if var.owner is None else _elemwise_name(var.owner)


def _const_data(var: Variable) -> np.ndarray | None:
    """The value of ``var`` if it is a constant, or a constant padded by a DimShuffle."""
    if isinstance(var, Constant):
        return np.asarray(var.data)
    node = var.owner
    if node is not None and type(node.op) is DimShuffle and isinstance(node.inputs[0], Constant):
        data = np.asarray(node.inputs[0].data)
        op = node.op
        res = np.transpose(data, op.shuffle + op.drop)
        return res.reshape(tuple(1 if e == "x" else data.shape[e] for e in op.new_order))
    return None


def _is_all(var: Variable, value) -> bool:
    """Whether ``var`` is a non-empty constant whose every element equals ``value``."""
    data = _const_data(var)
    return data is not None and data.size > 0 and bool(np.all(data == value))


def _is_discrete(dtype: str) -> bool:
    return np.dtype(dtype).kind in "biu"


def _single_reader(ctx, var: Variable) -> bool:
    """Whether ``var`` had exactly one reader when the sweep started (so inlining its
    computation into that reader duplicates no work). Variables built during the sweep are
    unknown and count as shared: the next sweep sees them."""
    return ctx.n_clients(var) == 1


def _absorbed(ctx, node, name: str) -> bool:
    """Whether ``node``'s only reader is an ``add``/``mul`` node of the same op and dtype,
    which will flatten ``node`` into itself. Rules then leave ``node`` alone: rebuilding it
    now would make it a new variable, which the reader could only flatten a sweep later."""
    clients = ctx.clients.get(node.outputs[0])
    if not clients or len(clients) != 1:
        return False
    client = clients[0][0]
    return (
        not isinstance(client, str)
        and _elemwise_name(client) == name
        and client.outputs[0].dtype == node.outputs[0].dtype
    )


def _output_shape_entries(node, prefer=()) -> list:
    """Per output dimension of an Elemwise-like ``node``: its static size, or the run-time
    size of an input that is not statically 1 there (inputs in ``prefer`` first). By the
    broadcasting rule every such input has the output's size there."""
    out = node.outputs[0]
    candidates = list(prefer) + [i for i in node.inputs if all(i is not p for p in prefer)]
    entries = []
    for d, static in enumerate(out.type.shape):
        if static is not None:
            entries.append(static)
            continue
        for inp in candidates:
            if getattr(inp.type, "ndim", -1) == out.ndim and inp.type.shape[d] != 1:
                entries.append(Shape_i(d)(inp))
                break
        else:
            return None
    return entries


def _compatible(old: Variable, new: Variable) -> bool:
    """Whether ``new`` can stand for ``old`` as it is: its type is at least as specific
    and it broadcasts nowhere ``old`` does not (a static 1 where ``old`` has an unknown
    size is a value of the wrong shape, although the type check would accept it)."""
    return old.type.is_super(new.type) and all(n != 1 or o == 1 for n, o in zip(new.type.shape, old.type.shape))


def _fit(new: Variable, old: Variable, node=None, prefer=()) -> Variable | None:
    """``new`` made to replace ``old``: cast to its dtype, left-padded to its rank and, if
    ``new`` broadcasts where ``old`` does not, allocated to ``old``'s shape (sizes taken
    from ``node``'s inputs). ``None`` when that is not possible."""
    if not isinstance(new, Variable):
        new = T.constant(new, dtype=old.dtype)
    if new.dtype != old.dtype:
        new = T.cast(new, old.dtype)
    if new.ndim > old.ndim:
        return None
    if new.ndim < old.ndim:
        pad = old.ndim - new.ndim
        new = DimShuffle(new.ndim, ("x",) * pad + tuple(range(new.ndim)))(new)
    if _compatible(old, new):
        return new
    if node is None:
        return None
    entries = _output_shape_entries(node, prefer)
    if entries is None:
        return None
    new = alloc(new, *entries)
    return new if _compatible(old, new) else None


# Structural digests: a deterministic sort key for operands of commutative ops. A
# variable's digest depends only on its graph (ops, constants' values, inputs' names and
# types), never on ids or creation order, so the order, and thus float rounding, is the
# same in every run. Graph nodes are immutable, so digests are cached for good.
_DIGESTS: "weakref.WeakKeyDictionary[Variable, bytes]" = weakref.WeakKeyDictionary()


def _op_text(op) -> bytes:
    text = f"{type(op).__module__}.{type(op).__qualname__}:{op}"
    if " at 0x" in text:  # a default repr: an id, not deterministic
        text = f"{type(op).__module__}.{type(op).__qualname__}"
    return text.encode()


def _digest(var: Variable) -> bytes:
    found = _DIGESTS.get(var)
    if found is not None:
        return found
    # Iterative post-order: graphs can be deeper than the recursion limit.
    stack = [var]
    while stack:
        v = stack[-1]
        if v in _DIGESTS:
            stack.pop()
            continue
        node = v.owner
        if node is not None:
            missing = [i for i in node.inputs if i not in _DIGESTS]
            if missing:
                stack.extend(missing)
                continue
        h = hashlib.blake2b(digest_size=12)
        if isinstance(v, Constant):
            h.update(b"c" + repr(v.signature()).encode() + str(v.type).encode())
        elif node is None:
            h.update(b"i" + str(v.name).encode() + str(v.type).encode())
        else:
            h.update(b"n" + _op_text(node.op) + str(v.index).encode())
            for i in node.inputs:
                h.update(_DIGESTS[i])
        _DIGESTS[v] = h.digest()
        stack.pop()
    return _DIGESTS[var]


def _operand_key(var: Variable) -> tuple:
    return (_const_data(var) is not None, _digest(var))


# --------------------------------------------------------------------------- add / mul


_ADD_MUL = ("add", "mul")


@node_rewriter([Elemwise])
def flatten_add_mul(ctx, node):
    """``add(add(a, b), c) -> add(a, b, c)`` (same for ``mul``), through every level of
    nested nodes that have the outer node's dtype, no other reader and are not in place."""
    name = _elemwise_name(node)
    if name not in _ADD_MUL or _absorbed(ctx, node, name):
        return None
    dtype = node.outputs[0].dtype

    def inlinable(v):
        return _owner_name(v) == name and v.dtype == dtype and _single_reader(ctx, v)

    if not any(inlinable(i) for i in node.inputs):
        return None
    # Depth-first, left to right (an explicit stack: chains can be thousands deep).
    flat, stack = [], list(reversed(node.inputs))
    while stack:
        v = stack.pop()
        if inlinable(v):
            stack.extend(reversed(v.owner.inputs))
        else:
            flat.append(v)
    return [_fit(node.op(*flat), node.outputs[0], node)]


def _has_commuted_twin(ctx, node) -> bool:
    """Whether the graph holds another node of ``node``'s op on the same operands in
    another order (found among the readers of the operand with the fewest readers)."""
    inputs = node.inputs
    readers = min((ctx.clients.get(i, ()) for i in inputs), key=len)
    if not readers:
        return False
    ids = sorted(map(id, inputs))
    for client, _ in readers:
        if (
            client is not node
            and not isinstance(client, str)
            and client.op == node.op
            and len(client.inputs) == len(inputs)
            and sorted(map(id, client.inputs)) == ids
        ):
            return True
    return False


@node_rewriter([Elemwise])
def sort_add_mul_operands(ctx, node):
    """Operands of ``add``/``mul`` sorted by structural digest, constants last, when the
    graph also computes the same sum or product with its operands in another order: both
    then become one node. Without such a twin the order is left as written, which spares
    rebuilding most of a large graph for nothing."""
    name = _elemwise_name(node)
    if name not in _ADD_MUL or len(node.inputs) < 2 or _absorbed(ctx, node, name):
        return None
    if not _has_commuted_twin(ctx, node):
        return None
    order = sorted(node.inputs, key=_operand_key)
    if all(a is b for a, b in zip(order, node.inputs)):
        return None
    return [_fit(node.op(*order), node.outputs[0], node)]


@node_rewriter([Elemwise])
def collect_add_mul_constants(ctx, node):
    """Constant operands of ``add``/``mul`` folded into one, computed in the output dtype."""
    name = _elemwise_name(node)
    if name not in _ADD_MUL or _absorbed(ctx, node, name):
        return None
    consts = [(i, d) for i in node.inputs if (d := _const_data(i)) is not None]
    if len(consts) < 2 or len(consts) == len(node.inputs):
        return None  # nothing to collect, or all constant: constant folding's job
    out = node.outputs[0]
    dtype = out.type.numpy_dtype
    with np.errstate(all="ignore"):
        # The node computes every operand in its output dtype: int8 constants 100 + 100
        # added to a float32 tensor give 200, not the int8 wrap-around -56.
        folded = node.op.scalar_op.impl(*(d.astype(dtype) for _, d in consts))
    folded = np.asarray(folded, dtype=dtype)
    others = [i for i in node.inputs if all(i is not c for c, _ in consts)]
    return [_fit(node.op(*others, T.constant(folded)), out, node)]


def _drop_identity(node, identity) -> Variable | None:
    """The node rebuilt without its operands that are constants equal to ``identity``."""
    rest = [i for i in node.inputs if not _is_all(i, identity)]
    if len(rest) == len(node.inputs) or not rest:
        return None
    candidate = rest[0] if len(rest) == 1 else node.op(*rest)
    return _fit(candidate, node.outputs[0], node, prefer=rest)


@node_rewriter([Elemwise])
def add_zero(ctx, node):
    """``x + 0 -> x`` (zero constants dropped from a sum)."""
    if _elemwise_name(node) != "add":
        return None
    # For booleans add is a logical or: False is its identity, as 0 is.
    return [_drop_identity(node, 0)]


@node_rewriter([Elemwise])
def mul_one(ctx, node):
    """``x * 1 -> x`` (one constants dropped from a product)."""
    if _elemwise_name(node) != "mul":
        return None
    return [_drop_identity(node, 1)]


@node_rewriter([Elemwise])
def mul_zero_discrete(ctx, node):
    """``x * 0 -> zeros`` for integer and boolean products only (NaN/inf safety)."""
    if _elemwise_name(node) != "mul" or not _is_discrete(node.outputs[0].dtype):
        return None
    if not any(_is_all(i, 0) for i in node.inputs) or all(_const_data(i) is not None for i in node.inputs):
        return None
    out = node.outputs[0]
    return [_fit(T.constant(np.zeros((), dtype=out.dtype)), out, node)]


@node_rewriter([Elemwise])
def true_div_one(ctx, node):
    """``x / 1 -> x`` (cast to the division's float dtype). ``x / x`` is left alone: it
    is NaN where ``x`` is 0, inf or NaN."""
    if _elemwise_name(node) != "true_div" or not _is_all(node.inputs[1], 1):
        return None
    return [_fit(node.inputs[0], node.outputs[0], node, prefer=node.inputs[:1])]


@node_rewriter([Elemwise])
def sub_rules(ctx, node):
    """``x - x -> 0`` (integers only), ``a - (-b) -> a + b``, ``a - 0 -> a``, ``0 - a -> -a``."""
    if _elemwise_name(node) != "sub":
        return None
    a, b = node.inputs
    out = node.outputs[0]
    if a is b:
        if _is_discrete(out.dtype):
            return [_fit(T.constant(np.zeros((), dtype=out.dtype)), out, node)]
        return None  # inf - inf and nan - nan are NaN: not rewritten for floats
    if _owner_name(b) == "neg":
        # Both operands are computed in the output dtype, as sub computes them.
        return [_fit(T.add(T.cast(a, out.dtype), T.cast(b.owner.inputs[0], out.dtype)), out, node)]
    if _is_all(b, 0):
        return [_fit(a, out, node, prefer=[a])]
    if _is_all(a, 0) and _const_data(b) is None:
        return [_fit(T.neg(T.cast(b, out.dtype)), out, node, prefer=[b])]
    return None


@node_rewriter([Elemwise])
def neg_neg(ctx, node):
    """``-(-x) -> x``."""
    if _elemwise_name(node) != "neg" or _owner_name(node.inputs[0]) != "neg":
        return None
    return [_fit(node.inputs[0].owner.inputs[0], node.outputs[0])]


# --------------------------------------------------------------------------- casts


def _exact_cast(src: str, dst: str) -> bool:
    """Whether casting ``src`` to ``dst`` keeps every value exactly."""
    s, d = np.dtype(src), np.dtype(dst)
    if s == d or s.kind == "b":
        return True
    if d.kind == "b":
        return False
    if s.kind in "iu" and d.kind in "iu":
        return bool(np.can_cast(s, d, "safe"))
    if s.kind in "iu" and d.kind == "f":
        return np.iinfo(s).bits - (s.kind == "i") <= np.finfo(d).nmant + 1
    if s.kind == "f" and d.kind == "f":
        return s.itemsize <= d.itemsize
    return False


def _cast_target(node) -> str | None:
    name = _elemwise_name(node)
    return name[5:] if name is not None and name.startswith("cast_") else None


@node_rewriter([Elemwise])
def useless_cast(ctx, node):
    """``cast(x, x.dtype) -> x``."""
    target = _cast_target(node)
    if target is None or node.inputs[0].dtype != target:
        return None
    return [_fit(node.inputs[0], node.outputs[0])]


@node_rewriter([Elemwise])
def compose_casts(ctx, node):
    """``cast(cast(x, B), A) -> cast(x, A)`` when casting ``x`` to ``B`` is exact."""
    target = _cast_target(node)
    inner = node.inputs[0]
    if target is None or inner.owner is None or _cast_target(inner.owner) is None:
        return None
    x = inner.owner.inputs[0]
    if not _exact_cast(x.dtype, inner.dtype):
        return None
    return [_fit(T.cast(x, target), node.outputs[0])]


# --------------------------------------------------------------------------- dimshuffles


@node_rewriter([DimShuffle])
def useless_dimshuffle(ctx, node):
    """A DimShuffle that keeps every dimension in place is its input."""
    op = node.op
    if op.new_order != tuple(range(op.input_ndim)):
        return None
    return [_fit(node.inputs[0], node.outputs[0])]


@node_rewriter([DimShuffle])
def compose_dimshuffles(ctx, node):
    """``DimShuffle(DimShuffle(x))`` -> one DimShuffle of ``x`` (``x.T.T`` -> ``x``)."""
    inner = node.inputs[0]
    if inner.owner is None or type(inner.owner.op) is not DimShuffle:
        return None
    first = inner.owner.op.new_order
    order = tuple("x" if e == "x" else first[e] for e in node.op.new_order)
    x = inner.owner.inputs[0]
    if order == tuple(range(x.ndim)):
        return [_fit(x, node.outputs[0])]
    return [_fit(DimShuffle(x.ndim, order)(x), node.outputs[0])]


# --------------------------------------------------------------------------- reshapes


def _shape_vector_entries(shp: Variable) -> list | None:
    """Entries of a shape vector: ints for constants, variables otherwise, or
    ``("shape", x)`` for ``Shape(x)``; ``None`` when they cannot be read."""
    data = _const_data(shp)
    if data is not None:
        return [int(e) for e in data.reshape(-1)]
    node = shp.owner
    if node is None:
        return None
    if isinstance(node.op, MakeVector):
        return [int(d) if (d := _const_data(e)) is not None else e for e in node.inputs]
    if isinstance(node.op, Shape):
        return [("shape", node.inputs[0])]
    return None


@node_rewriter([Reshape])
def useless_reshape(ctx, node):
    """``reshape(x, s) -> x`` when ``s`` is ``x``'s shape: every entry is ``Shape_i(d)(x)``
    or ``x``'s static size, except at most one entry that is -1."""
    x, shp = node.inputs
    out = node.outputs[0]
    if out.ndim != x.ndim:
        return None
    entries = _shape_vector_entries(shp)
    if entries is None:
        return None
    if len(entries) == 1 and isinstance(entries[0], tuple):
        return [_fit(x, out)] if entries[0][1] is x else None
    if len(entries) != x.ndim:
        return None
    unmatched = 0
    for d, e in enumerate(entries):
        if isinstance(e, int):
            if e == x.type.shape[d]:
                continue
            if e == -1:
                unmatched += 1
                continue
            return None
        if e.owner is not None and isinstance(e.owner.op, Shape_i) and e.owner.op.i == d and e.owner.inputs[0] is x:
            continue
        return None
    if unmatched > 1:
        return None
    return [_fit(x, out)]


@node_rewriter([Reshape])
def compose_reshapes(ctx, node):
    """``reshape(reshape(x, s1), s2) -> reshape(x, s2)`` (both are C-order views)."""
    inner, shp = node.inputs
    if inner.owner is None or type(inner.owner.op) is not Reshape:
        return None
    return [_fit(node.op(inner.owner.inputs[0], shp), node.outputs[0])]


# --------------------------------------------------------------------------- reductions

_MERGEABLE = ("sum", "prod", "max", "min", "all", "any")


@node_rewriter([Reduce])
def merge_reductions(ctx, node):
    """``sum(sum(x, a1), a2) -> sum(x, a1 + a2)`` (also prod, max, min, all, any), when the
    inner result has the outer one's dtype and no other reader."""
    op = node.op
    inner = node.inputs[0]
    out = node.outputs[0]
    if op.kind not in _MERGEABLE or inner.owner is None or type(inner.owner.op) is not Reduce:
        return None
    iop = inner.owner.op
    if iop.kind != op.kind or inner.dtype != out.dtype or not _single_reader(ctx, inner):
        return None
    x = inner.owner.inputs[0]
    kept = [d for d in range(x.ndim) if d not in iop.axis]
    axes = tuple(sorted(set(iop.axis) | {kept[a] for a in op.axis}))
    dtype = None if Reduce(op.kind, axes).output_dtype(x.dtype) == out.dtype else out.dtype
    return [_fit(Reduce(op.kind, axes, dtype)(x), out)]


@node_rewriter([Reduce])
def useless_reduction(ctx, node):
    """A reduction over no axis that keeps the dtype is its input."""
    if node.op.axis or node.op.kind not in _MERGEABLE or node.inputs[0].dtype != node.outputs[0].dtype:
        return None
    return [_fit(node.inputs[0], node.outputs[0])]


# --------------------------------------------------------------------------- shapes


def _as_int64(v):
    if isinstance(v, int):
        return T.constant(v, dtype="int64")
    return v if v.dtype == "int64" else T.cast(v, "int64")


@node_rewriter([Shape, Shape_i])
def shape_of_known(ctx, node):
    """Shapes read from the graph: ``shape(alloc(v, *s)) -> make_vector(*s)``,
    ``Shape_i(k)(alloc(v, *s)) -> s[k]`` (``broadcast_to`` too), and static shapes -> constants."""
    (x,) = node.inputs
    out = node.outputs[0]
    if not isinstance(x.type, TensorType):
        return None
    static = x.type.shape
    if isinstance(node.op, Shape_i):
        i = node.op.i
        if static[i] is not None:
            return [T.constant(static[i], dtype="int64")]
        if x.owner is not None and type(x.owner.op) in (Alloc, BroadcastTo):
            return [_fit(_as_int64(x.owner.inputs[1 + i]), out)]
        return None
    if None not in static:
        return [_fit(T.constant(np.asarray(static, dtype="int64").reshape(len(static))), out)]
    if x.owner is not None and type(x.owner.op) in (Alloc, BroadcastTo):
        entries = x.owner.inputs[1:]
        if not entries:
            return None
        return [_fit(make_vector(*(_as_int64(e) for e in entries)), out)]
    return None


# --------------------------------------------------------------------------- switches


@node_rewriter([Elemwise])
def switch_constant_condition(ctx, node):
    """``where(c, a, b) -> a`` when ``c`` is a constant true everywhere (``b`` when false
    everywhere), broadcast to the output's shape if the branch alone does not have it."""
    if _elemwise_name(node) != "where":
        return None
    cond, a, b = node.inputs
    data = _const_data(cond)
    if data is None or data.size == 0:
        return None
    if np.all(data):
        chosen = a
    elif not np.any(data):
        chosen = b
    else:
        return None
    return [_fit(chosen, node.outputs[0], node, prefer=[chosen, cond])]


@node_rewriter([Elemwise])
def useless_second(ctx, node):
    """``second(a, b) -> b`` when ``b`` already has the output's dtype and static shape
    (so ``b``'s value is the result: it needs no broadcasting)."""
    if _elemwise_name(node) != "second":
        return None
    b = node.inputs[1]
    out = node.outputs[0]
    if b.dtype != out.dtype or not _compatible(out, b):
        return None
    return [b]


# The scalar ops each Elemwise rule looks at (for the dispatcher below).
_CASTS = tuple(cast_op_name(d) for d in SUPPORTED_DTYPES)
_ELEMWISE_KEYS = {
    neg_neg: ("neg",),
    sub_rules: ("sub",),
    add_zero: ("add",),
    mul_one: ("mul",),
    mul_zero_discrete: ("mul",),
    true_div_one: ("true_div",),
    collect_add_mul_constants: _ADD_MUL,
    flatten_add_mul: _ADD_MUL,
    sort_add_mul_operands: _ADD_MUL,
    useless_cast: _CASTS,
    compose_casts: _CASTS,
    switch_constant_condition: ("where",),
    useless_second: ("second",),
}

#: Every rule of the pass, in the order they are tried on a node.
CANONICALIZE_RULES = [
    *_ELEMWISE_KEYS,
    useless_dimshuffle,
    compose_dimshuffles,
    useless_reshape,
    compose_reshapes,
    merge_reductions,
    useless_reduction,
    shape_of_known,
    constant_folding,
]


def _dispatching_rule(name: str, table: dict, key) -> Rule:
    """One Rule running the named rules ``table[key(node)]`` in order.

    The driver tries every rule of a pass on every node, so a pass of twenty rules keyed
    by a few op classes costs twenty calls per node; dispatching on the op (and the scalar
    op of an Elemwise) first makes it one. Errors still name the rule that raised, and
    ``config.print_rewrites`` names the rule that applied.
    """

    def run(ctx, node):
        for rule in table.get(key(node), ()):
            try:
                result = rule.fn(ctx, node)
            except Exception as exc:
                message = f"canonicalize rule {rule.name!r}: {type(exc).__name__}: {exc}"
                if config.on_rewrite_error == "warn":
                    warnings.warn(f"{message} on {node} (skipped)", stacklevel=2)
                    continue
                raise RuntimeError(message) from exc
            if result is not None and result is not False and result != [None]:
                if config.print_rewrites:
                    print(f"canonicalize rule {rule.name} on {node}", file=sys.stdout)
                return result
        return None

    return Rule(name, run, None)


def _grouped_rules() -> list[Rule]:
    by_scalar: dict[str, list[Rule]] = {}
    for rule, names in _ELEMWISE_KEYS.items():
        for n in names:
            by_scalar.setdefault(n, []).append(rule)
    by_class: dict[type, list[Rule]] = {}
    generic = []
    for rule in CANONICALIZE_RULES:
        if rule in _ELEMWISE_KEYS:
            continue
        if rule.ops is None:
            generic.append(rule)
            continue
        for cls in rule.ops:
            by_class.setdefault(cls, []).append(rule)
    return [
        _dispatching_rule("canonicalize_elemwise", by_scalar, _elemwise_name),
        _dispatching_rule("canonicalize_structure", by_class, lambda node: type(node.op)),
        *generic,
    ]


CANONICALIZE = RulePass("canonicalize", _grouped_rules())
