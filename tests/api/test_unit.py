"""Pure logic of the Python API: inputs, frames, scenario totals, error mapping, the in-process replay."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import churnguard
from churnguard.api.http import dotted, raise_for
from churnguard.api.inputs import Customer, as_customers
from churnguard.api.replay import replay
from churnguard.api.results import Scored, row_info
from churnguard.api.tables import frame_of, prediction_of, predictions_frame, scenario_analysis, top_offers
from churnguard.streaming.features import FeatureParams, batch_features


def test_customers_from_ids_objects_and_frames():
    assert [c.customer_id for c in as_customers("C1")] == ["C1"]
    assert as_customers(["C1", Customer("C2", {"age": np.int64(30)}, ["C1"])])[1] == Customer(
        "C2", {"age": 30}, ("C1",)
    )
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "age": [30.0, np.nan], "referral_ids": [["C9"], None]})
    got = as_customers(frame)
    assert got[0] == Customer("C1", {"age": 30.0}, ("C9",)) and got[1] == Customer("C2", {"age": None}, None)


@pytest.mark.parametrize(
    "customers, field",
    [
        ([], "customers"),
        ([42], "customers[0]"),
        (["C1", "no spaces"], "customers[1].customer_id"),
        ([Customer("C1", {"age": math.inf})], "customers[0].features.age"),
        ([Customer("C1", {"age": True})], "customers[0].features.age"),
        ([Customer("C1", {"plan": "x" * 200})], "customers[0].features.plan"),
        ([Customer("C1", {f"f{i}": 1 for i in range(201)})], "customers[0].features"),
        ([Customer("C1", {}, ("ok", "not ok"))], "customers[0].referral_ids[1]"),
        (pd.DataFrame({"id": ["C1"]}), "customers.customer_id"),
        (3.5, "customers"),
    ],
)
def test_invalid_customers_name_the_field(customers, field):
    with pytest.raises(churnguard.InvalidInput) as caught:
        as_customers(customers)
    assert caught.value.field == field


def test_frame_of_equals_the_dict_constructor():
    cols = {
        "f": np.array([0.5, np.nan, 2.0]),
        "o": np.array(["a", None, "c"], dtype=object),
        "b": np.array([True, False, True]),
        "i": np.array([1, 2, 3]),
        "f2": np.array([1.0, 2.0, 3.0]),
        "t": objects([(), ("x",), ("y", "z")]),
    }
    fast = frame_of(cols)
    assert_frame_equal(fast, pd.DataFrame(cols))
    assert fast._mgr.nblocks == pd.DataFrame(cols)._mgr.nblocks == 4
    fast.loc[0, "f"] = 9.0  # an ordinary, writable frame
    assert fast["f"].iloc[0] == 9.0 and cols["f"][0] == 0.5
    fast.columns.name, fast.index.name = "renamed", "rows"  # its own axes: the next frame is unaffected
    assert frame_of(cols).columns.name is None and frame_of(cols).index.name is None
    empty = {k: v[:0] for k, v in cols.items()}
    assert_frame_equal(frame_of(empty), pd.DataFrame(empty))
    odd = {"dates": np.array(["2020-01-01"], dtype="datetime64[ns]"), "n": np.array([1.0])}
    assert_frame_equal(frame_of(odd), pd.DataFrame(odd))  # not a block kind it builds: the dict constructor


def scored(scores: dict, n: int) -> Scored:
    info = row_info([True] * n, [0] * n, [1] * n, [("age",)] * n, None, [None, 0.25][:n])
    return Scored([f"C{i}" for i in range(n)], scores, info, "7", False, ("base", "protection"))


def objects(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def test_predictions_frame_equals_the_dict_constructor():
    s = scored(
        {
            "churn_probability": [0.2, None],  # as JSON answers arrive
            "base_probability": np.array([0.1, np.inf]),
            "protection_verdict": np.array(["clean", np.nan], dtype=object),
            "offer_eligible": np.array([True, False]),
            "coldstart_cluster": [3, None],
        },
        2,
    )
    reference = pd.DataFrame(
        {
            "customer_id": ["C0", "C1"],
            "churn_probability": [0.2, np.nan],
            "base_probability": [0.1, np.nan],
            "coldstart_probability": [np.nan, np.nan],
            "coldstart_source": np.array([None, None], dtype=object),
            "protection_verdict": np.array(["clean", None], dtype=object),
            "anomaly_score": [np.nan, np.nan],
            "attack_type": np.array([None, None], dtype=object),
            "recommended_action": np.array([None, None], dtype=object),
            "hardened_probability": [np.nan, np.nan],
            "realtime_probability": [np.nan, 0.25],
            "imputed_features": objects([("age",), ("age",)]),
            "out_of_bounds": objects([(), ()]),
            "batch_row": [True, True],
            "online_fields": np.array([0, 0], dtype=np.int64),
            "request_fields": np.array([1, 1], dtype=np.int64),
            "model_version": ["7", "7"],
            "degraded": [False, False],
            "offer_eligible": [True, False],
            "coldstart_cluster": [3.0, np.nan],
        }
    )
    frame = predictions_frame(s)
    assert_frame_equal(frame, reference)
    assert frame.iloc[1]["protection_verdict"] is None and frame._mgr.nblocks == reference._mgr.nblocks


def test_prediction_of_matches_the_frame_row():
    s = scored(
        {
            "churn_probability": np.array([0.2, 0.7]),
            "coldstart_probability": np.array([np.nan, np.inf]),
            "protection_verdict": np.array(["clean", None], dtype=object),
            "offer_eligible": np.array([True, False]),
            "coldstart_cluster": np.array([3, 4]),
        },
        2,
    )
    frame = predictions_frame(s)
    for i in range(2):
        p = prediction_of(s, i)
        row = frame.iloc[i]
        for name in ("churn_probability", "protection_verdict", "batch_row", "request_fields", "model_version"):
            assert p.__getattribute__(name) == row[name] or (pd.isna(row[name]) and p.__getattribute__(name) is None)
        assert math.isnan(p.coldstart_probability) and math.isnan(row["coldstart_probability"])  # inf -> NaN
        assert p.other == {
            "offer_eligible": bool(row["offer_eligible"]),
            "coldstart_cluster": float(row["coldstart_cluster"]),
        }
        assert p == prediction_of(s, i)  # NaN fields are math.nan itself: equal predictions compare equal
    assert frame["coldstart_cluster"].dtype == np.float64 and math.isnan(frame["base_probability"].iloc[0])
    assert frame["realtime_probability"].iloc[1] == 0.25 and math.isnan(frame["realtime_probability"].iloc[0])


def offers(rows: list[tuple]) -> pd.DataFrame:
    cols = ["customer_id", "offer", "rank", "uplift", "uplift_low", "uplift_high", "customer_value", "cost"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["expected_saved_value"] = frame["uplift"] * frame["customer_value"]
    frame["net_value"] = frame["expected_saved_value"] - frame["cost"]
    frame["p_before"], frame["p_after"], frame["model_version"] = 0.5, 0.5 - frame["uplift"], "3"
    return frame


def test_scenario_analysis_per_customer_and_in_total():
    table = offers(
        [
            ("C2", "call", 1, 0.10, 0.02, 0.18, 1000.0, 20.0),
            ("C2", "discount", 2, 0.05, -0.01, 0.11, 1000.0, 30.0),
            ("C1", "call", 2, 0.01, -0.02, 0.04, 500.0, 20.0),
            ("C1", "discount", 1, 0.08, 0.01, 0.15, 500.0, 10.0),
        ]
    )
    a = scenario_analysis(table, "call", ["C1", "C2"])
    assert a.customers["customer_id"].tolist() == ["C1", "C2"] and a.model_version == "3"
    assert a.customers["net_value"].tolist() == pytest.approx([-15.0, 80.0])
    assert a.customers["net_value_low"].tolist() == pytest.approx([-30.0, 0.0])
    assert a.customers["confident"].tolist() == [False, True]
    assert a.total.net_value == pytest.approx(65.0) and a.total.cost == pytest.approx(40.0)
    assert (a.total.confident_customers, a.total.confident_net_value) == (1, pytest.approx(80.0))
    assert a.total.net_value_high == pytest.approx((0.04 * 500 - 20) + (0.18 * 1000 - 20))


def test_top_offers_keep_request_order_and_k():
    table = offers([("C2", "a", 2, 0, 0, 0, 1, 1), ("C1", "a", 1, 0, 0, 0, 1, 1), ("C2", "b", 1, 0, 0, 0, 1, 1)])
    got = top_offers(table, ["C2", "C1", "C2"], 1)
    assert [(r["customer_id"], r["offer"]) for r in got] == [("C2", "b"), ("C1", "a")]


def response(status: int, body, headers=None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request("POST", "http://test/v1/predict"))


def test_serving_errors_become_the_api_exceptions():
    assert dotted(["body", "customers", 0, "features", "age"]) == "customers[0].features.age"
    assert dotted(["body"]) == "body"
    with pytest.raises(churnguard.InvalidInput) as e:
        raise_for(
            response(
                422, {"detail": [{"loc": ["body", "customers", 3, "customer_id"], "msg": "bad"}], "error_count": 25}
            )
        )
    assert e.value.field == "customers[3].customer_id" and e.value.total == 25
    with pytest.raises(churnguard.UnknownCustomers) as u:
        raise_for(response(404, {"detail": {"msg": "unknown", "customer_ids": ["C7"]}}))
    assert u.value.customer_ids == ("C7",)
    with pytest.raises(churnguard.MissingPart) as m:
        raise_for(response(409, {"detail": {"missing_part": "interventions", "model_version": "2", "parts": ["base"]}}))
    assert (m.value.part, m.value.model_version, m.value.parts) == ("interventions", "2", ("base",))
    with pytest.raises(churnguard.RateLimited) as r:
        raise_for(response(429, {"detail": "slow down"}, {"Retry-After": "3"}))
    assert r.value.retry_after == 3.0
    for status, error in (
        (401, churnguard.Unauthorized),
        (413, churnguard.InvalidInput),
        (503, churnguard.ModelUnavailable),
    ):
        with pytest.raises(error):
            raise_for(response(status, {"detail": "x"}))
    with pytest.raises(churnguard.ServiceError) as s:
        raise_for(response(500, {"detail": "boom"}))
    assert s.value.status == 500


EVENT = {"user_id": "U1", "session_id": 1, "event_type": "click", "page": "product", "cart_value": 50.0}
PARAMS = FeatureParams(60.0, 60.0, 1800.0)


def test_replay_applies_the_streaming_rules():
    events = [
        {**EVENT, "event_id": 1, "ts": 1_780_000_000_000},
        {**EVENT, "event_id": 2, "ts": 1_780_000_010_000, "event_type": "add_to_cart", "cart_value": 150.0},
        {**EVENT, "event_id": 1, "ts": 1_780_000_000_000},  # duplicate
        {**EVENT, "event_id": 3, "ts": 1_780_000_005_000},  # out of order, within the lateness: applied
        {**EVENT, "event_id": 4, "ts": 1_779_990_000_000},  # older than watermark - 60 s: late
        {**EVENT, "event_id": 5, "ts": 1_780_000_020_000, "user_id": "U2"},
    ]
    got = replay(events, PARAMS)
    assert (got.applied, got.duplicates, got.late) == (4, 1, 1)
    applied = pd.DataFrame([e for i, e in enumerate(events) if i in (0, 1, 3, 5)])
    expected = batch_features(applied, PARAMS)  # the stream's features equal the batch definition's
    assert_frame_equal(got.features.sort_index(), expected.sort_index(), check_dtype=False)


def test_replay_names_the_invalid_field():
    with pytest.raises(churnguard.InvalidInput) as caught:
        replay(
            [
                {**EVENT, "event_id": 1, "ts": 1_780_000_000_000},
                {**EVENT, "event_id": 2, "ts": 1_780_000_000_000, "cart_value": -1},
            ],
            PARAMS,
        )
    assert caught.value.field == "events[1].cart_value"
    with pytest.raises(churnguard.InvalidInput) as missing:
        replay(pd.DataFrame({"user_id": ["U1"]}), PARAMS)
    assert missing.value.field.startswith("events.")


def test_load_refuses_ambiguous_or_missing_registry(monkeypatch, tmp_path):
    import churnguard.core.config as config

    with pytest.raises(churnguard.InvalidInput) as both:
        churnguard.load(alias="champion", version=3)
    assert both.value.field == "version"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(config, "ROOT", tmp_path)  # an installed wheel without a workspace
    with pytest.raises(churnguard.ModelUnavailable, match="MLFLOW_TRACKING_URI"):
        churnguard.load()
    assert not (tmp_path / "mlflow").exists()


def test_top_level_names_are_lazy():
    import subprocess
    import sys

    code = "import sys, churnguard, churnguard.core.config; assert 'pandas' not in sys.modules; churnguard.load; assert 'pandas' in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
