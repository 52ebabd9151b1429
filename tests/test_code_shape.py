"""The shape the architecture asks for (docs/architecture.md), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stockyard"

#: Orchestration stays short in the core layers: a long function is asking to become an object.
MAX_FUNCTION_LINES = 50

#: What each layer may import of ours (arrows point down).
ALLOWED = {
    "types": set(),
    "storage": {"types"},
    "package": {"types"},
    "patches": {"types", "package"},
    "catalog": {"types"},
    # `trust`: a signed channel's repodata.json is signed as it is written (trust.inline).
    "publish": {"types", "storage", "catalog", "patches", "trust"},
    # `cdn`: a commit hands what it changed to `cdn.hooks.after_publish` (ledger, purges).
    "index": {"types", "storage", "catalog", "patches", "publish", "package", "trust", "cdn"},
    # `config` only for the type of the settings `install_purge_webhook` reads.
    "cdn": {"types", "storage", "config"},
    "trust": {"types"},
    "scan": {"types", "package", "catalog"},
    "sbom": {"types", "package", "scan"},
    "labels": {"types", "storage", "catalog", "index"},
    "patchsets": {"types", "catalog", "index", "patches"},
    "snapshots": {"types", "storage", "catalog", "index"},
    "recipes": {"types"},
    "timetravel": {"types", "catalog", "index", "patches", "publish"},
    "mirror": {"types", "storage", "catalog", "patches", "package", "index"},
    "proxy": {"types", "storage", "package", "mirror", "catalog"},
    "attest": {"types", "storage", "index"},
    # Jobs run the services on the server's data layout: of `server`, only its modules without
    # HTTP (`channels`, `mirror_schedule`, `spool`; tests/jobs/test_functions.py checks which).
    # `cdn`: a worker's pool processes send the purges of the jobs' publishes.
    "jobs": {
        "types",
        "config",
        "storage",
        "catalog",
        "index",
        "snapshots",
        "scan",
        "server",
        "cdn",
    },
    # Backups work on the server's data layout (`server.channels`, no HTTP); `publish` for the
    # shard key, `snapshots` for their folder, `trust` (lazily) to compare signed repodata.
    "backup": {
        "types",
        "config",
        "storage",
        "catalog",
        "index",
        "publish",
        "snapshots",
        "trust",
        "server",
    },
}


def _modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("package", ["index", "publish", "catalog", "proxy", "attest"])
def test_no_long_functions(package: str) -> None:
    long = []
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert long == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layers_import_only_what_is_below(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "stockyard" or len(parts) < 2:
                    continue
                if parts[1] != package and parts[1] not in ALLOWED[package]:
                    wrong.append(f"{path.relative_to(SRC)} imports {name}")
    assert wrong == []
