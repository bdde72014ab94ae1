"""Modes: validation, named modes, tags, the rewrite-pass registry, pickling."""

import pickle

import pytest

import symgraph.tensor as st
from symgraph import FAST_COMPILE, FAST_RUN, Mode, config, function
from symgraph.compile.mode import (
    get_default_mode,
    get_mode,
    register_rewrite_pass,
    registered_rewrite_passes,
    unregister_rewrite_pass,
)
from symgraph.link.vm import VMLinker


def test_named_modes():
    assert FAST_RUN.optimizer == "fast_run" and FAST_RUN.linker == "c"  # FAST_RUN links C
    assert FAST_COMPILE.optimizer == "fast_compile" and FAST_COMPILE.linker == "py"
    assert get_mode("FAST_RUN") is FAST_RUN
    assert get_mode("FAST_COMPILE") is FAST_COMPILE
    assert get_mode(FAST_COMPILE) is FAST_COMPILE
    assert Mode() == FAST_RUN
    assert Mode(optimizer="fast_compile", linker="py") == FAST_COMPILE and Mode() != FAST_COMPILE


def test_default_mode_follows_config():
    with config.change_flags(linker="auto"):  # the suite's conftest runs on "py"
        assert get_mode(None) == FAST_RUN and get_mode(None).linker == "c"
        with config.change_flags(mode="FAST_COMPILE"):
            assert get_mode(None) == FAST_COMPILE and get_mode(None).linker == "py"
    with config.change_flags(linker="check"):
        assert get_mode(None).linker == "check" and get_mode(None).optimizer == "fast_run"
    with config.change_flags(optimizer="None"):
        assert get_default_mode().optimizer is None


def test_invalid_names_list_valid_ones():
    with pytest.raises(ValueError, match="'c', 'check', 'py'"):
        Mode(linker="cc")
    with pytest.raises(ValueError, match="'fast_run', 'fast_compile'"):
        Mode(optimizer="o3")
    with pytest.raises(ValueError, match="'FAST_RUN', 'FAST_COMPILE'"):
        get_mode("FAST")
    with pytest.raises(TypeError):
        get_mode(3)


def test_optimizer_none():
    assert Mode(optimizer=None).optimizer is None
    assert Mode(optimizer="None") == Mode(optimizer=None)


def test_including_excluding_return_new_modes():
    m = FAST_RUN.including("fusion", "inplace")
    assert m is not FAST_RUN and m.included == ("fusion", "inplace") and FAST_RUN.included == ()
    m2 = m.excluding("inplace")
    assert m2.included == ("fusion",) and m2.excluded == ("inplace",)
    assert m2.including("inplace").excluded == ()
    assert m2.optimizer == "fast_run"
    with pytest.raises(TypeError):
        FAST_RUN.including(3)


def test_modes_pickle():
    for mode in (FAST_RUN, FAST_COMPILE, FAST_RUN.including("a").excluding("b"), Mode(linker=VMLinker(allow_gc=False))):
        assert pickle.loads(pickle.dumps(mode)) == mode


def test_linker_instance():
    mode = Mode(linker=VMLinker(allow_gc=False))
    assert mode.linker == "py"
    linker = mode.make_linker()
    assert isinstance(linker, VMLinker) and linker.allow_gc is False


def test_no_passes_registered_by_default():
    # Passes come with the rewrite machinery; the mode module registers none itself.
    assert FAST_RUN.rewrite_passes() == [p for p in registered_rewrite_passes() if "fast_run" in p.optimizers]


def test_registered_passes_run_by_optimizer_and_tags():
    calls = []
    register_rewrite_pass("t_second", lambda fg: calls.append("second"), optimizers=("fast_run",), position=2)
    register_rewrite_pass(
        "t_first", lambda fg: calls.append("first"), optimizers=("fast_run", "fast_compile"), position=1, tags=("t_cheap",)
    )
    register_rewrite_pass("t_extra", lambda fg: calls.append("extra"), optimizers=(), position=3, tags=("t_opt_in",))
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_rewrite_pass("t_first", lambda fg: None)
        with pytest.raises(ValueError, match="unknown optimizer"):
            register_rewrite_pass("t_bad", lambda fg: None, optimizers=("fastest",))
        x = st.dscalar("x")
        function([x], x * 2)
        assert calls[-2:] == ["first", "second"]
        calls.clear()
        function([x], x * 2, mode="FAST_COMPILE")
        assert calls == ["first"]
        calls.clear()
        function([x], x * 2, mode=FAST_RUN.excluding("t_cheap").including("t_opt_in"))
        assert calls == ["second", "extra"]
        calls.clear()
        function([x], x * 2, mode=FAST_RUN.excluding("t_second"))
        assert calls == ["first"]
        calls.clear()
        function([x], x * 2, mode=Mode(optimizer=None))
        assert calls == []
    finally:
        for name in ("t_first", "t_second", "t_extra"):
            unregister_rewrite_pass(name)


def test_rewrite_pass_changes_the_graph():
    x = st.dscalar("x")

    def times_two_to_times_three(fgraph):
        for node in fgraph.toposort():
            if node.op == (x * 2).owner.op and len(fgraph.clients[node.outputs[0]]) > 0:
                fgraph.replace(node.outputs[0], node.inputs[0] * 3)

    register_rewrite_pass("t_times3", times_two_to_times_three, tags=("t_test",))
    try:
        f = function([x], x * 2)
        assert f(1.0) == 3.0
        assert function([x], x * 2, mode=FAST_RUN.excluding("t_test"))(1.0) == 2.0
    finally:
        unregister_rewrite_pass("t_times3")


def test_failing_pass_raises_or_warns():
    def broken(fgraph):
        raise RuntimeError("boom")

    register_rewrite_pass("t_broken", broken)
    try:
        x = st.dscalar("x")
        with pytest.raises(RuntimeError, match="boom") as info:
            function([x], x * 2)
        assert any("t_broken" in n for n in info.value.__notes__)
        with config.change_flags(on_rewrite_error="warn"):
            with pytest.warns(UserWarning, match="t_broken"):
                f = function([x], x * 2)
        assert f(2.0) == 4.0
    finally:
        unregister_rewrite_pass("t_broken")
