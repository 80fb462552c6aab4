"""The nightly scenario report: one self-contained HTML page a marketing lead can read.

Built only from a sweep directory (observable data and model estimates, never the truth), the
params' budget and a date given by the caller: the same inputs and date give the same bytes
(no clock, PNGs written without timestamps, stable sorting).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.features.table import ID, LABEL, SPLIT
from components.interventions.planning import PlanningResult, plan
from components.interventions.sweep import budget_curve, read_sweep, summarise


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def observed_qini(table: pd.DataFrame, offer: str) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve on the randomized campaign's holdout customers (offer arm vs ``none`` arm),
    customers ranked by predicted uplift: x = share targeted, y = churners prevented (scaled)."""
    t = table[(table["offer"] == offer) & table["campaign_offer"].isin([offer, "none"])]
    if SPLIT in t.columns:
        t = t[t[SPLIT] == "holdout"]
    if t.empty or LABEL not in t.columns:
        return np.array([0.0]), np.array([0.0])
    t = t.sort_values(["uplift", ID], ascending=[False, True], kind="stable")
    treated = (t["campaign_offer"] == offer).to_numpy()
    y = t[LABEL].to_numpy(dtype=float)
    n_t, n_c = np.cumsum(treated), np.cumsum(~treated)
    y_t, y_c = np.cumsum(y * treated), np.cumsum(y * ~treated)
    q = np.where(n_c > 0, y_c * n_t / np.maximum(n_c, 1), 0.0) - y_t
    x = np.arange(1, len(t) + 1) / len(t)
    return np.concatenate([[0.0], x]), np.concatenate([[0.0], q])


def build_report_from_dir(sweep_dir: Path, cfg: dict[str, Any], date: str, out: Path, seed: int = 42) -> dict[str, Any]:
    """Read the shards, plan (the same decision as the sweep stage) and write the report."""
    table = read_sweep(sweep_dir)
    return build_report(table, plan(table, cfg, seed), cfg, date, out)


def _decision_html(result: PlanningResult) -> list[str]:
    """Which plan ships and the campaign's evidence for it (off-policy estimates with intervals)."""
    esc = html.escape
    parts = ["<h2>Which plan ships, and why</h2>",
             f"<p><b>Shipped: {esc(result.decision.shipped)}</b>. The {esc(result.decision.reason)}.</p>"]
    if result.estimates is not None:
        rows = pd.DataFrame([{"plan": n, "customers offered": v["customers_treated"], "estimated value": v["estimate"],
                              f"{result.estimates.level:.0%} interval low": v["low"],
                              f"{result.estimates.level:.0%} interval high": v["high"]}
                             for n, v in result.estimates.table().items()])
        parts += [f"<p>Each candidate plan valued on the {result.estimates.customers:,} holdout customers of the "
                  "randomized campaign (doubly-robust off-policy estimate, bootstrap interval), at the holdout's "
                  "share of the budget. Observable data only: no model or plan is chosen on anything else.</p>",
                  rows.to_html(index=False, float_format=lambda v: f"{v:,.0f}", border=0, classes="t")]
    return parts


def build_report(table: pd.DataFrame, result: PlanningResult, cfg: dict[str, Any], date: str, out: Path) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.max_open_warning": 0, "svg.hashsalt": "churnguard"})
    alloc, budget = result.allocation, result.budget
    summary = {**summarise(table, alloc, budget), **result.summary()}
    offers = summary["scenarios"]

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for o in offers:
        x, q = observed_qini(table, o)
        ax.plot(x, q, label=o)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("share of campaign customers targeted (by predicted uplift)")
    ax.set_ylabel("churners prevented (Qini)")
    ax.set_title("Qini curves on the randomized campaign (holdout)")
    ax.legend(fontsize=8)
    qini_img = _png(fig)

    given = alloc[alloc["offer"] != "none"]
    seg_imgs = []
    for seg in ("contract", "income_band"):
        if seg in alloc.columns:
            g = given.groupby(seg)["net_value"].sum().sort_index()
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.bar(g.index.astype(str), g.to_numpy())
            ax.set_ylabel("expected net value")
            ax.set_title(f"Expected net value of the plan by {seg}")
            seg_imgs.append(_png(fig))

    curve = budget_curve(table, cfg)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["budget"], curve["expected_net_value"], marker="o")
    ax.axvline(budget, color="red", ls="--", lw=1, label="configured budget")
    ax.set_xlabel("budget")
    ax.set_ylabel("expected net value")
    ax.set_title("Budget curve")
    ax.legend(fontsize=8)
    curve_img = _png(fig)

    top = given.sort_values(["net_value", ID], ascending=[False, True], kind="stable").head(int(cfg.get("report_top", 20)))
    per = table.groupby("offer").agg(
        mean_uplift=("uplift", "mean"), mean_uplift_low=("uplift_low", "mean"),
        mean_whatif_uplift=("whatif_uplift", "mean") if "whatif_uplift" in table.columns else ("uplift", "mean"),
        mean_cost=("cost", "mean"), mean_net_value=("net_value", "mean")).reset_index()
    per["given_in_plan"] = per["offer"].map(summary["offers_given"]).fillna(0).astype(int)

    def tbl(df: pd.DataFrame) -> str:
        return df.to_html(index=False, float_format=lambda v: f"{v:,.4f}", border=0, classes="t")

    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>churnguard scenario report {esc(date)}</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:auto}table.t{border-collapse:collapse;"
        "font-size:12px}table.t td,table.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
        ".k{font-size:20px;font-weight:bold}</style></head><body>",
        f"<h1>Retention scenarios: nightly report for {esc(date)}</h1>",
        f"<p>{summary['customers']:,} customers, {len(offers)} scenarios. Budget {summary['budget']:,.0f}; "
        f"the plan spends {summary['spent']:,.0f} on {summary['customers_treated']:,} customers for an expected "
        f"net value of <span class='k'>{summary['expected_net_value']:,.0f}</span>.</p>",
        "<p>Decisions use a causal uplift model learnt from the randomized campaign (offer effects per "
        "customer, with a confidence interval); an offer is only planned where its interval's lower bound is "
        "above zero and its expected saved value exceeds its cost. The model-based what-if (the churn model "
        "re-scored with the offer applied) is shown beside it for comparison only.</p>",
        *_decision_html(result),
        "<h2>Plan by offer</h2>", tbl(per),
        "<h2>Does the ranking find responders?</h2>", f"<img src='{qini_img}'>",
        "<p>Above zero: targeting by predicted uplift prevents more churn than random targeting in the "
        "campaign's holdout customers.</p>",
        "<h2>Value by segment</h2>", *[f"<img src='{s}'>" for s in seg_imgs],
        "<h2>How much budget is worth spending</h2>", f"<img src='{curve_img}'>", tbl(curve),
        "<h2>Top recommendations</h2>",
        tbl(top[[c for c in [ID, "offer", "uplift", "cost", "net_value", "contract", "plan", "monthly_charges"]
                 if c in top.columns]]),
        "</body></html>",
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
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
    from components.registry import configure

    configure()
    with mlflow.start_run(run_name=f"scenario-report-{date}"):
        mlflow.set_tag("kind", "scenario_report")
        mlflow.log_metrics({"expected_net_value": summary["expected_net_value"], "spent": summary["spent"],
                            "customers_treated": summary["customers_treated"]})
        mlflow.log_artifact(str(report), artifact_path="scenario_reports")
    return True
