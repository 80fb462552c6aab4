"""The params ``world`` section as a frozen dataclass: checked once where a world is drawn.

The generator reads the checked mapping (its many draws index it by name); this dataclass is the
section's one schema, so a typo (``contagion_strenght``) or a mistyped value stops the run naming the
key instead of drawing a world with the default silently kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from churnguard.core.config import build
from churnguard.core.vocabulary import OFFERS


@dataclass(frozen=True)
class EventsConfig:
    window_days: int = 30
    sessions_per_customer: float = 4.0
    events_per_session: float = 8.0
    chunk_customers: int = 100_000  # customers whose events are drawn (and written) at a time


@dataclass(frozen=True)
class WorldConfig:
    customers: int
    observation_date: str
    label_window_days: int = 60
    history_days: int = 1095
    cold_start_days: int = 14
    cold_start_share: float = 0.06
    referral_share: float = 0.35
    referral_homophily: float = 0.6
    same_region_referral: float = 0.7
    contagion_strength: float = 1.2
    referral_onboarding: float = 0.5
    onboarding_months: float = 6
    latent_weight: float = 0.4
    fraud_share: float = 0.02
    campaign_share: float = 0.3
    offer_effect_scale: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OFFERS, 1.0))
    events: EventsConfig = field(default_factory=EventsConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.offer_effect_scale) - set(OFFERS))
        missing = sorted(set(OFFERS) - set(self.offer_effect_scale))
        if unknown or missing:
            raise ValueError(
                f"world.offer_effect_scale: offers {unknown or ''} unknown, {missing or ''} missing; "
                f"the offers are {', '.join(OFFERS)}"
            )
        if self.customers < 1:
            raise ValueError(f"world.customers: {self.customers} (at least 1)")


def world_config(section: Mapping[str, Any], where: str = "world") -> WorldConfig:
    return build(WorldConfig, section, where)
