"""Benchmark: protected prediction (base model + robust model + 5 detectors + classification + the protected decision).

Side by side with the peer it wraps, the base model alone, on the same customers:
one customer per call (p50 / p99 latency, target p99 < 20 ms) and batch throughput.

    .venv/bin/python benchmarks/protection.py [--models DIR] [--features FILE] [--calls N]

Defaults: the workspace's models/ and data/features/customers.parquet (CHURNGUARD_HOME).
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one request = one thread; set before numpy loads
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from churnguard.adversarial.protection import load_part  # noqa: E402
from churnguard.core.benchmarking import write_result  # noqa: E402
from churnguard.core.config import PATHS  # noqa: E402
from churnguard.models.tabular import load_part as load_base  # noqa: E402


def _latencies(fn, rows: list[pd.DataFrame]) -> np.ndarray:
    for r in rows[:20]:
        fn(r)  # warm-up
    out = []
    for r in rows:
        t = time.perf_counter()
        fn(r)
        out.append((time.perf_counter() - t) * 1000)
    return np.asarray(out)


def _measure(fn, rows: list[pd.DataFrame], batch: pd.DataFrame) -> dict[str, float]:
    """Single-customer latency percentiles and batch throughput of one scoring function."""
    lat = _latencies(fn, rows)
    fn(batch.head(100))
    t = time.perf_counter()
    fn(batch)
    secs = time.perf_counter() - t
    return {
        "single_p50_ms": round(float(np.percentile(lat, 50)), 3),
        "single_p99_ms": round(float(np.percentile(lat, 99)), 3),
        "single_mean_ms": round(float(lat.mean()), 3),
        "batch_rows": len(batch),
        "batch_rows_per_s": round(len(batch) / secs, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=str(PATHS.models))
    ap.add_argument("--features", default=str(PATHS.features / "customers.parquet"))
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = load_base(f"{args.models}/base")
    part = load_part(f"{args.models}/protection")
    table = pd.read_parquet(args.features)
    holdout = table[table["split"] == "holdout"].reset_index(drop=True)
    rng = np.random.default_rng(0)
    rows = [holdout.iloc[[i]] for i in rng.integers(0, len(holdout), args.calls)]

    def base_only(f: pd.DataFrame) -> pd.DataFrame:
        return base.score(f, pd.DataFrame(index=f.index))

    def protected(f: pd.DataFrame) -> pd.DataFrame:
        return part.score(f, base.score(f, pd.DataFrame(index=f.index)))

    def protection_part_only(f: pd.DataFrame) -> pd.DataFrame:
        return part.score(f, pd.DataFrame({"churn_probability": 0.5}, index=f.index))

    batch = holdout.sample(min(args.batch, len(holdout)), random_state=1, replace=False)
    numbers: dict = {
        name: _measure(fn, rows, batch)
        for name, fn in (
            ("base_only", base_only),
            ("protected", protected),
            ("protection_part_only", protection_part_only),
        )
    }
    numbers["ratio_protected_to_base"] = {
        "single_p99": round(numbers["protected"]["single_p99_ms"] / numbers["base_only"]["single_p99_ms"], 2),
        "batch_throughput": round(
            numbers["protected"]["batch_rows_per_s"] / numbers["base_only"]["batch_rows_per_s"], 3
        ),
    }
    numbers["target_single_p99_ms"] = 20.0
    numbers["meets_target"] = numbers["protected"]["single_p99_ms"] < 20.0
    write_result(
        "protection",
        {
            "calls": args.calls,
            "batch": args.batch,
            "torch_threads": args.threads,
            "customers_in_holdout": len(holdout),
            "base_family": base.family,
        },
        numbers,
    )


if __name__ == "__main__":
    main()
