"""Evaluation of the protection part on holdout customers, with FRESH attacks.

Neither attack used here was seen in training: PGD never trains anything, and the GAN
attacker is a new generator (other seed) trained against each target model. Attacks target
holdout customers who do not get an offer from the attacked model (the fraudster's goal is
to get one); success = the decision flips. Ground truth (``is_fraud``) comes in only here,
through components/core/truth.py, to score the detectors on real fraudsters and legitimate customers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from churnguard.adversarial.attacks import AttackSpace, generate, pgd, train_generator
from churnguard.adversarial.certify import corner_attack
from churnguard.adversarial.protection import ProtectionPart
from churnguard.adversarial.training import attackable_mask, established_mask
from churnguard.core.vocabulary import LABEL


def _pool(frame: pd.DataFrame, p: np.ndarray, thr: float, n: int, seed: int, mutable: list[str]) -> pd.DataFrame:
    below = frame[(p < thr) & attackable_mask(frame, mutable)]
    return below.sample(min(n, len(below)), random_state=seed) if len(below) else below


def _best_pgd(space: AttackSpace, model, cfg: dict[str, Any], seed: int, decide) -> tuple[pd.DataFrame, np.ndarray]:
    """PGD with restarts; per customer keep the first restart that flips ``decide``."""
    best, flipped = None, np.zeros(len(space.frame), bool)
    for r in range(int(cfg["restarts"])):
        x, oh = pgd(space, model, int(cfg["steps"]), float(cfg["step_frac"]), seed + r, random_start=0.5 if r else 0.0)
        adv = space.materialize(x, oh)
        ok = decide(adv)
        if best is None:
            best = adv
        else:
            take = ok & ~flipped
            best = best.where(~pd.Series(take, index=best.index), adv, axis=0)
        flipped |= ok
    return best, flipped


def evaluate_protection(
    part: ProtectionPart, base, holdout: pd.DataFrame, cfg: dict[str, Any], is_fraud: pd.Series | None = None, log=print
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    t0 = time.perf_counter()
    ecfg = cfg["evaluate"]
    seed = int(cfg["seed"]) + 1000
    torch.set_num_threads(int(cfg["torch_threads"]))
    holdout = holdout.reset_index(drop=True)
    y = holdout[LABEL].to_numpy()
    base_p = base.predict_proba(holdout)
    hard_p = part.hardened_probability(holdout)
    thr_b, thr_h = part.thresholds["base_probability"], part.thresholds["hardened_probability"]
    auc_b, auc_h = float(roc_auc_score(y, base_p)), float(roc_auc_score(y, hard_p))
    m: dict[str, Any] = {
        "clean": {
            "roc_auc_base": auc_b,
            "roc_auc_hardened": auc_h,
            "roc_auc_drop": auc_b - auc_h,
            "offer_share_base": float((base_p >= thr_b).mean()),
            "offer_share_hardened": float((hard_p >= thr_h).mean()),
            "n": len(y),
        }
    }
    n = int(ecfg["customers"])
    decide_b = lambda adv: base.predict_proba(adv) >= thr_b
    decide_h = lambda adv: part.hardened_probability(adv) >= thr_h
    pool_b = _pool(holdout, base_p, thr_b, n, seed, part.bounds.mutable)
    pool_h = _pool(holdout, hard_p, thr_h, n, seed, part.bounds.mutable)
    space_b = AttackSpace.build(pool_b, part.encoder, part.bounds)
    space_h = AttackSpace.build(pool_h, part.encoder, part.bounds)
    attacks: dict[str, pd.DataFrame] = {}
    success: dict[str, float] = {}

    # PGD: white-box on the surrogate for the base model, white-box on the robust model, and
    # transfer from the surrogate to the robust model (guards against masked gradients).
    adv, ok = _best_pgd(space_b, part.surrogate, ecfg["pgd"], seed, decide_b)
    attacks["pgd_base"], success["pgd_base"] = adv, float(ok.mean())
    adv, ok_w = _best_pgd(space_h, part.robust, ecfg["pgd"], seed, decide_h)
    attacks["pgd_hardened"] = adv
    adv_t, ok_t = _best_pgd(space_h, part.surrogate, ecfg["pgd"], seed + 7, decide_h)
    success["pgd_hardened_whitebox"], success["pgd_hardened_transfer"] = float(ok_w.mean()), float(ok_t.mean())
    success["pgd_hardened"] = float((ok_w | ok_t).mean())
    log(f"PGD done ({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)")

    # Corner attack (certify.py): every mutable feature at its churn-ward corner, best payment
    # method. Black-box on the base model; on a monotone hardened model it is the exact worst
    # case, so its success is a certified upper bound for every attack within the box.
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    attacks["corner_base"] = corner_attack(space_b, direction, base.predict_proba)
    attacks["corner_hardened"] = corner_attack(space_h, direction, part.hardened_probability)
    ok_cb, ok_ch = decide_b(attacks["corner_base"]), decide_h(attacks["corner_hardened"])
    success["corner_base"], success["corner_hardened"] = float(ok_cb.mean()), float(ok_ch.mean())
    # the strongest evaluated attacker per customer: any attack that flips counts
    success["strongest_base"] = float((ok | ok_cb).mean())
    success["strongest_hardened"] = float((ok_w | ok_t | ok_ch).mean())
    success["hardened_certified"] = bool(part.meta.get("certified", False))

    # Fresh GAN attackers, one per target
    gcfg = cfg["gan"]
    real = part.encoder.encode(holdout[established_mask(holdout)])
    for name, space, target, thr_logit, decide in (
        ("gan_base", space_b, part.surrogate, part.thresholds["surrogate_logit"], decide_b),
        ("gan_hardened", space_h, part.robust, float(np.log(thr_h / (1 - thr_h))), decide_h),
    ):
        gen = train_generator(
            space,
            target,
            thr_logit,
            int(ecfg["gan_steps"]),
            int(gcfg["hidden"]),
            int(gcfg["noise_dim"]),
            float(gcfg["realism_weight"]),
            seed + 11,
            real=real,
        )
        x, oh = generate(space, gen, seed + 13)
        attacks[name] = space.materialize(x, oh)
        success[name] = float(decide(attacks[name]).mean())
    log(f"GAN attacks done ({time.perf_counter() - t0:.1f}s, cpu {time.process_time():.1f}s)")
    m["attack_success"] = {
        **success,
        "pgd_ratio_hardened_to_base": success["pgd_hardened"] / max(success["pgd_base"], 1e-9),
        "gan_ratio_hardened_to_base": success["gan_hardened"] / max(success["gan_base"], 1e-9),
        "corner_ratio_hardened_to_base": success["corner_hardened"] / max(success["corner_base"], 1e-9),
        "strongest_ratio_hardened_to_base": success["strongest_hardened"] / max(success["strongest_base"], 1e-9),
        "attacked_customers_base": len(pool_b),
        "attacked_customers_hardened": len(pool_h),
        "budget": part.bounds.budget,
    }
    immutable = [
        c
        for c in part.encoder.numeric + part.encoder.categorical
        if c not in part.bounds.mutable and c not in part.bounds.categorical
    ]
    originals = {k: (pool_b if k.endswith("_base") else pool_h) for k in attacks}
    m["bounds_violations"] = {
        k: part.bounds.violations(originals[k].reset_index(drop=True), a, immutable) for k, a in attacks.items()
    }

    # Detection
    est = established_mask(holdout)
    prot = part.protect(holdout)
    a_clean = part.detector.assess(holdout[est])
    comb_clean, iso_clean = a_clean["combined"], a_clean["isolation_forest"]
    fraud = (
        is_fraud.reindex(holdout["customer_id"]).fillna(False).to_numpy().astype(bool)
        if is_fraud is not None
        else np.zeros(len(holdout), bool)
    )
    legit = est & ~fraud
    flagged = prot["protection_verdict"].to_numpy() != "clean"
    iso_flag = np.zeros(len(holdout), bool)
    iso_flag[est] = iso_clean > part.detector.thresholds["isolation_forest"]
    legit_in_est = legit[est]
    thr1_comb = float(np.quantile(comb_clean[legit_in_est], 0.99))
    thr1_iso = float(np.quantile(iso_clean[legit_in_est], 0.99))

    def rates(frame: pd.DataFrame) -> dict[str, Any]:
        a = part.detector.assess(frame)
        kind, _ = part.classifier.classify(a["deviations"], a["verdict"])
        types = pd.Series(kind).value_counts(normalize=True).round(4).to_dict()
        return {
            "n": len(frame),
            "flagged": float((a["verdict"] != "clean").mean()),
            "flagged_attack": float((a["verdict"] == "attack").mean()),
            "flagged_isolation_forest_alone": float(a["isolation_forest_flag"].mean()),
            "tpr_at_1pct_fpr": float((a["combined"] > thr1_comb).mean()),
            "tpr_at_1pct_fpr_isolation_forest_alone": float((a["isolation_forest"] > thr1_iso).mean()),
            "attack_types": types,
        }

    det: dict[str, Any] = {
        "legitimate": {
            "n": int(legit.sum()),
            "fpr": float(flagged[legit].mean()),
            "fpr_attack_verdict": float((prot["protection_verdict"].to_numpy() == "attack")[legit].mean()),
            "fpr_isolation_forest_alone": float(iso_flag[legit].mean()),
        }
    }
    for k, a in attacks.items():
        ok = (decide_b if k.endswith("base") else decide_h)(a)
        det[f"attacked_{k}"] = rates(a)
        unflagged = part.detector.assess(a)["verdict"] == "clean"
        # the protected decision: an attack only pays if the offer is granted, i.e. the decision
        # flips AND the detectors pass the customer
        m["attack_success"][f"{k}_protected"] = float((ok & unflagged).mean())
        if ok.any():
            det[f"attacked_{k}"]["successful_only"] = {kk: v for kk, v in rates(a[ok]).items() if kk != "attack_types"}
    if fraud.any():
        det["real_fraudsters"] = rates(holdout[fraud])
        det["real_fraudsters"]["offer_rate_base"] = float((base_p[fraud] >= thr_b).mean())
        det["real_fraudsters"]["offer_rate_hardened"] = float((hard_p[fraud] >= thr_h).mean())
        det["real_fraudsters"]["offer_rate_protected"] = float(((hard_p >= thr_h) & ~flagged)[fraud].mean())
        det["legitimate"]["offer_rate_protected_vs_hardened"] = float(
            ((hard_p >= thr_h) & ~flagged)[legit].sum() / max(1, (hard_p >= thr_h)[legit].sum())
        )
    det["thresholds"] = part.detector.thresholds
    det["ground_truth"] = is_fraud is not None
    m["detection"] = det
    m["seconds"] = round(time.perf_counter() - t0, 1)
    return m, attacks
