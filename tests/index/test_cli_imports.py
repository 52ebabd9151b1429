"""`stockyard index` imports only what indexing needs (issue 7: the whole command, interpreter
start and imports included, is measured against rattler-index). Each check runs a fresh
interpreter and reports which modules it ended up with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.index.conftest import build_artifact

#: Runs the CLI's `main` with argv in a fresh process, then prints the sorted module names.
_PROBE = """
import json, sys
from stockyard.cli.main import main
code = main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""

#: Needed by other commands only: the web server, every other command module, Rich (`--json`
#: prints with `print_json`), and the artifact code that creates, verifies or transmutes.
_NOT_FOR_INDEX = (
    "rich",
    "fastapi",
    "stockyard.server",
    "stockyard.cli.serve_cmd",
    "stockyard.cli.mirror_cmd",
    "stockyard.cli.schema_cmd",
    "stockyard.cli.package_cmd",
    "stockyard.package.create",
    "stockyard.package.verify",
    "stockyard.package.transmute",
)


def _modules(*code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", *code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_importing_the_cli_imports_no_service() -> None:
    loaded = _modules(
        "import json, sys; import stockyard.cli.main; print(json.dumps(sorted(sys.modules)), "
        "file=sys.stderr)"
    )
    assert "stockyard.cli.main" in loaded
    for heavy in ("sqlalchemy", "rich", "pydantic", "stockyard.catalog", "stockyard.index"):
        assert heavy not in loaded, heavy


def test_index_json_imports_only_what_indexing_needs(tmp_path: Path) -> None:
    channel = tmp_path / "chan"
    build_artifact(channel, "noarch", "alpha")
    loaded = _modules(_PROBE, "index", str(channel), "--json")
    assert "stockyard.index.run" in loaded  # it did index
    assert (channel / "noarch" / "repodata.json").is_file()
    unexpected = [name for name in _NOT_FOR_INDEX if name in loaded]
    assert unexpected == []


def test_package_names_resolve_lazily_to_the_same_objects() -> None:
    loaded = _modules(
        "import json, sys\n"
        "import stockyard.package as package\n"
        "assert 'stockyard.package.verify' not in sys.modules\n"
        "from stockyard.package import transmute, verify_artifact\n"
        "from stockyard.package.transmute import transmute as function\n"
        "from stockyard.package.verify import verify_artifact as verify\n"
        # `transmute` names a submodule and its function: the package's name is the function.
        "assert transmute is function and package.transmute is function, transmute\n"
        "assert verify_artifact is verify\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    )
    assert "stockyard.package.verify" in loaded
