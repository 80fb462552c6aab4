"""Two heavy stages at once: does each slow by no more than ~2.5x (a fair share of 2 cores is 2x)?

Prepares one small world up to the stages' inputs, copies it (each stage writes its own outs in its
own copy, so the two never touch each other's files), then runs, in one session:

1. each stage alone with the whole machine (``CHURNGUARD_CPU_SHARE`` unset: every core), and alone
   with one core;
2. both at once, each with a share of 1 core (what the Airflow DAG sets: cores / parallel tasks);
3. the peer: both at once with every pool at its library default (``CHURNGUARD_CPU_SHARE=none``:
   one thread per core in each process, OpenMP's spinning wait), which is the behaviour before #21.

Slowdown = a stage's wall time in a pair / its faster wall time alone (also reported against the
all-cores run). CPU-s per stage shows the work burnt by spinning. Writes benchmarks/results/concurrency.json.

    .venv/bin/python benchmarks/concurrency.py --customers 20000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.measure import load_average, run_stage, snapshot, stage_env, start_stage, wait_stage  # noqa: E402
from churnguard.core.benchmarking import write_result  # noqa: E402
from tests.workspace import Workspace, stage_names  # noqa: E402


def full_size_workspace(root: Path, customers: int, code: Path) -> Workspace:
    """A throw-away workspace holding the snapshot's params.yaml with ``world.customers`` set."""
    params = yaml.safe_load((code / "params.yaml").read_text())
    params["world"]["customers"] = int(customers)
    (root / "data" / "external").mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy2(code / "services.yaml", root / "services.yaml")
    return Workspace(root, params)


MODES = {"disciplined": "1", "library_defaults": "none"}


def prepare(root: Path, customers: int, stages: list[str], code: Path) -> Workspace:
    """A workspace (params.yaml at ``customers``, not the tests' tiny params) with every stage before
    the first measured one already run."""
    ws = full_size_workspace(root, customers, code)
    order = stage_names()
    for stage in order[: min(order.index(s) for s in stages)]:
        if stage.startswith("evaluate"):
            continue
        print(f"prepare: {stage}", flush=True)
        run_stage(root, stage, stage_env(ws.env, code))
    return ws


def copies(ws: Workspace, stages: list[str]) -> dict[str, Workspace]:
    """One copy of the prepared workspace per stage, so concurrent stages share no output."""
    out = {}
    for stage in stages:
        dst = ws.root.parent / f"ws_{stage}"
        shutil.copytree(ws.root, dst, symlinks=True)
        out[stage] = Workspace(dst, ws.params)
    return out


def env_for(ws: Workspace, share: str | None, code: Path) -> dict[str, str]:
    env = stage_env(ws.env, code)
    for var in ("CHURNGUARD_CPU_SHARE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    if share is not None:
        env["CHURNGUARD_CPU_SHARE"] = share
    return env


def run_pair(spaces: dict[str, Workspace], share: str, code: Path) -> dict[str, dict[str, float]]:
    started = {s: start_stage(w.root, s, env_for(w, share, code)) for s, w in spaces.items()}
    return {s: wait_stage(spaces[s].root, s, *started[s]) for s in spaces}


def measure(spaces: dict[str, Workspace], code: Path) -> dict[str, Any]:
    """Alone (whole machine, then one core), then the pair in each mode; slowdowns against the faster alone run."""
    alone: dict[str, dict[str, Any]] = {}
    for stage, ws in spaces.items():
        alone[stage] = {"all_cores": run_stage(ws.root, stage, env_for(ws, None, code))}
        alone[stage]["one_core"] = run_stage(ws.root, stage, env_for(ws, "1", code))
        print(f"alone {stage}: {alone[stage]}", flush=True)
    out: dict[str, Any] = {"alone": alone, "load_before": load_average()}
    for mode, share in MODES.items():
        pair = run_pair(spaces, share, code)
        out[mode] = {}
        for s, m in pair.items():
            best = min(alone[s].values(), key=lambda a: a["wall_s"])
            out[mode][s] = {
                **m,
                "slowdown": round(m["wall_s"] / best["wall_s"], 2),
                "slowdown_vs_all_cores": round(m["wall_s"] / alone[s]["all_cores"]["wall_s"], 2),
                "cpu_ratio": round(m["cpu_s"] / best["cpu_s"], 2),
            }
        print(f"together ({mode}): {out[mode]}", flush=True)
    out["load_after"] = load_average()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--stages", nargs=2, default=["harden", "fit_counterfactual"])
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder (empty or new) and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-concurrency-") as tmp:
        base = args.keep or Path(tmp)
        code = snapshot(base / "code")
        ws = prepare(base / "prepared", args.customers, args.stages, code)
        numbers = measure(copies(ws, args.stages), code)
    worst = {m: max(v["slowdown"] for v in numbers[m].values()) for m in MODES}
    numbers["worst_slowdown"] = worst
    write_result("concurrency", {"customers": args.customers, "stages": args.stages}, numbers)
    print(
        f"summary: worst slowdown per stage, disciplined {worst['disciplined']}x, "
        f"library defaults {worst['library_defaults']}x (fair share 2x, target <= 2.5x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
