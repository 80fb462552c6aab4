"""The bundle part ``coldstart`` (order 10): scoring of new customers.

Components (fitted by :func:`churnguard.coldstart.training.fit_coldstart`):
  (a) cluster prior: the churn rate of the customer's demographic cluster;
  (b) GBM: gradient boosting on demographics + the hand-made referral features
      (degree, referrer churned, neighbours' churn share, was referred);
  (c) GNN: GATv2 or GraphSAGE (chosen on validation) over the referral graph, scored
      inductively; a customer without referral edges falls back to the cluster transfer
      model (a) and is flagged ``cluster_fallback``;
  (d) ensemble: a logistic regression on the components' logits (:mod:`churnguard.coldstart.ensemble`).
Every cold-start row gets a score (100% coverage). The known referral graph is not in the part's
file: it is a :class:`churnguard.coldstart.store.GraphStore` in ``graph/`` beside it, memory-mapped
by :func:`load_part`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline

from churnguard.coldstart.clusters import ClusterModel
from churnguard.coldstart.ensemble import Ensemble
from churnguard.coldstart.gnn import AveragedGNN, NodeEncoder, ReferralGNN, inference
from churnguard.coldstart.store import GraphStore
from churnguard.core.bundle import score_frame, write_part_spec
from churnguard.core.columns import Columns, as_columns, numeric, take
from churnguard.core.numeric import sigmoid
from churnguard.core.vocabulary import ID
from churnguard.features.graph import GRAPH_FEATURES
from churnguard.models.fast_trees import FastHGB

PART_FILE = "coldstart.joblib"


def _given(refs: Any) -> bool:
    """Whether a row's ``referral_ids`` value was given (a list, possibly empty) rather than missing."""
    return refs is not None and not (isinstance(refs, float) and refs != refs)


@dataclass
class ColdStartPart:
    cluster: ClusterModel
    gbm: Pipeline
    gbm_numeric: list[str]
    encoder: NodeEncoder | None = None
    gnn: ReferralGNN | AveragedGNN | None = None
    gnn_arch: str | None = None
    ensemble: Ensemble | None = None
    info: dict[str, Any] = field(default_factory=dict)

    # ---- the graph store beside the part (never pickled) ------------------------------------
    @property
    def store(self) -> GraphStore | None:
        return self.__dict__.get("_store")

    def attach(self, store: GraphStore | None) -> ColdStartPart:
        self.__dict__["_store"] = store
        return self

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}  # no store, no scoring caches

    # ---- edges and hand-made graph features for new customers ------------------------------
    def _neighbours(self, cols: Columns, n: int) -> list[list[str]]:
        """Referral neighbours of each row: its ``referral_ids`` where given, else the store's edges
        of a known cold-start customer (none for anyone else)."""
        ids = [str(c) for c in cols[ID].tolist()] if ID in cols else [""] * n
        given = cols["referral_ids"].tolist() if "referral_ids" in cols else [None] * n
        stored = self.store.cold_referrals(ids) if self.store is not None else [[] for _ in ids]
        return [[str(r) for r in list(refs)] if _given(refs) else known for refs, known in zip(given, stored)]

    def _graph_features(self, cols: Columns, n: int, neighbours: list[list[str]]) -> Columns:
        """Hand-made features: from ``referral_ids`` where given, else the row's own columns."""
        refs = cols.get("referral_ids")
        given = np.array([_given(r) for r in refs.tolist()], dtype=bool) if refs is not None else np.zeros(n, bool)
        flat = [v for nb in neighbours for v in nb]
        former = np.zeros(len(flat), dtype=bool)
        if self.store is not None and flat:
            idx = self.store.lookup(flat)
            former[idx >= 0] = np.asarray(self.store.is_former)[idx[idx >= 0]] == 1
        degree = np.array([len(nb) for nb in neighbours], dtype=np.int64)
        row_of = np.repeat(np.arange(n), degree)
        starts = np.cumsum(degree) - degree
        first = np.zeros(n, dtype=bool)
        first[degree > 0] = former[starts[degree > 0]]
        churned = np.bincount(row_of, weights=former.astype(float), minlength=n)
        share = np.divide(churned, degree, out=np.zeros(n), where=degree > 0)
        computed = {
            "referral_degree": degree.astype(float),
            "referrer_churned": first.astype(float),
            "neighbour_churn_share": share,
            "was_referred": (degree > 0).astype(float),
        }
        out: Columns = {}
        for col in GRAPH_FEATURES:
            own = numeric(cols, col, n)
            out[col] = np.where(given | np.isnan(own), computed[col], own)
        return out

    def _gbm_proba(self, cols: Columns, graph_features: Columns, n: int) -> np.ndarray:
        """(b)'s probability: the same numbers as ``self.gbm.predict_proba`` on the rows, through
        :class:`FastHGB` (no per-call pandas and scikit-learn overhead)."""
        fast = self.__dict__.get("_fast_hgb")
        if fast is None:  # built on first use, never pickled (see __getstate__)
            fast = self.__dict__["_fast_hgb"] = FastHGB.from_pipeline(self.gbm)
        merged = {**cols, **graph_features}  # graph features win over the row's own columns
        return fast.predict_proba(fast.encode(merged, self.cluster.categorical, self.gbm_numeric, n))

    # ---- the GNN on new nodes -------------------------------------------------------------
    def _new_edges(
        self, cols: Columns, neighbours: list[list[str]], store: GraphStore
    ) -> tuple[np.ndarray, np.ndarray]:
        """(new position, node) pairs, one per undirected referral however listed: node < N is a known
        node, N + j the batch's row j (an edge between two new customers)."""
        batch = {str(cid): j for j, cid in enumerate(cols[ID].tolist())} if ID in cols else {}
        flat = [v for nb in neighbours for v in nb]
        known = store.lookup(flat) if flat else np.empty(0, np.int64)
        pairs: set[tuple[int, int]] = set()
        k = 0
        for i, nb in enumerate(neighbours):
            for cid in nb:
                if known[k] >= 0:
                    pairs.add((i, int(known[k])))
                elif cid in batch and batch[cid] != i:
                    j = batch[cid]
                    pairs.add((min(i, j), store.n + max(i, j)))
                k += 1
        ordered = sorted(pairs)
        return np.asarray([a for a, _ in ordered], dtype=np.int64), np.asarray([b for _, b in ordered], dtype=np.int64)

    def _gnn_scores(
        self, cols: Columns, n: int, neighbours: list[list[str]], clusters: np.ndarray, demo: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(GNN probability, has_edges) of each row: only rows with an edge to a known node or to another
        row of the batch enter the graph (the others: NaN, no edges)."""
        gnn_p, has_edges = np.full(n, np.nan), np.zeros(n, dtype=bool)
        store = self.store
        if self.gnn is None or store is None or self.encoder is None:
            return gnn_p, has_edges
        src, dst = self._new_edges(cols, neighbours, store)
        has_edges[src] = True
        has_edges[dst[dst >= store.n] - store.n] = True
        if has_edges.any():
            zeros = np.zeros(n, dtype=np.float32)
            x = self.encoder.encode(cols, zeros, zeros, clusters=clusters, demo=demo)
            sel = np.nonzero(has_edges)[0]  # positions re-mapped to the rows that enter the graph
            pos = np.full(n, -1)
            pos[sel] = np.arange(len(sel))
            d = np.where(dst >= store.n, store.n + pos[np.clip(dst - store.n, 0, None)], dst)
            with torch.inference_mode():
                gnn_p[sel] = sigmoid(inference(self.gnn, store, x[sel], pos[src], d))
        return gnn_p, has_edges

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
        gbm = self._gbm_proba(cols, self._graph_features(cols, n, neighbours), n)
        gnn_p, has_edges = self._gnn_scores(cols, n, neighbours, clusters, demo)
        out = {
            "cluster": clusters,
            "cluster_prior": prior,
            "gbm": gbm,
            "gnn": np.where(has_edges, gnn_p, prior),
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


def save_part(part: ColdStartPart, part_dir: Path) -> None:
    """The part's models in ``coldstart.joblib``, its graph store in ``graph/`` beside them."""
    part_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(part, part_dir / PART_FILE)
    if part.store is not None:
        part.store.save(part_dir)
    write_part_spec(
        part_dir,
        "coldstart",
        10,
        "churnguard.coldstart.part:load_part",
        gnn=part.gnn_arch,
        clusters=part.cluster.k,
        graph_store="graph/" if part.store is not None else None,
        replaces="churn_probability where is_cold_start == 1",
        adds=["coldstart_probability", "coldstart_source"],
    )


def load_part(part_dir: Path) -> ColdStartPart:
    """The part with its graph store memory-mapped (thread counts are the host's choice, not a loader's)."""
    part = joblib.load(Path(part_dir) / PART_FILE)
    if part.gnn is not None:
        part.gnn.eval()
    has_store = (Path(part_dir) / "graph").is_dir()
    return part.attach(GraphStore.open(Path(part_dir)) if has_store else None)
