"""In and Out specifications."""

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import In, Out


def test_in_defaults_and_flags():
    x = st.dvector("x")
    spec = In(x)
    assert spec.variable is x and spec.name == "x"
    assert spec.value is None and spec.update is None
    assert not spec.mutable and not spec.strict and not spec.borrow
    assert spec.allow_downcast is None and not spec.implicit
    named = In(x, name="other", value=np.zeros(2), strict=True, allow_downcast=True)
    assert named.name == "other" and named.strict and named.allow_downcast is True
    assert "other" in repr(named)


def test_mutable_implies_borrow():
    spec = In(st.dvector("x"), mutable=True)
    assert spec.mutable and spec.borrow
    assert In(st.dvector("x"), borrow=True).borrow


def test_in_rejects_non_variables():
    with pytest.raises(TypeError, match="Variable"):
        In(np.zeros(2))
    with pytest.raises(TypeError, match="name"):
        In(st.dvector(), name=3)


def test_out():
    y = st.dvector("y")
    assert Out(y).variable is y and not Out(y).borrow
    assert Out(y, borrow=True).borrow
    assert "borrow=True" in repr(Out(y, borrow=True))
    with pytest.raises(TypeError, match="Variable"):
        Out([1, 2])
