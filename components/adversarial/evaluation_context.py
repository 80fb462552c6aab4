"""What the parts of evaluate_harden share: the part, the base model, the holdout, the settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnguard.adversarial.attacks import AttackSpace
from churnguard.adversarial.config import HardenConfig
from churnguard.adversarial.protection import ProtectionPart
from churnguard.adversarial.training import attackable_mask

Decide = Callable[[pd.DataFrame], np.ndarray]


def _pool(frame: pd.DataFrame, offered: np.ndarray, n: int, seed: int, mutable: list[str]) -> pd.DataFrame:
    below = frame[~offered & attackable_mask(frame, mutable)]
    return below.sample(min(n, len(below)), random_state=seed) if len(below) else below


@dataclass
class Evaluation:
    """What the parts of the evaluation share."""

    part: ProtectionPart
    base: Any
    holdout: pd.DataFrame
    cfg: HardenConfig
    seed: int
    t0: float
    log: Callable[[str], Any]

    def progress(self, what: str) -> None:
        self.log(f"{what} ({time.perf_counter() - self.t0:.1f}s, cpu {time.process_time():.1f}s)")

    def decide_base(self, adv: pd.DataFrame) -> np.ndarray:
        return self.base.predict_proba(adv) >= self.part.thresholds["base_probability"]

    def decide_hardened(self, adv: pd.DataFrame) -> np.ndarray:
        return self.part.hardened_probability(adv) >= self.part.thresholds["hardened_probability"]

    def space(self, offered: np.ndarray) -> AttackSpace:
        pool = _pool(self.holdout, offered, self.cfg.evaluate.customers, self.seed, self.part.bounds.mutable)
        return AttackSpace.build(pool, self.part.encoder, self.part.bounds)
