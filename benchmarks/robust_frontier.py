"""Robustness / accuracy frontier of the hardened model, measured on a validation split.

For each setting of ``harden.robust`` (architecture, worst_case_weight, adversarial_weight,
epochs) the protection part is fitted on 80 % of the train split and scored on the other 20 %
(never the holdout, so choosing params from this table does not peek at the reported metrics):

* clean ROC AUC of the hardened model beside the base model (same family, refitted on the same
  80 %) on the same validation rows;
* attack success on validation customers the model does not offer (top ``offer_share``):
  the corner attack (``components/adversarial/certify.py``), which is the exact worst case for
  the monotone architecture (certified) and a black-box attack on the base model and the MLP.

Writes benchmarks/results/robust_frontier.json. Needs a built workspace (data/features,
models/base: ``churnguard run``).

    .venv/bin/python benchmarks/robust_frontier.py [--fast]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.certify import corner_attack
from churnguard.adversarial.training import attackable_mask, fit_protection
from churnguard.core.benchmarking import write_result
from churnguard.core.config import PATHS, load_params
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import FeatureSchema
from churnguard.models.tabular import BaseModel, make_candidate, prepare
from churnguard.models.tabular import load_part as load_base

SETTINGS = [  # robust-section overrides; adversarial_weight is the GAN/directional consistency term
    {"architecture": "mlp", "worst_case_weight": 0.0, "adversarial_weight": 2.0, "epochs": 6},  # shipped before
    {"architecture": "monotone", "worst_case_weight": 0.1, "adversarial_weight": 0.2, "epochs": 6},
    {"architecture": "monotone", "worst_case_weight": 0.0, "adversarial_weight": 0.2, "epochs": 12},
    {"architecture": "monotone", "worst_case_weight": 0.05, "adversarial_weight": 0.2, "epochs": 12},
    {"architecture": "monotone", "worst_case_weight": 0.1, "adversarial_weight": 0.2, "epochs": 12},  # shipped
    {"architecture": "monotone", "worst_case_weight": 0.2, "adversarial_weight": 0.2, "epochs": 12},
    {"architecture": "monotone", "worst_case_weight": 0.4, "adversarial_weight": 0.2, "epochs": 12},
    {"architecture": "monotone", "worst_case_weight": 1.0, "adversarial_weight": 0.2, "epochs": 12},
    {"architecture": "mlp", "worst_case_weight": 0.1, "adversarial_weight": 0.2, "epochs": 12},
]


def corner_success(frame: pd.DataFrame, score, threshold: float, direction, part) -> float:
    """Share of not-offered attackable customers whose corner-attacked score reaches the threshold."""
    pool = frame[(score(frame) < threshold) & attackable_mask(frame, part.bounds.mutable)]
    space = AttackSpace.build(pool, part.encoder, part.bounds)
    return float((score(corner_attack(space, direction, score)) >= threshold).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true", help="first three settings only")
    args = ap.parse_args()
    import torch

    params = load_params()
    cfg0 = params["harden"]
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    schema = FeatureSchema.load(PATHS.features / "schema.json")
    train_all = table[table[SPLIT] == "train"].sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(0.8 * len(train_all))
    fit_rows, val = train_all.iloc[:cut], train_all.iloc[cut:].reset_index(drop=True)
    # the base model refitted on the fit rows only (same family as the stage chose), so that the
    # validation rows are out of sample for both models
    family = load_base(PATHS.models / "base").family
    pipe = make_candidate(family, schema, params["train_base"].get(family, {}), int(params["data"]["seed"]))
    base = BaseModel(pipe.fit(prepare(fit_rows, schema), fit_rows[LABEL].to_numpy()), schema, family)
    y = val[LABEL].to_numpy()
    base_auc = float(roc_auc_score(y, base.predict_proba(val)))
    base_thr = float(np.quantile(base.predict_proba(fit_rows), 1 - float(cfg0["offer_share"])))
    rows, base_success = [], None
    settings = SETTINGS[:3] if args.fast else SETTINGS
    for s in tqdm(settings, desc="robust settings"):
        cfg = copy.deepcopy(cfg0)
        cfg["robust"].update(s)
        t0 = time.perf_counter()
        part = fit_protection(fit_rows, schema, base, cfg, log=lambda *_: None)
        seconds = time.perf_counter() - t0
        direction = torch.as_tensor(part.meta["behaviour_directions"], dtype=torch.float32)
        if base_success is None:
            base_success = corner_success(val, base.predict_proba, base_thr, direction, part)
        hard = part.hardened_probability
        auc = float(roc_auc_score(y, hard(val)))
        success = corner_success(val, hard, part.thresholds["hardened_probability"], direction, part)
        rows.append(
            {
                **s,
                "certified": s["architecture"] == "monotone",
                "roc_auc": auc,
                "roc_auc_drop": base_auc - auc,
                "corner_success": success,
                "corner_ratio_to_base": success / max(base_success, 1e-9),
                "fit_seconds": round(seconds, 1),
                "note": "exact worst case (certified)"
                if s["architecture"] == "monotone"
                else "corner attack only: not a bound for the MLP (white-box PGD finds far more)",
            }
        )
    for r in rows:
        print(
            f"{r['architecture']:8s} worst {r['worst_case_weight']:<4} gan {r['adversarial_weight']:<4} "
            f"epochs {r['epochs']:<3} drop {r['roc_auc_drop']:+.4f}  corner success {r['corner_success']:.3f} "
            f"(ratio {r['corner_ratio_to_base']:.2f}{', certified' if r['certified'] else ''})"
        )
    write_result(
        "robust_frontier",
        {
            "fit_rows": len(fit_rows),
            "validation_rows": len(val),
            "budget": cfg0["budget"],
            "offer_share": cfg0["offer_share"],
        },
        {"base": {"roc_auc": base_auc, "corner_success": base_success}, "settings": rows},
    )


if __name__ == "__main__":
    main()
