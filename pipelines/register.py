"""Stage `register`: log the bundle to MLflow as one version; move `champion` if it earns it.

Reads params: register (and logs the whole params.yaml). Writes metrics/registration.json.
"""
from __future__ import annotations

import json
import re

import pandas as pd

from components.bundle import ModelBundle
from components.config import PATHS, load_params
from components.features.table import LABEL, SPLIT
from components.promotion import decide, move_alias
from components.registry import file_md5, git_commit, log_bundle, write_json


def collect_metrics() -> dict[str, float]:
    """Numeric headline metrics of every stage (metrics/*.json), flattened for MLflow."""
    out: dict[str, float] = {}
    base = json.loads((PATHS.metrics / "base.json").read_text())
    out.update({k: v for k, v in base["model"].items() if isinstance(v, (int, float))})
    if base.get("oracle"):
        out.update({f"oracle_{k}": v for k, v in base["oracle"].items() if isinstance(v, (int, float))})
        out["roc_auc_ratio_to_oracle"] = base["roc_auc_ratio_to_oracle"]
    for path in sorted(PATHS.metrics.glob("*.json")):
        if path.name in ("base.json", "registration.json"):
            continue
        for k, v in _numbers(json.loads(path.read_text())).items():
            out[re.sub(r"[^A-Za-z0-9_\-. :/]", "_", f"{path.stem}.{k}")] = v  # MLflow's allowed names
    return out


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def main() -> None:
    params = load_params()
    cfg = params["register"]
    name, alias = cfg["model_name"], cfg["alias"]
    features_file = PATHS.features / "customers.parquet"
    table = pd.read_parquet(features_file)
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    bundle = ModelBundle(PATHS.models)  # loads every part: a broken part fails here, before logging
    metrics = collect_metrics()
    tags = {"git_commit": git_commit(), "dvc_data_hash": file_md5(features_file),
            "data_source": params["data"]["source"], "parts": ",".join(bundle.part_names)}
    version, run_id = log_bundle(PATHS.models, params, metrics,
                                 [PATHS.metrics, PATHS.plots, PATHS.features / "schema.json"], tags, name)
    from components.registry import configure

    client = configure()
    decision = decide(client, name, alias, version.version, metrics, cfg["gates"], float(cfg["champion_tolerance"]),
                      bundle, holdout, holdout[LABEL].to_numpy())
    client.set_model_version_tag(name, version.version, "gates", "passed" if decision.promoted else
                                 "; ".join(decision.reasons))
    if decision.promoted:
        move_alias(client, name, alias, version.version, why="register stage: gates passed, >= champion on holdout",
                   who="pipeline")
    write_json(PATHS.metrics / "registration.json", {
        "model": name, "version": version.version, "run_id": run_id, "champion": decision.promoted,
        "reasons": decision.reasons, "candidate_auc": decision.candidate_auc,
        "previous_champion": decision.champion_version, "previous_champion_auc": decision.champion_auc,
        **tags, "parts": bundle.part_names})
    print(f"registered {name} v{version.version} (parts: {', '.join(bundle.part_names)}); {decision.summary()}")


if __name__ == "__main__":
    main()
