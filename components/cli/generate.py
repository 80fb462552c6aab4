"""`churnguard generate`: a synthetic world of any size, with time and peak memory reported."""

from __future__ import annotations

import argparse
import copy
import resource
import tempfile
import time
from pathlib import Path

from churnguard.core.benchmarking import write_result
from churnguard.core.config import load_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=None, help="world size (default: params world.customers)")
    parser.add_argument("--seed", type=int, default=None, help="default: params data.seed")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary folder)")
    parser.add_argument(
        "--write-benchmark",
        action="store_true",
        help="also write the result to benchmarks/ as JSON (tracked: off by default, so a "
        "trial run never rewrites a committed benchmark)",
    )


def run(args: argparse.Namespace) -> int:
    from churnguard.core.progress import progress_bars
    from churnguard.world import draw_world, write_world

    params = load_params()
    cfg = copy.deepcopy(params["world"])
    if args.customers:
        cfg["customers"] = args.customers
    seed = args.seed if args.seed is not None else int(params["data"]["seed"])
    print(
        f"generating a world of {cfg['customers']} customers (seed {seed}); "
        "customers and the referral graph first, then the event bar",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0 = time.perf_counter()
        summary = write_world(draw_world(cfg, seed), out / "raw", out / "truth", progress=progress_bars())
        seconds = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"generated {summary.customers} customers ({summary.active} active, {summary.events} events) "
        f"in {seconds:.1f} s, peak memory {peak_mb:.0f} MB, {size_mb:.0f} MB on disk"
    )
    if args.write_benchmark:
        report = write_result(
            f"generate_{cfg['customers']}",
            {"customers": cfg["customers"], "seed": seed},
            {
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_mb, 1),
                "output_mb": round(size_mb, 1),
                **summary.as_dict(),
            },
        )
        print(f"benchmark written: {report}")
    return 0
