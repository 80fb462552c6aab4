"""`churnguard run` progress (unit: DVC's output lines in, stage lines and spans out), `--version`, flag help."""

from __future__ import annotations

import argparse
import importlib
import subprocess

import pytest

from tests.orchestration.conftest import PROJECT_BIN

DVC_OUTPUT = [
    "Running stage 'ingest':\n",
    "> .venv/bin/python -m pipelines.ingest\n",
    "synthetic world: {}\n",
    "Stage 'validate' didn't change, skipping\n",
    "Running stage 'features':\n",
    "done\n",
]


def test_progress_numbers_stages_and_opens_one_span_each(capsys):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from churnguard.cli import run as run_command

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    progress = run_command.Progress(total=3, heartbeat_s=0.0)
    progress._tracer = provider.get_tracer("test")
    for line in DVC_OUTPUT:
        progress.line(line)
    progress.beat()
    progress.close_span()
    out = capsys.readouterr().out
    assert "[1/3]" in out and "stage ingest" in out
    assert "[2/3]" in out and "validate: up to date" in out
    assert "[3/3]" in out and "stage features still running" in out
    assert "synthetic world: {}" in out  # the stages' own output passes through
    assert [s.name for s in exporter.get_finished_spans()] == ["stage ingest", "stage features"]
    assert progress.ran == ["ingest", "features"] and progress.skipped == ["validate"]


def test_version_flag():
    proc = subprocess.run([str(PROJECT_BIN / "churnguard"), "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("churnguard "), proc.stdout + proc.stderr


def _command_modules() -> list[str]:
    """Every CLI command's module (churnguard.cli.COMMANDS: name -> (module, summary))."""
    from churnguard.cli import COMMANDS

    return sorted(module for module, _ in COMMANDS.values())


@pytest.mark.parametrize("module", _command_modules())
def test_every_flag_has_help(module):
    parser = argparse.ArgumentParser()
    importlib.import_module(module).add_arguments(parser)
    missing = [a.option_strings or a.dest for a in parser._actions if not a.help]
    assert not missing, f"{module}: flags without help: {missing}"


def test_progress_bars_off_in_logs_and_with_tqdm_disable(monkeypatch):
    from churnguard.core.progress import progress_bars

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bars() is False
    monkeypatch.delenv("TQDM_DISABLE")
    assert progress_bars() is False  # pytest captures stderr: not a terminal, like a task log
