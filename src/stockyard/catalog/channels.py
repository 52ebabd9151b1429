"""Channels, their stored policy, and the dirty flag of their channel-level files."""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection, delete, select, update

from stockyard.catalog.base import CatalogPart, insert_ignore, now_ms
from stockyard.catalog.rows import Channel
from stockyard.catalog.schema import (
    channel_policies,
    channel_state,
    channel_trust,
    channels,
    metadata,
)
from stockyard.types.errors import Conflict, NotFound
from stockyard.types.identifiers import check_channel_name
from stockyard.types.policy import ChannelPolicy, decode_policy


class ChannelsPart(CatalogPart):
    def create_channel(
        self, name: str, *, private: bool = False, description: str | None = None
    ) -> Channel:
        check_channel_name(name)
        with self.engine.begin() as conn:
            if conn.execute(select(channels.c.id).where(channels.c.name == name)).first():
                raise Conflict(f"channel {name!r} already exists")
            created = now_ms()
            result = conn.execute(
                channels.insert().values(
                    name=name, private=private, description=description, created_at=created
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return Channel(int(key[0]), name, private, description, created)

    def ensure_channel(self, name: str, *, private: bool = False) -> Channel:
        existing = self.get_channel(name)
        if existing is not None:
            return existing
        try:
            return self.create_channel(name, private=private)
        except Conflict:  # created concurrently
            return self.require_channel(name)

    def get_channel(self, name: str) -> Channel | None:
        with self.reader.connect() as conn:
            row = conn.execute(select(channels).where(channels.c.name == name)).first()
        return Channel(*row) if row else None

    def require_channel(self, name: str) -> Channel:
        channel = self.get_channel(name)
        if channel is None:
            raise NotFound(f"channel {name!r} does not exist")
        return channel

    def list_channels(self) -> list[Channel]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(channels).order_by(channels.c.name)).all()
        return [Channel(*row) for row in rows]

    def label_channels(self, name: str) -> list[Channel]:
        """The channels holding `name`'s labels (`name/label/<label>`), by name."""
        prefix = f"{name}/label/"
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(channels)
                .where(channels.c.name.startswith(prefix, autoescape=True))
                .order_by(channels.c.name)
            ).all()
        return [Channel(*row) for row in rows]

    def delete_channel(self, channel_id: int) -> None:
        """The channel and everything the catalog holds of it."""
        # Explicit deletes from every table keyed by channel_id (dependents first): SQLite
        # enforces ON DELETE CASCADE only with foreign keys on, and a PostgreSQL catalog made
        # elsewhere may lack them; the result must not depend on it.
        dependent = [t for t in reversed(metadata.sorted_tables) if "channel_id" in t.c]
        with self.engine.begin() as conn:
            for table in dependent:
                conn.execute(table.delete().where(table.c.channel_id == channel_id))
            conn.execute(channels.delete().where(channels.c.id == channel_id))

    def set_channel_private(self, channel_id: int, private: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(channels).where(channels.c.id == channel_id).values(private=private)
            )

    # --- policy -------------------------------------------------------------------------------

    def channel_policy(self, channel_id: int) -> ChannelPolicy:
        """The channel's stored policy; the defaults when none was ever stored."""
        with self.reader.connect() as conn:
            row = conn.execute(
                select(channel_policies.c.policy).where(channel_policies.c.channel_id == channel_id)
            ).first()
        return decode_policy(bytes(row[0])) if row else ChannelPolicy()

    def set_channel_policy(self, channel_id: int, policy: ChannelPolicy) -> None:
        encoded = msgspec.json.encode(policy)
        with self.engine.begin() as conn:
            conn.execute(
                channel_policies.delete().where(channel_policies.c.channel_id == channel_id)
            )
            conn.execute(
                channel_policies.insert().values(
                    channel_id=channel_id, policy=encoded, updated_at=now_ms()
                )
            )

    # --- channel-level files ------------------------------------------------------------------

    def channel_files_dirty(self, channel_id: int) -> bool:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(channel_state.c.files_dirty).where(channel_state.c.channel_id == channel_id)
            ).first()
        return bool(row[0]) if row else False

    def set_channel_files_dirty(self, channel_id: int, dirty: bool) -> None:
        with self.engine.begin() as conn:
            write_channel_files_dirty(conn, channel_id, dirty)

    def trust_stamp(self, channel_id: int) -> str | None:
        """The stamp of a bucket channel's trust files (None: the channel is not signed)."""
        with self.reader.connect() as conn:
            row = conn.execute(
                select(channel_trust.c.stamp).where(channel_trust.c.channel_id == channel_id)
            ).first()
        return row[0] if row else None

    def set_trust_stamp(self, channel_id: int, stamp: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(channel_trust).where(channel_trust.c.channel_id == channel_id))
            conn.execute(channel_trust.insert().values(channel_id=channel_id, stamp=stamp))


def write_channel_files_dirty(conn: Connection, channel_id: int, dirty: bool) -> None:
    """Set the flag inside the caller's transaction (the commit sets it with its rows)."""
    conn.execute(insert_ignore(conn.dialect.name, channel_state).values(channel_id=channel_id))
    conn.execute(
        update(channel_state)
        .where(channel_state.c.channel_id == channel_id)
        .values(files_dirty=dirty)
    )
