"""function(): argument binding and checking, givens, updates, aliasing, in-place safety."""

import warnings

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import In, Out, config, function, shared
from symgraph.compile.function import Function, UnusedInputError
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.graph.utils import InconsistencyError, MissingInputError


class AddOneInplace(Op):
    """Overwrites its input with input + 1 (a destroy_map op)."""

    __props__ = ()
    destroy_map = {0: [0]}

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        x += 1
        output_storage[0][0] = x


class ReusingDouble(Op):
    """2 * x, written into the array already in its output cell when it fits."""

    __props__ = ()

    def make_node(self, x):
        x = st.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        cell = output_storage[0]
        if cell[0] is not None and cell[0].shape == x.shape:
            np.multiply(x, 2, out=cell[0])
        else:
            cell[0] = x * 2


add_one_inplace = AddOneInplace()
reusing_double = ReusingDouble()


# --------------------------------------------------------------------------- arguments


def test_positional_keyword_and_default_arguments():
    x, y = st.dscalar("x"), st.dscalar("y")
    f = function([x, In(y, value=10.0)], x - y)
    assert f(1.0, 2.0) == -1.0
    assert f(1.0) == -9.0
    assert f(x=3.0) == -7.0
    assert f(y=1.0, x=5.0) == 4.0
    assert f(5.0, y=4.0) == 1.0
    assert isinstance(f, Function)


def test_default_with_name_override():
    x = st.dscalar("x")
    f = function([In(x, name="alpha", value=2.0)], x * 3)
    assert f() == 6.0
    assert f(alpha=1.0) == 3.0
    with pytest.raises(TypeError, match="'alpha'"):
        f(x=1.0)


def test_single_list_and_no_outputs():
    x = st.dscalar("x")
    assert isinstance(function([x], x * 2)(1.0), np.ndarray)
    res = function([x], [x * 2])(1.0)
    assert isinstance(res, list) and len(res) == 1 and res[0] == 2.0
    res = function([x], (x * 2, x * 3))(1.0)
    assert isinstance(res, list) and [float(r) for r in res] == [2.0, 3.0]
    assert function([x], None, on_unused_input="ignore")(1.0) == []
    assert function([x], [], on_unused_input="ignore")(1.0) == []


def test_too_many_arguments():
    x = st.dscalar("x")
    f = function([x], x)
    with pytest.raises(TypeError, match=r"at most 1 argument \(2 given\)"):
        f(1.0, 2.0)


def test_unknown_keyword_lists_valid_names():
    x, y = st.dscalar("x"), st.dscalar("y")
    f = function([x, y], x + y)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'.*'x', 'y'"):
        f(1.0, z=2.0)


def test_argument_given_twice():
    x, y = st.dscalar("x"), st.dscalar("y")
    f = function([x, y], x + y)
    with pytest.raises(TypeError, match="multiple values for input 'x' \\(index 0\\)"):
        f(1.0, 2.0, x=3.0)


def test_missing_required_input_is_named():
    x, y = st.dscalar("x"), st.dscalar("y")
    f = function([x, y], x + y)
    with pytest.raises(TypeError, match='missing the required input with name "y" at index 1'):
        f(1.0)
    with pytest.raises(TypeError, match='missing the required input with name "x" at index 0'):
        f(y=1.0)


def test_safe_cast_accepted_unsafe_rejected():
    x = st.dvector("x")
    f = function([x], x * 2)
    out = f(np.array([1, 2], dtype="int32"))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 4.0])

    v = st.fvector("v")
    g = function([v], v * 2, name="g")
    with pytest.raises(TypeError) as info:
        g(np.array([1.0, 2.0]))
    msg = str(info.value)
    assert msg.startswith('Bad input argument with name "v" to symgraph function "g" at index 0 (0-based): ')
    assert "unsafe" in msg
    g_down = function([v], v * 2, allow_input_downcast=True)
    assert g_down(np.array([1.0, 2.0])).dtype == np.float32
    g_in = function([In(v, allow_downcast=True)], v * 2)
    assert g_in(np.array([1.0, 2.0])).dtype == np.float32


def test_strict_input_rejects_conversion():
    x = st.dvector("x")
    f = function([In(x, strict=True)], x * 2, name="strict_f")
    with pytest.raises(TypeError, match='Bad input argument with name "x" to symgraph function "strict_f"'):
        f([1.0, 2.0])
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])


def test_rank_error_names_input_and_position():
    x, y = st.dscalar("x"), st.dvector("y")
    f = function([x, y], x * y, name="h")
    with pytest.raises(TypeError) as info:
        f(1.0, np.ones((2, 2)))
    assert 'Bad input argument with name "y" to symgraph function "h" at index 1 (0-based)' in str(info.value)
    assert "1-d" in str(info.value)
    # The keyword path reports the same way.
    with pytest.raises(TypeError, match='name "y" to symgraph function "h" at index 1'):
        f(1.0, y=np.ones((2, 2)))


def test_static_shape_error_is_value_error():
    x = st.tensor("x", dtype="float64", shape=(3,))
    f = function([x], x * 2, name="fixed")
    with pytest.raises(ValueError, match='name "x" to symgraph function "fixed" at index 0.*shape'):
        f(np.ones(4))
    np.testing.assert_array_equal(f(np.ones(3)), [2.0, 2.0, 2.0])


def test_unnamed_input_error_mentions_type():
    x = st.dvector()
    f = function([x], x * 2, name="anon")
    with pytest.raises(TypeError, match=r"Bad input argument \(unnamed, of type .*\) to symgraph function \"anon\""):
        f(np.ones((2, 2)))


def test_default_name_is_call_site():
    x = st.dscalar("x")
    f = function([x], x * 2)
    assert f.name is None
    with pytest.raises(TypeError, match=r"test_function\.py:\d+"):
        f("not a number")


def test_trust_input_skips_filtering():
    x = st.dvector("x")
    f = function([x], Out(x, borrow=True), trust_input=True)
    assert f.trust_input
    data = [1, 2]
    assert f(data) is data  # not converted to an array: no filtering happened
    assert f(x=data) is data
    f.trust_input = False
    out = f(data)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


def test_inputs_must_be_a_list_and_valid():
    x = st.dscalar("x")
    with pytest.raises(TypeError, match="list"):
        function(x, x * 2)
    with pytest.raises(ValueError, match="more than once"):
        function([x, x], x * 2)
    with pytest.raises(TypeError, match="constant"):
        function([st.constant(1.0)], x, on_unused_input="ignore")
    with pytest.raises(TypeError, match="computed by"):
        function([x * 2], x)
    s = shared(1.0, name="s")
    with pytest.raises(TypeError, match="shared variable"):
        function([s], s * 2)


def test_missing_input_error_survives():
    x, y = st.dscalar("x"), st.dscalar("y")
    with pytest.raises(MissingInputError, match="'y'"):
        function([x], x + y)


# --------------------------------------------------------------------------- unused inputs


def test_unused_input_modes():
    x, y = st.dscalar("x"), st.dscalar("y")
    with pytest.raises(UnusedInputError, match=r"input 1 \(y, named 'y'\)") as info:
        function([x, y], x * 2)
    assert isinstance(info.value, ValueError)
    with pytest.warns(UserWarning, match="input 1"):
        f = function([x, y], x * 2, on_unused_input="warn")
    assert f(1.0, 5.0) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = function([x, y], x * 2, on_unused_input="ignore")
    assert g(2.0, 0.0) == 4.0
    with pytest.raises(ValueError, match="on_unused_input"):
        function([x], x, on_unused_input="bogus")


# --------------------------------------------------------------------------- givens


def test_givens_replace_variables():
    x, y, z = st.dscalar("x"), st.dscalar("y"), st.dscalar("z")
    f = function([x, z], x + y, givens={y: z * 10})
    assert f(1.0, 2.0) == 21.0
    f2 = function([x], x + y, givens=[(y, st.constant(5.0))])
    assert f2(1.0) == 6.0
    s = shared(3.0, name="s")
    f3 = function([x], x * s, givens={s: x})
    assert f3(4.0) == 16.0
    assert [i.variable for i in f3.maker.inputs] == [x]
    # A replacement may use the variable it replaces.
    f4 = function([x], x * s, givens={s: s * 2})
    assert f4(1.0) == 6.0


def test_givens_incompatible_type():
    x, y = st.dscalar("x"), st.dvector("y")
    with pytest.raises(TypeError, match="givens replaces x"):
        function([y], x * 2, givens={x: y})


# --------------------------------------------------------------------------- updates


def test_counter_update():
    c = shared(0, name="c")
    inc = function([], c, updates={c: c + 1})
    assert inc() == 0
    assert inc() == 1
    assert inc() == 2
    assert c.get_value() == 3


def test_updates_use_old_values_swap():
    a = shared(np.array([1.0]), name="a")
    b = shared(np.array([2.0]), name="b")
    swap = function([], [], updates=[(a, b), (b, a)])
    swap()
    assert a.get_value()[0] == 2.0 and b.get_value()[0] == 1.0
    swap()
    assert a.get_value()[0] == 1.0 and b.get_value()[0] == 2.0
    # After the swap the two shared values are distinct arrays.
    a.get_value(borrow=True)[0] = 100.0
    assert b.get_value()[0] == 2.0


def test_update_from_input_and_outputs_computed_before_update():
    acc = shared(np.zeros(2), name="acc")
    x = st.dvector("x")
    f = function([x], acc * 1, updates={acc: acc + x})
    np.testing.assert_array_equal(f([1.0, 2.0]), [0.0, 0.0])
    np.testing.assert_array_equal(f([1.0, 2.0]), [1.0, 2.0])
    np.testing.assert_array_equal(acc.get_value(), [2.0, 4.0])


def test_update_to_an_input_copies_it():
    s = shared(np.zeros(2), name="s")
    x = st.dvector("x")
    f = function([x], [], updates={s: x})
    data = np.array([1.0, 2.0])
    f(data)
    data[0] = 99.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])


def test_update_type_error_names_shared_variable():
    s = shared(np.zeros(2), name="weights")
    x = st.dmatrix("x")
    with pytest.raises(TypeError, match="weights"):
        function([x], [], updates={s: x})
    f32 = shared(np.zeros(2, dtype="float32"), name="w32")
    with pytest.raises(TypeError, match="w32"):
        function([], [], updates={f32: f32 * st.constant(np.ones(2))})


def test_update_errors():
    x = st.dscalar("x")
    s = shared(1.0)
    with pytest.raises(TypeError, match="only target shared variables"):
        function([x], x, updates={x: x + 1})
    with pytest.raises(ValueError, match="more than once"):
        function([], [], updates=[(s, s + 1), (s, s + 2)])


def test_default_update_and_no_default_updates():
    s = shared(0.0, name="s")
    s.default_update = s + 1
    f = function([], s * 2)
    assert f() == 0.0
    assert f() == 2.0
    assert s.get_value() == 2.0
    g = function([], s * 2, no_default_updates=True)
    assert g() == 4.0 and g() == 4.0
    h = function([], s * 2, no_default_updates=[s])
    assert h() == 4.0 and s.get_value() == 2.0
    # An explicit update wins over the default one.
    k = function([], s, updates={s: s + 10})
    k()
    assert s.get_value() == 12.0


def test_default_update_chains_to_other_shared():
    a = shared(1.0, name="a")
    b = shared(10.0, name="b")
    a.default_update = a + b
    b.default_update = b + 1
    f = function([], a)
    f()
    assert a.get_value() == 11.0 and b.get_value() == 11.0


def test_state_input_with_update():
    x = st.dscalar("x")
    f = function([In(x, value=0.0, update=x + 1)], x * 10)
    assert f() == 0.0
    assert f() == 10.0
    assert f() == 20.0
    with pytest.raises(ValueError, match="needs an initial value"):
        function([In(x, update=x + 1)], x)


def test_shared_values_are_seen_after_set_value():
    s = shared(np.array([1.0, 2.0]), name="s")
    f = function([], s * 2)
    np.testing.assert_array_equal(f(), [2.0, 4.0])
    s.set_value(np.array([5.0, 5.0]))
    np.testing.assert_array_equal(f(), [10.0, 10.0])


# --------------------------------------------------------------------------- aliasing


def test_output_does_not_alias_input():
    x = st.dvector("x")
    f = function([x], x)
    data = np.array([1.0, 2.0])
    out = f(data)
    out[0] = 100.0
    assert data[0] == 1.0


def test_view_output_does_not_alias_input():
    m = st.dmatrix("m")
    f = function([m], m.T)
    data = np.ones((2, 3))
    out = f(data)
    assert not np.shares_memory(out, data)
    out[0, 0] = 7.0
    assert data[0, 0] == 1.0


def test_same_output_twice_gives_distinct_arrays():
    x = st.dvector("x")
    y = x * 2
    a, b = function([x], [y, y])([1.0, 2.0])
    assert a is not b and not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, b)
    c, d = function([x], [y, y.dimshuffle("x", 0)])([1.0, 2.0])
    assert not np.shares_memory(c, d)


def test_output_not_overwritten_by_next_call():
    x = st.dvector("x")
    f = function([x], reusing_double(x))
    r1 = f(np.array([1.0, 2.0]))
    r2 = f(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(r1, [2.0, 4.0])
    np.testing.assert_array_equal(r2, [6.0, 8.0])


def test_borrowed_output_buffer_is_reused():
    x = st.dvector("x")
    f = function([x], Out(reusing_double(x), borrow=True))
    r1 = f(np.array([1.0, 2.0]))
    r2 = f(np.array([3.0, 4.0]))
    assert r1 is r2  # borrow=True: the op reused its buffer
    np.testing.assert_array_equal(r1, [6.0, 8.0])


def test_borrowed_output_may_alias_input():
    x = st.dvector("x")
    data = np.array([1.0, 2.0])
    assert function([x], Out(x, borrow=True))(data) is data
    assert function([x], x)(data) is not data


def test_output_of_shared_and_constant_is_a_copy():
    s = shared(np.array([1.0, 2.0]), name="s")
    f = function([], s)
    out = f()
    out[0] = 50.0
    assert s.get_value()[0] == 1.0
    c = st.constant(np.array([1.0, 2.0]))
    g = function([], c)
    res = g()
    res[0] = 3.0  # writable copy of the read-only constant data
    assert c.data[0] == 1.0


def test_output_sharing_memory_with_update_is_copied():
    s = shared(np.zeros(2), name="s")
    new = s + 1
    f = function([], new, updates={s: new})
    out = f()
    out[0] = 42.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 1.0])


# --------------------------------------------------------------------------- in-place safety


def test_destroying_an_input_is_refused():
    x = st.dvector("x")
    with pytest.raises(InconsistencyError, match="mutable=True"):
        function([x], add_one_inplace(x))
    with pytest.raises(InconsistencyError, match="mutable=True"):
        function([x], add_one_inplace(x.dimshuffle("x", 0)))


def test_destroying_a_mutable_input_is_allowed():
    x = st.dvector("x")
    f = function([In(x, mutable=True)], add_one_inplace(x))
    data = np.array([1.0, 2.0])
    out = f(data)
    np.testing.assert_array_equal(out, [2.0, 3.0])
    np.testing.assert_array_equal(data, [2.0, 3.0])  # the caller allowed it
    assert not np.shares_memory(out, data)


def test_mutable_default_is_copied_per_call():
    x = st.dvector("x")
    f = function([In(x, value=np.array([1.0, 2.0]), mutable=True)], add_one_inplace(x))
    np.testing.assert_array_equal(f(), [2.0, 3.0])
    np.testing.assert_array_equal(f(), [2.0, 3.0])


def test_destroying_shared_or_constant_is_refused():
    s = shared(np.zeros(2), name="s")
    with pytest.raises(InconsistencyError, match="shared variable s"):
        function([], add_one_inplace(s))
    c = st.constant(np.array([1.0, 2.0]))
    with pytest.raises(InconsistencyError, match="constant"):
        function([], add_one_inplace(c))


def test_destroying_an_intermediate_is_fine_unless_read_elsewhere():
    x = st.dvector("x")
    y = x * 2
    f = function([x], add_one_inplace(y))
    data = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(data), [3.0, 5.0])
    np.testing.assert_array_equal(data, [1.0, 2.0])
    with pytest.raises(InconsistencyError, match="also reads"):
        function([x], add_one_inplace(y) + y)
    with pytest.raises(InconsistencyError, match="also output"):
        function([x], [add_one_inplace(y), y])


def test_chained_inplace_ops_on_an_intermediate():
    x = st.dvector("x")
    f = function([x], add_one_inplace(add_one_inplace(x * 2)))
    np.testing.assert_array_equal(f([1.0, 2.0]), [4.0, 6.0])


# --------------------------------------------------------------------------- maker, eval


def test_maker_attributes():
    x = st.dvector("x")
    s = shared(np.ones(2), name="s")
    f = function([x], Out(x * s), updates={s: s * 2}, name="mk")
    m = f.maker
    assert [i.variable for i in m.inputs] == [x, s]
    assert [i.implicit for i in m.inputs] == [False, True]
    assert len(m.outputs) == 1 and m.outputs[0].variable is not None
    assert len(m.fgraph.inputs) == 2 and len(m.fgraph.outputs) == 2
    assert m.fgraph.update_mapping == {1: 1}
    assert m.fgraph.inputs[0] is not x  # the graph runs on copies
    assert m.mode.optimizer == "fast_run" and m.linker.name == config.linker  # conftest: "py"
    assert f.name == "mk"
    assert len(f.input_storage) == 2 and len(f.output_storage) == 2


def test_copy_has_own_storage_but_shares_shared():
    x = st.dscalar("x")
    s = shared(1.0, name="s")
    f = function([In(x, value=2.0)], x * s, updates={s: s + 1})
    g = f.copy()
    assert g() == 2.0
    assert f() == 4.0
    assert s.get_value() == 3.0


def test_eval_by_variable_and_by_name():
    x, y = st.dscalar("x"), st.dscalar("y")
    z = x * y + 1
    assert z.eval({x: 2.0, y: 3.0}) == 7.0
    assert z.eval({"x": 3.0, "y": 3.0}) == 10.0
    s = shared(np.array([1.0, 2.0]))
    np.testing.assert_array_equal((s * 2).eval(), [2.0, 4.0])


def test_intermediates_freed_after_a_call():
    x = st.dvector("x")
    a = x * x
    # FAST_COMPILE: fusion would merge the three nodes into one, leaving no intermediates.
    f = function([x], (a + x) * a, mode="FAST_COMPILE")
    np.testing.assert_array_equal(f([1.0, 2.0]), [2.0, 24.0])
    sm = f.vm.storage_map
    inter = [v for v in sm if v.owner is not None and v not in f.maker.fgraph.outputs]
    assert len(inter) == 2 and all(sm[v][0] is None for v in inter)
    assert sm[f.maker.fgraph.outputs[0]][0] is not None


def test_free_clears_intermediates():
    x = st.dvector("x")
    f = function([x], (x * 2) * 3)
    f([1.0])
    f.free()
    inter = [v for v in f.vm.storage_map if v.owner is not None]
    assert inter and all(f.vm.storage_map[v][0] is None for v in inter)
