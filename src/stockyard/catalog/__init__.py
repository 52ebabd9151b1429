"""What each channel holds: artifacts, records, indexed timestamps, shards, published files.

SQLAlchemy Core; SQLite by default, PostgreSQL for scale.
"""

from stockyard.catalog.db import CatalogError, sqlite_url
from stockyard.catalog.store import (
    ArtifactRow,
    Catalog,
    Channel,
    FileState,
    PublishRow,
    SubdirState,
)

__all__ = [
    "ArtifactRow",
    "Catalog",
    "CatalogError",
    "Channel",
    "FileState",
    "PublishRow",
    "SubdirState",
    "sqlite_url",
]
