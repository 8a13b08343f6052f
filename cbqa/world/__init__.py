"""The embedded toy world: fictional people, organisations and towns, an encyclopedia-style corpus about
them, and QA splits whose test-train overlap categories are known by construction."""

from cbqa.world.config import CATEGORIES, DEFAULT_RELATIONS, RELATIONS, WorldConfig
from cbqa.world.world import GoldLabel, World, generate_world
from cbqa.world.write import write_world

__all__ = [
    "CATEGORIES",
    "DEFAULT_RELATIONS",
    "RELATIONS",
    "GoldLabel",
    "World",
    "WorldConfig",
    "generate_world",
    "write_world",
]
