"""The protection part on the tiny pipeline (every dvc.yaml stage run once per session)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from churnguard.adversarial.attacks import AttackSpace, generate, pgd, train_generator
from churnguard.adversarial.certify import corner_attack, worst_case_logit
from churnguard.adversarial.protection import COLUMNS, load_part
from churnguard.adversarial.training import attackable_mask
from churnguard.core.bundle import ModelBundle
from churnguard.models.tabular import load_part as load_base


@pytest.fixture(scope="module")
def loaded(tiny_workspace):
    root = tiny_workspace.root
    part = load_part(root / "models" / "protection")
    base = load_base(root / "models" / "base")
    table = pd.read_parquet(root / "data" / "features" / "customers.parquet")
    holdout = table[table["split"] == "holdout"].reset_index(drop=True)
    return part, base, holdout


def _immutable(part) -> list[str]:
    return [
        c
        for c in part.encoder.numeric + part.encoder.categorical
        if c not in part.bounds.mutable and c not in part.bounds.categorical
    ]


def _attack_pool(part, holdout, n=200):
    return holdout[attackable_mask(holdout, part.bounds.mutable)].head(n).reset_index(drop=True)


@pytest.mark.parametrize("target", ["robust", "surrogate"])
def test_pgd_never_violates_bounds(loaded, target):
    part, _base, holdout = loaded
    pool = _attack_pool(part, holdout)
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    x, oh = pgd(space, getattr(part, target), steps=10, step_frac=0.3, seed=3, random_start=1.0)
    adv = space.materialize(x, oh)
    assert part.bounds.violations(pool, adv, _immutable(part)) == {
        "immutable_changed": 0,
        "out_of_box": 0,
        "not_integer": 0,
        "invalid_category": 0,
    }
    assert (adv[part.bounds.mutable].to_numpy() != pool[part.bounds.mutable].to_numpy()).any(), "PGD moved nothing"
    for col in _immutable(part):
        assert adv[col].equals(pool[col]), col


def test_gan_never_violates_bounds(loaded):
    part, _base, holdout = loaded
    pool = _attack_pool(part, holdout)
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    gen = train_generator(space, part.robust, 0.0, steps=30, hidden=16, noise_dim=4, realism_weight=0.1, seed=5)
    x, oh = generate(space, gen, seed=6)
    adv = space.materialize(x, oh)
    assert part.bounds.violations(pool, adv, _immutable(part)) == {
        "immutable_changed": 0,
        "out_of_box": 0,
        "not_integer": 0,
        "invalid_category": 0,
    }
    assert set(adv["payment_method"]) <= set(part.bounds.categorical["payment_method"])


@pytest.mark.parametrize("target", ["base", "hardened"])
def test_corner_attack_never_violates_bounds(loaded, target):
    part, base, holdout = loaded
    pool = _attack_pool(part, holdout)
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    score = base.predict_proba if target == "base" else part.hardened_probability
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    adv = corner_attack(space, direction, score)
    assert part.bounds.violations(pool, adv, _immutable(part)) == {
        "immutable_changed": 0,
        "out_of_box": 0,
        "not_integer": 0,
        "invalid_category": 0,
    }
    assert (score(adv) >= score(pool) - 1e-9).mean() > 0.9  # the corner raises almost every score


def _moves_in_the_box(part, space: AttackSpace, seed: int, random_points: int) -> list[pd.DataFrame]:
    """White-box PGD on the hardened model, then random points of each box with every payment method."""
    x, oh = pgd(space, part.robust, steps=15, step_frac=0.2, seed=seed, random_start=1.0)
    moves = [space.materialize(x, oh)]
    gen = torch.Generator().manual_seed(seed)
    values = part.bounds.categorical["payment_method"]
    for k in range(random_points):
        u = torch.rand(space.x0.shape, generator=gen)
        moved = space.materialize(space.low + u * (space.high - space.low), space.onehot)
        moved["payment_method"] = [values[(i + k) % len(values)] for i in range(len(moved))]
        moves.append(moved)
    return moves


def test_certified_worst_case_bounds_every_attack_in_the_box(loaded):
    """For the monotone hardened model the corner is the exact worst case: no PGD move, GAN move
    or random point of the box (with any valid payment method) gets a higher logit."""
    part, _base, holdout = loaded
    assert part.meta["certified"]
    pool = _attack_pool(part, holdout)
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    with torch.no_grad():
        bound = worst_case_logit(part.robust, space, direction).numpy()
        lowest = worst_case_logit(part.robust, space, direction, up=False).numpy()

    def logit(frame: pd.DataFrame) -> np.ndarray:
        with torch.no_grad():
            return part.robust(part.encoder.encode(frame)).numpy()

    for frame in [pool, *_moves_in_the_box(part, space, seed=9, random_points=5)]:
        reached = logit(frame)
        assert (reached <= bound + 1e-4).all()
        assert (reached >= lowest - 1e-4).all()
    assert (bound > logit(pool) + 1e-3).mean() > 0.9


def test_detectors_flag_a_planted_manipulation_and_pass_clean_data(loaded):
    part, _base, holdout = loaded
    clean = holdout[attackable_mask(holdout, part.bounds.mutable)].reset_index(drop=True)
    verdict = part.protect(clean)["protection_verdict"]
    assert (verdict != "clean").mean() <= 0.06, "clean holdout customers flagged far beyond the FP budget"
    # keep the customers the detector passes, then plant the fraudster's manipulation on them
    passed = clean[verdict.to_numpy() == "clean"].head(200).copy()
    planted = passed.copy()
    planted["support_tickets_90d"] += 6
    planted["cancel_page_views_30d"] += 8
    planted["support_page_views_30d"] += 6
    planted["usage_hours_30d"] *= 0.2
    planted["checkouts_30d"] = 0.0
    out = part.protect(planted)
    assert (out["protection_verdict"] != "clean").mean() >= 0.9
    flagged = out[out["protection_verdict"] != "clean"]
    assert (flagged["attack_type"] != "none").all()
    assert set(flagged["recommended_action"]) <= {"serve_hold_offer", "manual_review"}
    assert (out["anomaly_score"].to_numpy() > part.protect(passed)["anomaly_score"].to_numpy()).mean() >= 0.9


def test_detector_combination_weights_come_from_manipulated_copies(loaded):
    """Five detectors, weights learnt from the threat model's moves (no fraud label): all kept,
    non-negative, summing to 5; the churn signal and the context gap rise with churn-like behaviour."""
    part, _base, holdout = loaded
    det = part.detector
    assert set(det.weights) == {"isolation_forest", "robust_z", "knn", "churn_signal", "context_gap"}
    assert abs(sum(det.weights.values()) - 5.0) < 1e-9 and min(det.weights.values()) > 0
    clean = holdout[attackable_mask(holdout, part.bounds.mutable)].head(100).reset_index(drop=True)
    louder = clean.copy()
    louder["cancel_page_views_30d"] += 3
    louder["support_tickets_90d"] += 3
    a, b = det.assess(clean), det.assess(louder)
    assert (b["churn_signal"] > a["churn_signal"]).all() and (b["context_gap"] > a["context_gap"]).all()
    # a detector pickled before the churn signal still scores (three detectors, plain Fisher)
    old = {k: v for k, v in vars(det).items() if k not in ("churn_coef", "weights", "context", "chunk_rows")}
    old["calibrators"] = {k: v for k, v in det.calibrators.items() if k not in ("churn_signal", "context_gap")}
    restored = type(det).__new__(type(det))
    restored.__setstate__(old)
    assert "churn_signal" not in restored.assess(clean) and np.isfinite(restored.assess(clean)["combined"]).all()


def test_decision_input_is_certified_against_any_manipulation_in_the_box(loaded):
    """The hardened model's input to the protected decision, after any manipulation inside the
    box (random points, every payment method, white-box PGD), never exceeds the hardened
    probability of the customer before it: an attack cannot buy the hardened half of an offer."""
    part, _base, holdout = loaded
    pool = _attack_pool(part, holdout)
    before = part.hardened_probability(pool)
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    for moved in _moves_in_the_box(part, space, seed=11, random_points=4):
        assert (part.decision_probability(moved) <= before + 1e-6).all()
    assert (part.decision_probability(pool) < before - 1e-4).mean() > 0.9, "the reverse box is not empty"


def test_bundle_scores_the_protected_prediction(tiny_workspace, loaded):
    part, _base, holdout = loaded
    bundle = ModelBundle(tiny_workspace.root / "models")
    assert "protection" in bundle.part_names
    scores = bundle.predict(holdout)
    for col in COLUMNS:
        assert col in scores
    # the protected decision: an offer only with a clean verdict
    assert not (scores["offer_eligible"] & (scores["protection_verdict"] != "clean")).any()
    assert set(scores["protection_verdict"]) <= {"clean", "suspicious", "attack"}
    assert scores["hardened_probability"].between(0, 1).all() and scores["anomaly_score"].between(0, 1).all()
    cold = holdout["is_cold_start"].to_numpy() == 1
    if cold.any():
        assert (scores.loc[cold, "protection_verdict"] == "clean").all()
    one = bundle.predict(holdout.head(1))  # one customer, as serving sends it
    assert one.shape[0] == 1 and not one[COLUMNS].isna().any().any()
    partial = bundle.predict(holdout.head(3).drop(columns=["cancel_page_views_30d"]))  # missing column
    assert partial.shape[0] == 3
    # the streaming job asks for the score alone: protection is skipped, the probability is the same
    from churnguard.core.columns import from_frame

    alone = bundle.predict_columns(from_frame(holdout), len(holdout), only_probability=True)
    assert "protection_verdict" not in alone
    np.testing.assert_array_equal(alone["churn_probability"], scores["churn_probability"].to_numpy())


def test_metrics_report_fresh_attacks_and_no_violations(tiny_workspace):
    m = json.loads((tiny_workspace.root / "metrics" / "harden.json").read_text())
    for key in ("roc_auc_base", "roc_auc_hardened"):
        assert 0.5 < m["clean"][key] <= 1.0
    for key in ("pgd_base", "pgd_hardened", "gan_base", "gan_hardened"):
        assert 0.0 <= m["attack_success"][key] <= 1.0
    assert all(sum(v.values()) == 0 for v in m["bounds_violations"].values())
    a = m["attack_success"]
    assert {"corner_base", "corner_hardened"} <= set(m["bounds_violations"])
    assert a["strongest_base"] >= max(a["pgd_base"], a["corner_base"])
    if a["hardened_certified"]:  # every flip any attack found is also a flip of the exact worst case
        assert a["corner_hardened"] >= max(a["pgd_hardened"], a["gan_hardened"])
        assert a["strongest_hardened"] == a["corner_hardened"]
    d = m["detection"]
    assert "real_fraudsters" in d and "fpr_isolation_forest_alone" in d["legitimate"]
    assert np.isfinite(d["legitimate"]["fpr"])
    for f in ("tpr_at_1pct_fpr", "tpr_at_2pct_fpr"):
        assert set(d["real_fraudsters"][f]) >= {"combined", "context_gap", "isolation_forest"}
    assert "tpr_at_2pct_fpr" in d["supervised_ceiling"]
    # the protected decision under adaptive attacks: every attack valid, the strongest is the union
    p = m["protected_decision"]
    s = p["attack_success"]
    assert {f"protected_{k}" for k in ("corner", "pgd_unaware", "detector_aware", "minimal", "decision_based")} <= set(
        m["bounds_violations"]
    )
    assert s["strongest"] >= max(s[k] for k in ("corner", "pgd_unaware", "detector_aware", "minimal")) - 1e-12
    assert s["strongest_any"] >= s["strongest_on_decision_based_customers"] - 1e-12
    ratio = s["strongest_any"] / max(s["pgd_base_unprotected"], 1e-9)
    assert s["strongest_ratio_to_base_pgd"] == pytest.approx(ratio, rel=1e-3, abs=1e-3)  # metrics: 4 decimals
    assert {r["score"] for r in p["frontier"]} == {"gate", "base", "hardened"}
    o = p["outcomes"]
    assert 0.0 <= o["legitimate_offer_ratio"] <= 2.0 and abs(o["offer_share"] - 0.25) < 0.06
