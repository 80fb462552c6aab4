"""Stage `train_gnn`: GNN (GATv2 vs GraphSAGE) over the referral graph, GBM on demographics +
hand-made graph features, and their ensemble with the cluster prior: the `coldstart` part.

Reads params: train_gnn. Writes models/coldstart/ (bundle part, order 10) and metrics/train_gnn.json.
Under torchrun (WORLD_SIZE > 1) training runs as DistributedDataParallel; rank 0 writes.
"""

from __future__ import annotations

import os

import joblib
import pandas as pd

from churnguard.coldstart.part import fit_coldstart, save_part
from churnguard.core.config import PATHS, section
from churnguard.core.metrics import write_metrics


def main() -> None:
    cfg = section("train_gnn")
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    cluster = joblib.load(PATHS.models / "cluster" / "cluster.joblib")
    part, metrics = fit_coldstart(table, PATHS.raw, cluster, cfg)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    save_part(part, PATHS.models / "coldstart")
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "train_gnn.json", metrics)
    for arch, info in metrics.get("gnn_candidates", {}).items():
        print(
            f"{arch:>6}: validation AUC (cold start, with edges) {info['validation_auc_with_edges']}, "
            f"{info['epochs_run']} epochs in {info['seconds']} s"
        )
    print(
        f"selected {metrics.get('gnn_selected', 'no GNN')}; validation AUC {metrics['validation_auc']}; "
        f"{metrics['seconds']} s"
    )


if __name__ == "__main__":
    main()
