"""Fixtures shared by the whole test suite (keep this file generic)."""

import os

import pytest
from hypothesis import settings

from symgraph import config

# In CI (CI=true), hypothesis draws the same examples every run, so a rare case found by
# chance cannot block a landing; locally each run explores new examples (and hypothesis
# remembers the failing ones in .hypothesis/).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _restore_config():
    """Undo any change a test makes to ``symgraph.config``, even when the test fails."""
    saved = config.flags()
    yield
    for name, value in saved.items():
        if getattr(config, name) != value:
            setattr(config, name, value)
