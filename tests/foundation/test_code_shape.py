"""Code shape (docs/CONTRIBUTING.md): no library, stage or DAG module over 400 lines, no function over 60.

A module or function that must stay longer is listed below with a one-line reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("components", "pipelines", "dags")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ALLOWED: dict[str, str] = {}  # "path" or "path::function" -> why it must stay longer


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py"))


def test_the_check_sees_the_code():
    assert len(sources()) > 100  # the folders above are where the code is (a moved folder fails here)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_and_functions_fit_a_screen(path: Path):
    name = str(path.relative_to(REPO))
    text = path.read_text()
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES or name in ALLOWED, f"{name}: {lines} lines (split it by role)"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, from line {node.lineno})"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and f"{name}::{node.name}" not in ALLOWED
    ]
    assert not long, f"{name}: functions over {MAX_FUNCTION_LINES} lines: {long}"
