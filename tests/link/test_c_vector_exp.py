"""Tests of ``sg_sum_exp_shifted_f64`` (c_backend/sg_math.h), the vector exp under logsumexp.

A harness compiled with the generated modules' flags (``build.DEFAULT_FLAGS``, so
``-march=native -ffp-contract=off``) exposes the helper through ctypes. Sums whose other
terms are ``exp(-inf) = 0`` isolate a single exp, so each lane position of the unrolled loop,
the 8-wide loop and the padded tail is checked against NumPy's exp to the ulp. Where the
target has no AVX-512 the helper does not exist and the tests are skipped (logsumexp then
uses libm's exp, which the reduction tests cover).
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
from decimal import Context, Decimal

import numpy as np
import pytest

from symgraph.link.c import build, runtime

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

_HARNESS = r"""
#include "sg_runtime.h"
int have_vector_exp(void) { return SG_HAVE_SUM_EXP_F64; }
#if SG_HAVE_SUM_EXP_F64
double sum_exp(const double *x, long n, double m) { return sg_sum_exp_shifted_f64(x, n, m); }
#endif
"""


@pytest.fixture(scope="module")
def sum_exp(tmp_path_factory):
    d = tmp_path_factory.mktemp("vexp")
    src, lib = d / "vexp.c", d / "vexp.so"
    src.write_text(_HARNESS)
    flags = [f for f in build.DEFAULT_FLAGS if f != "-O0"]
    proc = subprocess.run(
        ["gcc", *flags, *runtime.include_flags(), str(src), "-o", str(lib), "-lm"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[:4000]
    dll = ctypes.CDLL(str(lib))
    if not dll.have_vector_exp():
        pytest.skip("the target has no AVX-512: sg_sum_exp_shifted_f64 is not compiled")
    fn = dll.sum_exp
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_double]

    def call(x, m=0.0):
        x = np.ascontiguousarray(x, dtype=np.float64)
        return fn(x.ctypes.data, x.size, m)

    return call


def _ulps(got: float, want: float) -> float:
    if got == want:
        return 0.0
    return abs(got - want) / math.ulp(max(abs(want), 5e-324))


def _ulps_from_exact(got: float, v: float) -> float:
    """``got``'s distance from the exact ``exp(v)`` (50 digits), in ulps of the exact value."""
    exact = Decimal(v).exp(Context(prec=50))
    return abs(float((Decimal(got) - exact) / Decimal(math.ulp(float(exact)))))


def test_each_lane_position_is_within_one_ulp_of_exp(sum_exp):
    # one finite value in a row of -inf: the sum is that value's exp alone. Length 43 covers
    # the 32-wide unrolled loop, one 8-wide step and a tail of 3, so every lane position of
    # each path computes values from the whole range, subnormal results and underflow included.
    rng = np.random.default_rng(5)
    args = np.concatenate(
        [
            np.linspace(-760.0, 354.0, 3001),
            rng.uniform(-708.0, 0.0, 3000),
            rng.uniform(-2.0, 0.0, 3000),
            [-745.13, -745.14, -708.4, -708.39, -1e-300, 0.0, 1e-300],
        ]
    )
    worst = 0.0
    n = 43
    for j, v in enumerate(args):
        row = np.full(n, -np.inf)
        row[j % n] = v
        got = sum_exp(row)
        want = float(np.exp(v))
        if want < 2.2250738585072014e-308:
            # subnormal results: one rounding of an already rounded value, within 1 subnormal ulp
            assert abs(got - want) <= 5e-324, (v, got, want)
        else:
            # the documented accuracy: under 1 ulp of the exact value (glibc's is under 0.7)
            worst = max(worst, _ulps_from_exact(got, float(v)))
    assert worst < 1.0, worst


def test_shift_is_subtracted(sum_exp):
    x = np.array([3.0, 1.5, -2.0, 0.25] * 9)
    assert _ulps(sum_exp(x, 3.0), math.fsum(np.exp(x - 3.0))) <= 4
    assert _ulps(sum_exp(x, -1.0), math.fsum(np.exp(x + 1.0))) <= 4


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 1000])
def test_random_rows_match_an_exact_sum(sum_exp, n):
    rng = np.random.default_rng(n)
    x = rng.normal(scale=30.0, size=n)
    m = float(x.max()) if n else 0.0
    want = math.fsum(np.exp(x - m))
    got = sum_exp(x, m)
    assert got == pytest.approx(want, rel=1e-14, abs=0.0)


@pytest.mark.parametrize("pos", [0, 5, 13, 37, 41])
@pytest.mark.parametrize(
    "special, m",
    [(np.nan, 0.0), (np.inf, 0.0), (600.0, 0.0), (709.5, 0.0), (710.0, 0.0), (355.0, 0.0), (np.inf, np.inf)],
)
def test_special_values_anywhere_give_numpys_sum(sum_exp, special, m, pos):
    # NaN, inf and arguments too large for the vector path (its exponent holds e <= 511):
    # the row is summed again with libm's exp, wherever in the row the value sits
    rng = np.random.default_rng(pos)
    x = rng.normal(size=42)
    x[pos] = special
    with np.errstate(over="ignore", invalid="ignore"):
        want = float(np.sum(np.exp(x - m)))
    got = sum_exp(x, m)
    if math.isnan(want) or math.isinf(want):
        assert got == want or (math.isnan(got) and math.isnan(want)), (got, want)
    else:
        assert got == pytest.approx(want, rel=1e-13)


def test_minus_infinity_entries_count_as_zero(sum_exp):
    x = np.array([-np.inf, 0.0, -np.inf, -1.0] * 10)
    assert sum_exp(x) == pytest.approx(10 * (1 + math.exp(-1.0)), rel=1e-15)
    assert sum_exp(np.full(37, -np.inf)) == 0.0
