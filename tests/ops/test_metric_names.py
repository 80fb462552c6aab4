"""Every metric name used by a Grafana dashboard or an alert rule is one the services export, and
every dashboard expression is valid PromQL.

Names come from the real metric registries: the serving app's ``Metrics`` and the streaming job's
``JobMetrics`` are instantiated and collected (the same objects `churnguard serve` and
`churnguard stream` expose on /metrics). Starting both services for a live scrape needs a
trained, registered model and a broker (minutes); the registries are what they would serve.
"""

from __future__ import annotations

import json
import re
import subprocess

import yaml
from prometheus_client import CollectorRegistry

from tests.ops.tools import DOCKER, load_yaml, require_binary

DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
RULES = DOCKER / "prometheus" / "alerts.yml"
# Series Prometheus makes itself (not exported by churnguard).
PROMETHEUS_BUILTIN = {"up"}
SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
    "gauge": [""],
    "summary": ["", "_sum", "_count", "_created"],
}


def exported_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.update(family.name + s for s in SUFFIXES.get(family.type, [""]))
    return names


def service_metric_names() -> set[str]:
    from churnguard.serving.app import Metrics
    from churnguard.streaming.metrics import JobMetrics

    return exported_names(Metrics().registry) | exported_names(JobMetrics().registry)


def dashboard_exprs() -> dict[str, str]:
    exprs = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                exprs[f"{path.name}: {panel['title']} {target['refId']}"] = target["expr"]
    return exprs


def rule_exprs() -> dict[str, str]:
    return {f"alerts.yml: {r['alert']}": r["expr"] for g in load_yaml(RULES)["groups"] for r in g["rules"]}


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: every selector-looking identifier that is not a label
    name inside {...} or by/without/on/ignoring (...), nor a function call."""
    stripped = re.sub(r"\{[^}]*\}", "{}", expr)
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    stripped = re.sub(r"\b[a-z_]+\s*\(", "(", stripped)  # function names
    stripped = re.sub(r"\$\w+|\"[^\"]*\"|\b\d[\w.]*", " ", stripped)  # templates, strings, numbers, durations
    return {
        n
        for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped)
        if n not in {"and", "or", "unless", "bool", "offset", "group_left", "group_right"}
    }


def test_name_extraction_on_a_known_expression():
    expr = 'sum by (le, route) (rate(churnguard_request_seconds_bucket{status=~"5.."}[5m])) / ignoring(x) up > 0'
    assert metric_names(expr) == {"churnguard_request_seconds_bucket", "up"}


def test_streaming_dashboard_exists_beside_serving():
    assert {p.name for p in DASHBOARDS} >= {"churnguard-serving.json", "churnguard-streaming.json"}


def test_every_dashboard_and_rule_metric_is_exported():
    known = service_metric_names() | PROMETHEUS_BUILTIN
    missing = {}
    for where, expr in {**dashboard_exprs(), **rule_exprs()}.items():
        unknown = metric_names(expr) - known
        if unknown:
            missing[where] = sorted(unknown)
    assert not missing, f"metric names no service exports: {missing}"


def test_dashboard_expressions_are_valid_promql(tmp_path):
    promtool = require_binary("promtool", "scripts/install-system-packages.sh installs Debian's `prometheus`")
    records = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(dashboard_exprs().values())]
    path = tmp_path / "dashboard_exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
