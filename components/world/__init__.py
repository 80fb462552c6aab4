"""The embedded synthetic churn world (default data source) and its ground truth."""

from churnguard.world.generator import EVENT_SCHEMA, WorldSummary, generate_world

__all__ = ["EVENT_SCHEMA", "WorldSummary", "generate_world"]
