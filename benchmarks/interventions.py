"""Interventions benchmark: counterfactuals per second (batched) and the 1M x 5 scenario sweep.

    .venv/bin/python benchmarks/interventions.py --workspace DIR [--customers 1000000] [--cf-rows 2000]

DIR is a workspace whose stages ran up to `fit_counterfactual` (models/base, models/interventions,
data/features), e.g. the repository itself after `make run`. Writes benchmarks/results/interventions.json.
- Counterfactuals: alibi CFRL batched (one forward pass per condition group) vs the DiCE backend
  (MIT, one customer at a time) on the same customers; the ratio is reported.
- Sweep: a fresh synthetic world of --customers (churnguard.world.generate_world), its feature
  table (click-stream aggregation skipped with --no-events to bound memory; the sweep's cost does not
  depend on those values: absent columns are scored as missing), then every scenario for every
  customer in --shards shards run one after another, plus the merge and the budget allocation.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench_counterfactuals(ws: Path, rows: int, dice_rows: int) -> dict:
    import pandas as pd

    from churnguard.interventions.counterfactual import CounterfactualExplainer, DiceBackend, load_explainer
    from churnguard.models.tabular import load_part

    base = load_part(ws / "models" / "base")
    ex = load_explainer(ws / "models" / "interventions", base)
    feats = pd.read_parquet(ws / "data" / "features" / "customers.parquet")
    risky = feats[base.predict_proba(feats) >= ex.threshold]
    sample = risky.sample(rows, replace=len(risky) < rows, random_state=0).reset_index(drop=True)
    ex.explain_frame(sample.head(50))  # warm-up
    t0, c0 = time.perf_counter(), _cpu()
    proposal = ex.backend.propose(sample)
    backend_s, backend_cpu = time.perf_counter() - t0, _cpu() - c0
    # the whole call as a caller sees it: scoring before/after, backend, projection, repair, bookkeeping
    t0, c0 = time.perf_counter(), _cpu()
    _, stats = ex.explain_frame(sample)
    full_s, full_cpu = time.perf_counter() - t0, _cpu() - c0
    out = {
        "rows": rows,
        "backend": ex.backend.name,
        "backend_only_per_second": round(rows / backend_s, 1),
        "backend_only_cpu_s": round(backend_cpu, 3),
        "backend_only_per_cpu_second": round(rows / backend_cpu, 1),
        "full_wall_s": round(full_s, 3),
        "full_cpu_s": round(full_cpu, 3),
        "full_per_second": round(stats["explained"] / full_s, 1),
        "full_per_cpu_second": round(stats["explained"] / full_cpu, 1),
        "explained": stats["explained"],
        "repaired": stats["repaired"],
        "validity": stats["validity"],
        "validity_backend_alone": stats["validity_backend_alone"],
        "immutable_changes": stats["immutable_changes"],
        "sparsity": stats["sparsity_mean_changed_features"],
    }
    assert len(proposal) == rows
    # DiCE (MIT) on the same kind of customers, one at a time.
    from churnguard.interventions.config import DiceConfig

    cfg = DiceConfig(method="random", data_rows=2000)
    train = feats[feats["split"] == "train"]
    dice = CounterfactualExplainer(
        ex.space, DiceBackend.fit(ex.space, ex.predictor, train, cfg, 0), ex.threshold, use_repair=False
    )
    _, dstats = dice.explain_frame(sample.head(dice_rows))
    out.update(
        {
            "dice_rows": dice_rows,
            "dice_per_second": round(dstats["explained"] / dstats["seconds"], 2),
            "dice_validity": dstats["validity"],
            "dice_sparsity": dstats["sparsity_mean_changed_features"],
            "dice_immutable_changes": dstats["immutable_changes"],
        }
    )
    out["ratio_cfrl_batched_to_dice"] = round(out["backend_only_per_second"] / max(out["dice_per_second"], 1e-9), 1)
    return out


def bench_sweep(ws: Path, customers: int, shards: int, keep: Path | None, events: bool) -> dict:
    import pandas as pd
    import yaml

    from churnguard.features.table import build_feature_table
    from churnguard.interventions.config import sweep_config
    from churnguard.interventions.part import load_part as load_interventions
    from churnguard.interventions.sweep import allocate_sweep, read_sweep, run_shard
    from churnguard.world import generate_world

    params = yaml.safe_load((ws / "params.yaml").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="cg_bench_iv_")) if keep is None else keep
    numbers: dict = {"customers_generated": customers, "shards": shards}
    try:
        cfg = copy.deepcopy(params["world"])
        cfg["customers"] = customers
        t0 = time.perf_counter()
        generate_world(cfg, int(params["data"]["seed"]), tmp / "raw", tmp / "truth", progress=False)
        numbers["generate_s"] = round(time.perf_counter() - t0, 1)
        if not events:
            (tmp / "raw" / "events.parquet").unlink()
        pd.read_parquet(tmp / "raw" / "customers.parquet").to_parquet(tmp / "validated.parquet")
        t0 = time.perf_counter()
        table, _ = build_feature_table(
            tmp / "validated.parquet",
            tmp / "raw",
            params["data"],
            params["features"],
            params["world"]["observation_date"] if events else None,
        )
        numbers["features_s"] = round(time.perf_counter() - t0, 1)
        numbers["customers_swept"] = len(table)
        part = load_interventions(ws / "models" / "interventions")
        out = tmp / "sweep"
        t0, c0 = time.perf_counter(), _cpu()
        per_shard = []
        for i in range(shards):
            s0 = time.perf_counter()
            run_shard(part, table, i, shards, out, int(params["sweep"].get("chunk_rows", 200_000)))
            per_shard.append(round(time.perf_counter() - s0, 1))
        numbers["sweep_s"] = round(time.perf_counter() - t0, 1)
        numbers["sweep_cpu_s"] = round(_cpu() - c0, 1)
        numbers["per_shard_s"] = per_shard
        t0, c0 = time.perf_counter(), _cpu()
        swept = read_sweep(out)
        alloc = allocate_sweep(swept, sweep_config(params["sweep"]))
        numbers["merge_and_allocate_s"] = round(time.perf_counter() - t0, 1)
        numbers["merge_and_allocate_cpu_s"] = round(_cpu() - c0, 1)
        numbers["rows"] = len(swept)
        numbers["scenarios"] = int(swept["offer"].nunique())
        numbers["offers_planned"] = int((alloc["offer"] != "none").sum())
        numbers["sweep_plus_allocation_minutes"] = round((numbers["sweep_s"] + numbers["merge_and_allocate_s"]) / 60, 2)
        numbers["sweep_plus_allocation_cpu_minutes"] = round(
            (numbers["sweep_cpu_s"] + numbers["merge_and_allocate_cpu_s"]) / 60, 2
        )
        numbers["load_average_after_sweep"] = os.getloadavg()
        numbers["goal_minutes"] = 10
        numbers["meets_goal"] = numbers["sweep_plus_allocation_minutes"] <= 10
        numbers["click_events_used"] = events
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return numbers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--workspace", type=Path, default=Path(os.environ.get("CHURNGUARD_HOME", Path(__file__).resolve().parents[1]))
    )
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--cf-rows", type=int, default=2000)
    ap.add_argument("--dice-rows", type=int, default=10)
    ap.add_argument("--events", action="store_true", help="also aggregate click events for the sweep's features")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated world here")
    args = ap.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # alibi prints a progress bar per explain call
    load_at_start = os.getloadavg()
    import torch

    torch.set_num_threads(1)
    from churnguard.core.benchmarking import write_result

    numbers = {"counterfactuals": bench_counterfactuals(args.workspace, args.cf_rows, args.dice_rows)}
    print(numbers, flush=True)
    if not args.skip_sweep:
        numbers["sweep"] = bench_sweep(args.workspace, args.customers, args.shards, args.keep, args.events)
    numbers["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    numbers["load_average_at_start"] = load_at_start
    numbers["load_average_at_end"] = os.getloadavg()
    write_result(
        "interventions",
        {
            "workspace": str(args.workspace),
            "customers": args.customers,
            "shards": args.shards,
            "cf_rows": args.cf_rows,
            "note": "2-core machine shared with other sessions: wall times include contention; "
            "cpu seconds are this process's own",
        },
        numbers,
    )


if __name__ == "__main__":
    main()
