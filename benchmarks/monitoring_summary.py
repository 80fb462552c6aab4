"""Summary of benchmarks/monitoring.py's worlds: the acceptance numbers of issue #18 over seeds
(mean, spread, worst world), and the markdown table docs/monitoring.md quotes."""

from __future__ import annotations

from typing import Any

import numpy as np

from churnguard.monitoring.config import MonitorConfig
from churnguard.world.timeline import MONTH_DAYS

TOLERANCE = 0.02  # the estimate must track realised ROC AUC within this (issue #18)
TARGET = 0.97  # adaptive champion / oracle ROC AUC after the retrain
# params monitor.estimator -> suffix of the benchmark's columns: CBPE raw, and corrected on the newest
# matured cohort (offset: + realised - CBPE there; recalibrated: isotonic on its scores and labels)
ESTIMATORS = {"cbpe": "", "offset": "_offset", "recalibrated": "_recalibrated"}
VARIANTS = tuple(ESTIMATORS.values())
# the headline is chosen on development seeds by this rule, fixed before the comparison was run: the
# largest share of world-months within TOLERANCE of the realised ROC AUC, pooled over these scenarios
# and both systems (frozen and adaptive champion); ties broken by the smaller mean abs error
CHOICE_SCENARIOS = ("stable", "covariate_shift")
SYSTEMS = ("frozen", "adaptive", "oracle")


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    v = np.asarray(values, float)
    return {
        "mean": round(float(v.mean()), 4),
        "sd": round(float(v.std()), 4),
        "min": round(float(v.min()), 4),
        "max": round(float(v.max()), 4),
        "n": int(v.size),
    }


def estimate_errors(
    runs: list[dict], system: str, months: range | None = None, variant: str = ""
) -> dict[str, Any] | None:
    """|CBPE estimate - realised ROC AUC| of one system's champion, per world-month (``variant``:
    "" raw, "_offset" or "_recalibrated": corrected on the newest matured cohort)."""
    key = f"{system}_estimated_auc{variant}"
    err = [
        abs(r[key] - r[f"{system}_auc"])
        for run in runs
        for r in run["months"]
        if months is None or r["month"] in months
    ]
    if not err:
        return None
    out = _stats(err) or {}
    out["within_tolerance_share"] = round(float(np.mean(np.asarray(err) <= TOLERANCE)), 4)
    out["worst_world_max"] = round(
        max(
            max(abs(r[key] - r[f"{system}_auc"]) for r in run["months"] if months is None or r["month"] in months)
            for run in runs
        ),
        4,
    )
    return out


def compare_estimators(per_seed: dict[str, list[dict]]) -> dict[str, Any]:
    """Each estimator's abs error pooled as CHOICE_SCENARIOS describes, and the one the rule picks."""
    pooled = {}
    for name, suffix in ESTIMATORS.items():
        err = [
            abs(r[f"{system}_estimated_auc{suffix}"] - r[f"{system}_auc"])
            for scenario in CHOICE_SCENARIOS
            for run in per_seed.get(scenario, [])
            for r in run["months"]
            for system in ("frozen", "adaptive")
        ]
        if err:
            pooled[name] = {
                **(_stats(err) or {}),
                "within_tolerance_share": round(float(np.mean(np.asarray(err) <= TOLERANCE)), 4),
            }
    best = min(pooled, key=lambda k: (-pooled[k]["within_tolerance_share"], pooled[k]["mean"])) if pooled else None
    return {"scenarios": [s for s in CHOICE_SCENARIOS if s in per_seed], "pooled": pooled, "rule_picks": best}


def ratio_by_month(runs: list[dict], system: str) -> list[dict[str, float]]:
    """Per month: mean and worst world of the system's ROC AUC over the oracle's."""
    out = []
    for i, first in enumerate(runs[0]["months"]):
        ratios = [run["months"][i][f"{system}_auc"] / run["months"][i]["oracle_auc"] for run in runs]
        out.append(
            {"month": first["month"], "mean": round(float(np.mean(ratios)), 4), "min": round(float(np.min(ratios)), 4)}
        )
    return out


def alarms(runs: list[dict], start: int | None) -> dict[str, Any]:
    first = [next((r["month"] for r in run["months"] if r["frozen_alarm"]), None) for run in runs]
    out: dict[str, Any] = {
        "no_alarm_share": round(float(np.mean([f is None for f in first])), 4),
        "no_drift_alarm_share": round(
            float(np.mean([not any(r["drift_alarm"] for r in run["months"]) for run in runs])), 4
        ),
        "alarm_months": [[r["month"] for r in run["months"] if r["frozen_alarm"]] for run in runs],
    }
    if start is None:
        return out
    out["alarm_before_change_share"] = round(
        float(np.mean([any(r["frozen_alarm"] for r in run["months"] if r["month"] < start) for run in runs])), 4
    )
    detected = [next((r for r in run["months"] if r["frozen_alarm"] and r["month"] >= start), None) for run in runs]
    out["detected_share"] = round(float(np.mean([d is not None for d in detected])), 4)
    out["detection_delay_days"] = [None if d is None else (d["month"] - start) * MONTH_DAYS for d in detected]
    out["evidence_at_detection"] = [
        None
        if d is None
        else {
            "month": d["month"],
            "reasons": d["reasons"],
            "segments": d["segments_alarmed"],
            "features": d["features_alarmed"],
            "affected_at_start": run["months"][start - 1]["concept_affected"],
        }
        for d, run in zip(detected, runs)
    ]
    return out


def after_retrain(runs: list[dict], start: int) -> dict[str, Any]:
    """The adaptive champion from its first promotion on, beside the frozen one in the same months."""
    promoted = [next((p["month"] for p in run["promotions"] if p["promoted"]), None) for run in runs]
    adaptive, frozen, worst = [], [], []
    for run, k in zip(runs, promoted):
        if k is None:
            continue
        rows = [r for r in run["months"] if r["month"] >= k]
        adaptive += [r["adaptive_auc"] / r["oracle_auc"] for r in rows]
        frozen += [r["frozen_auc"] / r["oracle_auc"] for r in rows]
        worst.append(min(r["adaptive_auc"] / r["oracle_auc"] for r in rows))
    return {
        "promoted_share": round(float(np.mean([k is not None for k in promoted])), 4),
        "promoted_in_month": promoted,
        "days_from_change_to_promotion": [None if k is None else (k - start) * MONTH_DAYS for k in promoted],
        "refusals": [p for run in runs for p in run["promotions"] if not p["promoted"]],
        "adaptive_ratio": _stats(adaptive),
        "frozen_ratio_same_months": _stats(frozen),
        "adaptive_ratio_worst_world_min": round(min(worst), 4) if worst else None,
        "adaptive_at_target_share": round(float(np.mean(np.asarray(adaptive) >= TARGET)), 4) if adaptive else None,
    }


def auc_by_month(runs: list[dict]) -> list[dict[str, float]]:
    """Per month: mean ROC AUC of the frozen and the adaptive champion and of the oracle."""
    return [
        {
            "month": first["month"],
            **{k: round(float(np.mean([run["months"][i][f"{k}_auc"] for run in runs])), 4) for k in SYSTEMS},
        }
        for i, first in enumerate(runs[0]["months"])
    ]


def summarise(scenario: str, runs: list[dict], cfg: MonitorConfig) -> dict[str, Any]:
    start = None if scenario == "stable" else getattr(cfg.timeline.scenarios, scenario).start
    months = [r["month"] for r in runs[0]["months"]]
    out: dict[str, Any] = {"seeds": [run["seed"] for run in runs], "months": len(months)}
    out["alarms"] = alarms(runs, start)
    for variant in VARIANTS:
        for system in ("frozen", "adaptive"):
            out[f"estimate_error_{system}{variant}"] = estimate_errors(runs, system, variant=variant)
        if start is not None:
            before, after = range(0, start), range(start, max(months) + 1)
            out[f"estimate_error_frozen{variant}_before_change"] = estimate_errors(runs, "frozen", before, variant)
            out[f"estimate_error_frozen{variant}_after_change"] = estimate_errors(runs, "frozen", after, variant)
    out["after_retrain"] = after_retrain(runs, start) if start is not None else None
    out["frozen_ratio_by_month"] = ratio_by_month(runs, "frozen")
    out["adaptive_ratio_by_month"] = ratio_by_month(runs, "adaptive")
    out["auc_by_month"] = auc_by_month(runs)
    return out


def _fmt(stats: dict[str, Any] | None, key: str = "mean") -> str:
    return "–" if not stats else f"{stats[key]:.4f}"


def _err(e: dict[str, Any] | None) -> str:
    return "–" if not e else f"{e['mean']:.4f} / {e['worst_world_max']:.4f} / {e['within_tolerance_share']:.0%}"


def _headline_table(numbers: dict[str, Any], suffix: str) -> list[str]:
    lines = [
        "| scenario | no alarm (share of seeds) | detection delay (days) | headline estimate abs error mean / worst"
        " world / share of months within 0.02 | days change -> promotion | frozen / oracle after retrain |"
        " adaptive / oracle after retrain (mean, worst) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in numbers["scenarios"].items():
        err = s[f"estimate_error_frozen{suffix}" + ("_before_change" if name == "concept_shift" else "")]
        after = s.get("after_retrain") or {}
        lines.append(
            f"| {name} | {s['alarms']['no_alarm_share']:.2f} | {s['alarms'].get('detection_delay_days', '–')} | "
            f"{_err(err)} | {after.get('days_from_change_to_promotion', '–')} | "
            f"{_fmt(after.get('frozen_ratio_same_months'))} | "
            f"{_fmt(after.get('adaptive_ratio'))}, {after.get('adaptive_ratio_worst_world_min', '–')} |"
        )
    return lines


def _estimator_table(numbers: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | champion, months | " + " | ".join(ESTIMATORS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ESTIMATORS) + " |",
    ]
    for name, s in numbers["scenarios"].items():
        keys = [("frozen, all", "frozen{}"), ("adaptive, all", "adaptive{}")]
        if name != "stable":
            keys[1:1] = [
                ("frozen, before change", "frozen{}_before_change"),
                ("frozen, after", "frozen{}_after_change"),
            ]
        for label, key in keys:
            cells = [_err(s.get("estimate_error_" + key.format(v))) for v in VARIANTS]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return lines


def markdown(numbers: dict[str, Any], run: dict[str, Any]) -> str:
    headline = numbers.get("estimator", "cbpe")
    lines = [
        f"Seeds {run['seeds']}, {run['customers']} customers, {run['months']} months; "
        f"{run['seconds']:.0f} s wall, {run['cpu_seconds']:.0f} CPU s, load {run['load_average']}. "
        f"Headline estimate: `{headline}` (params monitor.estimator).",
        "",
        *_headline_table(numbers, ESTIMATORS[headline]),
        "",
        "Each estimate's abs error against the realised ROC AUC (all rows of the month's snapshot),"
        " mean / worst world's max / share of world-months within 0.02:",
        "",
        *_estimator_table(numbers),
    ]
    choice = numbers.get("estimator_choice") or {}
    if choice.get("pooled"):
        pooled = "; ".join(
            f"{k} {v['mean']:.4f} / {v['max']:.4f} / {v['within_tolerance_share']:.0%}"
            for k, v in choice["pooled"].items()
        )
        lines += [
            "",
            f"Pooled over {', '.join(choice['scenarios'])}, both champions: {pooled}; the rule picks"
            f" `{choice['rule_picks']}`.",
        ]
    for name, s in numbers["scenarios"].items():
        for seed, ev in zip(s["seeds"], s["alarms"].get("evidence_at_detection") or []):
            if ev and name == "concept_shift":
                segs = ", ".join(
                    f"{g['segment']} {g['observed']}/{g['expected']:.0f} of {g['n']}" for g in ev["segments"][:3]
                )
                lines.append(f"- {name} seed {seed}: alarm month {ev['month']}, observed/expected churners: {segs}")
    lines += ["", "ROC AUC / oracle by month (mean over seeds; worst world in brackets):", ""]
    for name, s in numbers["scenarios"].items():
        pairs = zip(s["frozen_ratio_by_month"], s["adaptive_ratio_by_month"])
        cells = [f"{f['month']}: {f['mean']:.3f} ({f['min']:.3f}) / {a['mean']:.3f} ({a['min']:.3f})" for f, a in pairs]
        lines.append(f"- {name}, frozen / adaptive: " + "; ".join(cells))
    lines += ["", "ROC AUC by month, mean over seeds (frozen / adaptive / oracle):", ""]
    for name, s in numbers["scenarios"].items():
        cells = [
            f"{a['month']}: {a['frozen']:.3f} / {a['adaptive']:.3f} / {a['oracle']:.3f}" for a in s["auc_by_month"]
        ]
        lines.append(f"- {name}: " + "; ".join(cells))
    return "\n".join(lines) + "\n"
