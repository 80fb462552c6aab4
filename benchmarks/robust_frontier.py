"""Robustness / accuracy frontier of the hardened model and of the protected decision, on a validation split.

For each setting of ``harden.robust`` (worst_case_weight, ...) the protection part is fitted on
80 % of the train split and scored on the other 20 % (never the holdout, never the truth, so
choosing params from this table does not peek at the reported metrics):

* clean ROC AUC of the hardened model beside the base model (same family, refitted on the same
  80 %) on the same validation rows, and the corner attack's success on validation customers
  the hardened model does not offer: the exact worst case of the monotone model (certified);
* the protected decision (decision.py): the clean ROC AUC drop of its score, and its certified
  bound: the share of not-offered validation customers whose hardened logit *before* any
  manipulation already clears the decision threshold; no attack within the box can earn an
  offer for anyone else, whatever it does to the base model or the detectors.

Writes benchmarks/results/robust_frontier.json. Needs a built workspace (data/features,
models/base: ``churnguard run``, or a world of ``benchmarks/worlds.py --root``).

    .venv/bin/python benchmarks/robust_frontier.py [--fast]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.certify import corner_attack
from churnguard.adversarial.config import HardenConfig, harden_config
from churnguard.adversarial.decision import _logit
from churnguard.adversarial.protection import ProtectionPart
from churnguard.adversarial.training import attackable_mask, fit_protection
from churnguard.core.benchmarking import write_result
from churnguard.core.config import PATHS, load_params
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import FeatureSchema
from churnguard.models.tabular import BaseModel, make_candidate, prepare
from churnguard.models.tabular import load_part as load_base

SETTINGS = [  # robust-section overrides, all monotone (certified), 12 epochs
    {"worst_case_weight": 0.0},
    {"worst_case_weight": 0.1},  # shipped before the protected decision (#4)
    {"worst_case_weight": 0.2},
    {"worst_case_weight": 0.4},
    {"worst_case_weight": 1.0},  # shipped: the most robust setting, decision drop within 0.015
]


def corner_success(frame: pd.DataFrame, score, threshold: float, direction, part) -> float:
    """Share of not-offered attackable customers whose corner-attacked score reaches the threshold."""
    pool = frame[(score(frame) < threshold) & attackable_mask(frame, part.bounds.mutable)]
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    return float((score(corner_attack(space, direction, score)) >= threshold).mean())


def decision_row(part: ProtectionPart, base: BaseModel, val: pd.DataFrame, base_auc: float) -> dict[str, Any]:
    """The protected decision's clean AUC drop and certified success bound on the validation rows."""
    d = part.decision
    assert d is not None
    y, base_p = val[LABEL].to_numpy(), base.predict_proba(val)
    offered = part.offers(val, base_p)
    score = d.score(base_p, part.decision_probability(val))
    pool = ~offered & attackable_mask(val, part.bounds.mutable)
    # before the attack the customer is x0 = the observed row; the decision's hardened input after
    # any attack is at most H(x0) (certify.lowest_logit_before_manipulation), and the score is a min
    best_h = _logit(part.hardened_probability(val)) - d.hardened_logit
    return {
        "decision_roc_auc_drop": base_auc - float(roc_auc_score(y, score)),
        "decision_certified_bound": float((best_h[pool] >= d.threshold).mean()) if pool.any() else 0.0,
        "decision_offer_share": float(offered.mean()),
    }


def base_on(fit_rows: pd.DataFrame, schema: FeatureSchema, params: dict[str, Any]) -> BaseModel:
    """The base model refitted on the fit rows only (same family as train_base chose)."""
    family = load_base(PATHS.models / "base").family
    pipe = make_candidate(family, schema, params["train_base"].get(family, {}), int(params["data"]["seed"]))
    return BaseModel(pipe.fit(prepare(fit_rows, schema), fit_rows[LABEL].to_numpy()), schema, family)


def setting_row(cfg: HardenConfig, s: dict[str, Any], fit_rows, val, schema, base, base_auc) -> dict[str, Any]:
    cfg = dataclasses.replace(cfg, robust=dataclasses.replace(cfg.robust, **s))
    t0 = time.perf_counter()
    part = fit_protection(fit_rows, schema, base, cfg, log=lambda *_: None)
    direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
    hard = part.hardened_probability
    success = corner_success(val, hard, part.thresholds["hardened_probability"], direction, part)
    base_thr = float(np.quantile(base.predict_proba(fit_rows), 1 - cfg.offer_share))
    base_success = corner_success(val, base.predict_proba, base_thr, direction, part)
    return {
        **s,
        "roc_auc_drop": base_auc - float(roc_auc_score(val[LABEL].to_numpy(), hard(val))),
        "corner_success": success,
        "corner_success_base": base_success,
        "corner_ratio_to_base": success / max(base_success, 1e-9),
        **decision_row(part, base, val, base_auc),
        "fit_seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true", help="first two settings only")
    args = ap.parse_args()
    params = load_params()
    cfg = harden_config(params["harden"])
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    schema = FeatureSchema.load(PATHS.features / "schema.json")
    train_all = table[table[SPLIT] == "train"].sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(0.8 * len(train_all))
    fit_rows, val = train_all.iloc[:cut], train_all.iloc[cut:].reset_index(drop=True)
    base = base_on(fit_rows, schema, params)
    base_auc = float(roc_auc_score(val[LABEL].to_numpy(), base.predict_proba(val)))
    rows = [
        setting_row(cfg, s, fit_rows, val, schema, base, base_auc)
        for s in tqdm(SETTINGS[:2] if args.fast else SETTINGS, desc="robust settings")
    ]
    for r in rows:
        print(
            f"worst_case_weight {r['worst_case_weight']:<4} hardened drop {r['roc_auc_drop']:+.4f} corner ratio "
            f"{r['corner_ratio_to_base']:.2f} | decision drop {r['decision_roc_auc_drop']:+.4f} certified bound "
            f"{r['decision_certified_bound']:.3f} (base corner {r['corner_success_base']:.3f})"
        )
    run = {"fit_rows": len(fit_rows), "validation_rows": len(val), "budget": cfg.budget, "workspace": PATHS.root.name}
    write_result("robust_frontier", run, {"base": {"roc_auc": base_auc}, "settings": rows})


if __name__ == "__main__":
    main()
