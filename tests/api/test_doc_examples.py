"""Every example of docs/python_api.md runs (in this process, on the tiny world and its test registry)."""

from __future__ import annotations

from tests.api.conftest import World
from tests.api.run_doc import blocks, run
from tests.workspace import REPO

DOC = REPO / "docs" / "python_api.md"


def test_doc_has_examples_of_every_call():
    code = "\n".join(c for _, c in blocks(DOC))
    calls = ["load(", "connect(", ".predict(", ".predict_one(", ".explain(", ".interventions(", ".analyze_scenario("]
    calls += [".protected_predict(", ".predict_new_customer(", ".online_features(", ".health("]
    assert [c for c in calls if c not in code] == []


def test_doc_examples_run(api_world: World, server: str, monkeypatch):
    import churnguard.core.config as config

    for key, value in api_world.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHURNGUARD_URL", server)
    monkeypatch.setattr(config, "ROOT", api_world.root)  # CHURNGUARD_HOME, as a fresh process would read it
    namespace = run(DOC)
    assert namespace["health"].status == "ok"
    assert namespace["replay"].applied == 2
