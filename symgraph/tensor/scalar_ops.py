"""The table of scalar operations that elementwise tensor ops are built from.

Each row of :data:`SCALAR_OP_TABLE` describes one operation on scalars: its name, how many
inputs it takes, the NumPy function computing it, the rule giving its output dtype, a C
expression template for the C backend, and a gradient slot. Adding a row is all it takes to
get a new elementwise op: :class:`ScalarOp` objects, the module-level names here
(``scalar_ops.add``...) and the tensor functions in :mod:`symgraph.tensor.basic`
(``st.add``...) are all generated from the table.

Dtype rules
-----------
``"upcast"``
    ``np.result_type`` of the input dtypes (NumPy 2 promotion).
``"float"``
    The upcast, then integers and booleans become floats: ``bool``, ``int8``, ``int16`` and
    ``uint8`` become ``float32`` (exactly representable there), ``int32`` and ``int64``
    become ``float64``; float dtypes stay. This differs from NumPy for small integers
    (NumPy gives ``float16``/``float64``) on purpose: float16 is not supported, and this is
    the convention PyTensor uses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from symgraph.graph.props import PropsMixin

__all__ = [
    "VARIADIC",
    "ScalarOpSpec",
    "ScalarOp",
    "SCALAR_OP_TABLE",
    "SUPPORTED_DTYPES",
    "get_scalar_op",
    "all_scalar_ops",
    "upcast",
    "upgrade_to_float",
]

#: ``nin`` value of an operation taking any number (at least one) of inputs.
VARIADIC = -1

#: The dtypes tensors may have. Kept here because the dtype rules must stay inside it.
SUPPORTED_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")


def upcast(*dtypes: str) -> str:
    """The dtype NumPy 2 promotes ``dtypes`` to (all given as dtype names)."""
    return np.result_type(*(np.dtype(d) for d in dtypes)).name


# Integers whose values all fit exactly in float32's 24-bit mantissa go to float32.
_FLOAT_OF = {
    "bool": "float32",
    "int8": "float32",
    "int16": "float32",
    "uint8": "float32",
    "int32": "float64",
    "int64": "float64",
    "float32": "float32",
    "float64": "float64",
}


def upgrade_to_float(*dtypes: str) -> str:
    """The ``"float"`` rule: the upcast of ``dtypes``, moved to a float dtype if it is not one."""
    return _FLOAT_OF[upcast(*dtypes)]


_DTYPE_RULES: dict[str, Callable[..., str]] = {
    "upcast": upcast,
    "float": upgrade_to_float,
}


@dataclass(frozen=True)
class ScalarOpSpec:
    """One row of the scalar operation table.

    Attributes
    ----------
    name
        Lower-case identifier; also the tensor function's name (``st.add``).
    nin
        Number of inputs, or :data:`VARIADIC` for "one or more" (folded left to right).
    impl
        NumPy function of ``nin`` arrays (binary for variadic ops).
    dtype_rule
        A key of the dtype rules: ``"upcast"`` or ``"float"``.
    c_template
        C expression with ``%(i0)s``, ``%(i1)s``... for the inputs; variadic ops give the
        binary form and are chained.
    doc
        One line for the generated tensor function's docstring.
    aliases
        Extra names for the tensor function (NumPy spellings such as ``subtract``).
    grad
        Gradient rule, filled in by the autodiff work; ``None`` until then.
    """

    name: str
    nin: int
    impl: Callable[..., Any]
    dtype_rule: str
    c_template: str
    doc: str
    aliases: tuple[str, ...] = ()
    grad: Callable[..., Any] | None = None


# fmt: off
SCALAR_OP_TABLE: tuple[ScalarOpSpec, ...] = (
    #            name        nin       numpy function    dtype     C template                 doc
    ScalarOpSpec("add",      VARIADIC, np.add,           "upcast", "(%(i0)s + %(i1)s)",       "Elementwise sum of the inputs."),
    ScalarOpSpec("sub",      2,        np.subtract,      "upcast", "(%(i0)s - %(i1)s)",       "Elementwise difference ``a - b``.",
                 aliases=("subtract",)),
    ScalarOpSpec("mul",      VARIADIC, np.multiply,      "upcast", "(%(i0)s * %(i1)s)",       "Elementwise product of the inputs.",
                 aliases=("multiply",)),
    ScalarOpSpec("true_div", 2,        np.true_divide,   "float",  "((%(o)s)%(i0)s / (%(o)s)%(i1)s)",
                 "Elementwise true (float) division ``a / b``.", aliases=("true_divide",)),
    ScalarOpSpec("neg",      1,        np.negative,      "upcast", "(-%(i0)s)",               "Elementwise negation ``-a``.",
                 aliases=("negative",)),
    ScalarOpSpec("exp",      1,        np.exp,           "float",  "exp((%(o)s)%(i0)s)",      "Elementwise exponential."),
    ScalarOpSpec("log",      1,        np.log,           "float",  "log((%(o)s)%(i0)s)",      "Elementwise natural logarithm."),
)
# fmt: on


class ScalarOp(PropsMixin):
    """A scalar operation: a row of :data:`SCALAR_OP_TABLE` with behaviour attached.

    Scalar ops are identified by name (``__props__ = ("name",)``), so two lookups of the
    same row are equal and hash alike, which lets the :class:`~symgraph.tensor.elemwise.Elemwise`
    ops holding them intern. Use :func:`get_scalar_op` (or the module-level names) rather
    than constructing them directly.
    """

    __props__ = ("name",)

    def __init__(self, spec: ScalarOpSpec):
        if spec.dtype_rule not in _DTYPE_RULES:
            raise ValueError(f"scalar op {spec.name!r}: unknown dtype rule {spec.dtype_rule!r}")
        self.spec = spec
        self.name = spec.name
        self._checked: dict[tuple[str, ...], str] = {}  # input dtypes -> output dtype

    # Convenience accessors so callers need not reach into ``spec``.
    @property
    def nin(self) -> int:
        return self.spec.nin

    @property
    def variadic(self) -> bool:
        return self.spec.nin == VARIADIC

    @property
    def grad(self):
        return self.spec.grad

    def check_arity(self, n: int) -> None:
        """Raise ``TypeError`` unless the op accepts ``n`` inputs."""
        if self.variadic:
            if n < 1:
                raise TypeError(f"{self.name} takes at least 1 input, got {n}")
        elif n != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} input{'s' if self.nin != 1 else ''}, got {n}")

    def output_dtype(self, *dtypes: str) -> str:
        """The output dtype for inputs of ``dtypes``, following the row's dtype rule."""
        out = _DTYPE_RULES[self.spec.dtype_rule](*dtypes)
        if out not in SUPPORTED_DTYPES:  # the rules are designed not to leave the set
            raise TypeError(f"{self.name}: inputs of dtypes {dtypes} would give unsupported dtype {out}")
        return out

    def check_dtypes(self, *dtypes: str) -> str:
        """The output dtype for inputs of ``dtypes``; ``TypeError`` if NumPy rejects them.

        The NumPy function is tried once per dtype combination on empty arrays, so that
        e.g. negating booleans fails when the graph is built rather than when it runs.
        """
        key = tuple(dtypes)
        out = self._checked.get(key)
        if out is None:
            self.check_arity(len(dtypes))
            out = self.output_dtype(*dtypes)
            try:
                self.impl(*(np.zeros(0, dtype=d) for d in dtypes), dtype=out)
            except TypeError as exc:
                raise TypeError(f"{self.name} is not defined for inputs of dtype {', '.join(dtypes)}: {exc}") from None
            self._checked[key] = out
        return out

    def impl(self, *values: np.ndarray, dtype: str | None = None) -> Any:
        """Apply the NumPy function, computing in ``dtype`` (default: the output dtype rule).

        Inputs are cast to the output dtype first, which is what the C templates do too;
        for variadic ops this also avoids intermediate overflow when folding inputs of
        mixed dtypes left to right.
        """
        if dtype is None:
            dtype = self.output_dtype(*(np.asarray(v).dtype.name for v in values))
        values = [np.asarray(v).astype(dtype, copy=False) for v in values]
        if self.variadic:
            if len(values) == 1:
                # A one-input sum/product is the input itself; copy so the result never
                # aliases the input (Elemwise declares no view_map).
                return np.array(values[0], copy=True)
            return functools.reduce(self.spec.impl, values)
        return self.spec.impl(*values)

    def c_expr(self, inputs: list[str], output_type: str) -> str:
        """The C expression computing this op on the C expressions ``inputs``.

        ``output_type`` is the C type of the result (used by templates that cast).
        """
        self.check_arity(len(inputs))
        template = self.spec.c_template
        if not self.variadic:
            return template % dict({f"i{k}": v for k, v in enumerate(inputs)}, o=output_type)
        if len(inputs) == 1:
            return f"({inputs[0]})"
        expr = inputs[0]
        for nxt in inputs[1:]:
            expr = template % {"i0": expr, "i1": nxt, "o": output_type}
        return expr

    def __reduce__(self):
        # Unpickle to the registered instance: scalar ops are singletons per name.
        return (get_scalar_op, (self.name,))

    def __str__(self) -> str:
        # "true_div" -> "TrueDiv": the Elemwise prints as its scalar op.
        return "".join(part.capitalize() for part in self.name.split("_"))


_REGISTRY: dict[str, ScalarOp] = {}


def _register(spec: ScalarOpSpec) -> ScalarOp:
    if spec.name in _REGISTRY:
        raise ValueError(f"scalar op {spec.name!r} is defined twice")
    op = ScalarOp(spec)
    _REGISTRY[spec.name] = op
    return op


def get_scalar_op(name: str) -> ScalarOp:
    """The scalar op named ``name`` (e.g. ``"add"``); ``KeyError`` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no scalar op named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_scalar_ops() -> tuple[ScalarOp, ...]:
    """Every scalar op, in table order."""
    return tuple(_REGISTRY.values())


# Module-level names (``scalar_ops.add``, ...) come from the table, so a new row needs no
# other edit here.
for _spec in SCALAR_OP_TABLE:
    globals()[_spec.name] = _register(_spec)
    __all__.append(_spec.name)
del _spec
