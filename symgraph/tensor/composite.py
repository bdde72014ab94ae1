"""``Composite``: one scalar op made of several rows of the scalar-op table.

The fusion pass (:mod:`symgraph.rewriting.fusion`) replaces a connected subgraph of
:class:`~symgraph.tensor.elemwise.Elemwise` nodes by a single ``Elemwise(Composite(...))``
node, so that a backend can compute the whole expression in one loop (the C backend from
:meth:`Composite.c_expr`), and so that the Python backend can reuse intermediate buffers
instead of allocating one array per elementary operation.

Structure
---------
A composite is a small expression DAG, given by plain (hashable, picklable) data:

``nin``
    The number of inputs.
``nodes``
    A tuple of ``(row name, refs)`` in topological order: ``row name`` names a row of
    :data:`~symgraph.tensor.scalar_ops.SCALAR_OP_TABLE` (``"exp"``, ``"add"``...) and each
    ref says where an argument comes from:

    - ``("i", k)``: composite input ``k``;
    - ``("t", j)``: the result of node ``j`` (``j`` earlier in ``nodes``);
    - ``("c", dtype, text)``: a scalar constant of that dtype, ``text`` being the ``repr``
      of its Python value (text rather than a float so that NaN constants compare equal).
``outputs``
    A 1-tuple holding the ref of the result (Elemwise ops have exactly one output).

Two composites with the same structure are equal and hash alike (so the Elemwise nodes
holding them intern, as any other node does).

Semantics
---------
Each node computes exactly what the unfused ``Elemwise`` node of that row would: the
row's dtype rule gives the node's dtype from its arguments' dtypes, arguments are cast
as the rule says, and the result is converted to the node's dtype. The composite's dtype
is that of its root. Evaluation (:meth:`Composite.impl`) works on whole NumPy arrays and
writes a ufunc's result into a dead intermediate's buffer (``out=``) when the shapes and
dtypes allow, which saves an allocation (and its page faults) per elementary op.

A composite is built by rewrites, after gradients are taken; its gradient is not
implemented (asking for it raises ``NotImplementedError`` with that explanation).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from symgraph.tensor.scalar_ops import (
    SUPPORTED_DTYPES,
    ScalarOp,
    ScalarOpSpec,
    get_scalar_op,
)

__all__ = ["Composite", "C_TYPES", "c_literal", "constant_ref"]

#: The C type of each dtype, as used for ``%(o)s`` in the table's C templates.
C_TYPES = {
    "bool": "npy_bool",
    "int8": "npy_int8",
    "int16": "npy_int16",
    "int32": "npy_int32",
    "int64": "npy_int64",
    "uint8": "npy_uint8",
    "float32": "npy_float32",
    "float64": "npy_float64",
}
_DTYPE_OF_C_TYPE = {v: k for k, v in C_TYPES.items()}

# Infix rendering for __str__: row name -> (symbol, precedence, associative). Higher
# precedence binds tighter; the levels follow Python's so that the text reads as Python.
_INFIX = {
    "add": (" + ", 1, True),
    "sub": (" - ", 1, False),
    "mul": (" * ", 2, True),
    "true_div": (" / ", 2, False),
    "floor_divide": (" // ", 2, False),
    "mod": (" % ", 2, False),
    "power": (" ** ", 4, False),
    "eq": (" == ", 0, False),
    "neq": (" != ", 0, False),
    "lt": (" < ", 0, False),
    "le": (" <= ", 0, False),
    "gt": (" > ", 0, False),
    "ge": (" >= ", 0, False),
}
_NEG_PREC = 3
_ATOM = 9
_SHORT_NAMES = {"square": "sqr"}


def constant_ref(value: Any) -> tuple:
    """The ref ``("c", dtype, text)`` of a one-element array or NumPy scalar ``value``."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"a composite constant must have one element, got shape {arr.shape}")
    dtype = arr.dtype.name
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"unsupported constant dtype {dtype}")
    return ("c", dtype, repr(arr.reshape(()).item()))


def _constant_value(ref: tuple) -> np.ndarray:
    _, dtype, text = ref
    if dtype == "bool":
        return np.array(text == "True", dtype=dtype)
    kind = np.dtype(dtype).kind
    return np.array(float(text) if kind == "f" else int(text), dtype=dtype)


def _no_gradient(T, inputs, output):
    raise NotImplementedError(
        "the gradient of a fused Composite elementwise op is not implemented: composites are "
        "made by the fusion rewrite, which runs after gradients are taken. Take the gradient "
        "of the unfused graph (fusion only happens when a function is compiled)."
    )


class _Step:
    """One NumPy call of an evaluation plan (see :meth:`Composite._make_plan`)."""

    __slots__ = ("fn", "args", "casts", "out_dtype", "native", "fix", "dest", "reuse", "free")

    def __init__(self, fn, args, casts, out_dtype, native, fix, dest):
        self.fn = fn  # the row's NumPy function (binary for a variadic row)
        self.args = args  # slot indices
        self.casts = casts  # per argument: np.dtype to convert to, or None
        self.out_dtype = out_dtype  # np.dtype of the result
        self.native = native  # a ufunc whose loop already gives out_dtype: may use out=
        self.fix = fix  # the result must be converted to out_dtype
        self.dest = dest  # slot receiving the result
        self.reuse = ()  # argument slots dying here whose buffer may receive the result
        self.free = ()  # intermediate slots read for the last time here (released after)


_INSTANCES: dict[tuple, "Composite"] = {}
_MAX_INSTANCES = 4096


class _Plan:
    __slots__ = ("consts", "steps", "root", "out_dtype", "n_slots", "straight")


def _copy(a):
    return np.array(a, copy=True)


# Arrays up to this many elements (the first input's) take the straight-line path.
_SMALL = 256


def _straight_line(plan: "_Plan", n_inputs: int):
    """The plan as one generated Python function of the inputs: each step's call with its
    casts, no buffer reuse. Built once per plan; it avoids the per-step bookkeeping that
    dominates the cost of a fused node on tiny arrays."""
    env: dict[str, Any] = {"asarray": np.asarray, "ndarray": np.ndarray, "out_dtype": plan.out_dtype}
    names = [f"v{i}" for i in range(n_inputs)]
    for k, c in enumerate(plan.consts):
        env[f"c{k}"] = c
        names.append(f"c{k}")
    names.extend(f"t{k}" for k in range(plan.n_slots - len(names)))
    lines = [f"def straight({', '.join(names[:n_inputs])}):"]
    for k, step in enumerate(plan.steps):
        env[f"f{k}"] = step.fn
        args = []
        for a, cast in zip(step.args, step.casts or [None] * len(step.args)):
            if cast is None:
                args.append(names[a])
            else:
                env[f"d{k}_{a}"] = cast
                args.append(f"asarray({names[a]}).astype(d{k}_{a})")
        call = f"f{k}({', '.join(args)})"
        if step.fix:
            env[f"o{k}"] = step.out_dtype
            call = f"asarray({call}, dtype=o{k})"
        lines.append(f"    {names[step.dest]} = {call}")
    root = names[plan.root]
    lines.append(f"    r = {root}")
    lines.append("    if type(r) is not ndarray or r.dtype != out_dtype:")
    lines.append("        r = asarray(r, dtype=out_dtype)")
    lines.append("    return r")
    exec(compile("\n".join(lines), "<symgraph composite>", "exec"), env)
    return env["straight"]


class Composite(ScalarOp):
    """A scalar op computing an expression DAG of table rows (see the module docstring).

    ``Composite(nin, nodes, outputs)``; usable wherever a table scalar op is, in
    particular as ``Elemwise(Composite(...))``.
    """

    __props__ = ("nin_", "nodes", "outputs")

    def __init__(self, nin: int, nodes: Sequence, outputs: Sequence):
        nodes = tuple((str(name), tuple(tuple(r) for r in refs)) for name, refs in nodes)
        outputs = tuple(tuple(r) for r in outputs)
        if len(outputs) != 1:
            raise ValueError(f"Composite: exactly one output is supported, got {len(outputs)}")
        self.nin_ = int(nin)
        self.nodes = nodes
        self.outputs = outputs
        self._validate()
        self.name = f"composite{self.nin_}{{{self._render(canonical=True)}}}"
        # Hashing and printing happen on every node built with this op (interning, error
        # messages): compute them once. The name encodes the structure uniquely.
        self._hash = hash((Composite, self.name))
        self._str = f"Composite{{{self._render()}}}"
        # The Elemwise machinery reads a few row attributes from ``spec``: the arity, the
        # function its fast thunk calls directly (our evaluator) and the dtype rule name
        # (not one of the table's, so it takes no part in weak-scalar special cases).
        self.spec = ScalarOpSpec(
            name=self.name,
            nin=self.nin_,
            impl=self._evaluate,
            dtype_rule="composite",
            c_template="",
            doc="A fused elementwise expression.",
            derivative=_no_gradient,
            public=False,
        )
        self._checked: dict[tuple[str, ...], tuple[str, tuple]] = {}
        self._plans: dict[tuple[np.dtype, ...], _Plan] = {}

    @classmethod
    def get(cls, nin: int, nodes: Sequence, outputs: Sequence) -> "Composite":
        """The composite of this structure, reusing an earlier equal instance (so its
        rendering, dtype checks and evaluation plans are computed once per structure)."""
        key = (int(nin), tuple(nodes), tuple(outputs))
        found = _INSTANCES.get(key)
        if found is None:
            if len(_INSTANCES) >= _MAX_INSTANCES:
                _INSTANCES.clear()
            found = _INSTANCES[key] = cls(nin, nodes, outputs)
        return found

    # ------------------------------------------------------------------ structure

    def _validate(self) -> None:
        for j, (name, refs) in enumerate(self.nodes):
            op = get_scalar_op(name)  # KeyError naming the known rows
            op.check_arity(len(refs))
            for ref in refs:
                self._check_ref(ref, j)
        self._check_ref(self.outputs[0], len(self.nodes))
        if self.outputs[0][0] != "t":
            raise ValueError("Composite: the output must be the result of a node")

    def _check_ref(self, ref: tuple, limit: int) -> None:
        kind = ref[0]
        if kind == "i" and len(ref) == 2 and 0 <= ref[1] < self.nin_:
            return
        if kind == "t" and len(ref) == 2 and 0 <= ref[1] < limit:
            return
        if kind == "c" and len(ref) == 3 and ref[1] in SUPPORTED_DTYPES:
            _constant_value(ref)
            return
        raise ValueError(f"Composite: invalid reference {ref!r} (nin={self.nin_}, node {limit})")

    def __reduce__(self):
        return (Composite, (self.nin_, self.nodes, self.outputs))

    def __eq__(self, other):
        return self is other or (type(other) is Composite and self.name == other.name and self._props() == other._props())

    def __hash__(self):
        return self._hash

    @property
    def nin(self) -> int:
        return self.nin_

    @property
    def variadic(self) -> bool:
        return False

    # ------------------------------------------------------------------ dtypes

    def _node_dtypes(self, dtypes: tuple[str, ...]) -> list[tuple[str, tuple]]:
        """``(output dtype, casts)`` of every node for composite inputs of ``dtypes``."""
        result: list[tuple[str, tuple]] = []
        for name, refs in self.nodes:
            arg_dtypes = [self._ref_dtype(r, dtypes, result) for r in refs]
            result.append(get_scalar_op(name).check_dtypes_and_casts(*arg_dtypes))
        return result

    @staticmethod
    def _ref_dtype(ref: tuple, dtypes: tuple[str, ...], node_dtypes: list) -> str:
        if ref[0] == "i":
            return dtypes[ref[1]]
        if ref[0] == "t":
            return node_dtypes[ref[1]][0]
        return ref[1]

    def check_dtypes_and_casts(self, *dtypes: str) -> tuple[str, tuple]:
        """``(root dtype, no casts)``: every node casts its own arguments as its row says."""
        key = tuple(dtypes)
        found = self._checked.get(key)
        if found is None:
            self.check_arity(len(key))
            node_dtypes = self._node_dtypes(key)
            found = (node_dtypes[self.outputs[0][1]][0], (None,) * len(key))
            self._checked[key] = found
        return found

    def _resolve(self, dtypes):
        return self.check_dtypes_and_casts(*dtypes)

    # ------------------------------------------------------------------ evaluation

    def _make_plan(self, dtypes: tuple[str, ...]) -> _Plan:
        """Compile the DAG for inputs of ``dtypes`` into a list of NumPy calls.

        Slots hold the inputs, then the constants, then one value per call. A variadic row
        of k arguments becomes k - 1 binary calls (folded left to right, as the row's impl
        does). Buffer reuse is decided here: a call may write into an argument slot whose
        value is an intermediate read for the last time by this call and has the call's
        dtype (the shape is compared when it runs).
        """
        node_dtypes = self._node_dtypes(dtypes)
        plan = _Plan()
        n_in = len(dtypes)
        slot_dtype: list[np.dtype] = [np.dtype(d) for d in dtypes]
        const_slot: dict[tuple, int] = {}
        consts: list[np.ndarray] = []
        for _, refs in self.nodes:
            for ref in refs:
                if ref[0] == "c" and ref not in const_slot:
                    const_slot[ref] = n_in + len(consts)
                    consts.append(_constant_value(ref))
                    slot_dtype.append(consts[-1].dtype)
        first_temp = len(slot_dtype)
        node_slot: list[int] = []
        steps: list[_Step] = []

        def slot_of(ref):
            if ref[0] == "i":
                return ref[1]
            if ref[0] == "c":
                return const_slot[ref]
            return node_slot[ref[1]]

        def add_step(fn, args, casts, out_dtype) -> int:
            arg_dtypes = [c if c is not None else slot_dtype[a] for a, c in zip(args, casts)]
            try:
                with np.errstate(all="ignore"):
                    probe = np.asarray(fn(*(np.ones(1, dtype=d) for d in arg_dtypes)))
                natural = probe.dtype
            except Exception:  # noqa: BLE001 - unknown result dtype: always convert
                natural = None
            native = isinstance(fn, np.ufunc) and fn.nout == 1 and natural == out_dtype
            dest = len(slot_dtype)
            slot_dtype.append(out_dtype)
            steps.append(_Step(fn, tuple(args), tuple(casts), out_dtype, native, natural != out_dtype, dest))
            return dest

        for (name, refs), (out_name, casts) in zip(self.nodes, node_dtypes):
            row = get_scalar_op(name)
            out_dtype = np.dtype(out_name)
            args = [slot_of(r) for r in refs]
            # Only conversions that change something (astype always copies).
            cast_dt = [None if c is None or np.dtype(c) == slot_dtype[a] else np.dtype(c) for a, c in zip(args, casts)]
            if row.variadic and len(args) == 1:
                dest = add_step(_copy, args, cast_dt, out_dtype)
            elif row.variadic:
                dest = add_step(row.spec.impl, args[:2], cast_dt[:2], out_dtype)
                for a, c in zip(args[2:], cast_dt[2:]):
                    dest = add_step(row.spec.impl, [dest, a], [None, c], out_dtype)
            else:
                dest = add_step(row.spec.impl, args, cast_dt, out_dtype)
            node_slot.append(dest)

        last_use: dict[int, int] = {}
        for k, step in enumerate(steps):
            for a in step.args:
                last_use[a] = k
        for k, step in enumerate(steps):
            # Dropping dead intermediates returns their memory to the allocator while it is
            # still warm, for the next fresh array (keeps the footprint of a long chain small).
            step.free = tuple(dict.fromkeys(a for a in step.args if a >= first_temp and last_use[a] == k))
            if step.native:
                step.reuse = tuple(
                    dict.fromkeys(
                        a
                        for a, c in zip(step.args, step.casts)
                        if a >= first_temp and c is None and last_use[a] == k and slot_dtype[a] == step.out_dtype
                    )
                )
        plan.consts = consts
        plan.steps = steps
        plan.root = node_slot[self.outputs[0][1]]
        plan.out_dtype = np.dtype(node_dtypes[self.outputs[0][1]][0])
        plan.n_slots = len(slot_dtype)
        plan.straight = _straight_line(plan, len(dtypes))
        return plan

    def _evaluate(self, *values: np.ndarray) -> np.ndarray:
        if values and values[0].size <= _SMALL:
            # Small arrays: buffer reuse cannot pay for its bookkeeping; run the plan as one
            # generated straight-line function instead (same calls, same casts).
            key = tuple([v.dtype for v in values])
            plan = self._plans.get(key)
            if plan is not None:
                return plan.straight(*values)
        return self._evaluate_planned(*values)

    def _evaluate_planned(self, *values: np.ndarray) -> np.ndarray:
        """The composite on whole arrays (already of the Elemwise's rank); returns an array of
        the output dtype that aliases no input."""
        # Keyed by the dtype objects: ``dtype.name`` is computed in Python on every access,
        # which made this lookup the largest cost of a small fused call.
        key = tuple([v.dtype for v in values])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(tuple(d.name for d in key))
        slots: list[Any] = [*values, *plan.consts]
        slots.extend([None] * (plan.n_slots - len(slots)))
        ndarray = np.ndarray
        for step in plan.steps:
            args = [slots[a] for a in step.args]
            if step.casts:
                args = [v if c is None else np.asarray(v).astype(c) for v, c in zip(args, step.casts)]
            buf = None
            for a in step.reuse:
                cand = slots[a]
                if type(cand) is ndarray and cand.ndim:
                    shape = cand.shape
                    if all(v.shape == shape for v in args) or np.broadcast_shapes(*(v.shape for v in args)) == shape:
                        buf = cand
                        break
            if buf is not None:
                result = step.fn(*args, out=buf)
            else:
                result = step.fn(*args)
                if step.fix or type(result) is not ndarray:
                    result = np.asarray(result, dtype=step.out_dtype)
            for a in step.free:
                slots[a] = None
            slots[step.dest] = result
        out = slots[plan.root]
        if type(out) is not ndarray or out.dtype != plan.out_dtype:
            out = np.asarray(out, dtype=plan.out_dtype)
        return out

    def impl(self, *values: Any) -> np.ndarray:
        """Evaluate the composite on arrays (or anything ``np.asarray`` accepts)."""
        self.check_arity(len(values))
        return self._evaluate(*(np.asarray(v) for v in values))

    # ------------------------------------------------------------------ C and printing

    def c_expr(self, inputs: list[str], output_type: str, input_dtypes: Sequence[str] | None = None) -> str:
        """The C expression of the whole DAG on the C expressions ``inputs``.

        Each node's template gets the C type of that node's dtype for ``%(o)s``, which
        needs the input dtypes: pass ``input_dtypes``; without them every input is taken
        to have the dtype of ``output_type`` (right for the common all-float case).
        Intermediates read twice are written out twice (a C compiler's common
        subexpression elimination merges them).
        """
        self.check_arity(len(inputs))
        if input_dtypes is None:
            default = _DTYPE_OF_C_TYPE.get(output_type, "float64")
            input_dtypes = (default,) * self.nin_
        node_dtypes = self._node_dtypes(tuple(input_dtypes))
        exprs: list[str] = []

        def ref_expr(ref):
            if ref[0] == "i":
                return inputs[ref[1]]
            if ref[0] == "t":
                return exprs[ref[1]]
            return _c_constant(ref)

        for (name, refs), (dtype, _) in zip(self.nodes, node_dtypes):
            exprs.append(get_scalar_op(name).c_expr([ref_expr(r) for r in refs], C_TYPES[dtype]))
        return exprs[self.outputs[0][1]]

    def _render(self, canonical: bool = False) -> str:
        """The expression as text. ``canonical``: fully parenthesised with typed constants
        (the unique ``name``); otherwise minimal parentheses (``__str__``). Intermediates
        used more than once are bound once (``t0 = exp(i0); t0 * t0``)."""
        uses: dict[int, int] = {}
        for _, refs in self.nodes:
            for r in refs:
                if r[0] == "t":
                    uses[r[1]] = uses.get(r[1], 0) + 1
        texts: list[tuple[str, int]] = []
        bindings: list[str] = []

        def ref_text(ref) -> tuple[str, int]:
            if ref[0] == "i":
                return f"i{ref[1]}", _ATOM
            if ref[0] == "c":
                text = ref[2] if not canonical else f"{ref[2]}:{ref[1]}"
                return text, (_NEG_PREC if text.startswith("-") else _ATOM)
            return texts[ref[1]]

        for j, (name, refs) in enumerate(self.nodes):
            args = [ref_text(r) for r in refs]
            text = _format(name, args, canonical)
            if uses.get(j, 0) > 1:
                bindings.append(f"t{j} = {text[0]}")
                text = (f"t{j}", _ATOM)
            texts.append(text)
        return "; ".join(bindings + [ref_text(self.outputs[0])[0]])

    def __str__(self) -> str:
        return self._str


def _format(name: str, args: list[tuple[str, int]], canonical: bool) -> tuple[str, int]:
    """Text and precedence of row ``name`` applied to rendered ``args``."""
    if name == "neg" and not canonical:
        text, prec = args[0]
        return ("-" + (text if prec > _NEG_PREC else f"({text})")), _NEG_PREC
    infix = _INFIX.get(name)
    if infix is None or canonical or len(args) < 2:
        label = name if canonical else _SHORT_NAMES.get(name, name)
        return f"{label}({', '.join(t for t, _ in args)})", _ATOM
    symbol, prec, assoc = infix
    parts = []
    for k, (text, p) in enumerate(args):
        if name == "power":
            # Right-associative: only the base needs parentheses at equal precedence.
            wrap = p < prec or (k == 0 and p <= prec)
        else:
            wrap = p < prec or (k > 0 and p == prec and not assoc)
        parts.append(f"({text})" if wrap else text)
    return symbol.join(parts), prec


def c_literal(dtype: str, text: str) -> str:
    """A C literal for a composite constant of ``dtype`` written as ``text`` (its repr), cast
    to its C type. Shared by :meth:`Composite.c_expr` and the C code generator."""
    ctype = C_TYPES[dtype]
    if dtype == "bool":
        return "((npy_bool)1)" if text == "True" else "((npy_bool)0)"
    if np.dtype(dtype).kind == "f":
        value = float(text)
        if math.isnan(value):
            return f"(({ctype})NAN)"
        if math.isinf(value):
            return f"(({ctype})({'-' if value < 0 else ''}INFINITY))"
        return f"(({ctype}){value!r})"
    value = int(text)
    if value == -(2**63):  # 9223372036854775808 is not a valid literal: write an expression
        return f"(({ctype})(-9223372036854775807LL - 1))"
    return f"(({ctype}){value})"


def _c_constant(ref: tuple) -> str:
    """:func:`c_literal` of a constant ref ``("c", dtype, text)``."""
    _, dtype, text = ref
    return c_literal(dtype, text)
