"""Stage `train_gnn`: GNN (GATv2 vs GraphSAGE) over the referral graph, GBM on demographics +
hand-made graph features, and their ensemble with the cluster prior: the `coldstart` part.

Reads params: train_gnn. Writes models/coldstart/ (bundle part, order 10, with its graph store in
graph/) and metrics/train_gnn.json. Under torchrun (WORLD_SIZE > 1) training runs as
DistributedDataParallel; rank 0 writes.
"""

from __future__ import annotations

import os

import joblib
import pandas as pd

from churnguard.coldstart.config import TrainGNNConfig
from churnguard.coldstart.part import save_part
from churnguard.coldstart.training import fit_coldstart
from churnguard.core.config import PATHS, load_section
from churnguard.core.metrics import write_metrics


def read_graph() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(referrals, former customers) of the data source, or None when it has no referral graph."""
    refs, former = PATHS.raw / "referrals.parquet", PATHS.raw / "former_customers.parquet"
    if not (refs.exists() and former.exists()):
        return None
    return pd.read_parquet(refs), pd.read_parquet(former)


def main() -> None:
    cfg = load_section("train_gnn", TrainGNNConfig)
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    cluster = joblib.load(PATHS.models / "cluster" / "cluster.joblib")
    part, metrics = fit_coldstart(table, read_graph(), cluster, cfg)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    save_part(part, PATHS.models / "coldstart")
    PATHS.metrics.mkdir(parents=True, exist_ok=True)
    write_metrics(PATHS.metrics / "train_gnn.json", metrics)
    for arch, info in metrics.get("gnn_candidates", {}).items():
        trained = (
            f", {info['epochs_run']} epochs ({info['steps']} steps) in {info['seconds']} s" if "steps" in info else ""
        )
        print(f"{arch:>10}: validation AUC (cold start, with edges) {info['validation_auc_with_edges']}{trained}")
    print(
        f"selected {metrics.get('gnn_selected', 'no GNN')}; validation AUC {metrics['validation_auc']}; "
        f"{metrics['seconds']} s"
    )


if __name__ == "__main__":
    main()
