"""`churnguard run`: the main job — `dvc repro` end to end, then a summary."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from components.config import ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rerun every stage (dvc repro --force)")
    parser.add_argument("stage", nargs="?", help="reproduce only up to this stage")


def run(args: argparse.Namespace) -> int:
    from components.commands.summary import print_summary

    # Stages call `python`: make it this environment's interpreter whatever the caller's PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(Path(sys.executable).parent / "dvc"), "repro", *(["--force"] if args.force else []),
           *([args.stage] if args.stage else [])]
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    elapsed = time.perf_counter() - t0
    if rc != 0:
        print(f"\npipeline FAILED after {elapsed:.0f} s (exit {rc}); nothing was registered by the failing run.")
        return rc
    print(f"\npipeline finished in {elapsed:.0f} s")
    return print_summary()
