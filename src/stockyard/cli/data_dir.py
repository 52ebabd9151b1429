"""The options every server-side command shares: the data directory and the settings file.

`stockyard serve`, `stockyard channel ...` and `stockyard token ...` all work on one data
directory (`--data`, `STOCKYARD_DATA_DIR`, or `data_dir` in the settings file) and its catalog, so
tokens and channels made with the CLI are the server's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockyard.config import Settings

DATA_HELP = "Data directory (catalog and channels). Default: ./stockyard-data."
CONFIG_HELP = "Settings file (TOML). Default: $STOCKYARD_CONFIG."


def load_cli_settings(config: Path | None, data: Path | None, **flags: Any) -> Settings:
    from stockyard.config import load_settings

    overrides = {"data_dir": str(data) if data is not None else None, **flags}
    return load_settings(config, overrides=overrides)
