"""Glue that the Airflow DAGs (dags/) run through the project's interpreter.

Airflow lives in its own environment (docs/stack.md: its attrs pin conflicts with alibi), so every
piece of work a DAG does is a subprocess of the project's ``.venv``. This module holds the two
small steps that are not a DVC stage or a ``churnguard`` command:

``python -m churnguard.mlops.orchestration prepare --repo R --runs-dir D --run-id ID``
    Creates (or refreshes) the per-run DVC workspace ``D/<ID>``: a snapshot of the code the
    stages depend on, ``dvc.yaml``, and a ``params.yaml`` = the repository's params with the
    run's overrides merged in (JSON in ``$CG_RUN_PARAMS``). The committed params.yaml is never
    edited, two runs never share a DVC lock, and rerunning a task of the same run finds the
    same workspace, so DVC skips what is already up to date. Prints the workspace path last.

    Before that it prunes old run workspaces of ``D`` (:func:`prune_workspaces`, retention from
    params.yaml ``orchestration:``), so a scheduled DAG does not fill the disk.

``python -m churnguard.mlops.orchestration champion --pin FILE``
    Resolves ``models:/<name>@<alias>`` to a concrete version, pins it in FILE (a rerun for the
    same data interval reuses the pin, so it scores with the same model), loads the bundle to
    prove it works, and prints ``models:/<name>/<version>`` last.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from churnguard.core.config import deep_merge, service_section

# Trigger-time params of the training DAG -> dotted key in params.yaml.
PARAM_KEYS = {"source": "data.source", "seed": "data.seed", "customers": "world.customers"}
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def safe_name(run_id: str) -> str:
    """A directory name for a run id (``manual__2026-11-26T11:00:00+00:00`` has ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._") or "run"


def set_dotted(params: dict[str, Any], key: str, value: Any) -> None:
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def run_overrides(run: dict[str, Any]) -> dict[str, Any]:
    """Turn the DAG's trigger params into a nested override of params.yaml.

    ``overrides`` may be nested (``{"world": {"customers": 2000}}``) or dotted
    (``{"world.customers": 2000}``); the named params (source, seed, customers) win over it.
    """
    out: dict[str, Any] = {}
    for key, value in (run.get("overrides") or {}).items():
        if "." in key:
            set_dotted(out, key, value)
        else:
            out = deep_merge(out, {key: value})
    for name, key in PARAM_KEYS.items():
        if run.get(name) not in (None, ""):
            set_dotted(out, key, run[name])
    return out


def _entries(items: list[Any] | None) -> list[str]:
    """Paths of a dvc.yaml deps/outs/metrics/plots list (entries are strings or one-key dicts)."""
    paths = []
    for item in items or []:
        paths.extend([item] if isinstance(item, str) else list(item))
    return [p.rstrip("/") for p in paths]


def stage_io(dvc_yaml: dict[str, Any]) -> tuple[list[str], set[str]]:
    deps, outs = [], set()
    for stage in (dvc_yaml.get("stages") or {}).values():
        deps.extend(_entries(stage.get("deps")))
        for key in ("outs", "metrics", "plots"):
            outs.update(_entries(stage.get(key)))
    return deps, outs


def _is_output(path: str, outs: set[str]) -> bool:
    return any(path == o or path.startswith(o + "/") for o in outs)


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, ignore=_IGNORE, dirs_exist_ok=True)
    elif src.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def prepare_workspace(repo: Path, workspace: Path, run: dict[str, Any], dvc_bin: Path | None = None) -> Path:
    """Create or refresh a per-run DVC workspace (see the module docstring). Idempotent."""
    repo, workspace = repo.resolve(), workspace.resolve()
    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    expected = [s for s in (run.get("_expected_stages") or os.environ.get("CG_EXPECTED_STAGES", "")).split(",") if s]
    if expected and expected != list(dvc_yaml.get("stages") or {}):
        raise SystemExit(
            f"dvc.yaml now has stages {list(dvc_yaml.get('stages') or {})} but this DAG run was built "
            f"for {expected}: dvc.yaml changed since Airflow parsed the DAG; trigger again after the "
            "DAG processor re-parses it (within a minute)"
        )
    deps, outs = stage_io(dvc_yaml)
    workspace.mkdir(parents=True, exist_ok=True)
    # Source deps (not produced by a stage) are copied; a Python package is copied whole, since a
    # stage imports more of it than its declared deps (churnguard.core.config, ...).
    copied: set[str] = set()
    for dep in deps:
        if _is_output(dep, outs) or dep.startswith(("/", "..")):
            continue
        top = dep.split("/", 1)[0]
        target = top if (repo / top / "__init__.py").exists() else dep
        if target not in copied:
            copied.add(target)
            _copy(repo / target, workspace / target)
            if not (repo / target).exists() and "." not in Path(target).name:
                (workspace / target).mkdir(parents=True, exist_ok=True)  # e.g. an empty data/external
    import_name = workspace / "churnguard"  # the library's import name for the snapshot (see pyproject.toml)
    if (workspace / "components").is_dir() and not import_name.is_symlink():
        import_name.symlink_to("components", target_is_directory=True)
    shutil.copy2(repo / "dvc.yaml", workspace / "dvc.yaml")

    params = deep_merge(yaml.safe_load((repo / "params.yaml").read_text()), run_overrides(run))
    csv_path = run.get("csv_path")
    if csv_path:
        src = Path(csv_path)
        src = src if src.is_absolute() else repo / src
        if not src.is_file():
            raise SystemExit(f"csv_path {src} does not exist")
        dst = workspace / "data" / "external" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dst.resolve():
            shutil.copy2(src, dst)
        set_dotted(params, "data.csv.path", f"data/external/{src.name}")
    new_text = yaml.safe_dump(params, sort_keys=False)
    params_file = workspace / "params.yaml"
    if not params_file.exists() or params_file.read_text() != new_text:
        params_file.write_text(new_text)
    (workspace / "run.json").write_text(json.dumps({"repo": str(repo), "run": run}, indent=2, default=str))

    # dvc.yaml's commands call `.venv/bin/python` relative to the workspace: point it at this interpreter's env.
    venv = workspace / ".venv"
    if not venv.exists() and not venv.is_symlink():
        venv.symlink_to(Path(sys.executable).parent.parent, target_is_directory=True)
    if not (workspace / ".dvc").is_dir():
        dvc = str(dvc_bin or Path(sys.executable).parent / "dvc")
        subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=workspace, check=True)
        subprocess.run([dvc, "config", "core.analytics", "false"], cwd=workspace, check=True)
    return workspace


def prune_workspaces(
    runs_dir: Path, current: Path, keep_last: int, keep_days: float, now: float | None = None
) -> list[Path]:
    """Delete old per-run workspaces in ``runs_dir``; return the deleted paths.

    Only directories holding the ``run.json`` that :func:`prepare_workspace` writes are
    candidates (nothing else in the folder is touched). Kept: ``current``, the ``keep_last`` most
    recently prepared ones, and every one prepared within ``keep_days`` (a failed run stays
    inspectable for that long).
    """
    import time

    now = time.time() if now is None else now
    runs = [d for d in Path(runs_dir).iterdir() if (d / "run.json").is_file()] if Path(runs_dir).is_dir() else []
    runs.sort(key=lambda d: (d / "run.json").stat().st_mtime, reverse=True)
    deleted = []
    for d in runs[max(0, int(keep_last)) :]:
        age_days = (now - (d / "run.json").stat().st_mtime) / 86400.0
        if d.resolve() == Path(current).resolve() or age_days <= float(keep_days):
            continue
        shutil.rmtree(d)
        deleted.append(d)
    return deleted


def pin_champion(pin: Path, name: str, alias: str, load: bool = True) -> str:
    """Resolve (or reuse the pinned) champion version; return ``models:/<name>/<version>``."""
    from churnguard.mlops.registry import champion_version, configure, load_bundle

    if pin.exists():
        info = json.loads(pin.read_text())
        print(f"reusing pinned champion {info['model']} v{info['version']} from {pin}")
    else:
        client = configure()
        current = champion_version(client, name, alias)
        if current is None:
            raise SystemExit(f"no version of model {name!r} has alias {alias!r}: train and promote one first")
        info = {"model": name, "alias": alias, "version": str(current.version), "run_id": current.run_id}
        pin.parent.mkdir(parents=True, exist_ok=True)
        tmp = pin.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(pin)
        print(f"pinned champion {name} v{info['version']} in {pin}")
    uri = f"models:/{info['model']}/{info['version']}"
    if load:
        bundle = load_bundle(uri)
        print(f"loaded {uri} (parts: {', '.join(bundle.part_names)})")
    return uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m churnguard.mlops.orchestration")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="create or refresh a per-run DVC workspace")
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--runs-dir", type=Path, required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--params-json", default=None, help="default: $CG_RUN_PARAMS")
    c = sub.add_parser("champion", help="pin and load the champion")
    c.add_argument("--pin", type=Path, required=True)
    c.add_argument("--model-name", default=None, help="default: params register.model_name")
    c.add_argument("--alias", default=None, help="default: params register.alias")
    c.add_argument("--repin", action="store_true", help="resolve the alias again even if a pin exists")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        run = json.loads(args.params_json or os.environ.get("CG_RUN_PARAMS") or "{}")
        target = args.runs_dir / safe_name(args.run_id)
        keep = service_section("orchestration", args.repo / "services.yaml")
        for old in prune_workspaces(
            args.runs_dir, target, int(keep.get("keep_last_runs", 10)), float(keep.get("keep_days", 14))
        ):
            print(f"pruned old run workspace {old}", file=sys.stderr)  # stdout's last line is the XCom
        ws = prepare_workspace(args.repo, target, run)
        print(ws)
        return 0
    from churnguard.core.config import section

    reg = section("register")
    if args.repin and args.pin.exists():
        args.pin.unlink()
    print(pin_champion(args.pin, args.model_name or reg["model_name"], args.alias or reg["alias"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
