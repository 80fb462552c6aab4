"""deploy/k8s: both overlays render, validate against the Kubernetes 1.32 schemas (kubernetes-validate,
strict), follow the security basics, and keep streaming replicas <= the events topic's partitions.
deploy/helm/airflow-values.yaml uses the project's image and no literal secret."""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest

from churnguard.streaming.job import STOP_BUDGET_S
from tests.ops.k8s_render import kubectl_kustomize, render, rendered
from tests.ops.tools import DEPLOY, REPO, load_yaml

OVERLAYS = sorted((DEPLOY / "k8s" / "overlays").iterdir())
K8S_VERSION = "1.32.0"


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def config(docs: list[dict]) -> dict:
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("churnguard-config")]
    return cm["data"]


def pod_specs(docs: list[dict]):
    for d in by_kind(docs, "Deployment"):
        yield d["metadata"]["name"], d["spec"]["template"]["spec"], d["spec"]["template"]["metadata"]


@pytest.fixture(scope="module", params=[o.name for o in OVERLAYS])
def overlay(request):
    return request.param, rendered(DEPLOY / "k8s" / "overlays" / request.param)


def test_both_overlays_exist():
    assert {o.name for o in OVERLAYS} == {"dev", "prod"}


def test_manifests_validate_against_the_schemas(overlay):
    _, docs = overlay
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= {
        d["kind"] for d in docs
    }
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_fallback_renderer_matches_kubectl(overlay):
    name, docs = overlay
    if kubectl_kustomize(DEPLOY / "k8s" / "overlays" / name) is None:
        pytest.skip("kubectl not installed: the fallback renderer is what the other tests used")
    ours = render(DEPLOY / "k8s" / "overlays" / name)

    def normal(doc: dict) -> str:  # the generator's hash suffix is kubectl's; key order is irrelevant
        return re.sub(r"churnguard-config-[a-z0-9]{10}", "churnguard-config", json.dumps(doc, sort_keys=True))

    assert sorted(map(normal, docs)) == sorted(map(normal, ours))


def test_security_basics(overlay):
    _, docs = overlay
    for name, spec, _ in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
                c["resources"]["limits"]
            )
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), (name, image)
            for env in c.get("env", []):
                if re.search(r"PASSWORD|SECRET|KEYS?$|TOKEN|BACKEND_STORE_URI", env["name"]):
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{name}: {env['name']} is not from a Secret"
    assert not by_kind(docs, "Secret"), "Secret objects with values do not belong in the repository"


def test_serving_is_ready_on_health_and_scaled_and_protected(overlay):
    _, docs = overlay
    (dep,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "churnguard-serving"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler")}
    assert "churnguard-serving" in targets
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert any(p["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"] for p in pdbs)


def streaming_deployment(docs: list[dict]) -> dict:
    (dep,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "churnguard-streaming"]
    return dep


def test_streaming_replicas_never_exceed_partitions(overlay):
    name, docs = overlay
    partitions = int(config(docs)["STREAM_PARTITIONS"])
    dep = streaming_deployment(docs)
    assert dep["spec"]["replicas"] <= partitions, (
        f"{name}: {dep['spec']['replicas']} consumers > {partitions} partitions"
    )
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0, "a rollout would add a consumer over the bound"
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == "churnguard-streaming":
            assert hpa["spec"]["maxReplicas"] <= partitions


def test_stream_partitions_match_where_the_topic_is_made(overlay):
    """STREAM_PARTITIONS is the partition count of the events topic the overlay talks to: prod's is
    Terraform's events_partitions, dev's the project's own (services.yaml, compose's Kafka)."""
    name, docs = overlay
    partitions = int(config(docs)["STREAM_PARTITIONS"])
    if name == "prod":
        tf = (DEPLOY / "terraform" / "variables.tf").read_text()
        default = re.search(r'variable "events_partitions" \{[^}]*default\s*=\s*(\d+)', tf)
        assert default and int(default[1]) == partitions
    else:
        compose = load_yaml(REPO / "docker" / "compose.yaml")
        assert partitions == load_yaml(REPO / "services.yaml")["streaming"]["partitions"]
        assert partitions == int(compose["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])


def test_streaming_stops_gracefully_within_its_grace_period(overlay):
    """The job handles SIGTERM itself (tests/streaming/test_stream.py): SIGTERM must reach it at
    once (no preStop sleep, the job is the container's command) and the grace period must cover
    its worst stop, so Kubernetes does not SIGKILL a stop in progress."""
    _, docs = overlay
    spec = streaming_deployment(docs)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"][:2] == ["churnguard", "stream"]
    assert "preStop" not in container.get("lifecycle", {})
    assert spec["terminationGracePeriodSeconds"] >= STOP_BUDGET_S


def test_scrape_annotations_match_the_metrics_ports(overlay):
    _, docs = overlay
    for name, spec, meta in pod_specs(docs):
        ann = meta.get("annotations", {})
        if ann.get("prometheus.io/scrape") == "true":
            ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
            assert int(ann["prometheus.io/port"]) in ports, name
    scraped = {n for n, _, m in pod_specs(docs) if m.get("annotations", {}).get("prometheus.io/scrape") == "true"}
    assert {"churnguard-serving", "churnguard-streaming"} <= scraped


def test_mlflow_runs_with_basic_auth_from_secrets(overlay):
    _, docs = overlay
    (dep,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "churnguard-mlflow"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][-1] == "docker/mlflow/auth-server.sh" and (REPO / c["command"][-1]).is_file()
    env = {e["name"]: e for e in c["env"]}
    for var in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert "secretKeyRef" in env[var]["valueFrom"]


def test_airflow_helm_values_use_the_project_image_and_no_literal_secret():
    values = load_yaml(DEPLOY / "helm" / "airflow-values.yaml")
    assert values["images"]["airflow"]["repository"].endswith("churnguard-airflow")
    assert values["images"]["airflow"]["tag"] not in ("", "latest")
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["CHURNGUARD_PYTHON_BIN"] == "/app/.venv/bin"
    literal = [
        k
        for k, v in walk(values)
        if re.search(r"(?i)password|secret|fernetkey$|jwt", k)
        and not re.search(r"[sS]ecretName$|^secretKey$|^secret$", k)
        and v not in (None, "", [], {})
    ]
    assert not literal, f"literal secrets in the Helm values: {literal}"


def walk(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)
