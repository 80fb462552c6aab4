"""Interventions fixtures: a private workspace where one offer has no true effect."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

ZERO_OFFER = "discount_10"
STAGES = ("ingest", "validate", "features", "train_base", "fit_counterfactual", "sweep", "evaluate_interventions")


@pytest.fixture(scope="session")
def iv_workspace(tmp_path_factory) -> Workspace:
    """Tiny workspace run through the stages this area needs (dvc.yaml entry points, tiny params)."""
    ws = Workspace.create(tmp_path_factory.mktemp("iv_ws"))
    for stage in STAGES:
        ws.run_stage(stage)
    return ws


@pytest.fixture(scope="session")
def zero_effect_workspace(tmp_path_factory) -> Workspace:
    """Tiny world where ``discount_10`` does nothing, with a larger campaign for statistical power."""
    ws = Workspace.create(
        tmp_path_factory.mktemp("iv_zero"),
        {
            "world": {"customers": 5000, "campaign_share": 0.9, "offer_effect_scale": {ZERO_OFFER: 0.0}},
            "fit_counterfactual": {"explain_sample": 30},
        },
    )
    for stage in STAGES:
        ws.run_stage(stage)
    return ws
