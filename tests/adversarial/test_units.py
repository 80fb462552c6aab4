"""Unit tests of the adversarial area's pure logic (no workspace): typed config, the fit sample,
the chunked kNN detector, the protected decision and the reverse box."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from churnguard.adversarial.bounds import FeatureBounds
from churnguard.adversarial.certify import reverse_bounds
from churnguard.adversarial.config import harden_config
from churnguard.adversarial.decision import ProtectedDecision
from churnguard.adversarial.detectors import AnomalyDetector
from churnguard.adversarial.training import fit_sample
from churnguard.core.config import ConfigError
from tests.workspace import REPO


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["harden"]


def test_harden_section_builds_and_unknown_keys_are_named():
    cfg = harden_config(_params())
    assert cfg.robust.architecture == "monotone" and cfg.limit("support_tickets_90d").integer
    bad = _params()
    bad["detect"]["knn"]["refrence"] = 10
    with pytest.raises(ConfigError, match=r"harden\.detect\.knn: unknown key 'refrence' \(did you mean 'reference'"):
        harden_config(bad)
    bad = _params()
    bad["decision"] = {"score": "median"}
    with pytest.raises(ConfigError, match=r"harden\.decision\.score"):
        harden_config(bad)


def test_fit_sample_keeps_small_tables_and_stratifies_large_ones():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"churned": rng.random(10_000) < 0.2, "is_cold_start": (rng.random(10_000) < 0.1).astype(int)})
    assert fit_sample(frame, 20_000, 1).equals(frame)
    small = fit_sample(frame, 2_000, 1)
    assert abs(len(small) - 2_000) <= 4
    assert abs(small["churned"].mean() - frame["churned"].mean()) < 0.005
    assert abs(small["is_cold_start"].mean() - frame["is_cold_start"].mean()) < 0.005


def test_knn_distance_in_chunks_equals_the_whole_matrix():
    rng = np.random.default_rng(1)
    det = AnomalyDetector.__new__(AnomalyDetector)
    det.reference, det.k = rng.normal(size=(300, 6)).astype(np.float32), 10
    v = rng.normal(size=(1000, 6))
    det.chunk_rows = 10_000
    whole = det.knn_distance(v)
    det.chunk_rows = 37
    np.testing.assert_allclose(det.knn_distance(v), whole, rtol=1e-6)
    d = np.sqrt(((v[:5, None, :] - det.reference[None]) ** 2).sum(-1))
    np.testing.assert_allclose(whole[:5], np.sort(d, 1)[:, :10].mean(1), rtol=1e-4)


def test_protected_decision_needs_both_models_and_a_clean_verdict_and_fills_the_budget():
    rng = np.random.default_rng(2)
    base_p, hard_p = rng.random(5000), rng.random(5000)
    clean = rng.random(5000) > 0.05
    d = ProtectedDecision.fit("gate", base_p, hard_p, clean, 0.25)
    verdict = np.where(clean, "clean", "suspicious")
    offer = d.offer(base_p, hard_p, verdict)
    assert abs(offer.mean() - 0.25) < 0.01, "the veto's offers go to the next customers"
    assert not offer[~clean].any()
    # more evidence for churn from either model never takes an offer away
    assert (d.offer(np.minimum(base_p + 0.1, 1), hard_p, verdict) >= offer).all()
    assert (d.score(base_p, hard_p) <= d.score(base_p, np.minimum(hard_p + 0.1, 1))).all()
    base_only = ProtectedDecision.fit("base", base_p, hard_p, np.ones(5000, bool), 0.25)
    np.testing.assert_array_equal(base_only.offer(base_p, hard_p, "clean"), base_p >= np.quantile(base_p, 0.75))


def test_reverse_box_holds_every_starting_point_of_a_manipulation():
    """A customer moved anywhere in the box of x0 lands on x whose reverse box contains x0."""
    rng = np.random.default_rng(3)
    cfg = {"seed": 0, "torch_threads": 1, "offer_share": 0.25, "budget": 1.0, "mutable": {
        "tickets": {"up": 3, "integer": True}, "usage": {"rel_down": 0.5, "rel_up": 0.3},
        "sessions": {"down": 2, "up": 2, "integer": True}}}  # fmt: skip
    train = pd.DataFrame(
        {"tickets": rng.poisson(2, 500), "usage": rng.lognormal(2, 1, 500), "sessions": rng.poisson(9, 500)}
    )
    bounds = FeatureBounds.from_params(harden_config(cfg), train, list(train.columns), [])
    x0 = train.to_numpy(float)[:200]
    low, high = bounds.box(x0)
    x = low + rng.random(x0.shape) * (high - low)
    x[:, [0, 2]] = np.round(x[:, [0, 2]])
    x = bounds.project(x0, x)
    rlow, rhigh = reverse_bounds(bounds).box(x)
    assert (x0 >= rlow - 1e-6).all() and (x0 <= rhigh + 1e-6).all()
