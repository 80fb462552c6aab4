"""Mini-batch training of the referral GNN on neighbour-sampled subgraphs (PyG ``NeighborLoader``).

Each step takes ``batch_size`` training targets, samples at most ``fanout`` neighbours per node
and hop (``layers`` hops), hides the own behaviour of a random ``mask_share`` of the targets (a
customer without history, as a new one is) and takes the loss on those. An epoch covers at most
``targets_per_epoch`` targets, drawn afresh each epoch, so the cost of an epoch does not grow
with the customer count. Early stopping on a masked ``early_stopping_share`` of the targets.

PyG's own sampler needs the ``pyg-lib`` or ``torch-sparse`` extension, for which no wheel matches
this torch build; :class:`NumpyNeighborSampler` is the same uniform sampling (without
replacement, directional subgraph, seeds first) in vectorised numpy, handed to ``NeighborLoader``.

``torch.distributed``-ready: with ``WORLD_SIZE > 1`` (torchrun) the model is wrapped in
DistributedDataParallel and each rank trains on its own equal shard of the targets.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import NeighborLoader
from torch_geometric.sampler import NeighborSampler, SamplerOutput

from churnguard.coldstart.config import Architecture, GNNTraining
from churnguard.coldstart.gnn import NodeEncoder, ReferralGNN
from churnguard.coldstart.store import GraphStore, gather


class NumpyNeighborSampler(NeighborSampler):
    """Uniform neighbour sampling without a compiled extension (homogeneous graphs)."""

    def __init__(self, data: Data, num_neighbors: list[int], seed: int):
        with warnings.catch_warnings():  # "sampling without pyg-lib is deprecated": this class is the answer
            warnings.simplefilter("ignore")
            super().__init__(data, num_neighbors=num_neighbors)
        self.rng = np.random.default_rng(seed)
        self.colptr_np, self.row_np = self.colptr.numpy(), self.row.numpy()
        self.edge_ids = np.arange(len(self.row_np))

    def _pick(self, frontier: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(position in frontier, edge position) of at most ``k`` random incoming edges per node."""
        owner, edge = gather(self.colptr_np, self.edge_ids, frontier)
        owner = np.searchsorted(frontier, owner) if len(frontier) else owner
        if k < 0 or len(edge) == 0:
            return owner, edge
        order = np.lexsort((self.rng.random(len(edge)), owner))
        owner, edge = owner[order], edge[order]
        starts = np.searchsorted(owner, owner, side="left")
        keep = np.arange(len(owner)) - starts < k
        return owner[keep], edge[keep]

    def _sample(self, seed: Any, seed_time: Any = None, **kwargs: Any) -> SamplerOutput:
        seeds = seed.numpy().astype(np.int64)
        local = {int(v): i for i, v in enumerate(seeds)}
        nodes, rows, cols, edges = [seeds], [], [], []
        frontier = seeds
        counts_n, counts_e = [len(seeds)], []
        for k in self.num_neighbors.get_mapped_values():
            order = np.argsort(frontier, kind="stable")
            pos, edge = self._pick(frontier[order], int(k))
            src, dst = self.row_np[edge], frontier[order][pos]
            fresh = [v for v in dict.fromkeys(src.tolist()) if v not in local]
            for v in fresh:
                local[v] = len(local)
            rows.append(np.fromiter((local[v] for v in src.tolist()), np.int64, len(src)))
            cols.append(np.fromiter((local[v] for v in dst.tolist()), np.int64, len(dst)))
            edges.append(edge)
            frontier = np.asarray(fresh, dtype=np.int64)
            nodes.append(frontier)
            counts_n.append(len(frontier))
            counts_e.append(len(src))
        return SamplerOutput(
            node=_long(nodes),
            row=_long(rows),
            col=_long(cols),
            edge=_long(edges),
            batch=None,
            num_sampled_nodes=counts_n,
            num_sampled_edges=counts_e,
        )


def _long(parts: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.concatenate(parts).astype(np.int64)) if parts else torch.empty(0, dtype=torch.long)


def dist_rank_world() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), world
    return 0, 1


def training_view(store: GraphStore) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The part of the known graph that training needs: nodes with at least one referral edge.

    The GNN scores only customers with edges (the others fall back to the cluster model), and a
    node without edges influences nobody else, so dropping those nodes changes no prediction used.
    Returns (x, edge_index, store index of each kept node)."""
    kept = np.nonzero(np.diff(store.indptr) > 0)[0]
    pos = np.full(store.n, -1, dtype=np.int64)
    pos[kept] = np.arange(len(kept))
    u, v = gather(store.indptr, store.neighbours, kept)
    return store.rows(kept), torch.from_numpy(np.stack([pos[u], pos[v]])), kept


class _Batches:
    """Neighbour-sampled batches of one graph view (the features differ: training vs validation)."""

    def __init__(self, x: torch.Tensor, edge_index: torch.Tensor, cfg: GNNTraining, seed: int):
        self.data = Data(x=x, edge_index=edge_index, num_nodes=x.shape[0])
        self.sampler = NumpyNeighborSampler(self.data, [cfg.fanout] * cfg.layers, seed)
        self.batch_size = cfg.batch_size

    def over(self, nodes: np.ndarray, x: torch.Tensor | None = None, shuffle: bool = False) -> NeighborLoader:
        data = self.data if x is None else Data(x=x, edge_index=self.data.edge_index, num_nodes=x.shape[0])
        return NeighborLoader(
            data,
            num_neighbors=self.sampler.num_neighbors.values,
            input_nodes=torch.as_tensor(nodes, dtype=torch.long),
            batch_size=self.batch_size,
            shuffle=shuffle,
            neighbor_sampler=self.sampler,
        )


def _masked_loss(
    net: nn.Module, batch: Data, y: torch.Tensor, beh: slice, share: float, gen: torch.Generator
) -> torch.Tensor:
    """Loss on a random ``share`` of the batch's targets, their own behaviour hidden."""
    n = int(batch.batch_size)
    hide = torch.rand(n, generator=gen) < share
    hide[0] = hide[0] or not bool(hide.any())  # at least one target per step
    idx = torch.nonzero(hide).flatten()
    x = batch.x.clone()
    x[idx.to(x.device), beh] = 0.0
    logits = net(x, batch.edge_index)[:n]
    return nn.functional.binary_cross_entropy_with_logits(logits[idx.to(x.device)], y[batch.n_id[:n][idx]])


@torch.no_grad()
def _validation_loss(model: ReferralGNN, loader: NeighborLoader, y: torch.Tensor, device: torch.device) -> float:
    total, count = 0.0, 0
    for batch in loader:
        n = int(batch.batch_size)
        logits = model(batch.x.to(device), batch.edge_index.to(device))[:n]
        total += float(nn.functional.binary_cross_entropy_with_logits(logits, y[batch.n_id[:n]], reduction="sum"))
        count += n
    return total / max(count, 1)


def train_gnn(
    arch: Architecture,
    heads: int,
    view: tuple[torch.Tensor, torch.Tensor],
    encoder: NodeEncoder,
    targets: tuple[np.ndarray, np.ndarray],
    cfg: GNNTraining,
    device: torch.device,
    seed: int,
) -> tuple[ReferralGNN, dict[str, Any]]:
    """Train one architecture on ``view`` = (x, edge_index) with ``targets`` = (node positions in the
    view, labels). Returns the model with the best validation loss (on cpu) and its training info.
    Sampling runs on the cpu; each batch moves to ``device``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rank, world = dist_rank_world()
    x, edge_index = view
    model = ReferralGNN(arch, x.shape[1], cfg.hidden, heads, cfg.layers, cfg.dropout).to(device)
    net = _parallel(model, world, device)
    perm = rng.permutation(len(targets[0]))
    n_val = int(len(perm) * cfg.early_stopping_share)
    val_nodes, fit_nodes = targets[0][perm[:n_val]], targets[0][perm[n_val:]]
    shard = len(fit_nodes) // world  # equal shards: every rank takes the same number of steps
    fit_nodes = fit_nodes[rank * shard : (rank + 1) * shard]
    y = torch.full((x.shape[0],), float("nan"))
    y[torch.as_tensor(targets[0])] = torch.as_tensor(targets[1], dtype=torch.float32)
    y = y.to(device)
    beh = encoder.behaviour_slice()
    x_val = x.clone()
    x_val[torch.as_tensor(val_nodes, dtype=torch.long), beh] = 0.0  # validation targets always "new"
    batches = _Batches(x, edge_index, cfg, seed + rank)
    val_loader = batches.over(val_nodes, x=x_val)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed + rank)
    best, best_state, bad, history, steps = float("inf"), None, 0, [], 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        net.train()
        chosen = rng.permutation(fit_nodes)[: cfg.targets_per_epoch]
        for batch in batches.over(chosen, shuffle=True):
            opt.zero_grad()
            loss = _masked_loss(net, batch.to(device), y, beh, cfg.mask_share, gen)
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        vl = _validation_loss(model, val_loader, y, device)
        history.append({"epoch": epoch + 1, "train_loss": round(float(loss.detach()), 5), "val_loss": round(vl, 5)})
        if vl < best - 1e-4:
            best, best_state, bad = vl, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    model.load_state_dict(best_state or model.state_dict())
    info: dict[str, Any] = {"arch": arch, "epochs_run": len(history), "steps": steps, "best_val_loss": round(best, 5)}
    info |= {"seconds": round(time.perf_counter() - t0, 2), "world_size": world, "device": str(device)}
    return model.cpu().eval(), info


def _parallel(model: ReferralGNN, world: int, device: torch.device) -> nn.Module:
    if world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
