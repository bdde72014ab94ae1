"""The Python VM linker: storage, garbage collection of intermediates, recycling, errors."""

import numpy as np
import pytest

import symgraph.tensor as st
from symgraph import config
from symgraph.graph.basic import Apply, Constant
from symgraph.graph.fg import FunctionGraph
from symgraph.graph.op import Op
from symgraph.link.vm import LINKERS, VM, VMLinker


def _fgraph(inputs, outputs):
    return FunctionGraph(inputs, outputs, clone=False)


def test_runs_in_order_with_constants_prefilled():
    x = st.dvector("x")
    y = (x * 2) + 1
    fg = _fgraph([x], [y])
    vm = VMLinker().accept(fg).make_vm()
    assert isinstance(vm, VM) and len(vm.thunks) == len(fg.toposort()) >= 2
    assert vm.nodes == fg.toposort()
    consts = [v for v in vm.storage_map if isinstance(v, Constant)]
    assert consts and all(vm.storage_map[c][0] is not None for c in consts)
    vm.input_storage[0][0] = np.array([1.0, 2.0])
    vm()
    np.testing.assert_array_equal(vm.output_storage[0][0], [3.0, 5.0])
    assert LINKERS["py"] is VMLinker


def test_given_input_cells_are_used():
    x = st.dvector("x")
    fg = _fgraph([x], [x * 3])
    cell = [np.array([1.0])]
    vm = VMLinker().accept(fg).make_vm([cell])
    assert vm.input_storage[0] is cell
    vm.run()
    assert vm.output_storage[0][0][0] == 3.0
    with pytest.raises(ValueError, match="input cells"):
        VMLinker().accept(fg).make_vm([cell, cell])


def test_intermediates_freed_after_last_use():
    x = st.dvector("x")
    a = x * 2
    b = a + 1
    c = b * a  # a is read twice: freed only after this node
    fg = _fgraph([x], [c])
    vm = VMLinker(allow_gc=True).accept(fg).make_vm()
    vm.input_storage[0][0] = np.array([1.0, 2.0])
    vm()
    sm = vm.storage_map
    assert sm[a][0] is None and sm[b][0] is None
    np.testing.assert_array_equal(sm[c][0], [6.0, 20.0])  # outputs are kept
    assert sm[x][0] is not None  # inputs are kept
    # Where each intermediate is freed: a after the last node, b after the last node too.
    order = vm.nodes
    cleared = {id(cell) for cells in vm.post_thunk_clear for cell in cells}
    assert id(sm[a]) in cleared and id(sm[c]) not in cleared and id(sm[x]) not in cleared
    assert sm[a] in vm.post_thunk_clear[order.index(c.owner)]


def test_no_gc_keeps_intermediates_and_config_is_read():
    x = st.dvector("x")
    a = x * 2
    fg = _fgraph([x], [a + 1])
    vm = VMLinker(allow_gc=False).accept(fg).make_vm()
    vm.input_storage[0][0] = np.array([1.0])
    vm()
    assert vm.storage_map[a][0] is not None
    assert not any(vm.post_thunk_clear)
    with config.change_flags(allow_gc=False):
        assert VMLinker().accept(fg).make_vm().allow_gc is False
    with config.change_flags(allow_gc=True):
        assert VMLinker().accept(fg).make_vm().allow_gc is True


class TwoOutputs(Op):
    __props__ = ()

    def make_node(self, x):
        return Apply(self, [x], [x.type(), x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] + 1
        output_storage[1][0] = inputs[0] - 1


def test_unused_output_is_freed_immediately():
    x = st.dvector("x")
    first, second = TwoOutputs()(x)
    fg = _fgraph([x], [first * 2])
    vm = VMLinker(allow_gc=True).accept(fg).make_vm()
    vm.input_storage[0][0] = np.array([1.0])
    vm()
    assert vm.storage_map[second][0] is None


def test_no_recycling_cells_cleared_before_run():
    x = st.dvector("x")
    y = x * 2
    fg = _fgraph([x], [y])
    seen = []

    class Spy(Op):
        def make_node(self, v):
            return Apply(self, [v], [v.type()])

        def perform(self, node, inputs, output_storage):
            seen.append(output_storage[0][0])
            output_storage[0][0] = inputs[0]

    z = Spy()(x)
    fg = _fgraph([x], [z])
    for recycle, expect_none in ((None, False), ([z], True)):
        seen.clear()
        vm = VMLinker(allow_gc=False).accept(fg, recycle).make_vm()
        vm.input_storage[0][0] = np.array([1.0])
        vm()
        vm()
        assert (seen[1] is None) == expect_none
    # Roots (inputs) are never cleared even if listed.
    vm = VMLinker().accept(fg, [x, z]).make_vm()
    assert vm.no_recycling == [vm.storage_map[z]]
    del y


def test_lazy_thunks_rejected_at_link_time():
    class Lazy(Op):
        def make_node(self, v):
            return Apply(self, [v], [v.type()])

        def make_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
            def thunk():
                return []

            thunk.lazy = True
            thunk.inputs = [storage_map[v] for v in node.inputs]
            thunk.outputs = [storage_map[v] for v in node.outputs]
            return thunk

    x = st.dvector("x")
    fg = _fgraph([x], [Lazy()(x)])
    with pytest.raises(NotImplementedError, match="lazy"):
        VMLinker().accept(fg).make_vm()


def test_make_thunk_errors_carry_a_note():
    class NoThunk(Op):
        def make_node(self, v):
            return Apply(self, [v], [v.type()])

        def make_thunk(self, node, storage_map, compute_map, no_recycling, impl=None):
            raise KeyError("cannot")

    x = st.dvector("x")
    fg = _fgraph([x], [NoThunk()(x)])
    with pytest.raises(KeyError) as info:
        VMLinker().accept(fg).make_vm()
    assert any("making the thunk" in note for note in info.value.__notes__)


def test_accept_rebinding_returns_new_linker():
    x = st.dvector("x")
    fg1 = _fgraph([x], [x * 2])
    fg2 = _fgraph([x], [x * 3])
    linker = VMLinker().accept(fg1)
    other = linker.accept(fg2)
    assert other is not linker and other.fgraph is fg2 and linker.fgraph is fg1
    with pytest.raises(ValueError, match="accept"):
        VMLinker().make_vm()
    assert VMLinker(allow_gc=False).__getstate__() == {"allow_gc": False}
