"""The uplift model on a synthetic randomized campaign (pure logic, no workspace): typed settings,
per-offer modifiers, no effect at the top of an upgrade's order, and honest cross-fitting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.core.config import ConfigError, deep_merge
from churnguard.features.table import FeatureSchema
from churnguard.interventions.config import UpliftConfig, fit_counterfactual_config, sweep_config
from churnguard.interventions.crossfit import fold_of
from churnguard.interventions.scenarios import ceilings, load_scenarios
from churnguard.interventions.uplift import fit_uplift

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
OFFERS = ["cheap", "upgrade"]
SCHEMA = FeatureSchema(["usage", "tickets"], ["plan", "campaign_offer"], [], {})


def _campaign(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Half controls; ``upgrade`` halves churn of low-usage customers below the top plan only."""
    rng = np.random.default_rng(seed)
    usage = rng.gamma(2.0, 5.0, n)
    plan = rng.choice(["basic", "standard", "premium"], n)
    p0 = 1 / (1 + np.exp(-(-1.0 + 0.2 * rng.normal(size=n))))
    arm = rng.choice(["none", "none", *OFFERS], n)
    effect = np.where((arm == "upgrade") & (plan != "premium"), 0.5 * (usage < 10), 0.0)
    y = (rng.random(n) < p0 * (1 - effect)).astype(float)
    frame = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(n)], "usage": usage, "tickets": rng.poisson(1, n), "plan": plan}
    )
    frame["campaign_offer"] = arm
    return frame, y


def _config(**over) -> UpliftConfig:
    section = deep_merge(PARAMS["fit_counterfactual"]["uplift"], over)
    return fit_counterfactual_config({**PARAMS["fit_counterfactual"], "uplift": section}).uplift


def _fit(frame: pd.DataFrame, y: np.ndarray, **over):
    cfg = dataclasses.replace(
        _config(**over),
        effect_numeric=("usage", "tickets"),
        effect_log_numeric=(),
        effect_categorical=("plan",),
        bootstrap=4,
        control_bootstrap=2,
    )
    return fit_uplift(frame, y, SCHEMA, OFFERS, cfg, 3, {"upgrade": ("plan", ["basic", "standard", "premium"])})


def test_params_sections_build_and_a_typo_names_its_dotted_key():
    cfg = fit_counterfactual_config(PARAMS["fit_counterfactual"])
    assert sweep_config(PARAMS["sweep"]).ship.replicates > 0
    # a scenario's offer is its name unless it says otherwise
    assert [s.offer for s in load_scenarios(cfg.scenarios)] == list(cfg.scenarios)
    assert set(ceilings(load_scenarios(cfg.scenarios))) == {"feature_upgrade", "contract_upgrade"}
    bad = deep_merge(PARAMS["fit_counterfactual"], {"uplift": {"ridge_gird": [1.0]}})
    with pytest.raises(ConfigError, match=r"fit_counterfactual\.uplift: unknown key 'ridge_gird'.*ridge_grid"):
        fit_counterfactual_config(bad)
    bad = deep_merge(PARAMS["fit_counterfactual"], {"uplift": {"crossfit_folds": 3, "learner": "pooled"}})
    with pytest.raises(ConfigError, match="crossfit_folds"):
        fit_counterfactual_config(bad)


@pytest.mark.slow  # a bootstrapped campaign fit: ~10 s
def test_offer_modifiers_and_no_effect_at_the_top():
    frame, y = _campaign()
    model = _fit(frame, y, offer_modifiers={"cheap": ["tickets"]}, crossfit_folds=0)
    sources = model.design.sources()
    cheap = model.coef["cheap"]
    assert all(cheap[j] == 0.0 for j, src in enumerate(sources) if src not in ("", "tickets"))
    assert (model.boot["cheap"][:, [j for j, s in enumerate(sources) if s == "usage"]] == 0).all()
    pred = model.predict(frame)
    k = model.offers.index("upgrade")
    top = frame["plan"].to_numpy() == "premium"
    assert (pred["uplift"][top, k] == 0).all() and (pred["uplift_low"][top, k] == 0).all()
    low_usage = (frame["usage"] < 10).to_numpy() & ~top
    assert pred["uplift"][low_usage, k].mean() > pred["uplift"][~low_usage & ~top, k].mean() + 0.05


@pytest.mark.slow  # 5 cross-fitted refits: ~50 s
def test_out_of_fold_estimates_never_see_their_own_outcomes():
    frame, y = _campaign()
    model = _fit(frame, y, crossfit_folds=5)
    fold = fold_of(frame["customer_id"], 5)
    assert np.bincount(fold).min() > 0.15 * len(frame)  # stable and roughly balanced
    flipped = y.copy()
    flipped[fold == 0] = 1 - flipped[fold == 0]  # change only fold 0's outcomes
    again = _fit(frame, flipped, crossfit_folds=5)
    a = model.predict(frame, out_of_fold=True)
    b = again.predict(frame, out_of_fold=True)
    f0 = fold == 0
    # fold 0's out-of-fold estimates come from models fitted without fold 0: unchanged (control model
    # fitted with the same iterations; GLMs with the same ridge) ...
    np.testing.assert_allclose(a["oof_p_before"][f0], b["oof_p_before"][f0], rtol=0, atol=0)
    # ... while the other folds' and the full model's estimates move
    assert np.abs(a["oof_p_before"][~f0] - b["oof_p_before"][~f0]).max() > 0.01
    assert np.abs(a["p_before"] - b["p_before"]).max() > 0.01
    assert a["oof_uplift_low"].shape == (len(frame), len(OFFERS))
