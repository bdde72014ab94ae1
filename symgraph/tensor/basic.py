"""Building tensors: conversion, constants, input constructors and elementwise functions.

Dtype defaults
--------------
- Python ``float`` values (and sequences of them) become ``config.floatX``.
- Python ``int`` values become ``int64`` (PyTensor picks the smallest int dtype that fits;
  we keep NumPy's default so that constants and NumPy agree).
- Python ``bool`` values become ``bool``.
- NumPy arrays and scalars keep their dtype (an unsupported one such as float16 or uint16 is
  widened to the smallest supported dtype that holds it safely).

When Python numbers are combined with tensors in an elementwise function (or operator), they
do not use these defaults but adopt the tensors' dtype, as NumPy 2 does (see
:mod:`symgraph.tensor.variable`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Variable
from symgraph.graph.utils import add_tag_trace
from symgraph.tensor.elemwise import DimShuffle, Elemwise, is_weak_scalar
from symgraph.tensor.scalar_ops import SCALAR_OP_TABLE, ScalarOp, cast_op_name, get_scalar_op
from symgraph.tensor.type import TensorType, normalize_dtype
from symgraph.tensor.variable import TensorConstant, TensorVariable

__all__ = [
    "as_tensor_variable",
    "constant",
    "tensor",
    "scalar",
    "vector",
    "matrix",
    "tensor3",
    "tensor4",
    "elemwise_function",
    "cast",
]

# Supported dtypes in the order used to widen unsupported NumPy dtypes (first safe fit wins).
_WIDENING_ORDER = ("bool", "uint8", "int8", "int16", "int32", "int64", "float32", "float64")


# --------------------------------------------------------------------------- conversion


def _contains_variable(x: Any) -> bool:
    if isinstance(x, (Variable, Apply)):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains_variable(e) for e in x)
    return False


def _fit_ndim(var: TensorVariable, ndim: int) -> TensorVariable:
    """``var`` with rank ``ndim``, dropping leading dims that are statically of size 1."""
    if var.ndim == ndim:
        return var
    extra = var.ndim - ndim
    if extra > 0 and all(d == 1 for d in var.type.shape[:extra]):
        return DimShuffle(var.ndim, tuple(range(extra, var.ndim)))(var)
    raise ValueError(f"{var} of type {var.type} cannot be made {ndim}-d")


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None, dtype: Any = None) -> TensorVariable:
    """``x`` as a tensor variable.

    Tensor variables are returned as they are (``name`` is then ignored, so an existing
    variable is never renamed); an :class:`Apply` gives its default output; NumPy arrays,
    Python numbers and (nested) lists become constants via :func:`constant`. ``ndim``
    requests a rank: leading dimensions of static size 1 may be dropped to reach it (constants
    may also gain leading size-1 dimensions). ``dtype`` must match a variable's dtype (convert
    variables with :func:`cast`); for values it is the constant's dtype.

    Raises ``TypeError`` for variables of other types and for values that are not numeric.
    """
    if isinstance(x, Apply):
        x = x.default_output()
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(
                f"expected a tensor, got the variable {x} of type {x.type} "
                f"({type(x.type).__name__}), which is not a TensorType"
            )
        if dtype is not None and normalize_dtype(dtype) != x.dtype:
            raise TypeError(f"expected a {normalize_dtype(dtype)} tensor, got {x} of type {x.type}")
        if ndim is not None:
            x = _fit_ndim(x, ndim)
        return x
    if isinstance(x, (list, tuple)) and _contains_variable(x):
        raise TypeError(
            "cannot convert a list or tuple containing symbolic variables to a tensor "
            f"(got {x!r}); combining variables into one tensor needs a stacking op"
        )
    return constant(x, name=name, ndim=ndim, dtype=dtype)


def as_operand(x: Any) -> Any:
    """``x`` ready to be an elementwise operand: Python numbers stay as they are (weak), the
    rest goes through :func:`as_tensor_variable` (which raises ``TypeError`` if it cannot)."""
    if is_weak_scalar(x):
        return x
    return as_tensor_variable(x)


def _default_array(x: Any) -> np.ndarray:
    """``x`` as an array of a supported dtype, following the module's dtype defaults."""
    if isinstance(x, bool):
        return np.asarray(x, dtype=bool)
    if isinstance(x, int) and not isinstance(x, np.generic):
        info = np.iinfo(np.int64)
        if not info.min <= x <= info.max:
            raise TypeError(f"the Python int {x} does not fit in int64; give an explicit float dtype")
        return np.asarray(x, dtype=np.int64)
    if isinstance(x, float) and not isinstance(x, np.generic):
        return TensorType(config.floatX).filter(x)
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TypeError(f"cannot make a tensor constant from {type(x).__name__} {x!r}: {exc}") from None
    if isinstance(x, (list, tuple)) and (arr.size == 0 or arr.dtype == np.float64):
        # Sequences of Python floats follow floatX like Python floats do (empty ones too).
        return TensorType(config.floatX, (None,) * arr.ndim).filter(x)
    name = arr.dtype.name
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot make a tensor constant from {type(x).__name__} {x!r}: dtype {name} is not numeric")
    try:
        normalize_dtype(name)
        return arr
    except TypeError:
        pass
    for candidate in _WIDENING_ORDER:
        if np.can_cast(arr.dtype, candidate, "safe"):
            return arr.astype(candidate)
    raise TypeError(f"cannot make a tensor constant of dtype {name}: no supported dtype holds it safely")


def _explicit_dtype_array(x: Any, dtype: str) -> np.ndarray:
    """``x`` converted to the requested ``dtype``; refuses conversions that change values.

    Safe casts and weak Python numbers go through as in :meth:`TensorType.filter`; other
    casts are allowed when every value survives (``constant(2.0, dtype="int64")``) or when
    they only round floats (float64 -> float32 without overflow).
    """
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TypeError(f"cannot make a tensor constant from {type(x).__name__} {x!r}: {exc}") from None
    target = TensorType(dtype, (None,) * arr.ndim)
    try:
        return target.filter(x)
    except TypeError as first_error:
        if arr.dtype.kind not in "biuf":
            raise
        with np.errstate(all="ignore"):
            cast = arr.astype(dtype)
            if arr.dtype.kind == "f" and cast.dtype.kind == "f":
                ok = not np.any(np.isinf(cast) & ~np.isinf(arr))
            else:
                ok = bool(np.array_equal(cast.astype(arr.dtype), arr, equal_nan=arr.dtype.kind == "f"))
        if not ok:
            raise TypeError(f"constant: the value {x!r} cannot be represented as {dtype} ({first_error})") from None
        return cast


def constant(x: Any, name: str | None = None, ndim: int | None = None, dtype: Any = None) -> TensorConstant:
    """A :class:`TensorConstant` holding ``x`` (interned: equal type and data give the same object).

    ``dtype`` forces the dtype (values that would change raise ``TypeError``); otherwise the
    module's dtype defaults apply. ``ndim`` pads the value with leading size-1 dimensions or
    drops leading size-1 dimensions to reach that rank. The constant's type has the data's
    shape as its static shape.
    """
    if isinstance(x, Apply):
        x = x.default_output()
    if isinstance(x, Variable):
        if isinstance(x, TensorConstant):
            return as_tensor_variable(x, ndim=ndim, dtype=dtype)  # type: ignore[return-value]
        raise TypeError(f"constant: expected a value, got the symbolic variable {x} of type {x.type}")
    arr = _default_array(x) if dtype is None else _explicit_dtype_array(x, normalize_dtype(dtype))
    if ndim is not None:
        if arr.ndim < ndim:
            arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
        elif arr.ndim > ndim:
            extra = arr.ndim - ndim
            if any(s != 1 for s in arr.shape[:extra]):
                raise ValueError(f"constant: a value of shape {arr.shape} cannot be made {ndim}-d")
            arr = arr.reshape(arr.shape[extra:])
    ttype = TensorType(arr.dtype, arr.shape)
    return TensorConstant(ttype, arr, name=name)


# --------------------------------------------------------------------------- input constructors


def tensor(name: str | None = None, *, dtype: Any = None, shape: Any = None) -> TensorVariable:
    """A symbolic input tensor of ``dtype`` (default ``config.floatX``) and static ``shape``.

    ``shape`` holds an int (known size) or ``None`` per dimension; it defaults to ``()``.
    """
    var = TensorType(config.floatX if dtype is None else dtype, shape)(name)
    return add_tag_trace(var)


_RANKS = {"scalar": 0, "vector": 1, "matrix": 2, "tensor3": 3, "tensor4": 4}


def _check_rank_shape(kind: str, ndim: int, shape: Any) -> tuple:
    if shape is None:
        return (None,) * ndim
    shape = tuple(shape)
    if len(shape) != ndim:
        raise ValueError(f"{kind}: shape must have {ndim} entries, got {shape!r}")
    return shape


def _rank_constructor(kind: str, ndim: int) -> Callable[..., TensorVariable]:
    def constructor(name: str | None = None, dtype: Any = None, shape: Any = None) -> TensorVariable:
        var = TensorType(config.floatX if dtype is None else dtype, _check_rank_shape(kind, ndim, shape))(name)
        return add_tag_trace(var)

    constructor.__name__ = constructor.__qualname__ = kind
    constructor.__doc__ = (
        f"A symbolic {ndim}-d input tensor named ``name``, of ``dtype`` (default ``config.floatX``)\n"
        f"and static ``shape`` ({ndim} entries, int or None; default all None)."
    )
    return constructor


def _typed_constructor(prefix: str, kind: str, ndim: int, dtype: str) -> Callable[..., TensorVariable]:
    def constructor(name: str | None = None, shape: Any = None) -> TensorVariable:
        var = TensorType(dtype, _check_rank_shape(prefix + kind, ndim, shape))(name)
        return add_tag_trace(var)

    constructor.__name__ = constructor.__qualname__ = prefix + kind
    constructor.__doc__ = f"A symbolic {ndim}-d {dtype} input tensor named ``name``, of static ``shape``."
    return constructor


scalar = _rank_constructor("scalar", 0)
vector = _rank_constructor("vector", 1)
matrix = _rank_constructor("matrix", 2)
tensor3 = _rank_constructor("tensor3", 3)
tensor4 = _rank_constructor("tensor4", 4)

#: PyTensor's one-letter dtype prefixes for the typed constructors (``fmatrix``, ``lscalar``...).
DTYPE_PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32", "d": "float64"}

for _prefix, _dtype in DTYPE_PREFIXES.items():
    for _kind, _ndim in _RANKS.items():
        globals()[_prefix + _kind] = _typed_constructor(_prefix, _kind, _ndim, _dtype)
        __all__.append(_prefix + _kind)
del _prefix, _dtype, _kind, _ndim


# --------------------------------------------------------------------------- elementwise functions

_ELEMWISE_OPS: dict[str, Elemwise] = {}


def elemwise_function(scalar_op: ScalarOp | str) -> Callable[..., TensorVariable]:
    """The tensor function applying ``scalar_op`` elementwise (as ``st.add`` does for add)."""
    if isinstance(scalar_op, str):
        scalar_op = get_scalar_op(scalar_op)
    op = _ELEMWISE_OPS.setdefault(scalar_op.name, Elemwise(scalar_op))
    spec = scalar_op.spec

    def function(*inputs: Any) -> TensorVariable:
        return op(*inputs)

    function.__name__ = function.__qualname__ = spec.name
    function.__module__ = __name__
    if scalar_op.variadic:
        arity = "one or more tensors (or numbers), broadcast together"
    else:
        arity = f"{spec.nin} tensor{'s' if spec.nin != 1 else ''} (or numbers), broadcast together"
    function.__doc__ = (
        f"{spec.doc}\n\nTakes {arity}. Python numbers take the tensors' dtype when they fit "
        f"(NumPy 2 rules); output dtype rule: {spec.dtype_rule!r}."
    )
    return function


# One function per public row of the scalar table, plus its NumPy/PyTensor aliases.
for _spec in SCALAR_OP_TABLE:
    if not _spec.public:
        continue
    _fn = elemwise_function(_spec.name)
    for _alias in (_spec.name, *_spec.aliases):
        globals()[_alias] = _fn
        __all__.append(_alias)
del _spec, _fn, _alias


def cast(x: Any, dtype: Any) -> TensorVariable:
    """``x`` converted elementwise to ``dtype`` (``x`` itself if it already has that dtype).

    Conversions follow NumPy's ``astype``: floats to integers truncate toward zero, non-zero
    values become ``True``. The gradient is the output gradient cast back to ``x``'s dtype
    when both dtypes are floats, and zero otherwise. Also available as ``x.astype(dtype)``.
    """
    x = as_tensor_variable(x)
    dtype = normalize_dtype(dtype)
    if x.dtype == dtype:
        return x
    return elemwise_function(cast_op_name(dtype))(x)
