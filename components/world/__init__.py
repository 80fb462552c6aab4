"""The embedded synthetic churn world (default data source) and its ground truth."""
from churnguard.world.generator import ARMS, EVENT_SCHEMA, OFFERS, WorldSummary, generate_world

__all__ = ["ARMS", "EVENT_SCHEMA", "OFFERS", "WorldSummary", "generate_world"]
