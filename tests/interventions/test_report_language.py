"""The scenario report in a retention manager's words: offers and columns named, money with the
currency, a glossary, a recommended budget, top actions with churn probability and a reason (also
as CSV), a sentence for every offer nobody gets, the same bytes for the same inputs, and it renders
in a real browser without a single external request."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.core.config import deep_merge
from churnguard.interventions.config import sweep_config
from churnguard.interventions.planning import plan
from churnguard.interventions.report import build_report
from churnguard.interventions.report_language import (
    churn_change,
    money,
    offer_words,
    percent,
    points,
    recommended_budget,
)

OFFERS = ["discount_10", "discount_20", "retention_call"]
CFG = sweep_config(
    deep_merge(
        yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["sweep"],
        {"report_top": 15, "seed": 1, "pessimism": 0.0, "ship": {"replicates": 50}},
    )
)


def sweep_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A sweep table as ``recommend`` writes it (customer-major, one row per offer), with known structure:
    20% discount always beats 10%; the retention call is confident for 5 customers, never worth its cost."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:04d}" for i in range(n)])
    contract = rng.choice(["month_to_month", "one_year", "two_year"], n)
    mc = np.round(rng.uniform(20, 120, n), 2)
    p0 = rng.uniform(0.05, 0.7, n)
    base = np.where(contract == "month_to_month", 0.08, 0.02) * rng.uniform(0.5, 1.5, n)
    rows = []
    for k, offer in enumerate(OFFERS):
        uplift = {0: 0.6 * base, 1: base, 2: np.full(n, 0.003)}[k]
        low = uplift - 0.02 if k < 2 else np.where(np.arange(n) < 5, 0.001, -0.01)
        cost = {0: 0.25 * mc * 3, 1: 0.2 * mc * 3, 2: np.full(n, 15.0)}[k]  # 10%: paid over longer
        saved = uplift * mc * 24
        if k == 0:  # 10% discount: positive but always below 20%'s net value
            saved = np.minimum(saved, (base * mc * 24 - 0.2 * mc * 3) + cost - 0.5)
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "offer": offer,
                    "p_before": p0,
                    "p_after": p0 - uplift,
                    "uplift": uplift,
                    "uplift_low": low,
                    "uplift_high": uplift + 0.02,
                    "expected_saved_value": saved,
                    "cost": cost,
                    "net_value": saved - cost,
                    "customer_value": mc * 24,
                    "base_probability": p0,
                    "contract": contract,
                    "income_band": "mid",
                    "monthly_charges": mc,
                    "campaign_offer": "not_in_campaign",
                    "churned": (rng.random(n) < p0).astype(int),
                    "is_cold_start": 0,
                }
            )
        )
    order = np.argsort(
        np.tile(np.arange(n), len(OFFERS)) * len(OFFERS) + np.repeat(np.arange(len(OFFERS)), n), kind="stable"
    )
    return pd.concat(rows, ignore_index=True).iloc[order].reset_index(drop=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    table = sweep_table()
    out = tmp_path_factory.mktemp("rep") / "interventions.html"
    summary = build_report(table, plan(table, CFG, 1), CFG, "2026-06-30", out)
    return out, summary


def test_words_money_and_percentages():
    assert offer_words("discount_20") == "20% discount" and offer_words("retention_call") == "Retention call"
    assert money(1234.5, "EUR") == "EUR 1,234" and money(12.5, "EUR") == "EUR 12.50" and money(-3, "USD") == "-USD 3.00"
    assert percent(0.6432) == "64%" and percent(0.042) == "4.2%" and points(0.081) == "8.1 pts"
    assert churn_change(0.078) == "-7.8 pts" and churn_change(-0.02) == "+2.0 pts"


def test_recommended_budget_is_the_last_point_before_returns_drop_below_one():
    curve = pd.DataFrame({"budget": [0, 100, 200, 300, 400], "saved": [0, 300, 450, 560, 580]})
    assert recommended_budget(curve) == (300.0, 4)  # 300->400 returns 0.2 per unit: stop at 300
    rising = pd.DataFrame({"budget": [0, 100, 200], "saved": [0, 300, 450]})
    assert recommended_budget(rising) == (200.0, None)


def test_report_speaks_a_retention_managers_language(report):
    out, summary = report
    text = out.read_text()
    for raw in ("mean_uplift_low", "given_in_plan", "net_value", "uplift_low"):
        assert raw not in text, raw
    assert not re.search(r">\s*-?\d+\.\d{4}\s*<", text)  # no 4-decimal cells
    assert "20% discount" in text and "EUR " in text and "Glossary" in text and "Qini curve" in text
    assert "Off-policy estimate" in text and "Which plan ships, and why" in text
    assert f"Recommended budget: <span class='k'>{money(summary['recommended_budget'], 'EUR')}" in text
    assert summary["recommended_budget"] > summary["budget"]  # the configured budget is too small here


def test_every_offer_nobody_gets_has_a_reason(report):
    out, summary = report
    text = out.read_text()
    assert "discount_10" not in summary["offers_given"] and "retention_call" not in summary["offers_given"]
    assert "<b>10% discount</b>" in text and "never the best offer for anyone" in text
    assert "<b>Retention call</b>" in text and "above zero for only 5 customers" in text


def test_top_actions_csv_beside_the_report(report):
    out, summary = report
    csv = pd.read_csv(out.with_name("interventions_top_actions.csv"))
    assert len(csv) == 15 and csv["currency"].eq("EUR").all()
    assert csv["net_value"].is_monotonic_decreasing and csv["churn_probability"].between(0, 1).all()
    assert csv["reason"].str.contains("churn risk").all() and csv["reason"].str.contains("contract").all()
    assert set(csv["offer_name"]) == {"20% discount"}


def test_same_inputs_same_bytes(tmp_path):
    table = sweep_table()
    outs = []
    for d in ("a", "b"):
        out = tmp_path / d / "interventions.html"
        build_report(table, plan(table, CFG, 1), CFG, "2026-06-30", out)
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert (
        outs[0].with_name("interventions_top_actions.csv").read_bytes()
        == outs[1].with_name("interventions_top_actions.csv").read_bytes()
    )


def test_report_renders_in_a_real_browser_without_external_requests(page, report):
    out, _ = report
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))
    page.goto(out.as_uri())
    assert page.locator("h1").inner_text().startswith("Retention plan for 2026-06-30")
    assert page.locator("table.t").count() >= 3 and page.locator("img").count() >= 3
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == []
