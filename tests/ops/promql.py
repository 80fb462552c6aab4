"""The metric names Grafana dashboards (docker/grafana/dashboards/*.json) and alert rules
(docker/prometheus/alerts.yml) use, read from their PromQL. Shared by tests/ops (names against the
metric registries, PromQL validity) and tests/streaming/test_live_scrape.py (names against a live
scrape of the running services)."""

from __future__ import annotations

import json
import re

from tests.ops.tools import DOCKER, load_yaml

DASHBOARDS = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
RULES = DOCKER / "prometheus" / "alerts.yml"
# Series Prometheus makes itself (not exported by churnguard).
PROMETHEUS_BUILTIN = {"up"}


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


def used_metric_names() -> dict[str, list[str]]:
    """Each metric name a dashboard panel or an alert rule uses -> where (Prometheus' own left out)."""
    used: dict[str, list[str]] = {}
    for where, expr in {**dashboard_exprs(), **rule_exprs()}.items():
        for name in metric_names(expr) - PROMETHEUS_BUILTIN:
            used.setdefault(name, []).append(where)
    return used
