"""deploy/terraform: every file parses (python-hcl2), checkov (from .venv-ops) finds no failed check
(the few skips carry their reason in the code), `terraform fmt` is clean where a terraform binary
exists, no output exposes a secret, no password is a variable default. `terraform plan` needs the
AWS provider and an account: not run here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import hcl2
import pytest

from tests.ops.tools import DEPLOY, ops_venv_binary

TF = DEPLOY / "terraform"
SECRETISH = re.compile(r"password|secret|token|auth_token|random_password", re.I)


def unquote(label: str) -> str:
    """python-hcl2 8 keeps the quotes of block labels and string literals."""
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def parsed() -> dict[str, dict]:
    return {p.name: hcl2.loads(p.read_text()) for p in sorted(TF.glob("*.tf"))}


def blocks(kind: str):
    for doc in parsed().values():
        for block in doc.get(kind, []):
            for name, body in block.items():
                yield unquote(name), body


def test_every_file_parses_and_declares_the_stores():
    docs = parsed()
    assert docs, "no terraform files"
    types = {unquote(t) for doc in docs.values() for r in doc.get("resource", []) for t in r}
    assert {
        "aws_msk_cluster",
        "aws_elasticache_replication_group",
        "aws_db_instance",
        "aws_s3_bucket",
        "aws_eks_cluster",
        "aws_eks_node_group",
        "random_password",
        "aws_secretsmanager_secret",
    } <= types


def test_no_output_exposes_a_secret():
    for name, output in blocks("output"):
        value = str(output.get("value"))
        if SECRETISH.search(value) and not value.rstrip("}").endswith(".arn"):
            assert str(output.get("sensitive")).lower() == "true", f"output {name} exposes {value}"
        assert "random_password" not in value, f"output {name} exposes a generated password"


def test_no_password_variable_has_a_default():
    for name, variable in blocks("variable"):
        if SECRETISH.search(name):
            assert "default" not in variable, f"variable {name} has a default"


def test_sizes_are_variables():
    names = {name for name, _ in blocks("variable")}
    assert {
        "kafka_instance_type",
        "kafka_broker_count",
        "redis_node_type",
        "db_instance_class",
        "db_storage_gb",
        "eks_node_instance_types",
        "eks_nodes_max",
        "events_partitions",
    } <= names


def test_checkov_finds_no_failed_check(tmp_path):
    checkov = ops_venv_binary("checkov")
    out = subprocess.run(
        [checkov, "-d", str(TF), "--framework", "terraform", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = json.loads(out.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert report["summary"]["passed"] > 50 and not failed, failed
    skipped = report.get("results", {}).get("skipped_checks", [])
    assert all(c.get("suppress_comment") for c in skipped), "a skip without a reason"


def test_terraform_fmt_is_clean(tmp_path):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("no terraform binary: formatting not checked (parsing and checkov above still ran)")
    out = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(TF)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
