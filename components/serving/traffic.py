"""Who answers a predict request, and what is recorded about it: champion only, shadow, or A/B.

``serving.challenger.mode`` (:class:`~churnguard.serving.config.ChallengerSettings`):

- ``none``: the champion answers; per-arm metrics count it as the champion arm.
- ``shadow``: the champion answers; after scoring, the request's merged rows go to the shadow
  process (:mod:`churnguard.serving.shadow`), which scores them with the challenger and logs both.
- ``ab``: each customer's arm is fixed by a hash of its id (:func:`~churnguard.serving.arms.arm_of`);
  challenger customers are answered by the challenger (followed by its own holder in this process,
  digest-checked like the champion). Every answered customer's score goes to the arm log.

Only ``/v1/predict`` is split or shadowed; explain and interventions are always the champion's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from churnguard.core import columns
from churnguard.serving.arms import (
    CHALLENGER,
    CHAMPION,
    ArmLogWriter,
    ArmName,
    arm_of,
    log_records,
    version_number,
)
from churnguard.serving.config import ServingConfig
from churnguard.serving.holder import LoadedModel, ModelHolder, load_version
from churnguard.serving.shadow import ShadowScorer, WorkerSettings

log = logging.getLogger("churnguard.serving")


@dataclass(frozen=True)
class Arm:
    """The customers of one request (positions in the request) that one model answers."""

    name: ArmName
    model: LoadedModel
    positions: tuple[int, ...]


class Traffic:
    def __init__(self, config: ServingConfig, metrics: Any, tracking_uri: str):
        self.settings = config.challenger
        self.mode = self.settings.mode
        self.metrics = metrics
        self.challenger: ModelHolder | None = None
        self.shadow: ShadowScorer | None = None
        self.writer: ArmLogWriter | None = None
        if self.mode == "ab":
            self.challenger = ModelHolder(
                tracking_uri,
                config.model_name,
                self.settings.alias,
                self.settings.poll_interval_s,
                loader=partial(
                    load_version, require_digest=config.integrity.require_digest, signing_key=config.signing_key
                ),
                on_swap=lambda old, new: metrics.challenger_version.set(version_number(new.version)),
                on_clear=lambda: metrics.challenger_version.set(0),
                optional=True,
            )
            self.writer = ArmLogWriter(config.arm_log_dir)
        elif self.mode == "shadow":
            self.shadow = ShadowScorer(_worker_settings(config, tracking_uri), self.settings.queue_size, metrics)

    def start(self) -> None:
        if self.challenger is not None:
            self.challenger.start(wait=True)
        if self.shadow is not None:
            self.shadow.start()

    def stop(self) -> None:
        if self.challenger is not None:
            self.challenger.stop()
        if self.shadow is not None:
            self.shadow.stop()
        if self.writer is not None:
            self.writer.close()

    def assign(self, champion: LoadedModel, ids: list[str]) -> list[Arm]:
        """The arms answering this request: one arm unless A/B splits its customers."""
        everyone = tuple(range(len(ids)))
        challenger = self.challenger.current if self.challenger is not None else None
        if challenger is None or challenger.version == champion.version:
            return [Arm(CHAMPION, champion, everyone)]
        share, salt = self.settings.ab_share, self.settings.ab_salt
        picked = [i for i, cid in enumerate(ids) if arm_of(cid, share, salt) == CHALLENGER]
        if not picked:
            return [Arm(CHAMPION, champion, everyone)]
        if len(picked) == len(ids):
            return [Arm(CHALLENGER, challenger, everyone)]
        rest = tuple(sorted(set(everyone) - set(picked)))
        return [Arm(CHAMPION, champion, rest), Arm(CHALLENGER, challenger, tuple(picked))]

    def record(
        self,
        champion: LoadedModel,
        arms: list[Arm],
        ids: list[str],
        rows: Any,
        scores: dict[str, np.ndarray],
        seconds: float,
    ) -> None:
        """After answering: per-arm metrics, then the A/B log or the shadow hand-off."""
        probability = np.asarray(scores["churn_probability"], dtype=float)
        for arm in arms:
            served = probability[list(arm.positions)] if len(arms) > 1 else probability
            self.metrics.observe_served(arm.name, arm.model.version, served, seconds)
        challenger = self.challenger.current if self.challenger is not None else None
        if self.writer is not None and challenger is not None:
            served_arm = [CHAMPION] * len(ids)
            for arm in arms:
                for i in arm.positions:
                    served_arm[i] = arm.name
            probs = {
                name: [float(probability[i]) if served_arm[i] == name else None for i in range(len(ids))]
                for name in (CHAMPION, CHALLENGER)
            }
            versions: dict[ArmName, str | None] = {CHAMPION: champion.version, CHALLENGER: challenger.version}
            self.writer.write(log_records(ids, "ab", served_arm, versions, probs, time.time()))
        elif self.shadow is not None:
            self.shadow.submit(ids, champion.version, probability.tolist(), rows.records)

    def info(self) -> dict[str, Any]:
        """The challenger's state for /health."""
        out: dict[str, Any] = {"mode": self.mode, "alias": self.settings.alias, "version": None}
        if self.challenger is not None:
            current = self.challenger.current
            out.update(version=current.version if current else None, share=self.settings.ab_share)
            out["last_error"] = self.challenger.last_error
        if self.shadow is not None:
            s = self.shadow.status
            out.update(version=s.version, state=s.state, scored_rows=s.scored_rows, dropped=s.dropped)
            out["last_error"] = s.last_error
        return out


def merge_arm_scores(n: int, parts: list[tuple[tuple[int, ...], dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """One request's score columns from each arm's rows; a column an arm lacks is None there."""
    names = list(dict.fromkeys(k for _, scores in parts for k in scores))
    out: dict[str, np.ndarray] = {}
    for name in names:
        pieces = [scores.get(name) for _, scores in parts]
        kinds = {p.dtype for p in pieces if p is not None}
        all_float = kinds == {np.dtype(float)} and all(p is not None for p in pieces)
        column = np.full(n, np.nan) if all_float else np.full(n, None, object)
        for (positions, _), piece in zip(parts, pieces):
            if piece is not None:
                column[list(positions)] = piece
        out[name] = column
    return out


def take_rows(cols: columns.Columns, positions: tuple[int, ...]) -> columns.Columns:
    return columns.take(cols, np.asarray(positions, dtype=int))


def _worker_settings(config: ServingConfig, tracking_uri: str) -> WorkerSettings:
    return WorkerSettings(
        tracking_uri=tracking_uri,
        model_name=config.model_name,
        alias=config.challenger.alias,
        poll_interval_s=config.challenger.poll_interval_s,
        log_dir=str(config.arm_log_dir),
        require_digest=config.integrity.require_digest,
        signing_key=config.signing_key,
        math_threads=config.math_threads,
    )
