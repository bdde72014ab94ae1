"""C implementations of the products: ``Dot``, ``MatMul`` and ``Gemv`` (see ``docs/c_backend.md``).

Float products (output dtype float32 or float64) run on the Fortran BLAS that NumPy or SciPy
ships (``c_backend/sg_blas.h``: ``ddot``/``dgemv``/``dgemm`` and their ``s`` twins, fetched by
the module's init code), except matrix-matrix products on AVX-512 CPUs, which run on
symgraph's own kernel (``c_backend/sg_gemm.c``, see :func:`gemm_kernel_addresses`). Operands whose dtype differs from the
output's are first converted into workspace scratch, as ``np.dot`` casts them to the common
type before calling BLAS. Integer and boolean products use a plain C loop accumulating in
64-bit unsigned arithmetic: wrap-around is a ring homomorphism, so truncating the 64-bit sum
to the output type gives NumPy's wrapped result exactly; booleans give ``any(a & b)``.

Every operand is described as an ``sg_mat`` (rows, cols, byte strides): a 1-d ``Dot`` operand
is a 1 x k row (first operand) or a k x 1 column (second). The per-matrix routine for a
dtype combination is emitted as support code named after the dtypes, so identical
combinations share one copy. Transposed operands (a ``DimShuffle`` view) reach BLAS with the
transpose flag, never copied; only operands with no unit stride are copied into scratch.

Each node asks for one scratch slot; every buffer it needs (dtype conversions, operand
copies) is carved out of that one allocation.
"""

from __future__ import annotations

import functools
from typing import Any

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.runtime import ITEMSIZES as _ITEMSIZE
from symgraph.tensor.blas import Gemv
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.products import Dot, MatMul

__all__ = ["matmul_support_code", "INIT_CODE", "gemm_kernel_addresses", "numpy_blas_addresses", "numpy_thread_pool"]


@functools.lru_cache(maxsize=None)
def _numpy_openblas():
    """The ``ctypes`` handle of the 64-bit-integer OpenBLAS NumPy's wheels ship
    (``numpy.libs/libscipy_openblas64_*``), or None when NumPy uses another BLAS."""
    import ctypes
    import glob
    import os

    import numpy

    libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    found = sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*")))
    if len(found) != 1:
        return None
    try:
        return ctypes.CDLL(found[0])  # already loaded by NumPy: the same handle
    except OSError:
        return None


def _address(lib, name: str) -> int | None:
    import ctypes

    try:
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def numpy_thread_pool() -> tuple[int, int] | None:
    """Addresses of ``gotoblas_pthread`` and ``scipy_openblas_get_num_threads64_`` in NumPy's
    OpenBLAS (its thread pool runs the parallel loops of generated code: ``sg_par_for`` in
    ``c_backend/sg_runtime.h``), or None when NumPy does not ship that OpenBLAS or
    ``config.parallel`` is not ``"auto"``. Called by each generated module at import."""
    from symgraph.configdefaults import config

    if config.parallel != "auto":
        return None
    lib = _numpy_openblas()
    if lib is None:
        return None
    run, threads = _address(lib, "gotoblas_pthread"), _address(lib, "scipy_openblas_get_num_threads64_")
    return (run, threads) if run and threads else None


def numpy_blas_addresses() -> tuple[int, ...] | None:
    """Addresses of ``dgemm, sgemm, dgemv, sgemv, ddot, sdot`` in the OpenBLAS NumPy itself
    uses, when it is the 64-bit-integer ``scipy-openblas64`` that NumPy's wheels ship
    (symbols ``scipy_<name>_64_``); ``None`` otherwise (the C then uses SciPy's BLAS).

    ``config.blas`` = ``"scipy"`` forces SciPy's. Called once per generated module by
    ``sg_blas_load`` (``c_backend/sg_blas.h``), which explains why NumPy's is preferred.
    """
    from symgraph.configdefaults import config

    if config.blas == "scipy":
        return None
    lib = _numpy_openblas()
    if lib is None:
        return None
    found = tuple(_address(lib, f"scipy_{name}_64_") for name in ("dgemm", "sgemm", "dgemv", "sgemv", "ddot", "sdot"))
    return found if all(found) else None


def gemm_kernel_addresses() -> tuple[int, int, int, int] | None:
    """Addresses of symgraph's own matrix-matrix products and their scratch-size functions,
    ``(gemm_f64, gemm_f32, work_bytes_f64, work_bytes_f32)`` from the extension
    ``symgraph._gemm`` (``c_backend/sg_gemm.c``), or None: when ``config.gemm`` is
    ``"blas"``, the extension was not built, or the CPU lacks AVX-512. Called once per
    generated module by ``sg_blas_load`` (``c_backend/sg_blas.h``)."""
    from symgraph.configdefaults import config

    if config.gemm == "blas":
        return None
    try:
        from symgraph import _gemm
    except ImportError:
        return None
    found = _gemm.kernels()
    return None if found is None else tuple(found[:4])


_FLOATS = ("float32", "float64")

#: Statements run at module import: fetch the BLAS routines (the same text for every node,
#: so the region generator emits it once).
INIT_CODE = "if (sg_blas_load() < 0) return NULL;"

#: Shared by every node of this module: formats two shapes for error messages.
_COMMON_SUPPORT = r"""
#ifndef SG_OPS_BLAS_SUPPORT
#define SG_OPS_BLAS_SUPPORT 1
/* Fail with SG_ERR_SHAPE: "<op>: shapes <a> and <b> <what>", worded as the Python perform's. */
SG_WARM static int sg_blas_shape_error(sg_error *err, const char *op, const char *what, const sg_array *a, const sg_array *b) {
    char sa[256], sb[256];
    sg_format_shape(sa, sizeof sa, a->ndim, a->shape);
    sg_format_shape(sb, sizeof sb, b->ndim, b->shape);
    return sg_error_set(err, SG_ERR_SHAPE, "%s: shapes %s and %s %s", op, sa, sb, what);
}
/* Add two scratch sizes (SIZE_MAX stays SIZE_MAX: overflow). */
SG_WARM static size_t sg_blas_add_bytes(size_t a, size_t b) {
    return (a == SIZE_MAX || b == SIZE_MAX || a > SIZE_MAX - b) ? SIZE_MAX : a + b;
}
#endif
"""


def _mm_name(da: str, db: str, do: str) -> str:
    return f"sg_mm_{da}_{db}_{do}"


def _convert_fn(src: str, dst: str) -> str:
    """C function copying a strided sg_mat of dtype ``src`` into a C-contiguous ``dst`` buffer."""
    ts, td = C_TYPES[src], C_TYPES[dst]
    return f"""
#ifndef SG_BLAS_CONVERT_{src}_{dst}
#define SG_BLAS_CONVERT_{src}_{dst} 1
/* `a` ({src}) cast to {dst} into `buf` as a C-contiguous rows x cols array (NumPy's astype). */
SG_HOT static sg_mat sg_blas_convert_{src}_{dst}(const sg_mat *a, char *buf) {{
    {td} *o = ({td} *)buf;
    for (sg_index i = 0; i < a->rows; i++) {{
        const char *p = a->data + i * a->rs;
        for (sg_index j = 0; j < a->cols; j++, p += a->cs) *o++ = ({td})*(const {ts} *)p;
    }}
    sg_mat r = {{buf, a->rows, a->cols, a->cols * (sg_index){_ITEMSIZE[dst]}, {_ITEMSIZE[dst]}}};
    return r;
}}
#endif
"""


def matmul_support_code(da: str, db: str, do: str) -> str:
    """Support code defining ``sg_mm_<da>_<db>_<do>`` (out = A @ B for one matrix pair, out
    C-contiguous rows x cols) and ``..._scratch`` (the scratch bytes it needs, SIZE_MAX on
    overflow). The caller has checked ``A->cols == B->rows``."""
    name = _mm_name(da, db, do)
    if do in _FLOATS:
        item = _ITEMSIZE[do]
        parts = [_convert_fn(d, do) for d in sorted({da, db}) if d != do]
        conv_a, conv_b = da != do, db != do

        def conv_bytes(m: str) -> str:
            return f"sg_blas_bytes_({m}->rows, {m}->cols, {item})"

        # Converted operands are C-contiguous: the BLAS plan is computed on that layout.
        plan_a = f"sg_mat A2 = {{NULL, A->rows, A->cols, A->cols * {item}, {item}}};" if conv_a else "sg_mat A2 = *A;"
        plan_b = f"sg_mat B2 = {{NULL, B->rows, B->cols, B->cols * {item}, {item}}};" if conv_b else "sg_mat B2 = *B;"
        ca = conv_bytes("A") if conv_a else "0"
        cb = conv_bytes("B") if conv_b else "0"
        parts.append(f"""
#ifndef SG_MM_{da}_{db}_{do}
#define SG_MM_{da}_{db}_{do} 1
SG_WARM static size_t {name}_scratch(const sg_mat *A, const sg_mat *B) {{
    if (sg_blas_too_big(A, B)) return 0; /* refused by {name} before any copy */
    {plan_a}
    {plan_b}
    size_t t = sg_blas_add_bytes({ca}, {cb});
    return sg_blas_add_bytes(t, sg_blas_matmul_scratch(&A2, &B2, {item}));
}}
SG_WARM static int {name}(sg_error *err, const sg_mat *A, const sg_mat *B, char *out, char *scratch) {{
    if (sg_blas_too_big(A, B)) return sg_blas_check_sizes_(err, A->rows, A->cols, B->cols);
    size_t ca = {ca}, cb = {cb};
    sg_mat A2 = *A, B2 = *B;
    {f"A2 = sg_blas_convert_{da}_{do}(A, scratch);" if conv_a else ""}
    {f"B2 = sg_blas_convert_{db}_{do}(B, scratch + ca);" if conv_b else ""}
    return sg_blas_matmul(err, {int(do == "float64")}, &A2, &B2, out, B->cols, scratch ? scratch + ca + cb : NULL);
}}
#endif
""")
        return "".join(parts)
    # Integer / boolean output: a plain loop (exact, wrapping like NumPy).
    ta, tb, to = C_TYPES[da], C_TYPES[db], C_TYPES[do]
    if do == "bool":
        init, step, store = "int acc = 0;", "if (*(const {ta} *)pa && *(const {tb} *)pb) {{ acc = 1; break; }}", "acc"
        step = step.format(ta=ta, tb=tb)
    else:
        init = "uint64_t acc = 0;"
        step = f"acc += (uint64_t)(int64_t)*(const {ta} *)pa * (uint64_t)(int64_t)*(const {tb} *)pb;"
        store = f"({to})acc"
    return f"""
#ifndef SG_MM_{da}_{db}_{do}
#define SG_MM_{da}_{db}_{do} 1
SG_WARM static size_t {name}_scratch(const sg_mat *A, const sg_mat *B) {{ (void)A; (void)B; return 0; }}
SG_HOT static int {name}(sg_error *err, const sg_mat *A, const sg_mat *B, char *out, char *scratch) {{
    {to} *o = ({to} *)out;
    (void)err; (void)scratch;
    for (sg_index i = 0; i < A->rows; i++)
        for (sg_index j = 0; j < B->cols; j++) {{
            const char *pa = A->data + i * A->rs, *pb = B->data + j * B->cs;
            {init}
            for (sg_index l = 0; l < A->cols; l++, pa += A->cs, pb += B->rs) {step}
            *o++ = {store};
        }}
    return SG_OK;
}}
#endif
"""


def _dtypes(node: Any) -> tuple[str, str, str]:
    a, b = node.inputs
    return a.type.dtype, b.type.dtype, node.outputs[0].type.dtype


def _check_dtypes(node: Any) -> None:
    for v in (*node.inputs, *node.outputs):
        if v.type.dtype not in C_TYPES:
            raise NotImplementedError(f"no C product for dtype {v.type.dtype}")


def _mat_expr(arr: str, ndim: int, first: bool, lead: int = 0) -> str:
    """C initialiser of the sg_mat for array ``arr``: its last two dims (after ``lead`` batch
    dims), or a 1-d operand as a row (first operand) or a column (second)."""
    if ndim == 1:
        if first:
            return f"{{{arr}.data, 1, {arr}.shape[0], 0, {arr}.strides[0]}}"
        return f"{{{arr}.data, {arr}.shape[0], 1, {arr}.strides[0], 0}}"
    r, c = lead, lead + 1
    return f"{{{arr}.data, {arr}.shape[{r}], {arr}.shape[{c}], {arr}.strides[{r}], {arr}.strides[{c}]}}"


_SCRATCH = """
    size_t {name}_need = {fn}_scratch(&{name}_A, &{name}_B);
    char *{name}_scr = NULL;
    if ({name}_need == SIZE_MAX) SG_FAIL_CODE({err}, SG_ERR_MEMORY, "product: scratch size overflows");
    if ({name}_need) {{
        {name}_scr = (char *)sg_ws_scratch({ws}, {slot}, {name}_need, {err});
        if (!{name}_scr) {fail}
    }}"""


class _ProductC(CImpl):
    """Shared parts: headers, init code, support code per dtype combination."""

    def c_headers(self, node: Any) -> list[str]:
        return ['"sg_blas.h"']

    def c_init_code(self, node: Any) -> str:
        return INIT_CODE

    def c_support_code(self, node: Any) -> str:
        return _COMMON_SUPPORT + matmul_support_code(*_dtypes(node))

    def c_code_cache_version(self) -> tuple:
        return (1,)


@register_c_impl(Dot)
class DotC(_ProductC):
    """``np.dot`` for 1-d/2-d operands: ddot, dgemv or dgemm (by shape), or an integer loop."""

    def c_code(self, node: Any, name: str, inputs: list[str], outputs: list[str], sub: dict) -> str:
        _check_dtypes(node)
        a, b = inputs
        (o,) = outputs
        na, nb = (v.type.ndim for v in node.inputs)
        shape = sub["shape"][0]
        out_dims = ([f"{a}.shape[0]"] if na == 2 else []) + ([f"{b}.shape[1]"] if nb == 2 else [])
        set_shape = "\n".join(f"    {shape}[{d}] = {expr};" for d, expr in enumerate(out_dims))
        fn = _mm_name(*_dtypes(node))
        scratch = _SCRATCH.format(name=name, fn=fn, err=sub["err"], ws=sub["ws"], slot=sub["scratch_slot"], fail=sub["fail"])
        return f"""
    if ({a}.shape[{na - 1}] != {b}.shape[0])
        return sg_blas_shape_error({sub["err"]}, "dot", "are not aligned: the last dimension of the first operand must equal the first dimension of the second", &{a}, &{b});
{set_shape}
    {sub["alloc"][0]}
    sg_mat {name}_A = {_mat_expr(a, na, True)};
    sg_mat {name}_B = {_mat_expr(b, nb, False)};
{scratch}
    SG_CHECK({fn}({sub["err"]}, &{name}_A, &{name}_B, {o}.data, {name}_scr));
"""


@register_c_impl(MatMul)
class MatMulC(_ProductC):
    """``np.matmul`` with batch dimensions broadcasting only where the static size is 1."""

    def c_code(self, node: Any, name: str, inputs: list[str], outputs: list[str], sub: dict) -> str:
        _check_dtypes(node)
        a, b = inputs
        (o,) = outputs
        va, vb = node.inputs
        na, nb = va.ndim, vb.ndim
        nd = node.outputs[0].type.ndim
        nbatch = nd - 2
        err, shape = sub["err"], sub["shape"][0]
        fn = _mm_name(*_dtypes(node))
        lines = [
            f"    if ({a}.shape[{na - 1}] != {b}.shape[{nb - 2}])",
            f'        return sg_blas_shape_error({err}, "matmul", "are not aligned: the last dimension of the '
            f'first operand must equal the second-to-last of the second", &{a}, &{b});',
        ]
        if nbatch:
            lines.append(f"    sg_index {name}_sa[{nbatch}], {name}_sb[{nbatch}];")
        for d in range(nbatch):
            # Each operand's size in output batch dim d: absent / static 1 broadcast (stride 0).
            sizes = []
            for arr, v, strides in ((a, va, f"{name}_sa"), (b, vb, f"{name}_sb")):
                k = d - (nd - v.ndim)
                if k < 0:
                    lines.append(f"    {strides}[{d}] = 0;")
                elif v.type.shape[k] == 1:
                    lines.append(
                        f"    if ({arr}.shape[{k}] != 1) return sg_blas_shape_error({err}, \"matmul\", \"have a length "
                        f"other than 1 in batch dimension {k} of an operand whose static size is 1 there\", &{a}, &{b});"
                    )
                    lines.append(f"    {strides}[{d}] = 0;")
                else:
                    lines.append(f"    {strides}[{d}] = {arr}.strides[{k}];")
                    sizes.append(f"{arr}.shape[{k}]")
            if len(sizes) == 2:
                lines.append(
                    f"    if ({sizes[0]} != {sizes[1]}) return sg_blas_shape_error({err}, \"matmul\", \"do not match in "
                    f"batch dimension {d}; only dimensions whose static size is 1 broadcast (give the input a static "
                    f"shape to broadcast it)\", &{a}, &{b});"
                )
            lines.append(f"    {shape}[{d}] = {sizes[0] if sizes else 1};")
        lines.append(f"    {shape}[{nd - 2}] = {a}.shape[{na - 2}];")
        lines.append(f"    {shape}[{nd - 1}] = {b}.shape[{nb - 1}];")
        lines.append(f"    {sub['alloc'][0]}")
        lines.append(f"    sg_mat {name}_A = {_mat_expr(a, 2, True, na - 2)};")
        lines.append(f"    sg_mat {name}_B = {_mat_expr(b, 2, False, nb - 2)};")
        lines.append(f"    sg_index {name}_nbat = 1;")
        for d in range(nbatch):
            lines.append(f"    {name}_nbat *= {shape}[{d}];")
        body_end = "\n".join(lines)
        slice_bytes = f"{shape}[{nd - 2}] * {shape}[{nd - 1}] * (sg_index){_ITEMSIZE[node.outputs[0].type.dtype]}"
        if nbatch:
            # A batch whose second operand does not vary (stride 0) and whose first operand's
            # batch dims stack its rows evenly is ONE product of (batch*m) x k rows.
            merge = f"""
    int {name}_merge = {name}_nbat > 1 && {name}_A.rows > 0 && {name}_nbat <= INT_MAX / {name}_A.rows;
    {{
        sg_index span = {name}_A.rows * {name}_A.rs;
        for (int d = {nbatch - 1}; d >= 0 && {name}_merge; d--) {{
            if ({shape}[d] == 1) continue;
            if ({name}_sb[d] != 0 || {name}_sa[d] != span) {name}_merge = 0;
            span *= {shape}[d];
        }}
    }}
    if ({name}_merge) {name}_A.rows *= {name}_nbat;"""
            loop = f"""
    if ({name}_merge) {{
        SG_CHECK({fn}({err}, &{name}_A, &{name}_B, {o}.data, {name}_scr));
    }} else if ({name}_nbat > 0) {{
        sg_index idx[{nbatch}] = {{0}};
        char *pa = {name}_A.data, *pb = {name}_B.data, *po = {o}.data;
        for (sg_index t = 0; t < {name}_nbat; t++) {{
            sg_mat As = {name}_A, Bs = {name}_B;
            As.data = pa;
            Bs.data = pb;
            SG_CHECK({fn}({err}, &As, &Bs, po, {name}_scr));
            po += {slice_bytes};
            /* odometer over the batch dims */
            for (int d = {nbatch - 1}; d >= 0; d--) {{
                if (++idx[d] < {shape}[d]) {{
                    pa += {name}_sa[d];
                    pb += {name}_sb[d];
                    break;
                }}
                idx[d] = 0;
                pa -= {name}_sa[d] * ({shape}[d] - 1);
                pb -= {name}_sb[d] * ({shape}[d] - 1);
            }}
        }}
    }}"""
        else:
            merge = ""
            loop = f"\n    SG_CHECK({fn}({err}, &{name}_A, &{name}_B, {o}.data, {name}_scr));"
        scratch = _SCRATCH.format(name=name, fn=fn, err=err, ws=sub["ws"], slot=sub["scratch_slot"], fail=sub["fail"])
        return body_end + merge + scratch + loop + "\n"


@register_c_impl(Gemv)
class GemvC(_ProductC):
    """``beta * y + alpha * dot(A, x)`` with dgemv/sgemv (a new output even when inplace)."""

    def c_support_code(self, node: Any) -> str:
        return _COMMON_SUPPORT

    def c_code_cache_version(self) -> tuple:
        return (1,)

    def c_code(self, node: Any, name: str, inputs: list[str], outputs: list[str], sub: dict) -> str:
        dtype = node.outputs[0].type.dtype
        if dtype not in _FLOATS or any(v.type.dtype != dtype for v in node.inputs):
            raise NotImplementedError(f"Gemv in C needs one float dtype, got {[v.type.dtype for v in node.inputs]}")
        y, alpha, A, x, beta = inputs
        (o,) = outputs
        err = sub["err"]
        item = _ITEMSIZE[dtype]
        ctype = C_TYPES[dtype]
        return f"""
    if ({A}.shape[1] != {x}.shape[0] || {A}.shape[0] != {y}.shape[0]) {{
        char sa_[128], sx_[128], sy_[128];
        sg_format_shape(sa_, sizeof sa_, 2, {A}.shape);
        sg_format_shape(sx_, sizeof sx_, 1, {x}.shape);
        sg_format_shape(sy_, sizeof sy_, 1, {y}.shape);
        SG_FAIL_CODE({err}, SG_ERR_SHAPE, "Gemv: shapes are not aligned: A %s, x %s, y %s (need A (m, n), x (n,), y (m,))", sa_, sx_, sy_);
    }}
    {sub["shape"][0]}[0] = {A}.shape[0];
    {sub["alloc"][0]}
    sg_mat {name}_A = {_mat_expr(A, 2, True)};
    size_t {name}_need = sg_blas_gemv_scratch(&{name}_A, {x}.data, {x}.strides[0], {item});
    char *{name}_scr = NULL;
    if ({name}_need == SIZE_MAX) SG_FAIL_CODE({err}, SG_ERR_MEMORY, "Gemv: scratch size overflows");
    if ({name}_need) {{
        {name}_scr = (char *)sg_ws_scratch({sub["ws"]}, {sub["scratch_slot"]}, {name}_need, {err});
        if (!{name}_scr) {sub["fail"]}
    }}
    SG_CHECK(sg_blas_gemv({err}, {int(dtype == "float64")}, (double)*(const {ctype} *){alpha}.data,
                          (double)*(const {ctype} *){beta}.data, &{name}_A, {x}.data, {x}.strides[0],
                          {y}.data, {y}.strides[0], {o}.data, {name}_scr));
"""
