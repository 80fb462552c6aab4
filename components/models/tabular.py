"""The base tabular churn model, chosen by cross-validation among candidate families and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from churnguard.core import columns
from churnguard.core.bundle import score_frame, write_part_spec
from churnguard.features.table import FeatureSchema
from churnguard.models.config import LogisticParams, TrainBaseConfig, typed
from churnguard.models.fast_trees import FastHGB
from churnguard.models.gbm import GBMParams, gbm_params, gbm_pipeline
from churnguard.models.sampling import learning_curve, stratified_sample

MODEL_FILE = "model.joblib"


def make_candidate(
    name: str, schema: FeatureSchema, params: GBMParams | LogisticParams | Mapping[str, Any], seed: int
) -> Pipeline:
    """An unfitted pipeline of one candidate family with its params sub-section."""
    if name == "logistic_regression":
        lr = typed(LogisticParams, params, "train_base.logistic_regression")
        pre = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), schema.categorical),
                (
                    "num",
                    Pipeline(
                        [("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())]
                    ),
                    schema.numeric,
                ),
            ]
        )
        return Pipeline([("pre", pre), ("clf", LogisticRegression(C=lr.C, max_iter=2000))])
    if name == "hist_gradient_boosting":
        return gbm_pipeline(schema.categorical, schema.numeric, gbm_params(params, f"train_base.{name}"), seed)
    raise ValueError(f"unknown model candidate {name!r} (train_base.candidates)")


@dataclass
class BaseModel:
    """The fitted base model with the schema it expects; a bundle part (order 0)."""

    pipeline: Pipeline
    schema: FeatureSchema
    family: str

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        if self.family == "hist_gradient_boosting":
            return self.proba_columns(columns.from_frame(features), len(features))
        return self.pipeline.predict_proba(prepare(features, self.schema))[:, 1]

    def proba_columns(self, cols: columns.Columns, n: int) -> np.ndarray:
        """P(churn) from :mod:`churnguard.core.columns` (absent columns are missing values)."""
        fast = self.fast_scorer()
        if fast is None:
            return self.pipeline.predict_proba(prepare(columns.to_frame(cols), self.schema))[:, 1]
        return fast.predict_proba(fast.encode(cols, self.schema.categorical, self.schema.numeric, n))

    def fast_scorer(self) -> FastHGB | None:
        """The exact fast scorer of a gradient-boosting model (built on first use, never pickled);
        None for other families. Its input is ``schema.categorical + schema.numeric``."""
        if self.family != "hist_gradient_boosting":
            return None
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastHGB.from_pipeline(self.pipeline)
        return fast

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}  # no scoring caches

    def score_columns(self, cols: columns.Columns, n: int, scores: columns.Columns) -> columns.Columns:
        p = self.proba_columns(cols, n)
        return {**scores, "base_probability": p, "churn_probability": p}

    def score(self, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
        return score_frame(self, features, scores)


def prepare(features: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Order columns as trained; absent columns become missing (serving sends partial rows)."""
    frame = features.reindex(columns=schema.columns)
    for c in schema.categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "missing")
    # converting only what is not numeric already keeps small batches cheap
    to_convert = [c for c in schema.numeric if not pd.api.types.is_numeric_dtype(frame[c])]
    if to_convert:
        frame[to_convert] = frame[to_convert].apply(pd.to_numeric, errors="coerce")
    return frame


def select_and_fit(
    train: pd.DataFrame, y: np.ndarray, schema: FeatureSchema, cfg: TrainBaseConfig | Mapping[str, Any], seed: int
) -> tuple[BaseModel, dict[str, Any]]:
    """Cross-validate every setting (ROC AUC) on at most ``sample.cv_rows`` stratified training rows,
    then fit the best on all training rows, or on a learning-curve-sized stratified sample of
    them when there are many (:mod:`churnguard.models.sampling`).

    Returns the model and the report: ``cv`` (name -> mean/std over folds), ``selected``,
    ``fit_rows`` and, where one ran, ``learning_curve``."""
    c = typed(TrainBaseConfig, cfg, "train_base")
    X, y = prepare(train, schema), np.asarray(y)
    rng = np.random.default_rng(seed)
    strata = _strata(train, y)
    settings = c.settings()
    cv_rows = stratified_sample(strata, c.sample.cv_rows, rng)
    cv = cross_validate_settings(settings, schema, X.iloc[cv_rows], y[cv_rows], c.cv_folds, seed)
    best = max(cv, key=lambda k: cv[k]["roc_auc_mean"])
    family, params = settings[best]
    report: dict[str, Any] = {"selected": best, "cv": cv, "cv_rows": len(cv_rows)}
    fit_rows = np.arange(len(X))
    if len(X) > 2 * c.sample.start_rows:
        fit_rows, report["learning_curve"] = _curve_sized_rows(family, params, schema, X, y, strata, c, seed)
    report["fit_rows"] = len(fit_rows)
    pipeline = make_candidate(family, schema, params, seed).fit(X.iloc[fit_rows], y[fit_rows])
    return BaseModel(pipeline, schema, family), report


def _strata(train: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    cold = train["is_cold_start"].to_numpy(dtype=float) if "is_cold_start" in train else np.zeros(len(train))
    return np.asarray(y, dtype=np.int64) * 2 + np.nan_to_num(cold).astype(np.int64)


def cross_validate_settings(
    settings: Mapping[str, tuple[str, Any]],
    schema: FeatureSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    """Mean and sd of the ROC AUC over stratified folds, for each named (family, params) setting."""
    from tqdm import tqdm

    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out: dict[str, dict[str, float]] = {}
    for name, (family, params) in tqdm(settings.items(), desc="cross-validating", unit="setting"):
        scores = cross_val_score(
            make_candidate(family, schema, params, seed), X, y, cv=splits, scoring="roc_auc", n_jobs=1
        )
        out[name] = {"roc_auc_mean": float(scores.mean()), "roc_auc_std": float(scores.std())}
    return out


def _curve_sized_rows(
    family: str,
    params: Any,
    schema: FeatureSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    strata: np.ndarray,
    c: TrainBaseConfig,
    seed: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Training rows sized by the learning curve: the selected setting fitted on doubling stratified
    samples, each scored on the same ``validation_rows`` held-out training customers."""
    rng = np.random.default_rng(seed + 1)
    validation = stratified_sample(strata, c.sample.validation_rows, rng)
    rest = np.setdiff1d(np.arange(len(X)), validation)

    def fit_score(rows: np.ndarray) -> np.ndarray:
        model = make_candidate(family, schema, params, seed).fit(X.iloc[rows], y[rows])
        return model.predict_proba(X.iloc[validation])[:, 1]

    size, curve = learning_curve(fit_score, rest, y, validation, strata, c.sample, seed)
    return stratified_sample(strata, size, rng), curve


def save_part(model: BaseModel, part_dir: Path) -> None:
    """Write the base model as bundle part ``base``."""
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, part_dir / MODEL_FILE)
    write_part_spec(
        part_dir, "base", 0, "churnguard.models.tabular:load_part", family=model.family, features=model.schema.columns
    )


def load_part(part_dir: Path) -> BaseModel:
    return joblib.load(Path(part_dir) / MODEL_FILE)
