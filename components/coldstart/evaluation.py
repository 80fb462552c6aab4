"""Cold-start evaluation: the holdout customers without history, every component beside the oracle.

The cohort (train and holdout cold-start customers alike) is scored as one batch of new nodes,
exactly as :meth:`ColdStartPart.components` scores new customers; metrics use the holdout rows.
Pure: the stage reads the table, the part and (synthetic source) the truth's ``p_received``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnguard.coldstart.config import EvaluateColdstartConfig
from churnguard.coldstart.part import ColdStartPart
from churnguard.core.metrics import classification_metrics
from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.models.config import typed

MODELS = {
    "cluster_prior": "(a) cluster prior",
    "gbm": "(b) GBM demographics + hand-made graph features",
    "gnn": "(c) GNN (cluster fallback without edges)",
    "ensemble": "(d) ensemble",
    "oracle": "(e) oracle",
}


def _metrics(y: np.ndarray, p: np.ndarray, bins: int) -> dict[str, float] | None:
    if len(y) < 20 or len(np.unique(y)) < 2:
        return None
    return classification_metrics(y, p, bins)


def evaluate_coldstart(
    table: pd.DataFrame, part: ColdStartPart, truth: pd.DataFrame | None, cfg: EvaluateColdstartConfig | Any
) -> dict[str, Any]:
    """Holdout cold-start metrics of (a)-(d), and (e) the oracle where ``truth`` (``p_received``
    indexed by customer_id, :func:`churnguard.core.truth.load_truth`) is given."""
    conf = typed(EvaluateColdstartConfig, cfg, "evaluate_coldstart")
    cohort = table[table["is_cold_start"].astype(bool)].reset_index(drop=True)
    comps = part.components(cohort)
    hold = cohort[SPLIT].to_numpy() == "holdout"
    y = cohort[LABEL].to_numpy()[hold]
    scores = {k: comps[k].to_numpy()[hold] for k in ("cluster_prior", "gbm", "gnn", "ensemble")}
    if truth is not None:
        scores["oracle"] = truth["p_received"].reindex(cohort[ID].astype(str)).to_numpy()[hold]
    bins = conf.calibration_bins
    edges = comps["has_edges"].to_numpy()[hold]
    out: dict[str, Any] = {
        "models": MODELS,
        "n_holdout_cold_start": int(hold.sum()),
        "with_edges": int(edges.sum()),
        "no_edges": int((~edges).sum()),
        "coverage": float(np.isfinite(comps["ensemble"].to_numpy()).mean()) if len(comps) else None,
        "gnn_architecture": part.gnn_arch,
        "fallback_share": float((comps["source"] == "cluster_fallback").mean()) if len(comps) else None,
    }
    for group, mask in (("cohort", np.ones_like(edges)), ("cohort_with_edges", edges), ("cohort_no_edges", ~edges)):
        out[group] = {k: _metrics(y[mask], v[mask], bins) for k, v in scores.items()}
    c = out["cohort"]
    if c.get("oracle") and c.get("ensemble"):
        out["ensemble_to_oracle_auc"] = c["ensemble"]["roc_auc"] / c["oracle"]["roc_auc"]
        best = max(("cluster_prior", "gbm", "gnn"), key=lambda k: c[k]["roc_auc"] if c[k] else -1)
        out["best_single_component"] = best
        out["ensemble_minus_best_single_auc"] = c["ensemble"]["roc_auc"] - c[best]["roc_auc"]
    if truth is None:
        out["note"] = "no ground truth for this data source: oracle not available"
    return out
