"""The model holder: serves one loaded version and follows the registry alias.

A background thread polls the registry every ``poll_interval_s`` for the version behind
``models:/<name>@<alias>``. When it changes, the new version is loaded *in that thread*
(requests keep being answered by the old one) and then swapped in with one reference
assignment. A request reads :attr:`ModelHolder.current` once and uses that snapshot to the
end, so every answer comes from exactly one version and no request is dropped or mixed.
A version that fails to load is logged, counted and retried on a later poll; the old one
keeps serving. A version whose artifacts do not match the digest recorded at registration is
refused before anything of it is unpickled (:mod:`churnguard.serving.integrity`).
An ``optional`` holder (the challenger) serves nothing while its alias does not exist, and drops
its version when the alias is removed (a promoted challenger).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from churnguard.serving.integrity import RefusedVersion

log = logging.getLogger("churnguard.serving")


@dataclass(frozen=True)
class LoadedModel:
    """An immutable snapshot: one model version and what the API needs from it."""

    version: str
    uri: str
    bundle: Any
    parts: tuple[str, ...]
    feature_columns: tuple[str, ...]
    numeric: frozenset[str] = frozenset()
    categorical: frozenset[str] = frozenset()
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # training [min, max] per feature
    unevaluated: tuple[str, ...] = ()  # parts never evaluated on held-out data of this version
    digest: str | None = None  # verified artifact digest
    local_dir: str | None = None  # the verified download the bundle was loaded from
    registered_at: float | None = None  # when the version was registered (epoch seconds)

    def part(self, name: str) -> Any | None:
        return self.bundle.part(name)

    @cached_property
    def feature_set(self) -> frozenset[str]:
        """``feature_columns`` for membership tests (asked for every request field)."""
        return frozenset(self.feature_columns)


def _mlflow_client(tracking_uri: str):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def alias_missing(exc: Exception) -> bool:
    """The registry answered that the model or alias does not exist (not: the registry is down)."""
    code = getattr(exc, "error_code", "")
    return code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST") and "not found" in str(exc)


def limit_math_threads(threads: int) -> None:
    """One BLAS/OpenMP thread per process: single-row scoring gains nothing from more and, on a
    shared box, thread oversubscription costs milliseconds per request. Scale with processes."""
    if not threads:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    import torch  # its intra-op pool is not covered by threadpoolctl (GNN scatter: 1 ms -> 50 ms)

    torch.set_num_threads(threads)


def load_version(
    tracking_uri: str, uri: str, version: str, require_digest: bool = True, signing_key: str | None = None
) -> LoadedModel:
    """Download one registered version (by a version-pinned URI), verify its digest, load it."""
    import mlflow.artifacts
    import mlflow.pyfunc

    from churnguard.serving.integrity import registered_version, unevaluated_parts, verify_artifacts

    client = _mlflow_client(tracking_uri)
    t0 = time.perf_counter()
    mv = registered_version(client, uri)
    local = tempfile.mkdtemp(prefix=f"churnguard-model-v{version}-")
    try:
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=local))
        digest = verify_artifacts(path, dict(mv.tags) if mv else {}, require_digest, signing_key)
        bundle = mlflow.pyfunc.load_model(str(path)).unwrap_python_model().bundle  # unpickles: after the check
        run_metrics = dict(client.get_run(mv.run_id).data.metrics) if mv and mv.run_id else {}
    except BaseException:
        shutil.rmtree(local, ignore_errors=True)
        raise
    schema = getattr(bundle.part("base"), "schema", None)
    base_meta: dict[str, Any] = next((s.meta for s in bundle.specs if s.name == "base"), {})
    bounds = getattr(schema, "bounds", None) or base_meta.get("bounds") or {}  # old bundles: none
    return LoadedModel(
        version=str(version),
        uri=uri,
        bundle=bundle,
        parts=tuple(bundle.part_names),
        feature_columns=tuple(getattr(schema, "columns", ()) or ()),
        numeric=frozenset(getattr(schema, "numeric", ()) or ()),
        categorical=frozenset(getattr(schema, "categorical", ()) or ()),
        load_seconds=time.perf_counter() - t0,
        bounds={k: (float(v[0]), float(v[1])) for k, v in bounds.items()},
        unevaluated=unevaluated_parts(bundle.specs, run_metrics),
        digest=digest,
        local_dir=local,
        registered_at=mv.creation_timestamp / 1000 if mv and mv.creation_timestamp else None,
    )


class ModelHolder:
    """Holds the current :class:`LoadedModel` and keeps it in step with the alias."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        alias: str,
        poll_interval_s: float,
        pinned_uri: str | None = None,
        loader: Callable[[str, str, str], LoadedModel] = load_version,
        on_swap: Callable[[LoadedModel | None, LoadedModel], None] | None = None,
        on_refuse: Callable[[str, str], None] | None = None,
        on_fail: Callable[[str, str], None] | None = None,
        optional: bool = False,
        on_clear: Callable[[], None] | None = None,
    ):
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self.poll_interval_s = float(poll_interval_s)
        self.pinned_uri = pinned_uri
        self._loader = loader
        self._on_swap = on_swap
        self._on_refuse = on_refuse
        self._on_fail = on_fail
        self.optional = optional
        self._on_clear = on_clear
        self.refused_version: str | None = None  # the alias points at a version refused by the digest check
        self.refused_reason: str | None = None
        self.refusals = 0
        self._current: LoadedModel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one load at a time (poller vs. refresh())
        self.registry_ok: bool | None = None  # last poll reached the registry
        self.last_error: str | None = None
        self.last_poll_at: float | None = None
        self.failed_version: str | None = None
        self.swaps = 0
        self.seen_at: dict[str, float] = {}  # version -> when a poll first saw it behind the alias

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def target(self) -> tuple[str, str]:
        """(version, version-pinned URI) the alias points at now (registry call)."""
        if self.pinned_uri:
            return self.pinned_uri.rsplit("/", 1)[-1], self.pinned_uri
        client = _mlflow_client(self.tracking_uri)
        mv = client.get_model_version_by_alias(self.model_name, self.alias)
        return str(mv.version), f"models:/{self.model_name}/{mv.version}"

    def refresh(self) -> bool:
        """One poll: load and swap if the alias moved. True when a swap happened."""
        with self._lock:
            self.last_poll_at = time.time()
            try:
                version, uri = self.target()
                self.registry_ok = True
            except Exception as exc:  # registry down or alias missing: keep serving what we have
                if self.optional and alias_missing(exc):
                    self._clear()
                    return False
                self.registry_ok = False
                self.last_error = f"registry: {exc}"[:500]
                log.warning("alias lookup failed: %s", exc)
                return False
            self.seen_at.setdefault(version, time.time())
            current = self._current
            if current is not None and current.version == version:
                self.refused_version = self.refused_reason = None
                return False
            try:
                loaded = self._loader(self.tracking_uri, uri, version)
            except RefusedVersion as exc:
                self._refuse(version, str(exc))
                return False
            except Exception as exc:
                self.failed_version = version
                self.last_error = f"load v{version}: {exc}"[:500]
                log.exception("loading %s failed; still serving %s", uri, current and current.version)
                if self._on_fail:
                    self._on_fail(version, str(exc))
                return False
            self._current = loaded  # the atomic swap: one reference assignment
            self.swaps += 1
            self.failed_version = self.refused_version = self.refused_reason = None
            if current is not None and current.local_dir:  # in memory now; its download is not needed
                shutil.rmtree(current.local_dir, ignore_errors=True)
            log.info(
                "serving %s v%s (parts: %s) loaded in %.2fs",
                self.model_name,
                version,
                ", ".join(loaded.parts),
                loaded.load_seconds,
            )
            if self._on_swap:
                self._on_swap(current, loaded)
            return True

    def _clear(self) -> None:
        """No alias (an optional holder): serve nothing, free the old version's download."""
        self.registry_ok, self.last_error = True, None
        current, self._current = self._current, None
        if current is not None:
            log.info("alias %s of %s removed: v%s no longer served", self.alias, self.model_name, current.version)
            if current.local_dir:
                shutil.rmtree(current.local_dir, ignore_errors=True)
            if self._on_clear:
                self._on_clear()

    def _refuse(self, version: str, reason: str) -> None:
        self.refused_version, self.refused_reason = version, reason
        self.refusals += 1
        self.failed_version = version
        self.last_error = f"refused v{version}: {reason}"[:500]
        log.error(
            "refused %s v%s: %s; still serving %s",
            self.model_name,
            version,
            reason,
            self._current and self._current.version,
        )
        if self._on_refuse:
            self._on_refuse(version, reason)

    def start(self, wait: bool = True) -> None:
        """Load the first version (blocking when ``wait``) and start polling."""
        if wait:
            self.refresh()
        if self.pinned_uri or self.poll_interval_s <= 0:
            if not wait:
                threading.Thread(target=self.refresh, daemon=True, name="model-load").start()
            return
        self._thread = threading.Thread(target=self._run, args=(not wait,), daemon=True, name="model-poller")
        self._thread.start()

    def _run(self, first_now: bool) -> None:
        if first_now:
            self.refresh()
        while not self._stop.wait(self.poll_interval_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
