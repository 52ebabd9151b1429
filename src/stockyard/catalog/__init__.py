"""What each channel holds: artifacts, records, indexed timestamps, policy, shards, published
files. SQLAlchemy Core; SQLite by default, PostgreSQL for scale.
"""

from stockyard.catalog.base import now_ms
from stockyard.catalog.browse import ArtifactDetail, ChannelStats, PackageSummary
from stockyard.catalog.core import Catalog
from stockyard.catalog.db import CatalogError, sqlite_url
from stockyard.catalog.history import PatchSetRow, SnapshotRow
from stockyard.catalog.jobs import JOB_STATES, JobRow, JobState, NewJob
from stockyard.catalog.rows import (
    ArtifactRow,
    Channel,
    FileState,
    Move,
    NameSummaryRow,
    PublishRow,
    SubdirChanges,
    SubdirState,
)
from stockyard.catalog.tokens import NewToken, Scope, TokenInfo

__all__ = [
    "JOB_STATES",
    "ArtifactDetail",
    "ArtifactRow",
    "Catalog",
    "CatalogError",
    "Channel",
    "ChannelStats",
    "FileState",
    "JobRow",
    "JobState",
    "Move",
    "NameSummaryRow",
    "NewJob",
    "NewToken",
    "PackageSummary",
    "PatchSetRow",
    "PublishRow",
    "Scope",
    "SnapshotRow",
    "SubdirChanges",
    "SubdirState",
    "TokenInfo",
    "now_ms",
    "sqlite_url",
]
