"""Causal uplift model trained on the randomized campaign (observable data only, never the truth).

A T-learner: one outcome model per arm.
- Control arm ``mu_0(x)``: gradient boosting on every untreated established customer (the campaign's
  ``none`` arm plus those outside the campaign: assignment was random, so both are controls).
- Each offer arm ``mu_k(x)``: a ridge-penalised GLM on that arm's customers with offset
  ``log mu_0(x)`` (``link: log``, default: the offer multiplies the churn probability by
  ``exp(g_k(x))``, a relative risk that depends on the customer) or ``logit mu_0(x)``
  (``link: logit``). It borrows the baseline from the much larger control arm and keeps the
  variance low with ~2k treated customers per arm.
- ``learner: pooled``: the offer GLMs as one model (shared effect modifiers + per-arm deviations),
  the (shared, deviation) ridge pair by CV deviance over all treated customers; a huge shared ridge
  (the default grid) keeps the arms separate and only chooses their common ridge jointly.
- Uncertainty: ``bootstrap`` resamples of each arm's rows refit ``mu_k``; with ``control_bootstrap: M``
  the control model is refitted on M resamples of the controls too and replicate ``b`` uses control
  ``b mod M`` (fit and predict), so the interval carries the whole pipeline's sampling noise. The
  interval is the replicates' percentile interval or point +- z x their sd (``interval``, ``ci_level``).
  It is an interval for the conditional average effect given the features, not for one customer's
  own effect (which also depends on unobserved risk).
Uplift (churn-probability reduction) = ``mu_0(x) - mu_k(x)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from churnguard.core.numeric import logit, sigmoid
from churnguard.core.vocabulary import CONTROL_ARMS
from churnguard.features.table import FeatureSchema
from churnguard.models.tabular import prepare

EPS = 1e-4


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
    def fit(
        cls,
        frame: pd.DataFrame,
        numeric: list[str],
        categorical: list[str],
        max_levels: int = 12,
        log_numeric: list[str] | None = None,
    ) -> Design:
        probe = cls(
            numeric, np.zeros(len(numeric)), np.zeros(len(numeric)), np.ones(len(numeric)), {}, list(log_numeric or [])
        )
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


def fit_offset_glm(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, ridge: float | np.ndarray, link: str, iters: int = 30
) -> np.ndarray:
    """Newton/IRLS with an offset and a ridge penalty (column 0, the intercept, is not penalised).

    ``link="log"``: Poisson quasi-likelihood, ``E[y|x] = exp(offset + Xw)`` with ``offset = log mu_0``,
    i.e. the offer multiplies the churn probability by ``exp(Xw)`` (consistent for the mean whatever
    the outcome's distribution). ``link="logit"``: logistic regression with ``offset = logit mu_0``.
    """
    d = X.shape[1]
    w = np.zeros(d)
    if np.ndim(ridge):
        pen = np.asarray(ridge, dtype=float)  # one penalty per column (pooled design)
    else:
        pen = np.full(d, float(ridge))
        pen[0] = 1e-6
    for _ in range(iters):
        eta = np.clip(offset + X @ w, -30, 3)
        if link == "log":
            mu = np.exp(eta)
            weight = mu
        else:
            mu = sigmoid(eta, clip=30)
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


def choose_ridge(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, grid: list[float], link: str, folds: int, seed: int
) -> tuple[float, dict[float, float]]:
    """Ridge penalty by K-fold cross-validated deviance on the arm's own (observable) outcomes."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    scores = {float(lam): _cv_deviance(X, y, offset, lam, link, fold, folds) for lam in grid}
    return min(scores, key=scores.get), scores


def _cv_deviance(
    X: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    penalty: float | np.ndarray,
    link: str,
    fold: np.ndarray,
    folds: int,
) -> float:
    """Held-out deviance summed over the folds of a ridge offset GLM with this penalty."""
    dev = 0.0
    for f in range(folds):
        tr, te = fold != f, fold == f
        w = fit_offset_glm(X[tr], y[tr], offset[tr], penalty, link)
        eta = offset[te] + X[te] @ w
        mu = np.exp(np.clip(eta, -30, 0)) if link == "log" else sigmoid(eta, clip=30)
        dev += _deviance(y[te], mu, link)
    return dev


def pooled_design(X: np.ndarray, arm: np.ndarray, K: int) -> np.ndarray:
    """Pooled offer design: shared effect modifiers (all arms) + one block per arm (its intercept and
    its deviation from the shared modifiers). ``X``'s column 0 is the intercept."""
    n, d = X.shape
    Z = np.zeros((n, (d - 1) + K * d))
    Z[:, : d - 1] = X[:, 1:]
    for k in range(K):
        m = arm == k
        Z[m, d - 1 + k * d : d - 1 + (k + 1) * d] = X[m]
    return Z


def pooled_penalty(d: int, K: int, shared: float, deviation: float) -> np.ndarray:
    pen = np.full((d - 1) + K * d, float(deviation))
    pen[: d - 1] = float(shared)
    pen[d - 1 + np.arange(K) * d] = 1e-6  # arm intercepts are not penalised
    return pen


def pooled_coefs(w: np.ndarray, d: int, K: int) -> list[np.ndarray]:
    """Per-arm coefficients (intercept, modifiers) of a pooled fit, in the per-arm design's layout."""
    shared = w[: d - 1]
    out = []
    for k in range(K):
        blk = w[d - 1 + k * d : d - 1 + (k + 1) * d]
        out.append(np.r_[blk[0], shared + blk[1:]])
    return out


def choose_pooled_ridge(
    Z: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    d: int,
    K: int,
    shared_grid: list[float],
    deviation_grid: list[float],
    link: str,
    folds: int,
    seed: int,
) -> tuple[tuple[float, float], dict[str, float]]:
    """(shared, deviation) ridge pair by K-fold cross-validated deviance on the treated customers'
    own (observable) outcomes. A very large shared ridge is the unpooled T-learner."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    scores = {
        (float(ls), float(ld)): _cv_deviance(Z, y, offset, pooled_penalty(d, K, ls, ld), link, fold, folds)
        for ls in shared_grid
        for ld in deviation_grid
    }
    best = min(scores, key=scores.get)
    return best, {f"{a:g}/{b:g}": v for (a, b), v in scores.items()}


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

    def predict(self, features: pd.DataFrame, with_interval: bool = True) -> dict[str, np.ndarray]:
        """p_before (n,), and per offer p_after, uplift, uplift_low, uplift_high (n, K) in ``self.offers`` order."""
        controls = list(getattr(self, "boot_controls", []) or [])
        if controls and with_interval:
            p0, p0_boot = self._control_all(features, controls)
        else:
            p0, p0_boot = self.control_probability(features), []
        off = self._offset(p0)
        X = self.design.transform(features)
        n, K = len(features), len(self.offers)
        p_after, low, high = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        alpha = (1 - self.ci_level) / 2
        normal = getattr(self, "interval", "percentile") == "normal"
        for k, offer in enumerate(self.offers):
            p_after[:, k] = self._after(p0, off, X @ self.coef[offer])
            B = len(self.boot[offer])
            if with_interval and B:
                ups = np.empty((n, B))
                if controls:
                    for m, pm in enumerate(p0_boot):
                        cols = np.arange(m, B, len(controls))
                        ups[:, cols] = pm[:, None] - self._after(
                            pm[:, None], self._offset(pm)[:, None], X @ self.boot[offer][cols].T
                        )
                else:
                    ups[:] = p0[:, None] - self._after(p0[:, None], off[:, None], X @ self.boot[offer].T)
                if getattr(self, "point", "fit") == "bagged":
                    p_after[:, k] = p0 - ups.mean(1)
                if normal:
                    z = NormalDist().inv_cdf(1 - alpha)
                    point = p0 - p_after[:, k]
                    sd = np.sqrt(np.mean((ups - ups.mean(1, keepdims=True)) ** 2, axis=1) * B / max(B - 1, 1))
                    low[:, k], high[:, k] = point - z * sd, point + z * sd
                else:
                    lo_hi = np.quantile(ups, [alpha, 1 - alpha], axis=1)
                    low[:, k], high[:, k] = lo_hi[0], lo_hi[1]
            else:
                low[:, k] = high[:, k] = p0 - p_after[:, k]
        uplift = p0[:, None] - p_after
        return {"p_before": p0, "p_after": p_after, "uplift": uplift, "uplift_low": low, "uplift_high": high}


def _control_pipeline(sch: FeatureSchema, c: dict[str, Any], seed: int, iterations: int | None = None):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    pre = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                sch.categorical,
            ),
            ("num", "passthrough", sch.numeric),
        ]
    )
    clf = HistGradientBoostingClassifier(
        max_iter=int(c["max_iter"]),
        learning_rate=float(c["learning_rate"]),
        max_leaf_nodes=int(c["max_leaf_nodes"]),
        l2_regularization=1.0,
        early_stopping=iterations is None,
        validation_fraction=0.1,
        categorical_features=list(range(len(sch.categorical))),
        random_state=seed,
    )
    if iterations is not None:  # a bootstrap refit: the point model's size (early stopping on a resample's
        clf.set_params(max_iter=int(iterations))  # duplicated rows would not stop)
    return Pipeline([("pre", pre), ("clf", clf)])


def fit_uplift(
    train: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, offers: list[str], cfg: dict[str, Any], seed: int
) -> UpliftModel:
    """Fit the uplift model on the training split's campaign (``campaign_offer`` column).

    ``learner: t_learner``: one offset GLM per offer arm, ridge per arm by CV. ``learner: pooled``:
    one offset GLM over all offer arms with shared effect modifiers plus per-arm deviations, the
    (shared, deviation) ridge pair chosen by CV deviance (a huge shared ridge = the T-learner).
    ``control_bootstrap: M`` refits the control model on M bootstrap resamples of the controls, so
    the interval carries the control model's uncertainty too (an honest bootstrap of the pipeline).
    """
    if "campaign_offer" not in train.columns:
        raise ValueError(
            "no randomized campaign in this data source (feature campaign_offer): "
            "the causal uplift model cannot be trained"
        )
    arm = train["campaign_offer"].astype(str).to_numpy()
    eligible = (
        ~train["is_cold_start"].astype(bool).to_numpy()
        if "is_cold_start" in train.columns
        else np.ones(len(train), bool)
    )
    sch = FeatureSchema(list(schema.numeric), [c for c in schema.categorical if c != "campaign_offer"], [], {})
    ctrl_mask = np.isin(arm, CONTROL_ARMS) & eligible
    c = cfg["control_model"]
    Xc, yc = prepare(train[ctrl_mask], sch), y[ctrl_mask]
    control = _control_pipeline(sch, c, seed).fit(Xc, yc)
    rng = np.random.default_rng(seed)
    boot_controls = []  # classifiers on the point model's encoding (features encoded once at predict time)
    Xt = control.named_steps["pre"].transform(Xc) if int(cfg.get("control_bootstrap", 0) or 0) else None
    for m in range(int(cfg.get("control_bootstrap", 0) or 0)):
        idx = rng.integers(0, len(yc), len(yc))
        clf = _control_pipeline(sch, c, seed + 1 + m, control.named_steps["clf"].n_iter_).named_steps["clf"]
        boot_controls.append(clf.fit(Xt[idx], yc[idx]))
    effect_num = cfg.get("effect_numeric") or sch.numeric
    effect_cat = cfg.get("effect_categorical") or sch.categorical
    design = Design.fit(
        train[eligible],
        list(effect_num),
        list(effect_cat),
        log_numeric=[c for c in cfg.get("effect_log_numeric") or [] if c in effect_num],
    )
    model = UpliftModel(
        schema,
        list(offers),
        control,
        design,
        {},
        {},
        float(cfg["ci_level"]),
        link=str(cfg.get("link", "log")),
        boot_controls=boot_controls,
        interval=str(cfg.get("interval", "percentile")),
        point=str(cfg.get("point", "fit")),
    )
    B, ridge = int(cfg["bootstrap"]), float(cfg["ridge"])
    learner = str(cfg.get("learner", "t_learner"))
    info: dict[str, Any] = {
        "learner": learner,
        "control_rows": int(ctrl_mask.sum()),
        "arm_rows": {},
        "control_bootstrap": len(boot_controls),
        "interval": model.interval,
        "point": model.point,
    }
    M = max(1, len(boot_controls))
    ctrl_for = (lambda b: boot_controls[b % M]) if boot_controls else (lambda b: control)
    rows_by_offer = {}
    for offer in offers:
        m = (arm == offer) & eligible
        info["arm_rows"][offer] = int(m.sum())
        if m.sum() < 20:
            raise ValueError(f"offer {offer!r}: only {int(m.sum())} campaign customers in the training split")
        rows_by_offer[offer] = m
    if learner == "pooled":
        K = len(offers)
        m_all = np.zeros(len(train), dtype=bool)
        arm_idx = np.full(len(train), -1)
        for k, offer in enumerate(offers):
            m_all |= rows_by_offer[offer]
            arm_idx[rows_by_offer[offer]] = k
        rows, a = train[m_all], arm_idx[m_all]
        X = design.transform(rows)
        d = X.shape[1]
        Z = pooled_design(X, a, K)
        yk = y[m_all].astype(float)
        off = model._offset(model.control_probability(rows))
        (ls, ld), scores = choose_pooled_ridge(
            Z,
            yk,
            off,
            d,
            K,
            [float(v) for v in cfg.get("shared_ridge_grid") or [1e6]],
            [float(v) for v in cfg.get("ridge_grid") or [ridge]],
            model.link,
            int(cfg.get("ridge_cv_folds", 5)),
            seed,
        )
        info["ridge"] = {"shared": ls, "deviation": ld}
        info["ridge_cv_deviance"] = scores
        pen = pooled_penalty(d, K, ls, ld)
        for k, w in enumerate(pooled_coefs(fit_offset_glm(Z, yk, off, pen, model.link), d, K)):
            model.coef[offers[k]] = w
        offs = {}
        boots: list[list[np.ndarray]] = [[] for _ in offers]
        groups = [np.nonzero(a == k)[0] for k in range(K)]
        for b in range(B):
            cm = ctrl_for(b)
            if id(cm) not in offs:
                offs[id(cm)] = model._offset(model.control_probability(rows, cm))
            idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])  # stratified by arm
            w = fit_offset_glm(Z[idx], yk[idx], offs[id(cm)][idx], pen, model.link)
            for k, wk in enumerate(pooled_coefs(w, d, K)):
                boots[k].append(wk)
        for k, offer in enumerate(offers):
            model.boot[offer] = np.asarray(boots[k]) if boots[k] else np.empty((0, d))
    elif learner == "t_learner":
        for offer in offers:
            m = rows_by_offer[offer]
            rows = train[m]
            X = design.transform(rows)
            off = model._offset(model.control_probability(rows))
            yk = y[m].astype(float)
            if cfg.get("ridge_grid"):
                ridge, _ = choose_ridge(
                    X,
                    yk,
                    off,
                    [float(v) for v in cfg["ridge_grid"]],
                    model.link,
                    int(cfg.get("ridge_cv_folds", 5)),
                    seed,
                )
            info.setdefault("ridge", {})[offer] = ridge
            model.coef[offer] = fit_offset_glm(X, yk, off, ridge, model.link)
            boots = []
            offs = {}
            for b in range(B):
                cm = ctrl_for(b)
                if id(cm) not in offs:
                    offs[id(cm)] = model._offset(model.control_probability(rows, cm))
                idx = rng.integers(0, len(yk), len(yk))
                boots.append(fit_offset_glm(X[idx], yk[idx], offs[id(cm)][idx], ridge, model.link))
            model.boot[offer] = np.asarray(boots) if boots else np.empty((0, X.shape[1]))
    else:
        raise ValueError(f"fit_counterfactual.uplift.learner must be t_learner or pooled, got {learner!r}")
    model.info = info
    return model
