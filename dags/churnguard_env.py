"""Where the project lives and what every churnguard task's environment holds: one place for the DAGs.

Not a DAG (the DAG processor finds none here). Airflow 3 puts the DAG bundle (this folder) on ``sys.path``, so the DAG
files ``import churnguard_env``; nothing heavy is imported (the DAG processor parses often).

Environment of the Airflow processes (defaults in brackets): ``CHURNGUARD_REPO`` [the folder above
dags/], ``CHURNGUARD_PYTHON_BIN`` [<repo>/.venv/bin: the project's interpreter, not Airflow's],
``CHURNGUARD_HOME`` [the repository: the workspace whose data and features tasks read],
``MLFLOW_TRACKING_URI`` [sqlite <repo>/mlflow/mlflow.db], ``CHURNGUARD_ARTIFACT_ROOT``
[<repo>/mlflow/artifacts], ``CHURNGUARD_REPORTS_DIR`` [<home>/reports].
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(os.environ.get("CHURNGUARD_REPO") or Path(__file__).resolve().parents[1])
PYTHON_BIN = Path(os.environ.get("CHURNGUARD_PYTHON_BIN") or REPO / ".venv" / "bin")
HOME = Path(os.environ.get("CHURNGUARD_HOME") or REPO)
REPORTS = Path(os.environ.get("CHURNGUARD_REPORTS_DIR") or HOME / "reports")
MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO / 'mlflow' / 'mlflow.db'}"
ARTIFACT_ROOT = os.environ.get("CHURNGUARD_ARTIFACT_ROOT") or (REPO / "mlflow" / "artifacts").as_uri()


def task_env(**extra: str) -> dict[str, str]:
    """A task's environment: the project's interpreter first on PATH, the registry, the workspace, and no
    carriage-return progress bars in task logs. ``extra`` adds or overrides entries."""
    return {
        "PATH": f"{PYTHON_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "CHURNGUARD_HOME": str(HOME),
        "MLFLOW_TRACKING_URI": MLFLOW_URI,
        "CHURNGUARD_ARTIFACT_ROOT": ARTIFACT_ROOT,
        "TQDM_DISABLE": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
