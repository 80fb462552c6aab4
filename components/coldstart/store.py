"""The referral graph known at T, kept next to the cold-start part instead of inside its pickle.

A :class:`GraphStore` is a folder of plain ``.npy`` arrays (``graph/`` beside ``coldstart.joblib``):
node ids (sorted, so an id is found by binary search without a dict of every customer), node
features, the former-customer flag, the undirected adjacency as CSR, and the referral neighbours
of the known cold-start customers at T. :meth:`GraphStore.open` memory-maps the arrays: a host
(serving, streaming) reads only the rows a request's neighbourhood touches, and loading a part
costs no copy of the graph. The part file itself holds only the fitted models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

STORE_DIR = "graph"
ARRAYS = ("ids", "x", "is_former", "indptr", "neighbours", "cold_ids", "cold_indptr", "cold_neighbours")


def csr(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, neighbours) of the directed edges ``src -> dst`` over ``n`` nodes."""
    order = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))]).astype(np.int64)
    return indptr, np.asarray(dst, dtype=np.int64)[order]


def gather(indptr: np.ndarray, neighbours: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (node, neighbour) pairs of ``nodes`` from a CSR adjacency, vectorised."""
    starts = np.asarray(indptr[nodes], dtype=np.int64)
    counts = np.asarray(indptr[nodes + 1], dtype=np.int64) - starts
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    rep = np.repeat(np.arange(len(nodes)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return nodes[rep], np.asarray(neighbours[starts[rep] + offsets], dtype=np.int64)


def _find(sorted_ids: np.ndarray, ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Position of each id in ``sorted_ids`` (-1 where absent)."""
    q = np.asarray(ids, dtype=str)
    if len(sorted_ids) == 0 or len(q) == 0:
        return np.full(len(q), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, q), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == q, pos, -1).astype(np.int64)


@dataclass
class GraphStore:
    """Known nodes (active established + former customers), sorted by id, and their referral edges."""

    ids: np.ndarray  # sorted ids of the known nodes
    x: np.ndarray  # float32 node features (n, d)
    is_former: np.ndarray  # float32 (n,): churned before T
    indptr: np.ndarray  # CSR of the undirected known graph (both directions)
    neighbours: np.ndarray
    cold_ids: np.ndarray  # sorted ids of the cold-start customers known at T
    cold_indptr: np.ndarray
    cold_neighbours: np.ndarray  # their referral neighbours' ids (known or cold)

    @classmethod
    def build(
        cls, ids: np.ndarray, x: np.ndarray, is_former: np.ndarray, referrals: pd.DataFrame, cold_ids: Sequence[str]
    ) -> GraphStore:
        """From node rows in any order and the referral table (referrer_id, referee_id)."""
        order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
        sorted_ids = np.asarray(ids, dtype=str)[order]
        a = _find(sorted_ids, referrals["referrer_id"].astype(str).to_numpy())
        b = _find(sorted_ids, referrals["referee_id"].astype(str).to_numpy())
        keep = (a >= 0) & (b >= 0)
        src, dst = np.concatenate([a[keep], b[keep]]), np.concatenate([b[keep], a[keep]])
        indptr, neighbours = csr(src, dst, len(sorted_ids))
        cold_sorted, cold_indptr, cold_nb = _cold_adjacency(referrals, cold_ids)
        return cls(
            sorted_ids,
            np.ascontiguousarray(x[order], dtype=np.float32),
            np.asarray(is_former, dtype=np.float32)[order],
            indptr,
            neighbours,
            cold_sorted,
            cold_indptr,
            cold_nb,
        )

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.x.shape[1])

    def lookup(self, ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Node index of each id (-1: not a known node)."""
        return _find(self.ids, ids)

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        return self.indptr, self.neighbours

    def rows(self, nodes: np.ndarray) -> torch.Tensor:
        """Feature rows of ``nodes`` (only these are read from a memory-mapped store)."""
        return torch.from_numpy(np.ascontiguousarray(self.x[np.asarray(nodes, dtype=np.int64)], dtype=np.float32))

    def edge_index(self) -> torch.Tensor:
        """The whole undirected edge list (2, 2E), both directions: for training and checks."""
        src = np.repeat(np.arange(self.n), np.diff(self.indptr))
        return torch.from_numpy(np.stack([src, np.asarray(self.neighbours, dtype=np.int64)]))

    def cold_referrals(self, ids: Sequence[str]) -> list[list[str]]:
        """The referral neighbours at T of each known cold-start customer ([] for anyone else)."""
        pos = _find(self.cold_ids, ids)
        return [
            [] if p < 0 else [str(v) for v in self.cold_neighbours[self.cold_indptr[p] : self.cold_indptr[p + 1]]]
            for p in pos.tolist()
        ]

    def save(self, part_dir: Path) -> None:
        folder = Path(part_dir) / STORE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", np.asarray(getattr(self, name)), allow_pickle=False)

    @classmethod
    def open(cls, part_dir: Path) -> GraphStore:
        """The store beside a part, memory-mapped (read-only)."""
        folder = Path(part_dir) / STORE_DIR
        return cls(*(np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS))


def _cold_adjacency(referrals: pd.DataFrame, cold_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted cold ids, indptr, neighbour ids): each known cold customer's referral neighbours."""
    a, b = referrals["referrer_id"].astype(str).to_numpy(), referrals["referee_id"].astype(str).to_numpy()
    node, other = np.concatenate([a, b]), np.concatenate([b, a])
    cold = np.unique(np.asarray(list(cold_ids), dtype=str))
    cold = cold[np.isin(cold, node)]  # only those with a referral edge
    pos = _find(cold, node)
    keep = pos >= 0
    indptr, nb_order = csr(pos[keep], np.arange(int(keep.sum())), len(cold))
    return cold, indptr, other[keep][nb_order].astype(str)
