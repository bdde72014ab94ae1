"""Reading shapes and knowing them when the graph is built: the size ops (:class:`Shape`,
:class:`Shape_i`, ``x.shape``, ``x.size``, :class:`MakeVector`), build-time constant folding
(:func:`get_scalar_constant_value`, :func:`get_vector_length`, :func:`infer_static_shape`),
the parsing of shape arguments shared by the shape-taking functions, and symbolic shapes
(:func:`symbolic_shape`).

The ops that change or assert shapes (``reshape``, ``specify_shape``...) are in
:mod:`symgraph.tensor.shape`, which re-exports everything public here: import from there
(``from symgraph.tensor.shape import symbolic_shape``) or use ``st.*``.

Folding and the size ops live together because folding recognises the size ops: a
``Shape``/``Shape_i`` of a statically known dimension is a constant, and a ``MakeVector``
of partly known entries is a partly known vector.

Symbolic shapes and ``infer_shape``
------------------------------------
:func:`symbolic_shape` walks a graph calling each op's ``infer_shape``. The
``input_shapes`` it passes are tuples with one int64 0-d variable per dimension: a
:class:`~symgraph.graph.basic.Constant` where the input's static size is known, a
symbolic scalar otherwise (PyTensor's convention). ``infer_shape`` may return Python
ints or integer scalar variables; they are converted to int64 variables.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.null_type import disconnected_type
from symgraph.graph.op import Op
from symgraph.graph.utils import MethodNotDefined
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.type import TensorType
from symgraph.tensor.variable import TensorVariable, tensor_method

__all__ = [
    "Shape",
    "Shape_i",
    "MakeVector",
    "NotScalarConstantError",
    "shape",
    "shape_i",
    "shape_tuple",
    "make_vector",
    "get_scalar_constant_value",
    "get_vector_length",
    "infer_static_shape",
    "symbolic_shape",
]

_INT_KINDS = "iu"


class NotScalarConstantError(ValueError):
    """A variable's value cannot be determined when the graph is built."""


# --------------------------------------------------------------------------- small helpers


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _normalize_axis(axis: Any, ndim: int, what: str) -> int:
    if not _is_int(axis):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(int(axis), ndim, what)
    return int(axis) % ndim


def _normalize_axes(axis: Any, ndim: int, what: str) -> tuple[int, ...]:
    """``axis`` (an int or a sequence of them) as sorted non-negative ints, no repeats."""
    axes = (axis,) if _is_int(axis) else tuple(axis)
    out = tuple(_normalize_axis(a, ndim, what) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def _int_scalar(x: Any, what: str) -> TensorVariable:
    """``x`` as an integer 0-d variable (Python ints become int64 constants)."""
    if _is_int(x):
        return constant(int(x), dtype="int64")
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in _INT_KINDS:
        return constant(x.astype("int64"))
    v = as_tensor_variable(x)
    if v.ndim != 0 or v.dtype[0] not in "iu":
        raise TypeError(f"{what}: shape entries must be integer scalars, got {v} of type {v.type}")
    return v


def _shape_entries(x: TensorVariable) -> list:
    """Per dimension of ``x``: its static size (an int) or ``shape_i(x, d)``."""
    return [s if s is not None else Shape_i(d)(x) for d, s in enumerate(x.type.shape)]


def _prod(entries: Sequence[Any]) -> Any:
    """Product of ints and/or integer scalar variables (an int when all are ints)."""
    from symgraph.tensor.basic import mul

    ints = [int(e) for e in entries if _is_int(e)]
    syms = [e for e in entries if not _is_int(e)]
    const = int(np.prod(ints, dtype=np.int64)) if ints else 1
    if not syms:
        return const
    out = syms[0]
    for e in syms[1:]:
        out = mul(out, e)
    return out if const == 1 else mul(out, const)


# --------------------------------------------------------------------------- build-time folding

# Build-time folding only evaluates small integer graphs (shape arithmetic): nodes whose
# outputs are scalars or short vectors, at most this many of them per query.
_FOLD_MAX_NODES = 64
_FOLD_MAX_LEN = 64
_FOLD_MAX_INPUT = 4096  # elements: no large reductions of big constants at build time


def _fold(var: Variable, memo: dict | None = None, budget: list | None = None) -> np.ndarray | None:
    """``var``'s value if it follows cheaply from constants and static shapes, else ``None``."""
    if memo is None:
        memo = {}
    if budget is None:
        budget = [_FOLD_MAX_NODES]
    if var in memo:
        return memo[var]
    memo[var] = None  # provisional: guards against revisiting while computing
    result = _fold_uncached(var, memo, budget)
    memo[var] = result
    return result


def _fold_uncached(var: Variable, memo: dict, budget: list) -> np.ndarray | None:
    if isinstance(var, Constant):
        return np.asarray(var.data)
    node = var.owner
    if node is None or not isinstance(var.type, TensorType):
        return None
    op = node.op
    if isinstance(op, Shape):
        static = node.inputs[0].type.shape
        return None if None in static else np.asarray(static, dtype="int64")
    if isinstance(op, Shape_i):
        size = node.inputs[0].type.shape[op.i]
        return None if size is None else np.asarray(size, dtype="int64")
    for out in node.outputs:
        if not isinstance(out.type, TensorType) or out.ndim > 1:
            return None
        if out.ndim == 1 and (out.type.shape[0] is None or out.type.shape[0] > _FOLD_MAX_LEN):
            return None
    budget[0] -= 1
    if budget[0] < 0:
        return None
    values = []
    for k, inp in enumerate(node.inputs):
        if not isinstance(inp.type, TensorType):
            return None
        value = _fold(inp, memo, budget)
        if value is None and k == 0 and _is_basic_index(op) and inp.ndim == 1:
            return _fold_selection(node, var, memo, budget)
        if value is None or value.size > _FOLD_MAX_INPUT:
            return None
        values.append(value)
    results = _run(node, values)
    if results is None:
        return None
    for out, value in zip(node.outputs, results):
        memo[out] = value
    return memo[var]


def _run(node: Apply, values: list) -> list | None:
    """Run ``node``'s perform on ``values`` quietly; ``None`` if it fails."""
    storage = [[None] for _ in node.outputs]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node.op.perform(node, values, storage)
    except Exception:  # noqa: BLE001  (the error will surface when the graph runs)
        return None
    return [None if cell[0] is None else np.asarray(cell[0]) for cell in storage]


def _is_basic_index(op: Op) -> bool:
    """Whether ``op`` is basic indexing, which only selects entries of its first input."""
    from symgraph.tensor import subtensor

    return type(op) is getattr(subtensor, "Subtensor", None)


# Stand-ins for unknown entries of a partly known vector: a selection that gives the same
# result with both did not pick an unknown entry.
_SENTINELS = (-(2**40) - 7, 2**40 + 11)


def _fold_selection(node: Apply, var: Variable, memo: dict, budget: list) -> np.ndarray | None:
    """Fold ``x.shape[0]``-like selections from a vector whose entries are partly known."""
    partial = _partial_vector(node.inputs[0], memo, budget)
    if partial is None or all(e is None for e in partial):
        return None
    rest = [_fold(inp, memo, budget) for inp in node.inputs[1:]]
    if any(r is None for r in rest):
        return None
    dtype = node.inputs[0].type.numpy_dtype
    outs = []
    for sentinel in _SENTINELS:
        filled = np.array([sentinel if e is None else e for e in partial], dtype=dtype)
        result = _run(node, [filled, *rest])
        if result is None or result[var.index] is None:
            return None
        outs.append(result[var.index])
    if outs[0].shape != outs[1].shape or not np.array_equal(outs[0], outs[1]):
        return None
    return outs[0]


def _partial_vector(v: Variable, memo: dict, budget: list) -> list | None:
    """Per entry of the integer vector ``v``, its value if known at build time."""
    if not isinstance(v.type, TensorType) or v.ndim != 1 or v.dtype[0] not in "iu":
        return None
    owner = v.owner
    if owner is not None and isinstance(owner.op, Shape):
        return list(owner.inputs[0].type.shape)
    if owner is not None and isinstance(owner.op, MakeVector):
        out = []
        for e in owner.inputs:
            value = _fold(e, memo, budget)
            out.append(None if value is None else int(value))
        return out
    return None


def get_scalar_constant_value(v: Any) -> Any:
    """The value of ``v`` as a NumPy scalar when it is known at build time.

    ``v`` may be a Python or NumPy number, a constant, or a small integer expression of
    constants and statically known sizes (``shape_i(x, 0)``, ``x.shape[0] * 2``...).
    Raises :class:`NotScalarConstantError` otherwise.
    """
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return np.asarray(v)[()]
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise NotScalarConstantError(f"{v!r} is not a scalar")
        return v.reshape(())[()]
    if not isinstance(v, Variable):
        raise NotScalarConstantError(f"{v!r} is not a scalar constant")
    value = _fold(v)
    if value is None or value.size != 1:
        raise NotScalarConstantError(f"{v} is not a constant scalar when the graph is built")
    return value.reshape(())[()]


def _static_int(v: Any) -> int | None:
    """``v`` as a Python int when it is known at build time, else ``None``."""
    try:
        return int(get_scalar_constant_value(v))
    except (NotScalarConstantError, TypeError, ValueError):
        return None


def get_vector_length(v: Any) -> int:
    """The static length of the vector ``v`` (a variable or a sequence); ``ValueError`` if unknown."""
    if isinstance(v, (list, tuple)):
        return len(v)
    v = as_tensor_variable(v)
    if v.ndim != 1:
        raise ValueError(f"{v} of type {v.type} is not a vector")
    if v.type.shape[0] is None:
        raise ValueError(f"the length of {v} (type {v.type}) is not known when the graph is built")
    return v.type.shape[0]


# --------------------------------------------------------------------------- Shape, Shape_i


class _SizeOp(Op):
    """Shared parts of the ops reading sizes: integer outputs that carry no gradient."""

    def connection_pattern(self, node):
        # Sizes are integers: no gradient flows from a shape to the values it measures.
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type()]

    def R_op(self, inputs, eval_points):
        return [None]


class Shape(_SizeOp):
    """The shape of a tensor, as an int64 vector whose static length is the tensor's rank."""

    __props__ = ()

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape, dtype="int64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[0].ndim,)]


class Shape_i(_SizeOp):
    """The size of dimension ``i`` of a tensor, as an int64 scalar."""

    __props__ = ("i",)

    def __init__(self, i: int):
        if not _is_int(i) or i < 0:
            raise TypeError(f"Shape_i: i must be a non-negative int, got {i!r}")
        self.i = int(i)

    def __str__(self):
        return f"Shape_i{{{self.i}}}"

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.i >= x.ndim:
            raise ValueError(f"{self}: {x} of type {x.type} has no dimension {self.i}")
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape[self.i], dtype="int64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]


def shape(x: Any) -> TensorVariable:
    """The shape of ``x`` as an int64 vector variable (also ``x.shape``).

    Index it (``x.shape[0]``) once indexing is available; :func:`shape_i` gives one size
    directly.
    """
    return Shape()(x)




def shape_i(x: Any, i: int) -> TensorVariable:
    """The size of dimension ``i`` of ``x`` (negative ``i`` counts from the end), an int64
    scalar; a constant when the size is statically known."""
    x = as_tensor_variable(x)
    i = _normalize_axis(i, x.ndim, "shape_i")
    if x.type.shape[i] is not None:
        return constant(x.type.shape[i], dtype="int64")
    return Shape_i(i)(x)


def shape_tuple(x: Any) -> tuple[TensorVariable, ...]:
    """The sizes of ``x``'s dimensions as a tuple of int64 scalars (constants where static)."""
    x = as_tensor_variable(x)
    return tuple(shape_i(x, d) for d in range(x.ndim))


@tensor_method("shape", as_property=True)
def _shape_property(self) -> TensorVariable:
    """The shape as an int64 vector variable (see :func:`shape`)."""
    return shape(self)


@tensor_method("size", as_property=True)
def _size_property(self) -> TensorVariable:
    """The number of elements, an int64 scalar (a constant when the shape is static)."""
    total = _prod(_shape_entries(self))
    return constant(total, dtype="int64") if _is_int(total) else total


# --------------------------------------------------------------------------- MakeVector


class MakeVector(Op):
    """A vector from scalars: ``MakeVector("int64")(a, b, c)`` is ``[a, b, c]``.

    Inputs must be 0-d and safely castable to ``dtype``; Python numbers become constants.
    Used to build shape vectors from symbolic sizes.
    """

    __props__ = ("dtype",)

    def __init__(self, dtype: Any = "int64"):
        from symgraph.tensor.type import normalize_dtype

        self.dtype = normalize_dtype(dtype)

    def __str__(self):
        return "MakeVector" if self.dtype == "int64" else f"MakeVector{{{self.dtype}}}"

    def make_node(self, *inputs: Any) -> Apply:
        converted = []
        for i, x in enumerate(inputs):
            v = constant(x, dtype=self.dtype) if isinstance(x, (bool, int, float, np.number)) else as_tensor_variable(x)
            if v.ndim != 0:
                raise TypeError(f"{self}: input {i} ({v}, type {v.type}) is not a scalar")
            if not np.can_cast(v.dtype, self.dtype, "safe"):
                raise TypeError(f"{self}: input {i} ({v}) of dtype {v.dtype} cannot be safely cast to {self.dtype}")
            converted.append(v)
        return Apply(self, converted, [TensorType(self.dtype, (len(converted),))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array([np.asarray(v).item() for v in inputs], dtype=self.dtype).reshape(
            (len(inputs),)
        )

    def infer_shape(self, fgraph, node, input_shapes):
        return [(len(node.inputs),)]

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if not inputs:
            return []
        from symgraph.tensor.join import split_sizes
        from symgraph.tensor.shape import reshape

        pieces = split_sizes(g, [1] * len(inputs), len(inputs)) if len(inputs) > 1 else [g]
        grads = []
        for inp, piece in zip(inputs, pieces):
            gi = reshape(piece, ())
            if gi.dtype != inp.dtype:
                from symgraph.tensor.basic import cast

                gi = cast(gi, inp.dtype)
            grads.append(gi)
        return grads

    def R_op(self, inputs, eval_points):
        if all(e is None for e in eval_points):
            return [None]
        from symgraph.tensor.creation import zeros_like

        return [self(*(zeros_like(x) if e is None else e for x, e in zip(inputs, eval_points)))]


def make_vector(*entries: Any, dtype: Any = "int64") -> TensorVariable:
    """A ``dtype`` vector of the scalars ``entries`` (ints or 0-d variables)."""
    return MakeVector(dtype)(*entries)


def _vector_elements(v: TensorVariable) -> list[TensorVariable]:
    """The entries of the integer vector ``v`` (of static length) as integer 0-d variables."""
    if isinstance(v, Constant):
        return [constant(int(e), dtype="int64") for e in np.asarray(v.data).reshape(-1)]
    owner = v.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        return list(owner.inputs)
    if owner is not None and isinstance(owner.op, Shape):
        return list(shape_tuple(owner.inputs[0]))
    n = get_vector_length(v)
    if not hasattr(TensorVariable, "__getitem__"):
        raise MethodNotDefined(f"taking the entries of {v} needs indexing, which is not available")
    return [v[i] for i in range(n)]


def _as_shape_entries(shape_: Any, what: str) -> list[TensorVariable]:
    """A shape argument (int, sequence, or integer vector variable) as a list of int scalars."""
    if _is_int(shape_) or (isinstance(shape_, Variable) and getattr(shape_.type, "ndim", None) == 0):
        return [_int_scalar(shape_, what)]
    if isinstance(shape_, np.ndarray):
        if shape_.ndim != 1 or (shape_.size and shape_.dtype.kind not in _INT_KINDS):
            raise TypeError(f"{what}: a shape array must be a 1-d integer array, got {shape_!r}")
        return [_int_scalar(int(e), what) for e in shape_]
    if isinstance(shape_, Variable):
        v = as_tensor_variable(shape_)
        if v.ndim != 1 or v.dtype[0] not in "iu":
            raise TypeError(f"{what}: a shape must be an integer vector, got {v} of type {v.type}")
        return _vector_elements(v)
    try:
        entries = list(shape_)
    except TypeError:
        raise TypeError(f"{what}: expected a shape (an int, a sequence, or an integer vector), got {shape_!r}") from None
    return [_int_scalar(e, what) for e in entries]


def _as_shape_vector(shape_: Any, what: str) -> TensorVariable:
    """A shape argument as an integer vector variable (kept as is when it already is one)."""
    if isinstance(shape_, Variable) and getattr(shape_.type, "ndim", None) == 1:
        v = as_tensor_variable(shape_)
        if v.dtype[0] not in "iu":
            raise TypeError(f"{what}: a shape must be an integer vector, got {v} of type {v.type}")
        return v
    entries = _as_shape_entries(shape_, what)
    if all(isinstance(e, Constant) for e in entries):
        return constant(np.array([int(e.data) for e in entries], dtype="int64").reshape(len(entries)))
    return MakeVector("int64")(*entries)


def infer_static_shape(shape_: Any) -> tuple[list[TensorVariable], tuple[int | None, ...]]:
    """Validate a shape argument and fold what is known at build time.

    Returns the entries as integer scalar variables and the static shape (an int per
    entry whose value is known when the graph is built, else ``None``).
    """
    entries = _as_shape_entries(shape_, "infer_static_shape")
    return entries, tuple(_static_int(e) for e in entries)


def _static_vector(v: TensorVariable) -> list[int | None]:
    """Per entry of the vector ``v`` (of static length), its value if known at build time."""
    memo: dict = {}
    budget = [_FOLD_MAX_NODES]
    folded = _fold(v, memo, budget)
    if folded is not None:
        return [int(e) for e in folded.reshape(-1)]
    partial = _partial_vector(v, memo, budget)
    return partial if partial is not None else [None] * v.type.shape[0]


# --------------------------------------------------------------------------- symbolic_shape


def _as_shape_scalar(entry: Any, node: Apply) -> TensorVariable | None:
    """An ``infer_shape`` result entry as an int64 0-d variable (``None`` stays ``None``)."""
    if entry is None:
        return None
    if _is_int(entry):
        return constant(int(entry), dtype="int64")
    v = as_tensor_variable(entry)
    if v.ndim != 0 or v.dtype[0] not in "iu":
        raise TypeError(f"{node.op}.infer_shape returned {v} of type {v.type}; shape entries must be integer scalars")
    if v.dtype != "int64":
        if isinstance(v, Constant):
            return constant(int(v.data), dtype="int64")
        from symgraph.tensor.basic import cast

        v = cast(v, "int64")
    return v


def _node_shapes(node: Apply, memo: dict) -> list:
    """The shapes of ``node``'s outputs from its op's ``infer_shape`` (``None`` if it has none)."""
    input_shapes = [memo.get(inp) if isinstance(inp.type, TensorType) else None for inp in node.inputs]
    try:
        result = node.op.infer_shape(None, node, input_shapes)
    except (MethodNotDefined, NotImplementedError):
        return [None] * len(node.outputs)
    if len(result) != len(node.outputs):
        raise ValueError(f"{node.op}.infer_shape returned {len(result)} shapes for {len(node.outputs)} outputs")
    shapes = []
    for out, shp in zip(node.outputs, result):
        if shp is None or not isinstance(out.type, TensorType):
            shapes.append(None)
            continue
        shp = tuple(shp)
        if len(shp) != out.ndim:
            raise ValueError(
                f"{node.op}.infer_shape returned {len(shp)} sizes for output {out.index}, which is {out.ndim}-d"
            )
        shapes.append(tuple(_as_shape_scalar(s, node) for s in shp))
    return shapes


def _finish(var: Variable, inferred: tuple | None) -> tuple:
    """Static sizes win; missing entries fall back to ``Shape_i`` of the variable itself."""
    out = []
    for d, static in enumerate(var.type.shape):
        if static is not None:
            out.append(constant(static, dtype="int64"))
        elif inferred is not None and inferred[d] is not None:
            out.append(inferred[d])
        else:
            out.append(Shape_i(d)(var))
    return tuple(out)


def symbolic_shape(var: Any, fallback: bool = True) -> tuple[TensorVariable, ...]:
    """The shape of ``var`` as a tuple of int64 0-d variables, from the ops' ``infer_shape``.

    Walks the graph above ``var`` (each variable once), asking each op for its output
    shapes given its inputs' shapes. Static sizes are used as constants wherever the
    types know them. Roots, and outputs of ops without ``infer_shape``, fall back to
    ``shape_i(v, d)``, which computes ``v`` itself.

    With ``fallback=False``, ``var``'s own op must implement ``infer_shape``
    (:class:`MethodNotDefined` is raised otherwise); this is how tests check an op's
    ``infer_shape`` is used rather than the op being run for its shape.
    """
    var = as_tensor_variable(var)
    if not fallback and var.owner is not None and None in var.type.shape:
        op = var.owner.op
        if type(op).infer_shape is Op.infer_shape:
            raise MethodNotDefined(f"{op} does not implement infer_shape")
    memo: dict[Variable, tuple] = {}
    # Depth-first, without recursion: deep graphs must not hit the recursion limit.
    stack: list[tuple[Variable, bool]] = [(var, False)]
    while stack:
        v, expanded = stack.pop()
        if v in memo:
            continue
        node = v.owner
        if node is None or None not in v.type.shape:
            memo[v] = _finish(v, None)
            continue
        if not expanded:
            stack.append((v, True))
            for inp in node.inputs:
                if isinstance(inp.type, TensorType) and inp not in memo:
                    stack.append((inp, False))
            continue
        for out, inferred in zip(node.outputs, _node_shapes(node, memo)):
            if isinstance(out.type, TensorType) and out not in memo:
                memo[out] = _finish(out, inferred)
    return memo[var]

