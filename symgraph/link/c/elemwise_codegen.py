"""The scalar C of elementwise ops: what the C backend's elementwise and reduction code
computes per element.

:func:`scalar_body` turns a scalar op (a row of the scalar-op table or a fused
``Composite``) into C statements on typed scalar variables: one ``const`` typed temporary
per composite node, each computed with the row's C template after the row's input casts,
so intermediates are rounded to their own dtype as NumPy (and the Python ``Composite``)
does. :func:`_row_statement` does one row. The loops around the body live in the backend
modules (``symgraph.link.c.ops_elemwise`` for ``Elemwise`` nodes, ``ops_reduce`` for
reductions), which the region linker (``symgraph.link.c.linker``) compiles.

:func:`_simd_declarations` and :func:`link_libraries` let the vectoriser call glibc's SIMD
math variants (libmvec) without ``-ffast-math``.

Scope: every dtype symgraph has (the keys of ``C_TYPES``: ``bool``, ``int8``, ``int16``,
``int32``, ``int64``, ``uint8``, ``float32``, ``float64``); rows whose template calls an
``sg_*`` runtime helper only when ``c_backend/sg_math.h`` exists; integer ``power`` is refused
(NumPy raises for negative exponents). Anything else raises ``NotImplementedError`` naming the
reason, so the node runs in Python.

Integers narrower than ``int`` (int8, int16, uint8, bool) are promoted to ``int`` by C's
arithmetic, so every row's result is converted back to the row's output type (wrapping like
NumPy: the build passes ``-fwrapv``, and gcc wraps narrowing conversions). Output dtypes and
input casts come from the row's ``check_dtypes_and_casts``, the table the Python path uses;
two rules of that table need help in C: comparisons of mixed dtypes convert both operands to
their common dtype first (C would compare ``int32`` with ``float32`` in float, NumPy in
float64), and float-to-integer casts narrower than 32 bits go through ``int32``, as NumPy's
casts do on x86 (300.7 -> int8 gives 44; NaN and out-of-range values give the low bits of
``INT32_MIN``).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from symgraph.link.c.build import has_header
from symgraph.tensor.composite import C_TYPES, Composite, c_literal
from symgraph.tensor.scalar_ops import ScalarOp, get_scalar_op, upcast

__all__ = [
    "SUPPORTED_C_DTYPES",
    "scalar_body",
    "simd_math_available",
    "link_libraries",
]

#: Dtypes the scalar generator handles: all of symgraph's.
SUPPORTED_C_DTYPES = tuple(C_TYPES)

# Rows whose result on integers is the integer itself (the C template would go through double,
# which loses precision above 2**53).
_IDENTITY_ON_INTEGERS = {"floor", "ceil", "round"}
# Classification macros are only defined on floating types in C.
_FLOAT_ONLY_ARGS = {"isnan", "isinf", "isfinite"}
# Rows of the "bool" rule whose result depends on the dtype the operands are compared in
# (the logical rows only test for non-zero, which no conversion to the common dtype changes).
_COMPARISONS = {"eq", "neq", "lt", "le", "gt", "ge"}


# libm functions glibc's vector math library (libmvec, glibc >= 2.35 on x86-64) provides
# SIMD variants of. glibc only declares them SIMD-callable under -ffast-math, which would
# also break NaN/inf semantics; redeclaring just these functions with gcc's ``simd``
# attribute lets the vectoriser call the variants (accurate to a few ulp, special values
# handled) while every other operation keeps IEEE semantics.
_LIBMVEC_FUNCTIONS = (
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cos", "cosh", "erf",
    "erfc", "exp", "exp10", "exp2", "expm1", "hypot", "log", "log10", "log1p", "log2", "pow",
    "sin", "sinh", "tan", "tanh",
)
_BINARY_MATH = {"atan2", "hypot", "pow"}
# libm functions called by branch-free helpers of sg_math.h (which vectorise once inlined)
_HELPER_LIBM = {"sg_tanh": ("expm1",)}
_SIMD_MATH: bool | None = None


def simd_math_available() -> bool:
    """Whether libmvec with the glibc 2.35 function set is present (checked once)."""
    global _SIMD_MATH
    if _SIMD_MATH is None:
        import ctypes
        import platform

        try:
            lib = ctypes.CDLL("libmvec.so.1")
            _SIMD_MATH = platform.machine() == "x86_64" and hasattr(lib, "_ZGVdN4v_tanh")
        except OSError:
            _SIMD_MATH = False
    return _SIMD_MATH


def _simd_declarations(code: str) -> list[str]:
    """``simd`` redeclarations of the libm functions ``code`` calls (empty without libmvec)."""
    if not simd_math_available():
        return []
    code += "".join(f" {f}(" for helper, fs in _HELPER_LIBM.items() if f"{helper}(" in code for f in fs)
    used = [f for f in _LIBMVEC_FUNCTIONS if re.search(rf"\b{f}\(", code)]
    args = {f: "double, double" if f in _BINARY_MATH else "double" for f in used}
    return [f'__attribute__((simd("notinbranch"))) double {f}({args[f]});' for f in used]


#: Extra libraries to link when SIMD math declarations are emitted.
def link_libraries(source: str) -> tuple[str, ...]:
    """The link arguments ``source`` needs: libmvec when it calls vector math variants, and
    NumPy's static random library (``numpy/random/lib/libnpyrandom.a``, the C interface of
    its distributions) when it draws random numbers."""
    libraries: tuple[str, ...] = ("-lmvec",) if "__attribute__((simd" in source else ()
    if '"sg_random.h"' in source:
        import os

        import numpy

        libraries += (os.path.join(os.path.dirname(numpy.__file__), "random", "lib", "libnpyrandom.a"),)
    return libraries


def _runtime_helpers_available() -> bool:
    return has_header("sg_math.h")


def _check_dtype(dtype: str, what: str) -> None:
    if dtype not in SUPPORTED_C_DTYPES:
        raise NotImplementedError(
            f"C elementwise: {what} has dtype {dtype}; only {', '.join(SUPPORTED_C_DTYPES)} are generated"
        )


def _convert(expr: str, src: str, dst: str) -> str:
    """C converting ``expr`` of dtype ``src`` to ``dst`` (``dst`` not bool) as NumPy's cast does."""
    if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu" and np.dtype(dst).itemsize < 4:
        # NumPy's float -> int8/int16/uint8 casts truncate to int32 (x86's cvtt*: INT32_MIN
        # when out of range) and keep the low bits. A direct C conversion is undefined once
        # the value leaves the narrow type; through int32 it is defined up to int32's range
        # and then wraps as NumPy's does.
        return f"(({C_TYPES[dst]})(npy_int32){expr})"
    return f"(({C_TYPES[dst]}){expr})"


def _row_statement(op: ScalarOp, args: list[tuple[str, str]], helpers: bool) -> tuple[str, str]:
    """``(C expression, output dtype)`` of table row ``op`` on typed C values ``args``
    (``(expression, dtype)`` pairs). The expression is already converted to the output type."""
    in_dtypes = [d for _, d in args]
    out_dtype, casts = op.check_dtypes_and_casts(*in_dtypes)
    for d in in_dtypes:
        _check_dtype(d, f"an input of {op.name}")
    _check_dtype(out_dtype, f"the result of {op.name}")
    template = op.spec.c_template
    if "sg_" in template and not helpers:
        helper = re.search(r"sg_\w+", template).group(0)
        raise NotImplementedError(
            f"C elementwise: {op.name} needs the C runtime helper "
            f"{helper}, and c_backend/sg_math.h is not available"
        )
    out_is_int = np.dtype(out_dtype).kind in "iu"
    if op.name == "power" and out_is_int:
        # NumPy raises ValueError for negative integer exponents, which C cannot report per
        # element; the Python thunk keeps that error.
        raise NotImplementedError("C elementwise: integer power is not generated")
    if op.name in _COMPARISONS:
        # The table leaves comparison operands uncast (NumPy picks the common loop itself);
        # C's usual conversions would compare int32/int64 with float32 in float.
        common = upcast(*in_dtypes)
        casts = tuple(common for _ in in_dtypes)
    exprs = []
    for (expr, d), c in zip(args, casts):
        if c is not None and c != d:
            expr = _convert(expr, d, c)
        elif op.name in _FLOAT_ONLY_ARGS and np.dtype(d).kind != "f":
            expr = f"((double){expr})"
        exprs.append(expr)
    ctype = C_TYPES[out_dtype]
    if op.name in _IDENTITY_ON_INTEGERS and out_is_int:
        body = exprs[0]
    elif op.spec.dtype_rule.startswith("to_") and out_dtype != "bool":
        body = _convert(exprs[0], in_dtypes[0], out_dtype)
    else:
        body = op.c_expr(exprs, ctype)
    if out_dtype == "bool":
        # Bool results are 0 or 1 whatever the template computes (e.g. bool + bool).
        return f"(npy_bool)(({body}) != 0)", out_dtype
    return f"({ctype})({body})", out_dtype


def scalar_body(scalar_op: ScalarOp, in_names: Sequence[str], in_dtypes: Sequence[str]) -> tuple[list[str], str, str]:
    """C statements computing ``scalar_op`` on the scalar C variables ``in_names``.

    Returns ``(statements, result expression, result dtype)``. A composite becomes one
    ``const`` typed temporary per node (``t0``, ``t1``...).
    """
    helpers = _runtime_helpers_available()
    for d in in_dtypes:
        _check_dtype(d, "an input")
    if isinstance(scalar_op, Composite):
        statements: list[str] = []
        temps: list[tuple[str, str]] = []
        for j, (name, refs) in enumerate(scalar_op.nodes):
            args = []
            for ref in refs:
                if ref[0] == "i":
                    args.append((in_names[ref[1]], in_dtypes[ref[1]]))
                elif ref[0] == "t":
                    args.append(temps[ref[1]])
                else:
                    _check_dtype(ref[1], "a constant")
                    args.append((c_literal(ref[1], ref[2]), ref[1]))
            expr, dtype = _row_statement(get_scalar_op(name), args, helpers)
            statements.append(f"const {C_TYPES[dtype]} t{j} = {expr};")
            temps.append((f"t{j}", dtype))
        root, dtype = temps[scalar_op.outputs[0][1]]
        return statements, root, dtype
    expr, dtype = _row_statement(scalar_op, list(zip(in_names, in_dtypes)), helpers)
    return [], expr, dtype
