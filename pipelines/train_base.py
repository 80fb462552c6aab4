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
    model, report = select_and_fit(train, train[LABEL].to_numpy(), schema, cfg, int(params["data"]["seed"]))
    save_part(model, PATHS.models / "base")
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "cv.json", {"family": model.family, **report})
    for name, s in report["cv"].items():
        print(f"{name:>32}: CV ROC AUC {s['roc_auc_mean']:.4f} ± {s['roc_auc_std']:.4f}")
    for point in report.get("learning_curve", []):
        print(f"learning curve: {point['rows']:>8} rows -> validation ROC AUC {point['validation_roc_auc']:.4f}")
    print(f"selected {report['selected']} ({model.family}), fitted on {report['fit_rows']} of {len(train)} customers")


if __name__ == "__main__":
    main()
