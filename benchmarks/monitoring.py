"""Monitoring benchmark: the moving world's scenarios over several seeds, a frozen champion beside the
adaptive system (monitor -> retrain on the alarm's matured cohort), measured against the truth.

Writes benchmarks/results/monitoring.json and monitoring.md (the table of docs/monitoring.md).
Run: ``nice -n 10 .venv/bin/python benchmarks/monitoring.py [--seeds 5] [--customers 12000] [--months 12]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.core.benchmarking import RESULTS, write_result
from churnguard.core.config import load_params
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import FeatureSchema
from churnguard.models.tabular import select_and_fit
from churnguard.monitoring import data, performance
from churnguard.monitoring.monitor import Cohort, run_cycle
from churnguard.world.rolling import generate_timeline
from churnguard.world.timeline import SCENARIOS


def schema_of(table: pd.DataFrame) -> FeatureSchema:
    from churnguard.features.table import NON_FEATURES

    feats = [c for c in table.columns if c not in NON_FEATURES]
    cat = [c for c in feats if table[c].dtype == object]
    return FeatureSchema(numeric=[c for c in feats if c not in cat], categorical=cat, sources=[], skipped={})


def train(table: pd.DataFrame, params: dict, seed: int):
    """The base model as train_base fits it (one family, to keep the benchmark affordable)."""
    schema = schema_of(table)
    rows = table[table[SPLIT] == "train"]
    cfg = {**params["train_base"], "candidates": ["hist_gradient_boosting"], "cv_folds": 2}
    model, _cv = select_and_fit(rows, rows[LABEL].to_numpy(), schema, cfg, seed)
    hold = table[table[SPLIT] == "holdout"]
    auc = performance.realised_roc_auc(hold[LABEL].to_numpy(), model.predict_proba(hold))
    return model, schema, auc, Cohort(rows, model.predict_proba(rows))


def oracle_auc(root: Path, month: int, table: pd.DataFrame) -> float:
    from churnguard.core.truth import load_truth

    p = load_truth(data.month_dir(root, month) / "truth", ["customer_id", "p_received"]).loc[
        table["customer_id"], "p_received"
    ]
    return performance.realised_roc_auc(table[LABEL].to_numpy(), p.to_numpy())


def run_world(root: Path, params: dict, seed: int, months: int) -> list[dict]:
    cfg = params["monitor"]
    tables = {m: data.features(root, m, params["data"], params["features"]) for m in range(months + 1)}
    frozen, schema, ref_auc, reference = train(tables[0], params, seed)
    adaptive, a_ref, a_reference, pending = frozen, ref_auc, reference, None
    rows = []
    for m in range(1, months + 1):
        if pending is not None and m >= pending + data_label_months():
            adaptive, _s, a_ref, a_reference = train(tables[pending], params, seed)
            rows[-1]["retrained_for_next"] = pending
            pending = None
        cycle = _cycle(root, tables, m, adaptive, a_reference, schema, cfg, a_ref)
        frozen_cycle = cycle if adaptive is frozen else _cycle(root, tables, m, frozen, reference, schema, cfg, ref_auc)
        if cycle.retrain and pending is None and adaptive is frozen:
            pending = m - 1  # the cohort whose outcomes raised the alarm; trained on once matured
        y = tables[m][LABEL].to_numpy()
        rows.append(
            {
                "month": m,
                "alarm": cycle.drift_alarm or cycle.performance_alarm,
                "frozen_alarm": frozen_cycle.drift_alarm or frozen_cycle.performance_alarm,
                "drift_alarm": frozen_cycle.drift_alarm,
                "performance_alarm": frozen_cycle.performance_alarm,
                "features_alarmed": frozen_cycle.features_alarmed,
                "reasons": frozen_cycle.reasons[:3],
                "frozen_auc": performance.realised_roc_auc(y, frozen.predict_proba(tables[m])),
                "frozen_estimated_auc": frozen_cycle.estimated_auc,
                "adaptive_auc": performance.realised_roc_auc(y, adaptive.predict_proba(tables[m])),
                "oracle_auc": oracle_auc(root, m, tables[m]),
            }
        )
    return rows


def data_label_months() -> int:
    from churnguard.world.timeline import LABEL_MONTHS

    return LABEL_MONTHS


def _cycle(root, tables, m, model, reference, schema, cfg, ref_auc):
    current = Cohort(tables[m], model.predict_proba(tables[m]))
    prev = tables[m - 1]
    previous = Cohort(prev, model.predict_proba(prev), data.churned_next_month(root, m - 1, prev["customer_id"]))
    matured = None
    if m >= 2:
        t = tables[m - 2]
        matured = Cohort(t, model.predict_proba(t), labels=t[LABEL].to_numpy())
    return run_cycle(reference, current, previous, matured, schema.numeric, schema.categorical, cfg, ref_auc, m)


def summarise(scenario: str, runs: list[list[dict]], start: int | None) -> dict:
    out: dict = {"seeds": len(runs)}
    out["any_alarm_share"] = float(np.mean([any(r["frozen_alarm"] for r in rows) for rows in runs]))
    errors = [
        abs(r["frozen_estimated_auc"] - r["frozen_auc"])
        for rows in runs
        for r in rows
        if start is None or scenario != "concept_shift" or r["month"] < start
    ]
    out["estimate_abs_error_mean"] = float(np.mean(errors))
    out["estimate_abs_error_max"] = float(np.max(errors))
    out["estimate_within_0.02_share"] = float(np.mean(np.array(errors) <= 0.02))
    out["frozen_auc_ratio_to_oracle"] = _by_month(runs, "frozen_auc")
    out["adaptive_auc_ratio_to_oracle"] = _by_month(runs, "adaptive_auc")
    if start is not None:
        firsts = [next((r["month"] for r in rows if r["frozen_alarm"] and r["month"] >= start), None) for rows in runs]
        early = [any(r["frozen_alarm"] for r in rows if r["month"] < start) for rows in runs]
        out["alarm_before_change_share"] = float(np.mean(early))
        out["detected_share"] = float(np.mean([f is not None for f in firsts]))
        out["detection_delay_days"] = [None if f is None else (f - start) * 30 for f in firsts]
        retrained = [next((r["month"] + 1 for r in rows if "retrained_for_next" in r), None) for rows in runs]
        out["retrained_in_month"] = retrained
        after = [
            r["adaptive_auc"] / r["oracle_auc"]
            for rows, k in zip(runs, retrained)
            if k
            for r in rows
            if r["month"] >= k
        ]
        out["adaptive_ratio_after_retrain_min"] = float(np.min(after)) if after else None
        out["adaptive_ratio_after_retrain_mean"] = float(np.mean(after)) if after else None
        frozen_after = [
            r["frozen_auc"] / r["oracle_auc"] for rows, k in zip(runs, retrained) if k for r in rows if r["month"] >= k
        ]
        out["frozen_ratio_same_months_mean"] = float(np.mean(frozen_after)) if frozen_after else None
    return out


def _by_month(runs, key) -> list[float]:
    months = len(runs[0])
    return [round(float(np.mean([rows[i][key] / rows[i]["oracle_auc"] for rows in runs])), 4) for i in range(months)]


def markdown(numbers: dict) -> str:
    lines = [
        "| scenario | seeds | any alarm (share of seeds) | detection delay (days) | estimate − realised AUC, mean / max abs | frozen / oracle AUC after retrain | adaptive / oracle AUC after retrain (mean, min) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in numbers["scenarios"].items():
        delay = s.get("detection_delay_days", "–")
        fz, ad = s.get("frozen_ratio_same_months_mean"), s.get("adaptive_ratio_after_retrain_mean")
        lines.append(
            f"| {name} | {s['seeds']} | {s['any_alarm_share']:.2f} | {delay} | "
            f"{s['estimate_abs_error_mean']:.4f} / {s['estimate_abs_error_max']:.4f} | "
            f"{'–' if fz is None else f'{fz:.3f}'} | "
            f"{'–' if ad is None else _pair(ad, s['adaptive_ratio_after_retrain_min'])} |"
        )
    return "\n".join(lines) + "\n"


def _pair(a: float, b: float) -> str:
    return f"{a:.3f}, {b:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--customers", type=int, default=12000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    args = ap.parse_args()
    params = load_params()
    params["world"]["customers"] = args.customers
    t0 = time.perf_counter()
    numbers: dict = {"scenarios": {}, "per_seed": {}}
    for scenario in args.scenarios:
        runs = []
        for seed in range(1, args.seeds + 1):
            with tempfile.TemporaryDirectory() as tmp:
                generate_timeline(
                    params["world"], seed, params["monitor"]["timeline"], scenario, args.months, Path(tmp)
                )
                runs.append(run_world(Path(tmp), params, seed, args.months))
            print(
                f"{scenario} seed {seed}: alarms at months {[r['month'] for r in runs[-1] if r['frozen_alarm']]}",
                flush=True,
            )
        start = params["monitor"]["timeline"]["scenarios"].get(scenario, {}).get("start")
        numbers["scenarios"][scenario] = summarise(scenario, runs, start if scenario != "stable" else None)
        numbers["per_seed"][scenario] = runs
    run = {
        "seeds": args.seeds,
        "customers": args.customers,
        "months": args.months,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_result("monitoring", run, numbers)
    (RESULTS / "monitoring.md").write_text(markdown(numbers))


if __name__ == "__main__":
    main()
