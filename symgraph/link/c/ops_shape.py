"""C implementations of the shape, view and indexing ops (see ``docs/c_backend.md``).

Registered here: ``DimShuffle``, ``Shape``, ``Shape_i``, ``MakeVector``, ``SpecifyShape``,
``Reshape``, ``Subtensor`` (basic indices), ``AdvancedSubtensor`` (one integer array on
axis 0 only), ``Alloc``, ``BroadcastTo``, ``Join``, ``Softmax`` and ``LogSoftmax``.

Ops whose ``view_map`` says so produce views: they point the output at the input's data and
fill the output's shape/strides arrays themselves (``Reshape`` only when its input is
C-contiguous; otherwise it copies into the allocated output). Every other output is
allocated with ``sub["alloc"]``.

Every size the code relies on is checked at run time (the region wrapper only checks dtype
and ndim), so no input can make it read or write out of bounds. An index out of bounds is
an ``IndexError`` from C too (``SG_ERR_INDEX``), as from Python.
"""

from __future__ import annotations

from typing import Any

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.creation import Alloc, BroadcastTo
from symgraph.tensor.elemwise import DimShuffle
from symgraph.tensor.indexing_rules import ARRAY, SCALAR, IdxSlice
from symgraph.tensor.join import Join
from symgraph.tensor.shape import Reshape, SpecifyShape
from symgraph.tensor.shape_inference import MakeVector, Shape, Shape_i
from symgraph.tensor.special import LogSoftmax, Softmax
from symgraph.tensor.subtensor import AdvancedSubtensor, Subtensor

__all__ = ["SUPPORT_CODE"]

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")

#: Helpers shared by every node of this module. One string for all nodes, so the region
#: generator (which deduplicates identical support code) emits it once; the include guard
#: also keeps it safe if it ever appears twice.
SUPPORT_CODE = r"""
#ifndef SG_OPS_SHAPE_SUPPORT
#define SG_OPS_SHAPE_SUPPORT 1
#include <math.h>

/* Copy `shape` elements of `item` bytes from the strided `src` to the strided `dst` (any
 * strides, including 0 for a broadcast source). Typed moves for the common item sizes so
 * the inner loop is not a memcpy call per element. */
SG_HOT static inline int sg_shape_copy(sg_error *err, char *dst, const sg_index *dst_strides, char *src,
                         const sg_index *src_strides, int ndim, const sg_index *shape, size_t item) {
    sg_iter it;
    char *base[2] = {dst, src};
    const sg_index *st[2] = {dst_strides, src_strides};
    SG_CHECK(sg_iter_init(&it, err, 2, base, st, ndim, shape));
    if (it.size == 0) return SG_OK;
    do {
        char *pd = it.ptrs[0], *ps = it.ptrs[1];
        sg_index sd = it.inner_strides[0], ss = it.inner_strides[1], n = it.inner_size;
        if (sd == (sg_index)item && ss == (sg_index)item) {
            memcpy(pd, ps, (size_t)n * item);
            continue;
        }
        switch (item) {
        case 1: for (sg_index k = 0; k < n; k++, pd += sd, ps += ss) *(uint8_t *)pd = *(const uint8_t *)ps; break;
        case 2: for (sg_index k = 0; k < n; k++, pd += sd, ps += ss) *(uint16_t *)pd = *(const uint16_t *)ps; break;
        case 4: for (sg_index k = 0; k < n; k++, pd += sd, ps += ss) *(uint32_t *)pd = *(const uint32_t *)ps; break;
        case 8: for (sg_index k = 0; k < n; k++, pd += sd, ps += ss) *(uint64_t *)pd = *(const uint64_t *)ps; break;
        default: for (sg_index k = 0; k < n; k++, pd += sd, ps += ss) memcpy(pd, ps, item); break;
        }
    } while (sg_iter_next(&it));
    return SG_OK;
}


/* Softmax / log-softmax of one lane of n elements (strides in bytes). The output may alias
 * the input exactly (px == po, sx == so): every pass reads element k before writing it. */
#define SG_SOFTMAX_LANE(NAME, T, EXP, LOG)                                                      \
    SG_HOT static inline void NAME(const char *px, sg_index sx, char *po, sg_index so, sg_index n, int log_) { \
        T m = -(T)INFINITY;                                                                     \
        for (sg_index k = 0; k < n; k++) {                                                      \
            T v = *(const T *)(px + k * sx);                                                    \
            if (v != v) { m = v; break; } /* NaN propagates like np.max */                     \
            if (v > m) m = v;                                                                   \
        }                                                                                       \
        if (log_) {                                                                             \
            /* LogSoftmax shifts by the max only when it is finite */                           \
            if (!isfinite(m)) m = 0;                                                            \
            double s = 0.0;                                                                     \
            for (sg_index k = 0; k < n; k++) s += (double)EXP(*(const T *)(px + k * sx) - m);   \
            T ls = LOG((T)s);                                                                   \
            for (sg_index k = 0; k < n; k++) {                                                  \
                T v = *(const T *)(px + k * sx);                                                \
                *(T *)(po + k * so) = (v - m) - ls;                                             \
            }                                                                                   \
        } else {                                                                                \
            double s = 0.0;                                                                     \
            for (sg_index k = 0; k < n; k++) {                                                  \
                T e = EXP(*(const T *)(px + k * sx) - m);                                       \
                *(T *)(po + k * so) = e;                                                        \
                s += (double)e;                                                                 \
            }                                                                                   \
            T ts = (T)s;                                                                        \
            for (sg_index k = 0; k < n; k++) *(T *)(po + k * so) /= ts;                         \
        }                                                                                       \
    }
SG_SOFTMAX_LANE(sg_softmax_lane_float64, double, exp, log)
SG_SOFTMAX_LANE(sg_softmax_lane_float32, float, expf, logf)
#undef SG_SOFTMAX_LANE
#endif /* SG_OPS_SHAPE_SUPPORT */
"""


def _ctype(var: Any) -> str:
    return C_TYPES[var.type.dtype]


def _read_int(arr: str, var: Any) -> str:
    """C expression: the value of the 0-d integer input ``arr`` as an ``npy_int64``."""
    if var.type.dtype not in _INT_DTYPES or var.type.ndim != 0:
        raise NotImplementedError(f"index/size input of type {var.type}")
    return f"((npy_int64)*(const {_ctype(var)} *){arr}.data)"


class _ShapeImpl(CImpl):
    """Common parts: the shared support code and the cache version."""

    def c_support_code(self, node: Any) -> str:
        return SUPPORT_CODE

    def c_code_cache_version(self) -> tuple:
        return (1,)


# --------------------------------------------------------------------------- DimShuffle


@register_c_impl(DimShuffle)
class DimShuffleC(_ShapeImpl):
    """A view: output dims take input dims' shape/stride, ``"x"`` dims get length 1."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not DimShuffle or op.view_map != {0: [0]}:
            raise NotImplementedError("not a plain DimShuffle")
        (x,), (z,), err = inputs, outputs, sub["err"]
        shape, strides = sub["shape"][0], sub["strides"][0]
        lines = []
        for d in op.drop:
            # Dropping is only a view if the dimension really has length 1.
            lines.append(
                f"if ({x}.shape[{d}] != 1) SG_FAIL_CODE({err}, SG_ERR_SHAPE, \"{op}: dimension {d} of the "
                f"input has length %td, but it is dropped so it must have length 1\", {x}.shape[{d}]);"
            )
        for k, e in enumerate(op.new_order):
            if e == "x":
                lines.append(f"{shape}[{k}] = 1; {strides}[{k}] = 0;")
            else:
                lines.append(f"{shape}[{k}] = {x}.shape[{e}]; {strides}[{k}] = {x}.strides[{e}];")
        lines.append(f"{z}.data = {x}.data;")
        return "\n".join(lines)


# --------------------------------------------------------------------------- Shape, Shape_i, MakeVector


@register_c_impl(Shape)
class ShapeC(_ShapeImpl):
    """The input's shape as a new int64 vector."""

    def c_code(self, node, name, inputs, outputs, sub):
        (x,), (z,) = inputs, outputs
        nd = node.inputs[0].type.ndim
        lines = [f"{sub['shape'][0]}[0] = {nd};", sub["alloc"][0]]
        lines += [f"((npy_int64 *){z}.data)[{d}] = (npy_int64){x}.shape[{d}];" for d in range(nd)]
        return "\n".join(lines)


@register_c_impl(Shape_i)
class ShapeIC(_ShapeImpl):
    """One dimension's length as a new int64 scalar."""

    def c_code(self, node, name, inputs, outputs, sub):
        (x,), (z,) = inputs, outputs
        i = node.op.i
        if i >= node.inputs[0].type.ndim:
            raise NotImplementedError("Shape_i of a missing dimension")
        return f"{sub['alloc'][0]}\n*(npy_int64 *){z}.data = (npy_int64){x}.shape[{i}];"


@register_c_impl(MakeVector)
class MakeVectorC(_ShapeImpl):
    """A new vector of the (0-d) inputs, each cast to the output dtype."""

    def c_code(self, node, name, inputs, outputs, sub):
        (z,) = outputs
        out_t = _ctype(node.outputs[0])
        if any(v.type.ndim != 0 for v in node.inputs):
            raise NotImplementedError("MakeVector of non-scalars")
        lines = [f"{sub['shape'][0]}[0] = {len(inputs)};", sub["alloc"][0]]
        for k, (a, v) in enumerate(zip(inputs, node.inputs)):
            lines.append(f"(({out_t} *){z}.data)[{k}] = ({out_t})*(const {_ctype(v)} *){a}.data;")
        return "\n".join(lines)


# --------------------------------------------------------------------------- SpecifyShape, Reshape


@register_c_impl(SpecifyShape)
class SpecifyShapeC(_ShapeImpl):
    """Check the specified lengths, then output a view of the input."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if op.view_map != {0: [0]}:
            raise NotImplementedError("SpecifyShape without a view_map")
        x, dims, (z,), err = inputs[0], inputs[1:], outputs, sub["err"]
        nd = len(op.specified)
        exp_vals, checks = [], []
        it = iter(zip(dims, node.inputs[1:]))
        for d, spec in enumerate(op.specified):
            if spec:
                arr, var = next(it)
                exp_vals.append(_read_int(arr, var))
                checks.append(f"{name}_exp[{d}] != {x}.shape[{d}]")
            else:
                exp_vals.append("-1")
        lines = []
        if checks:
            lines.append(f"npy_int64 {name}_exp[{nd}] = {{{', '.join(exp_vals)}}};")
            lines.append(f"if ({' || '.join(checks)}) {{")
            # Message like Python's: unspecified dimensions show as "?".
            lines.append(f"    char {name}_e[256], {name}_a[256]; size_t {name}_u = 0;")
            lines.append(f"    {name}_u += snprintf({name}_e, sizeof {name}_e, \"(\");")
            for d in range(nd):
                sep = ", " if d else ""
                fmt = f'"{sep}%lld", (long long){name}_exp[{d}]' if op.specified[d] else f'"{sep}?"'
                lines.append(
                    f"    if ({name}_u < sizeof {name}_e) {name}_u += snprintf({name}_e + {name}_u, "
                    f"sizeof {name}_e - {name}_u, {fmt});"
                )
            lines.append(
                f"    if ({name}_u < sizeof {name}_e) snprintf({name}_e + {name}_u, sizeof {name}_e - {name}_u, "
                f"\"{',)' if nd == 1 else ')'}\");"
            )
            lines.append(f"    sg_format_shape({name}_a, sizeof {name}_a, {x}.ndim, {x}.shape);")
            lines.append(
                f"    SG_FAIL_CODE({err}, SG_ERR_SHAPE, \"specify_shape: expected shape %s, got an array of "
                f"shape %s\", {name}_e, {name}_a);"
            )
            lines.append("}")
        for d in range(nd):
            lines.append(f"{sub['shape'][0]}[{d}] = {x}.shape[{d}]; {sub['strides'][0]}[{d}] = {x}.strides[{d}];")
        lines.append(f"{z}.data = {x}.data;")
        return "\n".join(lines)


@register_c_impl(Reshape)
class ReshapeC(_ShapeImpl):
    """Validate the requested shape (one -1 allowed), then a view of a C-contiguous input or
    a C-order copy of any other."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        x, shp = inputs
        (z,), err = outputs, sub["err"]
        shp_var = node.inputs[1]
        if shp_var.type.ndim != 1 or shp_var.type.dtype not in _INT_DTYPES:
            raise NotImplementedError("Reshape with a non-integer-vector shape")
        nd, shape, strides = op.ndim, sub["shape"][0], sub["strides"][0]
        item = f"sg_dtype_itemsize({z}.dtype)"
        view = op.view_map == {0: [0]}
        return f"""
if ({shp}.shape[0] != {nd})
    SG_FAIL_CODE({err}, SG_ERR_SHAPE, "{op}: the shape vector has %td entries, expected {nd}", {shp}.shape[0]);
sg_index {name}_size = sg_shape_product({x}.ndim, {x}.shape);
int {name}_neg = -1;
sg_index {name}_req[{max(nd, 1)}];
for (int d = 0; d < {nd}; d++) {{
    npy_int64 v = (npy_int64)*(const {_ctype(shp_var)} *)({shp}.data + d * {shp}.strides[0]);
    {name}_req[d] = (sg_index)v;
    if (v < -1 || (v == -1 && {name}_neg >= 0)) {{
        SG_FAIL_CODE({err}, SG_ERR_SHAPE, "reshape: invalid target shape (entry %d is %lld): sizes must be >= 0, "
                     "with at most one -1", d, (long long)v);
    }}
    if (v == -1) {{ {name}_neg = d; {name}_req[d] = 1; }}
    {shape}[d] = {name}_req[d];
}}
{{
    sg_index known = sg_shape_product({nd}, {shape});
    int bad = {name}_size < 0 || known < 0;
    if (!bad && {name}_neg >= 0) {{
        bad = known == 0 || {name}_size % known != 0;
        if (!bad) {shape}[{name}_neg] = {name}_size / known;
    }} else if (!bad) {{
        bad = known != {name}_size;
    }}
    if (bad) {{
        char s1_[256], s2_[256];
        if ({name}_neg >= 0) {name}_req[{name}_neg] = -1;
        sg_format_shape(s1_, sizeof s1_, {x}.ndim, {x}.shape);
        sg_format_shape(s2_, sizeof s2_, {nd}, {name}_req);
        SG_FAIL_CODE({err}, SG_ERR_SHAPE, "reshape: cannot reshape an array of shape %s (size %td) into shape %s",
                     s1_, {name}_size, s2_);
    }}
}}
if ({int(view)} && sg_array_is_c_contiguous(&{x})) {{
    /* a view: new C-contiguous strides over the same bytes */
    sg_contiguous_strides({nd}, {shape}, {item}, {strides});
    {z}.data = {x}.data;
}} else {{
    {sub["alloc"][0]}
    /* C order of x == flat order of the contiguous output: copy x onto the output viewed
     * with x's shape and contiguous strides */
    if ({name}_size > 0) {{
        sg_index xs_[{max(node.inputs[0].type.ndim, 1)}];
        sg_contiguous_strides({x}.ndim, {x}.shape, {item}, xs_);
        SG_CHECK(sg_shape_copy({err}, {z}.data, xs_, {x}.data, {x}.strides, {x}.ndim, {x}.shape, {item}));
    }}
}}
"""


# --------------------------------------------------------------------------- Subtensor


def _index_part(c: Any, values: list) -> str | None:
    """C expression of one index component: a constant, the next SCALAR input, or None."""
    if c is None:
        return None
    if c is SCALAR:
        return values.pop(0)
    return f"((npy_int64){int(c)}LL)"


@register_c_impl(Subtensor)
class SubtensorC(_ShapeImpl):
    """Basic indexing as a view: integers (bounds-checked), slices (clamped like Python),
    ``None`` (new axes); the remaining dimensions pass through."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not Subtensor or op.view_map != {0: [0]}:
            raise NotImplementedError("not a basic Subtensor")
        x, (z,), err = inputs[0], outputs, sub["err"]
        xnd = node.inputs[0].type.ndim
        values = [_read_int(a, v) for a, v in zip(inputs[1:], node.inputs[1:])]
        entries = list(op.idx_list)
        if any(e is ARRAY for e in entries):
            raise NotImplementedError("array index in a Subtensor")
        if Ellipsis in entries:  # only full slices in a basic index
            used = sum(1 for e in entries if e is not None and e is not Ellipsis)
            at = entries.index(Ellipsis)
            entries[at : at + 1] = [IdxSlice(None, None, None)] * (xnd - used)
        if sum(1 for e in entries if e is not None) > xnd:
            raise NotImplementedError("too many indices")
        shape, strides = sub["shape"][0], sub["strides"][0]
        lines = [f"char *{name}_p = {x}.data;", "npy_int64 v_, n_, start_, stop_, step_, len_;"]
        dim, k = 0, 0
        for e in entries:
            if e is None:
                lines.append(f"{shape}[{k}] = 1; {strides}[{k}] = 0;")
                k += 1
            elif isinstance(e, IdxSlice):
                start, stop, step = (_index_part(c, values) for c in e)
                lines.append(self._slice(name, x, dim, start, stop, step, f"{shape}[{k}]", f"{strides}[{k}]", err))
                dim += 1
                k += 1
            else:
                value = _index_part(e, values)
                lines.append(
                    f"v_ = {value}; n_ = (npy_int64){x}.shape[{dim}];\n"
                    f"if (v_ < -n_ || v_ >= n_) {{ char s_[256]; sg_format_shape(s_, sizeof s_, {x}.ndim, {x}.shape); "
                    f"SG_FAIL_CODE({err}, SG_ERR_INDEX, \"{op}: index %lld is out of bounds for axis {dim} with "
                    f"size %lld (indexing an array of shape %s)\", (long long)v_, (long long)n_, s_); }}\n"
                    f"if (v_ < 0) v_ += n_;\n"
                    f"{name}_p += v_ * {x}.strides[{dim}];"
                )
                dim += 1
        for d in range(dim, xnd):
            lines.append(f"{shape}[{k}] = {x}.shape[{d}]; {strides}[{k}] = {x}.strides[{d}];")
            k += 1
        if k != node.outputs[0].type.ndim:
            raise NotImplementedError("unexpected output rank")
        lines.append(f"{z}.data = {name}_p;")
        lines.append("(void)v_; (void)n_; (void)start_; (void)stop_; (void)step_; (void)len_;")
        return "\n".join(lines)

    @staticmethod
    def _slice(name, x, dim, start, stop, step, shape_lhs, stride_lhs, err):
        # PySlice_Unpack + PySlice_AdjustIndices: the step is clamped to >= -INT64_MAX so that
        # negating it cannot overflow; start/stop are clamped into the array.
        return f"""
n_ = (npy_int64){x}.shape[{dim}];
step_ = {step or '1'};
if (step_ == 0) SG_FAIL_CODE({err}, SG_ERR_VALUE, "slice step cannot be zero");
if (step_ < -INT64_MAX) step_ = -INT64_MAX;
start_ = {start if start else '(step_ < 0 ? n_ - 1 : 0)'};
stop_ = {stop if stop else '(step_ < 0 ? -1 : n_)'};
{'' if start is None else 'if (start_ < 0) { start_ += n_; if (start_ < 0) start_ = step_ < 0 ? -1 : 0; } else if (start_ >= n_) start_ = step_ < 0 ? n_ - 1 : n_;'}
{'' if stop is None else 'if (stop_ < 0) { stop_ += n_; if (stop_ < 0) stop_ = step_ < 0 ? -1 : 0; } else if (stop_ >= n_) stop_ = step_ < 0 ? n_ - 1 : n_;'}
if (step_ > 0) len_ = stop_ > start_ ? (stop_ - start_ - 1) / step_ + 1 : 0;
else len_ = stop_ < start_ ? (start_ - stop_ - 1) / (-step_) + 1 : 0;
{shape_lhs} = (sg_index)len_;
{stride_lhs} = len_ > 1 ? {x}.strides[{dim}] * (sg_index)step_ : {x}.strides[{dim}];
if (len_ > 0) {name}_p += start_ * {x}.strides[{dim}];
"""


@register_c_impl(AdvancedSubtensor)
class AdvancedSubtensorC(_ShapeImpl):
    """``x[idx]`` for one integer array ``idx`` on axis 0: rows of ``x`` copied in the
    order of ``idx`` (output shape ``idx.shape + x.shape[1:]``), every index bounds-checked."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not AdvancedSubtensor or tuple(op.idx_list) != (ARRAY,):
            raise NotImplementedError("only x[int_array] is implemented in C")
        xv, iv = node.inputs
        if iv.type.dtype not in _INT_DTYPES or xv.type.ndim < 1:
            raise NotImplementedError("boolean mask or 0-d x")
        (x, idx), (z,), err = inputs, outputs, sub["err"]
        xnd, ind = xv.type.ndim, iv.type.ndim
        shape = sub["shape"][0]
        set_shape = [f"{shape}[{j}] = {idx}.shape[{j}];" for j in range(ind)]
        set_shape += [f"{shape}[{ind + d - 1}] = {x}.shape[{d}];" for d in range(1, xnd)]
        it = f"{name}_it"
        return f"""
{' '.join(set_shape)}
{sub["alloc"][0]}
{{
    size_t item_ = sg_dtype_itemsize({x}.dtype);
    sg_index n_ = {x}.shape[0];
    sg_index row_ = sg_shape_product({xnd - 1}, {x}.shape + 1);
    sg_index rowbytes_ = row_ * (sg_index)item_;
    sg_index rs_[{max(xnd - 1, 1)}];
    sg_contiguous_strides({xnd - 1}, {x}.shape + 1, item_, rs_);
    char *dst_ = {z}.data;
    /* walk idx in C order; each entry selects one row */
    sg_iter {it};
    char *ib_[1] = {{{idx}.data}};
    const sg_index *is_[1] = {{{idx}.strides}};
    SG_CHECK(sg_iter_init(&{it}, {err}, 1, ib_, is_, {ind}, {idx}.shape));
    if ({it}.size) do {{
        char *pi_ = {it}.ptrs[0];
        for (sg_index k = 0; k < {it}.inner_size; k++, pi_ += {it}.inner_strides[0]) {{
            npy_int64 v_ = (npy_int64)*(const {_ctype(iv)} *)pi_;
            if (v_ < -(npy_int64)n_ || v_ >= (npy_int64)n_)
                SG_FAIL_CODE({err}, SG_ERR_INDEX, "{op}: index %lld is out of bounds for axis 0 with size %td",
                             (long long)v_, n_);
            if (v_ < 0) v_ += n_;
            if (row_ > 0)
                SG_CHECK(sg_shape_copy({err}, dst_, rs_, {x}.data + v_ * {x}.strides[0], {x}.strides + 1,
                                       {xnd - 1}, {x}.shape + 1, item_));
            dst_ += rowbytes_;
        }}
    }} while (sg_iter_next(&{it}));
}}
"""


# --------------------------------------------------------------------------- Alloc, BroadcastTo


def _broadcast_target(node, name, inputs, sub, what):
    """C that reads the target shape into the output shape array and checks that the value
    broadcasts to it; also sets ``<name>_vs`` to the value's strides over the target."""
    value, dims = inputs[0], inputs[1:]
    vnd, nd = node.inputs[0].type.ndim, len(dims)
    lead = nd - vnd
    shape, err = sub["shape"][0], sub["err"]
    lines = [f"sg_index {name}_vs[{max(nd, 1)}];", f"int {name}_bad = 0;"]
    for d, (arr, var) in enumerate(zip(dims, node.inputs[1:])):
        lines.append(f"{shape}[{d}] = (sg_index){_read_int(arr, var)}; if ({shape}[{d}] < 0) {name}_bad = 1;")
    for d in range(lead):
        lines.append(f"{name}_vs[{d}] = 0;")
    for d in range(vnd):
        t = f"{shape}[{lead + d}]"
        lines.append(
            f"if ({value}.shape[{d}] == {t}) {name}_vs[{lead + d}] = {value}.strides[{d}]; "
            f"else if ({value}.shape[{d}] == 1) {name}_vs[{lead + d}] = 0; else {name}_bad = 1;"
        )
    lines.append(
        f"if ({name}_bad) {{ char s1_[256], s2_[256]; sg_format_shape(s1_, sizeof s1_, {value}.ndim, {value}.shape); "
        f"sg_format_shape(s2_, sizeof s2_, {nd}, {shape}); SG_FAIL_CODE({err}, SG_ERR_SHAPE, "
        f"\"{what}: cannot broadcast an array of shape %s to shape %s\", s1_, s2_); }}"
    )
    return "\n".join(lines)


@register_c_impl(Alloc)
class AllocC(_ShapeImpl):
    """A new array of the target shape filled with the value broadcast (NumPy rules)."""

    def c_code(self, node, name, inputs, outputs, sub):
        if type(node.op) is not Alloc or node.outputs[0].type.dtype != node.inputs[0].type.dtype:
            raise NotImplementedError("Alloc subclass or casting alloc")
        (z,), nd = outputs, len(inputs) - 1
        return (
            _broadcast_target(node, name, inputs, sub, "alloc")
            + f"\n{sub['alloc'][0]}\n"
            + f"SG_CHECK(sg_shape_copy({sub['err']}, {z}.data, {sub['strides'][0]}, {inputs[0]}.data, {name}_vs, "
            + f"{nd}, {sub['shape'][0]}, sg_dtype_itemsize({z}.dtype)));"
        )


@register_c_impl(BroadcastTo)
class BroadcastToC(_ShapeImpl):
    """A view of the value with stride 0 on the broadcast dimensions."""

    def c_code(self, node, name, inputs, outputs, sub):
        if type(node.op) is not BroadcastTo or node.op.view_map != {0: [0]}:
            raise NotImplementedError("not a plain BroadcastTo")
        (z,), nd = outputs, len(inputs) - 1
        lines = [_broadcast_target(node, name, inputs, sub, "broadcast_to")]
        lines += [f"{sub['strides'][0]}[{d}] = {name}_vs[{d}];" for d in range(nd)]
        lines.append(f"{z}.data = {inputs[0]}.data;")
        return "\n".join(lines)


# --------------------------------------------------------------------------- Join


@register_c_impl(Join)
class JoinC(_ShapeImpl):
    """Concatenation along ``axis``: sizes checked against input 0, each input copied (and
    cast to the output dtype, a safe NumPy promotion) into its slab of the output."""

    def c_code(self, node, name, inputs, outputs, sub):
        axis, (z,), err = node.op.axis, outputs, sub["err"]
        nd = node.outputs[0].type.ndim
        out_dt = node.outputs[0].type.dtype
        shape, strides = sub["shape"][0], sub["strides"][0]
        first = inputs[0]
        lines = [f"sg_index {name}_off = 0;"]
        for i, a in enumerate(inputs):
            conds = " || ".join(f"{a}.shape[{d}] != {first}.shape[{d}]" for d in range(nd) if d != axis) or "0"
            lines.append(
                f"if ({conds}) {{ char s1_[256], s2_[256]; sg_format_shape(s1_, sizeof s1_, {nd}, {first}.shape); "
                f"sg_format_shape(s2_, sizeof s2_, {nd}, {a}.shape); SG_FAIL_CODE({err}, SG_ERR_SHAPE, "
                f"\"concatenate: input 0 has shape %s but input {i} has shape %s; they may only differ in "
                f"dimension {axis}\", s1_, s2_); }}"
            )
            lines.append(
                f"if (__builtin_add_overflow({name}_off, {a}.shape[{axis}], &{name}_off)) "
                f"SG_FAIL_CODE({err}, SG_ERR_MEMORY, \"concatenate: output too large\");"
            )
        for d in range(nd):
            lines.append(f"{shape}[{d}] = {name + '_off' if d == axis else f'{first}.shape[{d}]'};")
        lines.append(sub["alloc"][0])
        lines.append(f"{name}_off = 0;")
        for a, var in zip(inputs, node.inputs):
            dst = f"{z}.data + {name}_off * {strides}[{axis}]"
            if var.type.dtype == out_dt:
                lines.append(
                    f"if ({a}.shape[{axis}] > 0) SG_CHECK(sg_shape_copy({err}, {dst}, {strides}, {a}.data, "
                    f"{a}.strides, {nd}, {a}.shape, sg_dtype_itemsize({z}.dtype)));"
                )
            else:
                lines.append(self._cast_copy(name, a, var, dst, strides, nd, err, C_TYPES[out_dt]))
            lines.append(f"{name}_off += {a}.shape[{axis}];")
        return "\n".join(lines)

    @staticmethod
    def _cast_copy(name, a, var, dst, strides, nd, err, out_t):
        in_t = C_TYPES[var.type.dtype]
        return f"""{{
    sg_iter it_;
    char *b_[2] = {{{dst}, {a}.data}};
    const sg_index *s_[2] = {{{strides}, {a}.strides}};
    SG_CHECK(sg_iter_init(&it_, {err}, 2, b_, s_, {nd}, {a}.shape));
    if (it_.size) do {{
        char *pd_ = it_.ptrs[0], *ps_ = it_.ptrs[1];
        for (sg_index k = 0; k < it_.inner_size; k++, pd_ += it_.inner_strides[0], ps_ += it_.inner_strides[1])
            *({out_t} *)pd_ = ({out_t})*(const {in_t} *)ps_;
    }} while (sg_iter_next(&it_));
}}"""


# --------------------------------------------------------------------------- Softmax, LogSoftmax


@register_c_impl(Softmax, LogSoftmax)
class SoftmaxC(_ShapeImpl):
    """Stable (log-)softmax: per lane, subtract the max (NaN-propagating like ``np.max``),
    exponentiate and normalise. ``axis=None`` is one lane over all elements in C order."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) not in (Softmax, LogSoftmax):
            raise NotImplementedError("softmax subclass")
        dtype = node.inputs[0].type.dtype
        if dtype not in ("float32", "float64") or node.outputs[0].type.dtype != dtype:
            raise NotImplementedError(f"softmax of {dtype}")
        (x,), (z,), err = inputs, outputs, sub["err"]
        nd = node.inputs[0].type.ndim
        lane, log = f"sg_softmax_lane_{dtype}", int(type(op) is LogSoftmax)
        shape, strides = sub["shape"][0], sub["strides"][0]
        head = "\n".join(f"{shape}[{d}] = {x}.shape[{d}];" for d in range(nd)) + f"\n{sub['alloc'][0]}\n"
        head += f"sg_index {name}_size = sg_shape_product({x}.ndim, {x}.shape);\nsize_t {name}_item = sg_dtype_itemsize({x}.dtype);\n"
        if op.axis is None or nd == 0:
            # One lane over everything: read x directly if it is contiguous, else first copy
            # it into the (contiguous) output and work there in place.
            return head + f"""if ({name}_size > 0) {{
    if (sg_array_is_c_contiguous(&{x})) {{
        {lane}({x}.data, (sg_index){name}_item, {z}.data, (sg_index){name}_item, {name}_size, {log});
    }} else {{
        SG_CHECK(sg_shape_copy({err}, {z}.data, {strides}, {x}.data, {x}.strides, {nd}, {x}.shape, {name}_item));
        {lane}({z}.data, (sg_index){name}_item, {z}.data, (sg_index){name}_item, {name}_size, {log});
    }}
}}"""
        a = op.axis
        if a >= nd:
            raise NotImplementedError("axis out of range")
        return head + f"""if ({name}_size > 0) {{
    /* odometer over every dimension but the axis; one lane per position */
    sg_index idx_[{nd}] = {{0}};
    const char *px_ = {x}.data;
    char *po_ = {z}.data;
    sg_index lanes_ = {name}_size / {x}.shape[{a}];
    for (sg_index l_ = 0; l_ < lanes_; l_++) {{
        {lane}(px_, {x}.strides[{a}], po_, {strides}[{a}], {x}.shape[{a}], {log});
        for (int d = {nd - 1}; d >= 0; d--) {{
            if (d == {a}) continue;
            if (++idx_[d] < {x}.shape[d]) {{ px_ += {x}.strides[d]; po_ += {strides}[d]; break; }}
            idx_[d] = 0;
            px_ -= {x}.strides[d] * ({x}.shape[d] - 1);
            po_ -= {strides}[d] * ({x}.shape[d] - 1);
        }}
    }}
}}"""
