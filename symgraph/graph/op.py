"""The :class:`Op` contract, :class:`HasInnerGraph`, and test values.

An Op describes a computation; applying it to variables builds an :class:`Apply`
node. The semantics of each method follow PyTensor's documented ``Op`` contract so a
custom Op written for PyTensor ports by changing its imports.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Sequence
from typing import Any, Callable

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.props import PropsMixin
from symgraph.graph.utils import (
    MethodNotDefined,
    TestValueError,
    add_tag_trace,
)

__all__ = [
    "Op",
    "HasInnerGraph",
    "compute_test_value",
    "get_test_value",
    "get_test_values",
    "missing_test_message",
]

StorageMap = dict  # Variable -> [value] (one-element list "cell")
ComputeMap = dict  # Variable -> [bool]


class Op(PropsMixin):
    """Base class of all operations.

    Subclasses implement :meth:`make_node` and :meth:`perform`, and optionally the
    differentiation methods (:meth:`grad`/:meth:`L_op`, :meth:`R_op`), :meth:`infer_shape`,
    :meth:`connection_pattern` and :meth:`do_constant_folding`.

    Class attributes:

    ``__props__``
        Names of the attributes that define the op. Two ops of the same class with equal
        props are equal, hash alike and so share nodes. Without ``__props__`` an op is
        only equal to itself.
    ``default_output``
        Index of the output ``op(*inputs)`` returns when the node has several outputs.
    ``destroy_map``
        ``{output_index: [input_index]}``: the output overwrites that input in place.
    ``view_map``
        ``{output_index: [input_index]}``: the output is a view of (aliases) that input.
    ``itypes``/``otypes``
        Optional fixed input/output types; the default :meth:`make_node` uses them.
    """

    default_output: int | None = None
    destroy_map: dict[int, list[int]] = {}
    view_map: dict[int, list[int]] = {}
    itypes: Sequence | None = None
    otypes: Sequence | None = None

    # ------------------------------------------------------------------ building

    def make_node(self, *inputs: Variable) -> Apply:
        """Build the :class:`Apply` node of this op on ``inputs``, checking their types.

        The default uses ``itypes``/``otypes``; most ops override it.
        """
        if self.itypes is None or self.otypes is None:
            raise MethodNotDefined(f"{type(self).__name__} must define make_node (or itypes and otypes)")
        if len(inputs) != len(self.itypes):
            raise TypeError(f"{self} expects {len(self.itypes)} inputs, got {len(inputs)}")
        checked = []
        for i, (inp, expected) in enumerate(zip(inputs, self.itypes)):
            if not isinstance(inp, Variable):
                inp = expected.make_constant(inp)
            try:
                checked.append(expected.filter_variable(inp))
            except TypeError as exc:
                raise TypeError(f"{self}: input {i} ({inp}) has type {inp.type}, expected {expected}") from exc
        return Apply(self, checked, [t() for t in self.otypes])

    def __call__(self, *inputs: Any, name: str | Sequence[str] | None = None, return_list: bool = False, **kwargs):
        """Apply the op: ``make_node(*inputs)`` then return the default output (or all outputs).

        ``name`` names the returned output(s). When ``config.compute_test_value`` is on,
        the node's test values are computed here.
        """
        node = self.make_node(*inputs, **kwargs)
        if config.compute_test_value != "off":
            compute_test_value(node)
        if self.default_output is not None:
            rval: Any = node.outputs[self.default_output]
            if return_list:
                rval = [rval]
        elif len(node.outputs) == 1 and not return_list:
            rval = node.outputs[0]
        else:
            rval = list(node.outputs)
        if name is not None:
            outs = rval if isinstance(rval, list) else [rval]
            names = [name] if isinstance(name, str) else list(name)
            if len(names) != len(outs):
                raise ValueError(f"{self}: {len(names)} names given for {len(outs)} outputs")
            for out, n in zip(outs, names):
                out.name = n
        return rval

    add_tag_trace = staticmethod(add_tag_trace)

    # ------------------------------------------------------------------ evaluation

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        """Compute the outputs from the input values.

        ``output_storage[i]`` is a one-element list; store output ``i`` in
        ``output_storage[i][0]``. The cell may hold the previous call's result, which
        may be reused as a buffer unless the output is in ``no_recycling``.
        """
        raise MethodNotDefined(f"{type(self).__name__} has no perform implementation")

    def prepare_node(self, node: Apply, storage_map: StorageMap | None, compute_map: ComputeMap | None, impl: str | None) -> None:
        """Hook called before a thunk is made for ``node`` (e.g. to precompute helpers)."""
        return None

    def make_py_thunk(
        self,
        node: Apply,
        storage_map: StorageMap,
        compute_map: ComputeMap | None,
        no_recycling: Sequence[Variable],
        debug: bool = False,
    ) -> Callable[[], None]:
        """A thunk running :meth:`perform` on ``node`` over the storage cells."""
        node_input_storage = [storage_map[r] for r in node.inputs]
        node_output_storage = [storage_map[r] for r in node.outputs]
        perform = self.perform
        if compute_map is None:

            def rval(perform=perform, node=node, inputs=node_input_storage, outputs=node_output_storage):
                perform(node, [cell[0] for cell in inputs], outputs)

        else:
            output_compute = [compute_map[r] for r in node.outputs]

            def rval(perform=perform, node=node, inputs=node_input_storage, outputs=node_output_storage):
                perform(node, [cell[0] for cell in inputs], outputs)
                for flag in output_compute:
                    flag[0] = True

        rval.inputs = node_input_storage
        rval.outputs = node_output_storage
        rval.perform = perform
        rval.lazy = False
        rval.node = node
        return rval

    def make_thunk(
        self,
        node: Apply,
        storage_map: StorageMap,
        compute_map: ComputeMap | None,
        no_recycling: Sequence[Variable],
        impl: str | None = None,
    ) -> Callable[[], None]:
        """A callable computing ``node``'s outputs from the cells in ``storage_map``.

        The thunk carries ``.inputs`` and ``.outputs`` (the cells) and ``.lazy``. ``impl``
        selects an implementation (``None``/``"py"``: :meth:`perform`); backends with
        compiled code override this.
        """
        self.prepare_node(node, storage_map, compute_map, impl)
        return self.make_py_thunk(node, storage_map, compute_map, no_recycling)

    def do_constant_folding(self, fgraph, node: Apply) -> bool:
        """Whether ``node`` may be replaced by its value when all its inputs are constants."""
        return True

    # ------------------------------------------------------------------ derivatives and shapes

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        """Symbolic gradients of a scalar cost w.r.t. each input, given those w.r.t. each output."""
        raise MethodNotDefined(f"{type(self).__name__} does not implement grad")

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list[Variable]:
        """Vector-Jacobian product; like :meth:`grad` but may also use the forward outputs."""
        return self.grad(inputs, output_grads)

    def R_op(self, inputs: Sequence[Variable], eval_points: Sequence[Variable | None]) -> list[Variable]:
        """Jacobian-vector product: the outputs' directional derivatives along ``eval_points``."""
        raise MethodNotDefined(f"{type(self).__name__} does not implement R_op")

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Variable]]) -> list[list[Variable]]:
        """Symbolic output shapes (a list of shape tuples) from the input shapes."""
        raise MethodNotDefined(f"{type(self).__name__} does not implement infer_shape")

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        """``pattern[i][j]``: whether output ``j`` depends on input ``i`` (default: all do)."""
        return [[True] * len(node.outputs) for _ in node.inputs]


class HasInnerGraph(abc.ABC):
    """An Op defined by an inner :class:`~symgraph.graph.fg.FunctionGraph`."""

    @property
    @abc.abstractmethod
    def fgraph(self):
        """The inner graph."""

    @property
    @abc.abstractmethod
    def inner_inputs(self) -> list[Variable]:
        """The inner graph's inputs."""

    @property
    @abc.abstractmethod
    def inner_outputs(self) -> list[Variable]:
        """The inner graph's outputs."""

    @abc.abstractmethod
    def clone(self) -> "HasInnerGraph":
        """A copy of the op with a cloned inner graph."""


# --------------------------------------------------------------------------- test values


def missing_test_message(msg: str) -> None:
    """React to a missing test value as ``config.compute_test_value`` says."""
    action = config.compute_test_value
    if action == "raise":
        raise TestValueError(msg)
    if action == "warn":
        warnings.warn(msg, stacklevel=3)


def get_test_value(v: Any) -> Any:
    """The test value of ``v``: a constant's data, ``v.tag.test_value``, or ``v`` itself if not a Variable."""
    if not isinstance(v, Variable):
        return v
    if isinstance(v, Constant):
        return v.data
    try:
        return v.tag.test_value
    except AttributeError:
        detail = f" named {v.name!r}" if v.name else ""
        raise TestValueError(
            f"{v}{detail} has no test value. Set one with var.tag.test_value = value, "
            "or set config.compute_test_value='off'."
        ) from None


def get_test_values(*args: Any) -> list:
    """The test values of ``args``; ``[]`` when test values are off or one is missing."""
    if config.compute_test_value == "off":
        return []
    values = []
    for arg in args:
        try:
            values.append(get_test_value(arg))
        except TestValueError as exc:
            missing_test_message(str(exc))
            return []
    return values


def compute_test_value(node: Apply) -> None:
    """Run ``node`` on its inputs' test values and store the results on its outputs."""
    storage_map: StorageMap = {}
    compute_map: ComputeMap = {}
    for i, inp in enumerate(node.inputs):
        try:
            value = get_test_value(inp)
        except TestValueError as exc:
            missing_test_message(f"input {i} of {node.op}: {exc}")
            return
        storage_map[inp] = [value]
        compute_map[inp] = [True]
    for out in node.outputs:
        storage_map[out] = [None]
        compute_map[out] = [False]
    thunk = node.op.make_thunk(node, storage_map, compute_map, no_recycling=[])
    thunk()
    for out in node.outputs:
        out.tag.test_value = storage_map[out][0]
