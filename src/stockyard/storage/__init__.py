"""Where bytes live: one small `Store` interface; a local directory by default."""

from stockyard.storage.base import ObjectInfo, Store, check_key
from stockyard.storage.local import LocalStore

__all__ = ["LocalStore", "ObjectInfo", "Store", "check_key"]
