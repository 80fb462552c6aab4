"""DVC deps follow one rule (scripts/dvc_deps.py): each stage's code deps are exactly the project
modules its entry point imports, transitively. Checked statically, and by DVC itself: in a private
copy of the pipeline whose stages are all committed, touching one module makes `dvc status` report
exactly the stages that import it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.orchestration.conftest import PIPELINE_REPO, PROJECT_BIN, REPO

sys.path.insert(0, str(REPO / "scripts"))
import dvc_deps

DVC = str(PROJECT_BIN / "dvc")


def test_dvc_yaml_code_deps_follow_the_rule():
    proc = subprocess.run(
        [str(PROJECT_BIN / "python"), str(REPO / "scripts" / "dvc_deps.py"), "--check", "--repo", str(PIPELINE_REPO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"dvc.yaml deps are off; run scripts/dvc_deps.py --write:\n{proc.stdout}"


def test_rewrite_touches_only_deps_lists():
    text = (PIPELINE_REPO / "dvc.yaml").read_text()
    stages = yaml.safe_load(text)["stages"]
    wanted = {
        name: ["components/x.py", *[d for d in s.get("deps", []) if not dvc_deps.is_code(d)]]
        for name, s in stages.items()
    }
    rewritten = yaml.safe_load(dvc_deps.rewrite_deps(text, wanted))["stages"]
    for name, stage in stages.items():
        assert rewritten[name]["deps"] == wanted[name]
        assert {k: v for k, v in rewritten[name].items() if k != "deps"} == {
            k: v for k, v in stage.items() if k != "deps"
        }


@pytest.fixture(scope="module")
def committed_copy(tmp_path_factory):
    """The pipeline's code, dvc.yaml and params in a scratch DVC repo, every stage committed on dummy outputs."""
    root = tmp_path_factory.mktemp("dvc_deps")
    for rel in ("components", "pipelines"):
        shutil.copytree(PIPELINE_REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "churnguard").symlink_to("components", target_is_directory=True)  # the import name, as in the repo
    for rel in ("dvc.yaml", "params.yaml"):
        shutil.copy2(PIPELINE_REPO / rel, root / rel)
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    for stage in stages.values():
        for key in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                path = root / (entry if isinstance(entry, str) else next(iter(entry)))
                if path.exists():
                    continue
                if path.suffix:  # a file output (metrics/x.json, reports/x.html)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("{}\n")
                else:
                    path.mkdir(parents=True, exist_ok=True)
                    (path / "placeholder").write_text("x\n")
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=root, check=True, timeout=120)
    subprocess.run([DVC, "commit", "-f", "-q"], cwd=root, check=True, timeout=600)
    return root


def changed_stages(root) -> set[str]:
    proc = subprocess.run([DVC, "status", "--json"], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {
        name
        for name, changes in json.loads(proc.stdout or "{}").items()
        if any("changed deps" in c for c in changes if isinstance(c, dict))
    }


@pytest.mark.parametrize(
    "module",
    [
        "components/models/fast_trees.py",
        "components/interventions/report.py",
        "pipelines/evaluate.py",
        "components/adversarial/evaluation.py",
    ],
)
def test_touching_a_module_changes_exactly_its_importers(committed_copy, module):
    root = committed_copy
    assert changed_stages(root) == set(), "a fresh commit must be up to date"
    path = root / module
    if not path.exists():
        pytest.skip(f"{module} not in this pipeline tree")
    original = path.read_text()
    path.write_text(original + "\n# touched by the test\n")
    try:
        changed = changed_stages(root)
    finally:
        path.write_text(original)
    importers = {
        name
        for name, entry in dvc_deps.stage_entries((root / "dvc.yaml").read_text()).items()
        if path in dvc_deps.project_imports(root, entry)
    }
    assert changed == importers, (module, changed, importers)
    if module.endswith("fast_trees.py"):  # issue #15: base metrics went stale
        assert {"train_base", "evaluate"} <= changed
    if module.endswith("interventions/report.py"):  # issue #15: the report retrained the explainer
        assert "fit_counterfactual" not in changed
    if module.endswith("adversarial/evaluation.py"):
        assert "harden" not in changed


# register logs the whole params.yaml to MLflow (and names its run after data.source/seed), by design.
READS_ALL_PARAMS = {"register"}


def test_each_stage_reads_only_its_declared_params_sections():
    """Sections a stage's entry module reads (section("x"), load_params()["x"], params["x"]) are in its params:."""
    import re

    stages = yaml.safe_load((PIPELINE_REPO / "dvc.yaml").read_text())["stages"]
    entries = dvc_deps.stage_entries((PIPELINE_REPO / "dvc.yaml").read_text())
    pattern = re.compile(r'(?:section\(|load_params\(\)\[|\bparams\[)\s*["\'](\w+)["\']')
    for name, entry in entries.items():
        if name in READS_ALL_PARAMS:
            continue
        source = dvc_deps.module_file(PIPELINE_REPO, entry).read_text()
        declared = {str(p).split(".")[0] for p in stages[name].get("params") or []}
        read = set(pattern.findall(source))
        assert read <= declared, f"stage {name} reads params {sorted(read - declared)} not declared in dvc.yaml"
