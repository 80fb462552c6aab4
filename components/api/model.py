"""Load one model version for the in-process client: from the registry (alias or version) or a directory.

A registered version is downloaded once, its files are checked against the artifact digest recorded at
registration (the same check serving makes, :mod:`churnguard.serving.integrity`) and only then are its
parts unpickled. The parts are loaded straight from the version's ``bundle`` artifact with
:class:`churnguard.core.bundle.ModelBundle`: the MLflow pyfunc wrapper is not unpickled and the copy of
the code registered with the version is not put on ``sys.path``, so the parts run on the installed
``churnguard``, the one the caller imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from churnguard.api.errors import ModelUnavailable
from churnguard.core.bundle import ModelBundle

DEFAULT_MODEL = "churnguard"
DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version and what the API reads from it (feature kinds, training bounds)."""

    name: str
    alias: str | None
    version: str
    uri: str
    bundle: ModelBundle
    feature_columns: tuple[str, ...]
    numeric: frozenset[str]
    categorical: frozenset[str]
    bounds: dict[str, tuple[float, float]]
    unevaluated: tuple[str, ...] = ()
    digest: str | None = None
    local_dir: str | None = None  # the verified download (parts read files from it lazily)
    from_registry: bool = True
    loaded_at: float = field(default_factory=time.time)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.bundle.part_names)

    @property
    def feature_set(self) -> frozenset[str]:
        return frozenset(self.feature_columns)


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the project's embedded store when this checkout has one."""
    from churnguard.core.config import ROOT
    from churnguard.mlops.registry import tracking_uri

    if os.environ.get("MLFLOW_TRACKING_URI") or (ROOT / "mlflow" / "mlflow.db").exists():
        return tracking_uri()
    raise ModelUnavailable(
        "no model registry: pass tracking_uri=, or set MLFLOW_TRACKING_URI (or CHURNGUARD_HOME to a workspace "
        "with mlflow/mlflow.db)"
    )


def resolve_version(client: Any, name: str, alias: str | None, version: str | int | None) -> str:
    """The version number behind ``version`` or ``alias`` (registry call)."""
    try:
        if version is not None:
            return str(client.get_model_version(name, str(version)).version)
        return str(client.get_model_version_by_alias(name, alias or DEFAULT_ALIAS).version)
    except Exception as exc:  # MlflowException: unknown model/alias/version, or the store is unreachable
        what = f"version {version}" if version is not None else f"alias {alias or DEFAULT_ALIAS!r}"
        raise ModelUnavailable(f"registered model {name!r}, {what}: {str(exc)[:300]}") from exc


def from_registry(
    name: str,
    alias: str | None,
    version: str | int | None,
    tracking_uri: str,
    require_digest: bool = True,
    signing_key: str | None = None,
) -> LoadedModel:
    """Download ``models:/<name>/<version>`` (the version behind the alias), verify, load."""
    from mlflow.artifacts import download_artifacts

    from churnguard.serving.integrity import RefusedVersion, unevaluated_parts, verify_artifacts
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file otherwise
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    number = resolve_version(client, name, alias, version)
    uri = f"models:/{name}/{number}"
    mv = client.get_model_version(name, number)
    local = tempfile.mkdtemp(prefix=f"churnguard-api-v{number}-")
    try:
        source = client.get_model_version_download_uri(name, number)  # models:/ would ask the global registry
        path = Path(download_artifacts(artifact_uri=source, dst_path=local, tracking_uri=tracking_uri))
        digest = verify_artifacts(path, dict(mv.tags), require_digest, signing_key)
        bundle = ModelBundle(bundle_dir(path))  # unpickles the parts: only after the digest check
        metrics = dict(client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
    except RefusedVersion as exc:
        shutil.rmtree(local, ignore_errors=True)
        raise ModelUnavailable(f"{uri} refused: {exc}") from exc
    except BaseException:
        shutil.rmtree(local, ignore_errors=True)
        raise
    return described(
        bundle,
        name,
        None if version is not None else (alias or DEFAULT_ALIAS),
        number,
        uri,
        unevaluated_parts(bundle.specs, metrics),
        digest,
        local,
        True,
    )


def from_directory(path: Path) -> LoadedModel:
    """A bundle directory (a workspace's ``models/``): no registry, no digest (the caller's own files)."""
    bundle = ModelBundle(Path(path))
    from churnguard.serving.integrity import unevaluated_parts

    name = Path(path).resolve().name
    return described(
        bundle,
        name,
        None,
        f"dir:{name}",
        Path(path).resolve().as_uri(),
        unevaluated_parts(bundle.specs, {}),
        None,
        None,
        False,
    )


def bundle_dir(model_dir: Path) -> Path:
    """The ``bundle`` artifact of a downloaded pyfunc model (named in its MLmodel file)."""
    spec = yaml.safe_load((model_dir / "MLmodel").read_text())
    try:
        rel = spec["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
    except (KeyError, TypeError) as exc:
        raise ModelUnavailable(f"{model_dir}: not a churnguard model (no 'bundle' artifact in MLmodel)") from exc
    return model_dir / rel


def described(
    bundle: ModelBundle,
    name: str,
    alias: str | None,
    version: str,
    uri: str,
    unevaluated: tuple[str, ...],
    digest: str | None,
    local_dir: str | None,
    registry: bool,
) -> LoadedModel:
    """A :class:`LoadedModel` with the base part's feature schema and training bounds."""
    schema = getattr(bundle.part("base"), "schema", None)
    base_meta = next((s.meta for s in bundle.specs if s.name == "base"), {})
    bounds = getattr(schema, "bounds", None) or base_meta.get("bounds") or {}
    return LoadedModel(
        name=name,
        alias=alias,
        version=version,
        uri=uri,
        bundle=bundle,
        feature_columns=tuple(getattr(schema, "columns", ()) or ()),
        numeric=frozenset(getattr(schema, "numeric", ()) or ()),
        categorical=frozenset(getattr(schema, "categorical", ()) or ()),
        bounds={k: (float(v[0]), float(v[1])) for k, v in bounds.items()},
        unevaluated=unevaluated,
        digest=digest,
        local_dir=local_dir,
        from_registry=registry,
    )
