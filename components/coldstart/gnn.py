"""A graph neural network over the referral graph, trained on established customers, used
inductively for new ones.

Nodes are every customer known at the observation date T: active established customers and
former customers (who churned before T: their past churn is known, so it is a node feature,
``is_former``). Node features: demographics (the cluster encoder's one-hot + scaled numerics),
the demographic cluster (one-hot and prior logit), tenure (known from the sign-up date, even for
a brand-new customer) and, for established customers, behaviour before T (tickets, usage,
click-stream aggregates). Labels of active customers are
future outcomes (T, T + window]: they are only ever targets, never features.

Time-split-honest training: cold-start customers (signed up within the cold-start window)
are *not* in the training graph at all. They arrive later through :func:`inference`, as new
nodes with their referral edges, exactly as a customer who signs up tomorrow would. To make a
model trained on established customers useful for nodes without behaviour, every epoch a
random share of training targets has its own behaviour hidden (``has_behaviour = 0``) and the
loss is taken on those targets only: the network learns to predict from demographics plus the
neighbourhood, which is what a new customer has.

Training (:mod:`churnguard.coldstart.gnn_training`) runs on mini-batches of neighbour-sampled
subgraphs; the known graph lives in a :class:`churnguard.coldstart.store.GraphStore` beside the part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, SAGEConv

from churnguard.coldstart.clusters import ClusterModel
from churnguard.coldstart.store import GraphStore, gather
from churnguard.core.columns import Columns, as_columns, numeric
from churnguard.features.clickstream import CLICKSTREAM_FEATURES

LOG1P = ["tenure_months", "usage_hours_30d"]  # log1p before scaling
# Known for every customer, a brand-new one included (its sign-up date): never hidden, so the
# model can tell a two-week-old customer from a masked ten-year one.
SIGNUP = ["tenure_months"]
# History before T: hidden for cold-start customers and for the masked training targets.
BEHAVIOUR = ["support_tickets_90d", "usage_hours_30d", *CLICKSTREAM_FEATURES]


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (cuda when available); under torchrun, cuda:LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("train_gnn.device is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if name != "cpu":
        raise ValueError(f"train_gnn.device must be cpu, cuda or auto, got {name!r}")
    return torch.device("cpu")


@dataclass
class NodeEncoder:
    """Turns customer rows (active, former or new) into node feature vectors."""

    cluster: ClusterModel
    behaviour: list[str]
    mean: np.ndarray  # over signup + behaviour columns, in that order
    std: np.ndarray
    signup: list[str] = field(default_factory=list)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Encoders pickled before `signup` existed kept tenure inside `behaviour`.
        self.__dict__.update({"signup": []} | state)

    @classmethod
    def fit(cls, cluster: ClusterModel, established: pd.DataFrame) -> NodeEncoder:
        signup = [c for c in SIGNUP if c in established.columns]
        behaviour = [c for c in BEHAVIOUR if c in established.columns]
        raw = cls._raw_columns(established, signup + behaviour)
        mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
        mean, std = np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0)
        return cls(cluster, behaviour, mean.astype(np.float32), std.astype(np.float32), signup)

    @staticmethod
    def _raw_columns(frame: pd.DataFrame | Columns, names: list[str]) -> np.ndarray:
        data, n = as_columns(frame)
        out = []
        for c in names:
            v = numeric(data, c, n)
            out.append(np.log1p(np.clip(v, 0, None)) if c in LOG1P else v)
        return np.stack(out, axis=1) if out else np.zeros((n, 0))

    @property
    def dim(self) -> int:
        return (
            len(self.cluster.encoder.get_feature_names_out())
            + 2 * self.cluster.k
            + len(self.signup)
            + len(self.behaviour)
            + 2
        )

    def behaviour_slice(self) -> slice:
        """Columns hidden for a customer without history (behaviour + has_behaviour flag)."""
        start = self.dim - len(self.behaviour) - 2
        return slice(start, self.dim - 1)

    def encode(
        self,
        frame: pd.DataFrame | Columns,
        has_behaviour: np.ndarray,
        is_former: np.ndarray,
        clusters: np.ndarray | None = None,
        demo: np.ndarray | None = None,
    ) -> np.ndarray:
        """Feature matrix: [demographics | cluster one-hot | cluster prior logit (k, one set) |
        sign-up (tenure) | behaviour (0 where absent) | has_behaviour | is_former]."""
        demo = self.cluster.encode(frame) if demo is None else demo
        clusters = self.cluster.nearest(demo) if clusters is None else clusters
        onehot = self.cluster.one_hot(clusters)
        prior = onehot * self.cluster.prior_logit(clusters)[:, None].astype(np.float32)
        scaled = np.nan_to_num((self._raw_columns(frame, self.signup + self.behaviour) - self.mean) / self.std)
        known, beh = scaled[:, : len(self.signup)], scaled[:, len(self.signup) :] * has_behaviour[:, None]
        return np.concatenate(
            [demo, onehot, prior, known, beh, has_behaviour[:, None], is_former[:, None]], axis=1
        ).astype(np.float32)


class ReferralGNN(nn.Module):
    """Input projection, ``layers`` residual message-passing layers, a small MLP head (logit)."""

    def __init__(self, arch: str, in_dim: int, hidden: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.arch, self.layers = arch, layers
        self.inp = nn.Linear(in_dim, hidden)
        convs = []
        for _ in range(layers):
            if arch == "gatv2":
                convs.append(GATv2Conv(hidden, hidden // heads, heads=heads, concat=True, add_self_loops=True))
            elif arch == "sage":
                convs.append(SAGEConv(hidden, hidden, aggr="mean"))
            else:
                raise ValueError(f"unknown GNN architecture {arch!r} (train_gnn.architectures: gatv2, sage)")
        self.convs = nn.ModuleList(convs)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for conv in self.convs:
            h = h + torch.relu(conv(self.drop(h), edge_index))
        return self.head(self.drop(h)).squeeze(-1)


class AveragedGNN(nn.Module):
    """The mean logit of several trained GNNs (e.g. GATv2 and GraphSAGE): one model to :func:`inference`."""

    def __init__(self, models: list[ReferralGNN]):
        super().__init__()
        self.models = nn.ModuleList(models)
        self.arch = "+".join(m.arch for m in models)
        self.layers = max(m.layers for m in models)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x, edge_index) for m in self.models]).mean(0)


@torch.no_grad()
def inference(
    model: ReferralGNN | AveragedGNN, graph: GraphStore, new_x: np.ndarray, new_src: np.ndarray, new_dst: np.ndarray
) -> np.ndarray:
    """Churn logits of M new customers without retraining.

    ``new_x``: their node features (M × d). Edges ``new_src[i] -- new_dst[i]``: ``new_src`` is a
    new customer's position (0..M-1); ``new_dst`` is a node index where 0..N-1 are known nodes and
    N + j is new customer j (edges among new customers). Only the ``layers``-hop neighbourhood of
    the new nodes in the augmented graph is evaluated, which gives exactly the full-graph forward
    pass over known + new nodes for these nodes.
    """
    n, m = graph.n, len(new_x)
    if m == 0:
        return np.zeros(0, dtype=np.float32)
    indptr, neighbours = graph.csr()
    a = np.asarray(new_src, dtype=np.int64) + n
    b = np.asarray(new_dst, dtype=np.int64)
    e_src, e_dst = np.concatenate([a, b]), np.concatenate([b, a])  # new edges, both directions
    in_sub = np.zeros(n + m, dtype=bool)
    in_sub[n:] = True
    frontier = np.arange(n, n + m)
    for _ in range(model.layers):  # k-hop neighbourhood
        in_frontier = np.zeros(n + m, dtype=bool)
        in_frontier[frontier] = True
        _, nb = gather(indptr, neighbours, frontier[frontier < n])
        cand = np.unique(np.concatenate([nb, e_src[in_frontier[e_dst]]]))
        frontier = cand[~in_sub[cand]]
        in_sub[frontier] = True
    subset = np.nonzero(in_sub)[0]  # known nodes first, then new
    known = subset[subset < n]
    u, v = gather(indptr, neighbours, known)
    keep = in_sub[v]
    pos = np.full(n + m, -1, dtype=np.int64)
    pos[subset] = np.arange(len(subset))
    ei = torch.from_numpy(np.stack([pos[np.concatenate([u[keep], e_src])], pos[np.concatenate([v[keep], e_dst])]]))
    x = torch.cat([graph.rows(known), torch.as_tensor(new_x, dtype=torch.float32)])
    return model(x, ei)[torch.from_numpy(pos[n:])].numpy()
