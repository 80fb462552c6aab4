"""`churnguard sweep`: score every intervention scenario for one shard of the customers.

Writes DIR/shard-I.parquet (one row per customer and scenario; see components/interventions/part.py).
The model is the workspace's models/ bundle, or a registered version with --model-uri
(e.g. models:/churnguard@champion).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard", type=int, required=True, help="this shard's index, 0..N-1")
    parser.add_argument("--shards", type=int, required=True, help="number of shards N")
    parser.add_argument("--out", type=Path, required=True, help="directory for shard-I.parquet")
    parser.add_argument("--model-uri", default=None, help="MLflow model URI (default: the workspace's models/)")
    parser.add_argument(
        "--features",
        type=Path,
        default=None,
        help="feature table (default: the workspace's data/features/customers.parquet)",
    )


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from churnguard.core.config import PATHS, load_params
    from churnguard.interventions.sweep import run_shard

    if args.model_uri:
        from churnguard.mlops.registry import load_bundle

        part = load_bundle(args.model_uri).part("interventions")
        if part is None:
            print(f"{args.model_uri} has no 'interventions' part: nothing to sweep")
            return 2
    else:
        from churnguard.interventions.part import load_part

        part = load_part(PATHS.models / "interventions")
    features = pd.read_parquet(args.features or PATHS.features / "customers.parquet")
    chunk = int(load_params().get("sweep", {}).get("chunk_rows", 200_000))
    path = run_shard(part, features, args.shard, args.shards, args.out, chunk)
    print(f"wrote {path}")
    return 0
