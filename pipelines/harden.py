"""Stage `harden`: GAN-seeded adversarial training, anomaly detectors, attack classification.

Reads params: harden. Reads data/features and models/base (never the ground truth).
Writes models/protection/ (bundle part `protection`, order 20). Evaluation with fresh
attacks is the next stage, `evaluate_harden`.
"""
from __future__ import annotations

import time

import pandas as pd

from components.adversarial.protection import save_part
from components.adversarial.training import fit_protection
from components.config import PATHS, load_params
from components.features.table import SPLIT, FeatureSchema
from components.models.tabular import load_part as load_base


def main() -> None:
    t0 = time.perf_counter()
    cfg = load_params()["harden"]
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    schema = FeatureSchema.load(PATHS.features / "schema.json")
    base = load_base(PATHS.models / "base")
    part = fit_protection(table[table[SPLIT] == "train"], schema, base, cfg)
    save_part(part, PATHS.models / "protection")
    print(f"protection part written to {PATHS.models / 'protection'} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
