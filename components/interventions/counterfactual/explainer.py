"""The interface every caller uses, whatever the backend: ``CounterfactualExplainer.explain_frame``
(propose, project onto the action space, repair, score, bookkeeping) and fit / save / load."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from churnguard.core.config import build
from churnguard.core.vocabulary import ID
from churnguard.interventions.config import AlibiConfig, DiceConfig, FitCounterfactualConfig
from churnguard.interventions.counterfactual.action_space import ActionSpace, changed_features
from churnguard.interventions.counterfactual.backends import Backend, backend_class
from churnguard.interventions.counterfactual.predictor import _Predictor
from churnguard.interventions.counterfactual.repair_search import repair
from churnguard.models.tabular import BaseModel

SPACE_FILE = "counterfactual_space.joblib"


@dataclass
class _Outcome:
    """Per row of one ``explain_frame`` call (arrays aligned with its input)."""

    cf: pd.DataFrame  # the returned counterfactuals (the original where none was needed)
    need: np.ndarray  # positions of the rows at or above the threshold
    p_before: np.ndarray
    p_backend: np.ndarray  # after the backend's projected proposal
    p_after: np.ndarray  # after repair
    repaired: np.ndarray
    raw_violations: np.ndarray  # immutable changes the backend proposed (before projection)
    backend_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def needed(self) -> np.ndarray:
        mask = np.zeros(len(self.p_before), dtype=bool)
        mask[self.need] = True
        return mask


def _ratio_or_nan(count: int, seconds: float) -> float:
    return float(count / seconds) if seconds > 0 else float("nan")


@dataclass
class CounterfactualExplainer:
    """The interface every caller uses, whatever the backend."""

    space: ActionSpace
    backend: Backend
    threshold: float
    use_repair: bool = True

    @property
    def predictor(self) -> _Predictor:
        return self.backend.predictor

    def _put(self, cf: pd.DataFrame, rows: np.ndarray, values: pd.DataFrame) -> None:
        for c in self.space.actionable:  # projection returns the original for every other feature
            col = cf[c].to_numpy(dtype=float if c in self.space.numeric else object).copy()
            col[rows] = values[c].to_numpy()
            cf[c] = col

    def _run(self, features: pd.DataFrame, original: pd.DataFrame) -> _Outcome:
        """Backend proposals projected onto the action space, then repair where still invalid."""
        p_before = self.predictor.proba(features)
        need = np.nonzero(p_before >= self.threshold)[0]
        t0 = time.perf_counter()
        o = _Outcome(
            original.copy(),
            need,
            p_before,
            p_before.copy(),
            p_before,
            np.zeros(len(features), dtype=bool),
            np.zeros(len(features), dtype=int),
        )
        if len(need):
            orig_need = original.iloc[need].reset_index(drop=True)
            proposal = self.backend.propose(orig_need)
            o.raw_violations[need] = self.space.immutable_changes(orig_need, proposal)
            self._put(o.cf, need, self.space.project(orig_need, proposal))
        o.backend_seconds = time.perf_counter() - t0
        if len(need):  # rows that need no counterfactual are unchanged
            o.p_backend[need] = self.predictor.proba(o.cf.iloc[need])
        o.p_after = o.p_backend.copy()
        if self.use_repair:
            bad = need[o.p_backend[need] >= self.threshold]
            if len(bad):
                orig_bad = original.iloc[bad].reset_index(drop=True)
                fixed = self.space.project(orig_bad, repair(self.space, self.predictor, orig_bad, self.threshold))
                self._put(o.cf, bad, fixed)
                o.p_after[bad] = self.predictor.proba(o.cf.iloc[bad])
                o.repaired[bad] = True
        o.seconds = time.perf_counter() - t0
        return o

    def _stats(self, o: _Outcome, changes: list[list[dict]], final_violations: np.ndarray) -> dict[str, Any]:
        needed, valid = o.needed, o.p_after < self.threshold
        n = int(needed.sum())
        return {
            "backend": self.backend.name,
            "explained": n,
            "validity": float(valid[needed].mean()) if needed.any() else float("nan"),
            "validity_backend_alone": float((o.p_backend < self.threshold)[needed].mean())
            if needed.any()
            else float("nan"),
            "repaired": int(o.repaired.sum()),
            "backend_seconds": o.backend_seconds,
            "backend_per_second": _ratio_or_nan(n, o.backend_seconds),
            "sparsity_mean_changed_features": float(np.mean([len(changes[i]) for i in o.need])) if len(o.need) else 0.0,
            "immutable_changes": int(final_violations[needed].sum()),
            "immutable_changes_raw": int(o.raw_violations[needed].sum()),
            "mean_probability_drop": float((o.p_before - o.p_after)[needed].mean()) if needed.any() else 0.0,
            "seconds": o.seconds,
            "per_second": _ratio_or_nan(n, o.seconds),
        }

    def explain_frame(self, features: pd.DataFrame) -> tuple[list[dict], dict[str, Any]]:
        """Counterfactual per row (projected onto the action space) and aggregate quality numbers.

        Batched end to end: one backend call per condition group, vectorised projection, one batched
        scoring of every repair candidate, column-wise bookkeeping."""
        features = features.reset_index(drop=True)
        # serving may send partial rows: absent model features are missing (and stay as they are)
        features = features.reindex(columns=list(dict.fromkeys([*features.columns, *self.space.features])))
        original = features.reindex(columns=self.space.features)
        o = self._run(features, original)
        changes = changed_features(self.space, original, o.cf)
        final_violations = self.space.immutable_changes(original, o.cf)
        ids = features[ID].astype(str).tolist() if ID in features.columns else [str(i) for i in range(len(features))]
        valid = o.p_after < self.threshold
        name, name_rep = self.backend.name, self.backend.name + "+repair"
        out = [
            {
                "customer_id": cid,
                "backend": name_rep if rep else name,
                "needed": nd,
                "p_before": pb,
                "new_probability": pa,
                "valid": ok,
                "changes": ch,
            }
            for cid, rep, nd, pb, pa, ok, ch in zip(
                ids,
                o.repaired.tolist(),
                o.needed.tolist(),
                o.p_before.tolist(),
                o.p_after.tolist(),
                valid.tolist(),
                changes,
            )
        ]
        return out, self._stats(o, changes, final_violations)


def fit_explainer(
    base: BaseModel, train: pd.DataFrame, cfg: FitCounterfactualConfig, seed: int
) -> CounterfactualExplainer:
    """``cfg``: the typed ``fit_counterfactual`` section."""
    backend_cls = backend_class(cfg.backend)
    space = ActionSpace.from_params(cfg, base.schema, train)
    predictor = _Predictor(base, space, cfg.target_threshold)
    rows = train.sample(min(len(train), cfg.train_rows), random_state=seed)
    backend = backend_cls.fit(space, predictor, rows, cfg.backend_section(backend_cls.name), seed)
    return CounterfactualExplainer(space, backend, cfg.target_threshold, cfg.repair)


def save_explainer(explainer: CounterfactualExplainer, part_dir: Path, cfg: dict[str, Any], seed: int) -> None:
    """``cfg``: the ``fit_counterfactual`` params as read (a plain mapping: the bundle stays loadable
    without this code's config classes)."""
    joblib.dump(
        {
            "space": explainer.space,
            "threshold": explainer.threshold,
            "backend": explainer.backend.name,
            "repair": explainer.use_repair,
            "cfg": cfg,
            "seed": seed,
        },
        part_dir / SPACE_FILE,
    )
    explainer.backend.save(part_dir)


def load_explainer(part_dir: Path, base: BaseModel) -> CounterfactualExplainer:
    meta = joblib.load(part_dir / SPACE_FILE)
    space, thr = meta["space"], meta["threshold"]
    backend_cls = backend_class(meta["backend"], where=str(Path(part_dir) / SPACE_FILE))
    predictor = _Predictor(base, space, thr)
    backend = backend_cls.load(
        part_dir, space, predictor, _backend_section(backend_cls.name, meta.get("cfg") or {}), meta["seed"]
    )
    return CounterfactualExplainer(space, backend, thr, bool(meta.get("repair", True)))


def _backend_section(name: str, saved: dict[str, Any]) -> Any:
    """The backend's typed section from a bundle's saved params (None where the bundle has none)."""
    section = saved.get(name)
    if not section:
        return None
    return build({"alibi_cfrl": AlibiConfig, "dice": DiceConfig}[name], section, f"fit_counterfactual.{name}")
