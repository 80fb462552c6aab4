"""The built wheel, installed in a fresh virtual environment (no editable install, no checkout on the
path), imports `churnguard` from that environment, loads the champion of the test registry and runs
every example of docs/python_api.md.

Dependencies are not installed again (2 GB): the fresh environment's ``.pth`` file adds the project
environment's site-packages as a plain path entry. A path added by a ``.pth`` is not a site directory,
so that environment's own ``.pth`` files (the editable install's finder) are not processed, and the
only ``churnguard`` on the path is the wheel's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.api.conftest import World
from tests.workspace import REPO

pytestmark = pytest.mark.slow


def build_wheel(into: Path) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the package sources (the checkout's
    build/ and egg-info are left alone)."""
    src = into / "src"
    src.mkdir()
    shutil.copy2(REPO / "pyproject.toml", src)
    shutil.copytree(REPO / "components", src / "components", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "churnguard").symlink_to("components")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(into)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=into)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = into.glob("churnguard-*.whl")
    return wheel


def fresh_venv(root: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        str(wheel),
    ]
    proc = subprocess.run(install, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return site


def test_wheel_in_a_fresh_venv_runs_the_doc(api_world: World, server: str, tmp_path):
    wheel = build_wheel(tmp_path)
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"churnguard", wheel.name.split("-py3")[0] + ".dist-info"}, tops  # no components/, pipelines/
    site = fresh_venv(tmp_path / "venv", wheel)
    python = tmp_path / "venv" / "bin" / "python"
    env = {k: v for k, v in api_world.env().items() if k != "PYTHONPATH"}
    env["CHURNGUARD_URL"] = server
    shutil.copy2(REPO / "tests" / "api" / "run_doc.py", tmp_path / "run_doc.py")  # run from outside the checkout
    leaks = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u; print([n for n in ('components', 'pipelines', 'tests') if u.find_spec(n)])",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert leaks.stdout.strip() == "[]", leaks.stdout + leaks.stderr
    proc = subprocess.run(
        [python, str(tmp_path / "run_doc.py"), str(REPO / "docs" / "python_api.md"), "--expect-under", str(site)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    print(proc.stdout[-2000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"from {site}" in proc.stdout and "blocks of python_api.md ran" in proc.stdout
