"""Test data for every row of the scalar op table: references, input domains, dtype support.

Shared by tests/tensor/test_elemwise_*.py. Each :class:`Case` gives an independent NumPy /
SciPy / math reference where one exists (for plain ufunc rows the ufunc is the reference),
the input domain used for values and derivatives, and whether the op is differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.special as sps

SUPPORTED = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")
FLOATS = ("float32", "float64")
NUMERIC = INTS + FLOATS


def _vec(f):
    return np.vectorize(f, otypes=[np.float64])


@dataclass
class Case:
    """How to test one scalar op."""

    ref: Callable[..., Any]
    #: (low, high) per input: values are drawn uniformly there (integers: the ints inside).
    domain: tuple
    #: whether the float partial derivatives are non-zero (else gradients must be zero).
    grad: bool = True
    #: dtypes each input may have in the value tests (all inputs share the dtype).
    dtypes: tuple = SUPPORTED
    #: (low, high) per input for integer dtypes, when the float domain does not suit them.
    int_domain: tuple | None = None
    #: points near which derivatives are not tested (kinks, discontinuities).
    kinks: tuple = ()
    #: inputs to differentiate (default all).
    wrt: tuple | None = None
    #: the NumPy function giving NumPy's output dtype (default: ``ref``).
    np_dtype_fn: Callable[..., Any] | None = None
    #: per-input dtype overrides for the value tests (``where``'s condition, ``polygamma``'s order).
    fixed_dtypes: dict = field(default_factory=dict)
    #: relative tolerance of float64 values against ``ref``.
    rtol: float = 1e-12


def _bool_or(dtypes=NUMERIC):
    return ("bool",) + tuple(dtypes)


SYM = (-3.0, 3.0)
POS = (0.5, 3.0)

CASES: dict[str, Case] = {
    "add": Case(np.add, (SYM, SYM)),
    "sub": Case(np.subtract, (SYM, SYM), dtypes=NUMERIC),
    "mul": Case(np.multiply, (SYM, SYM)),
    "true_div": Case(lambda a, b: a / b, (SYM, POS), int_domain=((-3, 3), (1, 3)), np_dtype_fn=np.true_divide),
    "floor_divide": Case(lambda a, b: a // b, (SYM, POS), grad=False, int_domain=((-3, 3), (1, 3)),
                         np_dtype_fn=np.floor_divide),
    "mod": Case(lambda a, b: a % b, (SYM, POS), int_domain=((-3, 3), (1, 3)), np_dtype_fn=np.mod),
    "power": Case(lambda a, b: a ** b, (POS, (-2.0, 2.0)), int_domain=((0, 3), (0, 3)), np_dtype_fn=np.power),
    "neg": Case(lambda a: -a, (SYM,), dtypes=NUMERIC, np_dtype_fn=np.negative),
    "abs": Case(np.abs, (SYM,), kinks=(0.0,)),
    "sign": Case(np.sign, (SYM,), grad=False, dtypes=NUMERIC),
    "square": Case(lambda a: a * a, (SYM,), np_dtype_fn=np.square),
    "reciprocal": Case(lambda a: 1.0 / a, (POS,), int_domain=((1, 3),), np_dtype_fn=np.reciprocal),
    "maximum": Case(lambda a, b: np.where(a >= b, a, b), (SYM, SYM), np_dtype_fn=np.maximum),
    "minimum": Case(lambda a, b: np.where(a <= b, a, b), (SYM, SYM), np_dtype_fn=np.minimum),
    "clip": Case(np.clip, (SYM, (-1.5, -0.5), (0.5, 1.5)), int_domain=((-3, 3), (-1, 0), (1, 2))),
    "where": Case(np.where, ((0.0, 1.0), SYM, SYM), wrt=(1, 2), fixed_dtypes={0: "bool"}),
    "second": Case(lambda a, b: np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)).copy(), (SYM, SYM),
                   np_dtype_fn=lambda a, b: b),
    "exp": Case(_vec(math.exp), ((-2.0, 2.0),), np_dtype_fn=np.exp),
    "exp2": Case(_vec(lambda v: 2.0 ** v), ((-2.0, 2.0),), np_dtype_fn=np.exp2),
    "expm1": Case(_vec(math.expm1), ((-2.0, 2.0),), np_dtype_fn=np.expm1),
    "log": Case(_vec(math.log), (POS,), int_domain=((1, 3),), np_dtype_fn=np.log),
    "log2": Case(_vec(math.log2), (POS,), int_domain=((1, 3),), np_dtype_fn=np.log2),
    "log10": Case(_vec(math.log10), (POS,), int_domain=((1, 3),), np_dtype_fn=np.log10),
    "log1p": Case(_vec(math.log1p), ((-0.5, 3.0),), int_domain=((0, 3),), np_dtype_fn=np.log1p),
    "sqrt": Case(_vec(math.sqrt), (POS,), int_domain=((0, 3),), np_dtype_fn=np.sqrt),
    "sin": Case(_vec(math.sin), ((-1.2, 1.2),), np_dtype_fn=np.sin),
    "cos": Case(_vec(math.cos), ((-1.2, 1.2),), np_dtype_fn=np.cos),
    "tan": Case(_vec(math.tan), ((-1.2, 1.2),), np_dtype_fn=np.tan),
    "arcsin": Case(_vec(math.asin), ((-0.9, 0.9),), np_dtype_fn=np.arcsin),
    "arccos": Case(_vec(math.acos), ((-0.9, 0.9),), np_dtype_fn=np.arccos),
    "arctan": Case(_vec(math.atan), (SYM,), np_dtype_fn=np.arctan),
    "arctan2": Case(_vec(math.atan2), (SYM, SYM), np_dtype_fn=np.arctan2),
    "sinh": Case(_vec(math.sinh), ((-2.0, 2.0),), np_dtype_fn=np.sinh),
    "cosh": Case(_vec(math.cosh), ((-2.0, 2.0),), np_dtype_fn=np.cosh),
    "tanh": Case(_vec(math.tanh), ((-2.0, 2.0),), np_dtype_fn=np.tanh),
    "arcsinh": Case(_vec(math.asinh), (SYM,), np_dtype_fn=np.arcsinh),
    "arccosh": Case(_vec(math.acosh), ((1.2, 3.0),), int_domain=((2, 3),), np_dtype_fn=np.arccosh),
    "arctanh": Case(_vec(math.atanh), ((-0.9, 0.9),), np_dtype_fn=np.arctanh),
    "sigmoid": Case(_vec(lambda v: 1.0 / (1.0 + math.exp(-v))), ((-5.0, 5.0),), np_dtype_fn=sps.expit),
    "softplus": Case(_vec(lambda v: math.log1p(math.exp(v))), ((-5.0, 5.0),), np_dtype_fn=np.exp, rtol=1e-10),
    "log1mexp": Case(_vec(lambda v: math.log(-math.expm1(v))), ((-3.0, -0.05),), int_domain=((-3, -1),),
                     dtypes=("int8", "int16", "int32", "int64") + FLOATS, np_dtype_fn=np.exp,
                     rtol=1e-10),
    "logaddexp": Case(_vec(lambda a, b: math.log(math.exp(a) + math.exp(b))), (SYM, SYM),
                      np_dtype_fn=np.logaddexp, rtol=1e-10),
    "erf": Case(_vec(math.erf), ((-2.0, 2.0),), np_dtype_fn=sps.erf, rtol=1e-10),
    "erfc": Case(_vec(math.erfc), ((-2.0, 2.0),), np_dtype_fn=sps.erfc, rtol=1e-10),
    "erfinv": Case(sps.erfinv, ((-0.9, 0.9),), np_dtype_fn=sps.erfinv),
    "gammaln": Case(_vec(math.lgamma), ((0.5, 4.0),), int_domain=((1, 4),), np_dtype_fn=sps.gammaln, rtol=1e-10),
    "digamma": Case(sps.psi, ((0.5, 4.0),), int_domain=((1, 4),)),
    "polygamma": Case(sps.polygamma, ((0, 3), (0.5, 4.0)), int_domain=((0, 3), (1, 4)), wrt=(1,),
                      fixed_dtypes={0: "int64"}, np_dtype_fn=lambda n, x: np.exp(np.add(n, x))),
    "floor": Case(np.floor, (SYM,), grad=False, kinks=(-3, -2, -1, 0, 1, 2, 3)),
    "ceil": Case(np.ceil, (SYM,), grad=False, kinks=(-3, -2, -1, 0, 1, 2, 3)),
    "round": Case(np.round, (SYM,), grad=False, kinks=(-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)),
    "eq": Case(np.equal, (SYM, SYM), grad=False),
    "neq": Case(np.not_equal, (SYM, SYM), grad=False),
    "lt": Case(np.less, (SYM, SYM), grad=False),
    "le": Case(np.less_equal, (SYM, SYM), grad=False),
    "gt": Case(np.greater, (SYM, SYM), grad=False),
    "ge": Case(np.greater_equal, (SYM, SYM), grad=False),
    "logical_and": Case(np.logical_and, ((-1.0, 1.0),) * 2, grad=False),
    "logical_or": Case(np.logical_or, ((-1.0, 1.0),) * 2, grad=False),
    "logical_xor": Case(np.logical_xor, ((-1.0, 1.0),) * 2, grad=False),
    "logical_not": Case(np.logical_not, ((-1.0, 1.0),), grad=False),
    "isnan": Case(np.isnan, (SYM,), grad=False),
    "isinf": Case(np.isinf, (SYM,), grad=False),
    "isfinite": Case(np.isfinite, (SYM,), grad=False),
    "bitwise_and": Case(np.bitwise_and, ((0, 100), (0, 100)), grad=False, dtypes=_bool_or(INTS)),
    "bitwise_or": Case(np.bitwise_or, ((0, 100), (0, 100)), grad=False, dtypes=_bool_or(INTS)),
    "bitwise_xor": Case(np.bitwise_xor, ((0, 100), (0, 100)), grad=False, dtypes=_bool_or(INTS)),
    "invert": Case(np.invert, ((0, 100),), grad=False, dtypes=_bool_or(INTS)),
}

# NumPy-2 dtype results we deliberately do not follow (see the scalar_ops docstring):
# "float" ops give float32 where NumPy gives float16; reciprocal is a true division for
# integers; round keeps booleans.
FLOAT16_TO = "float32"


def draw(case: Case, dtype: str, shape: tuple, rng: np.random.Generator, which: int) -> np.ndarray:
    """Values for input ``which`` of ``case`` with ``dtype`` and ``shape``, inside its domain."""
    dtype = case.fixed_dtypes.get(which, dtype)
    lo, hi = case.domain[which]
    if dtype == "bool":
        if lo > 0 or hi < 1:  # e.g. divisors: only the values inside the domain
            return np.full(shape, lo > 0)
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.dtype(dtype).kind in "iu":
        ilo, ihi = case.int_domain[which] if case.int_domain else (math.ceil(lo), math.floor(hi))
        info = np.iinfo(dtype)
        ilo, ihi = max(ilo, info.min), min(ihi, info.max)
        ihi = max(ilo, ihi)  # e.g. a negative domain for uint8: its smallest value
        return rng.integers(ilo, ihi + 1, size=shape).astype(dtype)
    values = rng.uniform(lo, hi, size=shape)
    for k in case.kinks:  # keep finite differences away from kinks
        close = np.abs(values - k) < 0.05
        values = np.where(close, k + 0.1, values)
    return np.asarray(values).astype(dtype)


def nin_of(name: str) -> int:
    return len(CASES[name].domain)
