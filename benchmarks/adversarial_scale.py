"""Benchmark: the adversarial stages (harden, evaluate_harden) on a built workspace of any size.

Runs each stage as DVC does (``python -m pipelines.<stage>``) in the workspace given by ``--root``
(data/features and models/base built, e.g. by ``benchmarks/worlds.py --customers 1000000 --until
train_base --root DIR``) and records wall time, CPU seconds and peak RSS of each stage's process
(os.wait4), the customer count and the load average, plus the stage's headline metrics.

    .venv/bin/python benchmarks/adversarial_scale.py --root DIR [--name adversarial_scale_1m]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from churnguard.core.benchmarking import write_result  # noqa: E402

STAGES = ("harden", "evaluate_harden")


def run_stage(root: Path, stage: str) -> dict[str, float]:
    env = dict(os.environ, CHURNGUARD_HOME=str(root), PYTHONPATH=str(REPO))
    env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    t0 = time.perf_counter()
    with open(root / f"{stage}.bench.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", f"pipelines.{stage}"], cwd=root, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{stage} failed: see {root / f'{stage}.bench.log'}")
    return {
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "max_rss_gb": round(usage.ru_maxrss / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="a built workspace (data/features, models/base)")
    ap.add_argument("--name", default="adversarial_scale")
    args = ap.parse_args()
    root = args.root.resolve()
    customers = len(pd.read_parquet(root / "data" / "features" / "customers.parquet", columns=["customer_id"]))
    load0, numbers = os.getloadavg(), {}
    for k, stage in enumerate(STAGES, 1):
        numbers[stage] = run_stage(root, stage)
        print(f"[{k}/{len(STAGES)}] {stage}: {numbers[stage]}", flush=True)
    m = json.loads((root / "metrics" / "harden.json").read_text())
    p = m["protected_decision"]
    numbers["total_wall_s"] = round(sum(numbers[s]["wall_s"] for s in STAGES), 1)
    numbers["peak_rss_gb"] = max(numbers[s]["max_rss_gb"] for s in STAGES)
    numbers["metrics"] = {
        "decision_auc_drop": p["outcomes"]["roc_auc_drop_vs_base"],
        "strongest_ratio_to_base_pgd": p["attack_success"]["strongest_ratio_to_base_pgd"],
        "legitimate_flagged": m["detection"]["legitimate"]["fpr"],
        "fraud_offer_ratio": p["outcomes"].get("fraud_offer_ratio"),
        "shipped_to_ceiling_tpr_at_2pct_fpr": m["detection"].get("shipped_to_ceiling_tpr_at_2pct_fpr"),
    }
    run = {"customers": customers, "load_average_start": load0, "load_average_end": os.getloadavg()}
    write_result(args.name, run, numbers)
    print(f"done: {customers:,} customers, {numbers['total_wall_s']} s wall, peak {numbers['peak_rss_gb']} GB")


if __name__ == "__main__":
    main()
