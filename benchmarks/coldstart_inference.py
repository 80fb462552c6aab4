"""Cold-start scoring latency: one new customer with referral edges, and a batch of 10,000.

Scores through the bundle part's public path (``ColdStartPart.predict_new``: cluster assignment,
GBM, inductive GNN on the new nodes' k-hop neighbourhood, ensemble). Peer, side by side: the same
GNN scores computed by a full-graph forward pass over all known nodes plus the new ones (what
a non-inductive model would have to do); the ratio is reported.

Targets (issue 3): single customer p99 < 20 ms; 10,000 customers < 2 s.

    .venv/bin/python benchmarks/coldstart_inference.py [--workspace DIR] [--single 300] [--batch 10000]

``--workspace`` is a churnguard workspace (default: this repository) holding
models/coldstart and data/features (run the stages up to train_gnn first).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from churnguard.coldstart.part import load_part
from churnguard.core.benchmarking import write_result


def new_customers(table: pd.DataFrame, part, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n unseen customers: demographics resampled from the cold-start cohort, ids never seen,
    referral edges to existing customers for ~40% of them (1-3 edges), none for the rest."""
    cold = table[table["is_cold_start"].astype(bool)]
    rows = cold.sample(n, replace=True, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    rows = rows.drop(
        columns=[
            c for c in ("referral_degree", "referrer_churned", "neighbour_churn_share", "was_referred") if c in rows
        ]
    )
    rows["customer_id"] = [f"NEW{i:07d}" for i in range(n)]
    known = np.asarray(part.store.ids)
    k = np.where(rng.random(n) < 0.4, rng.integers(1, 4, n), 0)
    rows["referral_ids"] = [list(known[rng.integers(0, len(known), m)]) for m in k]
    rows["is_cold_start"] = 1
    return rows


def full_graph_peer(part, frame: pd.DataFrame) -> float:
    """Seconds for the non-inductive alternative: forward over known + new nodes (GNN only)."""
    g = part.store
    zeros = np.zeros(len(frame), dtype=np.float32)
    t0 = time.perf_counter()
    x_new = part.encoder.encode(frame, zeros, zeros)
    ids = [c for refs in frame["referral_ids"] for c in refs]
    src = g.n + np.repeat(np.arange(len(frame)), frame["referral_ids"].map(len).to_numpy())
    dst = g.lookup(ids)
    new = torch.from_numpy(np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])]))
    x = torch.cat([torch.from_numpy(np.asarray(g.x)), torch.as_tensor(x_new)])
    ei = torch.cat([g.edge_index(), new], dim=1)
    with torch.inference_mode():
        part.gnn(x, ei)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--single", type=int, default=300)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    part = load_part(args.workspace / "models" / "coldstart")
    torch.set_num_threads(args.threads)
    table = pd.read_parquet(args.workspace / "data" / "features" / "customers.parquet")
    rng = np.random.default_rng(0)

    singles = new_customers(table, part, args.single, rng)
    with_edges = singles[singles["referral_ids"].map(len) > 0].reset_index(drop=True)
    for i in range(5):  # warm-up
        part.predict_new(with_edges.iloc[[i]])
    lat, cpu, peer = [], [], []
    for i in range(len(with_edges)):
        row = with_edges.iloc[[i]]
        t0, c0 = time.perf_counter(), time.process_time()
        res = part.predict_new(row)
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert res["coldstart_source"].iloc[0] == "gnn"
        if i < 30:
            peer.append(full_graph_peer(part, row))
    lat_ms = np.array(lat) * 1000

    batch = new_customers(table, part, args.batch, rng)
    t0, c0 = time.perf_counter(), time.process_time()
    res = part.predict_new(batch)
    batch_s, batch_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    assert res["coldstart_probability"].notna().all()
    peer_batch_s = full_graph_peer(part, batch[batch["referral_ids"].map(len) > 0])

    numbers = {
        "single_with_edges": {
            "n": len(lat_ms),
            "p50_ms": float(np.percentile(lat_ms, 50)),
            "p99_ms": float(np.percentile(lat_ms, 99)),
            "max_ms": float(lat_ms.max()),
            "target_p99_ms": 20.0,
            "meets_target": bool(np.percentile(lat_ms, 99) < 20.0),
            "cpu_p50_ms": float(np.percentile(cpu, 50) * 1000),
            "cpu_p99_ms": float(np.percentile(cpu, 99) * 1000),
        },
        "single_peer_full_graph_gnn_only_p50_ms": float(np.percentile(np.array(peer) * 1000, 50)),
        "single_ratio_peer_over_inductive_p50": float(np.percentile(peer, 50) / np.percentile(lat, 50)),
        "batch": {
            "n": len(batch),
            "with_edges": int((res["coldstart_source"] == "gnn").sum()),
            "seconds": batch_s,
            "cpu_seconds": batch_cpu_s,
            "target_s": 2.0,
            "meets_target": bool(batch_s < 2.0),
            "coverage": float(res["coldstart_probability"].notna().mean()),
        },
        "batch_peer_full_graph_gnn_only_s": peer_batch_s,
        "load_average_1m_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "known_graph_nodes": int(part.store.n),
        "gnn": part.gnn_arch,
        "torch_threads": args.threads,
    }
    write_result(
        "coldstart_inference", {"workspace": str(args.workspace), "single": args.single, "batch": args.batch}, numbers
    )


if __name__ == "__main__":
    main()
