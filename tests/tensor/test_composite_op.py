"""The Composite scalar op (symgraph/tensor/composite.py) on its own and inside Elemwise.

Covers: structure validation, equality/hashing/interning, pickling, str and the canonical
name, dtype rules through the DAG (mixed dtypes, comparisons, casts, where), evaluation
against the row-by-row unfused computation (broadcasting, 0-d, embedded constants
including NaN/inf), buffer reuse never touching inputs, the C expression, the gradient
error and in-place use through Elemwise.
"""

import pickle

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph import function
from symgraph.gradient import grad
from symgraph.tensor.composite import Composite, constant_ref
from symgraph.tensor.elemwise import Elemwise
from symgraph.tensor.scalar_ops import get_scalar_op

I0, I1, I2 = ("i", 0), ("i", 1), ("i", 2)


def T(j):
    return ("t", j)


# exp(i0) * i1 + log1p(sqr(i2))
W1_NODES = [
    ("exp", (I0,)),
    ("mul", (T(0), I1)),
    ("square", (I2,)),
    ("log1p", (T(2),)),
    ("add", (T(1), T(3))),
]


def w1():
    return Composite(3, W1_NODES, [T(4)])


def reference(comp, *values):
    """Evaluate the DAG one row at a time, exactly as unfused Elemwise nodes would."""
    results = []

    def val(ref):
        if ref[0] == "i":
            return np.asarray(values[ref[1]])
        if ref[0] == "t":
            return results[ref[1]]
        return _const(ref)

    for name, refs in comp.nodes:
        op = get_scalar_op(name)
        args = [val(r) for r in refs]
        out = op.output_dtype(*(a.dtype.name for a in args))
        with np.errstate(all="ignore"):
            results.append(np.asarray(op.impl(*args), dtype=out))
    return results[comp.outputs[0][1]]


def _const(ref):
    from symgraph.tensor.composite import _constant_value

    return _constant_value(ref)


def test_str_and_name():
    c = w1()
    assert str(c) == "Composite{exp(i0) * i1 + log1p(sqr(i2))}"
    assert str(Elemwise(c)) == str(c)
    assert c.name.startswith("composite3{")
    # Precedence: (i0 - i1) - (i0 - i1) style parentheses, powers, negation, bindings.
    c2 = Composite(2, [("sub", (I0, I1)), ("sub", (I1, T(0))), ("neg", (T(1),)), ("power", (T(2), I0))], [T(3)])
    assert str(c2) == "Composite{(-(i1 - (i0 - i1))) ** i0}"
    c3 = Composite(1, [("exp", (I0,)), ("mul", (T(0), T(0)))], [T(1)])
    assert str(c3) == "Composite{t0 = exp(i0); t0 * t0}"
    c4 = Composite(1, [("mul", (I0, constant_ref(np.float32(2.5)))), ("add", (T(0), constant_ref(np.int8(-1))))], [T(1)])
    assert str(c4) == "Composite{i0 * 2.5 + -1}"
    # Constants of different dtypes give different ops (the name is typed).
    c5 = Composite(1, [("mul", (I0, constant_ref(np.float64(2.5)))), ("add", (T(0), constant_ref(np.int8(-1))))], [T(1)])
    assert c4 != c5 and c4.name != c5.name


def test_equality_hash_interning_and_pickle():
    a, b = w1(), w1()
    assert a == b and hash(a) == hash(b)
    assert a != Composite(3, W1_NODES[:4] + [("sub", (T(1), T(3)))], [T(4)])
    x, y, z = st.dvector("x"), st.dvector("y"), st.dvector("z")
    assert Elemwise(a)(x, y, z).owner is Elemwise(b)(x, y, z).owner  # interned
    c = pickle.loads(pickle.dumps(a))
    assert c == a and hash(c) == hash(a) and str(c) == str(a)
    v = [np.random.rand(4) for _ in range(3)]
    np.testing.assert_array_equal(c.impl(*v), a.impl(*v))


@pytest.mark.parametrize(
    "nodes, outputs, nin",
    [
        ([("exp", (I0,))], [T(1)], 1),  # forward reference
        ([("exp", (("i", 3),))], [T(0)], 1),  # input out of range
        ([("nope", (I0,))], [T(0)], 1),  # unknown row
        ([("exp", (I0, I0))], [T(0)], 1),  # arity
        ([("exp", (I0,))], [I0], 1),  # output must be a node
        ([("exp", (I0,))], [T(0), T(0)], 1),  # one output only
        ([("exp", (("c", "float16", "1.0"),))], [T(0)], 1),  # bad constant dtype
    ],
)
def test_invalid_structures(nodes, outputs, nin):
    with pytest.raises((ValueError, KeyError, TypeError)):
        Composite(nin, nodes, outputs)


def test_dtype_rules_through_the_dag():
    c = w1()
    assert c.output_dtype("float32", "float32", "float32") == "float32"
    assert c.output_dtype("int32", "float32", "float32") == "float64"  # exp(int32) is float64
    assert c.output_dtype("int8", "int8", "int8") == "float32"
    cmp = Composite(2, [("add", (I0, I1)), ("lt", (T(0), I1))], [T(1)])
    assert cmp.output_dtype("int64", "float32") == "bool"
    cast = Composite(1, [("exp", (I0,)), ("cast_int16", (T(0),))], [T(1)])
    assert cast.output_dtype("float64") == "int16"
    sw = Composite(3, [("gt", (I0, I1)), ("where", (T(0), I1, I2))], [T(1)])
    assert sw.output_dtype("float32", "float32", "int64") == "float64"
    with pytest.raises(TypeError):
        Composite(1, [("neg", (I0,)), ("exp", (T(0),))], [T(1)]).output_dtype("bool")
    with pytest.raises(TypeError):
        c.output_dtype("float64", "float64")  # arity


DTYPES = ["float64", "float32", "int32", "int8", "bool", "uint8"]


def _random(dtype, shape, rng):
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 5, size=shape).astype(dtype)
    return (rng.standard_normal(shape) * 2).astype(dtype)


COMPOSITES = [
    w1(),
    Composite(2, [("add", (I0, I1, I0)), ("mul", (T(0), T(0), I1)), ("sub", (T(1), I0))], [T(2)]),
    Composite(2, [("true_div", (I0, I1)), ("sqrt", (T(0),)), ("maximum", (T(1), I0))], [T(2)]),
    Composite(3, [("gt", (I0, I1)), ("where", (T(0), I1, I2)), ("add", (T(1), constant_ref(np.int8(3))))], [T(2)]),
    Composite(2, [("mul", (I0, constant_ref(np.float32(0.5)))), ("add", (T(0), I1)), ("tanh", (T(1),))], [T(2)]),
    Composite(1, [("add", (I0,)), ("exp", (T(0),)), ("cast_int8", (T(1),))], [T(2)]),
    Composite(2, [("eq", (I0, I1)), ("logical_not", (T(0),)), ("cast_float32", (T(1),)), ("mul", (T(2), I0))], [T(3)]),
]


@pytest.mark.parametrize("comp", COMPOSITES, ids=str)
@pytest.mark.parametrize("seed", range(4))
def test_impl_matches_row_by_row(comp, seed):
    rng = np.random.default_rng(seed)
    dtypes = [DTYPES[(seed + k) % len(DTYPES)] for k in range(comp.nin)]
    if seed % 2:
        dtypes = ["float64"] * comp.nin
    # Broadcasting: the first input is a row, the others full matrices.
    shapes = [(1, 5) if k == 0 and seed >= 2 else (3, 5) for k in range(comp.nin)]
    values = [_random(d, s, rng) for d, s in zip(dtypes, shapes)]
    try:
        want = reference(comp, *values)
    except TypeError:
        with pytest.raises(TypeError):
            comp.output_dtype(*dtypes)
        return
    copies = [v.copy() for v in values]
    with np.errstate(all="ignore"):
        got = comp.impl(*values)
    assert type(got) is np.ndarray and got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    for v, c in zip(values, copies):
        np.testing.assert_array_equal(v, c)  # inputs untouched
        assert not np.shares_memory(got, v)


def test_zero_d_and_special_constants():
    nan, inf = constant_ref(np.float64(np.nan)), constant_ref(np.float64(-np.inf))
    c = Composite(1, [("maximum", (I0, inf)), ("add", (T(0), nan)), ("isnan", (T(1),))], [T(2)])
    assert c == Composite(1, [("maximum", (I0, inf)), ("add", (T(0), nan)), ("isnan", (T(1),))], [T(2)])
    out = c.impl(np.array(1.0))
    assert out.shape == () and out.dtype == np.bool_ and bool(out)
    b = Composite(1, [("logical_and", (I0, constant_ref(np.bool_(True)))),], [T(0)])
    np.testing.assert_array_equal(b.impl(np.array([True, False])), [True, False])


def test_buffer_reuse_with_repeated_intermediates():
    # t0 is read twice by the same node and later again: it must not be overwritten early.
    c = Composite(1, [("exp", (I0,)), ("mul", (T(0), T(0))), ("add", (T(1), T(0)))], [T(2)])
    x = np.linspace(-1, 1, 7)
    e = np.exp(x)
    np.testing.assert_allclose(c.impl(x), e * e + e)
    # A broadcast intermediate (1, n) cannot receive the (m, n) result.
    c2 = Composite(2, [("exp", (I0,)), ("add", (T(0), I1)), ("log1p", (T(1),))], [T(2)])
    row, mat = np.random.rand(1, 4), np.random.rand(3, 4)
    np.testing.assert_allclose(c2.impl(row, mat), np.log1p(np.exp(row) + mat))


def test_c_expr():
    c = w1()
    assert c.c_expr(["a", "b", "c"], "npy_float64") == "((exp((npy_float64)a) * b) + log1p((npy_float64)(c * c)))"
    # Intermediate dtypes come from the input dtypes: int inputs make exp a double.
    expr = c.c_expr(["a", "b", "c"], "npy_float64", input_dtypes=("int32", "float64", "float32"))
    assert "exp((npy_float64)a)" in expr and "log1p((npy_float32)(c * c))" in expr
    k = Composite(1, [("mul", (I0, constant_ref(np.float32(np.inf)))), ("add", (T(0), constant_ref(np.int64(2))))], [T(1)])
    assert k.c_expr(["x"], "npy_float32", ("float32",)) == "((x * ((npy_float32)(INFINITY))) + ((npy_int64)2))"


def test_elemwise_integration_and_gradient_error():
    x, y, z = st.dvector("x"), st.dmatrix("y"), st.dvector("z")
    out = Elemwise(w1())(x, y, z)  # vectors are left-padded to rows
    assert out.type.shape == (None, None) and out.dtype == "float64"
    f = function([x, y, z], out, mode="FAST_COMPILE")
    vx, vy, vz = np.random.rand(4), np.random.rand(3, 4), np.random.rand(4)
    np.testing.assert_allclose(f(vx, vy, vz), np.exp(vx) * vy + np.log1p(vz**2))
    with pytest.raises(ValueError, match="size 1"):
        f(vx, np.random.rand(3, 1), vz)  # size 1 at run time, not statically broadcastable
    with pytest.raises(NotImplementedError, match="Composite"):
        grad(out.sum(), x)


def test_elemwise_inplace_composite():
    x, y = st.dvector("x"), st.dvector("y")
    c = Composite(2, [("exp", (I0,)), ("add", (T(0), I1))], [T(1)])
    op = Elemwise(c, inplace_pattern={0: 1})
    assert op.destroy_map == {0: [1]}
    node = op(x, y).owner
    vx, vy = np.random.rand(3), np.random.rand(3)
    want = np.exp(vx) + vy
    storage = [[vx], [vy.copy()]]
    out = [[None]]
    op.perform(node, [storage[0][0], storage[1][0]], out)
    np.testing.assert_allclose(out[0][0], want)
    assert out[0][0] is storage[1][0]


@pytest.mark.parametrize("size", [1, 7, 256, 257, 5000])
def test_straight_line_and_planned_paths_agree(size):
    # Small inputs run a generated straight-line function, large ones the buffer-reusing plan.
    x, y, z = st.dvector("x"), st.dvector("y"), st.ivector("z")
    out = st.exp(x) * y + st.log1p(z * z) - st.tanh(x * y) / (z + 2)
    f = sg.function([x, y, z], out)
    composites = [n.op.scalar_op for n in f.maker.fgraph.toposort() if isinstance(getattr(n.op, "scalar_op", None), Composite)]
    assert composites
    rng = np.random.default_rng(size)
    values = [rng.normal(size=size), rng.normal(size=size), rng.integers(0, 5, size=size).astype("int32")]
    expected = sg.function([x, y, z], out, mode="FAST_COMPILE")(*values)
    # atol: on the C linker the SIMD exp and tanh may differ from NumPy's by an ulp, which
    # the subtraction can magnify relative to a result near 0
    np.testing.assert_allclose(f(*values), expected, rtol=1e-12, atol=1e-12)
    comp = composites[0]
    arrays = [np.asarray(v) for v in values][: comp.nin]
    if len(arrays) == comp.nin:
        planned = comp._evaluate_planned(*arrays)
        straight = comp._plans[tuple(a.dtype for a in arrays)].straight(*arrays)
        assert planned.dtype == straight.dtype
        np.testing.assert_array_equal(planned, straight)


def test_c_literal_of_int64_min_is_valid_c():
    # 9223372036854775808 does not fit any C integer literal type; it must be written as an
    # expression, in Composite.c_expr as in the code generator (they share c_literal).
    from symgraph.tensor.composite import c_literal

    text = c_literal("int64", str(-(2**63)))
    assert "9223372036854775808" not in text and "9223372036854775807" in text
    assert c_literal("bool", "True") == "((npy_bool)1)"
    assert c_literal("float64", "nan") == "((npy_float64)NAN)"
