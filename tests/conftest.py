"""Shared fixtures. Area-specific fixtures live in each area's own conftest."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

# The real-browser fixtures (`browser`, `page`) are registered once for the whole session: importing
# them into several test modules would start one Playwright per module, and Playwright's sync API
# refuses to start inside another's running event loop.
pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory) -> Workspace:
    """A tiny synthetic world run through every DVC stage (register included), once per session."""
    ws = Workspace.create(tmp_path_factory.mktemp("tiny_ws"))
    ws.run_until()
    return ws
