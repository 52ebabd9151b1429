"""The errors of `stockyard backup` and `stockyard restore`: each says what is wrong and what
to do."""

from __future__ import annotations

from stockyard.types.errors import StockyardError


class BackupError(StockyardError):
    """A backup cannot be taken or applied."""

    default_hint = "See docs/backup.md."


class DestinationNotEmpty(BackupError):
    """`stockyard backup DEST` refuses a directory that holds anything."""

    default_hint = "Give a new or empty directory; a backup never overwrites another."


class BackupInvalid(BackupError):
    """The backup is incomplete, damaged or tampered with: nothing is restored from it."""

    default_hint = (
        "Restore from another copy of the backup (or another backup); a backup whose manifest "
        "does not match its files is never applied."
    )


class TargetNotFresh(BackupError):
    """`stockyard restore` applies a backup only to a deployment that holds nothing yet."""

    default_hint = (
        "Restore into a new data directory (--data) or an empty database (db_url), before "
        "`stockyard serve` first starts there (it creates the channel 'main')."
    )


class ArtifactsMissing(BackupError):
    """Artifacts the backup left in storage are not in the target's storage."""

    default_hint = (
        "Restore with the storage the backup was taken from (same storage_url), or copy the "
        "artifacts there first (e.g. `aws s3 sync`, or bucket versioning to bring deleted "
        "objects back); --allow-missing-artifacts restores anyway and drops those packages."
    )
