"""MLflow registry: log a bundle as one model version, gate it, move the ``champion`` alias.

The tracking/registry store defaults to SQLite under ``mlflow/`` (embedded); set
``MLFLOW_TRACKING_URI`` (e.g. ``postgresql://user@host/db`` or ``http://mlflow:5000``) to use
another. Artifacts go under ``mlflow/artifacts`` unless ``CHURNGUARD_ARTIFACT_ROOT`` says otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.core.config import ROOT

EXPERIMENT = "churnguard"


def tracking_uri() -> str:
    """The configured MLflow store (environment wins over the embedded default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow' / 'mlflow.db'}"


def artifact_root() -> str:
    return os.environ.get("CHURNGUARD_ARTIFACT_ROOT") or (ROOT / "mlflow" / "artifacts").as_uri()


def configure() -> Any:
    """Point mlflow at the store and return an ``MlflowClient``."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_root())
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient()


def _pyfunc_class():
    import mlflow.pyfunc

    class _ChurnGuardModel(mlflow.pyfunc.PythonModel):
        """MLflow wrapper around :class:`churnguard.core.bundle.ModelBundle`."""

        def load_context(self, context):
            from churnguard.core.bundle import ModelBundle

            self.bundle = ModelBundle(Path(context.artifacts["bundle"]))

        # No type hints here: MLflow would try (and fail, with a warning) to derive the signature from
        # them; log_bundle passes the signature inferred from a real input example instead.
        def predict(self, context, model_input, params=None):
            return self.bundle.predict(model_input)

    return _ChurnGuardModel


def load_bundle(model_uri: str):
    """Load a registered version (``models:/churnguard@champion``) as a ModelBundle."""
    import mlflow.pyfunc

    configure()
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_md5(path: Path) -> str:
    """DVC's hash of a single-file output (md5 of the content)."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def check_gates(metrics: dict[str, float], gates: dict[str, float]) -> GateResult:
    """Quality gates from params: every ``min_*``/``max_*`` key bounds the metric it names."""
    reasons = []
    for key, bound in gates.items():
        kind, metric = key.split("_", 1)
        value = metrics.get(metric)
        if value is None:
            reasons.append(f"metric {metric!r} missing for gate {key}")
        elif kind == "min" and value < bound:
            reasons.append(f"{metric} {value:.4f} < {bound} ({key})")
        elif kind == "max" and value > bound:
            reasons.append(f"{metric} {value:.4f} > {bound} ({key})")
    return GateResult(not reasons, reasons)


def champion_version(client: Any, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # MlflowException when the model or alias does not exist yet
        return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class _DropCloudpickleNotice(logging.Filter):
    """MLflow warns on every log_model that a Python-object model is cloudpickled. Ours is the small
    wrapper class above (the bundle itself travels as artifacts, checked by the digest tags), so
    the notice is noise in every task log; all other MLflow messages pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


def log_bundle(
    bundle_dir: Path,
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: list[Path],
    tags: dict[str, str],
    name: str,
    *,
    run_name: str | None = None,
    description: str | None = None,
    input_example: pd.DataFrame | None = None,
    signature: Any = None,
    stage_metrics: dict[str, dict[str, float]] | None = None,
) -> tuple[Any, str]:
    """Log one run with the bundle as a pyfunc model and register it; returns (version, run_id).

    ``metrics`` go on the parent run (the headline numbers, what the gates read); each entry of
    ``stage_metrics`` becomes a nested run named after its stage. The version is created only after
    every artifact was logged, so a failure registers nothing.
    """
    import mlflow

    client = configure()
    with mlflow.start_run(run_name=run_name or f"register-{tags.get('git_commit', '')[:8]}") as run:
        _log_run_contents(params, metrics, artifacts, tags, stage_metrics or {})
        info = _log_pyfunc(bundle_dir, signature, input_example)
    _ensure_registered(client, name)
    version = client.create_model_version(
        name=name, source=info.model_uri, run_id=run.info.run_id, tags={**tags, **artifact_digest_tags(info.model_uri)}
    )
    if description:
        client.update_model_version(name, version.version, description=description)
    return version, run.info.run_id


def _log_run_contents(
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: list[Path],
    tags: dict[str, str],
    stage_metrics: dict[str, dict[str, float]],
) -> None:
    """The active run's params (batches of 100: MLflow's cap), metrics, nested stage runs, files, tags."""
    import mlflow

    flat = {k: str(v)[:500] for k, v in flatten(params).items()}
    keys = list(flat)
    for i in range(0, len(keys), 100):
        mlflow.log_params({k: flat[k] for k in keys[i : i + 100]})
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
    for stage, values in stage_metrics.items():
        with mlflow.start_run(run_name=stage, nested=True):
            mlflow.log_metrics({k: float(v) for k, v in values.items()})
    for path in artifacts:
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=path.name)
        elif path.exists():
            mlflow.log_artifact(str(path))
    mlflow.set_tags(tags)


def _log_pyfunc(bundle_dir: Path, signature: Any, input_example: pd.DataFrame | None) -> Any:
    """The bundle as a pyfunc model of the active run, with the churnguard package as its code."""
    import mlflow

    quiet = _DropCloudpickleNotice()
    package_copy = _package_under_import_name(Path(tempfile.mkdtemp()))
    logging.getLogger("mlflow.pyfunc").addFilter(quiet)
    try:
        with warnings.catch_warnings():
            # the signature is given explicitly, so MLflow's advice to infer one from type hints is noise
            warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method.*")
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=_pyfunc_class()(),
                artifacts={"bundle": str(bundle_dir)},
                code_paths=[str(package_copy)],  # the churnguard package, under its import name
                pip_requirements=[],  # the serving image installs requirements/project.lock.txt
                signature=signature,
                input_example=input_example,
            )
    finally:
        logging.getLogger("mlflow.pyfunc").removeFilter(quiet)
        shutil.rmtree(package_copy.parent, ignore_errors=True)


def _package_under_import_name(into: Path) -> Path:
    """A copy of the churnguard package in ``into/churnguard``: in a checkout its source folder is
    ``components/`` (the layout's name), but a loaded model must import it as ``churnguard``."""
    source = Path(__file__).resolve().parents[1]
    return Path(shutil.copytree(source, into / "churnguard", ignore=shutil.ignore_patterns("__pycache__")))


DIGEST_TAG = "churnguard.artifact_sha256"  # serving refuses a version whose artifacts differ from it
SIGNATURE_TAG = "churnguard.artifact_hmac"  # HMAC of the digest with CHURNGUARD_MODEL_SIGNING_KEY, when set
DOWNLOAD_TIME_FILES = {"registered_model_meta"}  # MLflow writes it (name, version) at download: not stored


def artifact_digest(root: Path) -> str:
    """sha256 over every file under ``root``: sorted relative paths, each with the sha256 of its content."""
    files = sorted((p.relative_to(root).as_posix(), p) for p in Path(root).rglob("*") if p.is_file())
    files = [(rel, p) for rel, p in files if rel not in DOWNLOAD_TIME_FILES]
    outer = hashlib.sha256()
    for rel, path in files:
        inner = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(rel.encode() + b"\0" + inner.digest())
    return outer.hexdigest()


def digest_signature(digest: str, key: str) -> str:
    return hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def artifact_digest_tags(model_uri: str) -> dict[str, str]:
    """Digest tags of a logged model, over exactly the files a loader downloads (pickles, code, bundle)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        digest = artifact_digest(Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)))
    tags = {DIGEST_TAG: digest}
    key = os.environ.get("CHURNGUARD_MODEL_SIGNING_KEY")
    if key:
        tags[SIGNATURE_TAG] = digest_signature(digest, key)
    return tags


def _ensure_registered(client: Any, name: str) -> None:
    try:
        client.get_registered_model(name)
    except Exception:  # MlflowException: RESOURCE_DOES_NOT_EXIST
        client.create_registered_model(name, description="churnguard churn bundle (base + parts)")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
