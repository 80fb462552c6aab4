"""Evaluation of the protection part on holdout customers, with FRESH attacks.

No attack used here was seen in training: PGD never trains anything, the GAN attacker is a
new generator (other seed) trained against each target model, and the adaptive attacks on the
protected decision (evaluation_protected.py) are built here. Attacks target holdout customers
who do not get an offer (the fraudster's goal is to get one); success = the decision flips.
Ground truth (``is_fraud``) comes in only here, through components/core/truth.py, to score the
detectors and the decision on real fraudsters and legitimate customers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from churnguard.adversarial.attacks import AttackSpace, generate, pgd, train_generator
from churnguard.adversarial.certify import corner_attack
from churnguard.adversarial.config import HardenConfig, PgdConfig
from churnguard.adversarial.evaluation_context import Decide, Evaluation
from churnguard.adversarial.evaluation_protected import detection_metrics, protected_metrics
from churnguard.adversarial.protection import ProtectionPart
from churnguard.adversarial.training import established_mask, fit_sample
from churnguard.core.vocabulary import ID, LABEL


def _best_pgd(space: AttackSpace, model, cfg: PgdConfig, seed: int, decide: Decide) -> tuple[pd.DataFrame, np.ndarray]:
    """PGD with restarts; per customer keep the first restart that flips ``decide``."""
    best, flipped = space.frame.copy(), np.zeros(len(space.frame), bool)
    for r in range(cfg.restarts):
        x, oh = pgd(space, model, cfg.steps, cfg.step_frac, seed + r, random_start=0.5 if r else 0.0)
        adv = space.materialize(x, oh)
        ok = decide(adv)
        take = ok & ~flipped
        best = best.where(~pd.Series(take, index=best.index), adv, axis=0)
        flipped |= ok
    return best, flipped


def _clean(ev: Evaluation, base_p: np.ndarray, hard_p: np.ndarray) -> dict[str, Any]:
    y = ev.holdout[LABEL].to_numpy()
    auc_b, auc_h = float(roc_auc_score(y, base_p)), float(roc_auc_score(y, hard_p))
    return {
        "roc_auc_base": auc_b,
        "roc_auc_hardened": auc_h,
        "roc_auc_drop": auc_b - auc_h,
        "offer_share_base": float((base_p >= ev.part.thresholds["base_probability"]).mean()),
        "offer_share_hardened": float((hard_p >= ev.part.thresholds["hardened_probability"]).mean()),
        "n": len(y),
    }


def _model_attacks(
    ev: Evaluation, space_b: AttackSpace, space_h: AttackSpace
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """PGD (white-box on the surrogate for the base model, white-box on the robust model, and
    transferred from the surrogate: guards against masked gradients) and the corner attack
    (certify.py: black-box on the base model, the exact worst case on a monotone hardened model)."""
    part, pc = ev.part, ev.cfg.evaluate.pgd
    attacks, ok = {}, {}
    attacks["pgd_base"], ok["pgd_base"] = _best_pgd(space_b, part.surrogate, pc, ev.seed, ev.decide_base)
    attacks["pgd_hardened"], ok["pgd_hardened_whitebox"] = _best_pgd(
        space_h, part.robust, pc, ev.seed, ev.decide_hardened
    )
    _adv_t, ok["pgd_hardened_transfer"] = _best_pgd(space_h, part.surrogate, pc, ev.seed + 7, ev.decide_hardened)
    ok["pgd_hardened"] = ok["pgd_hardened_whitebox"] | ok["pgd_hardened_transfer"]  # (frame: the white-box one)
    ev.progress("PGD done")
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    attacks["corner_base"] = corner_attack(space_b, direction, ev.base.predict_proba)
    attacks["corner_hardened"] = corner_attack(space_h, direction, part.hardened_probability)
    ok["corner_base"], ok["corner_hardened"] = (
        ev.decide_base(attacks["corner_base"]),
        ev.decide_hardened(attacks["corner_hardened"]),
    )
    return attacks, ok


def _gan_attacks(ev: Evaluation, space_b: AttackSpace, space_h: AttackSpace, attacks, ok) -> None:
    """A fresh GAN attacker per target (not the generator used in training)."""
    part, g = ev.part, ev.cfg.gan
    thr_h = part.thresholds["hardened_probability"]
    real = part.encoder.encode(ev.holdout[established_mask(ev.holdout)])
    for name, space, target, thr_logit, decide in (
        ("gan_base", space_b, part.surrogate, part.thresholds["surrogate_logit"], ev.decide_base),
        ("gan_hardened", space_h, part.robust, float(np.log(thr_h / (1 - thr_h))), ev.decide_hardened),
    ):
        gen = train_generator(
            space, target, thr_logit, ev.cfg.evaluate.gan_steps, g.hidden, g.noise_dim, g.realism_weight,
            ev.seed + 11, real=real,
        )  # fmt: skip
        x, oh = generate(space, gen, ev.seed + 13)
        attacks[name] = space.materialize(x, oh)
        ok[name] = decide(attacks[name])
    ev.progress("GAN attacks done")


def _success_table(ev: Evaluation, ok: dict[str, np.ndarray], n_b: int, n_h: int) -> dict[str, Any]:
    s = {k: float(v.mean()) if len(v) else 0.0 for k, v in ok.items()}
    # the strongest evaluated attacker per customer: any attack that flips counts
    s["strongest_base"] = float((ok["pgd_base"] | ok["corner_base"]).mean()) if n_b else 0.0
    union_h = ok["pgd_hardened_whitebox"] | ok["pgd_hardened_transfer"] | ok["corner_hardened"]
    s["strongest_hardened"] = float(union_h.mean()) if n_h else 0.0
    s["hardened_certified"] = bool(ev.part.meta.get("certified", False))
    ratio = lambda a, b: s[a] / max(s[b], 1e-9)
    return {
        **s,
        "pgd_ratio_hardened_to_base": ratio("pgd_hardened", "pgd_base"),
        "gan_ratio_hardened_to_base": ratio("gan_hardened", "gan_base"),
        "corner_ratio_hardened_to_base": ratio("corner_hardened", "corner_base"),
        "strongest_ratio_hardened_to_base": ratio("strongest_hardened", "strongest_base"),
        "attacked_customers_base": n_b,
        "attacked_customers_hardened": n_h,
        "budget": ev.part.bounds.budget,
    }


def violations(part: ProtectionPart, originals: dict[str, pd.DataFrame], attacks: dict[str, pd.DataFrame]):
    """Broken threat-model rules of every attack (all zero for valid attacks)."""
    immutable = [
        c
        for c in part.encoder.numeric + part.encoder.categorical
        if c not in part.bounds.mutable and c not in part.bounds.categorical
    ]
    return {k: part.bounds.violations(originals[k].reset_index(drop=True), a, immutable) for k, a in attacks.items()}


def evaluate_protection(
    part: ProtectionPart,
    base,
    holdout: pd.DataFrame,
    cfg: HardenConfig,
    is_fraud: pd.Series | None = None,
    train: pd.DataFrame | None = None,
    log: Callable[[str], Any] = print,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    torch.set_num_threads(cfg.torch_threads)
    if train is not None:  # thresholds of the frontier and the supervised ceiling: a bounded sample
        train = fit_sample(train, cfg.fit_rows, cfg.seed)
    ev = Evaluation(part, base, holdout.reset_index(drop=True), cfg, cfg.seed + 1000, time.perf_counter(), log)
    base_p, hard_p = base.predict_proba(ev.holdout), part.hardened_probability(ev.holdout)
    m: dict[str, Any] = {"clean": _clean(ev, base_p, hard_p)}
    space_b = ev.space(base_p >= part.thresholds["base_probability"])
    space_h = ev.space(hard_p >= part.thresholds["hardened_probability"])
    attacks, ok = _model_attacks(ev, space_b, space_h)
    _gan_attacks(ev, space_b, space_h, attacks, ok)
    m["attack_success"] = _success_table(ev, ok, len(space_b.frame), len(space_h.frame))
    originals = {k: (space_b.frame if k.endswith("_base") else space_h.frame) for k in attacks}
    fraud = (
        is_fraud.reindex(ev.holdout[ID]).fillna(False).to_numpy().astype(bool)
        if is_fraud is not None
        else np.zeros(len(ev.holdout), bool)
    )
    m["detection"] = detection_metrics(ev, attacks, ok, fraud, base_p, hard_p, is_fraud, train)
    pgd_base = m["attack_success"]["pgd_base"]
    protected, adaptive_attacks, adaptive_originals = protected_metrics(ev, base_p, fraud, train, pgd_base)
    m["protected_decision"] = protected
    m["bounds_violations"] = violations(part, {**originals, **adaptive_originals}, {**attacks, **adaptive_attacks})
    m["seconds"] = round(time.perf_counter() - ev.t0, 1)
    return m, {**attacks, **adaptive_attacks}
