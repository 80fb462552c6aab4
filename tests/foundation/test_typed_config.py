"""Typed params sections (churnguard.core.config.build): unknown, missing and mistyped keys are named."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from churnguard.core.config import ConfigError, build


@dataclass(frozen=True)
class Trees:
    max_iter: int = 300
    learning_rate: float = 0.06


@dataclass(frozen=True)
class Stage:
    folds: int
    candidates: tuple[str, ...] = ("logistic_regression",)
    trees: Trees = field(default_factory=Trees)
    weights: dict[str, float] | None = None
    device: Literal["cpu", "cuda"] = "cpu"


def test_builds_nested_sections_with_defaults_and_coercion():
    cfg = build(Stage, {"folds": 3, "candidates": ["a", "b"], "trees": {"max_iter": 10}, "weights": {"x": 1}}, "s")
    assert cfg == Stage(folds=3, candidates=("a", "b"), trees=Trees(max_iter=10), weights={"x": 1.0})
    assert isinstance(cfg.weights["x"], float)
    with pytest.raises(AttributeError):
        cfg.folds = 4  # frozen: built once at the start of a stage, never edited


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fold": 3}, r"s: unknown key 'fold' \(did you mean 'folds'\?\)"),
        ({}, r"s\.folds: required setting is missing"),
        ({"folds": "three"}, r"s\.folds: expected an integer, got 'three'"),
        ({"folds": 2.5}, r"s\.folds: expected an integer"),
        ({"folds": True}, r"s\.folds: expected an integer"),
        (
            {"folds": 3, "trees": {"learning_rat": 0.1}},
            r"s\.trees: unknown key 'learning_rat' \(did you mean 'learning_rate'",
        ),
        ({"folds": 3, "weights": {"x": "heavy"}}, r"s\.weights\.x: expected a number"),
        ({"folds": 3, "device": "tpu"}, r"s\.device: 'tpu' is not one of 'cpu', 'cuda'"),
        ({"folds": 3, "candidates": "a"}, r"s\.candidates: expected a list"),
        ([1, 2], r"s: expected a mapping"),
    ],
)
def test_rejects_what_does_not_fit_and_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        build(Stage, data, "s")


def test_every_params_section_with_a_dataclass_accepts_the_committed_params():
    """The committed params.yaml and the tiny test overrides fit their sections' schemas."""
    import yaml

    from churnguard.core.config import deep_merge
    from churnguard.mlops.config import register_config
    from churnguard.world.config import world_config

    repo = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    tiny = deep_merge(params, yaml.safe_load((repo / "tests" / "tiny_params.yaml").read_text()))
    for p in (params, tiny):
        assert world_config(p["world"]).customers == p["world"]["customers"]
        assert register_config(p["register"]).gates == p["register"]["gates"]


def test_world_and_register_sections_name_what_is_wrong():
    from churnguard.mlops.config import register_config
    from churnguard.world.config import world_config

    with pytest.raises(ConfigError, match=r"world: unknown key 'contagion_strenght' \(did you mean 'contagion_str"):
        world_config({"customers": 10, "observation_date": "2026-06-30", "contagion_strenght": 0})
    with pytest.raises(ConfigError, match=r"world\.events\.window_days: expected an integer"):
        world_config({"customers": 10, "observation_date": "2026-06-30", "events": {"window_days": "a month"}})
    with pytest.raises(ValueError, match=r"world\.offer_effect_scale: offers \['discount_50'\] unknown"):
        world_config({"customers": 10, "observation_date": "2026-06-30", "offer_effect_scale": {"discount_50": 1}})
    with pytest.raises(ValueError, match=r"register\.gates: \['roc_auc'\]"):
        register_config({"gates": {"roc_auc": 0.7}})
