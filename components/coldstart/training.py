"""Training of the ``coldstart`` part: (b) and the GNN on the train split's established customers,
the ensemble on the validation cohort (the train split's cold-start customers, never seen by (a)-(c)).

Pure: takes the feature table, the referral and former-customer tables (None for a source without
a referral graph), the fitted clustering and the typed ``train_gnn`` config; returns the part and
its metrics. Never reads the holdout's labels.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnguard.coldstart.clusters import ClusterModel
from churnguard.coldstart.config import TrainGNNConfig
from churnguard.coldstart.ensemble import fit_ensemble
from churnguard.coldstart.gnn import AveragedGNN, NodeEncoder, ReferralGNN, resolve_device
from churnguard.coldstart.gnn_training import train_gnn, training_view
from churnguard.coldstart.part import ColdStartPart
from churnguard.coldstart.store import GraphStore
from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.features.graph import GRAPH_FEATURES
from churnguard.models.config import typed
from churnguard.models.gbm import gbm_pipeline
from churnguard.models.sampling import stratified_sample

COMPONENTS = ("cluster_prior", "gbm", "gnn")


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if len(y) > 1 and len(np.unique(y)) == 2 else None


class _Validation:
    """The cold-start cohort scored as one batch of new nodes; the train split's rows are validation."""

    def __init__(self, table: pd.DataFrame, cold: np.ndarray):
        self.frame = table[cold]
        self.rows = self.frame[SPLIT].to_numpy() == "train"
        self.y = self.frame[LABEL].to_numpy()[self.rows]

    def components(self, part: ColdStartPart) -> dict[str, np.ndarray]:
        comps = part.components(self.frame)
        return {c: comps[c].to_numpy()[self.rows] for c in (*COMPONENTS, "has_edges")}


def _gbm_inputs(rows: pd.DataFrame, cluster: ClusterModel, numeric: list[str]) -> pd.DataFrame:
    X = rows.reindex(columns=cluster.categorical + numeric).copy()
    for c in cluster.categorical:
        X[c] = X[c].astype(object).where(X[c].notna(), "missing")
    return X


def fit_gbm(
    rows: pd.DataFrame, val: _Validation, cluster: ClusterModel, cfg: TrainGNNConfig
) -> tuple[Pipeline, list[str], dict[str, Any]]:
    """(b): gradient boosting on demographics + the hand-made graph features, fitted on at most
    ``gbm_fit_rows`` established customers (stratified by label), one fit per setting of
    ``gbm`` / ``gbm_grid``; the best ROC AUC on the validation cohort is kept.
    Returns (pipeline, numeric inputs, report)."""
    from threadpoolctl import threadpool_limits

    numeric = cluster.numeric + [c for c in GRAPH_FEATURES if c in rows.columns]
    y = rows[LABEL].to_numpy()
    fit = stratified_sample(y, cfg.gbm_fit_rows, np.random.default_rng(cfg.seed))
    X, X_val = _gbm_inputs(rows.iloc[fit], cluster, numeric), _gbm_inputs(val.frame[val.rows], cluster, numeric)
    fitted: dict[str, tuple[Pipeline, float | None]] = {}
    with threadpool_limits(cfg.threads):
        for name, params in cfg.gbm_settings().items():
            gbm = gbm_pipeline(cluster.categorical, numeric, params, cfg.seed).fit(X, y[fit])
            fitted[name] = (gbm, _auc(val.y, gbm.predict_proba(X_val)[:, 1]) if len(X_val) else None)
    best = max(fitted, key=lambda k: fitted[k][1] or 0.0)
    report = {"selected": best, "fit_rows": len(fit), "validation_auc": {k: v[1] for k, v in fitted.items()}}
    return fitted[best][0], numeric, report


def build_store(
    encoder: NodeEncoder, established: pd.DataFrame, former: pd.DataFrame, referrals: pd.DataFrame, cold_ids: Any
) -> GraphStore:
    """Nodes = established active customers (with behaviour) + former customers; edges among them."""
    frame = pd.concat([established, former], ignore_index=True)
    is_former = np.concatenate([np.zeros(len(established)), np.ones(len(former))]).astype(np.float32)
    x = encoder.encode(frame, np.ones(len(frame), dtype=np.float32), is_former)
    return GraphStore.build(frame[ID].astype(str).to_numpy(), x, is_former, referrals, cold_ids)


def _targets(store: GraphStore, established: pd.DataFrame, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the training view, labels) of the train split's active customers with edges
    (former nodes are never targets)."""
    on_train = established[SPLIT].to_numpy() == "train"
    label = np.full(store.n, np.nan, dtype=np.float32)
    label[store.lookup(established.loc[on_train, ID].astype(str).to_numpy())] = established.loc[on_train, LABEL]
    in_view = label[kept]
    pos = np.nonzero(~np.isnan(in_view))[0]
    return pos, in_view[pos]


def _validate_gnn(part: ColdStartPart, model: ReferralGNN | AveragedGNN, val: _Validation) -> dict[str, Any]:
    """The GNN's ROC AUC on the validation cohort (with edges, and all of it with the fallback)."""
    part.gnn, part.gnn_arch = model, model.arch
    vc = val.components(part)
    e = vc["has_edges"]
    return {"validation_auc_with_edges": _auc(val.y[e], vc["gnn"][e]), "validation_auc_cohort": _auc(val.y, vc["gnn"])}


def _fit_graph_model(
    part: ColdStartPart,
    table: pd.DataFrame,
    cold: np.ndarray,
    graph: tuple[pd.DataFrame, pd.DataFrame],
    val: _Validation,
    cfg: TrainGNNConfig,
) -> dict[str, Any]:
    """Fit the node encoder, build the store, train every architecture, keep the best on validation
    (AUC on the cold-start customers with edges). Returns the graph metrics."""
    referrals, former = graph
    established = table[~cold].reset_index(drop=True)
    part.encoder = NodeEncoder.fit(part.cluster, established)
    store = build_store(part.encoder, established, former, referrals, table.loc[cold, ID].astype(str))
    part.attach(store)
    x, edge_index, kept = training_view(store)
    targets = _targets(store, established, kept)
    device = resolve_device(cfg.device)
    candidates: dict[str, Any] = {}
    for arch in cfg.architectures:
        model, info = train_gnn(
            arch, cfg.heads(arch), (x, edge_index), part.encoder, targets, cfg.training, device, cfg.seed
        )
        candidates[arch] = (model, info | _validate_gnn(part, model, val))
    if len(candidates) > 1:  # the mean of the architectures' logits competes too
        mean = AveragedGNN([m for m, _ in candidates.values()])
        candidates[mean.arch] = (mean, _validate_gnn(part, mean, val))
    best = max(candidates, key=lambda a: candidates[a][1]["validation_auc_with_edges"] or 0.0)
    part.gnn, part.gnn_arch = candidates[best][0], best
    return {
        "graph": {
            "nodes": store.n,
            "training_nodes_with_edges": len(kept),
            "training_targets": len(targets[0]),
            "undirected_edges": int(len(store.neighbours) // 2),
            "former_nodes": len(former),
            "feature_dim": store.dim,
        },
        "gnn_candidates": {a: info for a, (_, info) in candidates.items()},
        "gnn_selected": best,
    }


def _fit_stacking(part: ColdStartPart, val: _Validation, cfg: TrainGNNConfig) -> dict[str, Any]:
    """The ensemble's weights on the validation cohort; its metrics."""
    vc = val.components(part)
    has_e = vc["has_edges"]
    part.ensemble = fit_ensemble(vc, val.y, has_e, part.gnn is not None, cfg.ensemble_C)
    auc = {c: _auc(val.y, vc[c]) for c in COMPONENTS}
    ens = part.ensemble.predict({c: vc[c] for c in COMPONENTS}, has_e)
    auc["ensemble (in-sample weights)"] = _auc(val.y, ens)
    return {
        "ensemble": {
            "coef": part.ensemble.coef,
            "intercept": part.ensemble.intercept,
            "edge_offset": part.ensemble.edge_offset,
            "validation_with_edges": int(has_e.sum()),
            "validation_no_edges": int((~has_e).sum()),
        },
        "validation_auc": auc,
    }


def fit_coldstart(
    table: pd.DataFrame,
    graph: tuple[pd.DataFrame, pd.DataFrame] | None,
    cluster: ClusterModel,
    cfg: TrainGNNConfig | Any,
) -> tuple[ColdStartPart, dict[str, Any]]:
    """The ``coldstart`` part and its metrics. ``graph`` = (referrals, former customers) or None."""
    c = typed(TrainGNNConfig, cfg, "train_gnn")
    t0 = time.perf_counter()
    torch.set_num_threads(c.threads)
    cold = table["is_cold_start"].astype(bool).to_numpy()
    est_train = table[(table[SPLIT].to_numpy() == "train") & ~cold]
    val = _Validation(table, cold)
    metrics: dict[str, Any] = {"fit_rows_established": len(est_train), "validation_cold_start": int(val.rows.sum())}
    gbm, gbm_numeric, metrics["gbm"] = fit_gbm(est_train, val, cluster, c)
    part = ColdStartPart(cluster, gbm, gbm_numeric)
    metrics["gbm_seconds"] = round(time.perf_counter() - t0, 2)
    if graph is not None:
        metrics |= _fit_graph_model(part, table, cold, graph, val, c)
    else:
        metrics["gnn_skipped"] = "no referral graph in this data source: cluster prior + GBM only"
    metrics |= _fit_stacking(part, val, c)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    part.info = {k: metrics[k] for k in ("gnn_selected", "graph") if k in metrics}
    return part, metrics
