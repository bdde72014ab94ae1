"""Creation traces: where user code built a node (symgraph.graph.utils)."""

import os
import sys

import symgraph

from symgraph.configdefaults import config
from symgraph.graph.basic import Apply
from symgraph.graph.op import Op
from symgraph.graph.type import Type
from symgraph.graph.utils import add_tag_trace, creation_site, format_trace, user_frames


class Real(Type):
    __props__ = ()

    def filter(self, data, strict=False, allow_downcast=None):
        return float(data)


REAL = Real()


class Neg(Op):
    """Uses the library's default make_node, so no frame of this file is inside the op."""

    __props__ = ()
    itypes = [REAL]
    otypes = [REAL]


class Twice(Op):
    __props__ = ()
    itypes = [REAL]
    otypes = [REAL, REAL]


class UserMakeNode(Op):
    __props__ = ()

    def make_node(self, a):
        return Apply(self, [a], [REAL()])  # MAKE_NODE_LINE


def here():
    """The caller's line number."""
    return sys._getframe(1).f_lineno


def test_trace_records_the_user_line():
    x = REAL("x")
    z = Neg()(x); line = here()  # noqa: E702
    (frames,) = z.tag.trace
    filename, lineno, func = frames[0]
    assert filename == __file__
    assert lineno == line
    assert func == "test_trace_records_the_user_line"
    assert creation_site(z) == f"{__file__}:{line}"


def test_trace_frames_are_innermost_first_and_skip_library_frames():
    def build(v):
        return Neg()(v)  # BUILD_LINE

    x = REAL("x")
    z = build(x); line = here()  # noqa: E702
    frames = z.tag.trace[0]
    assert [f[2] for f in frames[:2]] == ["build", "test_trace_frames_are_innermost_first_and_skip_library_frames"]
    assert frames[1][1] == line
    package_dir = os.path.dirname(os.path.abspath(symgraph.__file__))
    assert not any(f[0].startswith(package_dir) for f in frames)


def test_user_defined_make_node_is_the_innermost_user_frame():
    x = REAL("x")
    z = UserMakeNode()(x); line = here()  # noqa: E702
    frames = z.tag.trace[0]
    src = open(__file__).read().splitlines()
    assert "MAKE_NODE_LINE" in src[frames[0][1] - 1]
    assert frames[1][1] == line


def test_multiple_outputs_share_the_trace():
    x = REAL("x")
    a, b = Twice()(x)
    assert a.tag.trace == b.tag.trace and a.tag.trace


def test_limit_zero_records_no_trace():
    x = REAL("x")
    with config.change_flags(traceback__limit=0):
        z = Neg()(x)
        assert user_frames() == ()
    assert z.tag.trace == []
    assert creation_site(z) == ""
    assert format_trace(z.tag.trace) == ""


def test_limit_caps_the_number_of_frames():
    x = REAL("x")
    with config.change_flags(traceback__limit=1):
        z = Neg()(x); line = here()  # noqa: E702
    assert len(z.tag.trace[0]) == 1 and z.tag.trace[0][0][1] == line
    with config.change_flags(traceback__limit=3):
        w = Twice()(x)[0]
    assert len(w.tag.trace[0]) == 3


def test_interned_node_keeps_its_first_trace():
    x = REAL("x")
    z1 = Neg()(x); line1 = here()  # noqa: E702
    z2 = Neg()(x)
    assert z2 is z1
    assert z2.tag.trace[0][0][1] == line1


def test_format_trace_shows_file_line_and_source():
    x = REAL("x")
    z = Neg()(x); line = here()  # noqa: E702
    text = format_trace(z.tag.trace)
    lines = text.splitlines()
    # outermost frame first, like a Python traceback; the last two lines are ours
    assert lines[-2] == f'  File "{__file__}", line {line}, in test_format_trace_shows_file_line_and_source'
    assert lines[-1] == "    z = Neg()(x); line = here()  # noqa: E702"
    assert format_trace(None) == ""


def test_add_tag_trace_on_any_tagged_object():
    x = REAL("x")
    assert add_tag_trace(x) is x; line = here()  # noqa: E702
    assert x.tag.trace[0][0][:2] == (__file__, line)
    add_tag_trace(x, user_line=0)
    assert x.tag.trace == []
