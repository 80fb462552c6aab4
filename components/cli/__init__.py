"""The `churnguard` command line. `churnguard --help` lists every command.

Commands are looked up in COMMANDS (name -> module ``churnguard.cli.<name>``, summary) and imported
only when run, so `--help` stays fast.
A command module exposes ``add_arguments(parser)`` and ``run(args) -> int | None``.
To add a command: its module, and one line in SUMMARIES.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUMMARIES: dict[str, str] = {
    "run": "reproduce the whole DVC pipeline and print what it registered",
    "summary": "print the last registration and holdout metrics vs the oracle",
    "generate": "generate a synthetic world (any size), report time and peak memory",
    "broker": "start/stop/status of the local Kafka-compatible broker (Tansu, loopback)",
    "replay": "publish the world's click events to Kafka at a chosen rate",
    "stream": "streaming feature job: Kafka events -> Redis online features + real-time scores",
    "promote": "make a model version champion through the quality gates (who/why recorded)",
    "serve": "serve scores, explanations and offers over HTTP, following the MLflow champion",
    "sweep": "score every intervention scenario for one shard of the customers (parquet)",
    "monitor": "one monitoring cycle: drift, estimated/realised ROC AUC, retrain decision, gauges, report",
    "report": "HTML scenario report from a sweep directory (deterministic per date)",
}
COMMANDS: dict[str, tuple[str, str]] = {name: (f"churnguard.cli.{name}", text) for name, text in SUMMARIES.items()}


def version() -> str:
    """Package version plus the git commit of the checkout (when there is one)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        text = f"churnguard {package_version('churnguard')}"
    except PackageNotFoundError:
        text = "churnguard (not installed)"
    from churnguard.mlops.registry import git_commit

    commit = git_commit()
    return text + ("" if commit == "unknown" else f" (commit {commit[:12]})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):
        print(version())
        return 0
    top = argparse.ArgumentParser(
        prog="churnguard",
        description="Churn prediction platform.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {k:<14}{h}" for k, (_, h) in COMMANDS.items()),
    )
    top.add_argument("command", choices=sorted(COMMANDS), metavar="command", help="one of the commands below")
    top.add_argument("-V", "--version", action="store_true", help="print the version and git commit, then exit")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    ns, rest = top.parse_known_args(argv[:1])
    module_name, help_text = COMMANDS[ns.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"churnguard {ns.command}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
