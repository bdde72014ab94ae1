"""The CHECK mode (``sg.Mode(linker="check")``): every C node runs in C and in Python.

A deliberately wrong C implementation (registered for a test-only op with
``register_c_impl``, or a user op's own ``c_code``) must be caught with a ``CheckError``
naming the node; correct ones must pass and give the Python values; a user op defining
``c_code`` runs in C in the 'c' mode.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import symgraph as sg
import symgraph.tensor as st
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.link.c.c_ops import CImpl, c_impl_for, register_c_impl
from symgraph.link.c.linker import CheckError

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler"),
    pytest.mark.filterwarnings("error::symgraph.link.c.linker.CFallbackWarning"),
]

CHECK = sg.Mode(linker="check")
C_MODE = sg.Mode(linker="c")
PY_MODE = sg.Mode(linker="py")


def _scale_loop(x: str, out: str, shape: str, alloc: str, factor: str) -> str:
    """C multiplying the float64 vector ``x`` (any stride) by ``factor`` into a new ``out``."""
    return f"""
    {shape}[0] = {x}.shape[0];
    {alloc}
    for (sg_index i_ = 0; i_ < {shape}[0]; i_++)
        ((npy_float64 *){out}.data)[i_] = {factor} * *(const npy_float64 *)({x}.data + i_ * {x}.strides[0]);
    """


class _ScaleOp(Op):
    """Multiplies a float64 vector by ``factor`` (Python ``perform``)."""

    __props__ = ("factor",)

    def __init__(self, factor: float = 2.0):
        self.factor = factor

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = (inputs[0] * self.factor).astype(node.outputs[0].dtype)


class WronglyCompiled(_ScaleOp):
    """Its registered C multiplies by factor + 1: wrong."""


class RightlyCompiled(_ScaleOp):
    """Its registered C is correct."""


class _ScaleC(CImpl):
    extra = 0.0

    def c_code(self, node, name, inputs, outputs, sub):
        var = node.inputs[0]
        if var.type.ndim != 1 or var.type.dtype != "float64":
            raise NotImplementedError("float64 vectors only")
        factor = repr(float(node.op.factor + self.extra))
        return _scale_loop(inputs[0], outputs[0], sub["shape"][0], sub["alloc"][0], factor)


@register_c_impl(WronglyCompiled)
class _WrongScaleC(_ScaleC):
    extra = 1.0


@register_c_impl(RightlyCompiled)
class _RightScaleC(_ScaleC):
    pass


class UserScale(_ScaleOp):
    """A user op carrying its own ``c_code`` (PyTensor style); ``wrong`` breaks it."""

    __props__ = ("factor", "wrong")

    def __init__(self, factor: float = 2.0, wrong: bool = False):
        super().__init__(factor)
        self.wrong = wrong

    def c_code(self, node, name, inputs, outputs, sub):
        if node.inputs[0].type.ndim != 1 or node.inputs[0].type.dtype != "float64":
            raise NotImplementedError("float64 vectors only")
        factor = repr(float(self.factor + (0.5 if self.wrong else 0.0)))
        return _scale_loop(inputs[0], outputs[0], sub["shape"][0], sub["alloc"][0], factor)

    def c_code_cache_version(self):
        return (1,)


X = np.array([1.0, -2.0, 0.5, np.nan, np.inf])


def test_registry_finds_the_implementations():
    assert isinstance(c_impl_for(WronglyCompiled()), _WrongScaleC)
    assert isinstance(c_impl_for(RightlyCompiled()), _RightScaleC)
    assert c_impl_for(UserScale()) is not None and c_impl_for(_ScaleOp()) is None


def test_wrong_registered_implementation_is_caught():
    x = st.dvector("x")
    y = WronglyCompiled(2.0)(st.exp(x))  # the wrong node sits after a correct C node
    out = st.tanh(y) + 1.0
    # The 'c' mode trusts the C code: it silently computes the wrong value...
    f_c = sg.function([x], out, mode=C_MODE)
    assert set(f_c.implementations()) == {"c"}
    np.testing.assert_allclose(f_c(X[:3]), np.tanh(3.0 * np.exp(X[:3])) + 1.0, rtol=1e-12)
    # ...the CHECK mode runs each C node on its own and compares it with Python.
    f = sg.function([x], out, mode=CHECK)
    assert set(f.implementations()) == {"c"}
    assert len(f.vm.thunks) == len(f.maker.fgraph.toposort())  # one region per node
    with pytest.raises(CheckError, match=r"differs between C and Python") as info:
        f(X)
    message = str(info.value)
    assert "WronglyCompiled" in message
    # Empty input: nothing to differ, so CHECK passes.
    assert f(np.zeros(0)).shape == (0,)


def test_wrong_user_c_code_is_caught():
    x = st.dvector("x")
    f = sg.function([x], UserScale(3.0, wrong=True)(x), mode=CHECK)
    assert f.implementations() == ["c"]
    with pytest.raises(CheckError, match="UserScale"):
        f(X[:3])


@pytest.mark.parametrize("op", [RightlyCompiled(2.0), UserScale(3.0)], ids=["registered", "user_c_code"])
def test_correct_implementations_pass(op):
    x = st.dvector("x")
    out = op(x[::-1]) * 2.0  # the op reads a negative-stride view
    f = sg.function([x], out, mode=CHECK)
    g = sg.function([x], out, mode=PY_MODE)
    assert "c" in f.implementations()
    for value in (X, X[::2], np.zeros(0), np.arange(1000.0)):
        np.testing.assert_allclose(f(value), g(value), rtol=1e-12, equal_nan=True)


def test_user_c_code_runs_in_c():
    x = st.dvector("x")
    f = sg.function([x], UserScale(3.0)(x), mode=C_MODE)
    assert f.implementations() == ["c"]
    np.testing.assert_allclose(f(X), 3.0 * X, equal_nan=True)
    assert "3.0 *" in f.maker.linker.source
    # A node it refuses (float32) runs in Python.
    v = st.fvector("v")
    g = sg.function([v], UserScale(3.0)(v), mode=C_MODE)
    assert g.implementations() == ["py"]
    np.testing.assert_allclose(g(np.ones(2, dtype="float32")), [3.0, 3.0])


def test_check_mode_passes_on_builtin_ops():
    """Elementwise, reduction, dot and shape ops of the library agree in C and Python."""
    a, b = st.dmatrix("a"), st.dmatrix("b")
    h = st.tanh(st.dot(a, b) + 1.0)
    outs = [h.sum(axis=0), st.logsumexp(h, axis=1), h.T * 2.0, st.maximum(h, 0.0).max()]
    f = sg.function([a, b], outs, mode=CHECK)
    g = sg.function([a, b], outs, mode=PY_MODE)
    assert f.implementations().count("c") >= 3
    rng = np.random.default_rng(0)
    for m, k, n in ((4, 3, 5), (1, 1, 1), (3, 0, 2)):  # k = 0: an empty inner product
        A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        with np.errstate(all="ignore"):
            for got, want in zip(f(A, B), g(A, B)):
                np.testing.assert_allclose(got, want, rtol=1e-10, equal_nan=True)
    with pytest.raises(ValueError):
        f(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError):  # max of an empty array, as in NumPy
        f(np.ones((0, 3)), np.ones((3, 2)))


def test_check_mode_catches_integer_mismatch():
    """Integer results must agree exactly: a wrong factor on a small value is caught."""

    class IntScale(_ScaleOp):
        def c_code(self, node, name, inputs, outputs, sub):
            if node.inputs[0].type.dtype != "int64" or node.inputs[0].type.ndim != 1:
                raise NotImplementedError
            x, out, shape = inputs[0], outputs[0], sub["shape"][0]
            return f"""
            {shape}[0] = {x}.shape[0];
            {sub["alloc"][0]}
            for (sg_index i_ = 0; i_ < {shape}[0]; i_++)
                ((npy_int64 *){out}.data)[i_] = *(const npy_int64 *)({x}.data + i_ * {x}.strides[0]) * 2 + (i_ == 3);
            """

        def perform(self, node, inputs, output_storage):
            output_storage[0][0] = inputs[0] * 2

    i = st.lvector("i")
    f = sg.function([i], IntScale()(i), mode=CHECK)
    assert f.implementations() == ["c"]
    np.testing.assert_array_equal(f(np.arange(3)), [0, 2, 4])  # index 3 not reached: agrees
    with pytest.raises(CheckError):
        f(np.arange(5))


def test_check_mode_runs_in_place_nodes_once_on_the_original_input():
    """An in-place node's Python thunk gets a copy of the input taken before the C code
    overwrote it: otherwise the update was applied twice and both sides agreed on it."""
    x, y = st.dvector("x"), st.dvector("y")
    out = st.inc_subtensor((x * 2)[1:], y)
    f = sg.function([x, y], out, mode=sg.Mode(linker="check"))
    assert any(node.op.destroy_map for node in f.maker.fgraph.toposort())
    expected = sg.function([x, y], out, mode=sg.Mode(linker="py"))(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(f(np.ones(3), np.ones(2)), expected)
    np.testing.assert_array_equal(expected, [2.0, 3.0, 3.0])
