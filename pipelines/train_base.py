"""Stage `train_base`: pick the tabular model family by cross-validation and fit it.

Reads params: train_base, data.seed. Writes models/base/ and metrics/cv.json.
"""

from __future__ import annotations

import pandas as pd

from churnguard.core.config import PATHS, load_params
from churnguard.core.metrics import write_metrics
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.features.table import FeatureSchema
from churnguard.models.config import TrainBaseConfig, typed
from churnguard.models.tabular import save_part, select_and_fit


def main() -> None:
    params = load_params()
    cfg = typed(TrainBaseConfig, params["train_base"], "train_base")
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    schema = FeatureSchema.load(PATHS.features / "schema.json")
    train = table[table[SPLIT] == "train"]
    model, cv = select_and_fit(train, train[LABEL].to_numpy(), schema, cfg, int(params["data"]["seed"]))
    save_part(model, PATHS.models / "base")
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "cv.json", {"selected": model.family, "cv": cv})
    for name, s in cv.items():
        print(f"{name:>24}: CV ROC AUC {s['roc_auc_mean']:.4f} ± {s['roc_auc_std']:.4f}")
    print(f"selected {model.family}, trained on {len(train)} customers")


if __name__ == "__main__":
    main()
