"""The nightly scenario report: one self-contained HTML page a retention manager can act on,
plus the top actions as CSV beside it (``<report stem>_top_actions.csv``).

In words: offers and columns named in plain language, money in ``sweep.currency``, uplift in
percentage points, a glossary, the recommended budget (read off the budget curve: the last
budget before one more unit returns less than one unit of saved value), the top actions with
churn probability and a one-line reason (the offer's strongest driver), and a sentence for
every offer nobody gets. Built only from a sweep directory (observable data and model
estimates, never the truth), the params and a date given by the caller: the same inputs and
date give the same bytes (no clock, PNGs written without timestamps, stable sorting).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID
from churnguard.interventions.allocation import NONE, allocate
from churnguard.interventions.config import SweepConfig
from churnguard.interventions.planning import PlanningResult, plan
from churnguard.interventions.policies import UPLIFT_PLAN
from churnguard.interventions.report_charts import _charts
from churnguard.interventions.report_language import (
    GLOSSARY,
    action_reason,
    money,
    offer_words,
    percent,
    plan_words,
    points,
    recommended_budget,
    strongest_driver,
)
from churnguard.interventions.sweep import budget_for, read_sweep, summarise, wide

STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:auto;color:#222}table.t{border-collapse:collapse;"
    "font-size:13px;margin:6px 0}table.t td,table.t th{padding:4px 8px;border-bottom:1px solid #ddd;"
    "text-align:right}table.t td:first-child,table.t th:first-child{text-align:left}.k{font-size:20px;"
    "font-weight:bold}.box{background:#f3f7fb;border-left:4px solid #0b5cad;padding:8px 12px;margin:10px 0}"
    "dt{font-weight:bold}dd{margin:0 0 6px 16px}td.reason{text-align:left;font-size:12px}"
)


def build_report_from_dir(sweep_dir: Path, cfg: SweepConfig, date: str, out: Path, seed: int = 42) -> dict[str, Any]:
    """Read the shards, plan (the same decision as the sweep stage) and write the report."""
    table = read_sweep(sweep_dir)
    return build_report(table, plan(table, cfg, seed), cfg, date, out)


def _html_table(df: pd.DataFrame, cls: str = "t") -> str:
    return df.to_html(index=False, border=0, classes=cls, escape=True)


def _decision_html(result: PlanningResult, currency: str = "EUR") -> list[str]:
    """Which plan ships and the campaign's evidence for it (off-policy estimates with intervals)."""
    esc = html.escape
    parts = [
        "<h2>Which plan ships, and why</h2>",
        f"<p><b>Shipped: {esc(plan_words(result.decision.shipped))}</b>. The {esc(result.decision.reason)}.</p>",
    ]
    if result.estimates is not None:
        lvl = f"{result.estimates.level:.0%}"
        rows = pd.DataFrame(
            [
                {
                    "Plan": plan_words(n),
                    "Customers offered": f"{v['customers_treated']:,}",
                    "Estimated net value": money(v["estimate"], currency),
                    f"{lvl} interval, low": money(v["low"], currency),
                    f"{lvl} interval, high": money(v["high"], currency),
                }
                for n, v in result.estimates.table().items()
            ]
        )
        parts += [
            f"<p>Each candidate plan valued on the {result.estimates.customers:,} {_checked_words(result)} of the "
            "randomized campaign (off-policy estimate, see the glossary), at their share of the "
            "budget. Observable data only: no model or plan is chosen on anything else.</p>",
            _html_table(rows),
        ]
    return parts


def _checked_words(result: PlanningResult) -> str:
    if result.checked_on == "out_of_fold":
        return "customers (each valued by the cross-fitted models that never saw its outcome)"
    return "holdout customers"


def budget_curve_table(table: pd.DataFrame, cfg: SweepConfig, points_n: int = 40) -> pd.DataFrame:
    """The targeted plan at budgets from 0 to past the point where every worthwhile offer is funded
    (at least 2x the configured budget): budget, spent, customers, expected saved and net value."""
    offers = sorted(table["offer"].unique())
    net, cost = wide(table, "net_value", offers), wide(table, "cost", offers)
    saved = wide(table, "expected_saved_value", offers)
    eligible = wide(table, "uplift_low", offers) > 0 if cfg.require_confident_uplift else None
    everything = allocate(net, cost, float("inf"), eligible)
    r = np.nonzero(everything != NONE)[0]
    saturation = float(cost[r, everything[r]].sum())
    top = max(2 * budget_for(table[ID].nunique(), cfg), 1.1 * saturation, 1.0)
    rows = []
    for b in np.linspace(0, top, points_n + 1):
        choice = allocate(net, cost, float(b), eligible)
        r = np.nonzero(choice != NONE)[0]
        rows.append(
            {
                "budget": float(b),
                "spent": float(cost[r, choice[r]].sum()),
                "customers": len(r),
                "saved": float(saved[r, choice[r]].sum()),
                "net": float(net[r, choice[r]].sum()),
            }
        )
    return pd.DataFrame(rows)


def top_actions(table: pd.DataFrame, alloc: pd.DataFrame, n: int, currency: str) -> pd.DataFrame:
    """The plan's best ``n`` offers by net value, with churn probability and a one-line reason."""
    given = alloc[alloc["offer"] != "none"].sort_values(["net_value", ID], ascending=[False, True], kind="stable")
    top = given.head(n)[[ID, "offer"]]
    risk = "base_probability" if "base_probability" in table.columns else "p_before"
    extra = [c for c in ("contract", "plan", "income_band", "monthly_charges") if c in table.columns]
    rows = top.merge(
        table[[ID, "offer", risk, "uplift", "expected_saved_value", "cost", "net_value", *extra]],
        on=[ID, "offer"],
        how="left",
    ).rename(columns={risk: "churn_probability"})
    drivers = {o: strongest_driver(table, o) for o in sorted(rows["offer"].unique())}
    reasons = []
    for _, row in rows.iterrows():
        driver = drivers[row["offer"]]
        if driver is not None:
            col = driver[0]
            if col == "monthly_charges_band":
                bands = [b for b in driver[1].index if _in_band(row.get("monthly_charges"), b)]
                row["_driver_value"] = bands[0] if bands else None
            else:
                row["_driver_value"] = str(row.get(col))
        reasons.append(action_reason(row, driver, currency))
    rows["reason"] = reasons
    return rows[[ID, "churn_probability", "offer", "expected_saved_value", "cost", "net_value", "reason"]]


def _in_band(value: Any, band: str) -> bool:
    try:
        lo, hi = (float(x.replace(",", "")) for x in band.split("-"))
        return lo <= float(value) <= hi
    except (TypeError, ValueError):
        return False


def unused_offer_sentences(
    table: pd.DataFrame, alloc: pd.DataFrame, result: PlanningResult, cfg: SweepConfig, currency: str
) -> list[str]:
    """Why each offer that the shipped plan gives to nobody gets nobody."""
    offers = sorted(table["offer"].unique())
    given = set(alloc.loc[alloc["offer"] != "none", "offer"])
    net, cost = wide(table, "net_value", offers), wide(table, "cost", offers)
    confident = wide(table, "uplift_low", offers) > 0
    eligible = confident if cfg.require_confident_uplift else np.ones_like(confident)
    pays = eligible & (net > 0)
    best = np.where(pays, net, -np.inf).argmax(axis=1)
    any_pays = pays.any(axis=1)
    out = []
    for k, offer in enumerate(offers):
        if offer in given:
            continue
        name, mean_net = offer_words(offer), float(np.nanmean(net[:, k]))
        lead = (
            f"<b>{html.escape(name)}</b> (average net value {money(mean_net, currency)} per customer) goes to nobody: "
        )
        n_conf, n_pays, n_best = int(confident[:, k].sum()), int(pays[:, k].sum()), int((any_pays & (best == k)).sum())
        if result.decision.shipped != UPLIFT_PLAN:
            why = f"the shipped plan is '{plan_words(result.decision.shipped)}', which does not use it."
        elif n_conf == 0:
            why = "its interval's lower bound is above zero for no customer: the campaign does not show it works."
        elif n_pays == 0:
            why = (
                f"its interval's lower bound is above zero for only {n_conf:,} customers, and for none of them "
                "does the expected saved value exceed its cost."
            )
        elif n_best == 0:
            why = (
                f"it is confident and pays for {n_pays:,} customers, but another offer brings each of them more "
                "net value: it is never the best offer for anyone."
            )
        else:
            ratio = net[best == k, k] / np.maximum(cost[best == k, k], 1e-9)
            why = (
                f"it is the best offer for {n_best:,} customers, but the budget ran out before them (their best "
                f"net value per unit of budget is {ratio.max():.2f}, below the plan's cut-off)."
            )
        out.append(lead + html.escape(why))
    return out


def _offer_table(table: pd.DataFrame, offers_given: dict[str, int], currency: str) -> pd.DataFrame:
    per = (
        table.groupby("offer")
        .agg(uplift=("uplift", "mean"), low=("uplift_low", "mean"), cost=("cost", "mean"), net=("net_value", "mean"))
        .sort_index()
    )
    return pd.DataFrame(
        {
            "Offer": [offer_words(o) for o in per.index],
            "Customers offered in the plan": [f"{offers_given.get(o, 0):,}" for o in per.index],
            "Average churn reduction": [points(v) for v in per["uplift"]],
            "Average cautious reduction": [points(v) for v in per["low"]],
            "Average cost": [money(v, currency) for v in per["cost"]],
            "Average net value": [money(v, currency) for v in per["net"]],
        }
    )


def _budget_html(
    curve: pd.DataFrame, budget: float, recommended: float, first_below: int | None, currency: str, img: str
) -> list[str]:
    keep_all = curve
    keep = sorted(
        set(range(0, len(curve), max(len(curve) // 10, 1)))
        | {len(curve) - 1}
        | {int(np.argmin(np.abs(curve["budget"] - recommended)))}
    )
    curve = curve.iloc[keep]  # about ten rows; the recommendation itself uses every point
    steps = np.diff(curve["saved"]) / np.maximum(np.diff(curve["budget"]), 1e-12)
    shown = pd.DataFrame(
        {
            "Budget": [money(v, currency) for v in curve["budget"]],
            "Spent": [money(v, currency) for v in curve["spent"]],
            "Customers offered": [f"{v:,}" for v in curve["customers"]],
            "Expected net value": [money(v, currency) for v in curve["net"]],
            f"Saved per extra {currency} of budget": ["-"] + [f"{v:,.2f}" for v in steps],
        }
    )
    at = curve.iloc[int(np.argmin(np.abs(curve["budget"] - recommended)))]
    rule = (
        "one more unit of budget would bring back less than one unit of expected saved value"
        if first_below is not None
        else "every step of the curve still brings back more than it costs"
    )
    return [
        "<h2>How much budget is worth spending</h2>",
        f"<div class='box'>Recommended budget: <span class='k'>{money(recommended, currency)}</span> "
        f"(configured: {money(budget, currency)}). Up to there it offers {int(at['customers']):,} customers for an "
        f"expected net value of {money(at['net'], currency)}; beyond it {rule}.</div>",
        "<p>How it is read: between two neighbouring budgets the table shows how much expected saved value "
        f"each extra {currency} brings. The recommended budget is the last budget (on a grid of "
        f"{len(keep_all)} budgets) before that figure drops below 1. The curve is the targeted plan's; it goes past the point where every offer worth giving is "
        "funded.</p>",
        f"<img src='{img}'>",
        _html_table(shown),
    ]


def _actions_html(actions: pd.DataFrame, currency: str, csv_name: str) -> list[str]:
    shown = pd.DataFrame(
        {
            "Customer": actions[ID].astype(str),
            "Churn probability": [percent(v) for v in actions["churn_probability"]],
            "Offer": [offer_words(o) for o in actions["offer"]],
            "Expected saved value": [money(v, currency) for v in actions["expected_saved_value"]],
            "Cost": [money(v, currency) for v in actions["cost"]],
            "Net value": [money(v, currency) for v in actions["net_value"]],
            "Why": actions["reason"],
        }
    )
    table = _html_table(shown).replace("<td>churn risk", "<td class='reason'>churn risk")
    return [
        "<h2>Top actions</h2>",
        f"<p>The plan's {len(actions)} offers with the highest expected net value "
        f"(also in <code>{html.escape(csv_name)}</code>).</p>",
        table,
    ]


def write_actions_csv(actions: pd.DataFrame, path: Path, currency: str) -> None:
    out = actions.assign(offer_name=[offer_words(o) for o in actions["offer"]], currency=currency)
    out = out[
        [
            ID,
            "churn_probability",
            "offer",
            "offer_name",
            "expected_saved_value",
            "cost",
            "net_value",
            "currency",
            "reason",
        ]
    ]
    out.to_csv(path, index=False, float_format="%.4f", lineterminator="\n")


def build_report(table: pd.DataFrame, result: PlanningResult, cfg: SweepConfig, date: str, out: Path) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.max_open_warning": 0, "svg.hashsalt": "churnguard"})
    currency = cfg.currency
    alloc, budget = result.allocation, result.budget
    summary = {**summarise(table, alloc, budget), **result.summary()}
    offers = summary["scenarios"]
    curve = budget_curve_table(table, cfg)
    recommended, first_below = recommended_budget(curve)
    summary["recommended_budget"] = round(recommended, 2)
    charts = _charts(table, alloc, curve, budget, recommended, offers, currency)
    out = Path(out)
    csv_path = out.with_name(out.stem + "_top_actions.csv")
    actions = top_actions(table, alloc, cfg.report_top, currency)
    given = alloc[alloc["offer"] != "none"]
    saved_customers = float(given["uplift"].sum())
    unused = unused_offer_sentences(table, alloc, result, cfg, currency)
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>churnguard retention plan {esc(date)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Retention plan for {esc(date)}</h1>",
        f"<div class='box'>Offer a retention offer to <b>{summary['customers_treated']:,}</b> of "
        f"{summary['customers']:,} customers, spending {money(summary['spent'], currency)} of the "
        f"{money(summary['budget'], currency)} budget. Expected: about {saved_customers:,.0f} customers kept who "
        f"would otherwise leave, for a net value of <span class='k'>{money(summary['expected_net_value'], currency)}"
        f"</span>. Recommended budget: {money(recommended, currency)}.</div>",
        "<p>Who gets which offer comes from a causal model learnt from the randomized campaign (each offer's "
        "effect per customer, with a confidence interval): an offer is planned only where its cautious "
        "reduction is above zero and its expected saved value exceeds its cost. The terms are explained in the "
        "glossary at the end.</p>",
        *_decision_html(result, currency),
        "<h2>Plan by offer</h2>",
        _html_table(_offer_table(table, summary["offers_given"], currency)),
        *([f"<ul>{''.join(f'<li>{s}</li>' for s in unused)}</ul>"] if unused else []),
        *_actions_html(actions, currency, csv_path.name),
        *_budget_html(curve, budget, recommended, first_below, currency, charts["curve"]),
        "<h2>Does the ranking find customers who respond?</h2>",
        f"<img src='{charts['qini']}'>",
        "<p>The <i>Qini curve</i>: above zero means targeting by predicted uplift prevents more churn than random "
        "targeting among the campaign's holdout customers.</p>",
        "<h2>Value by segment</h2>",
        *[f"<img src='{s}'>" for s in charts["segments"]],
        "<h2>Glossary</h2><dl>",
        *[f"<dt>{esc(t)}</dt><dd>{esc(d)}</dd>" for t, d in GLOSSARY],
        "</dl>",
        "</body></html>",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    write_actions_csv(actions, csv_path, currency)
    return summary


def log_to_mlflow(report: Path, summary: dict[str, Any], date: str) -> bool:
    """Log the report when a run is active or a tracking store is configured (MLFLOW_TRACKING_URI)."""
    import os

    try:
        import mlflow
    except ImportError:
        return False
    if mlflow.active_run() is not None:
        mlflow.log_artifact(str(report), artifact_path="scenario_reports")
        return True
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return False
    from churnguard.mlops.registry import configure

    configure()
    with mlflow.start_run(run_name=f"scenario-report-{date}"):
        mlflow.set_tag("kind", "scenario_report")
        mlflow.log_metrics(
            {
                "expected_net_value": summary["expected_net_value"],
                "spent": summary["spent"],
                "customers_treated": summary["customers_treated"],
            }
        )
        mlflow.log_artifact(str(report), artifact_path="scenario_reports")
    return True
