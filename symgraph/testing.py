"""Checking ops the way the test suite does: values, gradients, R_op and infer_shape.

:func:`check_op` is meant for anyone writing an Op (the library's own tests use it): it
compiles the op's graph on concrete inputs and compares

1. the values (and dtype and rank) with a NumPy/SciPy reference,
2. the gradient with central finite differences (:func:`symgraph.gradient.verify_grad`),
3. the R_op (forward-mode derivative) with central finite differences,
4. the shape from the ops' ``infer_shape`` with the shape of the computed value,
5. (``check_c``) the value computed in the CHECK mode (``Mode(linker="check")``: every node
   with C code runs in C and in Python, and their results must agree) with the value above.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symgraph.gradient import Rop, _default_tolerances, verify_grad
from symgraph.graph import Apply, Op

__all__ = [
    "check_op",
    "check_rewrite",
    "compile_c_and_py",
    "graph_ops",
    "symbolic_inputs",
    "assert_values_close",
    "random_array",
    "PythonOnlyReverse",
]


class PythonOnlyReverse(Op):
    """An op with only ``perform`` (no C code): reverses a vector. For tests of what runs
    around Python nodes, such as C regions on both sides of it, or a profile's rows."""

    __props__ = ()

    def make_node(self, x):
        from symgraph.tensor import as_tensor_variable

        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0][::-1].copy()


def random_array(rng: np.random.Generator, shape: Any, dtype: str = "float64", int_range: tuple = (0, 100)) -> np.ndarray:
    """Random values of ``dtype``: booleans half true, integers uniform in ``int_range``
    (half-open; the low end raised to 0 for unsigned types), floats standard normal."""
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        low = max(int_range[0], 0) if np.dtype(dtype).kind == "u" else int_range[0]
        return rng.integers(low, int_range[1], size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def symbolic_inputs(values: Sequence[np.ndarray], names: Sequence[str] | None = None) -> list:
    """One symbolic tensor per value, with its dtype and rank; size-1 dims are static 1 (so
    they may broadcast) and other dims unknown (so shape inference is really exercised)."""
    import symgraph.tensor as st

    names = names or [f"in{i}" for i in range(len(values))]
    return [
        st.tensor(name, dtype=v.dtype.name, shape=tuple(1 if s == 1 else None for s in v.shape))
        for name, v in zip(names, values)
    ]


def assert_values_close(actual: Any, expected: Any, dtype: str, what: str = "value") -> None:
    """Exact comparison for integer/bool results, dtype-appropriate tolerance for floats."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if np.dtype(dtype).kind == "f":
        rtol = 1e-4 if dtype == "float32" else 1e-7
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * 10, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def check_op(
    build: Callable[..., Any],
    inputs: Sequence[Any],
    expected: Callable[..., Any] | None = None,
    *,
    grad: bool = True,
    rop: bool = True,
    shape: bool = True,
    rng: np.random.Generator | int | None = None,
    eps: float | None = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    wrt: Sequence[int] | None = None,
    check_c: bool = True,
):
    """Check the graph ``build(*symbolic inputs)`` on the numeric ``inputs``.

    ``expected(*inputs)`` is the reference value. ``wrt`` lists the input positions to
    differentiate (default: every float input); gradient and R_op checks are skipped for
    non-float outputs. With ``check_c`` (and a C compiler available) the graph is also run
    in the CHECK mode, which compares each C node with its Python ``perform``; its value
    must equal the default mode's. Returns the computed value.
    """
    from symgraph.compile.function import function

    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng if rng is not None else 0)
    values = [np.asarray(v) for v in inputs]
    sym = symbolic_inputs(values)
    out = build(*sym)
    f = function(sym, out, on_unused_input="ignore")
    value = f(*values)
    assert isinstance(value, np.ndarray), f"output is a {type(value).__name__}, not an ndarray"
    assert value.dtype == out.type.numpy_dtype, f"output dtype {value.dtype}, declared {out.type.dtype}"
    assert value.ndim == out.type.ndim, f"output rank {value.ndim}, declared {out.type.ndim}"
    for d, (static, actual) in enumerate(zip(out.type.shape, value.shape)):
        assert static is None or static == actual, f"dim {d}: static size {static}, actual {actual}"
    if expected is not None:
        assert_values_close(value, expected(*[v.copy() for v in values]), out.type.dtype)
    if check_c and _c_compiler_available():
        _check_c_value(sym, out, values, value)

    if shape:
        from symgraph.tensor.shape import symbolic_shape

        # No fallback: the output's own op must infer its shape (not just read it at run time).
        dims = symbolic_shape(out, fallback=False)
        if dims:
            shape_fn = function(sym, list(dims), on_unused_input="ignore")
            inferred = tuple(int(d) for d in shape_fn(*values))
        else:
            inferred = ()
        assert inferred == value.shape, f"infer_shape gives {inferred}, actual shape {value.shape}"

    float_out = out.type.dtype in ("float32", "float64")
    if wrt is None:
        wrt = [i for i, v in enumerate(values) if v.dtype.kind == "f"]
    wrt = list(wrt)
    if not float_out or not wrt:
        return value

    def partial(*diff_inputs):
        full = list(sym)
        for k, i in enumerate(wrt):
            full[i] = diff_inputs[k]
        # Inputs not differentiated stay symbolic and are bound to their values below.
        return build(*full)

    if grad:
        fixed = [i for i in range(len(values)) if i not in wrt]
        if fixed:
            import symgraph.tensor as st

            def partial_fixed(*diff_inputs):
                full = [st.constant(values[i]) if i in fixed else None for i in range(len(values))]
                for k, i in enumerate(wrt):
                    full[i] = diff_inputs[k]
                return build(*full)

            verify_grad(partial_fixed, [values[i] for i in wrt], rng=rng, eps=eps, abs_tol=abs_tol, rel_tol=rel_tol)
        else:
            verify_grad(partial, [values[i] for i in wrt], rng=rng, eps=eps, abs_tol=abs_tol, rel_tol=rel_tol)

    if rop:
        low = out.type.dtype == "float32" or any(values[i].dtype == np.float32 for i in wrt)
        d_eps, d_abs, d_rel = _default_tolerances("float32" if low else "float64")
        step = d_eps if eps is None else eps
        a_tol = d_abs if abs_tol is None else abs_tol
        r_tol = d_rel if rel_tol is None else rel_tol
        tangents = [rng.normal(size=values[i].shape).astype(values[i].dtype) for i in wrt]
        tangent_vars = [sym[i].type() for i in wrt]
        jvp = Rop(out, [sym[i] for i in wrt], tangent_vars)
        jvp_fn = function(sym + tangent_vars, jvp, on_unused_input="ignore")
        symbolic = np.asarray(jvp_fn(*values, *tangents), dtype=np.float64)
        plus = [v.copy() for v in values]
        minus = [v.copy() for v in values]
        for k, i in enumerate(wrt):
            plus[i] = (values[i] + step * tangents[k]).astype(values[i].dtype)
            minus[i] = (values[i] - step * tangents[k]).astype(values[i].dtype)
        numeric = (np.asarray(f(*plus), dtype=np.float64) - np.asarray(f(*minus), dtype=np.float64)) / (2 * step)
        # A nan/inf on either side would slip through the tolerance comparisons below.
        assert np.array_equal(np.isfinite(symbolic), np.isfinite(numeric)), (
            f"R_op is not finite where finite differences are (or the reverse): "
            f"symbolic {symbolic}, finite differences {numeric}"
        )
        symbolic = np.where(np.isfinite(symbolic), symbolic, 0.0)
        numeric = np.where(np.isfinite(numeric), numeric, 0.0)
        err = np.abs(symbolic - numeric)
        scale = np.abs(symbolic) + np.abs(numeric)
        bad = (err > a_tol) & (err > r_tol * np.maximum(scale, 1e-8))
        assert not np.any(bad), (
            f"R_op mismatch: largest absolute error {err.max():.3g}, "
            f"symbolic {symbolic[bad][:5]}, finite differences {numeric[bad][:5]}"
        )
    return value


def _c_compiler_available() -> bool:
    import shutil

    from symgraph.link.c.build import compiler

    return shutil.which(compiler()) is not None


def _check_c_value(sym: list, out: Any, values: list, value: np.ndarray) -> None:
    """Run the graph in the CHECK mode; it raises on a C/Python mismatch of any node."""
    import warnings

    from symgraph.compile.function import function
    from symgraph.compile.mode import Mode
    from symgraph.link.c.linker import CFallbackWarning

    with warnings.catch_warnings():
        # A C generator that crashes or emits code gcc rejects is a bug, not a fallback.
        warnings.simplefilter("error", CFallbackWarning)
        checked = function(sym, out, mode=Mode(linker="check"), on_unused_input="ignore")
    c_value = checked(*[v.copy() for v in values])
    assert_values_close(c_value, value, out.type.dtype, what="CHECK mode value vs default mode value")


def graph_ops(fgraph) -> list:
    """The ops of ``fgraph``'s nodes in execution order (for structure assertions)."""
    return [node.op for node in fgraph.toposort()]


def _matches(op: Any, pattern: Any) -> bool:
    if isinstance(pattern, type):
        return isinstance(op, pattern)
    if callable(pattern) and not hasattr(pattern, "make_node"):
        return bool(pattern(op))
    return op == pattern


def check_rewrite(
    inputs: Sequence[Any],
    outputs: Any,
    values: Sequence[Any],
    *,
    present: Sequence[Any] = (),
    absent: Sequence[Any] = (),
    mode: Any = "FAST_RUN",
    rtol: float | None = None,
    atol: float = 0.0,
):
    """Compile ``outputs`` with ``mode`` (default FAST_RUN) and with FAST_COMPILE, check the
    values agree on ``values``, and check the rewritten graph's structure.

    ``present``/``absent`` hold op classes, op instances or predicates ``op -> bool``: each
    ``present`` pattern must match some op of the rewritten graph, no ``absent`` pattern may.
    Returns the rewritten FunctionGraph.
    """
    from symgraph.compile.function import function

    fast = function(list(inputs), outputs, mode=mode, on_unused_input="ignore")
    reference = function(list(inputs), outputs, mode="FAST_COMPILE", on_unused_input="ignore")
    got = fast(*[np.copy(v) for v in values])
    want = reference(*[np.copy(v) for v in values])
    single = not isinstance(outputs, (list, tuple))
    for k, (a, b) in enumerate(zip([got] if single else got, [want] if single else want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, f"output {k}: dtype {a.dtype} after rewriting, {b.dtype} before"
        # A float64 result computed from float32 inputs carries float32 rounding: the two modes
        # may round intermediates differently (C's float32 exp is not NumPy's).
        low = a.dtype == np.float32 or any(np.asarray(v).dtype == np.float32 for v in values)
        tol = rtol if rtol is not None else (1e-5 if low else 1e-10)
        np.testing.assert_allclose(a, b, rtol=tol, atol=atol, equal_nan=True, err_msg=f"output {k}")
    ops = graph_ops(fast.maker.fgraph)
    for pattern in present:
        assert any(_matches(op, pattern) for op in ops), f"no op matching {pattern} in rewritten graph: {ops}"
    for pattern in absent:
        found = [op for op in ops if _matches(op, pattern)]
        assert not found, f"ops matching {pattern} remain in rewritten graph: {found}"
    return fast.maker.fgraph


def compile_c_and_py(inputs: Sequence[Any], outputs: Any, covered: tuple = (), *, exact: bool = False,
                     optimizer: str | None = "fast_run"):
    """The same graph compiled with the C linker and with the Python linker: ``(f_c, f_py)``.

    Every node whose op is an instance of a class in ``covered`` (exactly that class with
    ``exact``) must run in C, and there must be at least one. A C generator crash or a
    compile failure (``CFallbackWarning``) fails here instead of falling back quietly.
    """
    import warnings

    from symgraph.compile.function import function
    from symgraph.compile.mode import Mode
    from symgraph.link.c.linker import CFallbackWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CFallbackWarning)
        f_c = function(list(inputs), outputs, mode=Mode(linker="c", optimizer=optimizer))
    f_py = function(list(inputs), outputs, mode=Mode(linker="py", optimizer=optimizer))
    if covered:
        nodes = f_c.maker.fgraph.toposort()
        impls = f_c.implementations()
        hits = [
            impl for node, impl in zip(nodes, impls)
            if (type(node.op) in covered if exact else isinstance(node.op, covered))
        ]
        assert hits, f"no node of {covered} in the compiled graph: {nodes}"
        assert hits == ["c"] * len(hits), list(zip(map(str, nodes), impls))
    return f_c, f_py


def array_layouts(a: Any) -> list:
    """``a`` as arrays of equal value and different memory layouts: C order, Fortran order and
    (when not empty) a view with negative strides of step 2 into a larger array. For feeding
    compiled functions the layouts their C must handle."""
    out = [np.ascontiguousarray(a), np.asfortranarray(a)]
    if a.ndim and a.size:
        big = np.empty(tuple(2 * s for s in a.shape), a.dtype)
        view = big[tuple(slice(None, None, -2) for _ in a.shape)]
        view[...] = a
        out.append(view)
    return out


def assert_same_error(f_py: Any, f_c: Any, *args: Any, match: str | None = None) -> None:
    """``f_py(*args)`` raises ValueError or IndexError and ``f_c(*args)`` raises the same class,
    with a message matching ``match``."""
    import pytest

    with pytest.raises((ValueError, IndexError)) as from_python:
        f_py(*args)
    with pytest.raises(from_python.type, match=match):
        f_c(*args)


def assert_same_outputs(f_py: Any, f_c: Any, *args: Any, rtol: float = 1e-12, atol: float = 0.0,
                        exact: bool = False) -> list:
    """``f_py(*args)`` and ``f_c(*args)`` give arrays of equal dtype, shape and value (floats
    to ``rtol``/``atol``, NaN equal to NaN, unless ``exact``); returns C's outputs as a list."""
    with np.errstate(all="ignore"):
        expected = f_py(*args)
        got = f_c(*args)
    if not isinstance(expected, list):
        expected, got = [expected], [got]
    for e, g in zip(expected, got):
        assert type(g) is np.ndarray
        assert e.dtype == g.dtype and e.shape == g.shape, (e, g)
        if e.dtype.kind == "f" and not exact:
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)
    return got

