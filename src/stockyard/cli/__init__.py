"""The `stockyard` command line: parse arguments, call one service function, print with Rich.

Each command group lives in its own module and imports its service lazily inside the command
function, so that `stockyard index` does not pay for importing the web server.
"""
