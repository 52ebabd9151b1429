"""The stores of the storage contract tests (a local directory and a moto S3 prefix)."""

from tests.storage.conftest import s3, s3_store, store  # noqa: F401
