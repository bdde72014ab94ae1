"""C for ``Elemwise`` nodes (a scalar-table row or a fused ``Composite``) in a region.

The scalar body comes from :func:`symgraph.link.c.elemwise_codegen.scalar_body` (one typed
temporary per composite node, so intermediates round to their own dtype as NumPy's do).
Around it this module writes the loop:

1. ``sg_check_broadcast`` checks every input's shape against the static broadcasting rule
   (only dimensions of static size 1 broadcast) and yields the output shape;
2. when every input is C-contiguous with the output's shape, one flat loop over
   ``restrict`` pointers, the case the compiler vectorises (with SIMD math from libmvec);
   from :data:`PARALLEL_THRESHOLD` elements on it is split over the cores by the runtime's
   ``sg_par_for`` (NumPy's OpenBLAS thread pool, else OpenMP: ``c_backend/sg_runtime.h``);
3. otherwise the runtime's strided iterator, with stride 0 on broadcast dimensions: any
   strides, transposed, negative-stride, broadcast and empty arrays. Its runs along the
   last axis are vectorised too when they are contiguous, or contiguous except for inputs
   broadcast along that axis (``x - m[:, None]``: those are passed as scalars). From
   :data:`PARALLEL_THRESHOLD` elements on, the rows of the first axis are split over the
   cores, each part iterating its own block of rows.

Both loops are module-level kernel functions (see :func:`_kernels`) marked ``SG_HOT`` /
``SG_WARM``, so that the rest of the module can be compiled cheaply.
"""

from __future__ import annotations

import hashlib

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.elemwise_codegen import _simd_declarations, scalar_body
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.elemwise import Elemwise

__all__ = ["ElemwiseC", "PARALLEL_THRESHOLD"]

#: The strided iterator's limits (``SG_ITER_MAXARRAYS``, ``SG_MAXDIMS`` in sg_runtime.h).
SG_ITER_MAXARRAYS = 32
SG_MAXDIMS = 64

#: Elements above which a contiguous elementwise loop uses both cores (measured in
#: benchmarks/bench_elemwise.py: below this, waking the thread team costs more than it saves).
PARALLEL_THRESHOLD = 100_000


def _body(node):
    in_dtypes = [v.type.dtype for v in node.inputs]
    statements, result, res_dtype = scalar_body(node.op.scalar_op, [f"e{k}" for k in range(len(node.inputs))], in_dtypes)
    out_dtype = node.outputs[0].type.dtype
    if res_dtype != out_dtype:
        raise NotImplementedError(f"C elemwise: computed dtype {res_dtype} != node dtype {out_dtype}")
    return statements, result


def _kernels(node) -> tuple[str, str, str, str]:
    """``(declarations, definitions, contiguous kernel name, strided kernel name)`` of
    ``node``'s loops (its ``c_kernel_code`` and the names its ``c_code`` calls).

    The loops that touch every element live in two module-level functions, named after a
    hash of their text (so equal nodes of a graph share them):

    - ``<c>(lo, hi, p0, ..., po)``: the flat loop over C-contiguous ``restrict`` pointers,
      ``SG_HOT`` (vectorised, SIMD math);
    - ``<s>(n, q0, s0, ..., qo, so)``: one inner run of the strided iterator (byte
      strides); ``SG_WARM``, and it hands unit-stride runs to the contiguous kernel;
    - when some inputs have static length 1 on the last axis, ``<b>(n, ...)``: ``SG_HOT``,
      those inputs as scalars and the others contiguous, for the runs where ``<s>`` finds
      exactly these strides (a broadcast row or column operand);
    - ``<s>_rows(ctx, lo, hi)``: the strided iterator over rows ``lo <= r < hi`` of the
      first axis (an ``sg_par_for`` body, its ``<s>_rctx`` holding base pointers, strides
      and shape), calling ``<s>`` on each run.

    Keeping them out of the node function lets the module be compiled at a low level
    (compile time) while these loops keep their optimisation. The node calls
    ``<c>_part`` (through ``sg_par_for``, with a ``<c>_ctx``) and ``<s>_rows`` (the same,
    with a ``<s>_rctx``): those are ``SG_KERNEL`` functions, declared for the module.
    """
    statements, result = _body(node)
    nin = len(node.inputs)
    in_c = [C_TYPES[v.type.dtype] for v in node.inputs]
    out_c = C_TYPES[node.outputs[0].type.dtype]
    body = " ".join(statements)

    def element(loads: list[str], store: str) -> str:
        reads = "".join(f"const {in_c[k]} e{k} = {loads[k]}; " for k in range(nin))
        return f"{{ {reads}{body} {store} = {result}; }}"

    cparams = ", ".join([f"const {in_c[k]} *restrict p{k}_" for k in range(nin)] + [f"{out_c} *restrict po_"])
    contig = [
        f"SG_HOT static void @C@(sg_index lo_, sg_index hi_, {cparams}) {{",
        "    for (sg_index i_ = lo_; i_ < hi_; i_++) " + element([f"p{k}_[i_]" for k in range(nin)], "po_[i_]"),
        "}",
    ]
    # the kernel's pointers as one struct, for sg_par_for's parts
    fields = " ".join([f"const {in_c[k]} *p{k};" for k in range(nin)] + [f"{out_c} *po;"])
    args = ", ".join([f"c_->p{k}" for k in range(nin)] + ["c_->po"])
    sparams = ", ".join([f"const char *q{k}_, sg_index s{k}_" for k in range(nin)] + ["char *qo_, sg_index so_"])
    declarations = [
        f"typedef struct {{ {fields} }} @C@_ctx;",
        "SG_KERNEL void @C@_part(void *ctx_, sg_index lo_, sg_index hi_);",
        "typedef struct { char *const *base; const sg_index *const *strides; const sg_index *shape; } @S@_rctx;",
        "SG_KERNEL void @S@_rows(void *ctx_, sg_index lo_, sg_index hi_);",
    ]
    part = [
        f"SG_KERNEL void @C@_part(void *ctx_, sg_index lo_, sg_index hi_) {{ const @C@_ctx *c_ = (const @C@_ctx *)ctx_; @C@(lo_, hi_, {args}); }}",
    ]
    unit = " && ".join([f"s{k}_ == (sg_index)sizeof({in_c[k]})" for k in range(nin)] + [f"so_ == (sg_index)sizeof({out_c})"])
    to_contig = ", ".join([f"(const {in_c[k]} *)q{k}_" for k in range(nin)] + [f"({out_c} *)qo_"])
    loads = [f"*(const {in_c[k]} *)(q{k}_ + j_ * s{k}_)" for k in range(nin)]
    # Inputs of static length 1 on the last axis (a row maximum in x - m[:, None]...): the
    # iterator's runs along that axis read them with stride 0. A third loop, SG_HOT too,
    # takes them as scalars, so these runs are vectorised as well.
    nd = node.outputs[0].type.ndim
    last_one = [nd > 0 and v.type.shape[-1] == 1 for v in node.inputs]
    bcast = []
    if any(last_one) and not all(last_one):
        bparams = ", ".join([f"const {in_c[k]} b{k}_" if one else f"const {in_c[k]} *restrict p{k}_"
                             for k, one in enumerate(last_one)] + [f"{out_c} *restrict po_"])
        bloads = [f"b{k}_" if one else f"p{k}_[i_]" for k, one in enumerate(last_one)]
        contig += [
            f"SG_HOT static void @B@(sg_index n_, {bparams}) {{",
            "    for (sg_index i_ = 0; i_ < n_; i_++) " + element(bloads, "po_[i_]"),
            "}",
        ]
        bcond = " && ".join([f"s{k}_ == 0" if one else f"s{k}_ == (sg_index)sizeof({in_c[k]})"
                             for k, one in enumerate(last_one)] + [f"so_ == (sg_index)sizeof({out_c})"])
        bargs = ", ".join([f"*(const {in_c[k]} *)q{k}_" if one else f"(const {in_c[k]} *)q{k}_"
                           for k, one in enumerate(last_one)] + [f"({out_c} *)qo_"])
        bcast = [f"    if ({bcond}) {{ @B@(n_, {bargs}); return; }}"]
    narr = nin + 1
    run_args = ", ".join(f"it_.ptrs[{k}], it_.inner_strides[{k}]" for k in range(narr))
    rows = [
        "SG_WARM SG_KERNEL void @S@_rows(void *ctx_, sg_index lo_, sg_index hi_) {",
        "    const @S@_rctx *c_ = (const @S@_rctx *)ctx_;",
        f"    char *base_[{narr}];",
        f"    sg_index shape_[{nd}];",
        f"    for (int k_ = 0; k_ < {narr}; k_++) base_[k_] = c_->base[k_] + lo_ * c_->strides[k_][0];",
        f"    for (int d_ = 0; d_ < {nd}; d_++) shape_[d_] = c_->shape[d_];",
        "    shape_[0] = hi_ - lo_;",
        "    sg_iter it_;",
        # cannot fail: c_code refuses nodes beyond the iterator's array and dimension limits
        f"    if (sg_iter_init(&it_, NULL, {narr}, base_, c_->strides, {nd}, shape_) || it_.size == 0) return;",
        f"    do @S@(it_.inner_size, {run_args}); while (sg_iter_next(&it_));",
        "}",
    ]
    strided = [
        f"SG_WARM static void @S@(sg_index n_, {sparams}) {{",
        f"    if ({unit}) {{ @C@(0, n_, {to_contig}); return; }}",
        *bcast,
        "    for (sg_index j_ = 0; j_ < n_; j_++) " + element(loads, f"*({out_c} *)(qo_ + j_ * so_)"),
        "}",
    ]
    head, text = "\n".join(declarations), "\n".join(contig + part + strided + rows)
    digest = hashlib.sha1((head + text).encode()).hexdigest()[:16]
    cname, sname = f"sg_ew_{digest}", f"sg_ews_{digest}"
    head = head.replace("@C@", cname).replace("@S@", sname)
    text = text.replace("@C@", cname).replace("@S@", sname).replace("@B@", f"sg_ewb_{digest}")
    simd = _simd_declarations("\n".join(statements + [result]))
    return head, "\n".join([*simd, text]), cname, sname


@register_c_impl(Elemwise)
class ElemwiseC(CImpl):
    """C for single-output ``Elemwise`` nodes of the dtypes the scalar generator covers."""

    def c_support_code(self, node) -> str:
        if node.outputs[0].type.ndim == 0:  # the scalar code is in the node itself
            statements, result = _body(node)
            return "\n".join(_simd_declarations("\n".join(statements + [result])))
        return ""

    def c_kernel_code(self, node) -> tuple[str, str]:
        if node.outputs[0].type.ndim == 0:
            return "", ""
        return _kernels(node)[:2]

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        if len(node.outputs) != 1:
            raise NotImplementedError("C elemwise: one output only")
        nin = len(inputs)
        out = outputs[0]
        nd = node.outputs[0].type.ndim
        in_c = [C_TYPES[v.type.dtype] for v in node.inputs]
        out_c = C_TYPES[node.outputs[0].type.dtype]
        err = sub["err"]
        shape = sub["shape"][0]
        lines = []
        emit = lines.append
        if nd == 0:
            statements, result = _body(node)
            emit(sub["alloc"][0])
            reads = "".join(f"const {in_c[k]} e{k} = *(const {in_c[k]} *){inputs[k]}.data; " for k in range(nin))
            emit(f"{{ {reads}{' '.join(statements)} *({out_c} *){out}.data = {result}; }}")
            return "\n".join(lines)
        if nin + 1 > SG_ITER_MAXARRAYS or nd > SG_MAXDIMS:
            # the strided iterator's limits (sg_runtime.h), checked here so that its setup
            # in the kernel cannot fail
            raise NotImplementedError(f"C elemwise: {nin} inputs and {nd} dimensions exceed the iterator's limits")
        _, _, kernel, strided = _kernels(node)
        flags = ", ".join("1" if s == 1 else "0" for v in node.inputs for s in v.type.shape)
        emit(f"const sg_array *ins_[{nin}] = {{{', '.join('&' + i for i in inputs)}}};")
        emit(f"static const unsigned char bc_[{nin * nd}] = {{{flags}}};")
        emit(f"SG_CHECK(sg_check_broadcast({err}, {nin}, ins_, bc_, NULL, {nd}, {shape}));")
        emit(sub["alloc"][0])
        emit(f"sg_index n_ = 1; for (int d_ = 0; d_ < {nd}; d_++) n_ *= {shape}[d_];")
        emit("if (n_ > 0) {")
        # Flat path: every input C-contiguous and not broadcast in a dimension of size > 1.
        conds = []
        for k, v in enumerate(node.inputs):
            conds.append(f"sg_array_is_c_contiguous(&{inputs[k]})")
            for d, s in enumerate(v.type.shape):
                if s == 1:
                    conds.append(f"{shape}[{d}] == 1")
        emit(f"  if ({' && '.join(conds)}) {{")
        ptrs = ", ".join([f"(const {in_c[k]} *){inputs[k]}.data" for k in range(nin)] + [f"({out_c} *){out}.data"])
        # Each thread runs the same vectorised kernel on its own slice (a parallel loop on the
        # kernel's own loop stopped gcc from using the SIMD math variants).
        emit(f"    {kernel}_ctx ctx_ = {{{ptrs}}};")
        emit(f"    sg_par_for(n_, {PARALLEL_THRESHOLD // 2}, {kernel}_part, &ctx_);")
        emit("  } else {")
        for k, v in enumerate(node.inputs):
            strides = ", ".join("0" if s == 1 else f"{inputs[k]}.strides[{d}]" for d, s in enumerate(v.type.shape))
            emit(f"    const sg_index st{k}_[{nd}] = {{{strides}}};")
        emit(f"    char *base_[{nin + 1}] = {{{', '.join(f'{i}.data' for i in inputs)}, {out}.data}};")
        emit(f"    const sg_index *sts_[{nin + 1}] = {{{', '.join(f'st{k}_' for k in range(nin))}, {out}.strides}};")
        # blocks of rows of the first axis, at least PARALLEL_THRESHOLD / 2 elements each
        emit(f"    {strided}_rctx rctx_ = {{base_, sts_, {shape}}};")
        emit(f"    const sg_index row_ = n_ / {shape}[0];")
        emit(f"    sg_par_for({shape}[0], ({PARALLEL_THRESHOLD // 2} + row_ - 1) / row_, {strided}_rows, &rctx_);")
        emit("  }")
        emit("}")
        return "\n".join(lines)
