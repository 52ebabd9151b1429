"""The `Catalog`: what each channel holds. One engine shared by cohesive parts, each in its own
module; every method is one transaction."""

from __future__ import annotations

from sqlalchemy import Engine

from stockyard.catalog.artifacts import ArtifactsPart
from stockyard.catalog.browse import BrowsePart
from stockyard.catalog.channels import ChannelsPart
from stockyard.catalog.db import create_catalog_engine
from stockyard.catalog.derived import DerivedPart
from stockyard.catalog.history import AsOfPart, HistoryPart
from stockyard.catalog.jobs import JobsPart
from stockyard.catalog.publishing import PublishingPart
from stockyard.catalog.tokens import TokensPart
from stockyard.catalog.upload_queue import UploadQueuePart


class Catalog(
    ChannelsPart,
    ArtifactsPart,
    PublishingPart,
    DerivedPart,
    TokensPart,
    BrowsePart,
    HistoryPart,
    AsOfPart,
    JobsPart,
    UploadQueuePart,
):
    """Channels and policy (`channels`), artifacts and commits (`artifacts`), publish state and
    patch results (`publishing`), shard/channeldata/published-file caches (`derived`), API
    tokens (`tokens`), read-only browsing for the JSON API and web UI (`browse`), patch-set
    versions and snapshots (`history`), background jobs (`jobs`), uploads waiting for a
    commit on any replica (`upload_queue`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = (  # see CatalogPart.reader
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @classmethod
    def open(cls, url: str) -> Catalog:
        return cls(create_catalog_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def notify_published(self, channel_name: str) -> None:
        """After a publish: tell this process's listeners and every replica (PostgreSQL
        NOTIFY) that `channel_name`'s files changed (see catalog/coordination.py)."""
        from stockyard.catalog.coordination import notify_published

        notify_published(self.engine, channel_name)
