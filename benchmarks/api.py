"""Benchmark: what the in-process Python API adds to the bundle's own scoring (issue #22: <= 10 %).

Same process, same model, same customers, alternating rounds so both sides see the same machine load:

- ``bundle``: ``bundle.predict_columns(cols, n)`` on rows prepared beforehand (the API's own rows for
  those customers, gathered outside the timing), i.e. the bundle's scoring and nothing else;
- ``api``: ``client.predict(ids)``: input checks, gathering the batch rows, the same scoring, the
  result frame (PREDICTION_COLUMNS);
- for reference, ``bundle_frame``: ``bundle.predict(DataFrame)`` on the same rows as a DataFrame.

- ``api_without_scoring``: everything ``client.predict`` does besides the scoring (scores looked up),
  so the API's added work is measured on its own, not as the small difference of two noisy numbers.

CPU time per call (``time.process_time``, one math thread), median over rounds. Overhead: added work /
bundle, and end to end the median over rounds of api / bundle - 1 (each pair ran back to back).
Batches of 1, 10 and 100 customers sampled (seeded) from the batch table.

Run: ``.venv/bin/python benchmarks/api.py [--model DIR|NAME] [--batch-features PATH] [--rounds R]``.
Default model: ``models:/churnguard@champion`` of the workspace's registry (``MLFLOW_TRACKING_URI``
or ``CHURNGUARD_HOME``). Writes benchmarks/results/api.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: single-row scoring with one math thread

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import churnguard  # noqa: E402
from churnguard.api.inputs import as_customers  # noqa: E402
from churnguard.api.results import Scored  # noqa: E402
from churnguard.api.tables import prediction_of, predictions_frame  # noqa: E402
from churnguard.core import columns  # noqa: E402
from churnguard.core.benchmarking import write_result  # noqa: E402

BATCHES = (1, 10, 100)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="churnguard", help="registered name, models:/ URI or bundle directory")
    p.add_argument("--batch-features", default=churnguard.api.BATCH_FEATURES)
    p.add_argument("--customers", type=int, default=200, help="customers sampled from the batch table")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--seed", type=int, default=22)
    p.add_argument("--name", default="api")
    p.add_argument("--label", default="", help="what the model is (recorded; a directory's path is not)")
    return p.parse_args()


def cpu_per_call(fn, calls: list[Any]) -> float:
    """CPU seconds per call of ``fn`` over ``calls`` (one argument each)."""
    t0 = time.process_time()
    for arg in calls:
        fn(arg)
    return (time.process_time() - t0) / len(calls)


def measure(client: Any, ids: list[str], batch: int, rounds: int) -> dict[str, Any]:
    bundle, version = client.model.bundle, client.model.version
    groups = [ids[i : i + batch] for i in range(0, len(ids) - batch + 1, batch)]
    prepared = [client.rows(as_customers(g)) for g in groups]
    scored = {id(g): bundle.predict_columns(r.cols, r.n) for g, r in zip(groups, prepared)}

    def looked_up(group: list[str]) -> Scored:
        """What ``client._score`` returns, with the bundle's scores looked up instead of computed."""
        rows = client.rows(as_customers(group))
        return Scored(group, scored[id(group)], rows.info, version, rows.degraded, client.model.parts)

    sides = {
        "bundle": (lambda r: bundle.predict_columns(r.cols, r.n), prepared),
        "api": (client.predict, groups),
        # everything predict() does besides the bundle's scoring: the API's own work, measured on its own
        "api_without_scoring": (lambda g: predictions_frame(looked_up(g)), groups),
        "bundle_frame": (bundle.predict, [r.frame() for r in prepared]),
    }
    if batch == 1:  # the one-customer call that returns a dataclass
        sides["api_one"] = (lambda g: client.predict_one(g[0]), groups)
        sides["api_one_without_scoring"] = (lambda g: prediction_of(looked_up(g), 0), groups)
    for fn, calls in sides.values():  # warm-up: caches built on first use (fast tree scorers)
        cpu_per_call(fn, calls[:3])
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(rounds):
        for name in list(sides) if r % 2 == 0 else list(reversed(sides)):
            gc.collect()
            fn, calls = sides[name]
            samples[name].append(cpu_per_call(fn, calls))
    med = {k: statistics.median(v) for k, v in samples.items()}
    out: dict[str, Any] = {
        "batch": batch,
        "calls_per_round": len(groups),
        "cpu_us_per_call": {k: round(v * 1e6, 1) for k, v in med.items()},
        "cpu_us_per_customer": {k: round(v * 1e6 / batch, 2) for k, v in med.items()},
        "bundle_frame_vs_bundle": round(med["bundle_frame"] / med["bundle"] - 1, 4),
    }
    for call in [c for c in ("api", "api_one") if c in sides]:
        paired = [a / b - 1 for a, b in zip(samples[call], samples["bundle"])]
        out[call] = {
            # the API's own work over the bundle's scoring: the stable number on a busy machine
            "overhead_added_work": round(med[f"{call}_without_scoring"] / med["bundle"], 4),
            # end to end: median over rounds of call / bundle - 1 (each round's pair ran back to back)
            "overhead_end_to_end": round(statistics.median(paired), 4),
            "overhead_end_to_end_range": [round(min(paired), 4), round(max(paired), 4)],
        }
    return out


def main() -> int:
    args = parse_args()
    t0 = time.time()
    print(f"[api bench] loading {args.model} ...", flush=True)
    client = churnguard.load(args.model, batch_features=args.batch_features)  # a string with "/" is a directory
    try:
        import torch  # the GNN's intra-op pool (threadpoolctl does not cover it): one thread, as serving

        torch.set_num_threads(1)
    except ImportError:
        pass
    gc.collect()
    gc.freeze()  # the loaded model is long-lived: keep it out of the collector's generations (as serving)
    rng = np.random.default_rng(args.seed)
    known = sorted(client.batch.row_of)
    ids = [str(i) for i in rng.choice(known, size=min(args.customers, len(known)), replace=False)]
    cold = int(np.sum(columns.numeric(client.batch.take(ids)[0], "is_cold_start", len(ids)) == 1))
    print(f"[api bench] {client!r}; {len(ids)} customers ({cold} cold-start); load {time.time() - t0:.1f}s", flush=True)
    results = []
    for batch in BATCHES:
        res = measure(client, ids, batch, args.rounds)
        us = res["cpu_us_per_call"]
        for call in [c for c in ("api", "api_one") if c in res]:
            o = res[call]
            print(
                f"[api bench] batch {batch:>3} {call:<7}: bundle {us['bundle']:>7.0f} us, {call} {us[call]:>7.0f} us, "
                f"added work {us[call + '_without_scoring']:>5.0f} us per call -> overhead "
                f"{100 * o['overhead_added_work']:.1f} % (end to end {100 * o['overhead_end_to_end']:+.1f} %)",
                flush=True,
            )
        results.append(res)
    load = os.getloadavg()
    run = {
        "model": client.model.uri if client.model.from_registry else "a bundle directory",
        "label": args.label,
        "version": client.model.version,
        "parts": list(client.model.parts),
        "customers": len(ids),
        "cold_start_customers": cold,
        "rounds": args.rounds,
        "seed": args.seed,
        "math_threads": 1,
        "load_average_1_5_15": [round(x, 2) for x in load],
        "seconds": round(time.time() - t0, 1),
    }
    worst = max(
        max(r[c]["overhead_added_work"], r[c]["overhead_end_to_end"])
        for r in results
        for c in ("api", "api_one")
        if c in r
    )
    write_result(args.name, run, {"batches": results, "worst_overhead": worst, "goal": 0.10, "met": worst <= 0.10})
    print(f"[api bench] worst overhead {100 * worst:.1f} % (goal <= 10 %); load average {load[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
