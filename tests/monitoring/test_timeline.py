"""The moving world: month 0 is generate_world's output bit for bit; change events do what they say."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from churnguard.world import generate_world
from churnguard.world.rolling import generate_timeline
from churnguard.world.timeline import timeline_config
from tests.workspace import REPO

FILES = ["customers", "former_customers", "referrals", "events", "campaign"]


@pytest.fixture(scope="module")
def params():
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["world"]["customers"] = 2500
    p["world"]["events"]["chunk_customers"] = 1000
    return p


@pytest.fixture(scope="module")
def timeline(params):
    return timeline_config(params["monitor"]["timeline"])


def test_month0_equals_generate_world(tmp_path, params, timeline):
    generate_timeline(params["world"], 11, timeline, "stable", 2, tmp_path / "tl")
    generate_world(params["world"], 11, tmp_path / "raw", tmp_path / "truth", progress=False)
    for name in FILES:
        a = pd.read_parquet(tmp_path / "tl" / "month_00" / "raw" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "raw" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "tl" / "month_00" / "truth" / "customers_truth.parquet"),
        pd.read_parquet(tmp_path / "truth" / "customers_truth.parquet"),
    )


def test_months_roll_forward_with_maturing_labels(tmp_path, params, timeline):
    index = generate_timeline(params["world"], 3, timeline, "stable", 3, tmp_path)
    assert [m["month"] for m in index["months"]] == [0, 1, 2, 3]
    m0 = pd.read_parquet(tmp_path / "month_00" / "raw" / "customers.parquet")
    m2 = pd.read_parquet(tmp_path / "month_02" / "raw" / "customers.parquet")
    assert len(m2) == len(m0)  # leavers' slots are refilled
    assert not set(m2["customer_id"]) <= set(m0["customer_id"])  # new customers arrived
    formers = pd.read_parquet(tmp_path / "month_02" / "raw" / "former_customers.parquet")
    churned0 = set(m0.loc[m0["churn_label"] == "Yes", "customer_id"])
    assert churned0 <= set(formers["customer_id"])  # month-0 churners have left within the label window
    events = pd.read_parquet(tmp_path / "month_02" / "raw" / "events.parquet")
    obs_ms = pd.Timestamp(index["months"][2]["observation_date"]).value // 1_000_000
    assert events["ts"].max() < obs_ms  # no future leakage
    assert 0.15 < index["months"][3]["churn_rate"] < 0.35
    assert index["months"][1]["label_matures_on"] == index["months"][3]["observation_date"]


def test_concept_shift_raises_churn_only_in_its_segment_after_start(tmp_path, params, timeline):
    index = generate_timeline(params["world"], 5, timeline, "concept_shift", 4, tmp_path)
    event = timeline.scenarios.concept_shift
    start = event.start
    assert index["events"]["concept_shift"]["start"] == start
    before = pd.read_parquet(tmp_path / f"month_{start - 1:02d}" / "truth" / "customers_truth.parquet")
    after = pd.read_parquet(tmp_path / f"month_{start:02d}" / "truth" / "customers_truth.parquet")
    assert not before["concept_affected"].any() and after["concept_affected"].any()
    lift = (
        after.loc[after["concept_affected"], "p_churn"].mean()
        - before.loc[
            pd.read_parquet(tmp_path / f"month_{start - 1:02d}" / "raw" / "customers.parquet")[
                "monthly_charges"
            ].to_numpy()
            >= event.min_charges,
            "p_churn",
        ].mean()
    )
    assert lift > 0.1
    assert json.loads((tmp_path / "timeline.json").read_text())["scenario"] == "concept_shift"


def test_covariate_shift_brings_a_new_channel(tmp_path, params, timeline):
    generate_timeline(params["world"], 6, timeline, "covariate_shift", 4, tmp_path)
    m4 = pd.read_parquet(tmp_path / "month_04" / "raw" / "customers.parquet")
    m2 = pd.read_parquet(tmp_path / "month_02" / "raw" / "customers.parquet")
    assert (m2["signup_channel"] == "social").sum() == 0
    assert (m4["signup_channel"] == "social").mean() > 0.05


def test_unknown_scenario_is_named(tmp_path, params, timeline):
    with pytest.raises(ValueError, match="scenario"):
        generate_timeline(params["world"], 1, timeline, "meteor", 1, tmp_path)
