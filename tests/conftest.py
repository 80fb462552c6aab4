"""Shared fixtures. Area-specific fixtures live in each area's own conftest."""
from __future__ import annotations

import pytest

from tests.workspace import Workspace


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory) -> Workspace:
    """A tiny synthetic world run through every DVC stage (register included), once per session."""
    ws = Workspace.create(tmp_path_factory.mktemp("tiny_ws"))
    ws.run_until()
    return ws
