"""Multi-world evaluation: every headline metric over many fresh synthetic worlds.

Each world is a throw-away workspace (params.yaml + a variant's overrides + its own data seed) in
which the pipeline's stages run exactly as DVC runs them (``python -m pipelines.<stage>``), all but
``register``. Then each area's headline metrics are read from the world's ``metrics/*.json`` and
summarised over the worlds: mean, standard deviation, worst world (and which one).

World sets live in ``benchmarks/worlds.yaml``: ``development`` (the worlds one may look at while
changing things) and ``reporting`` (the worlds the docs quote; never tuned on).

    .venv/bin/python benchmarks/worlds.py --set reporting            # the docs' table
    .venv/bin/python benchmarks/worlds.py --seeds 5001 5002 --variant contagion_0   # your own worlds

Writes ``benchmarks/results/worlds_<set>.json`` (machine, run, every world, the summary) and
``benchmarks/results/worlds_<set>.md`` (the table). Worlds run as parallel processes
(``--workers``, default 2 = the cores here), each stage pinned to one thread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.world_metrics import HEADLINES, collect_world_metrics  # noqa: E402
from churnguard.core.benchmarking import RESULTS, write_result  # noqa: E402
from tests.workspace import Workspace, deep_merge, stage_names  # noqa: E402

SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore",
}


def load_worlds(args: argparse.Namespace) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    spec = yaml.safe_load((REPO / "benchmarks" / "worlds.yaml").read_text())
    if args.seeds:
        worlds = [{"seed": s, "variant": args.variant} for s in args.seeds]
        name = args.name or f"custom_{args.variant}"
    else:
        worlds, name = spec["sets"][args.set], args.name or args.set
    unknown = {w["variant"] for w in worlds} - set(spec["variants"])
    if unknown:
        raise SystemExit(
            f"unknown variant(s) {sorted(unknown)}; benchmarks/worlds.yaml defines {sorted(spec['variants'])}"
        )
    return name, worlds, spec["variants"]


def world_params(world: dict[str, Any], variants: dict[str, Any], customers: int | None) -> dict[str, Any]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params = deep_merge(params, variants[world["variant"]])
    params["data"]["seed"] = int(world["seed"])
    if customers:
        params["world"]["customers"] = int(customers)
    return params


def run_stage_measured(ws: Workspace, stage: str) -> dict[str, float]:
    """One stage as a subprocess; wall and CPU seconds of that process alone (os.wait4)."""
    env = dict(ws.env, **SINGLE_THREAD)
    t0 = time.perf_counter()
    with open(ws.root / f"{stage}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"pipelines.{stage}"], cwd=ws.root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (ws.root / f"{stage}.log").read_text()[-3000:]
        raise RuntimeError(f"stage {stage} failed (exit {proc.returncode}) in {ws.root}:\n{tail}")
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def run_world(
    world: dict[str, Any], variants: dict[str, Any], root: Path, customers: int | None, stages: list[str], label: str
) -> dict[str, Any]:
    ws_root = root / f"{world['variant']}-{world['seed']}"
    ws = Workspace(ws_root, {})
    params = world_params(world, variants, customers)
    if stages[0] == stage_names()[0]:  # a fresh world; otherwise rerun later stages of a kept one
        shutil.rmtree(ws_root, ignore_errors=True)
        (ws_root / "data" / "external").mkdir(parents=True)
    (ws_root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    t0 = time.perf_counter()
    timing = {}
    for k, stage in enumerate(stages, 1):
        timing[stage] = run_stage_measured(ws, stage)
        print(
            f"[{label}] stage {k}/{len(stages)} {stage}: {timing[stage]['wall_s']:.0f} s wall, "
            f"{timing[stage]['cpu_s']:.0f} CPU-s",
            flush=True,
        )
    metrics = collect_world_metrics(ws_root / "metrics")
    return {
        "seed": world["seed"],
        "variant": world["variant"],
        "customers": params["world"]["customers"],
        "metrics": metrics,
        "stages": timing,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(sum(t["cpu_s"] for t in timing.values()), 1),
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sd, worst world per headline metric (worst = lowest where higher is better)."""
    out = {}
    for key, (label, higher_is_better) in HEADLINES.items():
        vals = [(r["metrics"].get(key), f"{r['variant']}-{r['seed']}") for r in results]
        vals = [(v, w) for v, w in vals if v is not None and np.isfinite(v)]
        if not vals:
            continue
        arr = np.array([v for v, _ in vals])
        worst = min(vals) if higher_is_better else max(vals)
        out[key] = {
            "label": label,
            "n": len(arr),
            "mean": float(arr.mean()),
            "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()),
            "max": float(arr.max()),
            "worst": float(worst[0]),
            "worst_world": worst[1],
        }
    return out


def markdown(name: str, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
    worlds = ", ".join(f"{r['variant']}-{r['seed']}" for r in results)
    lines = [
        f"Multi-world evaluation, set `{name}` ({len(results)} worlds of "
        f"{results[0]['customers']:,} customers: {worlds})",
        "",
        "| metric | mean | sd | worst world | min | max |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for s in summary.values():
        lines.append(
            f"| {s['label']} | {s['mean']:.4f} | {s['sd']:.4f} | {s['worst']:.4f} ({s['worst_world']}) "
            f"| {s['min']:.4f} | {s['max']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="reporting", help="world set from benchmarks/worlds.yaml")
    ap.add_argument("--seeds", type=int, nargs="*", help="your own world seeds instead of a set")
    ap.add_argument("--variant", default="default", help="variant for --seeds (benchmarks/worlds.yaml)")
    ap.add_argument("--name", help="result name (default: the set's name)")
    ap.add_argument("--customers", type=int, help="world size (default: params.yaml's world.customers)")
    ap.add_argument("--workers", type=int, default=2, help="worlds run at once (one core each)")
    ap.add_argument("--until", help="last stage to run (dvc.yaml order; default: every stage but register)")
    ap.add_argument(
        "--from",
        dest="start",
        help="first stage to run: reruns later stages in the kept "
        "workspaces of --root (development only: code changed after the first stages)",
    )
    ap.add_argument(
        "--skip",
        nargs="*",
        default=[],
        metavar="STAGE",
        help="stages to leave out (development: e.g. harden evaluate_harden when only the offers changed)",
    )
    ap.add_argument("--root", type=Path, help="where the world workspaces go and stay (default: a temp dir, removed)")
    args = ap.parse_args()
    name, worlds, variants = load_worlds(args)
    all_stages = [s for s in stage_names() if s != "register"]
    stages = all_stages[: all_stages.index(args.until) + 1] if args.until else all_stages
    if args.start:
        if not args.root:
            raise SystemExit("--from needs --root (the kept workspaces)")
        stages = stages[stages.index(args.start) :]
    unknown = sorted(set(args.skip) - set(stages))
    if unknown:
        raise SystemExit(f"--skip: unknown stage(s) {unknown}; stages: {', '.join(stages)}")
    stages = [s for s in stages if s not in args.skip]
    root = args.root or Path(tempfile.mkdtemp(prefix="churnguard-worlds-"))
    t0, load0 = time.perf_counter(), os.getloadavg()
    print(
        f"multi-world evaluation '{name}': {len(worlds)} worlds, {args.workers} at a time, stages "
        f"{stages[0]}..{stages[-1]}, workspaces in {root}",
        flush=True,
    )
    labels = [f"world {i + 1}/{len(worlds)} {w['variant']}-{w['seed']}" for i, w in enumerate(worlds)]
    with ThreadPoolExecutor(args.workers) as pool:
        results = list(
            pool.map(lambda wl: run_world(wl[0], variants, root, args.customers, stages, wl[1]), zip(worlds, labels))
        )
    summary = summarise(results)
    run = {
        "set": name,
        "worlds": worlds,
        "workers": args.workers,
        "stages": stages,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(sum(r["cpu_s"] for r in results), 1),
        "load_average_start": load0,
        "load_average_end": os.getloadavg(),
    }
    write_result(f"worlds_{name}", run, {"summary": summary, "worlds": results})
    (RESULTS / f"worlds_{name}.md").write_text(markdown(name, summary, results))
    print(markdown(name, summary, results))
    print(f"done: {len(worlds)} worlds in {run['wall_s'] / 60:.1f} min wall, {run['cpu_s'] / 60:.1f} CPU-min")
    if not args.root:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
