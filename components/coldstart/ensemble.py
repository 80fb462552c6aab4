"""The cold-start ensemble (d): stacking on the components' logits, fitted on the validation cohort."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from churnguard.core.numeric import logit, sigmoid

LOGIT_EPS = 1e-4  # the ensemble was fitted on logits of probabilities clipped here
MIN_VALIDATION = 30


@dataclass
class Ensemble:
    """Stacking on logits, one model for the whole cohort:

    logit(p) = intercept + w_prior·logit(prior) + w_gbm·logit(gbm)
               + has_edges · (edge_offset + w_gnn·logit(gnn) + w_gbm_edges·logit(gbm))

    so a customer without referral edges is scored from (a) and (b) only (the GNN term is 0),
    and where the GNN sees the neighbourhood, (b) gets its own weight: the GNN already carries
    the neighbours' churn that (b)'s hand-made features summarise, so (b) counts for less there.
    """

    coef: dict[str, float]
    intercept: float
    edge_offset: float

    def predict(self, comps: dict[str, np.ndarray], has_edges: np.ndarray) -> np.ndarray:
        gbm = logit(comps["gbm"], eps=LOGIT_EPS)
        z = (
            self.intercept
            + self.coef["cluster_prior"] * logit(comps["cluster_prior"], eps=LOGIT_EPS)
            + self.coef["gbm"] * gbm
        )
        if "gnn" in self.coef:
            gnn = np.where(has_edges, logit(comps["gnn"], eps=LOGIT_EPS), 0.0)
            z = z + has_edges * (self.edge_offset + self.coef.get("gbm_with_edges", 0.0) * gbm) + self.coef["gnn"] * gnn
        return sigmoid(z)


def fit_ensemble(
    comps: dict[str, np.ndarray], y: np.ndarray, has_edges: np.ndarray, use_gnn: bool, C: float
) -> Ensemble:
    """Weights from a logistic regression on the validation cohort (too little data: plain average)."""
    use_gnn = use_gnn and has_edges.sum() >= MIN_VALIDATION
    gbm = logit(comps["gbm"], eps=LOGIT_EPS)
    cols = [logit(comps["cluster_prior"], eps=LOGIT_EPS), gbm]
    if use_gnn:
        edges = has_edges.astype(float)
        cols += [edges, np.where(has_edges, logit(comps["gnn"], eps=LOGIT_EPS), 0.0), edges * gbm]
    if len(y) >= MIN_VALIDATION and len(np.unique(y)) == 2:
        lr = LogisticRegression(C=C, max_iter=1000).fit(np.column_stack(cols), y)
        w, b = lr.coef_[0].tolist(), float(lr.intercept_[0])
    else:
        w, b = [0.5, 0.5] + ([0.0, 0.0, 0.0] if use_gnn else []), 0.0
    coef = {"cluster_prior": w[0], "gbm": w[1], **({"gnn": w[3], "gbm_with_edges": w[4]} if use_gnn else {})}
    return Ensemble(coef, b, w[2] if use_gnn else 0.0)
