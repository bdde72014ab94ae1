"""``TensorType``: the type of n-dimensional array values of one dtype.

A tensor type has a dtype (one of :data:`~symgraph.tensor.scalar_ops.SUPPORTED_DTYPES`)
and a static shape: a tuple with one entry per dimension, an ``int`` when the size is
known when the graph is built, ``None`` when it is not. ``TensorType("float64", (None, 3))``
is the type of float64 matrices with 3 columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.configdefaults import config
from symgraph.graph.basic import Variable
from symgraph.graph.type import Type
from symgraph.tensor.scalar_ops import SUPPORTED_DTYPES
from symgraph.tensor.variable import TensorConstant, TensorVariable

__all__ = ["TensorType", "normalize_dtype", "normalize_shape"]

_RANK_NAMES = {0: "Scalar", 1: "Vector", 2: "Matrix"}

# Order of dtype kinds for "weak" Python values: a value may move up (int -> float) but
# never down (float -> int) without allow_downcast, whatever its value.
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}

# Default tolerances of values_eq_approx, by the less precise dtype compared.
_TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8)}


def normalize_dtype(dtype: Any) -> str:
    """The canonical name of ``dtype`` (``"floatX"`` means ``config.floatX``).

    Raises ``TypeError`` for dtypes tensors do not support.
    """
    if isinstance(dtype, str) and dtype == "floatX":
        return config.floatX
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(
            f"invalid dtype {dtype!r}; supported dtypes are {', '.join(SUPPORTED_DTYPES)}"
        ) from None
    if name not in SUPPORTED_DTYPES:
        raise TypeError(f"unsupported dtype {name!r}; supported dtypes are {', '.join(SUPPORTED_DTYPES)}")
    return name


def normalize_shape(shape: Any) -> tuple[int | None, ...]:
    """``shape`` as a tuple of non-negative ``int`` or ``None`` (``None`` itself means ``()``)."""
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        entries = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of int or None, got {shape!r}") from None
    out: list[int | None] = []
    for dim in entries:
        if dim is None:
            out.append(None)
        elif isinstance(dim, (bool, np.bool_)):
            # Broadcastable flags are not sizes: True would silently mean "size 1".
            raise TypeError(
                f"shape entries must be int or None, got the boolean {dim!r} in {shape!r} "
                "(use 1 for a broadcastable dimension and None for an unknown size)"
            )
        elif isinstance(dim, (int, np.integer)):
            if dim < 0:
                raise ValueError(f"shape entries must be non-negative, got {shape!r}")
            out.append(int(dim))
        else:
            raise TypeError(f"shape entries must be int or None, got {dim!r} in {shape!r}")
    return tuple(out)


def _format_shape(shape: tuple) -> str:
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _describe(data: Any, arr: np.ndarray | None = None) -> str:
    """A short description of a value for error messages."""
    if isinstance(data, (bool, int, float)) and not isinstance(data, np.generic):
        return f"the Python {type(data).__name__} {data!r}"
    if isinstance(data, np.generic):
        return f"a numpy {data.dtype.name} scalar {data!r}"
    if arr is not None:
        kind = "array" if isinstance(data, np.ndarray) else type(data).__name__
        return f"a {arr.dtype.name} {kind} with shape {arr.shape}"
    return f"a {type(data).__name__}"


class TensorType(Type):
    """The type of arrays of a given ``dtype`` and static ``shape``.

    Parameters
    ----------
    dtype
        A NumPy dtype or its name (``"float32"``), or ``"floatX"`` for ``config.floatX``.
        Supported: bool, int8, int16, int32, int64, uint8, float32, float64.
    shape
        One entry per dimension: an ``int`` size known when building the graph, or ``None``.
        Defaults to ``()`` (a scalar).
    name
        Optional name shown by ``str`` instead of the description; not part of equality.

    Two tensor types are equal when their dtype and static shape are equal.
    """

    __props__ = ("dtype", "shape")
    variable_type = TensorVariable
    constant_type = TensorConstant

    def __init__(self, dtype: Any, shape: Any = None, name: str | None = None):
        self.dtype = normalize_dtype(dtype)
        self.shape = normalize_shape(shape)
        self.name = name
        self.numpy_dtype = np.dtype(self.dtype)
        # For filter's fast path (run on every checked call of a compiled function).
        self._ndim = len(self.shape)
        self._any_static = any(s is not None for s in self.shape)

    # ------------------------------------------------------------------ description

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        """Per dimension, whether its size is statically 1 (so it broadcasts)."""
        return tuple(d == 1 for d in self.shape)

    def clone(self, dtype: Any = None, shape: Any = None, **kwargs) -> "TensorType":
        """A type like this one with ``dtype`` and/or ``shape`` replaced (``None`` keeps it)."""
        if kwargs:
            raise TypeError(f"TensorType.clone got unexpected arguments {sorted(kwargs)}")
        return TensorType(self.dtype if dtype is None else dtype, self.shape if shape is None else shape)

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        rank = _RANK_NAMES.get(self.ndim, f"Tensor{self.ndim}")
        return f"{rank}({self.dtype}, shape={_format_shape(self.shape)})"

    def __repr__(self) -> str:
        return str(self)

    # ------------------------------------------------------------------ values

    def filter(self, data: Any, strict: bool = False, allow_downcast: bool | None = None) -> np.ndarray:
        """Return ``data`` as an ``np.ndarray`` of this dtype and rank, or raise.

        - ``strict``: ``data`` must already be an ndarray (or numpy scalar) of exactly this
          dtype; nothing is converted.
        - Otherwise lists, Python numbers, numpy scalars and arrays are accepted when the cast
          to this dtype is safe (``np.can_cast(..., "safe")``, e.g. int32 -> float64).
        - ``allow_downcast=True`` also allows unsafe casts (float64 -> float32, float -> int).
        - ``allow_downcast=None`` (the default) also accepts Python ``int``/``float`` values,
          and lists of them, the way NumPy 2 treats them as "weak" scalars: they take this
          dtype when their value fits (a Python float into float32 is fine; ``1.5`` into an
          integer type, ``300`` into int8 or ``1e300`` into float32 are not).
        - ``allow_downcast=False`` treats Python values as int64/float64 (no weak scalars).

        Wrong dtype or rank raises ``TypeError``; a size contradicting the static shape raises
        ``ValueError``. An ndarray that already matches is returned as is (not copied).
        Scalars are returned as 0-d arrays.
        """
        if type(data) is np.ndarray and data.dtype == self.numpy_dtype:
            # Fast path: the common case of an already valid array.
            if data.ndim == self._ndim and not self._any_static:
                return data
            self._check_rank(data, data)
            self._check_shape(data)
            return data
        if isinstance(data, Variable):
            raise TypeError(
                f"expected a value for {self}, got the symbolic variable {data}; "
                "a symbolic variable has no value until the graph is compiled and run"
            )
        if strict:
            return self._filter_strict(data)
        arr, weak = self._as_array(data, allow_downcast)
        self._check_rank(data, arr)
        if arr.dtype != self.numpy_dtype:
            arr = self._cast(data, arr, weak, allow_downcast)
        self._check_shape(arr)
        return arr

    def _filter_strict(self, data: Any) -> np.ndarray:
        if isinstance(data, (np.ndarray, np.generic)) and data.dtype == self.numpy_dtype:
            arr = np.asarray(data)
            self._check_rank(data, arr)
            self._check_shape(arr)
            return arr
        if isinstance(data, (np.ndarray, np.generic)):
            raise TypeError(
                f"expected {self.dtype} data ({self}, strict), got {_describe(data, np.asarray(data))}; "
                "strict inputs are never converted"
            )
        raise TypeError(
            f"expected a numpy array of dtype {self.dtype} ({self}, strict), got {_describe(data)}; "
            "strict inputs are never converted"
        )

    def _as_array(self, data: Any, allow_downcast: bool | None) -> tuple[np.ndarray, bool]:
        """``data`` as an ndarray (unconverted dtype) and whether it holds weak Python values."""
        python_scalar = isinstance(data, (bool, int, float)) and not isinstance(data, np.generic)
        try:
            arr = np.asarray(data)
        except OverflowError:
            raise TypeError(f"expected {self.dtype} data ({self}), got {_describe(data)}, which is too large") from None
        except (ValueError, TypeError) as exc:
            raise TypeError(f"expected {self.dtype} data ({self}), got {_describe(data)} ({exc})") from None
        if arr.dtype.kind not in _KIND_RANK:
            raise TypeError(
                f"expected {self.dtype} data ({self}), got {_describe(data, arr)}; "
                f"dtype {arr.dtype} is not supported"
            )
        # Sequences count as weak when NumPy gave them its defaults for Python values: they
        # almost always hold Python numbers ([1, 2, 3] for an int32 vector should work).
        sequence_of_python = isinstance(data, (list, tuple)) and arr.dtype.name in ("bool", "int64", "float64")
        weak = allow_downcast is None and (python_scalar or sequence_of_python)
        return arr, weak

    def _cast(self, data: Any, arr: np.ndarray, weak: bool, allow_downcast: bool | None) -> np.ndarray:
        if allow_downcast or np.can_cast(arr.dtype, self.numpy_dtype, "safe"):
            return arr.astype(self.numpy_dtype)
        if weak:
            problem = self._weak_problem(arr)
            if problem is None:
                return arr.astype(self.numpy_dtype)
            raise TypeError(f"expected {self.dtype} data ({self}), got {_describe(data, arr)}: {problem}")
        raise TypeError(
            f"expected {self.dtype} data ({self}), got {_describe(data, arr)}; casting "
            f"{arr.dtype.name} to {self.dtype} is unsafe (values may change). Cast it yourself "
            "or pass allow_downcast=True"
        )

    def _weak_problem(self, arr: np.ndarray) -> str | None:
        """Why the weak values ``arr`` cannot take this dtype, or ``None`` if they can."""
        src, dst = arr.dtype.kind, self.numpy_dtype.kind
        if _KIND_RANK[dst] < _KIND_RANK[src]:
            kinds = {"b": "boolean", "u": "integer", "i": "integer", "f": "float"}
            return f"{kinds[src]} values cannot be stored in a {self.dtype} tensor without allow_downcast=True"
        if arr.size == 0:
            return None
        if dst in "iu":
            info = np.iinfo(self.numpy_dtype)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                return f"values must lie in [{info.min}, {info.max}] for {self.dtype}"
            return None
        if dst == "f":
            with np.errstate(over="ignore"):
                cast = arr.astype(self.numpy_dtype)
            if np.any(np.isinf(cast) & ~np.isinf(arr)):
                return f"values overflow {self.dtype} (largest magnitude {np.finfo(self.numpy_dtype).max:g})"
        return None

    def _check_rank(self, data: Any, arr: np.ndarray) -> None:
        if arr.ndim != self.ndim:
            got = f"a {arr.ndim}-d array with shape {arr.shape}"
            if arr.ndim == 0:
                got = f"a 0-d value ({_describe(data, arr)})"
            raise TypeError(f"expected a {self.ndim}-d array ({self}), got {got}")

    def _check_shape(self, arr: np.ndarray) -> None:
        for expected, actual in zip(self.shape, arr.shape):
            if expected is not None and expected != actual:
                raise ValueError(
                    f"expected an array of shape {_format_shape(self.shape)} ({self}), "
                    f"got one of shape {arr.shape}"
                )

    def values_eq(self, a: Any, b: Any, force_same_dtype: bool = True) -> bool:
        """Whether ``a`` and ``b`` are exactly equal arrays (same shape; NaN equals NaN)."""
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if force_same_dtype and a.dtype != b.dtype:
            return False
        floats = a.dtype.kind == "f" or b.dtype.kind == "f"
        return bool(np.array_equal(a, b, equal_nan=floats))

    def values_eq_approx(self, a: Any, b: Any, rtol: float | None = None, atol: float | None = None) -> bool:
        """Whether ``a`` and ``b`` are equal within tolerances (``np.allclose``).

        Shapes must match; NaN equals NaN and infinities equal infinities of the same sign.
        Default tolerances depend on the less precise float dtype involved
        (float32: rtol=1e-4, atol=1e-5; float64: rtol=1e-5, atol=1e-8).
        """
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind != "f" and b.dtype.kind != "f":
            return self.values_eq(a, b, force_same_dtype=False)
        dtypes = [d.name for d in (a.dtype, b.dtype) if d.kind == "f"]
        default = _TOLERANCES["float32"] if "float32" in dtypes or "float16" in dtypes else _TOLERANCES["float64"]
        rtol = default[0] if rtol is None else rtol
        atol = default[1] if atol is None else atol
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))

    @staticmethod
    def may_share_memory(a: Any, b: Any) -> bool:
        """Whether the values ``a`` and ``b`` may use the same memory (conservative)."""
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return bool(np.may_share_memory(a, b))
        return False

    # ------------------------------------------------------------------ variables

    def is_super(self, otype: Type) -> bool:
        """Whether every value of ``otype`` is a value of this type.

        True when ``otype`` is a tensor type of the same dtype and rank whose static shape
        agrees with ours wherever ours is known.
        """
        if not isinstance(otype, TensorType):
            return False
        if otype.dtype != self.dtype or otype.ndim != self.ndim:
            return False
        return all(s is None or s == o for s, o in zip(self.shape, otype.shape))

    def convert_variable(self, var: Variable) -> Variable | None:
        """``var`` when its type is at least as specific as this one, else ``None``."""
        if self.is_super(var.type):
            return var
        return None

