"""CFRL training speed with the libraries' default thread pools vs one thread per pool (issue #21).

    .venv/bin/python benchmarks/cfrl_threads.py --workspace DIR [--steps 100]

DIR: a workspace after ``train_base`` (models/base, data/features). Each mode fits the counterfactual
explainer (50 autoencoder steps, ``--steps`` CFRL steps) in its own process, so the pools start as
that mode sets them: ``default`` (no OMP_* variables, torch's own thread count) and ``limited`` (what
the fit_counterfactual stage does: torch 1 thread, threadpoolctl 1 thread for OpenMP/BLAS). Run it on
a busy machine: that is where the default pools lose (measured 0.57 vs 34 steps/s at load 5.5-6).
Writes benchmarks/results/cfrl_threads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

POOL_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def fit_once(workspace: Path, steps: int, limited: bool) -> dict[str, float]:
    """One explainer fit in this process; wall and CPU seconds."""
    import pandas as pd
    import torch
    import yaml
    from threadpoolctl import threadpool_limits

    from churnguard.core.config import deep_merge
    from churnguard.interventions.config import fit_counterfactual_config
    from churnguard.interventions.counterfactual import fit_explainer
    from churnguard.models.tabular import load_part

    base = load_part(workspace / "models" / "base")
    table = pd.read_parquet(workspace / "data" / "features" / "customers.parquet")
    cfg = yaml.safe_load((REPO / "params.yaml").read_text())["fit_counterfactual"]
    cfg = fit_counterfactual_config(deep_merge(cfg, {"alibi_cfrl": {"train_steps": steps, "autoencoder_steps": 50}}))
    if limited:
        torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1 if limited else None):
        fit_explainer(base, table[table["split"] == "train"], cfg, 42)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "steps_per_s": round(steps / wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--mode", choices=["default", "limited"], help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.mode:
        print(json.dumps(fit_once(args.workspace, args.steps, args.mode == "limited")))
        return
    from churnguard.core.benchmarking import write_result

    env = {k: v for k, v in os.environ.items() if k not in POOL_VARS}
    env["CHURNGUARD_CPU_SHARE"] = "none"
    numbers, load0 = {}, os.getloadavg()
    for mode in ("default", "limited"):
        cmd = [sys.executable, __file__, "--workspace", str(args.workspace), "--steps", str(args.steps), "--mode", mode]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        numbers[mode] = json.loads(out.strip().splitlines()[-1])
        print(f"{mode}: {numbers[mode]}", flush=True)
    numbers["speedup_limited_over_default"] = round(
        numbers["limited"]["steps_per_s"] / numbers["default"]["steps_per_s"], 1
    )
    run = {"steps": args.steps, "load_average_start": load0, "load_average_end": os.getloadavg()}
    write_result("cfrl_threads", run, numbers)


if __name__ == "__main__":
    main()
