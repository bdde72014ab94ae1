"""Every tutorial in tutorials/ is a runnable script; run each one as a user would."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "tutorials").glob("*.py"))


def test_there_is_at_least_one_tutorial():
    assert TUTORIALS, f"no tutorials found in {REPO / 'tutorials'}"


@pytest.mark.parametrize("script", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(script):
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{script.name} exited with status {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            pytrace=False,
        )
