"""Real browser: every DAG can be triggered from Airflow's trigger form with its defaults untouched.

Airflow standalone (scripts/airflow.sh, as `make airflow` starts it) on a free loopback port; Debian's
Chromium (tests/browser.py) logs in, opens each DAG's trigger form, leaves every field as it is
(optional fields empty), submits, and the new run is checked over the REST API with the params the
form sent. "Unpause on trigger" is unticked, so the runs stay queued and nothing trains.
"""

from __future__ import annotations

import urllib.parse

import pytest

from tests.orchestration.airflow_api import Api

# dag_id -> params the form must send when nothing is touched (None = optional field left empty)
DEFAULTS = {
    "churn_training": {"source": "synthetic", "csv_path": None, "customers": None, "seed": None},
    "promote_model": {"version": None, "who": None, "features": None},
    "nightly_scenario_report": {"shards": 4, "repin": False},
}


def login(pg, base: str, user: str, password: str) -> None:
    pg.goto(base + "/")
    pg.fill("input[name=username]", user)
    pg.fill("input[name=password]", password)
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(lambda url: "/auth/login" not in url)


def submit_trigger_form(pg, base: str, dag_id: str) -> None:
    """Open the DAG's trigger form, untick "Unpause on trigger", submit with every default untouched."""
    pg.goto(f"{base}/dags/{dag_id}")
    pg.get_by_role("button", name="Trigger").first.click()
    dialog = pg.get_by_role("dialog")
    dialog.get_by_text(f"Trigger Dag - {dag_id}").wait_for()
    unpause = dialog.get_by_role("checkbox")
    if unpause.count() and unpause.first.is_checked():
        dialog.get_by_text("on trigger").click()
    submit = dialog.get_by_role("button", name="Trigger", exact=True)
    assert submit.is_enabled(), f"{dag_id}: the Trigger button is disabled with the form's defaults"
    submit.click()
    dialog.wait_for(state="hidden")


def dag_runs(api: Api, dag_id: str) -> list[dict]:
    return api.call("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns")["dag_runs"]


def test_every_dag_triggers_from_the_form_with_defaults(standalone, page):
    env_obj, port, banner, _pgid = standalone
    base = f"http://127.0.0.1:{port}"
    user, password = banner.split("login: ", 1)[1].split()[0], banner.split("login: ", 1)[1].split()[2]
    api = Api(base)
    api.login(user, password)
    login(page, base, user, password)
    for dag_id, expected in DEFAULTS.items():
        before = {r["dag_run_id"] for r in dag_runs(api, dag_id)}
        submit_trigger_form(page, base, dag_id)
        new = [r for r in dag_runs(api, dag_id) if r["dag_run_id"] not in before]
        assert len(new) == 1, f"{dag_id}: the form created {len(new)} runs"
        conf = new[0]["conf"]
        assert {k: conf.get(k) for k in expected} == expected, f"{dag_id}: form sent {conf}"
        assert api.call("GET", f"/api/v2/dags/{dag_id}")["is_paused"], f"{dag_id} was unpaused by the test"
        # Airflow is shared by the session: a queued default run must not start when a later test unpauses
        run_id = urllib.parse.quote(new[0]["dag_run_id"], safe="")
        api.call("DELETE", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns/{run_id}")


@pytest.mark.parametrize("dag_id", sorted(DEFAULTS))
def test_form_defaults_cover_the_dag_params(dag_id):
    """DEFAULTS above names every param of each DAG whose form value is checked (no silent new field)."""
    import re

    from tests.orchestration.conftest import REPO

    source = (REPO / "dags" / f"{dag_id}.py").read_text()
    params = set(re.findall(r'^\s+"(\w+)": (?:Param|optional_param|object_param)\(', source, re.M))
    assert set(DEFAULTS[dag_id]) <= params, (dag_id, params)
