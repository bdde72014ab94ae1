"""C implementations of the indexing ops that write or gather (see ``docs/c_backend.md``).

Registered here: ``IncSubtensor`` (``set_subtensor``/``inc_subtensor`` with basic indices),
``AdvancedIncSubtensor``, ``AdvancedSubtensor`` (replacing the one-array-on-axis-0 version
of ``ops_shape``), ``LastWriteMask`` and ``IndexShape``, with the in-place variants of the
increment ops (``destroy_map = {0: [0]}``: the result is written into input 0's memory).

All of them share one engine, :class:`_IndexPlan`. From the static ``idx_list`` it
generates C that, at run time,

1. checks the scalar indices (``IndexError`` out of bounds), clamps slices like Python,
   checks boolean masks against ``x``'s shape and counts their True entries, and broadcasts
   the advanced indices (integer arrays, masks and, when arrays are present, integers) to
   their common shape ``B`` -- every error raised with the class the Python ``perform``
   raises;
2. lays out the selected shape of ``x[idx]`` as NumPy does: ``P + B + Q``, where ``B`` goes
   in place of the advanced indices when they are adjacent in the index and first otherwise;
3. builds a table of byte offsets into the indexed array, one per element of ``B``
   (bounds-checking every integer-array entry), and walks ``P + B + Q`` in C order with an
   odometer whose pointer into ``x`` is "basic strides plus table entry".

Element orders: increments accumulate in C order of ``x[idx]`` (what ``np.add.at`` over
the flat positions does, so float sums round identically); for a ``set`` with repeated
positions the last write in C order wins. NumPy assigns in its iterator's order, which for
index arrays broadcasting to two or more dimensions follows their memory layout (with
Fortran-ordered operands ``v[idx_matrix] = y`` keeps a different write): such sets are
left to Python. 1-d broadcast indices (integer vectors, masks) are handled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.ops_shape import SUPPORT_CODE as SHAPE_SUPPORT_CODE
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.indexing_rules import ARRAY, SCALAR, IdxSlice
from symgraph.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    IndexShape,
    LastWriteMask,
)

__all__ = ["IncSubtensorC", "AdvancedSubtensorC", "LastWriteMaskC", "IndexShapeC"]

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")


def _quote(text: str) -> str:
    """``text`` made safe inside a C string literal that is also a printf format."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def _read_int(arr: str, var: Any) -> str:
    """C expression: the 0-d integer input ``arr`` as an ``npy_int64``."""
    if var.type.ndim != 0 or var.type.dtype not in _INT_DTYPES:
        raise NotImplementedError(f"scalar index of type {var.type}")
    return f"((npy_int64)*(const {C_TYPES[var.type.dtype]} *){arr}.data)"


def _inplace_classes() -> tuple:
    from symgraph.rewriting.inplace import InplaceAdvancedIncSubtensor, InplaceIncSubtensor

    return InplaceIncSubtensor, InplaceAdvancedIncSubtensor


class _IndexPlan:
    """The C of one node's index: checks, selected shape, offset table, strided walk.

    ``xshape(d)`` is the C expression of dimension ``d`` of the indexed array; ``index`` the
    ``(C name, variable)`` pairs of the index inputs, in order. Raises NotImplementedError
    for indices the engine does not handle (0-d boolean masks).
    """

    def __init__(self, op, name: str, err: str, idx_list, xnd: int, xshape, index: list):
        self.op, self.n, self.err, self.xnd, self.xshape = op, name, err, xnd, xshape
        self.what = _quote(op)
        values = list(index)
        entries = list(idx_list)

        def part(c):
            if c is None:
                return None
            if c is SCALAR:
                arr, var = values.pop(0)
                return _read_int(arr, var)
            return f"((npy_int64){int(c)}LL)"

        # Count the dimensions each entry consumes (a mask takes its own rank).
        kinds_left = list(index)
        consumed = 0
        for e in entries:
            if e is ARRAY:
                arr, var = kinds_left.pop(0)
                consumed += var.type.ndim if var.type.dtype == "bool" else 1
            elif isinstance(e, IdxSlice):
                kinds_left = kinds_left[sum(c is SCALAR for c in e):]
                consumed += 1
            elif e is SCALAR:
                kinds_left.pop(0)
                consumed += 1
            elif e is not None and e is not Ellipsis:
                consumed += 1
        if consumed > xnd:
            raise NotImplementedError("too many indices")
        items = []  # (kind, idx position, x dim, payload...)
        dim = 0
        for pos, e in enumerate(entries):
            if e is None:
                items.append(("new", pos, None))
            elif e is Ellipsis:
                for _ in range(xnd - consumed):
                    items.append(("full", pos, dim))
                    dim += 1
            elif isinstance(e, IdxSlice):
                items.append(("slice", pos, dim, part(e.start), part(e.stop), part(e.step)))
                dim += 1
            elif e is ARRAY:
                arr, var = values.pop(0)
                if var.type.dtype == "bool":
                    if var.type.ndim == 0:
                        raise NotImplementedError("0-d boolean index")
                    items.append(("mask", pos, dim, arr, var))
                    dim += var.type.ndim
                elif var.type.dtype in _INT_DTYPES:
                    items.append(("arr", pos, dim, arr, var))
                    dim += 1
                else:
                    raise NotImplementedError(f"index array of type {var.type}")
            else:
                items.append(("int", pos, dim, part(e)))
                dim += 1
        for d in range(dim, xnd):
            items.append(("full", None, d))
        self.items = items
        self.has_adv = any(it[0] in ("arr", "mask") for it in items)
        adv_kinds = ("arr", "mask", "int") if self.has_adv else ()
        adv_pos = [it[1] for it in items if it[0] in adv_kinds]
        basics = [it for it in items if it[0] in ("new", "full", "slice")]
        if not self.has_adv:
            self.pre, self.post = basics, []
        elif adv_pos == list(range(adv_pos[0], adv_pos[-1] + 1)):
            self.pre = [it for it in basics if it[1] is not None and it[1] < adv_pos[0]]
            self.post = [it for it in basics if it not in self.pre]
        else:
            self.pre, self.post = [], basics
        self.comps = [it for it in items if it[0] in adv_kinds]  # what broadcasts into B
        self.bnd = max([it[4].type.ndim for it in self.comps if it[0] == "arr"] + [1 if it[0] == "mask" else 0 for it in self.comps] + [0])
        self.sel_nd = len(self.pre) + self.bnd + len(self.post)

    # ------------------------------------------------------------------ C pieces

    def _fail_index(self, value: str, size: str, axis) -> str:
        n = self.n
        return (
            f"{{ char s_[256]; sg_index sh_[{max(self.xnd, 1)}]; for (int d_ = 0; d_ < {self.xnd}; d_++) sh_[d_] = (sg_index){n}_xsh[d_];"
            f" sg_format_shape(s_, sizeof s_, {self.xnd}, sh_);"
            f" SG_FAIL_CODE({self.err}, SG_ERR_INDEX, \"{self.what}: index %lld is out of bounds for axis %d with size "
            f"%lld (indexing a tensor of shape %s)\", (long long)({value}), (int)({axis}), (long long)({size}), s_); }}"
        )

    def check_code(self) -> str:
        """Index checks and the selected shape ``<n>_sel`` (``sel_nd`` entries); ``<n>_B``,
        ``<n>_N`` (elements of B), the values of integer indices and slices."""
        n, err = self.n, self.err
        lines = [f"npy_int64 {n}_xsh[{max(self.xnd, 1)}] = {{0}};"]
        lines += [f"{n}_xsh[{d}] = (npy_int64)({self.xshape(d)});" for d in range(self.xnd)]
        for j, it in enumerate(self.items):
            kind = it[0]
            if kind == "int":
                d = it[2]
                lines.append(f"npy_int64 {n}_i{j} = {it[3]};")
                lines.append(f"if ({n}_i{j} < -{n}_xsh[{d}] || {n}_i{j} >= {n}_xsh[{d}]) {self._fail_index(f'{n}_i{j}', f'{n}_xsh[{d}]', d)}")
                lines.append(f"if ({n}_i{j} < 0) {n}_i{j} += {n}_xsh[{d}];")
            elif kind == "slice":
                lines.append(self._slice_code(j, it))
            elif kind == "mask":
                lines.append(self._mask_count_code(j, it))
        lines.append(self._broadcast_code())
        sel = [self._len(it) for it in self.pre] + [f"{n}_B[{j}]" for j in range(self.bnd)]
        sel += [self._len(it) for it in self.post]
        lines.append(f"sg_index {n}_sel[{max(self.sel_nd, 1)}] = {{{', '.join(sel) or '1'}}};")
        return "\n".join(lines)

    def _len(self, it) -> str:
        kind, j = it[0], self.items.index(it)
        if kind == "new":
            return "1"
        if kind == "full":
            return f"(sg_index){self.n}_xsh[{it[2]}]"
        return f"(sg_index){self.n}_l{j}"

    def _slice_code(self, j: int, it) -> str:
        n, d = self.n, it[2]
        start, stop, step = it[3], it[4], it[5]
        clamp = "if (v_ < 0) {{ v_ += m_; if (v_ < 0) v_ = p_ < 0 ? -1 : 0; }} else if (v_ >= m_) v_ = p_ < 0 ? m_ - 1 : m_;"
        # Python's slice.indices: defaults depend on the step's sign; given bounds are clamped.
        return f"""npy_int64 {n}_a{j}, {n}_p{j}, {n}_l{j};
{{
    npy_int64 m_ = {n}_xsh[{d}], p_ = {step or '1'}, v_, e_;
    if (p_ == 0) SG_FAIL_CODE({self.err}, SG_ERR_VALUE, "{self.what}: slice step cannot be zero");
    if (p_ < -INT64_MAX) p_ = -INT64_MAX;
    {'v_ = p_ < 0 ? m_ - 1 : 0;' if start is None else f'v_ = {start}; ' + clamp.format()}
    {n}_a{j} = v_;
    {'v_ = p_ < 0 ? -1 : m_;' if stop is None else f'v_ = {stop}; ' + clamp.format()}
    e_ = v_;
    if (p_ > 0) {n}_l{j} = e_ > {n}_a{j} ? (e_ - {n}_a{j} - 1) / p_ + 1 : 0;
    else {n}_l{j} = e_ < {n}_a{j} ? ({n}_a{j} - e_ - 1) / (-p_) + 1 : 0;
    {n}_p{j} = p_;
}}"""

    def _mask_count_code(self, j: int, it) -> str:
        n, d, arr, var = self.n, it[2], it[3], it[4]
        k = var.type.ndim
        checks = []
        for e in range(k):
            checks.append(
                f"if ((npy_int64){arr}.shape[{e}] != {n}_xsh[{d + e}] && {arr}.shape[{e}] != 0) "
                f"SG_FAIL_CODE({self.err}, SG_ERR_INDEX, \"{self.what}: boolean index did not match indexed tensor "
                f"along axis {d + e}; size of axis is %lld but size of corresponding boolean axis is %td\", "
                f"(long long){n}_xsh[{d + e}], {arr}.shape[{e}]);"
            )
        return "\n".join(checks) + f"\nsg_index {n}_c{j} = sg_idx_mask_walk(&{arr}, NULL, NULL);"

    def _broadcast_code(self) -> str:
        """``<n>_B``: the advanced indices broadcast together (IndexError if they do not)."""
        n, bnd = self.n, self.bnd
        lines = [f"sg_index {n}_B[{max(bnd, 1)}] = {{{', '.join(['1'] * max(bnd, 1))}}};", f"int {n}_bad = 0;"]
        for j, it in enumerate(self.items):
            if it[0] == "arr":
                c = it[4].type.ndim
                for e in range(c):
                    b = f"{n}_B[{bnd - c + e}]"
                    lines.append(f"if ({it[3]}.shape[{e}] != 1) {{ if ({b} == 1) {b} = {it[3]}.shape[{e}]; else if ({b} != {it[3]}.shape[{e}]) {n}_bad = 1; }}")
            elif it[0] == "mask":
                b = f"{n}_B[{bnd - 1}]"
                lines.append(f"if ({n}_c{j} != 1) {{ if ({b} == 1) {b} = {n}_c{j}; else if ({b} != {n}_c{j}) {n}_bad = 1; }}")
        if sum(it[0] in ("arr", "mask") for it in self.items) > 1:
            parts, args = ["%s"] * len(self.comps), []
            lines.append(f"if ({n}_bad) {{")
            lines.append(f"    char s_[{len(self.comps)}][128];")
            for c, it in enumerate(self.comps):
                jj = self.items.index(it)
                if it[0] == "arr":
                    lines.append(f"    sg_format_shape(s_[{c}], 128, {it[4].type.ndim}, {it[3]}.shape);")
                elif it[0] == "mask":
                    lines.append(f"    sg_format_shape(s_[{c}], 128, 1, &{n}_c{jj});")
                else:
                    lines.append(f"    sg_format_shape(s_[{c}], 128, 0, NULL);")
                args.append(f"s_[{c}]")
            lines.append(
                f"    SG_FAIL_CODE({self.err}, SG_ERR_INDEX, \"{self.what}: shape mismatch: indexing arrays could not be "
                f"broadcast together with shapes {' '.join(parts)}\", {', '.join(args)});"
            )
            lines.append("}")
        lines.append(f"(void){n}_bad;")
        lines.append(
            f"sg_index {n}_N = sg_shape_product({bnd}, {n}_B);\n"
            f"if ({n}_N < 0) SG_FAIL_CODE({self.err}, SG_ERR_MEMORY, \"{self.what}: the index is too large\");"
        )
        return "\n".join(lines)

    def scratch_count(self) -> str:
        """C expression: how many ``sg_index`` entries the masks' offsets and the table take."""
        n = self.n
        terms = [f"{n}_c{j}" for j, it in enumerate(self.items) if it[0] == "mask"]
        if self.has_adv:
            terms.append(f"{n}_N")
        return " + ".join(terms) or "0"

    def table_code(self, strides: str, scratch: str) -> str:
        """Offsets into an array of ``strides`` (the target): ``<n>_base`` (byte offset of the
        basic part), ``<n>_tab`` (one offset per element of B, bounds-checked) and the walk's
        per-dimension length / byte stride / table stride arrays. ``scratch`` is an
        ``sg_index *`` with ``scratch_count()`` entries."""
        n = self.n
        lines = [f"sg_index {n}_base = 0;", f"sg_index *{n}_sp = {scratch};", "(void)" + f"{n}_sp;"]
        for j, it in enumerate(self.items):
            if it[0] == "int":
                lines.append(f"{n}_base += (sg_index){n}_i{j} * {strides}[{it[2]}];")
            elif it[0] == "slice":
                lines.append(f"if ({n}_l{j} > 0) {n}_base += (sg_index){n}_a{j} * {strides}[{it[2]}];")
            elif it[0] == "mask":
                lines.append(f"sg_index *{n}_m{j} = {n}_sp; {n}_sp += {n}_c{j};")
                lines.append(f"sg_idx_mask_walk(&{it[3]}, {strides} + {it[2]}, {n}_m{j});")
        if self.has_adv:
            lines.append(self._table_fill(strides))
        else:
            lines.append(f"static const sg_index {n}_zero[1] = {{0}};")
            lines.append(f"const sg_index *{n}_tab = {n}_zero;")
        D = max(self.sel_nd, 1)
        lens, xs, ts = [], [], []
        for it in self.pre:
            lens.append(self._len(it))
            xs.append(self._stride(it, strides))
            ts.append("0")
        cstr = ["1"] * self.bnd
        for j in range(self.bnd - 2, -1, -1):
            cstr[j] = f"{cstr[j + 1]} * {n}_B[{j + 1}]"
        for j in range(self.bnd):
            lens.append(f"{n}_B[{j}]")
            xs.append("0")
            ts.append(cstr[j])
        for it in self.post:
            lens.append(self._len(it))
            xs.append(self._stride(it, strides))
            ts.append("0")
        if not lens:
            lens, xs, ts = ["1"], ["0"], ["0"]
        lines.append(f"sg_index {n}_len[{D}] = {{{', '.join(lens)}}};")
        lines.append(f"sg_index {n}_xs[{D}] = {{{', '.join(xs)}}};")
        lines.append(f"sg_index {n}_ts[{D}] = {{{', '.join(ts)}}};")
        return "\n".join(lines)

    def _stride(self, it, strides: str) -> str:
        if it[0] == "new":
            return "0"
        if it[0] == "full":
            return f"{strides}[{it[2]}]"
        j = self.items.index(it)
        return f"{strides}[{it[2]}] * (sg_index){self.n}_p{j}"

    def _table_fill(self, strides: str) -> str:
        """One offset per element of B, in C order: the sum over the advanced indices of
        (wrapped, bounds-checked value) times the target's stride, masks by their offsets."""
        n, bnd = self.n, self.bnd
        body = []
        for j, it in enumerate(self.items):
            if it[0] == "mask":
                body.append(f"o_ += {n}_m{j}[{n}_c{j} == 1 ? 0 : bi_[{bnd - 1}]];")
                continue
            if it[0] != "arr":
                continue  # integers are folded into <n>_base, basic entries are not in B
            arr, var, d = it[3], it[4], it[2]
            c = var.type.ndim
            ptr = " + ".join([f"{arr}.data"] + [
                f"({arr}.shape[{e}] == 1 ? 0 : bi_[{bnd - c + e}] * {arr}.strides[{e}])" for e in range(c)
            ])
            body.append(
                f"{{ npy_int64 v_ = (npy_int64)*(const {C_TYPES[var.type.dtype]} *)({ptr});\n"
                f"  if (v_ < -{n}_xsh[{d}] || v_ >= {n}_xsh[{d}]) {self._fail_index('v_', f'{n}_xsh[{d}]', d)}\n"
                f"  if (v_ < 0) v_ += {n}_xsh[{d}];\n"
                f"  o_ += (sg_index)v_ * {strides}[{d}]; }}"
            )
        body_text = "\n        ".join(body)
        return f"""sg_index *{n}_tab = {n}_sp;
{{
    sg_index bi_[{max(bnd, 1)}] = {{0}};
    for (sg_index f_ = 0; f_ < {n}_N; f_++) {{
        sg_index o_ = 0;
        {body_text}
        {n}_tab[f_] = o_;
        for (int j_ = {bnd - 1}; j_ >= 0; j_--) {{ if (++bi_[j_] < {n}_B[j_]) break; bi_[j_] = 0; }}
    }}
    (void)bi_;
}}"""

    def walk(self, px: str, po: str, os: str, body: str) -> str:
        """Visit every element of ``x[idx]`` in C order: ``pt_`` points into the target
        (from ``px`` plus the base, strides and table), ``pv_`` into the other array (from
        ``po`` with byte strides ``os``, one per dimension of the selection)."""
        n, D = self.n, max(self.sel_nd, 1)
        return f"""{{
    sg_index total_ = 1;
    for (int d_ = 0; d_ < {D}; d_++) total_ *= {n}_len[d_];
    if (total_ > 0) {{
        sg_index ix_[{D}] = {{0}}, fa_ = 0;
        char *px_ = {px} + {n}_base, *po_ = {po};
        const sg_index L_ = {n}_len[{D - 1}], XS_ = {n}_xs[{D - 1}], TS_ = {n}_ts[{D - 1}], OS_ = {os}[{D - 1}];
        for (;;) {{
            if (TS_ == 0) {{
                char *pb_ = px_ + {n}_tab[fa_];
                for (sg_index k_ = 0; k_ < L_; k_++) {{
                    char *pt_ = pb_ + k_ * XS_, *pv_ = po_ + k_ * OS_;
                    {body}
                }}
            }} else {{
                for (sg_index k_ = 0; k_ < L_; k_++) {{
                    char *pt_ = px_ + {n}_tab[fa_ + k_ * TS_], *pv_ = po_ + k_ * OS_;
                    {body}
                }}
            }}
            int d_ = {D - 2};
            for (; d_ >= 0; d_--) {{
                if (++ix_[d_] < {n}_len[d_]) {{ px_ += {n}_xs[d_]; po_ += {os}[d_]; fa_ += {n}_ts[d_]; break; }}
                px_ -= {n}_xs[d_] * ({n}_len[d_] - 1); po_ -= {os}[d_] * ({n}_len[d_] - 1);
                fa_ -= {n}_ts[d_] * ({n}_len[d_] - 1); ix_[d_] = 0;
            }}
            if (d_ < 0) break;
        }}
    }}
}}"""


SUPPORT_CODE = SHAPE_SUPPORT_CODE + r"""
#ifndef SG_OPS_INDEXING_SUPPORT
#define SG_OPS_INDEXING_SUPPORT 1
/* Walk a boolean mask in C order: returns the number of True entries; when `offsets` is
 * given, also stores for each True entry the byte offset sum(coord[d] * strides[d]). */
SG_WARM static sg_index sg_idx_mask_walk(const sg_array *m, const sg_index *strides, sg_index *offsets) {
    sg_index total = sg_array_size(m), count = 0, coord[SG_MAXDIMS] = {0};
    if (total <= 0) return 0;
    const char *p = m->data;
    sg_index off = 0;
    for (sg_index f = 0; f < total; f++) {
        if (*(const unsigned char *)p) {
            if (offsets) offsets[count] = off;
            count++;
        }
        for (int d = m->ndim - 1; d >= 0; d--) {
            if (++coord[d] < m->shape[d]) {
                p += m->strides[d];
                if (strides) off += strides[d];
                break;
            }
            p -= m->strides[d] * (m->shape[d] - 1);
            if (strides) off -= strides[d] * (m->shape[d] - 1);
            coord[d] = 0;
        }
    }
    return count;
}


/* Whether two distinct elements of `a` may share memory (a broadcast dimension): writing
 * in place into such an array is not what a fresh copy gives. */
SG_WARM static int sg_idx_self_overlapping(const sg_array *a) {
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] > 1 && a->strides[d] == 0) return 1;
    return 0;
}
#endif /* SG_OPS_INDEXING_SUPPORT */
"""


class _IndexingImpl(CImpl):
    def c_support_code(self, node: Any) -> str:
        return SUPPORT_CODE

    def c_code_cache_version(self) -> tuple:
        return (1,)


def _scratch(name: str, count: str, sub: dict, extra: str = "0") -> str:
    """C: ``<name>_scr``, an ``sg_index`` scratch array of ``count + extra`` entries."""
    err = sub["err"]
    return f"""sg_index {name}_cnt = 0;
if (__builtin_add_overflow((sg_index)({count}), (sg_index)({extra}), &{name}_cnt) ||
    {name}_cnt > PTRDIFF_MAX / (sg_index)sizeof(sg_index))
    SG_FAIL_CODE({err}, SG_ERR_MEMORY, "index too large");
sg_index *{name}_scr = (sg_index *)sg_ws_scratch({sub['ws']}, {sub['scratch_slot']}, (size_t){name}_cnt * sizeof(sg_index), {err});
if (!{name}_scr) return {err}->code;"""


# --------------------------------------------------------------------------- IncSubtensor


@register_c_impl(IncSubtensor, AdvancedIncSubtensor)
class IncSubtensorC(_IndexingImpl):
    """``x`` with ``x[idx]`` set to / incremented by ``y`` broadcast: a copy of ``x``, or
    ``x``'s own memory for the in-place variants (unless ``x`` has broadcast dimensions)."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        inplace_inc, inplace_adv = _inplace_classes()
        if type(op) not in (IncSubtensor, AdvancedIncSubtensor, inplace_inc, inplace_adv):
            raise NotImplementedError(f"{type(op).__name__} is not handled")
        inplace = getattr(op, "destroy_map", None) == {0: [0]}
        xv, yv = node.inputs[0], node.inputs[1]
        xdt, ydt = xv.type.dtype, yv.type.dtype
        if xdt not in C_TYPES or ydt not in C_TYPES or node.outputs[0].type.dtype != xdt:
            raise NotImplementedError("dtype")
        cdt = np.result_type(xdt, ydt).name
        if cdt not in C_TYPES:
            raise NotImplementedError("dtype")
        x, y, (z,), err = inputs[0], inputs[1], outputs, sub["err"]
        xnd = xv.type.ndim
        plan = _IndexPlan(op, name, err, op.idx_list, xnd, lambda d: f"{x}.shape[{d}]",
                          list(zip(inputs[2:], node.inputs[2:])))
        if op.set_instead_of_inc and plan.bnd >= 2:
            # NumPy assigns in its iterator's order (the memory order of the index and value
            # arrays when they agree): which repeated write wins then depends on layouts.
            raise NotImplementedError("set through a multi-dimensional broadcast index")
        shape, strides = sub["shape"][0], sub["strides"][0]
        item = f"sg_dtype_itemsize({x}.dtype)"
        copy = "\n".join(f"{shape}[{d}] = {x}.shape[{d}];" for d in range(xnd)) + f"""
{sub['alloc'][0]}
SG_CHECK(sg_shape_copy({err}, {z}.data, {strides}, {x}.data, {x}.strides, {xnd}, {x}.shape, {item}));"""
        if inplace:
            own = "\n".join(f"{shape}[{d}] = {x}.shape[{d}]; {strides}[{d}] = {x}.strides[{d}];" for d in range(xnd))
            target = f"""if (sg_idx_self_overlapping(&{x})) {{
{copy}
}} else {{
{own}
{z}.data = {x}.data;
}}"""
        else:
            target = copy
        # y broadcast over the selection: its strides, with the Python op's checks.
        ynd, sel_nd = yv.type.ndim, plan.sel_nd
        off = sel_nd - ynd
        ycheck = [f"sg_index {name}_ys[{max(sel_nd, 1)}] = {{0}};"]
        static = yv.type.shape
        for d in range(ynd):
            s = f"{name}_sel[{off + d}]"
            if static[d] == 1:
                bad = (f"{{ char a_[256], b_[256]; sg_format_shape(a_, sizeof a_, {ynd}, {y}.shape); "
                       f"sg_format_shape(b_, sizeof b_, {sel_nd}, {name}_sel); SG_FAIL_CODE({err}, SG_ERR_SHAPE, "
                       f"\"{plan.what}: y of shape %s cannot be broadcast to the shape %s of x[idx]\", a_, b_); }}")
                ycheck.append(f"if ({y}.shape[{d}] == {s}) {name}_ys[{off + d}] = {y}.strides[{d}]; "
                              f"else if ({y}.shape[{d}] != 1) {bad}")
            else:
                bad = (f"{{ char a_[256], b_[256]; sg_format_shape(a_, sizeof a_, {ynd}, {y}.shape); "
                       f"sg_format_shape(b_, sizeof b_, {sel_nd}, {name}_sel); if ({y}.shape[{d}] != 1) "
                       f"SG_FAIL_CODE({err}, SG_ERR_SHAPE, \"{plan.what}: y of shape %s cannot be broadcast to the "
                       f"shape %s of x[idx]\", a_, b_); SG_FAIL_CODE({err}, SG_ERR_SHAPE, \"{plan.what}: y of shape %s "
                       f"would broadcast along its dimension {d}, whose size is not statically 1 (type "
                       f"{_quote(yv.type)}); give y a static size of 1 there (e.g. with specify_shape or y[None])\", a_); }}")
                ycheck.append(f"if ({y}.shape[{d}] == {s}) {name}_ys[{off + d}] = {y}.strides[{d}]; else {bad}")
        tx, ty, tc = C_TYPES[xdt], C_TYPES[ydt], C_TYPES[cdt]
        if op.set_instead_of_inc:
            body = f"*({tx} *)pt_ = ({tx})*(const {ty} *)pv_;"
        else:
            body = f"*({tx} *)pt_ = ({tx})(({tc})*(const {tx} *)pt_ + ({tc})*(const {ty} *)pv_);"
        return "\n".join([
            plan.check_code(),
            target,
            _scratch(name, plan.scratch_count(), sub),
            plan.table_code(strides, f"{name}_scr"),
            *ycheck,
            plan.walk(f"{z}.data", f"{y}.data", f"{name}_ys", body),
        ])


# --------------------------------------------------------------------------- AdvancedSubtensor


@register_c_impl(AdvancedSubtensor)
class AdvancedSubtensorC(_IndexingImpl):
    """``x[idx]`` for any index of integers, slices, ``None``, ``...``, integer arrays and
    boolean masks: a new C-contiguous array gathered from ``x``."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not AdvancedSubtensor:
            raise NotImplementedError(f"{type(op).__name__} is not handled")
        xv = node.inputs[0]
        if xv.type.dtype not in C_TYPES or node.outputs[0].type.dtype != xv.type.dtype:
            raise NotImplementedError("dtype")
        x, (z,), err = inputs[0], outputs, sub["err"]
        plan = _IndexPlan(op, name, err, op.idx_list, xv.type.ndim, lambda d: f"{x}.shape[{d}]",
                          list(zip(inputs[1:], node.inputs[1:])))
        if plan.sel_nd != node.outputs[0].type.ndim:
            raise NotImplementedError("unexpected output rank")
        shape, strides = sub["shape"][0], sub["strides"][0]
        t = C_TYPES[xv.type.dtype]
        set_shape = "\n".join(f"{shape}[{d}] = {name}_sel[{d}];" for d in range(plan.sel_nd))
        return "\n".join([
            plan.check_code(),
            set_shape,
            sub["alloc"][0],
            _scratch(name, plan.scratch_count(), sub),
            plan.table_code(f"{x}.strides", f"{name}_scr"),
            f"sg_index {name}_os[{max(plan.sel_nd, 1)}] = {{0}};",
            *(f"{name}_os[{d}] = {strides}[{d}];" for d in range(plan.sel_nd)),
            plan.walk(f"{x}.data", f"{z}.data", f"{name}_os", f"*({t} *)pv_ = *(const {t} *)pt_;"),
        ])


# --------------------------------------------------------------------------- LastWriteMask


@register_c_impl(LastWriteMask)
class LastWriteMaskC(_IndexingImpl):
    """For each element of ``x[idx]``, whether it is the last (in C order) to address its
    position of ``x``: every position records the order of its last visitor, then each
    element compares."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not LastWriteMask:
            raise NotImplementedError(f"{type(op).__name__} is not handled")
        xv = node.inputs[0]
        x, (z,), err = inputs[0], outputs, sub["err"]
        xnd = xv.type.ndim
        plan = _IndexPlan(op, name, err, op.idx_list, xnd, lambda d: f"{x}.shape[{d}]",
                          list(zip(inputs[1:], node.inputs[1:])))
        if plan.sel_nd != node.outputs[0].type.ndim:
            raise NotImplementedError("unexpected output rank")
        shape, strides = sub["shape"][0], sub["strides"][0]
        set_shape = "\n".join(f"{shape}[{d}] = {name}_sel[{d}];" for d in range(plan.sel_nd))
        # A virtual C-contiguous copy of x holding one sg_index per position.
        return "\n".join([
            plan.check_code(),
            set_shape,
            sub["alloc"][0],
            f"sg_index {name}_vs[{max(xnd, 1)}], {name}_xsize = sg_shape_product({xnd}, {x}.shape);",
            f"if ({name}_xsize < 0) SG_FAIL_CODE({err}, SG_ERR_MEMORY, \"{plan.what}: x too large\");",
            f"sg_contiguous_strides({xnd}, {x}.shape, sizeof(sg_index), {name}_vs);",
            _scratch(name, plan.scratch_count(), sub, f"{name}_xsize"),
            plan.table_code(f"{name}_vs", f"{name}_scr"),
            f"char *{name}_last = (char *)({name}_scr + ({name}_cnt - {name}_xsize));",
            f"sg_index {name}_os[{max(plan.sel_nd, 1)}] = {{0}};",
            *(f"{name}_os[{d}] = {strides}[{d}];" for d in range(plan.sel_nd)),
            f"sg_index {name}_ord = 0;",
            plan.walk(f"{name}_last", f"{z}.data", f"{name}_os", f"*(sg_index *)pt_ = {name}_ord++; (void)pv_;"),
            f"{name}_ord = 0;",
            plan.walk(f"{name}_last", f"{z}.data", f"{name}_os",
                      f"*(npy_bool *)pv_ = *(const sg_index *)pt_ == {name}_ord++;"),
        ])


# --------------------------------------------------------------------------- IndexShape


@register_c_impl(IndexShape)
class IndexShapeC(_IndexingImpl):
    """The shape of ``x[idx]`` from ``x``'s dimensions and the index inputs, with the same
    index checks (integer-array entries bounds-checked when the broadcast index is not
    empty)."""

    def c_code(self, node, name, inputs, outputs, sub):
        op = node.op
        if type(op) is not IndexShape:
            raise NotImplementedError(f"{type(op).__name__} is not handled")
        from symgraph.tensor.indexing_rules import _n_index_inputs

        n_dims = len(node.inputs) - _n_index_inputs(op.idx_list)
        dims = [_read_int(a, v) for a, v in zip(inputs[:n_dims], node.inputs[:n_dims])]
        err = sub["err"]
        plan = _IndexPlan(op, name, err, op.idx_list, n_dims, lambda d: dims[d],
                          list(zip(inputs[n_dims:], node.inputs[n_dims:])))
        if plan.sel_nd != len(outputs):
            raise NotImplementedError("unexpected output count")
        lines = [plan.check_code(), f"sg_index {name}_zs[{max(n_dims, 1)}] = {{0}};"]
        if plan.has_adv:
            # Only the bounds checks of the table matter: offsets computed with zero strides.
            lines += [_scratch(name, plan.scratch_count(), sub), plan.table_code(f"{name}_zs", f"{name}_scr")]
        for d, z in enumerate(outputs):
            lines.append(sub["alloc"][d])
            lines.append(f"*(npy_int64 *){z}.data = (npy_int64){name}_sel[{d}];")
        return "\n".join(lines)
