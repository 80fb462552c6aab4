"""The in-process client and the HTTP client (a real `churnguard serve`) return equal results for the
same customers: frames compared exactly, dataclasses by equality, errors by class and field."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import churnguard
from churnguard import Customer
from churnguard.api.results import OFFER_COLUMNS, PREDICTION_COLUMNS, SCENARIO_COLUMNS
from tests.api.conftest import API_KEY

NEW_CUSTOMER = {
    "age": 31,
    "income_band": "mid",
    "region": "east",
    "signup_channel": "referral",
    "plan": "basic",
    "contract": "month_to_month",
    "payment_method": "card",
    "paperless_billing": 1,
    "monthly_charges": 42.5,
}


def with_requests(ids: list[str]) -> list:
    """Ids, plus request features for two of them (a categorical and a numeric override)."""
    return [*ids, Customer(ids[0], {"support_tickets_90d": 5, "contract": "one_year"}), Customer(ids[1], {"age": 44})]


def test_predict_equal(local, remote, customer_ids):
    a, b = local.predict(with_requests(customer_ids)), remote.predict(with_requests(customer_ids))
    assert list(a.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    assert_frame_equal(a, b, check_exact=True)
    assert a["request_fields"].tolist()[-2:] == [2, 1]
    cold = a["coldstart_probability"].notna()
    assert cold.sum() == 5 and (a.loc[cold, "churn_probability"] == a.loc[cold, "coldstart_probability"]).all()
    assert (a["churn_probability"].iloc[-2:].to_numpy() != a["churn_probability"].iloc[:2].to_numpy()).any()


def test_predict_one_and_chunked_batches_equal(local, server, customer_ids):
    small = churnguard.api.HttpClient(server, api_key=API_KEY, max_batch=7)  # 25 customers: 4 requests
    try:
        chunked = small.predict(customer_ids)
        same_batches = [local.predict(customer_ids[i : i + 7]) for i in range(0, len(customer_ids), 7)]
        assert_frame_equal(pd.concat(same_batches, ignore_index=True), chunked, check_exact=True)
        # another batching may move the last bits: BLAS sums in another order, the hardened model is float32
        assert_frame_equal(local.predict(customer_ids), chunked, check_exact=False, rtol=1e-6)
        for cid in customer_ids[::6]:
            assert local.predict_one(cid) == small.predict_one(cid)
    finally:
        small.close()
    one, row = local.predict_one(customer_ids[0]), local.predict(customer_ids[:1]).iloc[0]
    assert one.churn_probability == row["churn_probability"] and one.imputed_features == row["imputed_features"]


def test_online_features_merged_equally(local, remote, customer_ids, api_world, redis_db2):
    """A Redis hash written as the streaming job writes it: both clients merge it and return its score."""
    cid, key = customer_ids[2], f"{api_world.redis_prefix}{customer_ids[2]}"
    redis_db2.hset(key, mapping={"support_tickets_90d": "7", "rt_churn_probability": "0.625"})
    try:
        a, b = local.predict([cid]), remote.predict([cid])
        assert_frame_equal(a, b, check_exact=True)
        assert a["online_fields"].iloc[0] == 1 and a["realtime_probability"].iloc[0] == 0.625
        called = [Customer(cid, {"support_tickets_90d": 0})]  # the call's value wins over the online one
        assert_frame_equal(local.predict(called), remote.predict(called), check_exact=True)
        assert local.predict(called)["churn_probability"].iloc[0] != a["churn_probability"].iloc[0]
    finally:
        redis_db2.delete(key)  # the session's server would keep merging it (the doc examples read no online store)


def test_interventions_and_scenario_equal(local, remote, customer_ids):
    a, b = local.interventions(customer_ids, top_k=3), remote.interventions(customer_ids, top_k=3)
    assert list(a.columns[: len(OFFER_COLUMNS)]) == list(OFFER_COLUMNS)
    assert_frame_equal(a, b, check_exact=True)
    ranks = a.groupby("customer_id", sort=False)["rank"].apply(list)
    assert list(ranks.index) == customer_ids and all(r == list(range(1, len(r) + 1)) for r in ranks)
    scenario = a["offer"].iloc[0]
    sa, sb = local.analyze_scenario(customer_ids, scenario), remote.analyze_scenario(customer_ids, scenario)
    assert list(sa.customers.columns) == list(SCENARIO_COLUMNS)
    assert_frame_equal(sa.customers, sb.customers, check_exact=True)
    assert sa.total == sb.total and sa.total.customers == len(customer_ids)
    net = sa.customers["expected_saved_value"] - sa.customers["cost"]
    np.testing.assert_allclose(sa.customers["net_value"], net, rtol=1e-9)
    assert sa.total.net_value == pytest.approx(sa.customers["net_value"].sum())
    assert (sa.customers["net_value_low"] <= sa.customers["net_value"] + 1e-9).all()
    assert (sa.customers["net_value"] <= sa.customers["net_value_high"] + 1e-9).all()


def test_protected_new_customer_explain_health_equal(local, remote, customer_ids):
    assert_frame_equal(local.protected_predict(customer_ids), remote.protected_predict(customer_ids), check_exact=True)
    args = dict(features=NEW_CUSTOMER, referral_ids=customer_ids[:2], customer_id="N9000001")
    na, nb = local.predict_new_customer(**args), remote.predict_new_customer(**args)
    assert na == nb and na.coldstart_source == "gnn" and na.churn_probability == na.coldstart_probability
    alone = local.predict_new_customer(NEW_CUSTOMER, customer_id="N9000002")
    assert alone.coldstart_source == "cluster_fallback" and alone == remote.predict_new_customer(
        NEW_CUSTOMER, customer_id="N9000002"
    )
    risky = local.predict(customer_ids).nlargest(3, "churn_probability")["customer_id"].tolist()
    assert local.explain(risky) == remote.explain(risky)
    ha, hb = local.health(), remote.health()
    same = ("model_name", "alias", "version", "uri", "parts", "unevaluated_parts")
    assert {k: getattr(ha, k) for k in same} == {k: getattr(hb, k) for k in same}
    assert ha.status == hb.status == "ok" and ha.dependencies == hb.dependencies


@pytest.mark.parametrize(
    "call, error, field",
    [
        (
            lambda c: c.predict([Customer("C0000001", {"tenure_monthz": 3})]),
            churnguard.InvalidInput,
            "customers[0].features.tenure_monthz",
        ),
        (
            lambda c: c.predict([Customer("C0000001", {"contract": 2.0})]),
            churnguard.InvalidInput,
            "customers[0].features.contract",
        ),
        (
            lambda c: c.predict([Customer("C0000001", {"age": -500})]),
            churnguard.InvalidInput,
            "customers[0].features.age",
        ),
        (lambda c: c.predict(["C0000001", "bad id!"]), churnguard.InvalidInput, "customers[1].customer_id"),
        (lambda c: c.interventions(["C0000001"], top_k=0), churnguard.InvalidInput, "top_k"),
        (lambda c: c.analyze_scenario(["C0000001"], "free_lunch"), churnguard.InvalidInput, "scenario"),
        (lambda c: c.predict_new_customer({"age": 30}, customer_id="C0000001"), churnguard.InvalidInput, "customer_id"),
        (lambda c: c.predict(["C9999999"]), churnguard.UnknownCustomers, None),
    ],
)
def test_same_errors(local, remote, call, error, field):
    for client in (local, remote):
        with pytest.raises(error) as caught:
            call(client)
        if field is not None:
            assert caught.value.field == field, (type(client).__name__, str(caught.value))
        else:
            assert caught.value.customer_ids == ("C9999999",)


def test_http_errors_name_the_problem(server):
    with churnguard.connect(server, api_key="wrong-key") as bad, pytest.raises(churnguard.api.Unauthorized):
        bad.predict(["C0000001"])
    with (
        churnguard.connect("http://127.0.0.1:9", api_key=API_KEY) as nowhere,
        pytest.raises(churnguard.ServiceError) as e,
    ):
        nowhere.health()
    assert e.value.status == 0


def test_results_are_typed(local, customer_ids):
    one = local.predict_one(customer_ids[0])
    assert dataclasses.is_dataclass(one) and isinstance(one.imputed_features, tuple)
    frame = local.predict(customer_ids)
    assert frame["churn_probability"].dtype == np.float64 and frame["batch_row"].dtype == bool
    assert frame["online_fields"].dtype == np.int64 and frame["protection_verdict"].dtype == object
