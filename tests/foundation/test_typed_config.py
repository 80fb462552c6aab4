"""Typed params sections (churnguard.core.config.build): unknown, missing and mistyped keys are named."""

from __future__ import annotations

from dataclasses import dataclass, field
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
