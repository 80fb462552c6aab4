"""Stage `cluster`: demographic clusters (k by silhouette), per-cluster churn priors and profiles.

Reads params: cluster. Writes models/cluster/ (the fitted clustering, used by train_gnn and
copied into the `coldstart` bundle part) and metrics/cluster.json.
"""

from __future__ import annotations

import json

import joblib
import pandas as pd

from churnguard.coldstart.clusters import fit_clusters
from churnguard.coldstart.config import ClusterConfig
from churnguard.core.config import PATHS, load_section
from churnguard.core.metrics import write_metrics
from churnguard.core.vocabulary import LABEL, SPLIT


def main() -> None:
    cfg = load_section("cluster", ClusterConfig)
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    rows = table[(table[SPLIT] == "train") & ~table["is_cold_start"].astype(bool)]
    model = fit_clusters(rows, rows[LABEL].to_numpy(), cfg, cfg.seed)
    out = PATHS.models / "cluster"
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "cluster.joblib")
    metrics = {
        "k": model.k,
        "criterion": "silhouette",
        "silhouette_by_k": model.selection,
        "global_churn_rate": model.global_rate,
        "profiles": model.profiles,
        "features": model.categorical + model.numeric,
    }
    (out / "profiles.json").write_text(json.dumps(model.profiles, indent=2))
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "cluster.json", metrics)
    print(f"clusters: k={model.k} by silhouette ({', '.join(f'{k}: {v:.3f}' for k, v in model.selection.items())})")


if __name__ == "__main__":
    main()
