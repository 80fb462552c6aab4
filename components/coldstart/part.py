"""The bundle part ``coldstart`` (order 10) and its training.

Components, all fitted on the train split's *established* customers only:
  (a) cluster prior: the churn rate of the customer's demographic cluster;
  (b) GBM: gradient boosting on demographics + the hand-made referral features
      (degree, referrer churned, neighbours' churn share, was referred);
  (c) GNN: GATv2 or GraphSAGE (chosen on validation) over the referral graph, scored
      inductively; a customer without referral edges falls back to the cluster transfer
      model (a) and is flagged ``cluster_fallback``.
  (d) ensemble: a logistic regression on the components' logits, fitted on the validation
      cohort = the train split's cold-start customers (never seen by (a)-(c)); the GNN term
      (and an offset) only enters for customers with referral edges, see :class:`Ensemble`.
Every cold-start row gets a score (100% coverage).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnguard.coldstart.clusters import ClusterModel
from churnguard.coldstart.gnn import (
    KnownGraph,
    NodeEncoder,
    ReferralGNN,
    build_known_graph,
    inference,
    resolve_device,
    train_gnn,
    training_view,
)
from churnguard.core.bundle import score_frame, write_part_spec
from churnguard.core.columns import Columns, as_columns, numeric, take
from churnguard.core.numeric import logit, sigmoid
from churnguard.core.vocabulary import ID, LABEL, SPLIT
from churnguard.features.graph import GRAPH_FEATURES
from churnguard.models.fast_trees import FastHGB
from churnguard.models.gbm import gbm_params, gbm_pipeline

PART_FILE = "coldstart.joblib"
LOGIT_EPS = 1e-4  # the ensemble was fitted on logits of probabilities clipped here
MIN_VALIDATION = 30


@dataclass
class Ensemble:
    """Stacking on logits, one model for the whole cohort:

    logit(p) = intercept + w_prior·logit(prior) + w_gbm·logit(gbm)
               + has_edges · (edge_offset + w_gnn·logit(gnn) + w_gbm_edges·logit(gbm))

    so a customer without referral edges is scored from (a) and (b) only (the GNN term is 0),
    and where the GNN sees the neighbourhood, (b) gets its own weight: the GNN already carries
    the neighbours' churn that (b)'s hand-made features summarise, so (b) counts for less there.
    """

    coef: dict[str, float]
    intercept: float
    edge_offset: float

    def predict(self, comps: dict[str, np.ndarray], has_edges: np.ndarray) -> np.ndarray:
        gbm = logit(comps["gbm"], eps=LOGIT_EPS)
        z = (
            self.intercept
            + self.coef["cluster_prior"] * logit(comps["cluster_prior"], eps=LOGIT_EPS)
            + self.coef["gbm"] * gbm
        )
        if "gnn" in self.coef:
            gnn = np.where(has_edges, logit(comps["gnn"], eps=LOGIT_EPS), 0.0)
            z = z + has_edges * (self.edge_offset + self.coef.get("gbm_with_edges", 0.0) * gbm) + self.coef["gnn"] * gnn
        return sigmoid(z)


def fit_ensemble(
    comps: dict[str, np.ndarray], y: np.ndarray, has_edges: np.ndarray, use_gnn: bool, C: float
) -> Ensemble:
    """Weights from a logistic regression on the validation cohort (too little data: plain average)."""
    use_gnn = use_gnn and has_edges.sum() >= MIN_VALIDATION
    gbm = logit(comps["gbm"], eps=LOGIT_EPS)
    cols = [logit(comps["cluster_prior"], eps=LOGIT_EPS), gbm]
    if use_gnn:
        edges = has_edges.astype(float)
        cols += [edges, np.where(has_edges, logit(comps["gnn"], eps=LOGIT_EPS), 0.0), edges * gbm]
    if len(y) >= MIN_VALIDATION and len(np.unique(y)) == 2:
        lr = LogisticRegression(C=C, max_iter=1000).fit(np.column_stack(cols), y)
        w, b = lr.coef_[0].tolist(), float(lr.intercept_[0])
    else:
        w, b = [0.5, 0.5] + ([0.0, 0.0, 0.0] if use_gnn else []), 0.0
    coef = {"cluster_prior": w[0], "gbm": w[1], **({"gnn": w[3], "gbm_with_edges": w[4]} if use_gnn else {})}
    return Ensemble(coef, b, w[2] if use_gnn else 0.0)


@dataclass
class ColdStartPart:
    cluster: ClusterModel
    gbm: Pipeline
    gbm_numeric: list[str]
    encoder: NodeEncoder | None = None
    graph: KnownGraph | None = None
    gnn: ReferralGNN | None = None
    gnn_arch: str | None = None
    cold_edges: dict[str, list[str]] = field(default_factory=dict)  # known cold customers' neighbours at T
    former_ids: frozenset = frozenset()
    ensemble: Ensemble | None = None
    info: dict[str, Any] = field(default_factory=dict)

    # ---- edges and hand-made graph features for new customers ------------------------------
    def _neighbours(self, cols: Columns, n: int) -> list[list[str]]:
        ids = cols[ID].tolist() if ID in cols else [None] * n
        given = cols["referral_ids"].tolist() if "referral_ids" in cols else [None] * n
        out = []
        for cid, refs in zip(ids, given):
            if refs is not None and not (isinstance(refs, float) and np.isnan(refs)):
                out.append([str(r) for r in list(refs)])
            else:
                out.append(list(self.cold_edges.get(str(cid), [])))
        return out

    def _graph_features(self, cols: Columns, n: int, neighbours: list[list[str]]) -> Columns:
        """Hand-made features: from ``referral_ids`` where given, else the row's own columns."""
        refs = cols.get("referral_ids")
        given = (
            np.array([r is not None and not (isinstance(r, float) and r != r) for r in refs.tolist()], dtype=bool)
            if refs is not None
            else np.zeros(n, bool)
        )
        computed = np.array(
            [
                [
                    len(nb),
                    float(len(nb) > 0 and nb[0] in self.former_ids),
                    float(np.mean([x in self.former_ids for x in nb])) if nb else 0.0,
                    float(len(nb) > 0),
                ]
                for nb in neighbours
            ]
        ).reshape(n, 4)
        out: Columns = {}
        for j, col in enumerate(["referral_degree", "referrer_churned", "neighbour_churn_share", "was_referred"]):
            own = numeric(cols, col, n)
            out[col] = np.where(given | np.isnan(own), computed[:, j], own)
        return out

    def _gbm_proba(self, cols: Columns, graph_features: Columns, n: int) -> np.ndarray:
        """(b)'s probability: the same numbers as ``self.gbm.predict_proba`` on the rows, through
        :class:`FastHGB` (no per-call pandas and scikit-learn overhead)."""
        fast = self.__dict__.get("_fast_hgb")
        if fast is None:  # built on first use, never pickled (see __getstate__)
            fast = self.__dict__["_fast_hgb"] = FastHGB.from_pipeline(self.gbm)
        merged = {**cols, **graph_features}  # graph features win over the row's own columns
        return fast.predict_proba(fast.encode(merged, self.cluster.categorical, self.gbm_numeric, n))

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}  # no scoring caches

    # ---- components, ensemble, scoring ------------------------------------------------------
    def components(self, data: pd.DataFrame | Columns) -> pd.DataFrame:
        """Every component's probability for each (new) customer, plus source and has_edges."""
        cols, n = as_columns(data)
        if n == 0:
            return pd.DataFrame(
                {
                    "cluster": pd.Series(dtype=np.int64),
                    **{c: pd.Series(dtype=float) for c in ("cluster_prior", "gbm", "gnn", "ensemble")},
                    "has_edges": pd.Series(dtype=bool),
                    "source": pd.Series(dtype=object),
                }
            )
        return pd.DataFrame(self.component_columns(cols, n))

    def component_columns(self, cols: Columns, n: int) -> Columns:
        """:meth:`components` as :mod:`churnguard.core.columns` (n >= 1 rows)."""
        demo = self.cluster.encode(cols)
        clusters = self.cluster.nearest(demo)
        prior = self.cluster.priors[clusters]
        neighbours = self._neighbours(cols, n)
        gf = self._graph_features(cols, n, neighbours)
        gbm = self._gbm_proba(cols, gf, n)
        gnn_p = np.full(n, np.nan)
        has_edges = np.zeros(n, dtype=bool)
        if self.gnn is not None and self.graph is not None and self.encoder is not None:
            batch = {str(cid): j for j, cid in enumerate(cols[ID].tolist())} if ID in cols else {}
            pairs: set[tuple[int, int]] = set()  # one undirected edge per referral, however listed
            for i, nb in enumerate(neighbours):
                for cid in nb:
                    k = self.graph.index.get(cid)
                    if k is not None:
                        pairs.add((i, k))
                    elif cid in batch and batch[cid] != i:
                        j = batch[cid]
                        pairs.add((min(i, j), self.graph.n + max(i, j)))
            ordered = sorted(pairs)
            src_a = np.asarray([a for a, _ in ordered], dtype=np.int64)
            dst_a = np.asarray([b for _, b in ordered], dtype=np.int64)
            has_edges[src_a] = True
            has_edges[dst_a[dst_a >= self.graph.n] - self.graph.n] = True
            if has_edges.any():
                zeros = np.zeros(n, dtype=np.float32)
                x = self.encoder.encode(cols, zeros, zeros, clusters=clusters, demo=demo)
                # Only customers with edges enter the graph; positions re-mapped accordingly.
                sel = np.nonzero(has_edges)[0]
                pos = np.full(n, -1)
                pos[sel] = np.arange(len(sel))
                d = np.where(dst_a >= self.graph.n, self.graph.n + pos[np.clip(dst_a - self.graph.n, 0, None)], dst_a)
                with torch.inference_mode():
                    logits = inference(self.gnn, self.graph, x[sel], pos[src_a], d)
                gnn_p[sel] = sigmoid(logits)
        gnn_or_fallback = np.where(has_edges, gnn_p, prior)
        out = {
            "cluster": clusters,
            "cluster_prior": prior,
            "gbm": gbm,
            "gnn": gnn_or_fallback,
            "has_edges": has_edges,
            "source": np.where(has_edges, "gnn", "cluster_fallback").astype(object),
        }
        if self.ensemble is not None:
            out["ensemble"] = self.ensemble.predict({c: out[c] for c in ("cluster_prior", "gbm", "gnn")}, has_edges)
        return out

    def predict_new(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``coldstart_probability`` and ``coldstart_source`` for new customers (any number)."""
        c = self.components(frame)
        return pd.DataFrame(
            {
                "coldstart_probability": c["ensemble"].to_numpy(),
                "coldstart_source": c["source"].to_numpy(),
                "coldstart_cluster": c["cluster"].to_numpy(),
            },
            index=frame.index,
        )

    def score_columns(self, cols: Columns, n: int, scores: Columns) -> Columns:
        """Cold-start rows (``is_cold_start == 1``) get the ensemble, which also replaces their
        ``churn_probability``; other rows get NaN / None."""
        out = dict(scores)
        prob = np.full(n, np.nan)
        source = np.full(n, None, dtype=object)
        cold = np.nan_to_num(numeric(cols, "is_cold_start", n), nan=0.0) == 1
        if cold.any():
            res = self.component_columns(take(cols, cold), int(cold.sum()))
            prob[cold] = res["ensemble"]
            source[cold] = res["source"]
            churn = np.array(out.get("churn_probability", np.full(n, np.nan)), dtype=float)
            churn[cold] = prob[cold]
            out["churn_probability"] = churn
        out["coldstart_probability"] = prob
        out["coldstart_source"] = source
        return out

    def score(self, features: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
        return score_frame(self, features, scores)


# ---- training ------------------------------------------------------------------------------
def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if len(y) > 1 and len(np.unique(y)) == 2 else None


def fit_coldstart(
    table: pd.DataFrame, raw_dir: Path, cluster: ClusterModel, cfg: dict[str, Any]
) -> tuple[ColdStartPart, dict[str, Any]]:
    """Fit (b) and the GNN on train-split established customers, the ensemble on the train
    split's cold-start customers (validation). Never reads the holdout's labels."""
    t0 = time.perf_counter()
    seed = int(cfg["seed"])
    torch.set_num_threads(int(cfg["threads"]))
    cold = table["is_cold_start"].astype(bool).to_numpy()
    train = table[SPLIT].to_numpy() == "train"
    est_train = table[train & ~cold]
    metrics: dict[str, Any] = {
        "fit_rows_established": len(est_train),
        "validation_cold_start": int((train & cold).sum()),
    }

    graph_cols = [c for c in GRAPH_FEATURES if c in table.columns]
    gbm_numeric = cluster.numeric + graph_cols
    gbm = gbm_pipeline(cluster.categorical, gbm_numeric, gbm_params(cfg["gbm"], "train_gnn.gbm"), seed)
    Xg = est_train.reindex(columns=cluster.categorical + gbm_numeric).copy()
    for c in cluster.categorical:
        Xg[c] = Xg[c].astype(object).where(Xg[c].notna(), "missing")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(int(cfg["threads"])):
        gbm.fit(Xg, est_train[LABEL].to_numpy())
    part = ColdStartPart(cluster, gbm, gbm_numeric)
    metrics["gbm_seconds"] = round(time.perf_counter() - t0, 2)

    refs_path, former_path = raw_dir / "referrals.parquet", raw_dir / "former_customers.parquet"
    if refs_path.exists() and former_path.exists():
        referrals = pd.read_parquet(refs_path)
        former = pd.read_parquet(former_path)
        established = table[~cold].reset_index(drop=True)
        encoder = NodeEncoder.fit(cluster, established)
        graph = build_known_graph(encoder, established, former, referrals)
        cold_ids = set(table.loc[cold, ID].astype(str))
        pairs = pd.concat(
            [
                referrals[["referrer_id", "referee_id"]].set_axis(["a", "b"], axis=1),
                referrals[["referee_id", "referrer_id"]].set_axis(["a", "b"], axis=1),
            ],
            ignore_index=True,
        )
        pairs = pairs[pairs["a"].astype(str).isin(cold_ids)]
        part.cold_edges = pairs.groupby("a")["b"].agg(lambda s: [str(v) for v in s]).to_dict()
        part.former_ids = frozenset(former[ID].astype(str))
        part.encoder, part.graph = encoder, graph
        x_train, ei_train, kept = training_view(graph)
        kept_active = kept[kept < len(established)]  # former nodes are never targets
        on_train = established[SPLIT].to_numpy()[kept_active] == "train"
        train_idx = np.nonzero(on_train)[0]  # positions in the training view (active nodes come first)
        y_nodes = established[LABEL].to_numpy()[kept_active[on_train]].astype(np.float32)
        device = resolve_device(str(cfg["device"]))
        metrics["graph"] = {
            "nodes": graph.n,
            "training_nodes_with_edges": len(kept),
            "training_targets": len(train_idx),
            "undirected_edges": int(graph.edge_index.shape[1] // 2),
            "former_nodes": len(former),
            "feature_dim": int(graph.x.shape[1]),
        }
        val_frame = table[cold]
        val_rows = val_frame[SPLIT].to_numpy() == "train"
        y_val = val_frame[LABEL].to_numpy()[val_rows]
        candidates: dict[str, Any] = {}
        for arch in cfg["architectures"]:
            model, info = train_gnn(
                arch, x_train, ei_train, encoder, train_idx, y_nodes, cfg[arch] | cfg["training"], device, seed
            )
            part.gnn, part.gnn_arch = model, arch
            comps = part.components(val_frame)  # all cold customers as one batch of new nodes
            e = comps["has_edges"].to_numpy()[val_rows]
            info["validation_auc_with_edges"] = _auc(y_val[e], comps["gnn"].to_numpy()[val_rows][e])
            info["validation_auc_cohort"] = _auc(y_val, comps["gnn"].to_numpy()[val_rows])
            info.pop("history", None)
            candidates[arch] = (model, info, comps)
            metrics.setdefault("gnn_candidates", {})[arch] = info
        best = max(candidates, key=lambda a: candidates[a][1]["validation_auc_with_edges"] or 0.0)
        part.gnn, part.gnn_arch = candidates[best][0], best
        comps = candidates[best][2]
        metrics["gnn_selected"] = best
    else:
        metrics["gnn_skipped"] = "no referral graph in this data source: cluster prior + GBM only"
        val_frame = table[cold]
        val_rows = val_frame[SPLIT].to_numpy() == "train"
        y_val = val_frame[LABEL].to_numpy()[val_rows]
        comps = part.components(val_frame)
    vc = {c: comps[c].to_numpy()[val_rows] for c in ("cluster_prior", "gbm", "gnn")}
    has_e = comps["has_edges"].to_numpy()[val_rows]
    part.ensemble = fit_ensemble(vc, y_val, has_e, part.gnn is not None, float(cfg["ensemble_C"]))
    metrics["ensemble"] = {
        "coef": part.ensemble.coef,
        "intercept": part.ensemble.intercept,
        "edge_offset": part.ensemble.edge_offset,
        "validation_with_edges": int(has_e.sum()),
        "validation_no_edges": int((~has_e).sum()),
    }
    metrics["validation_auc"] = {c: _auc(y_val, v) for c, v in vc.items()}
    ens_val = part.components(val_frame)["ensemble"].to_numpy()[val_rows]
    metrics["validation_auc"]["ensemble (in-sample weights)"] = _auc(y_val, ens_val)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    part.info = {k: metrics[k] for k in ("gnn_selected", "graph") if k in metrics}
    return part, metrics


def save_part(part: ColdStartPart, part_dir: Path) -> None:
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(part, part_dir / PART_FILE)
    write_part_spec(
        part_dir,
        "coldstart",
        10,
        "churnguard.coldstart.part:load_part",
        gnn=part.gnn_arch,
        clusters=part.cluster.k,
        replaces="churn_probability where is_cold_start == 1",
        adds=["coldstart_probability", "coldstart_source"],
    )


def load_part(part_dir: Path) -> ColdStartPart:
    part = joblib.load(Path(part_dir) / PART_FILE)
    if part.gnn is not None:
        part.gnn.eval()
    return part  # thread counts are the host's choice (serving and streaming set them), not a loader's
