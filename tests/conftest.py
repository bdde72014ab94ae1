"""Fixtures shared by the whole test suite (keep this file generic)."""

import pytest

from symgraph import config


@pytest.fixture(autouse=True)
def _restore_config():
    """Undo any change a test makes to ``symgraph.config``, even when the test fails."""
    saved = config.flags()
    yield
    for name, value in saved.items():
        if getattr(config, name) != value:
            setattr(config, name, value)
