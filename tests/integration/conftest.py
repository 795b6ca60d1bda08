"""Every integration test runs against the session's test stack, with its settings
in the environment (for code that reads them, and for `mockfarm` subprocesses)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def farm_environment(farm, monkeypatch):
    from shared import db

    for name, value in {**farm.settings.as_env(), **farm.extra_env}.items():
        monkeypatch.setenv(name, value)
    yield
    # The pool is bound to the settings it was made with; the next test makes its own.
    db.close_pool()
