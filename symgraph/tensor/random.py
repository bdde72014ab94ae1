"""Random variables: draws from ``numpy.random.Generator`` inside graphs.

Randomness is functional, as in PyTensor: a random op takes a generator and returns a new
generator *and* the draws, and never advances the generator it was given::

    rng = sg.shared(np.random.default_rng(42))
    next_rng, x = st.random.normal(rng, 0.0, 1.0, size=(3,))
    f = sg.function([], x)     # rng's default update is next_rng: each call draws anew

Pieces:

- :class:`RandomGeneratorType`, whose values are ``numpy.random.Generator`` objects, and its
  variables (``sg.shared(generator)`` gives a :class:`RandomGeneratorSharedVariable`);
- :data:`DISTRIBUTIONS`, one :class:`Distribution` row per distribution (Generator method,
  parameters, dtype rule, support check) driving the single op class :class:`RandomVariable`;
- the functions :func:`uniform`, :func:`normal`, :func:`bernoulli`, :func:`categorical`,
  :func:`integers`, each returning ``(next_rng, draws)``;
- :class:`RandomStream`, which owns one shared generator per draw and returns draws only.

Default updates: applying a random op to a shared generator (or to the tip of a chain of
random ops starting at one) sets the shared variable's ``default_update`` to the new
generator, so compiled functions advance it on every call unless they get an explicit
update or ``no_default_updates``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgraph.graph.shared import SharedVariable
from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.null_type import disconnected_type, grad_undefined
from symgraph.graph.op import Op
from symgraph.graph.type import Type
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.shape import MakeVector, NotScalarConstantError, get_scalar_constant_value, make_vector
from symgraph.tensor.type import TensorType, normalize_dtype
from symgraph.tensor.variable import TensorVariable

__all__ = [
    "RandomGeneratorType",
    "RandomGeneratorVariable",
    "RandomGeneratorConstant",
    "RandomGeneratorSharedVariable",
    "random_generator_type",
    "copy_generator",
    "Distribution",
    "DISTRIBUTIONS",
    "RandomVariable",
    "uniform",
    "normal",
    "bernoulli",
    "categorical",
    "integers",
    "RandomStream",
]


# --------------------------------------------------------------------------- the generator type


def _states_equal(a: Any, b: Any) -> bool:
    """Deep equality of bit-generator states (nested dicts of ints, strings and arrays)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_states_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return type(a) is type(b) and a == b


class RandomGeneratorVariable(Variable):
    """A symbolic ``numpy.random.Generator`` (of :class:`RandomGeneratorType`)."""


class RandomGeneratorConstant(RandomGeneratorVariable, Constant):
    """A fixed generator. It holds its own copy, so later use of the original object does not
    change it; random ops never advance it either, so its draws are the same on every call."""


class RandomGeneratorType(Type):
    """The type of ``numpy.random.Generator`` values.

    ``filter`` accepts Generators only (``np.random.RandomState`` and seeds are refused with
    a ``TypeError`` saying how to make one) and returns them without copying. Two generators
    are ``values_eq`` when their bit generators have the same class and state.
    """

    __props__ = ()
    variable_type = RandomGeneratorVariable
    constant_type = RandomGeneratorConstant

    def filter(self, data: Any, strict: bool = False, allow_downcast: bool | None = None) -> np.random.Generator:
        if isinstance(data, np.random.Generator):
            return data
        if isinstance(data, Variable):
            raise TypeError(
                f"expected a numpy.random.Generator value, got the symbolic variable {data}; "
                "a symbolic variable has no value until the graph is compiled and run"
            )
        hint = ""
        if isinstance(data, np.random.RandomState):
            hint = " (RandomState is the legacy API and is not supported)"
        elif isinstance(data, (int, np.integer, np.random.SeedSequence)):
            hint = " (a seed is not a generator)"
        raise TypeError(
            f"expected a numpy.random.Generator, got {type(data).__name__} {data!r}{hint}; "
            "make one with numpy.random.default_rng(seed)"
        )

    def make_constant(self, value: Any, name: str | None = None) -> Constant:
        # A constant must not change when the caller keeps drawing from its own object.
        return self.constant_type(self, copy.deepcopy(self.filter(value)), name=name)

    def values_eq(self, a: Any, b: Any) -> bool:
        """Whether ``a`` and ``b`` are generators in the same state (so they draw alike)."""
        if not (isinstance(a, np.random.Generator) and isinstance(b, np.random.Generator)):
            return False
        ga, gb = a.bit_generator, b.bit_generator
        return type(ga) is type(gb) and _states_equal(ga.state, gb.state)

    def values_eq_approx(self, a: Any, b: Any) -> bool:
        return self.values_eq(a, b)

    @staticmethod
    def may_share_memory(a: Any, b: Any) -> bool:
        return a is b

    def __str__(self) -> str:
        return "RandomGeneratorType"


random_generator_type = RandomGeneratorType()


class RandomGeneratorSharedVariable(SharedVariable, RandomGeneratorVariable):
    """A shared ``numpy.random.Generator``, made by ``sg.shared(np.random.default_rng(seed))``.

    ``set_value(np.random.default_rng(seed))`` re-seeds it; ``get_value()`` returns a copy
    (drawing from the copy does not advance the variable).
    """


def copy_generator(rng: np.random.Generator) -> np.random.Generator:
    """An independent copy of ``rng`` in the same state (random ops draw from such a copy,
    never from the generator they were given; the C backend calls this too)."""
    return copy.deepcopy(rng)


def _as_rng(rng: Any, who: str) -> Variable:
    """``rng`` as a generator variable (a Generator value becomes a constant)."""
    if isinstance(rng, Variable):
        if not isinstance(rng.type, RandomGeneratorType):
            raise TypeError(
                f"{who}: rng must be a random generator variable, got {rng} of type {rng.type}; "
                "make one with sg.shared(numpy.random.default_rng(seed))"
            )
        return rng
    if rng is None:
        raise TypeError(
            f"{who}: an rng is required; pass sg.shared(numpy.random.default_rng(seed)), or use "
            "symgraph.tensor.random.RandomStream to have generators managed for you"
        )
    return random_generator_type.make_constant(rng)


# --------------------------------------------------------------------------- the distribution table


def _all_finite(*arrays: np.ndarray) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


def _check_uniform(low, high, dtype):
    if not _all_finite(low, high):
        return "low and high must be finite"
    if not np.all(low <= high):
        return "low must not exceed high"
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(np.subtract(high, low, dtype=np.float64))):
            return "high - low must be finite (the range overflows)"  # NumPy raises OverflowError
    return None


def _check_normal(loc, scale, dtype):
    if not np.all(scale >= 0):  # NaN fails too
        return "scale must be non-negative"
    return None


def _check_bernoulli(p, dtype):
    if not np.all((p >= 0) & (p <= 1)):
        return "p must lie in [0, 1]"
    return None


def _check_categorical(p, dtype):
    if p.shape[-1] == 0:
        return "p must have at least one category (its last axis is empty)"
    if not (_all_finite(p) and np.all(p >= 0)):
        return "p must be finite and non-negative"
    if not np.all(p.sum(axis=-1) > 0):
        return "the probabilities along p's last axis must not all be zero"
    return None


def _check_logits(logits, dtype):
    if logits.shape[-1] == 0:
        return "logits must have at least one category (its last axis is empty)"
    if np.any(np.isnan(logits)) or np.any(logits == np.inf):
        return "logits must not be NaN or +inf"
    if not np.all(logits.max(axis=-1) > -np.inf):
        return "the logits along the last axis must not all be -inf"
    return None


def _check_integers(low, high, dtype):
    if not np.all(low < high):
        return "low must be less than high (high is exclusive)"
    info = np.iinfo(dtype)
    if low.size and (int(low.min()) < info.min or int(high.max()) - 1 > info.max):
        return f"the range [low, high) must fit in {dtype} ([{info.min}, {info.max}])"
    return None


def _draw_categorical(rng, p, size):
    """Inverse-CDF draws along p's last axis from ``rng.uniform(size=batch shape)``.

    Weights need not sum to one: the cumulative sums are divided by their total, so the last
    is exactly 1 and a category of zero weight is never drawn.
    """
    batch = p.shape[:-1] if size is None else size
    cdf = np.cumsum(p, axis=-1, dtype=np.float64)
    cdf = cdf / cdf[..., -1:]
    u = np.asarray(rng.uniform(size=batch))
    cdf = np.broadcast_to(cdf, tuple(batch) + cdf.shape[-1:])
    # Category i is drawn when cdf[i-1] <= u < cdf[i]: count the cdf entries at or below u.
    return np.sum(cdf <= u[..., None], axis=-1)


def _softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)  # exp cannot overflow
    e = np.exp(shifted, dtype=np.float64)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Distribution:
    """One row of :data:`DISTRIBUTIONS`, describing a distribution to :class:`RandomVariable`.

    Attributes
    ----------
    name
        The distribution's name (shown in graphs as ``<name>_rv``).
    method
        The ``numpy.random.Generator`` method that draws (documentation of ``draw``).
    params
        Parameter names, in input order.
    core_ndims
        Per parameter, the trailing dimensions one draw consumes (categorical's ``p``: 1);
        the leading ones are batch dimensions, broadcast against ``size``.
    param_kinds
        The NumPy dtype kinds the parameters may have.
    dtypes
        The output dtypes allowed; the first is the default (``"floatX"`` means
        ``config.floatX``).
    draw
        ``draw(rng, params, size, dtype)`` returns the draws (any dtype; cast afterwards).
    support
        ``support(*params, dtype)`` returns why the parameter values are invalid, or ``None``.
    """

    name: str
    method: str
    params: tuple[str, ...]
    core_ndims: tuple[int, ...]
    param_kinds: str
    dtypes: tuple[str, ...]
    draw: Callable[..., Any]
    support: Callable[..., str | None]


_FLOATS = ("floatX", "float32", "float64")
_INTS = ("int64", "int32", "int16", "int8", "uint8")

DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in [
        Distribution(
            "uniform", "uniform(low, high, size)", ("low", "high"), (0, 0), "biuf", _FLOATS,
            lambda rng, p, size, dtype: rng.uniform(p[0], p[1], size=size), _check_uniform,
        ),
        Distribution(
            "normal", "normal(loc, scale, size)", ("loc", "scale"), (0, 0), "biuf", _FLOATS,
            lambda rng, p, size, dtype: rng.normal(p[0], p[1], size=size), _check_normal,
        ),
        Distribution(
            "bernoulli", "binomial(1, p, size)", ("p",), (0,), "biuf", ("int64",),
            lambda rng, p, size, dtype: rng.binomial(1, p[0], size=size), _check_bernoulli,
        ),
        Distribution(
            "categorical", "uniform(size) + inverse CDF of p", ("p",), (1,), "biuf", ("int64",),
            lambda rng, p, size, dtype: _draw_categorical(rng, p[0], size), _check_categorical,
        ),
        Distribution(
            "categorical_logits", "uniform(size) + inverse CDF of softmax(logits)", ("logits",), (1,), "iuf",
            ("int64",), lambda rng, p, size, dtype: _draw_categorical(rng, _softmax(p[0]), size), _check_logits,
        ),
        Distribution(
            "integers", "integers(low, high, size, dtype)", ("low", "high"), (0, 0), "iu", _INTS,
            lambda rng, p, size, dtype: rng.integers(p[0], p[1], size=size, dtype=dtype), _check_integers,
        ),
    ]
}


# --------------------------------------------------------------------------- building helpers


def _as_param(value: Any, dist: Distribution, i: int) -> TensorVariable:
    """Parameter ``i`` of ``dist`` as a tensor, checking its dtype kind and rank."""
    name = f"{dist.name}: parameter {dist.params[i]}"
    if isinstance(value, Variable):
        var = as_tensor_variable(value)
    else:
        # Through NumPy, so Python floats stay float64 whatever floatX is: the draws then
        # match NumPy's for the same values.
        try:
            var = constant(np.asarray(value))
        except TypeError as exc:
            raise TypeError(f"{name} must be numeric, got {value!r} ({exc})") from None
    if var.type.numpy_dtype.kind not in dist.param_kinds:
        kinds = "integer" if dist.param_kinds == "iu" else "numeric"
        raise TypeError(f"{name} must be {kinds}, got {var} of type {var.type}")
    if var.ndim < dist.core_ndims[i]:
        raise ValueError(
            f"{name} must have at least {dist.core_ndims[i]} dimension(s) (the last holds the "
            f"categories), got {var} of type {var.type}"
        )
    return var


def _as_size(size: Any, who: str) -> TensorVariable | None:
    """``size`` as an integer vector of static length (``None`` stays ``None``)."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
        size = (size,)
    if isinstance(size, (tuple, list)):
        if all(isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)) for s in size):
            if any(s < 0 for s in size):
                raise ValueError(f"{who}: size entries must be non-negative, got {tuple(size)}")
            return constant(np.asarray(size, dtype=np.int64).reshape(len(size)))
        entries = [as_tensor_variable(s) for s in size]
        for s in entries:
            if s.ndim != 0 or s.type.numpy_dtype.kind not in "iu":
                raise TypeError(f"{who}: size entries must be integer scalars, got {s} of type {s.type}")
        size = make_vector(*entries)
    var = as_tensor_variable(size)
    if var.type.numpy_dtype.kind not in "iu":
        raise TypeError(f"{who}: size must hold integers, got {var} of type {var.type}")
    if var.ndim == 0:
        var = make_vector(var)  # keeps the scalar at hand for static shapes and infer_shape
    if var.ndim != 1:
        raise ValueError(f"{who}: size must be a tuple of ints or an integer vector, got {var} of type {var.type}")
    if var.type.shape[0] is None:
        raise ValueError(
            f"{who}: the length of the size vector {var} must be known when the graph is built "
            "(it is the number of dimensions of the draws); give a tuple or use specify_shape"
        )
    return var


def _size_entries(size: TensorVariable) -> list | None:
    """The entries of a size vector when they are at hand (constant or built from scalars)."""
    if isinstance(size, Constant):
        return [int(e) for e in np.asarray(size.data).reshape(-1)]
    if size.owner is not None and isinstance(size.owner.op, MakeVector):
        return list(size.owner.inputs)
    return None


def _static_int(entry: Any) -> int | None:
    """``entry``'s value when known at build time, else ``None``."""
    if isinstance(entry, (int, np.integer)):
        return int(entry)
    try:
        return int(get_scalar_constant_value(entry))
    except NotScalarConstantError:
        return None


def _broadcast_static(shapes: Sequence[tuple], who: str) -> tuple:
    """NumPy broadcasting of static shapes (``None`` = unknown); raises on a sure mismatch."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(ndim):
        dims = [s[len(s) - ndim + d] for s in shapes if len(s) - ndim + d >= 0]
        known = {x for x in dims if x is not None and x != 1}
        if len(known) > 1:
            raise ValueError(f"{who}: parameters of static shapes {list(shapes)} do not broadcast together")
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


# --------------------------------------------------------------------------- the op


class RandomVariable(Op):
    """Draws from one distribution of :data:`DISTRIBUTIONS`.

    Inputs are ``(rng, size, *params)`` when ``sized`` and ``(rng, *params)`` otherwise;
    outputs are ``(next_rng, draws)``. ``perform`` draws from a copy of ``rng`` (the input
    generator is never advanced) and returns the advanced copy as ``next_rng``. The draws
    have shape ``size`` (the parameters' batch shapes must broadcast to it, as in NumPy) or,
    without size, the broadcast batch shape of the parameters.

    Calling the op (``op(rng, ...)``) also sets the default update of a shared generator at
    the root of ``rng`` (see the module docstring); ``make_node`` alone does not.
    """

    __props__ = ("dist", "dtype", "sized")

    def __init__(self, dist: str, dtype: str | None = None, sized: bool = False):
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {dist!r}; known: {', '.join(DISTRIBUTIONS)}")
        spec = DISTRIBUTIONS[dist]
        allowed = [normalize_dtype(d) for d in spec.dtypes]
        dtype = allowed[0] if dtype is None else normalize_dtype(dtype)
        if dtype not in allowed:
            raise TypeError(f"{dist}: dtype must be one of {', '.join(dict.fromkeys(allowed))}, got {dtype}")
        self.dist = dist
        self.dtype = dtype
        self.sized = bool(sized)

    @property
    def spec(self) -> Distribution:
        return DISTRIBUTIONS[self.dist]

    def __str__(self) -> str:
        return f"{self.dist}_rv{{{self.dtype}}}"

    def do_constant_folding(self, fgraph, node: Apply) -> bool:
        # Draws must come from the generator at run time, never be baked into the graph.
        return False

    # ------------------------------------------------------------------ building

    def _split(self, inputs: Sequence[Any]) -> tuple[Any, Any, list]:
        return inputs[0], (inputs[1] if self.sized else None), list(inputs[2 if self.sized else 1 :])

    def make_node(self, rng: Any, *args: Any) -> Apply:
        spec, who = self.spec, self.dist
        expected = len(spec.params) + self.sized
        if len(args) != expected:
            raise TypeError(
                f"{self} takes rng{', size' if self.sized else ''} and {len(spec.params)} parameters, "
                f"got {1 + len(args)} inputs"
            )
        rng = _as_rng(rng, who)
        size = _as_size(args[0], who) if self.sized else None
        if self.sized and size is None:
            raise TypeError(f"{self}: this op takes a size (use RandomVariable(..., sized=False) for none)")
        params = [_as_param(p, spec, i) for i, p in enumerate(args[self.sized :])]
        batch = [p.type.shape[: p.ndim - core] for p, core in zip(params, spec.core_ndims)]
        shape = _broadcast_static(batch, who)
        if size is not None:
            shape = self._sized_static_shape(size, batch, who)
        draws = TensorType(self.dtype, shape)()
        inputs = [rng] + ([size] if size is not None else []) + params
        return Apply(self, inputs, [random_generator_type(), draws])

    @staticmethod
    def _sized_static_shape(size: TensorVariable, batch: list[tuple], who: str) -> tuple:
        n = size.type.shape[0]
        entries = _size_entries(size)
        out = [None] * n if entries is None else [_static_int(e) for e in entries]
        if any(s is not None and s < 0 for s in out):
            raise ValueError(f"{who}: size entries must be non-negative, got {tuple(out)}")
        for b in batch:
            if len(b) > n:
                raise ValueError(f"{who}: size has {n} dimensions but a parameter has {len(b)} batch dimensions")
            for d, dim in enumerate(b, start=n - len(b)):
                if dim is None or dim == 1:
                    continue
                if out[d] is None:
                    out[d] = dim  # the parameter broadcasts to size, so size must equal it
                elif out[d] != dim:
                    raise ValueError(f"{who}: size {tuple(out)} is not compatible with a parameter of batch shape {b}")
        return tuple(out)

    def __call__(self, *inputs: Any, **kwargs: Any):
        outputs = super().__call__(*inputs, return_list=True, **kwargs)
        _advance_default_update(outputs[0].owner)
        return outputs

    # ------------------------------------------------------------------ running

    def perform(self, node: Apply, inputs: list, output_storage: list[list]) -> None:
        rng, size, params = self._split(inputs)
        spec = self.spec
        if size is not None:
            size = tuple(int(s) for s in size)
        self._check_values(size, params)
        rng = copy_generator(rng)  # never advance the caller's generator
        draws = spec.draw(rng, params, size, self.dtype)
        output_storage[0][0] = rng
        output_storage[1][0] = np.asarray(draws, dtype=self.dtype)

    def _check_values(self, size: tuple | None, params: list[np.ndarray]) -> None:
        """Clear ValueErrors for bad sizes and parameter values (before NumPy sees them)."""
        spec = self.spec
        batch = [p.shape[: p.ndim - core] for p, core in zip(params, spec.core_ndims)]
        try:
            common = np.broadcast_shapes(*batch)
        except ValueError:
            described = ", ".join(f"{n} {b}" for n, b in zip(spec.params, batch))
            raise ValueError(
                f"{self.dist}: the parameters' batch shapes do not broadcast together: {described}"
            ) from None
        if size is not None:
            if any(s < 0 for s in size):
                raise ValueError(f"{self.dist}: size entries must be non-negative, got {size}")
            try:
                compatible = len(common) <= len(size) and np.broadcast_shapes(common, size) == size
            except ValueError:
                compatible = False
            if not compatible:
                raise ValueError(
                    f"{self.dist}: size {size} is not compatible with the parameters' batch shape "
                    f"{common}: the parameters must broadcast to size"
                )
        problem = spec.support(*params, self.dtype)
        if problem is not None:
            raise ValueError(f"{self.dist}: invalid parameter values: {problem}")

    # ------------------------------------------------------------------ shapes and derivatives

    def infer_shape(self, fgraph, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list:
        """``[None, draws shape]``: static sizes where known, else the size vector's entries
        (indexed symbolically) or, without size, the size of the first parameter that is not
        statically 1 along that dimension (as Elemwise does)."""
        _, size, params = self._split(node.inputs)
        _, _, param_shapes = self._split(input_shapes)
        static = node.outputs[1].type.shape
        out: list = []
        for d, dim in enumerate(static):
            if dim is not None:
                out.append(dim)
            elif size is not None:
                entries = _size_entries(size)
                out.append(entries[d] if entries is not None else size[d])
            else:
                out.append(self._param_dim(d, len(static), params, param_shapes))
        return [None, tuple(out)]

    def _param_dim(self, d: int, ndim: int, params: list, shapes: list) -> Any:
        for p, shp, core in zip(params, shapes, self.spec.core_ndims):
            pd = d - (ndim - (p.ndim - core))  # align the batch dimensions on the right
            if pd >= 0 and p.type.shape[pd] != 1:
                return shp[pd]
        return 1

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        # For differentiation: nothing flows from the parameters into the next generator,
        # and size is a shape, not a value.
        pattern = [[True, True]]
        if self.sized:
            pattern.append([False, False])
        pattern += [[False, True] for _ in self.spec.params]
        return pattern

    def _undefined(self, i: int, x: Variable) -> Variable:
        return grad_undefined(
            self,
            i,
            x,
            f"random draws are not differentiable w.r.t. the {self.dist} parameter "
            f"{self.spec.params[i - 1 - self.sized]}; reparameterize instead "
            "(e.g. loc + scale * normal(rng, 0.0, 1.0) is differentiable w.r.t. loc and scale)",
        )

    def L_op(self, inputs, outputs, output_grads):
        grads = [disconnected_type()]
        if self.sized:
            grads.append(disconnected_type())
        offset = len(grads)
        grads += [self._undefined(offset + k, p) for k, p in enumerate(inputs[offset:])]
        return grads

    def R_op(self, inputs, eval_points):
        offset = 1 + self.sized
        for k in range(offset, len(inputs)):
            if eval_points[k] is not None:
                return [None, self._undefined(k, inputs[k])]
        return [None, None]


def _chain(var: Variable) -> list[Variable]:
    """``var`` and the generators before it, following random ops' next_rng outputs back."""
    chain = [var]
    while var.owner is not None and isinstance(var.owner.op, RandomVariable) and var is var.owner.outputs[0]:
        var = var.owner.inputs[0]
        chain.append(var)
    return chain


def _advance_default_update(node: Apply) -> None:
    """Make the shared generator at the root of ``node``'s rng advance to its next_rng.

    The root is found through chains of random ops (rng -> next_rng -> ...). Its default
    update is set when it has none, or when it is the rng this node consumes (the node
    extends the chain's tip), so one compiled call advances past every chained draw.

    A second random op on a generator state another chain already consumed is a branch: its
    draws reuse the same random bits as the other chain's (correlated), and the default
    update keeps following the first chain, so a function using only the new draw also
    computes the other one (and needs its inputs). That is almost always a mistake, so it
    warns. A default update the user set to anything else is left alone, silently.
    """
    rng, new = node.inputs[0], node.outputs[0]
    root = _chain(rng)[-1]
    if not isinstance(root, SharedVariable):
        return
    current = root.default_update
    if current is None or current is rng:
        root.default_update = new
        return
    chain = _chain(current) if isinstance(current, Variable) else []
    if chain and chain[-1] is root and new not in chain:
        warnings.warn(
            f"{node.op} draws from the generator state {rng}, which other random ops already "
            f"consumed: its draws are correlated with theirs, and the default update of {root} "
            "still follows the first chain. Chain the draws (pass the previous call's next_rng as "
            "rng) or give each draw its own generator (e.g. with RandomStream).",
            UserWarning,
            stacklevel=5,
        )


# --------------------------------------------------------------------------- public functions


def _draw(dist: str, rng: Any, params: list, size: Any, dtype: Any) -> tuple[Variable, TensorVariable]:
    op = RandomVariable(dist, dtype, sized=size is not None)
    args = [size] if size is not None else []
    next_rng, draws = op(rng, *args, *params)
    return next_rng, draws


def uniform(rng, low=0.0, high=1.0, size=None, dtype=None):
    """Uniform draws on ``[low, high)``: ``Generator.uniform(low, high, size)``.

    Returns ``(next_rng, draws)``. ``low``/``high`` broadcast like NumPy; ``size`` (a tuple of
    ints or an integer vector of known length) gives the draws' shape. ``dtype``: float32 or
    float64 (default ``config.floatX``); NumPy draws float64 and the result is cast (so a
    float32 draw just below ``high`` may round to ``high``).
    """
    return _draw("uniform", rng, [low, high], size, dtype)


def normal(rng, loc=0.0, scale=1.0, size=None, dtype=None):
    """Normal draws: ``Generator.normal(loc, scale, size)``. Returns ``(next_rng, draws)``.

    See :func:`uniform` for ``size`` and ``dtype``; ``scale`` must be non-negative.
    """
    return _draw("normal", rng, [loc, scale], size, dtype)


def bernoulli(rng, p, size=None):
    """Bernoulli draws (int64 0/1 with ``P(1) = p``): ``Generator.binomial(1, p, size)``.

    Returns ``(next_rng, draws)``; ``p`` must lie in [0, 1].
    """
    return _draw("bernoulli", rng, [p], size, None)


def categorical(rng, p=None, logits=None, size=None):
    """Category indices (int64) drawn with the probabilities along the last axis.

    Give exactly one of ``p`` (non-negative weights, normalised along the last axis) or
    ``logits`` (turned into probabilities by a stable softmax). The leading axes are batch
    axes, broadcast to ``size``. One ``Generator.uniform(size=batch shape)`` call draws
    ``u`` per draw, and the draw is the first category whose cumulative probability
    exceeds ``u``; so ``p`` and ``logits = log(p)`` give the same draws for the same
    generator state. Returns ``(next_rng, draws)``.
    """
    if (p is None) == (logits is None):
        raise TypeError("categorical: give exactly one of p and logits")
    if p is not None:
        return _draw("categorical", rng, [p], size, None)
    return _draw("categorical_logits", rng, [logits], size, None)


def integers(rng, low, high=None, size=None, dtype="int64"):
    """Integers on ``[low, high)`` (``[0, low)`` when ``high`` is None), like
    ``Generator.integers(low, high, size, dtype)``. Returns ``(next_rng, draws)``.

    ``dtype`` is an integer dtype; the range must fit in it.
    """
    if high is None:
        low, high = 0, low
    return _draw("integers", rng, [low, high], size, dtype)


# --------------------------------------------------------------------------- RandomStream


class RandomStream:
    """Random draws without handling generators, like PyTensor's ``RandomStream``.

    Each draw gets its own shared generator, seeded from this stream's seed, whose default
    update advances it after every call of a function using the draw::

        srng = RandomStream(seed=42)
        x = srng.normal(0.0, 1.0, size=(3,))
        f = sg.function([], x)          # a new x on each call

    :meth:`seed` re-seeds every generator made so far, reproducing the same draws;
    :meth:`updates` lists ``(shared generator, next generator)`` pairs.
    """

    def __init__(self, seed: Any = None):
        self.state_updates: list[tuple[RandomGeneratorSharedVariable, Variable]] = []
        self._seed_seq = np.random.SeedSequence(seed)

    def _new_generator(self) -> np.random.Generator:
        # Spawned children are independent streams, in a fixed order for a given seed.
        return np.random.default_rng(self._seed_seq.spawn(1)[0])

    def seed(self, seed: Any = None) -> None:
        """Re-seed: every generator made so far restarts as if this stream had ``seed``."""
        self._seed_seq = np.random.SeedSequence(seed)
        for rng, _ in self.state_updates:
            rng.set_value(self._new_generator(), borrow=True)

    def updates(self) -> list[tuple[RandomGeneratorSharedVariable, Variable]]:
        """The ``(shared generator, next generator)`` pair of every draw made so far."""
        return list(self.state_updates)

    def gen(self, fn: Callable[..., tuple], *args: Any, **kwargs: Any) -> TensorVariable:
        """The draws of ``fn(rng, *args, **kwargs)`` with a new shared generator as ``rng``."""
        if "rng" in kwargs:
            raise TypeError("RandomStream manages the generators itself; do not pass rng")
        rng = RandomGeneratorSharedVariable(
            random_generator_type, self._new_generator(), strict=False, allow_downcast=None, name="rng"
        )
        next_rng, draws = fn(rng, *args, **kwargs)
        next_rng.name = "next_rng"
        rng.default_update = next_rng
        self.state_updates.append((rng, next_rng))
        return draws

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None) -> TensorVariable:
        """See :func:`uniform`; returns the draws only."""
        return self.gen(uniform, low, high, size=size, dtype=dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None) -> TensorVariable:
        """See :func:`normal`; returns the draws only."""
        return self.gen(normal, loc, scale, size=size, dtype=dtype)

    def bernoulli(self, p, size=None) -> TensorVariable:
        """See :func:`bernoulli`; returns the draws only."""
        return self.gen(bernoulli, p, size=size)

    def categorical(self, p=None, logits=None, size=None) -> TensorVariable:
        """See :func:`categorical`; returns the draws only."""
        return self.gen(categorical, p=p, logits=logits, size=size)

    def integers(self, low, high=None, size=None, dtype="int64") -> TensorVariable:
        """See :func:`integers`; returns the draws only."""
        return self.gen(integers, low, high, size=size, dtype=dtype)
