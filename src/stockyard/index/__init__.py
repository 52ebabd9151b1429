"""The ingest flow: list storage, diff with the catalog, read what changed, update, publish."""
