"""Stage x size: wall, CPU-s and peak RSS of every pipeline stage at several world sizes, and growth exponents.

Each size is a fresh workspace of the committed code (a snapshot of HEAD, benchmarks/measure.py) with the
repository's params and ``world.customers`` set; stages run one after another as DVC runs them, each
measured alone (os.wait4). The growth exponent of a stage between two sizes is
log(CPU-s ratio) / log(size ratio): 1 is linear, above 1 super-linear. Results are rewritten after every
stage (an interrupted run keeps what it measured): benchmarks/results/<name>.json and <name>.md.

    .venv/bin/python benchmarks/scaling.py --sizes 50000 1000000
    # features only, one engine after the other on the same world (validate replaced by a copy):
    .venv/bin/python benchmarks/scaling.py --sizes 1000000 10000000 \\
        --stages ingest features --engines duckdb pandas --name scaling_features
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.measure import load_average, run_stage, snapshot, stage_env  # noqa: E402
from benchmarks.world_metrics import collect_world_metrics  # noqa: E402
from churnguard.core.benchmarking import RESULTS, write_result  # noqa: E402
from tests.workspace import Workspace, stage_names  # noqa: E402


def workspace(root: Path, code: Path, customers: int) -> Workspace:
    params = yaml.safe_load((code / "params.yaml").read_text())
    params["world"]["customers"] = int(customers)
    (root / "data" / "external").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy2(code / "services.yaml", root / "services.yaml")
    return Workspace(root, params)


def set_engine(ws: Workspace, engine: str) -> None:
    ws.params["features"]["engine"] = engine
    (ws.root / "params.yaml").write_text(yaml.safe_dump(ws.params, sort_keys=False))


def copy_validated(ws: Workspace) -> None:
    """Stand-in for `validate` when only features are measured: the raw customers as the validated table."""
    (ws.root / "data" / "validated").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ws.root / "data" / "raw" / "customers.parquet", ws.root / "data" / "validated" / "customers.parquet")


def run_size(ws: Workspace, code: Path, stages: list[str], engines: list[str], out: dict[str, Any], report) -> None:
    """Every stage at one size into ``out``; the features stage once per engine; ``report()`` after each stage."""
    for stage in stages:
        if stage == "features" and "validate" not in stages and not (ws.root / "data" / "validated").exists():
            copy_validated(ws)
        for engine in engines if stage == "features" else [None]:
            label = f"features[{engine}]" if engine and len(engines) > 1 else stage
            if engine:
                set_engine(ws, engine)
            try:
                out[label] = {**run_stage(ws.root, stage, stage_env(ws.env, code)), "load": load_average()}
            except RuntimeError as exc:  # measured where it stops (e.g. out of memory), then go on
                out[label] = {"failed": str(exc).splitlines()[0], "load": load_average()}
            print(f"  {label}: {out[label]}", flush=True)
            report()
        if stage == "features" and len(engines) > 1:
            set_engine(ws, engines[0])


def exponents(sizes: list[int], runs: dict[int, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage: CPU-s growth exponent between consecutive sizes, and from the first to the last size."""
    out: dict[str, dict[str, float]] = {}
    for stage in {s for r in runs.values() for s in r["stages"]}:
        points = [(n, runs[n]["stages"][stage]["cpu_s"]) for n in sizes if "cpu_s" in runs[n]["stages"].get(stage, {})]
        pairs = {
            f"{a[0]}->{b[0]}": round(math.log(b[1] / a[1]) / math.log(b[0] / a[0]), 2)
            for a, b in itertools.pairwise(points)
            if a[1] > 0 and b[1] > 0
        }
        if pairs:
            out[stage] = pairs
    return out


def table(sizes: list[int], runs: dict[int, dict[str, Any]], growth: dict[str, dict[str, float]]) -> str:
    stages = list(dict.fromkeys(s for n in sizes if n in runs for s in runs[n]["stages"]))
    head = (
        "| stage | " + " | ".join(f"{n:,}: wall s / CPU-s / peak RSS MB" for n in sizes) + " | CPU-s growth exponent |"
    )
    lines = [head, "|" + " --- |" * (len(sizes) + 2)]
    for stage in stages:
        cells = []
        for n in sizes:
            m = runs.get(n, {}).get("stages", {}).get(stage)
            cells.append(
                "—" if not m else m.get("failed", f"{m['wall_s']:.0f} / {m['cpu_s']:.0f} / {m['peak_rss_mb']:,.0f}")
            )
        exp = ", ".join(f"{v}" for v in growth.get(stage, {}).values()) or "—"
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {exp} |")
    totals = []
    for n in sizes:  # end to end: the default engine's features row only (the first engine run)
        measured = runs.get(n, {}).get("stages", {})
        alternatives = [s for s in measured if s.startswith("features[")][1:]
        st = [m for s, m in measured.items() if "cpu_s" in m and s not in alternatives]
        totals.append(
            f"**{sum(m['wall_s'] for m in st):.0f} / {sum(m['cpu_s'] for m in st):.0f} / "
            f"{max((m['peak_rss_mb'] for m in st), default=0):,.0f}**"
        )
    lines.append("| end to end (first engine; peak = largest stage) | " + " | ".join(totals) + " | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 1_000_000], help="run in this order")
    parser.add_argument("--stages", nargs="+", default=[s for s in stage_names() if s != "register"])
    parser.add_argument("--engines", nargs="+", default=None, help="features engines to run (default: params)")
    parser.add_argument("--name", default="scaling")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep the workspaces")
    args = parser.parse_args()
    runs: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cg-scaling-") as tmp:
        base = args.keep or Path(tmp)
        code = snapshot(base / "code")
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        engines = args.engines or [yaml.safe_load((code / "params.yaml").read_text())["features"]["engine"]]

        def report() -> None:
            growth = exponents(sorted(runs), runs)
            run = {"sizes": args.sizes, "stages": args.stages, "engines": engines, "commit": commit}
            write_result(args.name, run, {"sizes": {str(n): r for n, r in runs.items()}, "growth_exponent": growth})
            (RESULTS / f"{args.name}.md").write_text(table(sorted(args.sizes), runs, growth))

        for n in args.sizes:
            print(f"size {n:,}: {len(args.stages)} stages", flush=True)
            ws = workspace(base / f"n{n}", code, n)
            runs[n] = {"stages": {}, "load_before": load_average()}
            t0 = time.perf_counter()
            run_size(ws, code, args.stages, engines, runs[n]["stages"], report)
            runs[n]["wall_s"] = round(time.perf_counter() - t0, 1)
            if (ws.root / "metrics").exists():
                runs[n]["metrics"] = collect_world_metrics(ws.root / "metrics")
            report()
            if not args.keep:
                shutil.rmtree(ws.root, ignore_errors=True)
    print(table(sorted(args.sizes), runs, exponents(sorted(runs), runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
