"""Global configuration flags.

Flags are read from the ``SYMGRAPH_FLAGS`` environment variable at import time
(``"floatX=float32,compute_test_value=raise"``; a dotted name such as
``traceback.limit`` is the same flag as ``traceback__limit``), can be assigned
directly (``config.floatX = "float32"``) and changed temporarily with
:meth:`Config.change_flags`, which works as a context manager and as a decorator.
Every assignment is validated, so a typo fails loudly instead of being ignored.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from typing import Any, Callable


class ConfigParam:
    """One flag: its default, a converter that validates (and normalises) values, and its doc."""

    def __init__(self, default: Any, convert: Callable[[Any], Any], doc: str):
        self.default = default
        self.convert = convert
        self.doc = doc


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        value = str(value)
        if value not in options:
            raise ValueError(f"must be one of {', '.join(map(repr, options))}, got {value!r}")
        return value

    return convert


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be a boolean, got {value!r}")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be an integer, got {value!r}") from None


def _default_compiledir() -> str:
    env = os.environ.get("SYMGRAPH_COMPILEDIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symgraph")


class Config:
    """The flag store. Read flags as attributes; see :data:`PARAMS` for the list."""

    def __init__(self, params: dict[str, ConfigParam]):
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_values", {name: p.default for name, p in params.items()})

    @staticmethod
    def _canonical(name: str) -> str:
        return name.replace(".", "__")

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"symgraph.config has no flag {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        name = self._canonical(name)
        if name not in self._params:
            raise AttributeError(
                f"symgraph.config has no flag {name!r}; known flags: {', '.join(sorted(self._params))}"
            )
        try:
            self._values[name] = self._params[name].convert(value)
        except ValueError as exc:
            raise ValueError(f"config.{name}: {exc}") from None

    def __dir__(self):
        return sorted(self._params)

    def flags(self) -> dict[str, Any]:
        """A copy of all current flag values."""
        return dict(self._values)

    def doc(self, name: str) -> str:
        return self._params[self._canonical(name)].doc

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"Config({body})"

    @contextlib.contextmanager
    def _changed(self, changes: dict[str, Any]):
        old = {}
        try:
            for name, value in changes.items():
                key = self._canonical(name)
                if key in self._params and key not in old:
                    old[key] = self._values[key]
                setattr(self, key, value)
            yield self
        finally:
            self._values.update(old)

    def change_flags(self, **changes: Any) -> "_FlagChange":
        """Temporarily set flags: ``with config.change_flags(floatX="float32"): ...``.

        Also usable as a decorator. Values are validated on entry; the old values are
        restored on exit even when the body raises.
        """
        return _FlagChange(self, changes)

    def parse_flag_string(self, text: str, source: str = "SYMGRAPH_FLAGS") -> None:
        """Apply a ``"a=b,c=d"`` flag string. Unknown names warn; bad values raise."""
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValueError(f"{source}: expected name=value, got {item!r}")
            name, value = (s.strip() for s in item.split("=", 1))
            if self._canonical(name) not in self._params:
                warnings.warn(f"{source}: unknown flag {name!r} ignored", stacklevel=2)
                continue
            setattr(self, name, value)


class _FlagChange:
    def __init__(self, config: Config, changes: dict[str, Any]):
        self._config = config
        self._changes = changes
        self._stack: list[Any] = []

    def __enter__(self):
        cm = self._config._changed(self._changes)
        self._stack.append(cm)
        return cm.__enter__()

    def __exit__(self, *exc):
        return self._stack.pop().__exit__(*exc)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._config._changed(self._changes):
                return fn(*args, **kwargs)

        return wrapper


PARAMS: dict[str, ConfigParam] = {
    "floatX": ConfigParam(
        "float64", _choice("float64", "float32"),
        "Default float dtype for st.scalar/vector/matrix... and for Python floats turned into tensors.",
    ),
    "compute_test_value": ConfigParam(
        "off", _choice("off", "ignore", "warn", "raise"),
        "Evaluate each new node on its inputs' tag.test_value while the graph is built. "
        "'ignore' skips nodes with a missing test value, 'warn' warns, 'raise' raises.",
    ),
    "traceback__limit": ConfigParam(
        8, _int,
        "How many frames of user code to keep as a node's creation trace (0 keeps none).",
    ),
    "mode": ConfigParam(
        "FAST_RUN", _choice("FAST_RUN", "FAST_COMPILE"),
        "The mode used by function() when none is given.",
    ),
    "linker": ConfigParam(
        "auto", _choice("auto", "c", "py", "check"),
        "Linker of the default mode: 'auto' keeps the named mode's own (C for FAST_RUN, "
        "Python for FAST_COMPILE); 'c', 'py' or 'check' (C and Python compared node by node) "
        "override it.",
    ),
    "optimizer": ConfigParam(
        "fast_run", _choice("fast_run", "fast_compile", "None"),
        "Rewrite pipeline of the default mode ('None' disables rewriting).",
    ),
    "compiledir": ConfigParam(
        _default_compiledir(), str,
        "Where compiled modules are cached (also set by SYMGRAPH_COMPILEDIR).",
    ),
    "allow_gc": ConfigParam(True, _boolean, "Free intermediate results after their last use."),
    "parallel": ConfigParam(
        "auto", _choice("auto", "openmp", "off"),
        "How generated C splits large elementwise loops and reductions over the cores: 'auto' "
        "runs them on the thread pool of the OpenBLAS NumPy ships (shared with the products), "
        "else OpenMP when the compiler has it; 'openmp' always OpenMP (never in functions "
        "calling BLAS); 'off' one thread (docs/c_backend.md). Read when a module is built "
        "and loaded.",
    ),
    "blas": ConfigParam(
        "auto", _choice("auto", "scipy"),
        "Which BLAS generated C calls: 'auto' prefers the OpenBLAS NumPy uses (one thread pool "
        "for NumPy's products and ours), 'scipy' always takes SciPy's (docs/c_backend.md). Read "
        "when a module is loaded.",
    ),
    "gemm": ConfigParam(
        "auto", _choice("auto", "blas"),
        "Which code multiplies two float matrices in generated C: 'auto' uses symgraph's own "
        "AVX-512 kernel when the CPU has AVX-512 (the OpenBLAS in NumPy's and SciPy's wheels "
        "runs its AVX2 kernel on CPUs it does not know, at half speed), 'blas' always calls "
        "BLAS (docs/c_backend.md). Read when a module is loaded.",
    ),
    "profile": ConfigParam(
        _boolean(os.environ.get("SYMGRAPH_PROFILE", "0")), _boolean,
        "Compile every function with profile=True unless function() says otherwise: "
        "f.profile records compile times, calls and the time of each thunk "
        "(f.profile.summary()). Also set by SYMGRAPH_PROFILE=1.",
    ),
    "print_rewrites": ConfigParam(False, _boolean, "Log every applied rewrite with its rule's name."),
    "on_rewrite_error": ConfigParam(
        "raise", _choice("raise", "warn"), "What a rewrite rule that raises does to compilation."
    ),
}

config = Config(PARAMS)

if os.environ.get("SYMGRAPH_FLAGS"):
    config.parse_flag_string(os.environ["SYMGRAPH_FLAGS"])
