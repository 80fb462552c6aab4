"""Every metric name used by a Grafana dashboard or an alert rule is one the services export, and
every dashboard expression is valid PromQL.

Here the names are checked against the metric registries (the serving app's ``Metrics`` and the
streaming job's ``JobMetrics``, instantiated and collected): a quick check without services.
The live check, against /metrics scraped over HTTP from `churnguard serve` and `churnguard stream`
running with a registered model, a broker and Redis, is tests/streaming/test_live_scrape.py.
"""

from __future__ import annotations

import subprocess

import yaml
from prometheus_client import CollectorRegistry

from tests.ops.promql import DASHBOARDS, dashboard_exprs, metric_names, used_metric_names
from tests.ops.tools import require_binary

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


def test_name_extraction_on_a_known_expression():
    expr = 'sum by (le, route) (rate(churnguard_request_seconds_bucket{status=~"5.."}[5m])) / ignoring(x) up > 0'
    assert metric_names(expr) == {"churnguard_request_seconds_bucket", "up"}


def test_streaming_dashboard_exists_beside_serving():
    assert {p.name for p in DASHBOARDS} >= {"churnguard-serving.json", "churnguard-streaming.json"}


def test_every_dashboard_and_rule_metric_is_in_a_registry():
    known = service_metric_names()
    missing = {name: where for name, where in used_metric_names().items() if name not in known}
    assert not missing, f"metric names no service exports: {missing}"


def test_dashboard_expressions_are_valid_promql(tmp_path):
    promtool = require_binary("promtool", "scripts/install-system-packages.sh installs Debian's `prometheus`")
    records = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(dashboard_exprs().values())]
    path = tmp_path / "dashboard_exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
