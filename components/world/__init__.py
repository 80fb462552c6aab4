"""The embedded synthetic churn world (default data source) and its ground truth."""

from churnguard.world.events import EVENT_SCHEMA
from churnguard.world.generator import draw_world, generate_world
from churnguard.world.tables import World, WorldSummary, write_world

__all__ = ["EVENT_SCHEMA", "World", "WorldSummary", "draw_world", "generate_world", "write_world"]
