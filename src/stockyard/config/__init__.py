"""Stockyard's one typed settings object: TOML file, then `STOCKYARD_*` variables, then flags."""

from stockyard.config.settings import (
    ENV_PREFIX,
    Settings,
    load_settings,
    parse_duration,
    parse_size,
)

__all__ = ["ENV_PREFIX", "Settings", "load_settings", "parse_duration", "parse_size"]
