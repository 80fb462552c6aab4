"""Monitoring benchmark (issue #18): the moving world's scenarios over several seeds, the frozen champion
beside the adaptive system, measured against the truth.

Per world (``generate_timeline``: month 0 = the project's world, then ``--months`` monthly snapshots):
- the champion is the base model (hist gradient boosting, train_base's settings) fitted on month 0's
  train split; its reference is those rows, its reference ROC AUC its month-0 holdout;
- every month runs the nightly cycle (``run_cycle``: drift with BH control, CBPE estimate, early
  outcomes of last month's cohort, realised AUC of the newest matured cohort) for the frozen champion
  and for the adaptive system's current champion;
- adaptive: a retrain decision names the cohort that carried the evidence (drift: tonight's snapshot,
  early outcomes: last month's, realised AUC: the matured one). Once that cohort's labels matured
  (two months later) a challenger is fitted on its train split and promoted only through the
  registry's gates (``register.gates``, ``min_customers`` included) and the fair comparison with the
  champion on the same holdout rows (``register.champion_tolerance``), as ``churnguard promote`` does;
- measured each month against the truth: realised ROC AUC of both systems, the oracle's (true
  probabilities) and the CBPE estimate of both.

Writes benchmarks/results/<name>.json and <name>.md. Run (multi-seed runs take the heavy lock):
``flock /tmp/churnguard-heavy.lock nice .venv/bin/python benchmarks/monitoring.py --seeds 1-5 --name monitoring_dev``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.monitoring_summary import compare_estimators, markdown, summarise
from churnguard.core.benchmarking import RESULTS, write_result
from churnguard.core.config import load_params
from churnguard.core.metrics import classification_metrics
from churnguard.core.truth import load_truth
from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.features.table import NON_FEATURES, FeatureSchema
from churnguard.mlops.registry import check_gates
from churnguard.models.tabular import BaseModel, make_candidate, prepare
from churnguard.monitoring import data, performance
from churnguard.monitoring.config import MonitorConfig, monitor_config
from churnguard.monitoring.decision import MonitorResult
from churnguard.monitoring.monitor import Cohort, run_cycle
from churnguard.world.rolling import generate_timeline
from churnguard.world.timeline import LABEL_MONTHS, SCENARIOS

FAMILY = "hist_gradient_boosting"


@dataclass
class World:
    """One simulated timeline, read once: feature tables, first-month churners, oracle ROC AUC."""

    root: Path
    tables: dict[int, pd.DataFrame]
    churned: dict[int, np.ndarray | None]
    oracle_auc: dict[int, float]
    affected: dict[int, int]  # customers the concept shift touches (truth; evaluation only)
    cache: dict[tuple[int, int], tuple[BaseModel, np.ndarray]] = field(default_factory=dict)

    def scores(self, model: BaseModel, month: int) -> np.ndarray:
        """The model's scores of one month's table, computed once (a month is scored by every later
        cycle: tonight's snapshot, then last month's, then the matured one). The entry keeps the model
        alive, so its id cannot be reused by a later model."""
        key = (id(model), month)
        if key not in self.cache:
            self.cache[key] = (model, model.predict_proba(self.tables[month]))
        return self.cache[key][1]


@dataclass
class Champion:
    model: BaseModel
    reference: Cohort
    reference_auc: float
    trained_on: int  # month of the cohort it was fitted on


def read_world(root: Path, months: int, params: dict[str, Any]) -> World:
    tables = {m: data.features(root, m, params["data"], params["features"]) for m in range(months + 1)}
    churned = {m: data.churned_next_month(root, m, t[ID]) for m, t in tables.items()}
    oracle, affected = {}, {}
    for m, t in tables.items():
        truth = load_truth(data.month_dir(root, m) / "truth").loc[t[ID]]
        oracle[m] = float(performance.realised_roc_auc(t[LABEL].to_numpy(), truth["p_received"].to_numpy()) or 0.0)
        affected[m] = int(truth["concept_affected"].sum()) if "concept_affected" in truth else 0
    return World(root, tables, churned, oracle, affected)


def schema_of(table: pd.DataFrame) -> FeatureSchema:
    feats = [c for c in table.columns if c not in NON_FEATURES]
    cat = [c for c in feats if table[c].dtype == object]
    return FeatureSchema(numeric=[c for c in feats if c not in cat], categorical=cat, sources=[], skipped={})


def fit(table: pd.DataFrame, params: dict[str, Any], seed: int, month: int) -> Champion:
    """The base model on one cohort's train split (train_base's tree settings, no CV: one family)."""
    schema = schema_of(table)
    rows = table[table[SPLIT] == "train"]
    pipeline = make_candidate(FAMILY, schema, params["train_base"].get(FAMILY, {}), seed)
    model = BaseModel(pipeline.fit(prepare(rows, schema), rows[LABEL].to_numpy()), schema, FAMILY)
    hold = table[table[SPLIT] == "holdout"]
    auc = performance.realised_roc_auc(hold[LABEL].to_numpy(), model.predict_proba(hold))
    return Champion(model, Cohort(rows, model.predict_proba(rows)), float(auc or 0.5), month)


def promotion(challenger: Champion, champion: Champion, table: pd.DataFrame, register: dict[str, Any]) -> list[str]:
    """Reasons the challenger may not become champion (empty: promote): the registry's gates on the
    cohort's holdout, then the fair comparison with the champion on the same rows."""
    hold = table[table[SPLIT] == "holdout"]
    y = hold[LABEL].to_numpy()
    metrics = {**classification_metrics(y, challenger.model.predict_proba(hold)), "customers": float(len(table))}
    reasons = check_gates(metrics, register["gates"]).reasons
    champion_auc = performance.realised_roc_auc(y, champion.model.predict_proba(hold)) or 0.0
    if metrics["roc_auc"] < champion_auc - float(register["champion_tolerance"]):
        reasons.append(f"holdout ROC AUC {metrics['roc_auc']:.4f} < champion {champion_auc:.4f}")
    return reasons


def cycle(world: World, m: int, champ: Champion, cfg: MonitorConfig) -> MonitorResult:
    """The nightly cycle of month ``m`` for one champion (what `churnguard monitor` computes)."""
    model, tables = champ.model, world.tables
    current = Cohort(tables[m], world.scores(model, m))
    previous = Cohort(tables[m - 1], world.scores(model, m - 1), world.churned[m - 1])
    matured = None
    if m >= LABEL_MONTHS:
        t = tables[m - LABEL_MONTHS]
        matured = Cohort(t, world.scores(model, m - LABEL_MONTHS), labels=t[LABEL].to_numpy())
    schema = model.schema
    return run_cycle(
        champ.reference, current, previous, matured, schema.numeric, schema.categorical, cfg, champ.reference_auc, m
    )


def evidence_month(result: MonitorResult, m: int) -> int:
    """The oldest cohort that carried this night's evidence (its labels are what a retrain needs)."""
    months = []
    if result.drift_alarm or any(r.startswith("estimated") for r in result.reasons):
        months.append(m)
    if any(s.alarmed for s in result.early_outcomes):
        months.append(m - 1)
    if any(r.startswith("realised") for r in result.reasons):
        months.append(m - LABEL_MONTHS)
    return min(months) if months else m


def estimates(system: str, result: MonitorResult) -> dict[str, float]:
    """The CBPE estimate and its two corrections on the matured cohort (the raw one before any matured)."""
    raw = result.estimated_auc
    return {
        f"{system}_estimated_auc": raw,
        f"{system}_estimated_auc_offset": raw if result.estimated_auc_offset is None else result.estimated_auc_offset,
        f"{system}_estimated_auc_recalibrated": raw
        if result.estimated_auc_recalibrated is None
        else result.estimated_auc_recalibrated,
    }


def month_row(world: World, m: int, frozen: MonitorResult, adaptive: MonitorResult, models: dict) -> dict[str, Any]:
    table = world.tables[m]
    y = table[LABEL].to_numpy()
    auc = {k: performance.realised_roc_auc(y, world.scores(c.model, m)) for k, c in models.items()}
    return {
        "month": m,
        "frozen_alarm": frozen.drift_alarm or frozen.performance_alarm,
        "drift_alarm": frozen.drift_alarm,
        "performance_alarm": frozen.performance_alarm,
        "adaptive_alarm": adaptive.drift_alarm or adaptive.performance_alarm,
        "adaptive_retrain": adaptive.retrain,
        "features_alarmed": frozen.features_alarmed,
        "segments_alarmed": [
            {"segment": s.segment, "n": s.n, "observed": s.observed, "expected": s.expected}
            for s in frozen.early_outcomes
            if s.alarmed
        ],
        "reasons": frozen.reasons[:4],
        "frozen_auc": auc["frozen"],
        "adaptive_auc": auc["adaptive"],
        "oracle_auc": world.oracle_auc[m],
        **estimates("frozen", frozen),
        **estimates("adaptive", adaptive),
        "champion_trained_on": models["adaptive"].trained_on,
        "concept_affected": world.affected[m],
    }


def run_world(world: World, params: dict[str, Any], cfg: MonitorConfig, seed: int, months: int) -> dict[str, Any]:
    frozen = adaptive = fit(world.tables[0], params, seed, 0)
    pending: int | None = None  # evidence cohort waiting for its labels
    rows, promotions = [], []
    for m in range(1, months + 1):
        if pending is not None and m >= pending + LABEL_MONTHS:
            challenger = fit(world.tables[pending], params, seed, pending)
            refused = promotion(challenger, adaptive, world.tables[pending], params["register"])
            promotions.append({"month": m, "cohort": pending, "promoted": not refused, "reasons": refused})
            adaptive = adaptive if refused else challenger
            pending = None
        frozen_result = cycle(world, m, frozen, cfg)
        adaptive_result = frozen_result if adaptive is frozen else cycle(world, m, adaptive, cfg)
        if adaptive_result.retrain and pending is None:
            evidence = evidence_month(adaptive_result, m)
            pending = evidence if evidence > adaptive.trained_on else None
        rows.append(month_row(world, m, frozen_result, adaptive_result, {"frozen": frozen, "adaptive": adaptive}))
    return {"seed": seed, "months": rows, "promotions": promotions}


def seeds(spec: str) -> list[int]:
    """``1-5`` or ``7001,7003``."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1-5", help="world seeds, e.g. 1-5 or 7001,7002 (default 1-5)")
    ap.add_argument("--customers", type=int, default=50000, help="world size (default 50000, the project's)")
    ap.add_argument("--months", type=int, default=12, help="simulated months after month 0 (default 12)")
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=SCENARIOS)
    ap.add_argument("--name", default="monitoring", help="results file stem (default monitoring)")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite <name>.md from <name>.json, run nothing")
    args = ap.parse_args()
    if args.markdown_only:
        stored = json.loads((RESULTS / f"{args.name}.json").read_text())
        (RESULTS / f"{args.name}.md").write_text(markdown(stored["numbers"], stored["run"]))
        return
    params = load_params()
    params["world"]["customers"] = args.customers
    cfg = monitor_config(params["monitor"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    numbers: dict[str, Any] = {"estimator": cfg.estimator, "scenarios": {}, "per_seed": {}}
    for scenario in args.scenarios:
        runs = []
        for seed in seeds(args.seeds):
            with tempfile.TemporaryDirectory(prefix="churnguard-monitoring-") as tmp:
                generate_timeline(params["world"], seed, cfg.timeline, scenario, args.months, Path(tmp))
                runs.append(run_world(read_world(Path(tmp), args.months, params), params, cfg, seed, args.months))
            alarms = [r["month"] for r in runs[-1]["months"] if r["frozen_alarm"]]
            print(
                f"[{time.perf_counter() - t0:7.0f} s] {scenario} seed {seed}: frozen alarms in months {alarms}; "
                f"promotions {[(p['month'], p['promoted']) for p in runs[-1]['promotions']]}",
                flush=True,
            )
        numbers["scenarios"][scenario] = summarise(scenario, runs, cfg)
        numbers["per_seed"][scenario] = runs
    numbers["estimator_choice"] = compare_estimators(numbers["per_seed"])
    run = {
        "seeds": args.seeds,
        "customers": args.customers,
        "months": args.months,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    write_result(args.name, run, numbers)
    (RESULTS / f"{args.name}.md").write_text(markdown(numbers, run))
    print(f"done: {len(args.scenarios)} scenarios x {len(seeds(args.seeds))} seeds in {run['seconds']} s")


if __name__ == "__main__":
    main()
