"""Stage `harden`: GAN-seeded adversarial training, anomaly detectors, attack classification.

Reads params: harden. Reads data/features and models/base (never the ground truth).
Writes models/protection/ (bundle part `protection`, order 20). Evaluation with fresh
attacks is the next stage, `evaluate_harden`.
"""

from __future__ import annotations

import time

import pandas as pd

from churnguard.adversarial.config import load_harden_config
from churnguard.adversarial.protection import save_part
from churnguard.adversarial.training import fit_protection
from churnguard.core.config import PATHS
from churnguard.core.skips import skip_part
from churnguard.core.vocabulary import SPLIT
from churnguard.features.table import FeatureSchema
from churnguard.models.tabular import load_part as load_base


def main() -> None:
    t0 = time.perf_counter()
    cfg = load_harden_config()
    schema = FeatureSchema.load(PATHS.features / "schema.json")
    part_dir = PATHS.models / "protection"
    manipulable = [c for c in cfg.mutable if c in schema.numeric]
    # decided before the table is read: a stage that reads with pyarrow's thread pool and exits at once
    # can abort at exit ("terminate called without an active exception", apache/arrow#34314)
    if not manipulable:
        # e.g. a Telco CSV: no usage/tickets/click behaviour, nothing an attacker could fake here
        skip_part(
            part_dir,
            "this data source has none of the manipulable behaviour features "
            f"({', '.join(cfg.mutable)}); the bundle gets no protection part",
        )
        return
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    base = load_base(PATHS.models / "base")
    part = fit_protection(table[table[SPLIT] == "train"], schema, base, cfg)
    save_part(part, PATHS.models / "protection")
    print(f"protection part written to {PATHS.models / 'protection'} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
