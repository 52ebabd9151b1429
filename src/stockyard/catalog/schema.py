"""Catalog tables (SQLAlchemy Core). One `metadata`; services that own extra tables (tokens,
uploads) declare them on this same object so `create_all` makes everything at once.

Record bytes are stored *encoded* (compact sorted JSON, exactly as they appear in repodata.json)
so publishing joins cached bytes instead of re-encoding every record.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Bumped when the tables change; stored in `catalog_info`. Older catalogs are upgraded in place
#: by the statements in `MIGRATIONS` (version -> statements that bring version-1 to version).
SCHEMA_VERSION = 12

MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE subdirs ADD COLUMN scan_signature VARCHAR(64)",),
    3: (
        "CREATE INDEX IF NOT EXISTS ix_artifacts_origin ON artifacts (channel_id, subdir, origin)",
    ),
    # 4: the channel_policies, channel_state and pending_moves tables (made by create_all).
    5: (
        "ALTER TABLE artifacts ADD COLUMN yanked BOOLEAN NOT NULL DEFAULT FALSE",
        "CREATE INDEX IF NOT EXISTS ix_artifacts_yanked ON artifacts (channel_id, subdir, yanked)",
    ),
    # 6: the patch_sets and snapshots tables (made by create_all).
    # 7: the artifact_history and patch_set_log tables (made by create_all).
    8: (
        "CREATE INDEX IF NOT EXISTS ix_artifacts_indexed "
        "ON artifacts (channel_id, subdir, indexed_timestamp)",
    ),
    # 9: the jobs table (made by create_all).
    # 10: PostgreSQL only (`POSTGRESQL_MIGRATIONS`).
    # 11: the upload_queue table (made by create_all).
    # 12: the channel_trust table (made by create_all).
}

#: Like `MIGRATIONS`, run only on PostgreSQL (after that version's common statements).
POSTGRESQL_MIGRATIONS: dict[int, tuple[str, ...]] = {
    10: (
        "CREATE INDEX IF NOT EXISTS ix_artifacts_filename_c "
        'ON artifacts (channel_id, subdir, (filename COLLATE "C"))',
    ),
}

catalog_info = Table(
    "catalog_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(1024), nullable=False),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("private", Boolean, nullable=False, default=False),
    Column("description", String(4096), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("subdir", String(32), nullable=False),
    Column("filename", String(256), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("build", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    #: CEP 47: set when first indexed, never overwritten (kept across re-uploads of a filename).
    Column("indexed_timestamp", BigInteger, nullable=False),
    #: The record as read from the artifact (repodata_from_packages.json), encoded JSON.
    Column("record", LargeBinary, nullable=False),
    #: The patched record, encoded JSON; NULL when patches leave it unchanged.
    Column("patched", LargeBinary, nullable=True),
    #: 0 published as is / patched, 1 removed by a patch (`remove`).
    Column("patch_removed", Boolean, nullable=False, default=False),
    Column("run_exports", LargeBinary, nullable=True),
    Column("about", LargeBinary, nullable=True),
    Column("path_flags", LargeBinary, nullable=True),
    Column("icon_sha256", String(64), nullable=True),
    #: "local": a file in the channel's storage, compared by change detection; "mirror": a record
    #: ingested from upstream repodata, whose artifact lives elsewhere (never seen as removed).
    Column("origin", String(16), nullable=False, default="local"),
    #: Yanked by an operator: listed, revoked (conda-index `revoke`: never chosen by a solver).
    Column("yanked", Boolean, nullable=False, default=False),
    UniqueConstraint("channel_id", "subdir", "filename", name="uq_artifact_path"),
)
Index("ix_artifacts_name", artifacts.c.channel_id, artifacts.c.subdir, artifacts.c.name)
#: Change detection reads only the local files of a subdir, which may hold millions of mirrored
#: records.
Index("ix_artifacts_origin", artifacts.c.channel_id, artifacts.c.subdir, artifacts.c.origin)
Index("ix_artifacts_channel_name", artifacts.c.channel_id, artifacts.c.name)
Index("ix_artifacts_yanked", artifacts.c.channel_id, artifacts.c.subdir, artifacts.c.yanked)
#: Publishing reads a subdir's rows ordered by filename in Python string order: on PostgreSQL
#: `ORDER BY filename COLLATE "C"` (catalog/publishing.py), which the unique constraint's index
#: (the database's collation) cannot give, so without this index every publish sorted the whole
#: subdir (records included: on disk past a few hundred thousand rows). SQLite compares bytes
#: already (BINARY), so the unique index serves it there.
Index(
    "ix_artifacts_filename_c",
    artifacts.c.channel_id,
    artifacts.c.subdir,
    artifacts.c.filename.collate("C"),
).ddl_if(dialect="postgresql")
#: As-of views ask what had arrived by a time (stockyard.timetravel).
Index(
    "ix_artifacts_indexed",
    artifacts.c.channel_id,
    artifacts.c.subdir,
    artifacts.c.indexed_timestamp,
)

#: Per channel: its stored policy (`stockyard.types.policy.ChannelPolicy`, encoded JSON). Every way
#: into the channel reads it, so they all publish the same bytes.
channel_policies = Table(
    "channel_policies",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("policy", LargeBinary, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: Per channel: whether its channel-level files (channeldata.json, index.html) owe a publish. Set
#: in the transaction that changes artifacts, cleared after they are published.
channel_state = Table(
    "channel_state",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("files_dirty", Boolean, nullable=False, default=False),
)

#: A channel in a bucket signed with `stockyard trust`: `stamp` changes whenever its trust files
#: in the bucket change, so replicas fetch them only then (`stockyard.trust.bucket`); no row:
#: not signed (or not in a bucket).
channel_trust = Table(
    "channel_trust",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("stamp", String(64), nullable=False),
)

#: Files staged in storage whose catalog rows are committed but which are not yet in place: the
#: move is finished after the commit, or by the next run after a crash.
pending_moves = Table(
    "pending_moves",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("source", String(1024), primary_key=True),
    Column("target", String(1024), nullable=False),
)

#: Uploads waiting for a channel's next commit, shared by every replica of a PostgreSQL catalog
#: (group commit across replicas, `stockyard.index.upload_queue`). A replica stores the artifact
#: under `staged` and queues it here; whichever replica holds the channel's lock commits every
#: queued upload in its batch. State: waiting -> claimed (a leader judges it) -> stored (its rows
#: committed, in the same transaction) -> done (published, or refused); `outcome` is the upload's
#: result or error, encoded JSON. Transient: not in backups (the staged objects are not either).
upload_queue = Table(
    "upload_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("subdir", String(64), nullable=False),
    Column("filename", String(256), nullable=False),
    Column("staged", String(1024), nullable=False),
    Column("force", Boolean, nullable=False, default=False),
    #: The artifact's `ArtifactMetadata`, encoded JSON (what the upload's validation read).
    Column("metadata", LargeBinary, nullable=False),
    Column("attestation", LargeBinary, nullable=True),
    Column("outcome", LargeBinary, nullable=True),
    Column("queued_at", BigInteger, nullable=False),
    info={"transient": True},
)
Index("ix_upload_queue_channel", upload_queue.c.channel_id, upload_queue.c.state)

#: Per channel: every patch set stored through the server, immutable, numbered from 1. The one in
#: force is the channel policy's `patch_source` (the version's directory); `active_from` and
#: `active_until` say when it was in force (as-of rendering and the UI read them).
patch_sets = Table(
    "patch_sets",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=True),
    Column("path", String(1024), nullable=False),
    Column("active_from", BigInteger, nullable=True),
    Column("active_until", BigInteger, nullable=True),
)

#: Artifacts that left a channel (removed, or replaced by other bytes under the same filename),
#: with when they left: with the live rows (whose `indexed_timestamp` says when they arrived),
#: what the channel held at any time T (as-of channels, stockyard.timetravel).
artifact_history = Table(
    "artifact_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("subdir", String(32), nullable=False),
    Column("filename", String(256), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("indexed_timestamp", BigInteger, nullable=False),
    Column("removed_at", BigInteger, nullable=False),
    Column("record", LargeBinary, nullable=False),
)
Index(
    "ix_artifact_history_subdir",
    artifact_history.c.channel_id,
    artifact_history.c.subdir,
    artifact_history.c.removed_at,
)

#: Every change of the patch set in force (version NULL: none), for "which was in force at T".
patch_set_log = Table(
    "patch_set_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("version", Integer, nullable=True),
)

#: Per channel: immutable views of its published files at a moment (see stockyard.snapshots).
snapshots = Table(
    "snapshots",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=True),
    Column("patch_set_version", Integer, nullable=True),
    Column("subdirs", String(4096), nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("description", String(1024), nullable=True),
)

#: Filenames that were in the channel and are gone (repodata `removed`).
removed = Table(
    "removed",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("subdir", String(32), primary_key=True),
    Column("filename", String(256), primary_key=True),
)

#: Per channel subdir: what the last publish was made from, and whether a publish is owed.
subdirs = Table(
    "subdirs",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("subdir", String(32), primary_key=True),
    #: Set in the same transaction that changes artifacts; cleared after a complete publish, so
    #: a crash between the two is repaired by the next run.
    Column("dirty", Boolean, nullable=False, default=True),
    Column("patch_fingerprint", String(64), nullable=True),
    Column("options_fingerprint", String(64), nullable=True),
    #: Hash of the sorted (filename, size, mtime_ns) of the local files at the last complete
    #: run: when a scan yields the same, nothing in the subdir needs to be compared or read.
    Column("scan_signature", String(64), nullable=True),
    Column("published_at", BigInteger, nullable=True),
)

#: CEP 16: the current shard of each package name.
shards = Table(
    "shards",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("subdir", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
)

#: CEP 38: the cached channeldata entry of each package name, encoded JSON.
channeldata_entries = Table(
    "channeldata_entries",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("entry", LargeBinary, nullable=False),
)

#: What is published, so an unchanged file is never rewritten (bytes, mtime and ETag stay).
published_files = Table(
    "published_files",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

#: API tokens. Only the sha256 of a token is stored; the token itself is shown once at creation.
#: Tokens are long random strings, so a fast hash is enough (no password stretching needed).
tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    #: The first characters of the token, shown in listings to tell tokens apart.
    Column("prefix", String(16), nullable=False),
    #: NULL: a token for every channel (server admin).
    Column("channel_id", Integer, ForeignKey("channels.id", ondelete="CASCADE"), nullable=True),
    Column("scope", String(16), nullable=False),  # read | write | admin
    Column("description", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
)

#: Background jobs (stockyard.jobs): one row per job, read by every replica and worker. State
#: moves queued -> running -> succeeded | failed, or running -> retrying -> running again.
#: `pending_key` (kind + arguments) is set only while the job is queued, so a second request
#: for the same work while one waits joins it (unique; NULLs never collide).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    #: The arguments, encoded JSON (compact, sorted keys).
    Column("arguments", String(4096), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("error", String(4096), nullable=True),
    #: What the job function returned, encoded JSON (succeeded jobs).
    Column("result", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    #: When a retrying job's next attempt is due.
    Column("retry_at", BigInteger, nullable=True),
    #: `host:pid` of the process running (or, in-process, owning) the job.
    Column("worker", String(256), nullable=True),
    #: "inprocess" or "celery": who delivers the job.
    Column("runner", String(16), nullable=False),
    Column("pending_key", String(64), nullable=True, unique=True),
)
Index("ix_jobs_state", jobs.c.state, jobs.c.id)
Index("ix_jobs_kind", jobs.c.kind, jobs.c.id)
