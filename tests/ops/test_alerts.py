"""Alert rules: promtool checks the file and runs the unit tests; every rule has a firing and a
silent case (tests/ops/alerts_test.yml, alerts_longrange_test.yml)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.ops.tools import DOCKER, load_yaml, require_binary

RULES = DOCKER / "prometheus" / "alerts.yml"
HERE = Path(__file__).parent
RULE_TESTS = [HERE / "alerts_test.yml", HERE / "alerts_longrange_test.yml"]
HINT = "scripts/install-system-packages.sh installs Debian's `prometheus` package (promtool)"


def alert_names() -> set[str]:
    return {rule["alert"] for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_the_rule_file():
    promtool = require_binary("promtool", HINT)
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_rule_unit_tests_pass():
    promtool = require_binary("promtool", HINT)
    out = subprocess.run(
        [promtool, "test", "rules", *map(str, RULE_TESTS)], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_has_a_firing_and_a_silent_case():
    firing, silent = set(), set()
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case["alert_rule_test"]:
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = alert_names()
    assert names, "no alert rules found"
    assert names - firing == set(), f"rules without a firing case: {sorted(names - firing)}"
    assert names - silent == set(), f"rules without a silent case: {sorted(names - silent)}"


def test_rules_are_loaded_by_the_compose_prometheus():
    config = load_yaml(DOCKER / "prometheus" / "prometheus.yml")
    assert "/etc/prometheus/alerts.yml" in config.get("rule_files", [])
