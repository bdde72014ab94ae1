"""Elementwise operations (:class:`Elemwise`) and dimension shuffling (:class:`DimShuffle`).

An :class:`Elemwise` applies a :class:`~symgraph.tensor.scalar_ops.ScalarOp` to every
element of its inputs, broadcasting them against each other like NumPy. Inputs of lower
rank are first left-padded with broadcastable dimensions through a :class:`DimShuffle`,
so the node's inputs always have the output's rank.

Broadcasting rule (PyTensor's)
------------------------------
A dimension of an input broadcasts (is repeated to the output's size) only if its *static*
size is 1, i.e. its type says so (``st.tensor(shape=(1, None))``, a ``dimshuffle("x", ...)``,
``expand_dims``, ``specify_shape``...). An input whose static size is unknown (``None``) must
have the output's size at run time: a size of 1 there is a ``ValueError`` rather than a
silent broadcast. This makes gradients exact (the gradient of a broadcast input is summed
over exactly its statically broadcastable dimensions), :meth:`Elemwise.infer_shape` exact,
and lets compiled backends know the broadcast dimensions when the graph is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable
from symgraph.graph.null_type import DisconnectedType, disconnected_type, grad_undefined
from symgraph.graph.op import Op
from symgraph.tensor.scalar_ops import UNDEFINED, ScalarOp, get_scalar_op
from symgraph.tensor.type import TensorType, _format_shape

__all__ = ["Elemwise", "DimShuffle", "is_weak_scalar"]


def is_weak_scalar(x: Any) -> bool:
    """Whether ``x`` is a Python ``bool``/``int``/``float`` (not a NumPy scalar).

    Such values are "weak" in NumPy 2 promotion: they adopt the dtype of the tensors they
    are combined with when their value fits.
    """
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def _is_discrete(dtype: str) -> bool:
    return np.dtype(dtype).kind in "biu"


def _convert_inputs(
    op_name: str, inputs: Sequence[Any], promoted_from: int = 0, widen_unfit: bool = False
) -> list[Variable]:
    """Turn ``inputs`` into tensor variables, giving weak Python scalars a NumPy 2 dtype.

    Only ``inputs[promoted_from:]`` take part in promotion (``where``'s condition does not);
    weak scalars before that index get the usual defaults. A weak scalar that does not fit
    the promoted dtype is a ``TypeError``, unless ``widen_unfit`` (comparisons, where NumPy 2
    compares ``int8_array < 300`` exactly): it then keeps its default dtype.
    """
    from symgraph.tensor.basic import as_tensor_variable, constant

    converted: list[Any] = [
        None if is_weak_scalar(x) and i >= promoted_from else as_tensor_variable(x) for i, x in enumerate(inputs)
    ]
    strong_dtypes = [v.dtype for i, v in enumerate(converted) if v is not None and i >= promoted_from]
    if not strong_dtypes:
        # Nothing to adopt a dtype from: the usual defaults (floatX, int64, bool).
        return [as_tensor_variable(x) for x in inputs]
    weak = [x for i, x in enumerate(inputs) if converted[i] is None]
    if weak:
        # NumPy 2 promotion with the Python values weak, e.g. (float32, 1.0) -> float32,
        # (int32, 1.5) -> float64. Weak scalars get the promoted dtype.
        dtype = np.result_type(*strong_dtypes, *weak).name
        for i, x in enumerate(inputs):
            if converted[i] is None:
                try:
                    converted[i] = constant(x, dtype=dtype)
                except TypeError:
                    if widen_unfit:
                        converted[i] = as_tensor_variable(x)
                        continue
                    raise TypeError(
                        f"{op_name}: the Python {type(x).__name__} {x!r} (input {i}) does not fit "
                        f"{dtype}, the dtype of the other operands (Python numbers take the "
                        "tensors' dtype, as in NumPy 2); make it a constant of a wider dtype "
                        "explicitly, e.g. st.constant(value, dtype=...)"
                    ) from None
    return converted


def _broadcast_error(op: Op, node: Apply, values: Sequence[np.ndarray], d: int, i: int, j: int) -> ValueError:
    """The error for inputs ``i`` and ``j`` having different run-time sizes in dimension ``d``."""
    sizes = {i: values[i].shape[d], j: values[j].shape[d]}
    ones = [k for k in (i, j) if sizes[k] == 1]
    if ones:
        k = ones[0]
        other = j if k == i else i
        inp = node.inputs[k]
        return ValueError(
            f"{op}: input {k} (type {inp.type}) has size 1 in dimension {d} at run time, but "
            f"input {other} has size {sizes[other]} there. Input {k}'s type does not declare "
            f"dimension {d} broadcastable (its static size is unknown, not 1), and only "
            "dimensions of static size 1 broadcast. Declare it where the input is made, e.g. "
            "st.tensor(shape=(..., 1, ...)), or with st.specify_shape, expand_dims or "
            "dimshuffle('x', ...)."
        )
    return ValueError(
        f"{op}: inputs could not be broadcast together: input {i} has shape {values[i].shape} "
        f"and input {j} has shape {values[j].shape} (sizes {sizes[i]} and {sizes[j]} in dimension {d})"
    )


def _check_runtime_shapes(op: Op, node: Apply, values: Sequence[np.ndarray]) -> None:
    """Raise ``ValueError`` unless the input values broadcast under the static-1 rule."""
    for d in range(node.outputs[0].type.ndim):
        first = None
        for k, inp in enumerate(node.inputs):
            if inp.type.shape[d] == 1:
                continue  # statically broadcastable: its value has size 1 there
            if first is None:
                first = k
            elif values[k].shape[d] != values[first].shape[d]:
                raise _broadcast_error(op, node, values, d, first, k)


# (scalar op name, input dtypes) -> whether the raw NumPy function gives the output dtype
_FAST_OK: dict[tuple, bool] = {}


def _raw_function_gives(scalar_op: ScalarOp, in_dtypes: tuple[str, ...], out_dtype: np.dtype) -> bool:
    key = (scalar_op.name, in_dtypes)
    ok = _FAST_OK.get(key)
    if ok is None:
        try:
            with np.errstate(all="ignore"):
                probe = scalar_op.spec.impl(*(np.ones(1, dtype=d) for d in in_dtypes))
            ok = np.asarray(probe).dtype == out_dtype
        except Exception:  # noqa: BLE001 - any failure just means "use perform"
            ok = False
        _FAST_OK[key] = ok
    return ok


def _times(g: Variable, partial: Any, T) -> Variable:
    """``g * partial`` for a derivative entry (a tensor or a Python number)."""
    if is_weak_scalar(partial):
        if partial == 1:
            return g
        if partial == -1:
            return T.neg(g)
    return T.mul(g, partial)


def _zeros_like(var: Variable, dtype: str) -> Variable:
    """Zeros with ``var``'s shape and ``dtype`` (PyTensor's ``zeros_like``: ``second(var, 0)``)."""
    from symgraph.tensor import basic as T

    return T.second(var, T.constant(0, dtype=dtype))


def _zero_grad(var: Variable) -> Variable:
    """The zero gradient of ``var``: of its dtype if float, else ``config.floatX`` (PyTensor's rule)."""
    return _zeros_like(var, config.floatX if _is_discrete(var.dtype) else var.dtype)


def broadcast_shape(static: Sequence[int | None], inputs: Sequence[Variable], input_shapes: Sequence[Sequence[Any]]) -> tuple:
    """The shape of an elementwise result of static shape ``static`` over ``inputs``.

    Per dimension: the static size when known; otherwise the size of the first input not
    statically 1 there; 1 when all are. Exact under the broadcasting rule (every input not
    statically 1 in a dimension has the result's size there).
    """
    result = []
    for d, size in enumerate(static):
        if size is not None:
            result.append(size)
            continue
        for inp, shp in zip(inputs, input_shapes):
            if inp.type.shape[d] != 1:
                result.append(shp[d])
                break
        else:
            result.append(1)
    return tuple(result)


class Elemwise(Op):
    """Apply a scalar operation elementwise, with NumPy broadcasting.

    Parameters
    ----------
    scalar_op
        A :class:`~symgraph.tensor.scalar_ops.ScalarOp`, or its name (``"add"``).
    inplace_pattern
        Pairs ``(output index, input index)`` (or a dict) of outputs written into an input's
        memory; ``destroy_map`` follows from it. Rewrites set it; users normally do not.

    The output dtype follows the scalar op's dtype rule. The output static shape has, per
    dimension, 1 if every input is statically 1 there, the known non-1 size if an input
    has one, else ``None``. Static sizes that cannot broadcast raise ``ValueError`` when
    the node is built; at run time only statically-1 dimensions broadcast (see the module
    docstring).

    Gradients (:meth:`L_op`) and the R_op come from the scalar table's ``derivative``
    column; integer and boolean inputs and outputs get zero gradients.
    """

    __props__ = ("scalar_op", "inplace_pattern")

    def __init__(self, scalar_op: ScalarOp | str, inplace_pattern: Any = ()):
        if isinstance(scalar_op, str):
            scalar_op = get_scalar_op(scalar_op)
        if not isinstance(scalar_op, ScalarOp):
            raise TypeError(f"Elemwise needs a ScalarOp or its name, got {scalar_op!r}")
        if isinstance(inplace_pattern, dict):
            inplace_pattern = inplace_pattern.items()
        pairs = tuple(sorted((int(o), int(i)) for o, i in inplace_pattern))
        outs = [o for o, _ in pairs]
        if len(set(outs)) != len(outs):
            raise ValueError(f"Elemwise: inplace_pattern {pairs} writes an output into two inputs")
        if any(o != 0 for o in outs):
            raise ValueError(f"Elemwise({scalar_op}) has a single output; inplace_pattern {pairs} is invalid")
        self.scalar_op = scalar_op
        self.inplace_pattern = pairs
        # Instance attribute shadowing Op.destroy_map; derived so the two cannot disagree.
        self.destroy_map = {o: [i] for o, i in pairs}

    def __str__(self) -> str:
        base = str(self.scalar_op)
        if self.inplace_pattern:
            return f"{base}{{inplace={self.inplace_pattern}}}"
        return base

    # ------------------------------------------------------------------ building

    def make_node(self, *inputs: Any) -> Apply:
        """Build the node on ``inputs`` (tensors, arrays or Python numbers), broadcasting them."""
        self.scalar_op.check_arity(len(inputs))
        variables = _convert_inputs(
            str(self), inputs, self.scalar_op.promoted_from, self.scalar_op.spec.dtype_rule == "bool"
        )
        out_dtype = self.scalar_op.check_dtypes(*(v.dtype for v in variables))
        out_shape = self._broadcast_static_shapes(variables)
        ndim = len(out_shape)
        padded = [
            v if v.ndim == ndim else DimShuffle(v.ndim, ("x",) * (ndim - v.ndim) + tuple(range(v.ndim)))(v)
            for v in variables
        ]
        for o, i in self.inplace_pattern:
            if i >= len(padded):
                raise ValueError(f"{self}: inplace_pattern names input {i}, but there are {len(padded)} inputs")
            dest = padded[i].type
            if dest.dtype != out_dtype or any(d == 1 and s != 1 for d, s in zip(dest.shape, out_shape)):
                raise TypeError(
                    f"{self}: output {o} ({out_dtype}, shape {_format_shape(out_shape)}) cannot be "
                    f"written into input {i} of type {dest}"
                )
        out_type = TensorType(out_dtype, out_shape)
        return Apply(self, padded, [out_type()])

    def _broadcast_static_shapes(self, variables: Sequence[Variable]) -> tuple[int | None, ...]:
        """The output static shape, raising ``ValueError`` if static sizes cannot broadcast."""
        ndim = max(v.ndim for v in variables)
        # Right-aligned, like NumPy: missing leading dims behave as size 1.
        shapes = [(1,) * (ndim - v.ndim) + v.type.shape for v in variables]
        out: list[int | None] = []
        for d in range(ndim):
            known: dict[int, int] = {}  # size -> first input index having it
            all_one = True
            for k, shp in enumerate(shapes):
                size = shp[d]
                if size != 1:
                    all_one = False
                if size is not None and size != 1:
                    known.setdefault(size, k)
            if len(known) > 1:
                (s1, i1), (s2, i2) = list(known.items())[:2]
                raise ValueError(
                    f"{self}: inputs cannot be broadcast together: input {i1} has shape "
                    f"{_format_shape(variables[i1].type.shape)} and input {i2} has shape "
                    f"{_format_shape(variables[i2].type.shape)} (sizes {s1} and {s2} in "
                    f"dimension {d} of the {ndim}-d result)"
                )
            out.append(1 if all_one else next(iter(known), None))
        return tuple(out)

    # ------------------------------------------------------------------ evaluation

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        if len(inputs) > 1:
            _check_runtime_shapes(self, node, inputs)
        out_type = node.outputs[0].type
        result = self.scalar_op.impl(*inputs)
        # ufuncs on 0-d inputs return NumPy scalars; values must be ndarrays of the out dtype.
        result = np.asarray(result, dtype=out_type.numpy_dtype)
        if self.inplace_pattern:
            _, i = self.inplace_pattern[0]
            target = inputs[i]
            np.copyto(target, result)
            result = target
        output_storage[0][0] = result

    def make_py_thunk(self, node, storage_map, compute_map, no_recycling, debug=False):
        """A thunk specialised for the common case: no in-place output, inputs needing no
        conversion and a NumPy function that already returns the output dtype, so the
        function is called directly (this is most of the Python linker's per-call cost).
        Input shapes are compared and, only when they differ, checked against the
        broadcasting rule. Other cases run :meth:`perform`."""
        out_dtype = node.outputs[0].type.numpy_dtype
        in_dtypes = tuple(i.type.dtype for i in node.inputs)
        variadic = self.scalar_op.variadic
        if (
            self.inplace_pattern
            or debug
            or (variadic and len(node.inputs) != 2)
            or any(c is not None and c != d for c, d in zip(self.scalar_op.input_casts(*in_dtypes), in_dtypes))
            or not _raw_function_gives(self.scalar_op, in_dtypes, out_dtype)
        ):
            return super().make_py_thunk(node, storage_map, compute_map, no_recycling, debug)
        # The table's NumPy function itself: a binary variadic op is its plain ufunc.
        fn = self.scalar_op.spec.impl
        in_cells = [storage_map[v] for v in node.inputs]
        out_cell = storage_map[node.outputs[0]]
        flag = compute_map[node.outputs[0]] if compute_map is not None else [False]
        ndarray, asarray = np.ndarray, np.asarray
        check = _check_runtime_shapes
        op = self

        if len(in_cells) == 2:
            a_cell, b_cell = in_cells

            def thunk():
                a, b = a_cell[0], b_cell[0]
                if a.shape != b.shape:
                    check(op, node, (a, b))
                r = fn(a, b)
                # ufuncs on 0-d inputs return NumPy scalars; values must be ndarrays.
                out_cell[0] = r if type(r) is ndarray else asarray(r)
                flag[0] = True

        elif len(in_cells) == 1:
            (a_cell,) = in_cells

            def thunk():
                r = fn(a_cell[0])
                out_cell[0] = r if type(r) is ndarray else asarray(r)
                flag[0] = True

        else:  # fixed arity above two (clip, where, ...)

            def thunk():
                values = [c[0] for c in in_cells]
                shape = values[0].shape
                if any(v.shape != shape for v in values):
                    check(op, node, values)
                r = fn(*values)
                out_cell[0] = r if type(r) is ndarray else asarray(r)
                flag[0] = True

        thunk.inputs, thunk.outputs = in_cells, [out_cell]
        thunk.lazy, thunk.node, thunk.perform = False, node, self.perform
        return thunk

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        """Output shape from the input shapes (ints or symbolic scalars).

        Per dimension: the static size when the output type knows it; otherwise the size of
        the first input that is not statically 1 there; 1 when all are. This is exact: by
        the broadcasting rule, every input not statically 1 in a dimension has the output's
        size there.
        """
        return [broadcast_shape(node.outputs[0].type.shape, node.inputs, input_shapes)]

    # ------------------------------------------------------------------ derivatives

    def _partials(self, inputs: Sequence[Variable], output: Variable) -> list[Any]:
        """One derivative entry per input, from the scalar table (all ``None`` when zero)."""
        from symgraph.tensor import basic as T

        rule = self.scalar_op.derivative
        if rule is None or _is_discrete(output.dtype):
            return [None] * len(inputs)
        partials = list(rule(T, tuple(inputs), output))
        if len(partials) != len(inputs):
            raise ValueError(f"{self}: the derivative rule gave {len(partials)} entries for {len(inputs)} inputs")
        return partials

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        """Gradients: ``gout * partial`` for each input, summed over the input's statically
        broadcast dimensions and cast to its dtype. Zero (of ``config.floatX`` for integer
        inputs) where the partial is zero or a dtype is discrete; ``grad_undefined`` where the
        table says the derivative does not exist."""
        from symgraph.tensor import basic as T
        from symgraph.tensor.reduction import unbroadcast

        (out,) = outputs
        (gout,) = output_grads
        if isinstance(gout.type, DisconnectedType):
            return [disconnected_type() for _ in inputs]
        partials = self._partials(inputs, out)
        grads = []
        for i, (inp, partial) in enumerate(zip(inputs, partials)):
            if partial is UNDEFINED:
                grads.append(grad_undefined(self, i, inp, "the scalar table marks this derivative as undefined"))
            elif partial is None or _is_discrete(inp.dtype):
                grads.append(_zero_grad(inp))
            else:
                g = unbroadcast(_times(gout, partial, T), inp)
                grads.append(T.cast(g, inp.dtype))
        return grads

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        """:meth:`L_op` with the node's output rebuilt from ``inputs``."""
        return self.L_op(inputs, [self.make_node(*inputs).outputs[0]], output_grads)

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        """Directional derivative ``sum_i partial_i * eval_point_i``, with the output's shape
        and dtype; ``[None]`` (no contribution) when every eval point is ``None``. Integer and
        boolean outputs give zeros of ``config.floatX``."""
        from symgraph.tensor import basic as T

        out = self.make_node(*inputs).outputs[0]
        if all(ev is None for ev in eval_points):
            return [None]
        if _is_discrete(out.dtype):
            return [_zeros_like(out, config.floatX)]
        partials = self._partials(inputs, out)
        terms = []
        for i, (inp, partial, ev) in enumerate(zip(inputs, partials, eval_points)):
            if ev is None or partial is None or _is_discrete(inp.dtype):
                continue
            if partial is UNDEFINED:
                return [grad_undefined(self, i, inp, "the R_op needs a derivative the scalar table marks as undefined")]
            terms.append(_times(T.as_tensor_variable(ev), partial, T))
        if not terms:
            return [_zeros_like(out, out.dtype)]
        result = terms[0] if len(terms) == 1 else T.add(*terms)
        if result.type.broadcastable != out.type.broadcastable:
            # e.g. only the (3, 1) input of a (3, 4) result has an eval point.
            result = T.second(out, result)
        return [T.cast(result, out.dtype)]


class DimShuffle(Op):
    """Reorder, insert (``"x"``) and drop dimensions of a tensor, returning a view.

    Parameters
    ----------
    input_ndim
        Rank of the input.
    new_order
        For each output dimension, the input dimension it takes or ``"x"`` for a new
        broadcastable (size 1) dimension. Input dimensions not listed are dropped; they must
        be statically of size 1.

    ``DimShuffle(2, (1, 0))`` transposes a matrix; ``DimShuffle(1, ("x", 0))`` makes a
    vector a row.
    """

    __props__ = ("input_ndim", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_ndim: int, new_order: Sequence[int | str]):
        if not isinstance(input_ndim, (int, np.integer)) or isinstance(input_ndim, bool) or input_ndim < 0:
            raise TypeError(f"DimShuffle: input_ndim must be a non-negative int, got {input_ndim!r}")
        order: list[int | str] = []
        for entry in new_order:
            if entry == "x" and isinstance(entry, str):
                order.append("x")
            elif isinstance(entry, (int, np.integer)) and not isinstance(entry, bool) and 0 <= entry < input_ndim:
                order.append(int(entry))
            else:
                raise ValueError(
                    f"DimShuffle: entries of new_order must be 'x' or ints in [0, {input_ndim}), "
                    f"got {entry!r} in {tuple(new_order)!r}"
                )
        kept = [e for e in order if e != "x"]
        if len(set(kept)) != len(kept):
            raise ValueError(f"DimShuffle: new_order {tuple(order)} uses an input dimension twice")
        self.input_ndim = int(input_ndim)
        self.new_order = tuple(order)
        self.shuffle = tuple(kept)
        self.drop = tuple(d for d in range(self.input_ndim) if d not in kept)
        self.augment = tuple(k for k, e in enumerate(order) if e == "x")

    def __str__(self) -> str:
        def axes_text(axes: tuple) -> str:
            return f"axis={axes[0]}" if len(axes) == 1 else f"axes={axes}"

        in_order = list(self.shuffle) == sorted(self.shuffle)
        if not self.augment and not self.drop and not in_order:
            return f"Transpose{{axes={self.shuffle}}}"
        if self.augment and not self.drop and in_order:
            return f"ExpandDims{{{axes_text(self.augment)}}}"
        if self.drop and not self.augment and in_order:
            return f"DropDims{{{axes_text(self.drop)}}}"
        order = ", ".join(str(e) for e in self.new_order)
        if len(self.new_order) == 1:
            order += ","
        return f"DimShuffle{{order=({order})}}"

    def make_node(self, x: Any) -> Apply:
        from symgraph.tensor.basic import as_tensor_variable

        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeError(f"{self} expects a {self.input_ndim}-d input, got {x} of type {x.type}")
        for d in self.drop:
            if x.type.shape[d] != 1:
                raise ValueError(
                    f"{self}: cannot drop dimension {d} of {x} (type {x.type}): only dimensions "
                    "whose static size is 1 can be dropped"
                )
        out_shape = tuple(1 if e == "x" else x.type.shape[e] for e in self.new_order)
        return Apply(self, [x], [TensorType(x.type.dtype, out_shape)()])

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        (x,) = inputs
        # Dropped (size-1) dims go last, then a reshape that only removes and inserts
        # size-1 dims, which NumPy always does without copying: the result is a view.
        res = np.transpose(x, self.shuffle + self.drop)
        new_shape = tuple(1 if e == "x" else x.shape[e] for e in self.new_order)
        output_storage[0][0] = res.reshape(new_shape)

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list[tuple]:
        (ishape,) = input_shapes
        return [tuple(1 if e == "x" else ishape[e] for e in self.new_order)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        """The output gradient shuffled back: new dimensions are summed away (dropped if
        statically 1), dropped ones come back as size 1, the order is inverted."""
        (x,) = inputs
        (gz,) = output_grads
        if isinstance(gz.type, DisconnectedType):
            return [disconnected_type()]
        if _is_discrete(x.dtype):
            return [_zero_grad(x)]
        from symgraph.tensor import basic as T

        gz = T.as_tensor_variable(gz)
        unsized = [a for a in self.augment if gz.type.shape[a] != 1]
        if unsized:
            # A gradient for a new dimension that is not statically 1: sum it (keepdims, so
            # the positions below still hold).
            from symgraph.tensor.reduction import sum as _sum

            gz = _sum(gz, axis=tuple(unsized), keepdims=True)
        kept_positions = [k for k, e in enumerate(self.new_order) if e != "x"]
        order = tuple(
            "x" if d in self.drop else kept_positions[self.shuffle.index(d)] for d in range(self.input_ndim)
        )
        gx = gz if order == tuple(range(gz.ndim)) else DimShuffle(gz.ndim, order)(gz)
        return [T.cast(gx, x.dtype)]

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list:
        """The same shuffle applied to the eval point (``[None]`` without one)."""
        (ev,) = eval_points
        if ev is None:
            return [None]
        return [self(ev)]
