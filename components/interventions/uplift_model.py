"""The fitted uplift model: control probability, each offer's churn probability and uplift with its
interval, and (cross-fitted) each customer's out-of-fold estimates. Fitting: :mod:`churnguard.interventions.uplift`."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from churnguard.core.numeric import logit, sigmoid
from churnguard.core.vocabulary import ID
from churnguard.features.table import FeatureSchema
from churnguard.interventions.crossfit import CrossFit, fold_of
from churnguard.interventions.uplift_design import Design
from churnguard.interventions.uplift_glm import EPS
from churnguard.models.tabular import prepare


@dataclass
class UpliftModel:
    """T-learner over the campaign arms with a bootstrap ensemble for intervals."""

    schema: FeatureSchema
    offers: list[str]
    control: Any  # fitted sklearn pipeline (mu_0)
    design: Design
    coef: dict[str, np.ndarray]  # offer -> point coefficients
    boot: dict[str, np.ndarray]  # offer -> (B, d) bootstrap coefficients
    ci_level: float
    link: str = "log"
    info: dict[str, Any] = field(default_factory=dict)
    # Control models refitted on bootstrap resamples of the controls: replicate b of ``boot`` was
    # fitted with the offset of ``boot_controls[b % M]`` and is evaluated with it (empty: the point
    # control model for every replicate, i.e. the control model's own uncertainty is ignored).
    boot_controls: list = field(default_factory=list)
    interval: str = "percentile"  # percentile of the replicates | normal (point +- z x replicate sd)
    point: str = "fit"  # fit: the point model | bagged: the replicates' mean uplift
    # offer -> (column, order): the offer has no effect where the column is at its order's top (an
    # upgrade from the top plan or contract is no offer); those customers are left out of its arm's fit.
    ceilings: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    crossfit: Any = None  # churnguard.interventions.crossfit.CrossFit: out-of-fold models (None: not cross-fitted)

    @property
    def features(self) -> list[str]:
        return [c for c in self.schema.columns if c != "campaign_offer"]

    def _offset(self, p0: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p0, EPS, 1.0)) if self.link == "log" else logit(p0, eps=EPS)

    def _after(self, p0: np.ndarray, off: np.ndarray, shift: np.ndarray) -> np.ndarray:
        if self.link == "log":
            return np.clip(p0 * np.exp(np.clip(shift, -30, 3)), 0.0, 1.0)
        return sigmoid(off + shift, clip=30)

    def control_probability(self, features: pd.DataFrame, model: Any = None) -> np.ndarray:
        """mu_0 of the point control model, or of ``model`` (a bootstrap classifier sharing its encoder)."""
        if model is None or model is self.control:
            return self.control.predict_proba(prepare(features, self._schema_wo_offer()))[:, 1]
        return model.predict_proba(self._encoded(features))[:, 1]

    def _encoded(self, features: pd.DataFrame) -> np.ndarray:
        return self.control.named_steps["pre"].transform(prepare(features, self._schema_wo_offer()))

    def _control_all(self, features: pd.DataFrame, controls: list) -> tuple[np.ndarray, list[np.ndarray]]:
        """Point and bootstrap control probabilities, the features encoded once."""
        Xt = self._encoded(features)
        return (self.control.named_steps["clf"].predict_proba(Xt)[:, 1], [m.predict_proba(Xt)[:, 1] for m in controls])

    def _schema_wo_offer(self) -> FeatureSchema:
        return FeatureSchema(
            [c for c in self.schema.numeric], [c for c in self.schema.categorical if c != "campaign_offer"], [], {}
        )

    def applicable(self, offer: str, features: pd.DataFrame) -> np.ndarray:
        """Customers the offer can act on: an upgrade offer does nothing where its column is already at
        the top of its order (``ceilings``: offer -> (column, order), from the scenarios' what-ifs)."""
        column, order = getattr(self, "ceilings", {}).get(offer, (None, []))
        if column is None or column not in features.columns:
            return np.ones(len(features), dtype=bool)
        return features[column].astype(str).to_numpy() != order[-1]

    def _replicate_uplifts(self, offer: str, X: np.ndarray, p0: np.ndarray, p0_boot: list[np.ndarray]) -> np.ndarray:
        """(n, B) uplift of each bootstrap replicate, each with its own control model's offset."""
        boot = self.boot[offer]
        if not p0_boot:
            return p0[:, None] - self._after(p0[:, None], self._offset(p0)[:, None], X @ boot.T)
        ups = np.empty((len(X), len(boot)))
        for m, pm in enumerate(p0_boot):
            cols = np.arange(m, len(boot), len(p0_boot))
            ups[:, cols] = pm[:, None] - self._after(pm[:, None], self._offset(pm)[:, None], X @ boot[cols].T)
        return ups

    def _interval(self, point: np.ndarray, ups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alpha = (1 - self.ci_level) / 2
        if getattr(self, "interval", "percentile") != "normal":
            lo_hi = np.quantile(ups, [alpha, 1 - alpha], axis=1)
            return lo_hi[0], lo_hi[1]
        B = ups.shape[1]
        z = NormalDist().inv_cdf(1 - alpha)
        sd = np.sqrt(np.mean((ups - ups.mean(1, keepdims=True)) ** 2, axis=1) * B / max(B - 1, 1))
        return point - z * sd, point + z * sd

    def predict(
        self, features: pd.DataFrame, with_interval: bool = True, out_of_fold: bool = False
    ) -> dict[str, np.ndarray]:
        """p_before (n,), and per offer p_after, uplift, uplift_low, uplift_high (n, K) in ``self.offers`` order;
        with ``out_of_fold`` (a cross-fitted model) the same from the fold models, keys prefixed ``oof_``."""
        controls = list(getattr(self, "boot_controls", []) or [])
        if controls and with_interval:
            p0, p0_boot = self._control_all(features, controls)
        else:
            p0, p0_boot = self.control_probability(features), []
        off = self._offset(p0)
        X = self.design.transform(features)
        n, K = len(features), len(self.offers)
        p_after, low, high = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        for k, offer in enumerate(self.offers):
            p_after[:, k] = self._after(p0, off, X @ self.coef[offer])
            if with_interval and len(self.boot[offer]):
                ups = self._replicate_uplifts(offer, X, p0, p0_boot)
                if getattr(self, "point", "fit") == "bagged":
                    p_after[:, k] = p0 - ups.mean(1)
                low[:, k], high[:, k] = self._interval(p0 - p_after[:, k], ups)
            else:
                low[:, k] = high[:, k] = p0 - p_after[:, k]
            idle = ~self.applicable(offer, features)
            p_after[idle, k], low[idle, k], high[idle, k] = p0[idle], 0.0, 0.0
        uplift = p0[:, None] - p_after
        out = {"p_before": p0, "p_after": p_after, "uplift": uplift, "uplift_low": low, "uplift_high": high}
        if out_of_fold and getattr(self, "crossfit", None) is not None:
            out.update(self._out_of_fold(features, out))
        return out

    def _out_of_fold(self, features: pd.DataFrame, full: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Out-of-fold estimates; their interval is the full model's, widened for the smaller fold fit."""
        oof = out_of_fold(self, features)
        uplift = oof["p_before"][:, None] - oof["p_after"]
        widen = self.crossfit.widen()
        return {
            "oof_p_before": oof["p_before"],
            "oof_p_after": oof["p_after"],
            "oof_uplift": uplift,
            "oof_uplift_low": uplift - widen * (full["uplift"] - full["uplift_low"]),
            "oof_uplift_high": uplift + widen * (full["uplift_high"] - full["uplift"]),
        }


def out_of_fold(model: UpliftModel, features: pd.DataFrame) -> dict[str, np.ndarray]:
    """p_before (n,) and p_after (n, K) of each customer from the fold models that never saw it."""
    cf: CrossFit = model.crossfit
    fold = fold_of(features[ID], cf.folds)
    Xt, X = model._encoded(features), model.design.transform(features)
    p0 = np.empty(len(features))
    p_after = np.empty((len(features), len(model.offers)))
    for f in range(cf.folds):
        rows = fold == f
        if not rows.any():
            continue
        p0[rows] = cf.controls[f].predict_proba(Xt[rows])[:, 1]
        off = model._offset(p0[rows])
        for k, offer in enumerate(model.offers):
            p_after[rows, k] = model._after(p0[rows], off, X[rows] @ cf.coef[offer][f])
    for k, offer in enumerate(model.offers):
        idle = ~model.applicable(offer, features)
        p_after[idle, k] = p0[idle]
    return {"p_before": p0, "p_after": p_after}
