"""Where bytes live: one small `Store` interface; a local directory by default, or an S3 bucket
(`stockyard.storage.s3`, imported only by `open_store` for s3:// URLs: boto3 is optional)."""

from stockyard.storage.base import ObjectInfo, Store, check_key
from stockyard.storage.local import LocalStore
from stockyard.storage.urls import InvalidStorageUrl, open_store, parse_storage_url

__all__ = [
    "InvalidStorageUrl",
    "LocalStore",
    "ObjectInfo",
    "Store",
    "check_key",
    "open_store",
    "parse_storage_url",
]
