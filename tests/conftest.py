"""Fixtures shared by the whole test suite (keep this file generic)."""

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

from symgraph import config

# In CI (CI=true), hypothesis draws the same examples every run, so a rare case found by
# chance cannot block a landing; locally each run explores new examples (and hypothesis
# remembers the failing ones in .hypothesis/).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_COMPILEDIR: list[str] = []


def pytest_configure(config):
    """Compiled modules of the whole run (and of the subprocesses tests start) go to one
    temporary cache directory: tests never write the user's cache, and graphs compiled by
    several tests are compiled once."""
    path = tempfile.mkdtemp(prefix="symgraph-test-compiledir-")
    _COMPILEDIR.append(path)
    os.environ["SYMGRAPH_COMPILEDIR"] = path
    from symgraph import config as sg_config

    sg_config.compiledir = path
    # The suite's thousands of small functions run on the Python linker: compiling each to C
    # would cost a compiler run apiece (minutes in all). C is tested where it is the subject:
    # tests/link/ (C linker, CHECK mode, fuzzing) and check_op, which runs every op test's
    # graph through the CHECK linker. SYMGRAPH_TEST_LINKER=c runs everything on C.
    sg_config.linker = os.environ.get("SYMGRAPH_TEST_LINKER", "py")


def pytest_unconfigure(config):
    for path in _COMPILEDIR:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _restore_config():
    """Undo any change a test makes to ``symgraph.config``, even when the test fails."""
    saved = config.flags()
    yield
    for name, value in saved.items():
        if getattr(config, name) != value:
            setattr(config, name, value)
    # a test that turned config.profile on must not print its profiles when pytest exits
    from symgraph.compile import profiling

    profiling._AT_EXIT.clear()
