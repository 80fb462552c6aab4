"""What serving checks before it lets a registered version's code run.

Loading an MLflow pyfunc unpickles it (and puts its ``code/`` on ``sys.path``): whoever can
write a version's artifacts can run code inside serving. The register stage records a sha256
digest of the logged model's files as a version tag (:func:`churnguard.mlops.registry.artifact_digest_tags`);
serving downloads the version, recomputes the digest over exactly the downloaded files and
refuses the version (nothing unpickled) when the tag is missing or differs. With
``CHURNGUARD_MODEL_SIGNING_KEY`` set, the version must also carry the HMAC of the digest made
with that key, so a registry writer without the key cannot make serving load a version.
See docs/security.md.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from churnguard.mlops.registry import DIGEST_TAG, SIGNATURE_TAG, artifact_digest, digest_signature

REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


class RefusedVersion(Exception):
    """A version whose artifacts cannot be trusted: it is not loaded, the previous one keeps serving."""


def registered_version(client: Any, uri: str) -> Any | None:
    """The ModelVersion behind ``models:/<name>/<version>``, None for any other URI."""
    m = REGISTRY_URI.match(uri)
    return client.get_model_version(m["name"], m["version"]) if m else None


def verify_artifacts(
    local_dir: Path, tags: Mapping[str, str], require_digest: bool = True, signing_key: str | None = None
) -> str | None:
    """Check the downloaded files against the version's tags; raise :class:`RefusedVersion` if they differ.

    Returns the digest (None when the version has no tag and ``require_digest`` is off)."""
    recorded = tags.get(DIGEST_TAG)
    if not recorded:
        if require_digest or signing_key:
            raise RefusedVersion(f"no {DIGEST_TAG} tag: registered without an artifact digest")
        return None
    actual = artifact_digest(local_dir)
    if not hmac.compare_digest(actual, recorded):
        raise RefusedVersion(
            f"artifact digest {actual[:12]}… differs from the recorded {recorded[:12]}… "
            "(artifacts changed after registration)"
        )
    if signing_key:
        signature = tags.get(SIGNATURE_TAG, "")
        if not hmac.compare_digest(signature, digest_signature(recorded, signing_key)):
            raise RefusedVersion(f"missing or wrong {SIGNATURE_TAG}: not signed with this deployment's key")
    return actual


def unevaluated_parts(specs: list[Any], run_metrics: Mapping[str, float]) -> tuple[str, ...]:
    """Parts never evaluated on held-out data of this version.

    A part says so in its part.json (``"evaluated": false`` or ``"n_evaluated": 0``), or the
    registering run logged ``<part>.n_holdout*`` = 0 (e.g. ``coldstart.n_holdout_cold_start``:
    no cold-start customer in the holdout, so the cold-start part's output was never checked)."""
    out = []
    for spec in specs:
        meta = getattr(spec, "meta", {}) or {}
        zero_holdout = any(k.startswith(f"{spec.name}.n_holdout") and v == 0 for k, v in run_metrics.items())
        if meta.get("evaluated") is False or meta.get("n_evaluated") == 0 or zero_holdout:
            out.append(spec.name)
    return tuple(out)
