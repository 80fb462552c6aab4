"""docker/compose.yaml as written: `docker-compose config` resolves it (no Docker engine here), and
its cross-references hold: the environment names the code reads, Prometheus targets = services and
ports, images built from Dockerfiles that exist (and whose COPY sources exist), Airflow as separate
components with its Postgres driver pinned, a bootstrap before serving/streaming, no default
passwords, no `latest` tags, published ports on loopback only."""

from __future__ import annotations

import os
import re
import secrets
import subprocess

import pytest

from tests.ops.tools import DOCKER, REPO, load_yaml, require_binary

COMPOSE = DOCKER / "compose.yaml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|_KEYS?$|TOKEN")
# Variables read by third-party programs, not by churnguard's code.
THIRD_PARTY = re.compile(
    r"^(AIRFLOW__|POSTGRES_|GF_|KAFKA_|COLLECTOR_|MLFLOW_TRACKING_(USERNAME|PASSWORD)$"
    r"|MLFLOW_AUTH_ADMIN_|MLFLOW_FLASK_SERVER_SECRET_KEY$|OTEL_SERVICE_NAME$)"
)
AIRFLOW_SERVICES = ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-api-server")


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def required_vars() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text()))


def code_text() -> str:
    files = [
        *REPO.glob("components/**/*.py"),
        *REPO.glob("dags/*.py"),
        *DOCKER.glob("**/*.sh"),
        REPO / "mlflow" / "server.sh",
    ]
    return "\n".join(p.read_text() for p in files)


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = require_binary("docker-compose", "scripts/install-system-packages.sh installs Debian's docker-compose")
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "config"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_docker_compose_config_resolves_with_every_required_variable():
    out = compose_config({v: secrets.token_hex(8) for v in required_vars()})
    assert out.returncode == 0, out.stderr


def test_docker_compose_refuses_without_a_secret():
    env = {v: secrets.token_hex(8) for v in required_vars()}
    del env["POSTGRES_PASSWORD"]
    out = compose_config(env)
    assert out.returncode != 0 and "POSTGRES_PASSWORD" in out.stderr


def test_env_example_lists_every_required_variable_without_values():
    lines = [ln for ln in (REPO / ".env.example").read_text().splitlines() if ln and not ln.startswith("#")]
    example = dict(ln.split("=", 1) for ln in lines)
    assert required_vars() <= set(example), sorted(required_vars() - set(example))
    assert all(not example[v] for v in required_vars() if SECRET_NAME.search(v)), "a secret has a value"


def test_no_default_or_literal_secrets(compose):
    text = COMPOSE.read_text()
    defaults = [v for v in re.findall(r"\$\{([A-Z_]+):?-", text) if SECRET_NAME.search(v)]
    assert not defaults, f"secrets with a default value: {defaults}"
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if (
                SECRET_NAME.search(key)
                and not key.endswith("_FILE")
                and key != "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"
            ):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", str(value)), f"{name}.{key} is not a required variable"
            if "://" in str(value) and "@" in str(value):
                assert re.search(r":\$\{[A-Z_]+:\?[^}]*\}@", str(value)), f"{name}.{key}: password in URL is a literal"


def test_every_churnguard_variable_set_is_read_by_the_code(compose):
    code = code_text()
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if not THIRD_PARTY.match(key):
                assert re.search(rf"\b{key}\b", code), f"{name} sets {key}, which nothing reads"


def test_airflow_runs_its_components_with_the_project_interpreter(compose):
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        cmd = services[name]["command"]
        assert "standalone" not in cmd and cmd[0] == "airflow"
        env = services[name]["environment"]
        assert env["CHURNGUARD_PYTHON_BIN"] == "/app/.venv/bin" and "CHURNGUARD_PYTHON" not in env
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert {services[n]["command"][1] for n in AIRFLOW_SERVICES} == {
        "scheduler",
        "dag-processor",
        "triggerer",
        "api-server",
    }
    assert re.search(r"^psycopg2-binary==", (REPO / "requirements" / "airflow.lock.txt").read_text(), re.M)
    assert 'os.environ.get("CHURNGUARD_PYTHON_BIN")' in (REPO / "dags" / "churnguard_env.py").read_text()


def test_bootstrap_runs_before_serving_and_streaming(compose):
    services = compose["services"]
    assert services["bootstrap"]["restart"] == "no"
    for name in ("serving", "streaming"):
        assert services[name]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"


def test_prometheus_targets_are_services_listening_on_those_ports(compose):
    services = compose["services"]
    for job in load_yaml(DOCKER / "prometheus" / "prometheus.yml")["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.split(":")
            if host == "127.0.0.1":
                continue
            cmd = services[host]["command"]
            port_flag = "--metrics-port" if "stream" in cmd else "--port"
            assert cmd[cmd.index(port_flag) + 1] == port, f"{job['job_name']} scrapes {target}, service says {cmd}"
            host_flag = "--metrics-host" if "stream" in cmd else "--host"
            assert cmd[cmd.index(host_flag) + 1] == "0.0.0.0", (
                f"{host} binds loopback only: Prometheus cannot scrape it"
            )


def test_streaming_gets_the_time_to_stop_gracefully(compose):
    """compose's default 10 s before SIGKILL is shorter than the job's worst stop; one consumer
    (no replicas over the Kafka service's partitions)."""
    from churnguard.streaming.job import STOP_BUDGET_S

    service = compose["services"]["streaming"]
    grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert grace and int(grace[1]) >= STOP_BUDGET_S
    assert service.get("stop_signal", "SIGTERM") == "SIGTERM"
    replicas = service.get("deploy", {}).get("replicas", 1)
    assert replicas <= int(compose["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])


def test_tracing_reaches_jaeger(compose):
    services = compose["services"]
    assert "127.0.0.1:4318:4318" in services["jaeger"]["ports"]
    for name in ("serving", "streaming", "bootstrap", *AIRFLOW_SERVICES):
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name


def test_images_are_built_from_existing_files_and_pinned(compose):
    for name, service in compose["services"].items():
        assert not service["image"].endswith(":latest") and ":" in service["image"], f"{name}: {service['image']}"
        build = service.get("build")
        if build:
            dockerfile = (DOCKER / build["context"] / build["dockerfile"]).resolve()
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            for src in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", dockerfile.read_text(), re.M):
                for path in src.split():
                    assert (REPO / path).exists(), f"{dockerfile.name} copies {path}, which does not exist"


def test_published_ports_are_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
