"""`.venv/bin/dvc repro` and `.venv/bin/dvc exp run --set-param ...` work from a fresh clone with nothing
activated: stage commands call the venv's interpreter by a repo-relative path, so a PATH without any
`python` (here: only git and sh) still runs the project's interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from tests.orchestration.conftest import PIPELINE_REPO, REPO

pytestmark = pytest.mark.integration  # runs dvc and the pipeline in a copied repository


@pytest.fixture
def clone(tmp_path):
    root = tmp_path / "clone"
    for rel in ("components", "pipelines"):
        shutil.copytree(PIPELINE_REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "churnguard").symlink_to("components", target_is_directory=True)  # the import name, as in the repo
    shutil.copy2(PIPELINE_REPO / "dvc.yaml", root / "dvc.yaml")
    params = yaml.safe_load((PIPELINE_REPO / "params.yaml").read_text())
    params["world"]["customers"] = 400
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data" / "external").mkdir(parents=True)
    (root / "data" / "external" / ".keep").write_text("")
    (root / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)  # what `make venv` leaves in a clone
    (root / ".gitignore").write_text("/.venv\n/data/raw\n/data/truth\n")
    # PATH holds only the tools DVC itself calls (git, sh): no `python`, no `python3`, nothing activated.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "LANG": "C.UTF-8",
    }
    assert shutil.which("python", path=env["PATH"]) is None and shutil.which("python3", path=env["PATH"]) is None
    for cmd in (
        ["git", "init", "-q"],
        [".venv/bin/dvc", "init", "-q"],
        [".venv/bin/dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "clone"],
    ):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True, timeout=300)
    return root, env


def test_dvc_repro_and_exp_run_need_no_activated_venv(clone):
    root, env = clone
    repro = subprocess.run(
        [".venv/bin/dvc", "repro", "ingest"], cwd=root, env=env, capture_output=True, text=True, timeout=900
    )
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    exp = subprocess.run(
        [".venv/bin/dvc", "exp", "run", "--set-param", "world.customers=450", "ingest"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert exp.returncode == 0, exp.stdout[-3000:] + exp.stderr[-3000:]
    shown = subprocess.run(
        [".venv/bin/dvc", "exp", "show", "--json"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert shown.returncode == 0 and "450" in json.dumps(json.loads(shown.stdout)), shown.stdout[-2000:]


@pytest.fixture
def tiny_clone(clone):
    """The clone on tests/tiny_params.yaml, committed (with tracked metrics/, as in the repository)."""
    from tests.workspace import deep_merge

    root, env = clone
    params = deep_merge(
        yaml.safe_load((root / "params.yaml").read_text()),
        yaml.safe_load((PIPELINE_REPO / "tests" / "tiny_params.yaml").read_text()),
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    gitignore = (PIPELINE_REPO / ".gitignore").read_text()
    (root / ".gitignore").write_text(gitignore + "/.venv\n/mlflow.db\n/mlartifacts/\n")
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True, timeout=120)
    subprocess.run(["git", "commit", "-qm", "tiny"], cwd=root, env=env, check=True, timeout=120)
    return root, dict(
        env,
        CHURNGUARD_HOME=str(root),
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        CHURNGUARD_ARTIFACT_ROOT=(root / "mlartifacts").as_uri(),
    )


def test_make_run_twice_leaves_git_status_clean(tiny_clone):
    """`churnguard run`, commit what it wrote, run again: nothing reruns and `git status` stays clean."""
    root, env = tiny_clone

    def churnguard_run() -> str:
        proc = subprocess.run(
            [str(REPO / ".venv" / "bin" / "churnguard"), "run"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return proc.stdout

    first = churnguard_run()
    stages = len(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])
    assert f"[{stages}/{stages}]" in first and "pipeline finished" in first, first[-2000:]
    assert list((root / "metrics" / "timings").glob("*.json")), "stages with timings write metrics/timings/"
    changed = subprocess.run(["git", "status", "--porcelain"], cwd=root, env=env, capture_output=True, text=True)
    assert "timings" not in changed.stdout, changed.stdout  # git-ignored: never a diff
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True, timeout=120)
    subprocess.run(["git", "commit", "-qm", "first run"], cwd=root, env=env, check=True, timeout=120)
    second = churnguard_run()
    assert f"0 stage(s) ran (none), {stages} up to date" in second, second[-2000:]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, env=env, capture_output=True, text=True)
    assert status.stdout == "", status.stdout
