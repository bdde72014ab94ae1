"""C for reductions: ``Reduce`` (sum, prod, max, min, all, any, logsumexp), ``FusedReduce``
(a reduction of an elementwise expression, never materialised) and ``Argmax``.

Every reduction is written as "accumulate values into the output":

1. the output is allocated and filled with the kind's identity (``-inf`` for ``max`` of
   floats...); ``max``/``min`` over an empty axis fail first with ``SG_ERR_VALUE``, as
   ``perform`` raises ``ValueError``;
2. **rows path** (the common case, chosen at run time): the reduced axes are the trailing
   ones and every input is C-contiguous (a ``FusedReduce`` input may instead be broadcast
   over all reduced axes, like ``m[:, None]``). Output element ``r`` is then the reduction of
   the ``r``-th contiguous row, computed with several independent accumulators ("lanes")
   so that gcc vectorises it (a plain ``acc += v`` loop is not vectorised without
   ``-ffast-math``, which would break NaN semantics); ranges of rows are split over the
   cores by the runtime's ``sg_par_for``;
3. otherwise the runtime's strided iterator walks the full (elementwise) shape with the
   output's strides set to 0 on the reduced axes. A run along a reduced axis (output stride
   0) is reduced into one value and combined into its output element; a run along a kept
   axis updates a contiguous output row elementwise (``out[i] += v[i]``: the layout of a
   reduction over leading axes, also vectorised). Any strides, broadcasting and empty
   arrays go through here.

``max``/``min`` of floats propagate NaN as NumPy does. The lanes use a plain comparison
(which gcc turns into vector max/min instructions that drop NaN) plus a probe ``v - v``
summed per lane, NaN exactly when some value is NaN or infinite; then the row is redone with
the exact NaN-propagating comparison (rare, and exact for the infinities too).

``logsumexp`` is computed as ``perform`` does: ``m = max``, ``m = 0`` where not finite,
``log(sum(exp(x - m))) + m``, in the output dtype (two sweeps over a row in the rows path;
four passes with a workspace buffer for the sums otherwise).

The loops are module-level kernels (:func:`_reduction_kernels`, named after a hash of their
text so equal reductions share them): the rows path is ``SG_HOT`` (-O3, vectorised), the
general path ``SG_WARM`` (-Og); the node function, compiled at the module's -O0, only checks
shapes, allocates and dispatches. ``Argmax``'s loop is an ``SG_HOT`` kernel too.

Sums accumulate in the output dtype (as NumPy) but in a different order than NumPy's
pairwise summation: float results agree to rounding, integers exactly (wrapping, the build
uses ``-fwrapv``).
"""

from __future__ import annotations

import hashlib

import numpy as np

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.elemwise_codegen import _simd_declarations, scalar_body
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.fused_reduce import FusedReduce
from symgraph.tensor.reduction import Argmax, Reduce

__all__ = ["ReduceC", "FusedReduceC", "ArgmaxC", "PARALLEL_THRESHOLD"]

#: Elements (rows x row length) above which the rows path is split over the cores.
PARALLEL_THRESHOLD = 100_000

#: Most arrays the strided iterator walks together (SG_ITER_MAXARRAYS in sg_runtime.h).
_MAX_ITER_ARRAYS = 32

_KINDS = ("sum", "prod", "max", "min", "all", "any")

_INT_LIMITS = {
    "int8": ("(-128)", "127"),
    "int16": ("(-32768)", "32767"),
    "int32": ("(-2147483647 - 1)", "2147483647"),
    "int64": ("(-9223372036854775807LL - 1)", "9223372036854775807LL"),
    "uint8": ("0", "255"),
    "bool": ("0", "1"),
}


#: Elements of a row whose exp a logsumexp computes into a stack buffer before summing them.
_LSE_CHUNK = 256


def _is_float(dtype: str) -> bool:
    return np.dtype(dtype).kind == "f"


def _identity(kind: str, dtype: str) -> str:
    """The C initial value of an accumulator of ``kind`` in ``dtype``."""
    if kind == "sum" or kind == "any":
        return "0"
    if kind == "prod" or kind == "all":
        return "1"
    if _is_float(dtype):
        return "-INFINITY" if kind == "max" else "INFINITY"
    low, high = _INT_LIMITS[dtype]
    return low if kind == "max" else high


def _to(dtype: str, expr: str) -> str:
    """``expr`` converted to ``dtype``. In a region module npy_bool is NumPy's unsigned char
    (numpy's headers come first), so a conversion to bool must compare with 0 explicitly."""
    if dtype == "bool":
        return f"(npy_bool)(({expr}) != 0)"
    return f"({C_TYPES[dtype]})({expr})"


def _update(kind: str, dtype: str, acc: str, v: str) -> str:
    """The exact statement folding value ``v`` into accumulator ``acc`` (NaN-propagating)."""
    if kind == "sum":
        return f"{acc} = {_to(dtype, f'{acc} + {v}')};"
    if kind == "prod":
        return f"{acc} = {_to(dtype, f'{acc} * {v}')};"
    if kind == "all":
        return f"{acc} = {acc} && {v};"
    if kind == "any":
        return f"{acc} = {acc} || {v};"
    cmp = ">" if kind == "max" else "<"
    nan = f" || {v} != {v}" if _is_float(dtype) else ""
    return f"{acc} = ({v} {cmp} {acc}{nan}) ? {v} : {acc};"


def _lane_update(kind: str, dtype: str, acc: str, v: str) -> str:
    """The vectorisable lane update: for float max/min a plain comparison (NaN is caught by
    the probe, see the module docstring), otherwise the exact update."""
    if kind in ("max", "min") and _is_float(dtype):
        cmp = ">" if kind == "max" else "<"
        return f"{acc} = {v} {cmp} {acc} ? {v} : {acc};"
    return _update(kind, dtype, acc, v)


def _lanes(dtype: str) -> int:
    return 32 if dtype == "float64" else 64


class _Names:
    """Unique C identifiers inside one node's block."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.count = 0

    def __call__(self, what: str) -> str:
        self.count += 1
        return f"{self.prefix}{what}{self.count}_"


#: Rows of a logsumexp whose logs are taken together (one vectorised loop per block).
_LSE_ROW_BLOCK = 64


def _run_reduce(names: _Names, res: str, n: str, ins: list, kind: str, dtype: str, value, nan_exact: bool = True) -> list[str]:
    """C declaring ``acc_t res`` = the reduction of the values of a run of ``n`` elements.

    ``nan_exact=False`` lets a float max/min skip the NaN probe: the result is then only
    exact for rows without NaN (logsumexp's shift, where a NaN reaches the sum anyway).

    ``ins[k]`` is ``(mode, ptr, stride, ctype)`` with mode ``"contig"`` (``ptr`` a char
    pointer to contiguous elements), ``"scalar"`` (one element at ``ptr``) or ``"strided"``
    (byte ``stride``). ``value(loads)`` returns ``(statements, expression in the acc type)``
    for the C expressions ``loads`` of the inputs.
    """
    acc_c = C_TYPES[dtype]
    out = [f"{acc_c} {res} = {_identity(kind, dtype)};"]
    pre = []
    for k, (mode, ptr, stride, ctype) in enumerate(ins):
        q = names(f"q{k}")
        if mode == "contig":
            pre.append(f"const {ctype} *restrict {q} = (const {ctype} *)({ptr});")
        elif mode == "scalar":
            pre.append(f"const {ctype} {q} = *(const {ctype} *)({ptr});")
        else:
            pre.append(f"const char *{q} = {ptr};")
        ins[k] = (mode, q, stride, ctype)

    def element(i: str, acc: str, update) -> str:
        loads = []
        for mode, q, stride, ctype in ins:
            if mode == "contig":
                loads.append(f"{q}[{i}]")
            elif mode == "scalar":
                loads.append(q)
            else:
                loads.append(f"*(const {ctype} *)({q} + ({i}) * {stride})")
        stmts, expr = value(loads)
        v = names("v")
        return "{ " + " ".join(stmts) + f" const {acc_c} {v} = {expr}; {update(kind, dtype, acc, v)} }}"

    i = names("i")
    out.append("{")
    out.extend(pre)
    # Integer reductions are associative: gcc vectorises the plain loop itself, so lanes are
    # only for floats (where they also keep compile times down for small integer types).
    use_lanes = _is_float(dtype) and kind in ("sum", "prod", "max", "min") and all(m != "strided" for m, *_ in ins)
    if use_lanes:
        w = _lanes(dtype)
        lane, lk, probe = names("lane"), names("l"), names("probe")
        check = kind in ("max", "min") and _is_float(dtype) and nan_exact
        out.append(f"{acc_c} {lane}[{w}]; for (int {lk} = 0; {lk} < {w}; {lk}++) {lane}[{lk}] = {_identity(kind, dtype)};")
        if check:
            out.append(f"{acc_c} {probe}[{w}] = {{0}};")
        out.append(f"sg_index {i} = 0;")
        out.append(f"for (; {i} + {w} <= {n}; {i} += {w}) {{")
        out.append(f"  for (int {lk} = 0; {lk} < {w}; {lk}++) {{")
        if check:
            # the lane update plus the NaN/inf probe on the same value
            def lane_and_probe(kind_, dtype_, acc, v):
                return f"{_lane_update(kind_, dtype_, acc, v)} {probe}[{lk}] += {v} - {v};"

            out.append("    " + element(f"{i} + {lk}", f"{lane}[{lk}]", lane_and_probe))
        else:
            out.append("    " + element(f"{i} + {lk}", f"{lane}[{lk}]", _lane_update))
        out.append("  }")
        out.append("}")
        # max/min without the NaN probe: the tail goes into the lanes too (a vectorised
        # loop), instead of a scalar loop comparing for NaN
        tail_in_lanes = kind in ("max", "min") and not check
        if tail_in_lanes:
            out.append(f"for (int {lk} = 0; {lk} < {n} - {i}; {lk}++) " + element(f"{i} + {lk}", f"{lane}[{lk}]", _lane_update))
            out.append(f"{i} = {n};")
        # fold the lanes pairwise (vector operations, not a chain of w dependent updates),
        # and only when a group of w ran: short rows leave every lane at the identity
        step = names("w")
        out.append(f"if ({n} > 0) {{" if tail_in_lanes else f"if ({i} >= {w}) {{")
        out.append(f"  for (int {step} = {w // 2}; {step} > 0; {step} /= 2)")
        out.append(f"    for (int {lk} = 0; {lk} < {step}; {lk}++) {_lane_update(kind, dtype, f'{lane}[{lk}]', f'{lane}[{lk} + {step}]')}")
        out.append(f"  {_update(kind, dtype, res, f'{lane}[0]')}")
        out.append("}")
        out.append(f"for (; {i} < {n}; {i}++) " + element(i, res, _update))
        if check:
            bad = names("bad")
            out.append(f"int {bad} = 0; for (int {lk} = 0; {lk} < {w}; {lk}++) {bad} |= {probe}[{lk}] != {probe}[{lk}];")
            out.append(f"if ({bad}) {{ {res} = {_identity(kind, dtype)}; for ({i} = 0; {i} < {n}; {i}++) " + element(i, res, _update) + " }")
    else:
        out.append(f"for (sg_index {i} = 0; {i} < {n}; {i}++) " + element(i, res, _update))
    out.append("}")
    return out


def _run_accumulate(names: _Names, target: str, tstride: str, n: str, ins: list, kind: str, dtype: str, value) -> list[str]:
    """C folding the values of a run of ``n`` elements into ``n`` output elements starting at
    ``target`` (byte stride ``tstride``; ``"contig"`` modes use typed pointers)."""
    acc_c = C_TYPES[dtype]
    out = ["{"]
    loads_of = []
    i = names("i")
    for k, (mode, ptr, stride, ctype) in enumerate(ins):
        q = names(f"q{k}")
        if mode == "contig":
            out.append(f"const {ctype} *restrict {q} = (const {ctype} *)({ptr});")
            loads_of.append(f"{q}[{i}]")
        elif mode == "scalar":
            out.append(f"const {ctype} {q} = *(const {ctype} *)({ptr});")
            loads_of.append(q)
        else:
            out.append(f"const char *{q} = {ptr};")
            loads_of.append(f"*(const {ctype} *)({q} + {i} * {stride})")
    t = names("t")
    if tstride is None:
        out.append(f"{acc_c} *restrict {t} = ({acc_c} *)({target});")
        dest = f"{t}[{i}]"
    else:
        out.append(f"char *{t} = {target};")
        dest = f"*({acc_c} *)({t} + {i} * {tstride})"
    stmts, expr = value(loads_of)
    v = names("v")
    out.append(f"for (sg_index {i} = 0; {i} < {n}; {i}++) {{ " + " ".join(stmts) + f" const {acc_c} {v} = {expr}; {_update(kind, dtype, dest, v)} }}")
    out.append("}")
    return out


def _hot_helper(helpers: list, what: str, ins: list, which: int, kind: str, dtype: str, value) -> str:
    """Append to ``helpers`` an ``SG_HOT`` function for one typed run of the general path and
    return its name. ``what`` is ``"reduce"`` (``acc f(n, p0, ...)``: the reduction of a run,
    inputs contiguous or broadcast per ``ins[k][3 + which]``) or ``"accumulate"``
    (``void f(n, t, p0, ...)``: ``t[i] = update(t[i], value)`` over a contiguous run)."""
    acc_c = C_TYPES[dtype]
    names = _Names("h_")
    params = ", ".join(f"const char *p{k}" for k in range(len(ins)))
    fast = [("scalar" if scal[which] else "contig", f"p{k}", None, ctype) for k, (_, _, ctype, *scal) in enumerate(ins)]
    if what == "reduce":
        lines = [f"SG_HOT static {acc_c} @F@(sg_index n_, {params}) {{"]
        lines += _run_reduce(names, "res_", "n_", fast, kind, dtype, value)
        lines.append("return res_;")
    else:
        lines = [f"SG_HOT static void @F@(sg_index n_, char *t_, {params}) {{"]
        lines += _run_accumulate(names, "t_", None, "n_", fast, kind, dtype, value)
    lines.append("}")
    text = "\n".join(lines)
    name = ("sg_redrun_" if what == "reduce" else "sg_redacc_") + hashlib.sha1(text.encode()).hexdigest()[:16]
    # Guarded: another reduction's support code may define the same helper.
    text = f"#ifndef SG_DEF_{name}\n#define SG_DEF_{name}\n" + text.replace("@F@", name) + "\n#endif"
    if text not in helpers:
        helpers.append(text)
    return name


def _general_loop(names, err, nd, shape, target, tstrides, ins, kind, dtype, value, helpers: list | None) -> list[str]:
    """The strided-iterator loop over the full shape ``shape`` (``nd`` dims).

    ``target`` is the accumulator array's data pointer and ``tstrides`` its strides over the
    full shape (0 on reduced axes); ``ins[k]`` is ``(data, strides name, ctype, scalar_in_reduce_run,
    scalar_in_accumulate_run)``: the last two say how input k is expected to look along a run
    on the last axis (broadcast: stride 0, else contiguous); the run's actual strides are
    checked before taking the typed fast loops, so any layout is correct.

    The two typed fast loops (a contiguous run along a reduced axis; a run along a kept axis,
    ``out[i] += v[i]``, the layout of reductions over leading axes) are ``SG_HOT`` functions
    appended to ``helpers`` when it is a list: when this loop is the node's main path (no rows
    kernel). With ``helpers=None`` (the node has a rows kernel, so this loop only sees unusual
    layouts) they are written inline, compiled with the ``SG_WARM`` kernel around them.
    """
    acc_c = C_TYPES[dtype]
    narr = len(ins) + 1
    it = names("it")
    out = ["{", f"sg_iter {it};"]
    out.append(f"char *{it}b[{narr}] = {{{target}, {', '.join(f'(char *){d}' for d, *_ in ins)}}};")
    out.append(f"const sg_index *{it}s[{narr}] = {{{tstrides}, {', '.join(s for _, s, *_ in ins)}}};")
    out.append(f"SG_CHECK(sg_iter_init(&{it}, {err}, {narr}, {it}b, {it}s, {nd}, {shape}));")
    out.append(f"if ({it}.size) do {{")
    n = names("n")
    out.append(f"  const sg_index {n} = {it}.inner_size;")
    out.append(f"  char *const {it}t = {it}.ptrs[0]; const sg_index {it}ts = {it}.inner_strides[0];")

    def cond(which: int) -> str:
        parts = []
        for k, (_, _, ctype, *scal) in enumerate(ins):
            want = "0" if scal[which] else f"(sg_index)sizeof({ctype})"
            parts.append(f"{it}.inner_strides[{k + 1}] == {want}")
        return " && ".join(parts) or "1"

    def fast_ins(which: int) -> list:
        return [("scalar" if scal[which] else "contig", f"{it}.ptrs[{k + 1}]", None, ctype)
                for k, (_, _, ctype, *scal) in enumerate(ins)]

    strided_ins = lambda: [("strided", f"{it}.ptrs[{k + 1}]", f"{it}.inner_strides[{k + 1}]", ctype)  # noqa: E731
                           for k, (_, _, ctype, *_) in enumerate(ins)]
    r = names("r")
    out.append(f"  if ({it}ts == 0) {{")
    out.append(f"    if ({n} > 1 && {cond(0)}) {{")
    ptrs = ", ".join(f"{it}.ptrs[{k + 1}]" for k in range(len(ins)))
    if helpers is None:
        out += _run_reduce(names, r, n, fast_ins(0), kind, dtype, value)
    else:
        out.append(f"      const {acc_c} {r} = {_hot_helper(helpers, 'reduce', ins, 0, kind, dtype, value)}({n}, {ptrs});")
    out.append(f"      {_update(kind, dtype, f'*({acc_c} *){it}t', r)}")
    out.append("    } else {")
    out += _run_reduce(names, r, n, strided_ins(), kind, dtype, value)
    out.append(f"      {_update(kind, dtype, f'*({acc_c} *){it}t', r)}")
    out.append("    }")
    out.append(f"  }} else if ({it}ts == (sg_index)sizeof({acc_c}) && {cond(1)}) {{")
    if helpers is None:
        out += _run_accumulate(names, f"{it}t", None, n, fast_ins(1), kind, dtype, value)
    else:
        out.append(f"    {_hot_helper(helpers, 'accumulate', ins, 1, kind, dtype, value)}({n}, {it}t, {ptrs});")
    out.append("  } else {")
    out += _run_accumulate(names, f"{it}t", f"{it}ts", n, strided_ins(), kind, dtype, value)
    out.append("  }")
    out.append(f"}} while (sg_iter_next(&{it}));")
    out.append("}")
    return out


# --------------------------------------------------------------------------- node code


def _math(dtype: str, fn: str) -> str:
    """The libm function ``fn`` for ``dtype`` (``expf`` for float32)."""
    return fn + "f" if dtype == "float32" else fn


def _prod(items: list[str]) -> str:
    return " * ".join(f"(sg_index)({s})" for s in items) or "(sg_index)1"


class _Plan:
    """What the generator needs to know about one reduction node."""

    def __init__(self, node, kind, acc_dtype, in_dtypes, static_one, axes, value):
        self.node = node
        self.kind = kind
        self.acc_dtype = acc_dtype
        self.in_dtypes = in_dtypes
        self.static_one = static_one  # per input, per full dimension: statically size 1
        self.nd = len(static_one[0]) if static_one else 0
        self.axes = axes
        self.kept = [d for d in range(self.nd) if d not in axes]
        self.value = value  # loads -> (statements, expression in the acc type)

    def row_classes(self):
        """Per input "full" or "row" (broadcast over every reduced axis) when the rows path
        applies statically, else None."""
        nd, axes = self.nd, self.axes
        if not axes or tuple(axes) != tuple(range(nd - len(axes), nd)):
            return None
        all_one = [all(s[d] for s in self.static_one) for d in range(nd)]
        classes = []
        for s in self.static_one:
            bdims = {d for d in range(nd) if s[d] and not all_one[d]}
            if not bdims:
                classes.append("full")
            elif bdims <= set(axes) and all(s[d] for d in axes):
                classes.append("row")
            else:
                return None
        return classes


def _lse_row_sum(names: _Names, dtype: str, a0: str, in_c: str, r: str, m: str, res: str) -> list[str]:
    """C declaring ``res`` = the sum of ``exp(x - m)`` over one contiguous row of a logsumexp.

    float64 rows call ``sg_sum_exp_shifted_f64`` of ``sg_math.h`` where the target has
    AVX-512 (its own vector exp, twice as fast as libmvec's; a preprocessor switch in the
    kernel, as only the compiler knows the target), else :func:`_lse_row_sum_libm`'s loop.
    """
    acc_c = C_TYPES[dtype]
    q = names("q")
    row = f"    const {in_c} *restrict {q} = (const {in_c} *)({a0} + {r} * cols_ * (sg_index)sizeof({in_c}));"
    if dtype == "float64" and in_c == C_TYPES["float64"]:
        # sg_math.h's own vector exp where the target has one (twice libmvec's speed)
        vector = [row, f"    const {acc_c} {res} = sg_sum_exp_shifted_f64({q}, cols_, {m});"]
        general = _lse_row_sum_libm(names, dtype, in_c, q, m, res)
        return ["#if SG_HAVE_SUM_EXP_F64", *vector, "#else", row, *general, "#endif"]
    return [row, *_lse_row_sum_libm(names, dtype, in_c, q, m, res)]


def _lse_row_sum_libm(names: _Names, dtype: str, in_c: str, q: str, m: str, res: str) -> list[str]:
    """The loop of :func:`_lse_row_sum` over libm's exp, on the row pointer ``q``.

    The exps of a chunk of :data:`_LSE_CHUNK` elements go into a stack buffer (a loop the
    compiler vectorises whatever its length, SIMD exp included), then are added into lanes
    that live across chunks and are folded pairwise once per row: short rows (W4's 10
    classes) never reached the vector loop of a lane reduction. (Fusing the maximum into the
    same sweep, rescaling the sum when a chunk raises it, measured 1.5 times slower.)
    """
    acc_c = C_TYPES[dtype]
    fn_exp = _math(dtype, "exp")
    w = _lanes(dtype)
    buf, c0, ln, k, lane, tail, lk, step = (
        names("buf"), names("c"), names("len"), names("k"), names("lane"), names("tail"), names("l"), names("w"),
    )
    add = lambda a, b: _to(dtype, f"{a} + {b}")  # noqa: E731
    return [
        f"    {acc_c} {buf}[{_LSE_CHUNK}], {lane}[{w}], {tail} = 0;",
        f"    for (int {lk} = 0; {lk} < {w}; {lk}++) {lane}[{lk}] = 0;",
        f"    for (sg_index {c0} = 0; {c0} < cols_; {c0} += {_LSE_CHUNK}) {{",
        f"      const sg_index {ln} = cols_ - {c0} < {_LSE_CHUNK} ? cols_ - {c0} : {_LSE_CHUNK};",
        f"      for (sg_index {k} = 0; {k} < {ln}; {k}++) {buf}[{k}] = {fn_exp}(({acc_c}){q}[{c0} + {k}] - {m});",
        f"      sg_index {k} = 0;",
        f"      for (; {k} + {w} <= {ln}; {k} += {w}) {{",
        # the next row into the cache while this one computes exps: its maximum, the next
        # loop, would otherwise wait for memory (a prefetch never faults, even past the end)
        f"        for (int {lk} = 0; {lk} < {w}; {lk} += 64 / (int)sizeof({in_c})) __builtin_prefetch({q} + cols_ + {c0} + {k} + {lk});",
        f"        for (int {lk} = 0; {lk} < {w}; {lk}++) {lane}[{lk}] = {add(f'{lane}[{lk}]', f'{buf}[{k} + {lk}]')};",
        "      }",
        f"      for (; {k} < {ln}; {k}++) {tail} = {add(tail, f'{buf}[{k}]')};",
        "    }",
        f"    for (int {step} = {w // 2}; {step} > 0; {step} /= 2)",
        f"      for (int {lk} = 0; {lk} < {step}; {lk}++) {lane}[{lk}] = {add(f'{lane}[{lk}]', f'{lane}[{lk} + {step}]')};",
        f"    const {acc_c} {res} = {add(f'{lane}[0]', tail)};",
    ]


def _reduction_kernels(plan: _Plan) -> tuple[str, str, str | None, str]:
    """The kernels of a reduction (``c_kernel_code``) and the names its node calls.

    The loops live in module-level functions named after a hash of their text (equal
    reductions of a graph share them), so the node's own function stays small and the
    module can be compiled at a low level:

    - rows kernel, ``SG_HOT``: ``(r0, r1, cols, a0.data, ..., out)`` reduces the contiguous
      rows ``r0 <= r < r1`` (the rows path of the module docstring), with a ``_part``
      wrapper for ``sg_par_for``;
    - general kernel, ``SG_WARM``: ``(err, ws, slot, full shape, a0, ..., out)`` the
      strided-iterator path, for any layout.

    Returns ``(declarations, definitions, rows kernel name or None, general kernel name)``:
    the node calls ``<rows>_part`` (with a ``<rows>_ctx``) and the general kernel, which
    are ``SG_KERNEL`` functions declared for the module.
    """
    kind, dtype, nd, axes, kept = plan.kind, plan.acc_dtype, plan.nd, plan.axes, plan.kept
    acc_c = C_TYPES[dtype]
    nin = len(plan.in_dtypes)
    in_c = [C_TYPES[d] for d in plan.in_dtypes]
    inputs = [f"a{k}" for k in range(nin)]
    fn_exp, fn_log = _math(dtype, "exp"), _math(dtype, "log")
    lse = kind == "logsumexp"
    names = _Names("r_")
    parts = []
    declarations = []  # for the module: what the node's code calls (c_kernel_code)

    classes = plan.row_classes()
    if classes is not None:
        params = ", ".join(f"const char *{i}" for i in inputs)
        lines = [f"SG_HOT static void @R@(sg_index r0_, sg_index r1_, sg_index cols_, {params}, {acc_c} *o_) {{"]
        emit = lines.append
        r = names("row")
        if lse:
            # blocks of rows: the logs of a block's sums in one vectorised loop at its end
            emit(f"  for (sg_index rb_ = r0_; rb_ < r1_; rb_ += {_LSE_ROW_BLOCK}) {{")
            emit(f"  const sg_index re_ = r1_ - rb_ < {_LSE_ROW_BLOCK} ? r1_ : rb_ + {_LSE_ROW_BLOCK};")
            emit(f"  {acc_c} shift_[{_LSE_ROW_BLOCK}];")
            emit(f"  for (sg_index {r} = rb_; {r} < re_; {r}++) {{")
        else:
            emit(f"  for (sg_index {r} = r0_; {r} < r1_; {r}++) {{")

        def row_ins():
            return [("contig", f"{inputs[k]} + {r} * cols_ * (sg_index)sizeof({in_c[k]})", None, in_c[k])
                    if c == "full" else ("scalar", f"{inputs[k]} + {r} * (sg_index)sizeof({in_c[k]})", None, in_c[k])
                    for k, c in enumerate(classes)]

        res = names("res")
        if lse:
            m = names("m")
            # NaN needs no probe here: it reaches the sum of exp through its own element
            lines.extend(_run_reduce(names, m, "cols_", row_ins(), "max", dtype, plan.value, nan_exact=False))
            emit(f"    if (!isfinite({m})) {m} = 0;")
            if classes[0] == "full":
                lines.extend(_lse_row_sum(names, dtype, inputs[0], in_c[0], r, m, res))
            else:
                shifted = lambda loads: ([], f"{fn_exp}(({acc_c})({loads[0]}) - {m})")  # noqa: E731
                lines.extend(_run_reduce(names, res, "cols_", row_ins(), "sum", dtype, shifted))
            emit(f"    o_[{r}] = {res}; shift_[{r} - rb_] = {m};")
            emit("  }")
            emit(f"  for (sg_index {r} = rb_; {r} < re_; {r}++) o_[{r}] = {fn_log}(o_[{r}]) + shift_[{r} - rb_];")
        else:
            lines.extend(_run_reduce(names, res, "cols_", row_ins(), kind, dtype, plan.value))
            emit(f"    o_[{r}] = {res};")
        emit("  }")
        emit("}")
        # the kernel's arguments as one struct, for sg_par_for's parts (ranges of rows)
        fields = " ".join(["sg_index cols;"] + [f"const char *{i};" for i in inputs] + [f"{acc_c} *o;"])
        args = ", ".join(["c_->cols"] + [f"c_->{i}" for i in inputs] + ["c_->o"])
        declarations.append(f"typedef struct {{ {fields} }} @R@_ctx;")
        declarations.append("SG_KERNEL void @R@_part(void *ctx_, sg_index lo_, sg_index hi_);")
        emit(f"SG_KERNEL void @R@_part(void *ctx_, sg_index lo_, sg_index hi_) {{ const @R@_ctx *c_ = (const @R@_ctx *)ctx_; @R@(lo_, hi_, {args}); }}")
        parts.append("\n".join(lines))

    # ---- general path: accumulate into the output through the strided iterator
    # HOT run helpers only where this path is the main one: they cost compile time.
    helpers: list[str] | None = [] if classes is None else None
    params = ", ".join(f"const sg_array {i}" for i in inputs)
    signature = f"int @G@(sg_error *err, sg_ws *ws, int slot_, const sg_index *full_, {params}, sg_array out_)"
    declarations.append(f"SG_KERNEL {signature};")
    lines = [f"SG_WARM SG_KERNEL {signature} {{"]
    emit = lines.append
    emit("    (void)ws; (void)slot_;")
    nout = "nout_"
    emit(f"const sg_index {nout} = {_prod([f'full_[{d}]' for d in kept])};")
    emit(f"{acc_c} *const o_ = ({acc_c} *)out_.data;")
    ts = "ts_"
    emit(f"sg_index {ts}[{max(nd, 1)}] = {{0}};")
    for j, d in enumerate(kept):
        emit(f"{ts}[{d}] = out_.strides[{j}];")
    gins = []
    for k in range(nin):
        if any(plan.static_one[k]):
            st = f"st{k}_"
            emit(f"sg_index {st}[{max(nd, 1)}] = {{0}};")
            for d in range(nd):
                if not plan.static_one[k][d]:
                    emit(f"{st}[{d}] = {inputs[k]}.strides[{d}];")
        else:
            st = f"{inputs[k]}.strides"
        scal = bool(nd) and plan.static_one[k][nd - 1]
        gins.append((f"{inputs[k]}.data", st, in_c[k], scal, scal))
    first_kind = "max" if lse else kind
    emit(f"for (sg_index i_ = 0; i_ < {nout}; i_++) o_[i_] = {_identity(first_kind, dtype)};")
    lines.extend(_general_loop(names, "err", nd, "full_", "out_.data", ts, gins, first_kind, dtype, plan.value, helpers))
    if lse:
        emit(f"for (sg_index i_ = 0; i_ < {nout}; i_++) if (!isfinite(o_[i_])) o_[i_] = 0;")
        emit(f"{acc_c} *s_ = ({acc_c} *)sg_ws_scratch(ws, slot_, (size_t){nout} * sizeof({acc_c}), err);")
        emit("if (!s_) return err->code ? err->code : sg_error_set(err, SG_ERR_MEMORY, \"out of memory\");")
        emit(f"for (sg_index i_ = 0; i_ < {nout}; i_++) s_[i_] = 0;")
        # the shift m is read like an input: broadcast along reduced axes, contiguous along kept ones
        gins2 = [gins[0], ("out_.data", ts, acc_c, bool(nd) and (nd - 1) in axes, False)]
        shifted2 = lambda loads: ([], f"{fn_exp}(({acc_c})({loads[0]}) - {loads[1]})")  # noqa: E731
        lines.extend(_general_loop(names, "err", nd, "full_", "(char *)s_", ts, gins2, "sum", dtype, shifted2, helpers))
        emit(f"for (sg_index i_ = 0; i_ < {nout}; i_++) o_[i_] = {fn_log}(s_[i_]) + o_[i_];")
    emit("return 0;")
    emit("}")
    parts += helpers or []
    parts.append("\n".join(lines))
    head, text = "\n".join(declarations), "\n".join(parts)
    digest = hashlib.sha1((head + text).encode()).hexdigest()[:16]
    rname = f"sg_redr_{digest}" if classes is not None else None
    gname = f"sg_redg_{digest}"

    def named(code: str) -> str:
        return code.replace("@R@", rname or "").replace("@G@", gname)

    return named(head), named(text), rname, gname


def _reduction_code(plan: _Plan, name: str, inputs: list[str], output: str, sub: dict) -> str:
    """The C of one reduction node (see the module docstring for the strategy): shape
    checks and allocation here, the loops in the kernels of :func:`_reduction_kernels`."""
    err = sub["err"]
    shape = sub["shape"][0]
    kind, dtype, nd, axes, kept = plan.kind, plan.acc_dtype, plan.nd, plan.axes, plan.kept
    acc_c = C_TYPES[dtype]
    nin = len(inputs)
    if nin + 2 > _MAX_ITER_ARRAYS:
        raise NotImplementedError(f"C reduction: {nin} inputs (at most {_MAX_ITER_ARRAYS - 2})")
    _, _, rows_kernel, general_kernel = _reduction_kernels(plan)
    full = f"{name}_full"
    lines = [f"sg_index {full}[{max(nd, 1)}] = {{1}};"]
    emit = lines.append
    if nin == 1:
        for d in range(nd):
            emit(f"{full}[{d}] = {inputs[0]}.shape[{d}];")
    else:
        flags = ", ".join("1" if s else "0" for st in plan.static_one for s in st)
        emit(f"const sg_array *{name}_ins[{nin}] = {{{', '.join('&' + i for i in inputs)}}};")
        if nd:
            emit(f"static const unsigned char {name}_bc[{nin * nd}] = {{{flags}}};")
        bc = f"{name}_bc" if nd else "NULL"
        emit(f"SG_CHECK(sg_check_broadcast({err}, {nin}, {name}_ins, {bc}, NULL, {nd}, {full}));")
    for j, d in enumerate(kept):
        emit(f"{shape}[{j}] = {full}[{d}];")
    if kind in ("max", "min"):
        for d in axes:
            emit(
                f"if ({full}[{d}] == 0) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"cannot compute the {kind} over an "
                f"empty axis: the reduced axis {d} has length 0 (no identity value)\");"
            )
    emit(sub["alloc"][0])
    general = f"SG_CHECK({general_kernel}({err}, {sub['ws']}, {sub['scratch_slot']}, {full}, {', '.join(inputs)}, {output}));"
    if rows_kernel is None:
        emit(general)
        return "\n".join(lines)
    conds = [f"sg_array_is_c_contiguous(&{i})" for i in inputs]
    emit(f"if ({' && '.join(conds)}) {{")
    rows, cols = _prod([f"{full}[{d}]" for d in kept]), _prod([f"{full}[{d}]" for d in axes])
    datas = ", ".join(f"{i}.data" for i in inputs)
    emit(f"  const sg_index rows_ = {rows}, cols_ = {cols};")
    emit(f"  {rows_kernel}_ctx ctx_ = {{cols_, {datas}, ({acc_c} *){output}.data}};")
    # parts of at least PARALLEL_THRESHOLD / 2 elements (an empty row costs nothing)
    grain = f"cols_ > 0 ? 1 + {PARALLEL_THRESHOLD // 2} / cols_ : rows_ + 1"
    emit(f"  sg_par_for(rows_, {grain}, {rows_kernel}_part, &ctx_);")
    emit("} else {")
    emit("  " + general)
    emit("}")
    return "\n".join(lines)


def _cast_value(acc_dtype: str):
    return lambda loads: ([], _to(acc_dtype, loads[0]))


def _reduce_plan(node) -> _Plan:
    op = node.op
    kind = op.kind
    in_dtype = node.inputs[0].type.dtype
    out_dtype = node.outputs[0].type.dtype
    if in_dtype not in C_TYPES or out_dtype not in C_TYPES:
        raise NotImplementedError(f"C reduce: dtypes {in_dtype} -> {out_dtype}")
    if kind in ("max", "min", "all", "any"):
        rule = "bool" if kind in ("all", "any") else in_dtype
        if out_dtype != rule:  # perform casts after reducing: not this loop's semantics
            raise NotImplementedError(f"C reduce: {kind} with output dtype {out_dtype}")
    elif kind in ("sum", "prod"):
        if _is_float(in_dtype) and not _is_float(out_dtype) and out_dtype != "bool":
            raise NotImplementedError("C reduce: float to integer accumulation (NaN casts are undefined in C)")
    elif kind == "logsumexp":
        if not _is_float(out_dtype):
            raise NotImplementedError(f"C reduce: logsumexp to {out_dtype}")
    else:
        raise NotImplementedError(f"C reduce: kind {kind}")
    x = node.inputs[0]
    static_one = [[False] * x.type.ndim]  # a single input never broadcasts
    return _Plan(node, kind, out_dtype, [in_dtype], static_one, tuple(op.axis), _cast_value(out_dtype))


@register_c_impl(Reduce)
class ReduceC(CImpl):
    """C for ``Reduce`` of every kind (sum, prod, max, min, all, any, logsumexp) and dtype,
    except explicit output dtypes whose semantics the loop does not follow (a cast after
    ``max``, float to integer sums): those run in Python."""

    def c_kernel_code(self, node) -> tuple[str, str]:
        decls = _simd_declarations("exp( log(") if node.op.kind == "logsumexp" else []
        head, text, _, _ = _reduction_kernels(_reduce_plan(node))
        return head, "\n".join([*decls, text])

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        return _reduction_code(_reduce_plan(node), name, inputs, outputs[0], sub)

    def c_code_cache_version(self) -> tuple:
        return (2,)


def _fused_plan(node) -> tuple[_Plan, list[str]]:
    """The plan of a ``FusedReduce`` node and its scalar C (for the SIMD declarations)."""
    op = node.op
    in_dtypes = [v.type.dtype for v in node.inputs]
    out_dtype = node.outputs[0].type.dtype
    if op.kind not in ("sum", "prod", "max", "min"):
        raise NotImplementedError(f"C fused reduce: kind {op.kind}")
    # The scalar body reads the inputs through typed locals L<k>_ (its own temporaries are
    # t0, t1...); each element binds the loads to them first.
    locals_ = [f"L{k}_" for k in range(len(in_dtypes))]
    statements, result, value_dtype = scalar_body(op.scalar_op, locals_, in_dtypes)
    if op.kind in ("max", "min") and out_dtype != value_dtype:
        raise NotImplementedError(f"C fused reduce: {op.kind} with output dtype {out_dtype}")
    if _is_float(value_dtype) and not _is_float(out_dtype) and out_dtype != "bool":
        raise NotImplementedError("C fused reduce: float to integer accumulation")
    if out_dtype not in C_TYPES:
        raise NotImplementedError(f"C fused reduce: output dtype {out_dtype}")

    def value(exprs):
        binds = [f"const {C_TYPES[d]} {n} = {e};" for n, d, e in zip(locals_, in_dtypes, exprs)]
        return binds + list(statements), _to(out_dtype, result)

    static_one = [[s == 1 for s in v.type.shape] for v in node.inputs]
    plan = _Plan(node, op.kind, out_dtype, in_dtypes, static_one, tuple(op.axis), value)
    return plan, statements + [result]


@register_c_impl(FusedReduce)
class FusedReduceC(CImpl):
    """C for ``FusedReduce``: the elementwise value (``scalar_body``, the elementwise
    generator's) is computed and accumulated in the same loop, never stored."""

    def c_kernel_code(self, node) -> tuple[str, str]:
        plan, code = _fused_plan(node)
        head, text, _, _ = _reduction_kernels(plan)
        return head, "\n".join([*_simd_declarations("\n".join(code)), text])

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        plan, _ = _fused_plan(node)
        return _reduction_code(plan, name, inputs, outputs[0], sub)

    def c_code_cache_version(self) -> tuple:
        return (2,)


def _argmax_kernel(node) -> tuple[str, str]:
    """``(definition, name)`` of the loop of an ``Argmax`` node: a module-level ``SG_HOT``
    ``SG_KERNEL`` function ``(err, x, out)`` (the node keeps the checks and the allocation)."""
    op = node.op
    dtype = node.inputs[0].type.dtype
    if dtype not in C_TYPES:
        raise NotImplementedError(f"C argmax: dtype {dtype}")
    ctype = C_TYPES[dtype]
    nd = node.inputs[0].type.ndim
    cmp = ">" if op.kind == "argmax" else "<"
    nan = " || (v_ != v_ && b_ == b_)" if _is_float(dtype) else ""
    better = f"(v_ {cmp} b_{nan})"
    lines = ["SG_HOT SG_KERNEL int @K@(sg_error *err, const sg_array x_, sg_array o_) {"]
    emit = lines.append
    if op.axis is None:
        emit("sg_iter it_; char *b_base[1] = {x_.data}; const sg_index *b_st[1] = {x_.strides};")
        emit(f"SG_CHECK(sg_iter_init(&it_, err, 1, b_base, b_st, {nd}, x_.shape));")
        emit(f"sg_index k_ = 0, best_ = 0; {ctype} b_ = *(const {ctype} *)x_.data;")
        emit("do {")
        emit("  const char *p_ = it_.ptrs[0]; const sg_index s_ = it_.inner_strides[0];")
        emit("  for (sg_index j_ = 0; j_ < it_.inner_size; j_++, k_++) {")
        emit(f"    const {ctype} v_ = *(const {ctype} *)(p_ + j_ * s_);")
        emit(f"    if {better} {{ b_ = v_; best_ = k_; }}")
        emit("  }")
        emit("} while (sg_iter_next(&it_));")
        emit("*(npy_int64 *)o_.data = (npy_int64)best_;")
    else:
        a = op.axis
        kept = [d for d in range(nd) if d != a]
        m = max(len(kept), 1)
        emit(f"sg_index ks_[{m}] = {{1}}, xs_[{m}] = {{0}};")
        for j, d in enumerate(kept):
            emit(f"ks_[{j}] = x_.shape[{d}]; xs_[{j}] = x_.strides[{d}];")
        emit("sg_iter it_; char *b_base[2] = {o_.data, x_.data}; const sg_index *b_st[2] = {o_.strides, xs_};")
        emit(f"SG_CHECK(sg_iter_init(&it_, err, 2, b_base, b_st, {len(kept)}, ks_));")
        emit(f"const sg_index n_ = x_.shape[{a}], sa_ = x_.strides[{a}];")
        emit("if (it_.size) do {")
        emit("  for (sg_index j_ = 0; j_ < it_.inner_size; j_++) {")
        emit("    const char *p_ = it_.ptrs[1] + j_ * it_.inner_strides[1];")
        emit(f"    {ctype} b_ = *(const {ctype} *)p_; sg_index best_ = 0;")
        emit("    for (sg_index k_ = 1; k_ < n_; k_++) {")
        emit(f"      const {ctype} v_ = *(const {ctype} *)(p_ + k_ * sa_);")
        emit(f"      if {better} {{ b_ = v_; best_ = k_; }}")
        emit("    }")
        emit("    *(npy_int64 *)(it_.ptrs[0] + j_ * it_.inner_strides[0]) = (npy_int64)best_;")
        emit("  }")
        emit("} while (sg_iter_next(&it_));")
    emit("return 0;")
    emit("}")
    text = "\n".join(lines)
    name = "sg_argmax_" + hashlib.sha1(text.encode()).hexdigest()[:16]
    return text.replace("@K@", name), name


@register_c_impl(Argmax)
class ArgmaxC(CImpl):
    """C for ``Argmax`` (argmax/argmin along one axis or over the flattened input, C order):
    the first extremum wins, and the first NaN when there is one (NumPy's rule)."""

    def c_kernel_code(self, node) -> tuple[str, str]:
        text, name = _argmax_kernel(node)
        return f"SG_KERNEL int {name}(sg_error *err, const sg_array x_, sg_array o_);", text

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        op = node.op
        _, kernel = _argmax_kernel(node)
        x, out, err = inputs[0], outputs[0], sub["err"]
        nd = node.inputs[0].type.ndim
        lines = []
        emit = lines.append
        if op.axis is None:
            emit(f"sg_index {name}_n = {_prod([f'{x}.shape[{d}]' for d in range(nd)])};")
            emit(f"if ({name}_n == 0) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"cannot take the {op.kind} of an empty array (an empty axis)\");")
        else:
            a = op.axis
            emit(
                f"if ({x}.shape[{a}] == 0) SG_FAIL_CODE({err}, SG_ERR_VALUE, \"cannot take the {op.kind} over "
                f"an empty axis (axis {a} has length 0)\");"
            )
            for j, d in enumerate(d for d in range(nd) if d != a):
                emit(f"{sub['shape'][0]}[{j}] = {x}.shape[{d}];")
        emit(sub["alloc"][0])
        emit(f"SG_CHECK({kernel}({err}, {x}, {out}));")
        return "\n".join(lines)

    def c_code_cache_version(self) -> tuple:
        return (2,)
