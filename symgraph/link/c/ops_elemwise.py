"""C for ``Elemwise`` nodes (a scalar-table row or a fused ``Composite``) in a region.

The scalar body comes from :func:`symgraph.link.c.elemwise_codegen.scalar_body` (one typed
temporary per composite node, so intermediates round to their own dtype as NumPy's do).
Around it this module writes the loop:

1. ``sg_check_broadcast`` checks every input's shape against the static broadcasting rule
   (only dimensions of static size 1 broadcast) and yields the output shape;
2. when every input is C-contiguous with the output's shape, one flat loop over
   ``restrict`` pointers, the case the compiler vectorises (with SIMD math from libmvec);
   above :data:`PARALLEL_THRESHOLD` elements it is split over the cores with OpenMP when
   the compiler supports it (``SG_OPENMP`` is defined by the build);
3. otherwise the runtime's strided iterator, with stride 0 on broadcast dimensions: any
   strides, transposed, negative-stride, broadcast and empty arrays.
"""

from __future__ import annotations

from symgraph.link.c.c_ops import CImpl, register_c_impl
from symgraph.link.c.elemwise_codegen import _simd_declarations, scalar_body
from symgraph.tensor.composite import C_TYPES
from symgraph.tensor.elemwise import Elemwise

__all__ = ["ElemwiseC", "PARALLEL_THRESHOLD"]

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


@register_c_impl(Elemwise)
class ElemwiseC(CImpl):
    """C for single-output ``Elemwise`` nodes of the dtypes the scalar generator covers."""

    def c_support_code(self, node) -> str:
        statements, result = _body(node)
        return "\n".join(_simd_declarations("\n".join(statements + [result])))

    def c_code(self, node, name, inputs, outputs, sub) -> str:
        if len(node.outputs) != 1:
            raise NotImplementedError("C elemwise: one output only")
        statements, result = _body(node)
        nin = len(inputs)
        out = outputs[0]
        nd = node.outputs[0].type.ndim
        in_c = [C_TYPES[v.type.dtype] for v in node.inputs]
        out_c = C_TYPES[node.outputs[0].type.dtype]
        err = sub["err"]
        shape = sub["shape"][0]

        def element(loads: list[str], store: str) -> str:
            reads = "".join(f"const {in_c[k]} e{k} = {loads[k]}; " for k in range(nin))
            body = " ".join(statements)
            return f"{{ {reads}{body} {store} = {result}; }}"

        lines = []
        emit = lines.append
        if nd == 0:
            emit(sub["alloc"][0])
            loads = [f"*(const {in_c[k]} *){inputs[k]}.data" for k in range(nin)]
            emit(element(loads, f"*({out_c} *){out}.data"))
            return "\n".join(lines)
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
        for k in range(nin):
            emit(f"    const {in_c[k]} *restrict p{k}_ = (const {in_c[k]} *){inputs[k]}.data;")
        emit(f"    {out_c} *restrict po_ = ({out_c} *){out}.data;")
        loop = "for (sg_index i_ = lo_; i_ < hi_; i_++) " + element([f"p{k}_[i_]" for k in range(nin)], "po_[i_]")
        # Each thread runs the same vectorised loop on its own slice (an `omp for` on the
        # loop itself stopped gcc from using the SIMD math variants).
        emit("#ifdef SG_OPENMP")
        emit(f"    if (n_ > {PARALLEL_THRESHOLD} && sg_parallel_ok) {{")
        emit("      #pragma omp parallel")
        emit("      {")
        emit("        const sg_index nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();")
        emit("        const sg_index lo_ = n_ * t_ / nt_, hi_ = n_ * (t_ + 1) / nt_;")
        emit("        " + loop)
        emit("      }")
        emit("    } else")
        emit("#endif")
        emit("    { const sg_index lo_ = 0, hi_ = n_; " + loop + " }")
        emit("  } else {")
        for k, v in enumerate(node.inputs):
            strides = ", ".join("0" if s == 1 else f"{inputs[k]}.strides[{d}]" for d, s in enumerate(v.type.shape))
            emit(f"    const sg_index st{k}_[{nd}] = {{{strides}}};")
        emit(f"    char *base_[{nin + 1}] = {{{', '.join(f'{i}.data' for i in inputs)}, {out}.data}};")
        emit(f"    const sg_index *sts_[{nin + 1}] = {{{', '.join(f'st{k}_' for k in range(nin))}, {out}.strides}};")
        emit("    sg_iter it_;")
        emit(f"    SG_CHECK(sg_iter_init(&it_, {err}, {nin + 1}, base_, sts_, {nd}, {shape}));")
        emit("    do {")
        for k in range(nin):
            emit(f"      const char *q{k}_ = it_.ptrs[{k}]; const sg_index s{k}_ = it_.inner_strides[{k}];")
        emit(f"      char *qo_ = it_.ptrs[{nin}]; const sg_index so_ = it_.inner_strides[{nin}];")
        emit("      for (sg_index j_ = 0; j_ < it_.inner_size; j_++)")
        loads = [f"*(const {in_c[k]} *)(q{k}_ + j_ * s{k}_)" for k in range(nin)]
        emit("        " + element(loads, f"*({out_c} *)(qo_ + j_ * so_)"))
        emit("    } while (sg_iter_next(&it_));")
        emit("  }")
        emit("}")
        return "\n".join(lines)
