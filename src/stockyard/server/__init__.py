"""The channel server: the conda channel protocol, uploads, tokens, the JSON API, operations.

`stockyard.server.app.create_app(settings)` builds the ASGI app; `stockyard.server.channels`
holds the data-directory services the CLI uses without starting a server.
"""
