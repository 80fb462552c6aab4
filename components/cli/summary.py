"""`churnguard summary`: the registered version, champion status, holdout metrics vs the oracle."""

from __future__ import annotations

import argparse
import json

from churnguard.core.config import PATHS

KEYS = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "calibration_error")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def print_summary() -> int:
    reg_path, base_path = PATHS.metrics / "registration.json", PATHS.metrics / "base.json"
    if not reg_path.exists() or not base_path.exists():
        print("no registration yet: run `churnguard run` first")
        return 1
    reg, base = json.loads(reg_path.read_text()), json.loads(base_path.read_text())
    status = "is now CHAMPION" if reg["champion"] else "did not become champion: " + "; ".join(reg["reasons"])
    print(f"registered model {reg['model']} version {reg['version']} (parts: {', '.join(reg['parts'])}) {status}")
    oracle = base.get("oracle")
    print(f"holdout ({base['model']['n']} customers, {base['family']}):")
    print(f"  {'metric':<18}{'model':>10}{'oracle':>10}")
    for k in KEYS:
        print(f"  {k:<18}{base['model'][k]:>10.4f}" + (f"{oracle[k]:>10.4f}" if oracle else f"{'n/a':>10}"))
    if oracle:
        print(f"  ROC AUC ratio to oracle: {base['roc_auc_ratio_to_oracle']:.4f}")
    for path in sorted(PATHS.metrics.glob("*.json")):
        if path.name not in ("base.json", "registration.json", "cv.json", "validation.json"):
            print(f"  more metrics: {path.relative_to(PATHS.root)}")
    return 0


def run(args: argparse.Namespace) -> int:
    return print_summary()
