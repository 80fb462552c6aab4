"""Causal uplift model trained on the randomized campaign (observable data only, never the truth).

A T-learner: one outcome model per arm.
- Control arm ``mu_0(x)``: gradient boosting on every untreated established customer (the campaign's
  ``none`` arm plus those outside the campaign: assignment was random, so both are controls).
- Each offer arm ``mu_k(x)``: a ridge-penalised GLM on that arm's customers with offset
  ``log mu_0(x)`` (``link: log``, default: the offer multiplies the churn probability by
  ``exp(g_k(x))``, a relative risk that depends on the customer) or ``logit mu_0(x)``
  (``link: logit``). It borrows the baseline from the much larger control arm and keeps the
  variance low with ~2k treated customers per arm.
- Uncertainty: ``bootstrap`` resamples of each arm's rows refit ``mu_k``; the interval is the
  percentile interval of the uplift over the resamples (``ci_level``).
Uplift (churn-probability reduction) = ``mu_0(x) - mu_k(x)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from components.features.table import FeatureSchema
from components.models.tabular import prepare

CONTROL_ARMS = ("none", "not_in_campaign")
EPS = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass
class Design:
    """Standardised numeric columns + one-hot categoricals: the effect model's inputs."""

    numeric: list[str]
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    categories: dict[str, list[str]]
    log_numeric: list[str] = field(default_factory=list)

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        num = frame.reindex(columns=self.numeric).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        for j, c in enumerate(self.numeric):
            if c in self.log_numeric:
                num[:, j] = np.log1p(np.clip(num[:, j], 0, None))
        return num

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: list[str], categorical: list[str], max_levels: int = 12,
            log_numeric: list[str] | None = None) -> "Design":
        probe = cls(numeric, np.zeros(len(numeric)), np.zeros(len(numeric)), np.ones(len(numeric)), {},
                    list(log_numeric or []))
        num = probe._numeric(frame)
        med = np.nan_to_num(np.nanmedian(num, axis=0), nan=0.0) if len(num) else np.zeros(len(numeric))
        filled = np.where(np.isnan(num), med, num)
        mean, sd = filled.mean(0), filled.std(0)
        cats = {c: [str(v) for v in frame[c].astype(str).value_counts().index[:max_levels]] for c in categorical}
        return cls(numeric, med, mean, np.where(sd > 1e-9, sd, 1.0), cats, list(log_numeric or []))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        num = self._numeric(frame)
        num = np.where(np.isnan(num), self.medians, num)
        parts = [np.ones((len(frame), 1)), np.clip((num - self.means) / self.scales, -5, 5)]
        for c, levels in self.categories.items():
            col = frame[c].astype(str).to_numpy() if c in frame.columns else np.full(len(frame), "missing")
            parts.append((col[:, None] == np.asarray(levels)[None, :]).astype(float))
        return np.hstack(parts)


def fit_offset_glm(X: np.ndarray, y: np.ndarray, offset: np.ndarray, ridge: float, link: str,
                   iters: int = 30) -> np.ndarray:
    """Newton/IRLS with an offset and a ridge penalty (column 0, the intercept, is not penalised).

    ``link="log"``: Poisson quasi-likelihood, ``E[y|x] = exp(offset + Xw)`` with ``offset = log mu_0``,
    i.e. the offer multiplies the churn probability by ``exp(Xw)`` (consistent for the mean whatever
    the outcome's distribution). ``link="logit"``: logistic regression with ``offset = logit mu_0``.
    """
    d = X.shape[1]
    w = np.zeros(d)
    pen = np.full(d, float(ridge))
    pen[0] = 1e-6
    for _ in range(iters):
        eta = np.clip(offset + X @ w, -30, 3)
        if link == "log":
            mu = np.exp(eta)
            weight = mu
        else:
            mu = _sigmoid(eta)
            weight = mu * (1 - mu)
        grad = X.T @ (y - mu) - pen * w
        H = (X * weight[:, None]).T @ X + np.diag(pen)
        step = np.linalg.solve(H, grad)
        step = np.clip(step, -2, 2)
        w += step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w


def _deviance(y: np.ndarray, mu: np.ndarray, link: str) -> float:
    mu = np.clip(mu, EPS, 1 - EPS)
    if link == "log":  # Poisson deviance
        return float(2 * np.sum(np.where(y > 0, y * np.log(np.maximum(y, EPS) / mu), 0.0) - (y - mu)))
    return float(-2 * np.sum(y * np.log(mu) + (1 - y) * np.log(1 - mu)))


def choose_ridge(X: np.ndarray, y: np.ndarray, offset: np.ndarray, grid: list[float], link: str, folds: int,
                 seed: int) -> tuple[float, dict[float, float]]:
    """Ridge penalty by K-fold cross-validated deviance on the arm's own (observable) outcomes."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, len(y))
    scores = {}
    for lam in grid:
        dev = 0.0
        for f in range(folds):
            tr, te = fold != f, fold == f
            w = fit_offset_glm(X[tr], y[tr], offset[tr], lam, link)
            eta = offset[te] + X[te] @ w
            mu = np.exp(np.clip(eta, -30, 0)) if link == "log" else _sigmoid(eta)
            dev += _deviance(y[te], mu, link)
        scores[float(lam)] = dev
    return min(scores, key=scores.get), scores


@dataclass
class UpliftModel:
    """T-learner over the campaign arms with a bootstrap ensemble for intervals."""

    schema: FeatureSchema
    offers: list[str]
    control: Any                      # fitted sklearn pipeline (mu_0)
    design: Design
    coef: dict[str, np.ndarray]       # offer -> point coefficients
    boot: dict[str, np.ndarray]       # offer -> (B, d) bootstrap coefficients
    ci_level: float
    link: str = "log"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return [c for c in self.schema.columns if c != "campaign_offer"]

    def _offset(self, p0: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p0, EPS, 1.0)) if self.link == "log" else _logit(p0)

    def _after(self, p0: np.ndarray, off: np.ndarray, shift: np.ndarray) -> np.ndarray:
        if self.link == "log":
            return np.clip(p0 * np.exp(np.clip(shift, -30, 3)), 0.0, 1.0)
        return _sigmoid(off + shift)

    def control_probability(self, features: pd.DataFrame) -> np.ndarray:
        return self.control.predict_proba(prepare(features, self._schema_wo_offer()))[:, 1]

    def _schema_wo_offer(self) -> FeatureSchema:
        return FeatureSchema([c for c in self.schema.numeric], [c for c in self.schema.categorical
                                                                if c != "campaign_offer"], [], {})

    def predict(self, features: pd.DataFrame, with_interval: bool = True) -> dict[str, np.ndarray]:
        """p_before (n,), and per offer p_after, uplift, uplift_low, uplift_high (n, K) in ``self.offers`` order."""
        p0 = self.control_probability(features)
        off = self._offset(p0)
        X = self.design.transform(features)
        n, K = len(features), len(self.offers)
        p_after, low, high = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        alpha = (1 - self.ci_level) / 2
        for k, offer in enumerate(self.offers):
            p_after[:, k] = self._after(p0, off, X @ self.coef[offer])
            if with_interval and len(self.boot[offer]):
                ups = p0[:, None] - self._after(p0[:, None], off[:, None], X @ self.boot[offer].T)
                lo_hi = np.quantile(ups, [alpha, 1 - alpha], axis=1)
                low[:, k], high[:, k] = lo_hi[0], lo_hi[1]
            else:
                low[:, k] = high[:, k] = p0 - p_after[:, k]
        uplift = p0[:, None] - p_after
        return {"p_before": p0, "p_after": p_after, "uplift": uplift, "uplift_low": low, "uplift_high": high}


def fit_uplift(train: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, offers: list[str], cfg: dict[str, Any],
               seed: int) -> UpliftModel:
    """Fit the T-learner on the training split's campaign (``campaign_offer`` column)."""
    if "campaign_offer" not in train.columns:
        raise ValueError("no randomized campaign in this data source (feature campaign_offer): "
                         "the causal uplift model cannot be trained")
    arm = train["campaign_offer"].astype(str).to_numpy()
    eligible = ~train["is_cold_start"].astype(bool).to_numpy() if "is_cold_start" in train.columns else np.ones(len(train), bool)
    sch = FeatureSchema(list(schema.numeric), [c for c in schema.categorical if c != "campaign_offer"], [], {})
    ctrl_mask = np.isin(arm, CONTROL_ARMS) & eligible
    c = cfg["control_model"]
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    pre = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), sch.categorical),
        ("num", "passthrough", sch.numeric)])
    clf = HistGradientBoostingClassifier(max_iter=int(c["max_iter"]), learning_rate=float(c["learning_rate"]),
                                         max_leaf_nodes=int(c["max_leaf_nodes"]), l2_regularization=1.0,
                                         early_stopping=True, validation_fraction=0.1,
                                         categorical_features=list(range(len(sch.categorical))), random_state=seed)
    control = Pipeline([("pre", pre), ("clf", clf)]).fit(prepare(train[ctrl_mask], sch), y[ctrl_mask])
    effect_num = cfg.get("effect_numeric") or sch.numeric
    effect_cat = cfg.get("effect_categorical") or sch.categorical
    design = Design.fit(train[eligible], list(effect_num), list(effect_cat),
                        log_numeric=[c for c in cfg.get("effect_log_numeric") or [] if c in effect_num])
    model = UpliftModel(schema, list(offers), control, design, {}, {}, float(cfg["ci_level"]),
                         link=str(cfg.get("link", "log")))
    rng = np.random.default_rng(seed)
    B, ridge = int(cfg["bootstrap"]), float(cfg["ridge"])
    info: dict[str, Any] = {"control_rows": int(ctrl_mask.sum()), "arm_rows": {}}
    for offer in offers:
        m = (arm == offer) & eligible
        info["arm_rows"][offer] = int(m.sum())
        if m.sum() < 20:
            raise ValueError(f"offer {offer!r}: only {int(m.sum())} campaign customers in the training split")
        rows = train[m]
        X = design.transform(rows)
        off = model._offset(model.control_probability(rows))
        yk = y[m].astype(float)
        if cfg.get("ridge_grid"):
            ridge, _ = choose_ridge(X, yk, off, [float(v) for v in cfg["ridge_grid"]], model.link,
                                    int(cfg.get("ridge_cv_folds", 5)), seed)
        info.setdefault("ridge", {})[offer] = ridge
        model.coef[offer] = fit_offset_glm(X, yk, off, ridge, model.link)
        boots = []
        for _ in range(B):
            idx = rng.integers(0, len(yk), len(yk))
            boots.append(fit_offset_glm(X[idx], yk[idx], off[idx], ridge, model.link))
        model.boot[offer] = np.asarray(boots) if boots else np.empty((0, X.shape[1]))
    model.info = info
    return model
