"""Configuration flags (symgraph.configdefaults)."""

import os
import subprocess
import sys
import warnings

import pytest

from symgraph.configdefaults import PARAMS, Config, config


def run_python(code, flags=None):
    env = {k: v for k, v in os.environ.items() if k != "SYMGRAPH_FLAGS"}
    if flags is not None:
        env["SYMGRAPH_FLAGS"] = flags
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


READ_FLAGS = (
    "from symgraph.configdefaults import config; "
    "print(config.floatX, config.traceback__limit, config.compute_test_value, config.allow_gc)"
)


def test_defaults_without_environment():
    res = run_python(READ_FLAGS)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["float64", "8", "off", "True"]


def test_symgraph_flags_environment_variable():
    res = run_python(READ_FLAGS, "floatX=float32, traceback.limit=3,compute_test_value=warn,allow_gc=False")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["float32", "3", "warn", "False"]


def test_symgraph_flags_underscore_form_and_unknown_flag_warning():
    res = run_python(READ_FLAGS, "traceback__limit=0,nonsense_flag=1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[1] == "0"
    assert "unknown flag 'nonsense_flag' ignored" in res.stderr
    assert "SYMGRAPH_FLAGS" in res.stderr


def test_symgraph_flags_bad_value_fails_loudly():
    res = run_python(READ_FLAGS, "floatX=float16")
    assert res.returncode != 0
    assert "config.floatX" in res.stderr and "float16" in res.stderr


def test_change_flags_context_manager_restores():
    before = config.floatX
    with config.change_flags(floatX="float32") as cfg:
        assert cfg is config
        assert config.floatX == "float32"
    assert config.floatX == before


def test_change_flags_restores_on_exception():
    before = config.compute_test_value
    with pytest.raises(KeyError):
        with config.change_flags(compute_test_value="raise"):
            assert config.compute_test_value == "raise"
            raise KeyError("boom")
    assert config.compute_test_value == before


def test_change_flags_decorator_restores_even_on_exception():
    before = config.traceback__limit

    @config.change_flags(traceback__limit=2)
    def read():
        return config.traceback__limit

    @config.change_flags(traceback__limit=4)
    def fail():
        assert config.traceback__limit == 4
        raise RuntimeError("inside")

    assert read() == 2
    assert read.__name__ == "read"
    assert config.traceback__limit == before
    with pytest.raises(RuntimeError, match="inside"):
        fail()
    assert config.traceback__limit == before


def test_change_flags_nesting_and_reuse():
    before = config.floatX
    change = config.change_flags(floatX="float32")
    with change:
        with config.change_flags(floatX="float64"):
            assert config.floatX == "float64"
        assert config.floatX == "float32"
        with change:  # the same object entered again
            assert config.floatX == "float32"
        assert config.floatX == "float32"
    assert config.floatX == before


def test_change_flags_dotted_names():
    before = config.traceback__limit
    with config.change_flags(**{"traceback.limit": 1}):
        assert config.traceback__limit == 1
    assert config.traceback__limit == before


def test_invalid_values_raise_and_leave_flags_unchanged():
    before = (config.floatX, config.compute_test_value)
    with pytest.raises(ValueError, match="config.floatX: must be one of 'float64', 'float32', got 'float16'"):
        config.floatX = "float16"
    with pytest.raises(ValueError, match="config.traceback__limit: must be an integer"):
        config.traceback__limit = "many"
    with pytest.raises(ValueError, match="config.allow_gc: must be a boolean"):
        config.allow_gc = "maybe"
    # a bad value in change_flags undoes the flags already changed on entry
    with pytest.raises(ValueError):
        with config.change_flags(floatX="float32", compute_test_value="sometimes"):
            pass  # pragma: no cover
    assert (config.floatX, config.compute_test_value) == before


def test_unknown_flags_raise():
    with pytest.raises(AttributeError, match="no flag 'flaotX'"):
        config.flaotX = "float32"
    with pytest.raises(AttributeError, match="no flag 'nope'"):
        config.nope
    with pytest.raises(AttributeError):
        with config.change_flags(nope=1):
            pass  # pragma: no cover


def test_values_are_converted():
    global_before = config.traceback__limit
    cfg = Config(PARAMS)
    cfg.traceback__limit = "5"
    assert cfg.traceback__limit == 5
    cfg.allow_gc = "no"
    assert cfg.allow_gc is False
    cfg.allow_gc = "ON"
    assert cfg.allow_gc is True
    setattr(cfg, "traceback.limit", 6)
    assert cfg.traceback__limit == 6
    assert config.traceback__limit == global_before  # a separate store


def test_introspection():
    cfg = Config(PARAMS)
    flags = cfg.flags()
    flags["floatX"] = "float32"
    assert cfg.floatX == "float64"  # flags() is a copy
    assert "floatX" in dir(cfg) and "compute_test_value" in dir(cfg)
    assert "float" in cfg.doc("floatX")
    assert cfg.doc("traceback.limit") == cfg.doc("traceback__limit")
    assert "floatX='float64'" in repr(cfg)


def test_parse_flag_string():
    cfg = Config(PARAMS)
    cfg.parse_flag_string(" floatX = float32 ,traceback.limit=2,,")
    assert (cfg.floatX, cfg.traceback__limit) == ("float32", 2)
    with pytest.warns(UserWarning, match="MYSRC: unknown flag 'bogus' ignored"):
        cfg.parse_flag_string("bogus=1", source="MYSRC")
    with pytest.raises(ValueError, match="expected name=value, got 'floatX'"):
        cfg.parse_flag_string("floatX")
    with pytest.raises(ValueError, match="config.mode"):
        cfg.parse_flag_string("mode=SLOW")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg.parse_flag_string("")
