"""The scenario report's charts (PNG data URIs without timestamps: same inputs, same bytes)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.interventions.report_language import offer_words


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def observed_qini(table: pd.DataFrame, offer: str) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve on randomized campaign customers the ranking never learnt from (offer arm vs ``none``
    arm): every customer ranked by its out-of-fold uplift when the model is cross-fitted, else the
    holdout by the model's uplift. x = share targeted, y = churners prevented (scaled)."""
    t = table[(table["offer"] == offer) & table["campaign_offer"].isin([offer, "none"])]
    rank = "oof_uplift" if "oof_uplift" in t.columns else "uplift"
    if rank == "uplift" and SPLIT in t.columns:
        t = t[t[SPLIT] == "holdout"]
    if t.empty or LABEL not in t.columns:
        return np.array([0.0]), np.array([0.0])
    t = t.sort_values([rank, ID], ascending=[False, True], kind="stable")
    treated = (t["campaign_offer"] == offer).to_numpy()
    y = t[LABEL].to_numpy(dtype=float)
    n_t, n_c = np.cumsum(treated), np.cumsum(~treated)
    y_t, y_c = np.cumsum(y * treated), np.cumsum(y * ~treated)
    q = np.where(n_c > 0, y_c * n_t / np.maximum(n_c, 1), 0.0) - y_t
    x = np.arange(1, len(t) + 1) / len(t)
    return np.concatenate([[0.0], x]), np.concatenate([[0.0], q])


def _charts(
    table: pd.DataFrame,
    alloc: pd.DataFrame,
    curve: pd.DataFrame,
    budget: float,
    recommended: float,
    offers: list[str],
    currency: str,
) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for o in offers:
        x, q = observed_qini(table, o)
        ax.plot(100 * x, q, label=offer_words(o))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("% of campaign customers targeted (highest predicted uplift first)")
    ax.set_ylabel("churners prevented (Qini)")
    ax.set_title("Does the ranking find customers who respond? (randomized campaign)")
    ax.legend(fontsize=8)
    charts: dict[str, Any] = {"qini": _png(fig), "segments": []}
    given = alloc[alloc["offer"] != "none"]
    for seg in ("contract", "income_band"):
        if seg in alloc.columns:
            g = given.groupby(seg)["net_value"].sum().sort_index()
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.bar(g.index.astype(str), g.to_numpy())
            ax.set_ylabel(f"expected net value ({currency})")
            ax.set_title(f"Expected net value of the plan by {seg.replace('_', ' ')}")
            charts["segments"].append(_png(fig))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["budget"], curve["net"], marker="o", ms=3)
    ax.axvline(budget, color="red", ls="--", lw=1, label="configured budget")
    ax.axvline(recommended, color="green", ls=":", lw=1.5, label="recommended budget")
    ax.set_xlabel(f"budget ({currency})")
    ax.set_ylabel(f"expected net value ({currency})")
    ax.set_title("How much budget is worth spending")
    ax.legend(fontsize=8)
    charts["curve"] = _png(fig)
    return charts
