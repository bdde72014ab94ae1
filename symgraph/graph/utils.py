"""Small pieces shared by the graph core: tag scratchpads, creation traces, errors."""

from __future__ import annotations

import linecache
import os
import sys
from typing import Any, Callable, Sequence

from symgraph.configdefaults import config

# Frames from files under this directory are symgraph internals, not user code.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class MissingInputError(Exception):
    """A graph needs a root variable that was not given as an input."""


class TestValueError(Exception):
    """A test value is missing or could not be computed."""

    __test__ = False  # not a pytest test class


class MethodNotDefined(NotImplementedError):
    """An Op was asked for a method it does not implement."""


class InconsistencyError(Exception):
    """A graph change would make the graph invalid (e.g. unsafe in-place operations)."""


class Scratchpad:
    """A free-form attribute bag (``var.tag``, ``node.tag``)."""

    def __repr__(self) -> str:
        return f"Scratchpad({self.__dict__})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # mutable

    def update(self, other: "Scratchpad") -> "Scratchpad":
        self.__dict__.update(other.__dict__)
        return self


class ValidatingScratchpad(Scratchpad):
    """A scratchpad that passes one attribute through a validator when it is set.

    Variables use it so that ``var.tag.test_value = x`` is checked against the
    variable's type at once, not when the value is first used.
    """

    def __init__(self, attr: str, validator: Callable[[Any], Any]):
        object.__setattr__(self, "_attr", attr)
        object.__setattr__(self, "_validator", validator)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == self._attr:
            value = self._validator(value)
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return f"Scratchpad({shown})"

    def __eq__(self, other):
        return isinstance(other, Scratchpad) and {
            k: v for k, v in self.__dict__.items() if not k.startswith("_")
        } == {k: v for k, v in other.__dict__.items() if not k.startswith("_")}

    __hash__ = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_validator"}

    def __setstate__(self, state):
        object.__setattr__(self, "_validator", lambda v: v)
        for k, v in state.items():
            object.__setattr__(self, k, v)


# A trace is a tuple of (filename, lineno, function name) frames, innermost user frame first.
Trace = tuple


def user_frames(limit: int | None = None, skip: int = 1) -> Trace:
    """The innermost ``limit`` frames of the current stack that are not symgraph internals."""
    if limit is None:
        limit = config.traceback__limit
    if limit <= 0:
        return ()
    frames = []
    frame = sys._getframe(skip)
    while frame is not None and len(frames) < limit:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR):
            frames.append((filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return tuple(frames)


def add_tag_trace(thing: Any, user_line: int | None = None) -> Any:
    """Record where user code created ``thing`` in ``thing.tag.trace``.

    ``user_line`` caps the number of frames kept (default ``config.traceback__limit``).
    The trace is a list holding one tuple of ``(filename, lineno, function)`` frames,
    innermost first, as PyTensor stores it; returns ``thing``.
    """
    trace = user_frames(user_line, skip=2)
    thing.tag.trace = [trace] if trace else []
    return thing


def format_trace(trace: Sequence[Trace] | None, indent: str = "  ") -> str:
    """Render a stored creation trace as ``File "f.py", line 3, in g`` lines with source text."""
    if not trace:
        return ""
    lines = []
    for filename, lineno, name in reversed(trace[0]):
        lines.append(f'{indent}File "{filename}", line {lineno}, in {name}')
        text = linecache.getline(filename, lineno).strip()
        if text:
            lines.append(f"{indent}  {text}")
    return "\n".join(lines)


def creation_site(var: Any) -> str:
    """The innermost user line that created ``var`` (``'file.py:12'``), or ``''`` if unknown."""
    trace = getattr(getattr(var, "tag", None), "trace", None)
    if not trace or not trace[0]:
        return ""
    filename, lineno, _ = trace[0][0]
    return f"{filename}:{lineno}"
