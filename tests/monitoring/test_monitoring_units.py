"""Pure logic of the monitor: multiple-testing control, effect sizes, CBPE, early outcomes, gauges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.core.config import ConfigError
from churnguard.monitoring import decision, drift, performance
from churnguard.monitoring.config import monitor_config
from tests.workspace import REPO


def _params_monitor() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["monitor"]


def _frame(rng, n, shift=0.0, cols=40):
    return pd.DataFrame({f"x{i}": rng.normal(shift if i == 0 else 0.0, 1.0, n) for i in range(cols)})


def test_forty_null_features_do_not_cry_wolf():
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(20):
        res = drift.feature_drift(_frame(rng, 3000), _frame(rng, 3000), [f"x{i}" for i in range(40)], [], 0.01, 0.0)
        alarms += any(r.alarmed for r in res)
    assert alarms <= 2  # BH at 1 %: without it, 40 tests at 1 % alarm in about a third of the nights


def test_a_real_shift_alarms_and_a_tiny_one_does_not():
    rng = np.random.default_rng(1)
    ref, cur = _frame(rng, 5000, cols=5), _frame(rng, 5000, shift=1.0, cols=5)
    res = {r.feature: r for r in drift.feature_drift(ref, cur, list(ref), [], 0.01, 0.2)}
    assert res["x0"].alarmed and not any(res[f"x{i}"].alarmed for i in range(1, 5))
    tiny = {
        r.feature: r
        for r in drift.feature_drift(ref, _frame(rng, 200000, shift=0.05, cols=5), list(ref), [], 0.01, 0.2)
    }
    assert tiny["x0"].p_adjusted < 0.01 and not tiny["x0"].alarmed  # significant, but no effect worth acting on


def test_new_category_alarms():
    ref = pd.DataFrame({"c": ["a", "b"] * 2000})
    cur = pd.DataFrame({"c": ["a", "b", "new", "new"] * 1000})
    (res,) = drift.feature_drift(ref, cur, [], ["c"], 0.01, 0.2)
    assert res.alarmed and res.psi > 1


def test_cbpe_tracks_auc_of_calibrated_scores():
    rng = np.random.default_rng(2)
    s = rng.beta(2, 5, 20000)
    y = rng.random(s.size) < s
    assert abs(performance.expected_roc_auc(s) - performance.realised_roc_auc(y, s)) < 0.01
    assert abs(performance.expected_roc_auc(np.full(100, 0.3)) - 0.5) < 1e-9


def _cohort(seed: int, column: str, values: list[str]):
    """12,000 scored customers in two segments: (rng, scores, segments, the scores' monthly hazard)."""
    rng = np.random.default_rng(seed)
    n = 12000
    s = rng.uniform(0.05, 0.5, n)
    seg = pd.DataFrame({column: rng.choice(values, n)})
    return rng, s, seg, performance.monthly_hazard(s)


def test_early_outcomes_alarm_on_a_segment_whose_churn_rose():
    rng, s, seg, h = _cohort(3, "plan", ["basic", "premium"])
    n = len(s)
    h_true = np.where(seg["plan"] == "premium", np.minimum(1, h * 1.8), h)
    churned = rng.random(n) < h_true
    res = {r.segment: r for r in performance.early_outcome_test(s, churned, seg, 0.01, 1.3, 20)}
    assert res["plan=premium"].alarmed and not res["plan=basic"].alarmed
    calm = performance.early_outcome_test(s, rng.random(n) < h, seg, 0.01, 1.3, 20)
    assert not any(r.alarmed for r in calm)


def test_early_outcomes_fewer_churners_alarm_only_when_both_directions_are_asked():
    rng, s, seg, h = _cohort(4, "contract", ["monthly", "two_year"])
    churned = rng.random(len(s)) < np.where(seg["contract"] == "two_year", h * 0.5, h)
    more = {r.segment: r for r in performance.early_outcome_test(s, churned, seg, 0.01, 1.3, 20)}
    both = {r.segment: r for r in performance.early_outcome_test(s, churned, seg, 0.01, 1.3, 20, "both")}
    assert more["contract=two_year"].ratio < 1 / 1.3
    assert not more["contract=two_year"].alarmed and more["contract=two_year"].p_value > 0.5
    assert both["contract=two_year"].alarmed and not both["contract=monthly"].alarmed


def test_decision_and_prometheus_gauges():
    cfg = dataclasses.replace(monitor_config(_params_monitor()), max_auc_drop=0.05, retrain_on=("performance",))
    feat = drift.FeatureDrift("x", "numeric", 0.5, 0.0, 0.0, 0.9, True)
    pred = drift.FeatureDrift("churn_probability", "prediction", 0.0, 1.0, 1.0, 0.0, False)
    res = decision.decide(decision.MonitorResult(3, [feat], pred, 0.70, 0.80, realised_auc=0.79), cfg)
    assert res.drift_alarm and res.performance_alarm and res.retrain  # estimated AUC 0.70 < 0.80 - 0.05
    text = decision.prometheus_text(res, {"model": "models:/churnguard@champion"})
    for gauge in (
        "churnguard_drift_features_alarmed",
        "churnguard_drift_alarm",
        "churnguard_estimated_roc_auc",
        "churnguard_realised_roc_auc",
    ):
        assert f"# TYPE {gauge} gauge" in text
    assert 'churnguard_drift_features_alarmed{model="models:/churnguard@champion"} 1.0' in text
    only_drift = decision.decide(decision.MonitorResult(3, [feat], pred, 0.80, 0.80), cfg)
    assert only_drift.drift_alarm and not only_drift.retrain  # drift alone is not in retrain_on here


def test_monitor_config_names_a_mistyped_key():
    section = _params_monitor()
    assert monitor_config(section).drift.alpha == section["drift"]["alpha"]
    section["drift"]["min_pis"] = 0.3
    with pytest.raises(ConfigError, match=r"monitor\.drift: unknown key 'min_pis' \(did you mean 'min_psi'\?\)"):
        monitor_config(section)
    bad = _params_monitor()
    bad["retrain_on"] = ["performance", "weather"]
    with pytest.raises(ConfigError, match=r"monitor\.retrain_on\[1\]"):
        monitor_config(bad)


def test_recalibrated_cbpe_repairs_overconfident_scores_and_matured_rows_exclude_training():
    from churnguard.core.vocabulary import SPLIT
    from churnguard.monitoring.monitor import Cohort, unseen

    rng = np.random.default_rng(4)
    s = rng.beta(2, 5, 40000)
    y = rng.random(s.size) < s
    logit = np.log(s / (1 - s))
    overconfident = 1 / (1 + np.exp(-2.0 * logit))  # same ranks, too spread
    realised = performance.realised_roc_auc(y, s)
    half = s.size // 2
    raw = performance.expected_roc_auc(overconfident[half:])
    fixed = performance.recalibrated_expected_roc_auc(overconfident[half:], overconfident[:half], y[:half])
    assert raw - realised > 0.05 and abs(fixed - realised) < 0.01
    frame = pd.DataFrame({SPLIT: ["train", "holdout", "train", "holdout"]})
    kept = unseen(Cohort(frame, np.arange(4.0), None, np.array([0, 1, 0, 1])))
    assert kept is not None and list(kept.scores) == [1.0, 3.0] and list(kept.labels) == [1, 1]


def test_headline_estimate_follows_params_and_falls_back_to_cbpe():
    section = _params_monitor()
    section["estimator"] = "offset"
    cfg = dataclasses.replace(monitor_config(section), max_auc_drop=0.05, retrain_on=("performance",))
    pred = drift.FeatureDrift("churn_probability", "prediction", 0.0, 1.0, 1.0, 0.0, False)
    early = decision.MonitorResult(1, [], pred, 0.80, 0.80, estimator=cfg.estimator)  # nothing matured yet
    assert early.estimate == 0.80 and not decision.decide(early, cfg).performance_alarm
    low = decision.MonitorResult(
        3, [], pred, 0.80, 0.80, estimated_auc_offset=0.70, estimated_auc_recalibrated=0.79, estimator=cfg.estimator
    )
    res = decision.decide(low, cfg)
    assert res.estimate == 0.70 and res.performance_alarm  # the corrected estimate drives the alarm
    gauges = res.gauges()
    assert gauges["churnguard_estimated_roc_auc"] == 0.70 and gauges["churnguard_cbpe_roc_auc"] == 0.80
    section["estimator"] = "nannyml"
    with pytest.raises(ConfigError, match=r"monitor\.estimator"):
        monitor_config(section)
