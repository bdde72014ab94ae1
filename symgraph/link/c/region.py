"""Generate one C extension module for a whole graph: one C function per region.

A *region* is a run of C-capable nodes (see ``docs/c_backend.md``). :func:`plan_units`
orders the graph's nodes so that C-capable nodes cluster, then cuts the order into units
(regions and single Python nodes). :func:`generate_module` writes the source of one
CPython extension module holding, per region ``k``, a C function and its Python wrapper
``region_<k>(workspace, in_cells, out_cells)``.

Variables are named ``v<i>`` by their position in the planned order, never by user names,
and constants are region inputs read from their cells: the source depends only on the
graph's structure, so equal structures share a cached module.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from typing import Any

from symgraph.link.c.c_ops import c_impl_for
from symgraph.link.c.runtime import DTYPE_CODES, ITEMSIZES as _ITEMSIZE
from symgraph.tensor.random import RandomGeneratorType

__all__ = ["Region", "NodeCode", "node_c_code", "plan_units", "generate_module", "NPY_TYPENUMS"]

#: NumPy C type numbers (macro names in numpy/ndarraytypes.h) per dtype name.
NPY_TYPENUMS = {
    "bool": "NPY_BOOL",
    "int8": "NPY_INT8",
    "int16": "NPY_INT16",
    "int32": "NPY_INT32",
    "int64": "NPY_INT64",
    "uint8": "NPY_UINT8",
    "float32": "NPY_FLOAT32",
    "float64": "NPY_FLOAT64",
}


def _tensor_dtype(var: Any) -> str | None:
    """The dtype of a tensor variable the backend can hold, else None."""
    t = var.type
    dtype = getattr(t, "dtype", None)
    if getattr(t, "ndim", None) is None or dtype not in DTYPE_CODES:
        return None
    return dtype


def _is_object(var: Any) -> bool:
    """Whether ``var`` is held in C as a ``PyObject *`` (a random generator)."""
    return isinstance(var.type, RandomGeneratorType)


@dataclass
class NodeCode:
    """The C pieces of one node, generated with placeholder variable names."""

    node: Any
    impl: Any
    code: str
    support: str
    headers: list[str]
    init: str
    #: ``c_kernel_code``: declarations seen by the whole module, definitions that need only
    #: the runtime (they may go to a translation unit of their own: :func:`generate_module`)
    kernel_decls: str = ""
    kernel_defs: str = ""


def _placeholder(kind: str, i: int) -> str:
    return f"@{kind}{i}@"


def node_c_code(node: Any) -> NodeCode | None:
    """The node's C with placeholders for its variables, or None if it has no C.

    Placeholders (``@in0@``, ``@out0@``, ``@name@``...) are substituted once the node's
    place in a region is known, so each node's ``c_code`` runs once per compilation.
    """
    if any(_tensor_dtype(v) is None and not _is_object(v) for v in node.inputs + node.outputs):
        return None
    impl = c_impl_for(node.op)
    if impl is None:
        return None
    nout = len(node.outputs)
    sub = {
        "err": "err",
        "fail": "return err->code ? err->code : sg_error_set(err, SG_ERR_RUNTIME, \"failed\");",
        "ws": "ws",
        "shape": [_placeholder("shape", j) for j in range(nout)],
        "strides": [_placeholder("strides", j) for j in range(nout)],
        "alloc": [_placeholder("alloc", j) + ";" for j in range(nout)],
        "scratch_slot": "@slot@",
        # object outputs: the code assigns a new reference to outputs[j], then runs store[j]
        "store": [_placeholder("store", j) if _is_object(v) else "" for j, v in enumerate(node.outputs)],
    }
    inputs = [_placeholder("in", i) for i in range(len(node.inputs))]
    outputs = [_placeholder("out", j) for j in range(nout)]
    try:
        code = impl.c_code(node, "@name@", inputs, outputs, sub)
    except NotImplementedError:
        return None
    support = impl.c_support_code(node) if hasattr(impl, "c_support_code") else ""
    headers = list(impl.c_headers(node)) if hasattr(impl, "c_headers") else []
    init = impl.c_init_code(node) if hasattr(impl, "c_init_code") else ""
    decls, defs = impl.c_kernel_code(node) if hasattr(impl, "c_kernel_code") else ("", "")
    return NodeCode(node, impl, code, support or "", headers, init or "", decls or "", defs or "")


@dataclass
class Region:
    """One C region: its nodes (in order), the variables it reads and writes through cells."""

    nodes: list
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    #: index of the first region node reading each input (for error reports)
    input_readers: list = field(default_factory=list)


def plan_units(
    order: list,
    c_capable: set,
    fgraph_outputs: list,
    single_node_regions: bool = False,
    orderings: dict | None = None,
) -> list:
    """Reorder ``order`` (a toposort) to cluster C-capable nodes and cut it into units.

    ``orderings`` (``fgraph.orderings()``: node -> nodes that must run before it) holds the
    constraints beyond data flow, above all the destroy handler's: a node overwriting an
    input runs after every reader of that input. Returns a list whose items are either a
    :class:`Region` or a Python node. With ``single_node_regions`` every C node is its own
    region (the CHECK mode).
    """
    position = {node: i for i, node in enumerate(order)}
    produced_by = {out: node for node in order for out in node.outputs}
    before: dict[Any, set] = {node: {produced_by[v] for v in node.inputs if v in produced_by} for node in order}
    for node, prerequisites in (orderings or {}).items():
        if node in before:
            before[node].update(p for p in prerequisites if p in position and p is not node)
    pending = {node: len(parents) for node, parents in before.items()}
    readers: dict[Any, list] = {node: [] for node in order}
    for node in order:
        for parent in before[node]:
            readers[parent].append(node)
    ready_c: list = []
    ready_py: list = []
    for node in order:
        if pending[node] == 0:
            heapq.heappush(ready_c if node in c_capable else ready_py, (position[node], id(node), node))
    clustered = []
    prefer_c = True
    while ready_c or ready_py:
        # Stay with the current kind while possible: each switch costs a region boundary.
        queue = (ready_c if prefer_c else ready_py) or (ready_py if prefer_c else ready_c)
        _, _, node = heapq.heappop(queue)
        prefer_c = node in c_capable
        clustered.append(node)
        for child in readers[node]:
            pending[child] -= 1
            if pending[child] == 0:
                heapq.heappush(ready_c if child in c_capable else ready_py, (position[child], id(child), child))
    units: list = []
    for node in clustered:
        if node not in c_capable:
            units.append(node)
        elif single_node_regions or not units or not isinstance(units[-1], Region):
            units.append(Region([node]))
        else:
            units[-1].nodes.append(node)
    if len(clustered) != len(order):
        raise ValueError("plan_units: the ordering constraints contain a cycle")
    outputs = set(fgraph_outputs)
    for unit in units:
        if not isinstance(unit, Region):
            continue
        inside = set(unit.nodes)
        seen = set()
        for i, node in enumerate(unit.nodes):
            for var in node.inputs:
                if (var.owner is None or var.owner not in inside) and var not in seen:
                    seen.add(var)
                    unit.inputs.append(var)
                    unit.input_readers.append(i)
        read_outside = set()
        for other in clustered:
            if other not in inside:
                read_outside.update(other.inputs)
        for node in unit.nodes:
            for var in node.outputs:
                # Object outputs always go to their cells, which own the references.
                if var in outputs or var in read_outside or _is_object(var):
                    unit.outputs.append(var)
    return units


_PRELUDE = '#include "sg_module.h"  /* Python, NumPy and the runtime (c_backend/) */\n'

# The module is compiled at -O0 (build.DEFAULT_FLAGS). The wrappers and these helpers opt in
# to -Og with SG_WARM (sg_runtime.h); region and node functions stay at -O0: they are mostly
# calls, and -Og on them cost W4's module about 0.1 s of compile time for no measurable gain.
_HELPERS = r"""
/* A new C-contiguous NumPy array stored into `cell` (a one-element list); NULL after
 * recording a memory error. */
SG_WARM static PyArrayObject *sg_new_output(PyObject *cell, int ndim, const sg_index *shape, int typenum, sg_error *err) {
    PyObject *a = PyArray_EMPTY(ndim, (npy_intp *)shape, typenum, 0);
    if (!a) {
        PyErr_Clear();
        sg_error_set(err, SG_ERR_MEMORY, "could not allocate an output array");
        return NULL;
    }
    PyList_SetItem(cell, 0, a); /* steals the reference, releases the old value */
    return (PyArrayObject *)a;
}

SG_WARM static PyObject *sg_raise(const sg_error *err, int rc) {
    PyObject *type = PyExc_RuntimeError;
    if (rc == SG_ERR_SHAPE || rc == SG_ERR_VALUE) type = PyExc_ValueError;
    else if (rc == SG_ERR_TYPE) type = PyExc_TypeError;
    else if (rc == SG_ERR_MEMORY) type = PyExc_MemoryError;
    else if (rc == SG_ERR_INDEX) type = PyExc_IndexError;
    PyObject *exc = NULL;
    if (PyErr_Occurred()) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        if (tb) PyException_SetTraceback(v, tb);
        Py_XDECREF(t);
        Py_XDECREF(tb);
        exc = v;
    } else {
        exc = PyObject_CallFunction(type, "s", err->msg[0] ? err->msg : "error in generated C code");
        if (!exc) return NULL;
    }
    PyObject *node = PyLong_FromLong(err->node);
    if (node) {
        PyObject_SetAttrString(exc, "sg_node_index", node);
        Py_DECREF(node);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

/* Make `value` usable as an input of `typenum`/`ndim`: an aligned, native-order NumPy
 * array of exactly that dtype and rank. Returns a new reference (stored in *temp when a
 * conversion was needed) or NULL with a TypeError naming input `index`. */
SG_WARM static PyObject *sg_coerce_input(PyObject *value, int typenum, int ndim, int index, int reader, PyObject **temp) {
    PyArray_Descr *want = PyArray_DescrFromType(typenum);
    int ok_type = 0;
    if (PyArray_Check(value)) {
        PyArray_Descr *have = PyArray_DESCR((PyArrayObject *)value);
        ok_type = PyArray_EquivTypes(have, want) && PyArray_NDIM((PyArrayObject *)value) == ndim;
    } else if (PyArray_IsScalar(value, Generic) && ndim == 0) {
        PyArray_Descr *have = PyArray_DescrFromScalar(value);
        ok_type = have && PyArray_EquivTypes(have, want);
        Py_XDECREF(have);
    }
    if (!ok_type) {
        PyObject *msg = PyUnicode_FromFormat(
            "input %d of this C region expected a %d-d %s array, got %R", index, ndim,
            want->typeobj->tp_name, PyArray_Check(value) ? (PyObject *)PyArray_DESCR((PyArrayObject *)value) : (PyObject *)Py_TYPE(value));
        Py_DECREF(want);
        if (!msg) return NULL;
        PyObject *exc = PyObject_CallOneArg(PyExc_TypeError, msg);
        Py_DECREF(msg);
        if (!exc) return NULL;
        PyObject *i = PyLong_FromLong(index), *r = PyLong_FromLong(reader);
        if (i) PyObject_SetAttrString(exc, "sg_input_index", i);
        if (r) PyObject_SetAttrString(exc, "sg_node_index", r);
        Py_XDECREF(i);
        Py_XDECREF(r);
        PyErr_SetObject(PyExc_TypeError, exc);
        Py_DECREF(exc);
        return NULL;
    }
    /* PyArray_FromAny steals the descriptor reference */
    PyObject *conv = PyArray_FromAny(value, want, ndim, ndim, NPY_ARRAY_ALIGNED | NPY_ARRAY_NOTSWAPPED, NULL);
    *temp = conv;
    return conv;
}

/* The byte range [lo, hi) that the elements of a strided array cover (lo == hi if empty). */
SG_WARM static void sg_byte_range(const char *data, int ndim, const sg_index *shape, const sg_index *strides,
                          size_t itemsize, const char **lo, const char **hi) {
    const char *a = data, *b = data;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) { *lo = *hi = data; return; }
        sg_index span = strides[d] * (shape[d] - 1);
        if (span < 0) a += span; else b += span;
    }
    *lo = a;
    *hi = b + itemsize;
}

/* If `view`'s memory lies inside the NumPy array `base`, store into `cell` a NumPy array
 * viewing it (base kept alive as its base; writeable only if `base` is) and set *exported. */
SG_WARM static int sg_export_view(PyObject *cell, PyObject *base, sg_array *view, int typenum, int *exported, sg_error *err) {
    *exported = 0;
    if (!PyArray_Check(base)) return 0;
    PyArrayObject *b = (PyArrayObject *)base;
    size_t item = sg_dtype_itemsize(view->dtype);
    const char *vlo, *vhi, *blo, *bhi;
    sg_byte_range(view->data, view->ndim, view->shape, view->strides, item, &vlo, &vhi);
    sg_byte_range(PyArray_BYTES(b), PyArray_NDIM(b), (const sg_index *)PyArray_DIMS(b),
                  (const sg_index *)PyArray_STRIDES(b), (size_t)PyArray_ITEMSIZE(b), &blo, &bhi);
    if (vlo < blo || vhi > bhi || (vlo == vhi && sg_array_size(view) != 0)) return 0;
    PyArray_Descr *descr = PyArray_DescrFromType(typenum);
    int flags = PyArray_FLAGS(b) & NPY_ARRAY_WRITEABLE;
    PyObject *a = PyArray_NewFromDescr(&PyArray_Type, descr, view->ndim, (npy_intp *)view->shape,
                                       (npy_intp *)view->strides, view->data, flags, NULL);
    if (!a) {
        PyErr_Clear();
        return sg_error_set(err, SG_ERR_MEMORY, "could not create an output view");
    }
    Py_INCREF(base);
    if (PyArray_SetBaseObject((PyArrayObject *)a, base) < 0) {
        Py_DECREF(a);
        PyErr_Clear();
        return sg_error_set(err, SG_ERR_RUNTIME, "could not set an output view's base");
    }
    PyArray_UpdateFlags((PyArrayObject *)a, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    PyList_SetItem(cell, 0, a);
    *exported = 1;
    return 0;
}

static void sg_ws_capsule_free(PyObject *capsule) {
    sg_ws *ws = (sg_ws *)PyCapsule_GetPointer(capsule, "sg_ws");
    if (ws) Py_XDECREF((PyObject *)ws->node_times_owner);
    sg_ws_free(ws);
}

/* time_nodes(workspace, times): the regions run with this workspace add each node's seconds
 * to times[j] (a writeable contiguous float64 vector, held until replaced), or stop timing
 * when times is None. */
static PyObject *sg_py_time_nodes(PyObject *self, PyObject *args) {
    PyObject *capsule, *times;
    if (!PyArg_ParseTuple(args, "OO:time_nodes", &capsule, &times)) return NULL;
    sg_ws *ws = (sg_ws *)PyCapsule_GetPointer(capsule, "sg_ws");
    if (!ws) return NULL;
    if (times != Py_None) {
        if (!PyArray_Check(times) || PyArray_TYPE((PyArrayObject *)times) != NPY_FLOAT64 ||
            PyArray_NDIM((PyArrayObject *)times) != 1 || !PyArray_ISCARRAY((PyArrayObject *)times)) {
            PyErr_SetString(PyExc_TypeError, "time_nodes: times must be a writeable contiguous float64 vector or None");
            return NULL;
        }
    }
    PyObject *old = (PyObject *)ws->node_times_owner;
    if (times == Py_None) {
        ws->node_times = NULL;
        ws->node_times_len = 0;
        ws->node_times_owner = NULL;
    } else {
        Py_INCREF(times);
        ws->node_times = (double *)PyArray_DATA((PyArrayObject *)times);
        ws->node_times_len = (sg_index)PyArray_DIM((PyArrayObject *)times, 0);
        ws->node_times_owner = times;
    }
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *sg_py_new_workspace(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n < 0 && PyErr_Occurred()) return NULL;
    sg_ws *ws = sg_ws_new((int)n);
    if (!ws) return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(ws, "sg_ws", sg_ws_capsule_free);
    if (!capsule) sg_ws_free(ws);
    return capsule;
}
"""


def _subst(text: str, mapping: dict[str, str]) -> str:
    for key, value in mapping.items():
        text = text.replace(key, value)
    return text


def _region_source(k: int, region: Region, codes: dict, slots: list) -> tuple[str, list[str]]:
    """C of region ``k``: its function and wrapper. Returns (source, init blocks)."""
    names: dict[Any, str] = {}
    lines: list[str] = []
    emit = lines.append
    for i, var in enumerate(region.inputs):
        names[var] = f"v{len(names)}"
    local_vars = [out for node in region.nodes for out in node.outputs]
    for var in local_vars:
        names[var] = f"v{len(names)}"
    out_index = {var: r for r, var in enumerate(region.outputs)}

    region_start = len(lines)
    emit(f"static int sg_region_{k}(sg_ws *ws, PyObject *const *in_values, PyObject *const *out_cells, sg_error *err) {{")
    # profiling: the seconds of each node, when the workspace has room for all of them
    emit(f"    double *const times_ = ws->node_times_len >= {len(region.nodes)} ? ws->node_times : NULL;")
    emit("    double t0_ = 0.0;")
    emit("    (void)t0_;")
    for i, var in enumerate(region.inputs):
        if _is_object(var):
            emit(f"    PyObject *const {names[var]} = in_values[{i}];")
            continue
        dtype = _tensor_dtype(var)
        emit(
            f"    const sg_array {names[var]} = {{PyArray_BYTES((PyArrayObject *)in_values[{i}]), {var.type.ndim}, "
            f"{DTYPE_CODES[dtype]}, (const sg_index *)PyArray_DIMS((PyArrayObject *)in_values[{i}]), "
            f"(const sg_index *)PyArray_STRIDES((PyArrayObject *)in_values[{i}])}};"
        )
    for var in local_vars:
        n = names[var]
        if _is_object(var):
            emit(f"    PyObject *{n} = NULL;")
            continue
        nd = max(var.type.ndim, 1)
        emit(f"    sg_index {n}_shape[{nd}] = {{0}}, {n}_strides[{nd}] = {{0}};")
        emit(f"    sg_array {n} = {{NULL, {var.type.ndim}, {DTYPE_CODES[_tensor_dtype(var)]}, {n}_shape, {n}_strides}};")
    inits = []
    node_functions: list[str] = []
    # Per variable, the C expression of the NumPy array owning its memory (None: workspace).
    root_of: dict[Any, str | None] = {var: f"in_values[{i}]" for i, var in enumerate(region.inputs)}
    for j, node in enumerate(region.nodes):
        nc = codes[node]
        mapping = {"@name@": f"n{k}_{j}", "@slot@": str(slots.pop())}
        for i, var in enumerate(node.inputs):
            mapping[_placeholder("in", i)] = names[var]
        for o, var in enumerate(node.outputs):
            n = names[var]
            mapping[_placeholder("out", o)] = n
            if _is_object(var):
                mapping[_placeholder("store", o)] = (
                    f"do {{ if (!{n}) return err->code ? err->code : sg_error_set(err, SG_ERR_RUNTIME, \"no object\"); "
                    f"PyList_SetItem(out_cells[{out_index[var]}], 0, {n}); *p_{n} = {n}; }} while (0)"
                )
                continue
            mapping[_placeholder("shape", o)] = f"{n}_shape"
            mapping[_placeholder("strides", o)] = f"{n}_strides"
            dtype = _tensor_dtype(var)
            nd = var.type.ndim
            if var in out_index:
                alloc = (
                    f"do {{ PyArrayObject *a_ = sg_new_output(out_cells[{out_index[var]}], {nd}, {n}_shape, "
                    f"{NPY_TYPENUMS[dtype]}, err); if (!a_) return err->code; {n}.data = PyArray_BYTES(a_); "
                    f"for (int d_ = 0; d_ < {nd}; d_++) {n}_strides[d_] = PyArray_STRIDES(a_)[d_]; }} while (0)"
                )
            else:
                slot = slots.pop()
                alloc = (
                    f"do {{ sg_index nb_ = sg_contiguous_strides({nd}, {n}_shape, {_ITEMSIZE[dtype]}, {n}_strides); "
                    f"if (nb_ < 0) SG_FAIL_CODE(err, SG_ERR_MEMORY, \"array too large\"); "
                    f"{n}.data = (char *)sg_ws_scratch(ws, {slot}, (size_t)nb_, err); if (!{n}.data) return err->code; }} while (0)"
                )
            mapping[_placeholder("alloc", o)] = alloc
        # Each node is its own (never inlined) function: compile time grows faster than
        # linearly with a function's size, and a region of many nodes made one huge one.
        ins = list(dict.fromkeys(names[v] for v in node.inputs))
        outs = [names[v] for v in node.outputs]
        objects = {names[v] for v in node.inputs + node.outputs if _is_object(v)}
        params = [f"PyObject *{n}" if n in objects else f"const sg_array {n}" for n in ins if n not in outs]
        params += [
            f"PyObject **p_{n}" if n in objects else f"sg_array *p_{n}, sg_index *{n}_shape, sg_index *{n}_strides"
            for n in outs
        ]
        fn = [
            f"SG_NOINLINE static int sg_node_{k}_{j}(sg_ws *ws, PyObject *const *in_values, PyObject *const *out_cells, "
            f"sg_error *err, {', '.join(params)}) {{"
        ]
        fn.append("    (void)ws; (void)in_values; (void)out_cells;")
        fn += [f"    PyObject *{n} = NULL;" if n in objects else f"    sg_array {n} = *p_{n};" for n in outs]
        fn.append("    {")
        fn.append(_subst(nc.code, mapping))
        fn.append("    }")
        # Outputs leaving the region that the op produced as views: when the viewed memory
        # belongs to a NumPy array (a region input, or an output of this call) they leave as
        # NumPy views of it; memory of the workspace is reused by the next call, so views of
        # it are copied into new arrays.
        # An in-place output (destroy_map) is its input's memory, as a view output is.
        view_map = {**(getattr(node.op, "destroy_map", {}) or {}), **(getattr(node.op, "view_map", {}) or {})}
        for o, var in enumerate(node.outputs):
            if _is_object(var):
                continue
            if o in view_map:
                root_of[var] = root_of.get(node.inputs[view_map[o][0]])
            else:
                root_of[var] = f"PyList_GET_ITEM(out_cells[{out_index[var]}], 0)" if var in out_index else None
            if var not in out_index or o not in view_map:
                continue
            n = names[var]
            nd = var.type.ndim
            typenum = NPY_TYPENUMS[_tensor_dtype(var)]
            cell = f"PyList_GET_ITEM(out_cells[{out_index[var]}], 0)"
            # The op may have allocated its output after all (a reshape of a non-contiguous
            # input copies): then the cell already holds this call's array.
            fn.append(f"    if (!PyArray_Check({cell}) || PyArray_BYTES((PyArrayObject *){cell}) != {n}.data) {{")
            if root_of[var] is not None:
                # An op along the chain may have copied into the workspace: export a view only
                # when the memory really lies inside the root array.
                fn.append("    int exported_ = 0;")
                fn.append(f"    SG_CHECK(sg_export_view(out_cells[{out_index[var]}], {root_of[var]}, &{n}, {typenum}, &exported_, err));")
                fn.append("    if (!exported_) {")
            else:
                fn.append("    {")
            # The source keeps its own strides: the loop below overwrites {n}_strides.
            fn.append(f"        sg_index srcst_[{max(nd, 1)}]; for (int d_ = 0; d_ < {nd}; d_++) srcst_[d_] = {n}_strides[d_];")
            fn.append(f"        sg_array src_ = {n}; src_.strides = srcst_;")
            fn.append(
                f"        PyArrayObject *a_ = sg_new_output(out_cells[{out_index[var]}], {nd}, {n}_shape, "
                f"{typenum}, err); if (!a_) return err->code;"
            )
            fn.append(f"        {n}.data = PyArray_BYTES(a_);")
            fn.append(f"        for (int d_ = 0; d_ < {nd}; d_++) {n}_strides[d_] = PyArray_STRIDES(a_)[d_];")
            fn.append(f"        sg_copy_array(&{n}, &src_);")
            fn.append("    }")
            fn.append("    }")
        fn += [f"    *p_{n} = {n};" for n in outs if n not in objects]
        fn.append("    return 0;")
        fn.append("}")
        node_functions.append("\n".join(fn))
        args = [n for n in ins if n not in outs] + [
            f"&{n}" if n in objects else f"&{n}, {n}_shape, {n}_strides" for n in outs
        ]
        emit(f"    /* node {j}: {type(node.op).__name__} */")
        emit(f"    err->node = {j};")
        emit("    if (times_) t0_ = sg_clock_seconds();")
        emit(f"    SG_CHECK(sg_node_{k}_{j}(ws, in_values, out_cells, err, {', '.join(args)}));")
        emit(f"    if (times_) times_[{j}] += sg_clock_seconds() - t0_;")
        if nc.init:
            inits.append(nc.init)
    emit("    return 0;")
    emit("}")
    lines[region_start:region_start] = node_functions

    nin, nout = len(region.inputs), len(region.outputs)
    # -1: an object input (a generator), passed through unchecked (its cell's type filtered it)
    types = ", ".join("-1" if _is_object(v) else NPY_TYPENUMS[_tensor_dtype(v)] for v in region.inputs) or "0"
    ndims = ", ".join("0" if _is_object(v) else str(v.type.ndim) for v in region.inputs) or "0"
    readers = ", ".join(map(str, region.input_readers)) or "0"
    emit(f"static const int sg_region_{k}_types[] = {{{types}}};")
    emit(f"static const int sg_region_{k}_ndims[] = {{{ndims}}};")
    emit(f"static const int sg_region_{k}_readers[] = {{{readers}}};")
    emit(f"SG_WARM static PyObject *sg_py_region_{k}(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {{")
    emit(f"    if (nargs != 3 || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != {nin} || "
         f"!PyTuple_Check(args[2]) || PyTuple_GET_SIZE(args[2]) != {nout}) {{")
    emit(f"        PyErr_SetString(PyExc_TypeError, \"region_{k}(workspace, {nin} input cells, {nout} output cells)\");")
    emit("        return NULL;")
    emit("    }")
    emit("    sg_ws *ws = (sg_ws *)PyCapsule_GetPointer(args[0], \"sg_ws\");")
    emit("    if (!ws) return NULL;")
    emit(f"    PyObject *values[{max(nin, 1)}];")
    emit(f"    PyObject *temps[{max(nin, 1)}] = {{0}};")
    emit("    int ok = 1;")
    emit(f"    for (int i = 0; i < {nin}; i++) {{")
    emit("        PyObject *v = PyList_GET_ITEM(PyTuple_GET_ITEM(args[1], i), 0);")
    emit(f"        if (sg_region_{k}_types[i] < 0) {{ values[i] = v; continue; }}")
    emit(f"        if (PyArray_Check(v) && PyArray_TYPE((PyArrayObject *)v) == sg_region_{k}_types[i] && "
         f"PyArray_NDIM((PyArrayObject *)v) == sg_region_{k}_ndims[i] && PyArray_ISBEHAVED_RO((PyArrayObject *)v)) {{")
    emit("            values[i] = v;")
    emit("        } else {")
    emit(f"            values[i] = sg_coerce_input(v, sg_region_{k}_types[i], sg_region_{k}_ndims[i], i, sg_region_{k}_readers[i], &temps[i]);")
    emit("            if (!values[i]) { ok = 0; break; }")
    emit("        }")
    emit("    }")
    # Empty the output cells first: a view output is recognised as "allocated by its op this
    # call" by its cell holding an array with its data pointer, which a previous call's view of
    # the same input would fake. (This also drops old outputs before new ones are allocated.)
    emit(f"    for (int j = 0; j < {nout}; j++) {{ Py_INCREF(Py_None); PyList_SetItem(PyTuple_GET_ITEM(args[2], j), 0, Py_None); }}")
    emit("    int rc = 0;")
    emit("    sg_error err;")
    emit("    if (ok) {")
    emit("        sg_error_clear(&err);")
    emit(f"        rc = sg_region_{k}(ws, values, &PyTuple_GET_ITEM(args[2], 0), &err);")
    emit("    }")
    emit(f"    for (int i = 0; i < {nin}; i++) Py_XDECREF(temps[i]);")
    emit("    if (!ok) return NULL;")
    emit("    if (rc) return sg_raise(&err, rc);")
    emit("    Py_RETURN_NONE;")
    emit("}")
    return "\n".join(lines), inits


_KERNELS_PRELUDE = '#include "sg_runtime.h"  /* the kernels unit: no Python, no NumPy headers */\n'


def generate_module(regions: list[Region], codes: dict) -> tuple[str, str, str, list[int]]:
    """Source of the extension module for ``regions``; returns (module source, kernels
    source, module name, workspace slots per region). ``codes`` maps each region node to
    its :class:`NodeCode`.

    The kernels source holds the nodes' ``c_kernel_code`` definitions (the loops over
    elements, most of the compile time of a large module) after their declarations; it
    needs only the runtime, so the build can compile it in parallel with the module, which
    holds the declarations. It is empty when no node has kernel code. The module source
    followed by the kernels source is also one valid unit (the second copy of the
    declarations is skipped), which ``build.compile_extension`` compiles when splitting does
    not pay.
    """
    headers: list[str] = []
    supports: list[str] = []
    kernel_decls: list[str] = []
    kernel_defs: list[str] = []
    bodies: list[str] = []
    inits: list[str] = []
    slot_counts = []
    for k, region in enumerate(regions):
        for node in region.nodes:
            nc = codes[node]
            for h in nc.headers:
                if h not in headers:
                    headers.append(h)
            if nc.support and nc.support not in supports:
                supports.append(nc.support)
            if nc.kernel_decls and nc.kernel_decls not in kernel_decls:
                kernel_decls.append(nc.kernel_decls)
            if nc.kernel_defs and nc.kernel_defs not in kernel_defs:
                kernel_defs.append(nc.kernel_defs)
        nslots = sum(1 for node in region.nodes for _ in node.outputs) + len(region.nodes)
        slot_counts.append(nslots)
        body, region_inits = _region_source(k, region, codes, list(range(nslots))[::-1])
        bodies.append(body)
        for block in region_inits:
            if block not in inits:
                inits.append(block)
    parts = [_PRELUDE]
    parts += [f"#include <{h}>" if not h.startswith(("<", '"')) else f"#include {h}" for h in headers]
    parts.append(_HELPERS)
    if kernel_decls:
        parts += kernel_decls
        parts.append("#define SG_KERNEL_DECLARATIONS 1 /* the kernels unit appended to this one skips its copy */")
    parts += supports
    parts += bodies
    methods = [
        f'    {{"region_{k}", (PyCFunction)(void (*)(void))sg_py_region_{k}, METH_FASTCALL, NULL}},'
        for k in range(len(regions))
    ]
    methods.append('    {"new_workspace", (PyCFunction)sg_py_new_workspace, METH_O, NULL},')
    methods.append('    {"time_nodes", (PyCFunction)sg_py_time_nodes, METH_VARARGS, NULL},')
    body = "\n".join(parts)
    kernels = ""
    if kernel_defs:
        kernels = "\n".join([_KERNELS_PRELUDE, "#ifndef SG_KERNEL_DECLARATIONS", *kernel_decls, "#endif", *kernel_defs]) + "\n"
    name = "sg_" + hashlib.sha256(("\n".join(methods) + body + "\n".join(inits) + kernels).encode()).hexdigest()[:20]
    tail = [
        "static PyMethodDef sg_methods[] = {",
        *methods,
        "    {NULL, NULL, 0, NULL}",
        "};",
        f'static struct PyModuleDef sg_module = {{PyModuleDef_HEAD_INIT, "{name}", NULL, -1, sg_methods}};',
        f"PyMODINIT_FUNC PyInit_{name}(void) {{",
        "    import_array();",
        "    SG_PARALLEL_INIT();",
        *[f"    {{\n{block}\n    }}" for block in inits],
        "    return PyModule_Create(&sg_module);",
        "}",
    ]
    return body + "\n" + "\n".join(tail) + "\n", kernels, name, slot_counts
