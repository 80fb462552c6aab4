"""The ``interventions`` bundle part (order 30): ``recommend`` and ``explain`` for serving and sweeps.

Files in ``models/interventions/``: ``part.json``, ``uplift.joblib`` (causal T-learner + scenarios
+ value horizon), the counterfactual backend's files. The base model is the bundle's sibling part
``../base`` (the counterfactuals explain the champion's base model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from churnguard.core.bundle import write_part_spec
from churnguard.core.columns import from_frame
from churnguard.core.vocabulary import ID, RECOMMENDATION
from churnguard.interventions.allocation import rank_offers
from churnguard.interventions.counterfactual import CounterfactualExplainer, load_explainer, save_explainer
from churnguard.interventions.scenarios import Scenario, customer_value
from churnguard.interventions.uplift import UpliftModel

UPLIFT_FILE = "uplift.joblib"
RECOMMEND_COLUMNS = list(RECOMMENDATION)


@dataclass
class InterventionsPart:
    uplift: UpliftModel
    scenarios: list[Scenario]
    value_months: float
    part_dir: Path | None = None
    _explainer: CounterfactualExplainer | None = None
    _base: Any = None

    # ------------------------------------------------------------------ decisions
    def estimates(
        self, features: pd.DataFrame, with_interval: bool = True, what_if: bool = True, out_of_fold: bool = False
    ) -> dict[str, Any]:
        """Arrays (n, K) per scenario: causal estimates, value, cost; plus the model-based what-if (and the
        cross-fitted model's out-of-fold estimates, ``oof_*``, when asked: the sweep's plan check)."""
        pred = self.uplift.predict(features, with_interval=with_interval, out_of_fold=out_of_fold)
        offers = self.uplift.offers
        col = {o: k for k, o in enumerate(offers)}
        idx = [col[s.offer] for s in self.scenarios]
        mc = (
            features["monthly_charges"].to_numpy(dtype=float)
            if "monthly_charges" in features.columns
            else np.zeros(len(features))
        )
        value = customer_value(mc, self.value_months)
        cost = np.stack([s.cost(mc) for s in self.scenarios], axis=1)
        out = {k: (v[:, idx] if np.ndim(v) == 2 else v) for k, v in pred.items()}
        saved = out["uplift"] * value[:, None]
        out.update(
            value=value,
            cost=cost,
            expected_saved_value=saved,
            net_value=saved - cost,
            benefit_cost_ratio=np.divide(saved, cost, out=np.full_like(saved, np.inf), where=cost > 0),
        )
        if what_if and self.base is not None:
            p_now, wi = self.what_if(features)
            out.update(base_probability=p_now, whatif_p_after=wi, whatif_uplift=p_now[:, None] - wi)
        return out

    def what_if(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The base model's churn probability now and under each scenario's what-if (n, K).

        For the gradient-boosting base model the rows are encoded once and each scenario only rewrites
        the encoded columns it changes (the same numbers as re-scoring ``scenario.apply(features)``,
        checked by a test); otherwise every scenario's rows are re-scored."""
        fast = self.base.fast_scorer() if hasattr(self.base, "fast_scorer") else None
        if fast is None:
            p_now = self.base.predict_proba(features)
            return p_now, np.stack([self.base.predict_proba(s.apply(features)) for s in self.scenarios], axis=1)
        categorical, numeric = list(self.base.schema.categorical), list(self.base.schema.numeric)
        n = len(features)
        X = fast.encode(from_frame(features), categorical, numeric, n)
        p_now = fast.predict_proba(X)
        cat = {c: j for j, c in enumerate(categorical)}
        num = {c: len(categorical) + j for j, c in enumerate(numeric)}
        wi = np.empty((n, len(self.scenarios)))
        for k, s in enumerate(self.scenarios):
            Xs = X.copy()
            for col, edit in s.edits():
                if col in num:
                    Xs[:, num[col]] = edit(pd.Series(X[:, num[col]])).to_numpy(dtype=float)
                elif col in cat:
                    Xs[:, cat[col]] = _edit_codes(X[:, cat[col]], fast.category_maps[cat[col]], edit)
            wi[:, k] = fast.predict_proba(Xs)
        return p_now, wi

    def recommend(self, features: pd.DataFrame, out_of_fold: bool = False) -> pd.DataFrame:
        """One row per customer and scenario (contract columns), ``rank`` 1 = best expected net value;
        plus the model-based what-if (``whatif_p_after``, ``whatif_uplift``) beside the causal estimate
        and, with ``out_of_fold``, the cross-fitted estimates (``oof_*``) the sweep checks plans on."""
        features = features.reset_index(drop=True)
        e = self.estimates(features, out_of_fold=out_of_fold)
        n, K = e["uplift"].shape
        ids = features[ID].astype(str).to_numpy() if ID in features.columns else np.arange(n).astype(str)
        frame = pd.DataFrame(
            {
                "customer_id": np.repeat(ids, K),
                "offer": np.tile([s.name for s in self.scenarios], n),
                "p_before": np.repeat(e["p_before"], K),
                "p_after": e["p_after"].ravel(),
                "uplift": e["uplift"].ravel(),
                "uplift_low": e["uplift_low"].ravel(),
                "uplift_high": e["uplift_high"].ravel(),
                "expected_saved_value": e["expected_saved_value"].ravel(),
                "cost": e["cost"].ravel(),
                "net_value": e["net_value"].ravel(),
                "benefit_cost_ratio": e["benefit_cost_ratio"].ravel(),
                "rank": rank_offers(e["net_value"]).ravel(),
                "customer_value": np.repeat(e["value"], K),
            }
        )
        if "whatif_p_after" in e:
            frame["base_probability"] = np.repeat(e["base_probability"], K)
            frame["whatif_p_after"] = e["whatif_p_after"].ravel()
            frame["whatif_uplift"] = e["whatif_uplift"].ravel()
        if "oof_uplift" in e:
            frame["oof_p_before"] = np.repeat(e["oof_p_before"], K)
            for c in ("oof_p_after", "oof_uplift", "oof_uplift_low", "oof_uplift_high"):
                frame[c] = e[c].ravel()
        return frame

    # ------------------------------------------------------------------ counterfactuals
    @property
    def base(self):
        if self._base is None and self.part_dir is not None and (self.part_dir.parent / "base").exists():
            from churnguard.models.tabular import load_part

            self._base = load_part(self.part_dir.parent / "base")
        return self._base

    @property
    def explainer(self) -> CounterfactualExplainer:
        if self._explainer is None:
            if self.part_dir is None or self.base is None:
                raise RuntimeError("interventions part: no counterfactual explainer loaded")
            self._explainer = load_explainer(self.part_dir, self.base)
        return self._explainer

    def explain(self, features: pd.DataFrame) -> list[dict]:
        """Counterfactual per customer: changed features (old -> new) and the new churn probability."""
        return self.explainer.explain_frame(features)[0]


UNKNOWN = object()  # a category the encoder does not know (code NaN)


def _edit_codes(codes: np.ndarray, mapping: dict[Any, float], edit: Any) -> np.ndarray:
    """A scenario edit on encoded category codes: each known category (and "unknown", code NaN) goes
    through the same edit as in the frame path, then back to its code (NaN where the result is unknown)."""
    values = [*mapping, UNKNOWN]
    new = edit(pd.Series(values, dtype=object)).tolist()
    to_new = {code: mapping.get(v, np.nan) for code, v in zip(mapping.values(), new) if code == code}
    out = pd.Series(codes).map(to_new).to_numpy(dtype=float)
    out[np.isnan(codes)] = mapping.get(new[-1], np.nan) if new[-1] is not UNKNOWN else np.nan
    return out


def save_part(
    part: InterventionsPart,
    explainer: CounterfactualExplainer,
    part_dir: Path,
    cfg: dict[str, Any],
    seed: int,
    meta: dict[str, Any],
) -> None:
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(
        {"uplift": part.uplift, "scenarios": part.scenarios, "value_months": part.value_months}, part_dir / UPLIFT_FILE
    )
    save_explainer(explainer, part_dir, cfg, seed)
    write_part_spec(
        part_dir,
        "interventions",
        30,
        "churnguard.interventions.part:load_part",
        scenarios=[s.name for s in part.scenarios],
        counterfactual_backend=explainer.backend.name,
        counterfactual_licence=explainer.backend.licence,
        **meta,
    )


def load_part(part_dir: Path) -> InterventionsPart:
    part_dir = Path(part_dir)
    raw = joblib.load(part_dir / UPLIFT_FILE)
    return InterventionsPart(raw["uplift"], raw["scenarios"], float(raw["value_months"]), part_dir)


def part_meta(part_dir: Path) -> dict[str, Any]:
    return json.loads((Path(part_dir) / "part.json").read_text())
