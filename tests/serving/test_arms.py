"""Unit tests of champion/challenger logic (no services): the sticky A/B split, the arm log, the
evidence a promotion demands, the merge of a split batch's scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnguard.mlops.promotion import EvidenceSettings, arm_evidence, matured_labels, rank_auc, read_arm_log
from churnguard.serving.arms import CHALLENGER, ArmLogWriter, arm_of, challenger_position, log_records
from churnguard.serving.traffic import merge_arm_scores

IDS = [f"C{i:07d}" for i in range(100_000)]


@pytest.mark.parametrize("share", [0.05, 0.1, 0.3, 0.5])
def test_ab_split_is_within_one_point_of_the_share_over_100k_customers_and_sticky(share):
    arms = [arm_of(cid, share, "exp-1") for cid in IDS]
    observed = sum(a == CHALLENGER for a in arms) / len(IDS)
    assert abs(observed - share) < 0.01, observed
    assert [arm_of(cid, share, "exp-1") for cid in IDS[:2000]] == arms[:2000]  # same customer, same arm


def test_ramping_the_share_only_moves_champion_customers_and_a_new_salt_draws_a_new_split():
    small = {cid for cid in IDS if arm_of(cid, 0.1, "exp-1") == CHALLENGER}
    large = {cid for cid in IDS if arm_of(cid, 0.3, "exp-1") == CHALLENGER}
    assert small <= large and len(large) > 2.5 * len(small)
    other = {cid for cid in IDS if arm_of(cid, 0.1, "exp-2") == CHALLENGER}
    assert 0.05 < len(small & other) / len(small) < 0.15  # independent of the first split (expected 0.1)
    assert all(0.0 <= challenger_position(cid, "s") < 1.0 for cid in IDS[:1000])


def test_arm_log_round_trip_skips_a_cut_line(tmp_path):
    writer = ArmLogWriter(tmp_path)
    writer.write(
        log_records(
            ["a", "b"],
            "shadow",
            ["champion", "champion"],
            {"champion": "1", "challenger": "2"},
            {"champion": [0.1, float("nan")], "challenger": [0.2, 0.3]},
            1000.0,
        )
    )
    writer.close()
    (file,) = tmp_path.glob("arms-*.jsonl")
    with open(file, "a") as fh:
        fh.write('{"ts": 1001, "customer_id": "c", "mo')  # a crash mid-line
    log = read_arm_log([tmp_path])
    assert log["customer_id"].tolist() == ["a", "b"]
    assert log["challenger_probability"].tolist() == [0.2, 0.3]
    assert log["champion_probability"].isna().tolist() == [False, True]  # NaN is logged as null
    assert json.loads(file.read_text().splitlines()[0])["challenger_version"] == "2"


def _shadow_log(n: int, champion_noise: float, challenger_noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(risk - 1.5)))
    ids = [f"C{i}" for i in range(n)]
    log = pd.DataFrame(
        {
            "ts": np.arange(n, dtype=float),
            "customer_id": ids,
            "mode": "shadow",
            "served_arm": "champion",
            "champion_version": "1",
            "champion_probability": risk + rng.normal(scale=champion_noise, size=n),
            "challenger_version": "2",
            "challenger_probability": risk + rng.normal(scale=challenger_noise, size=n),
        }
    )
    return log, matured_labels(pd.DataFrame({"customer_id": ids, "churned": y}))


def test_evidence_promotes_a_better_challenger_and_refuses_a_worse_one_or_too_few_customers():
    settings = EvidenceSettings(min_customers=500, min_positives=25, bootstrap=200)
    log, labels = _shadow_log(3000, champion_noise=2.0, challenger_noise=0.3)
    better = arm_evidence(log, labels, "1", "2", "shadow", settings)
    assert better.passed and better.auc_difference > 0.05 and better.interval[0] > 0, better
    assert better.customers == {"champion": 3000, "challenger": 3000}
    log, labels = _shadow_log(3000, champion_noise=0.3, challenger_noise=2.0)
    worse = arm_evidence(log, labels, "1", "2", "shadow", settings)
    assert not worse.passed and "interval low" in worse.reasons[0]
    few = arm_evidence(log.head(300), labels, "1", "2", "shadow", settings)
    assert not few.passed and "300 matured customers" in few.reasons[0]
    other_pair = arm_evidence(log, labels, "1", "3", "shadow", settings)
    assert not other_pair.passed and other_pair.customers["challenger"] == 0
    assert json.loads(better.tag())["passed"] is True


def test_ab_evidence_uses_each_arms_own_customers_first_score():
    settings = EvidenceSettings(min_customers=400, min_positives=25, bootstrap=200)
    log, labels = _shadow_log(4000, champion_noise=2.0, challenger_noise=0.3, seed=1)
    log["mode"] = "ab"
    challenger = np.arange(len(log)) % 2 == 1
    log["served_arm"] = np.where(challenger, "challenger", "champion")
    log.loc[challenger, "champion_probability"] = np.nan
    log.loc[~challenger, "challenger_probability"] = np.nan
    repeat = log.head(50).assign(ts=1e9, champion_probability=0.0, challenger_probability=0.0)  # later scores
    evidence = arm_evidence(pd.concat([log, repeat]), labels, "1", "2", "ab", settings)
    assert evidence.customers == {"champion": 2000, "challenger": 2000}
    assert evidence.passed and evidence.roc_auc["challenger"] > evidence.roc_auc["champion"] + 0.05


def test_rank_auc_equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.2 * y, 1)  # many ties
    assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_labels_table_must_name_its_columns():
    with pytest.raises(ValueError, match="churned"):
        matured_labels(pd.DataFrame({"customer_id": ["a"], "label": [1]}))


def test_split_batch_scores_go_back_in_request_order():
    champion = {"churn_probability": np.array([0.1, 0.3]), "anomaly_score": np.array([1.0, 2.0])}
    challenger = {"churn_probability": np.array([0.2])}
    merged = merge_arm_scores(3, [((0, 2), champion), ((1,), challenger)])
    assert merged["churn_probability"].tolist() == [0.1, 0.2, 0.3]
    assert merged["anomaly_score"].tolist() == [1.0, None, 2.0]  # the challenger has no such part
