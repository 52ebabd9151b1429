"""The conda data model: records, repodata, channeldata, shards, patches, identifiers, encoders.

This package imports nothing else of Stockyard's.
"""

from stockyard.types.errors import StockyardError

__all__ = ["StockyardError"]
