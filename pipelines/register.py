"""Stage `register`: log the bundle to MLflow as one version; move `champion` if it earns it.

Reads params: register (and logs the whole params.yaml). Writes metrics/registration.json.

MLflow layout of one registration: a parent run named ``<source>-<customers>c-seed<seed>-<commit>``
with the headline metrics (base model on the holdout, oracle, customers: what the gates read),
one nested run per metrics file (``cv``, ``coldstart``, ``harden``, ...), ROC / calibration / lift
PNGs under ``curves/``, a signature and input example on the model, and a version description
saying source, size, seed and the headline numbers.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pandas as pd

from churnguard.core.bundle import ModelBundle
from churnguard.core.config import PATHS, load_params
from churnguard.core.vocabulary import LABEL, SPLIT
from churnguard.mlops.config import RegisterConfig, register_config
from churnguard.mlops.promotion import decide, move_alias
from churnguard.mlops.registry import file_md5, git_commit, log_bundle, write_json

HEADLINE = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "calibration_error", "n", "positive_rate")
NOT_MODEL_INPUT = (LABEL, SPLIT, "churn_label")  # the label and bookkeeping never reach a scorer
# Kept on the parent run besides the headline: serving reads `<part>.n_holdout*` to flag parts never
# evaluated on held-out data (components/serving/integrity.py).
PARENT_KEYS = re.compile(r"\.n_holdout")


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[re.sub(r"[^A-Za-z0-9_\-. :/]", "_", f"{prefix}{k}")] = float(v)  # MLflow's allowed names
    return out


def headline_metrics(customers: int) -> dict[str, float]:
    """Base model on the holdout (+ oracle), and the data size: the parent run's metrics."""
    base = json.loads((PATHS.metrics / "base.json").read_text())
    out = {k: float(base["model"][k]) for k in HEADLINE if isinstance(base["model"].get(k), (int, float))}
    if base.get("oracle"):
        out.update({f"oracle_{k}": float(base["oracle"][k]) for k in HEADLINE[:5] if k in base["oracle"]})
        out["roc_auc_ratio_to_oracle"] = float(base["roc_auc_ratio_to_oracle"])
    out["customers"] = float(customers)
    return out


def stage_metrics() -> dict[str, dict[str, float]]:
    """{metrics file stem: its numbers, flattened}, one nested MLflow run each."""
    return {
        path.stem: _numbers(json.loads(path.read_text()))
        for path in sorted(PATHS.metrics.glob("*.json"))
        if path.name != "registration.json"
    }


def collect_metrics(customers: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    stages = stage_metrics()
    parent = headline_metrics(customers)
    parent.update(
        {
            f"{stage}.{k}": v
            for stage, values in stages.items()
            for k, v in values.items()
            if PARENT_KEYS.search(f"{stage}.{k}")
        }
    )
    return parent, stages


def data_size(params: dict, rows: int) -> int:
    """Customers the run was about: the world's size for the synthetic source, the CSV's rows otherwise."""
    return int(params["world"]["customers"]) if params["data"]["source"] == "synthetic" else rows


def run_name(params: dict, rows: int, commit: str) -> str:
    """e.g. ``synthetic-50000c-seed42-1a2b3c4d``: tells a trial run from a full one at a glance."""
    return f"{params['data']['source']}-{data_size(params, rows)}c-seed{params['data']['seed']}-{commit[:8]}"


def describe(params: dict, rows: int, holdout_rows: int, metrics: dict[str, float], commit: str) -> str:
    """The version's description: where the data came from, how much, which seed, the headline numbers."""
    data = params["data"]
    source = {
        "csv": lambda: f"CSV {data['csv']['path']}",
        "parquet": lambda: f"Parquet {data['parquet']['path']}",
        "sql": lambda: f"SQL {data['sql'].get('table') or 'query'}",
    }.get(data["source"], lambda: f"synthetic world of {data_size(params, rows)} customers,")()
    numbers = ", ".join(
        f"{k} {metrics[k]:.4f}" for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift") if k in metrics
    )
    oracle = (
        f"; {metrics['roc_auc_ratio_to_oracle']:.3f} of the oracle's ROC AUC"
        if "roc_auc_ratio_to_oracle" in metrics
        else ""
    )
    return (
        f"Data: {source} {rows} rows with features (holdout {holdout_rows}), seed {data['seed']}, "
        f"commit {commit[:12]}. Holdout: {numbers}{oracle}."
    )


def log_version(params: dict, table: pd.DataFrame, holdout: pd.DataFrame, bundle: ModelBundle):
    """Log the bundle as one new version of ``register.model_name``: metrics, curves, signature, tags."""
    from mlflow.models import infer_signature

    from churnguard.models.evaluation import curve_images

    features_file = PATHS.features / "customers.parquet"
    metrics, per_stage = collect_metrics(len(table))
    commit = git_commit()
    tags = {
        "git_commit": commit,
        "dvc_data_hash": file_md5(features_file),
        "data_source": params["data"]["source"],
        "parts": ",".join(bundle.part_names),
    }
    example = holdout.drop(columns=[c for c in NOT_MODEL_INPUT if c in holdout]).head(5)
    # integers as doubles in the signature: a request may leave any feature missing (serving imputes)
    example = example.astype({c: "float64" for c in example.select_dtypes("integer").columns})
    scores = bundle.predict(holdout)
    with tempfile.TemporaryDirectory() as tmp:
        curves = Path(tmp) / "curves"
        curve_images(holdout[LABEL].to_numpy(), scores["churn_probability"].to_numpy(), curves)
        version, run_id = log_bundle(
            PATHS.models,
            params,
            metrics,
            [PATHS.metrics, PATHS.plots, curves, PATHS.features / "schema.json"],
            tags,
            register_config(params["register"]).model_name,
            run_name=run_name(params, len(table), commit),
            description=describe(params, len(table), len(holdout), metrics, commit),
            input_example=example,
            signature=infer_signature(example, bundle.predict(example)),
            stage_metrics=per_stage,
        )
    return version, run_id, metrics, tags


def move_aliases(client, cfg: RegisterConfig, version: str, decision) -> str | None:
    """``register.challenger`` (set by the monitor DAG's retrain): that alias, never champion here;
    `churnguard promote` moves champion through the same gates (docs/monitoring.md). Otherwise the
    champion alias moves when the gates passed. Returns the challenger alias used, if any."""
    name, alias = cfg.model_name, cfg.alias
    challenger = cfg.challenger or None
    if challenger:
        decision.promoted = False
        why = "retrained on monitoring evidence; promotion decides champion"
        move_alias(client, name, str(challenger), version, who="pipeline", why=why)
    if decision.promoted:
        move_alias(
            client, name, alias, version, why="register stage: gates passed, >= champion on holdout", who="pipeline"
        )
    return challenger


def main() -> None:
    from churnguard.mlops.registry import configure

    params = load_params()
    cfg = register_config(params["register"])
    name, alias = cfg.model_name, cfg.alias
    table = pd.read_parquet(PATHS.features / "customers.parquet")
    holdout = table[table[SPLIT] == "holdout"].reset_index(drop=True)
    bundle = ModelBundle(PATHS.models)  # loads every part: a broken part fails here, before logging
    version, run_id, metrics, tags = log_version(params, table, holdout, bundle)
    client = configure()
    decision = decide(
        client,
        name,
        alias,
        version.version,
        metrics,
        dict(cfg.gates),
        cfg.champion_tolerance,
        bundle,
        holdout,
        holdout[LABEL].to_numpy(),
    )
    client.set_model_version_tag(
        name, version.version, "gates", "passed" if decision.promoted else "; ".join(decision.reasons)
    )
    challenger = move_aliases(client, cfg, version.version, decision)
    write_json(
        PATHS.metrics / "registration.json",
        {
            "model": name,
            "version": version.version,
            "run_id": run_id,
            "champion": decision.promoted,
            "challenger_alias": challenger,
            "reasons": decision.reasons,
            "candidate_auc": decision.candidate_auc,
            "previous_champion": decision.champion_version,
            "previous_champion_auc": decision.champion_auc,
            **tags,
            "parts": bundle.part_names,
        },
    )
    print(f"registered {name} v{version.version} (parts: {', '.join(bundle.part_names)}); {decision.summary()}")


if __name__ == "__main__":
    main()
