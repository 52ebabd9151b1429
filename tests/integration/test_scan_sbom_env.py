"""`stockyard sbom --spec ... --channel URL`: solved with py-rattler from a channel served on
127.0.0.1, nested PyPI components from the scan database, valid CycloneDX 1.6; and (when it
can run) at least every component conda-sboms lists for the same environment."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from typer.testing import CliRunner

from stockyard.cli import sbom_cmd, scan_cmd
from stockyard.index.run import index_channel
from tests.scan.builders import python_artifact

pytestmark = pytest.mark.integration

#: conda-sboms in its own virtual environment (its dependencies are ours, but it is a conda
#: plugin: it imports conda, which is not on PyPI).
CONDA_SBOMS_PYTHON = Path(
    os.environ.get("STOCKYARD_CONDA_SBOMS_PYTHON", "/work/cache/conda-sboms-venv/bin/python")
)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "channel"
    python_artifact(
        root / "noarch",
        "requests",
        "2.30.0",
        depends=["urllib3 >=1.21"],
        dists=[("requests", "2.30.0")],
    )
    python_artifact(root / "noarch", "urllib3", "1.26.4", fmt="tar.bz2")
    python_artifact(root / "noarch", "unrelated", "1.0")
    (root / "linux-64").mkdir()
    index_channel(root)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _cli() -> typer.Typer:
    app = typer.Typer()
    scan_cmd.register(app)
    sbom_cmd.register(app)
    return app


def test_environment_sbom(channel: tuple[str, Path], tmp_path: Path) -> None:
    url, root = channel
    db = ["--scan-db", str(tmp_path / "scan.db")]
    runner = CliRunner()
    assert runner.invoke(_cli(), ["scan", "run", str(root), *db]).exit_code == 0
    out = tmp_path / "env.cdx.json"
    args = [
        "sbom",
        "--spec",
        "requests",
        "--channel",
        url,
        "--platform",
        "linux-64",
        "-o",
        str(out),
    ]
    result = runner.invoke(_cli(), [*args, *db])
    assert result.exit_code == 0, result.output
    document = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    bom = json.loads(document)
    purls = {c["name"]: c["purl"] for c in bom["components"]}
    assert set(purls) == {"requests", "urllib3"}
    assert purls["urllib3"].startswith("pkg:conda/urllib3@1.26.4?build=py_0&channel=http")
    nested = {c["name"]: [n["purl"] for n in c.get("components", [])] for c in bom["components"]}
    assert nested == {
        "requests": ["pkg:pypi/requests@2.30.0"],
        "urllib3": ["pkg:pypi/urllib3@1.26.4"],
    }


def _conda_sboms_unavailable() -> str | None:
    if not CONDA_SBOMS_PYTHON.exists():
        return f"conda-sboms is not installed (no {CONDA_SBOMS_PYTHON})"
    probe = subprocess.run(
        [str(CONDA_SBOMS_PYTHON), "-c", "import conda.plugins, conda_sboms.cyclonedx"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return (
            "conda-sboms is a conda plugin (it imports conda.plugins, conda.models.environment "
            "and conda.models.match_spec) and conda is not distributed on PyPI; it cannot run "
            f"here: {probe.stderr.strip().splitlines()[-1] if probe.stderr else 'import failed'}"
        )
    return None


def test_lists_every_component_conda_sboms_lists(channel: tuple[str, Path], tmp_path: Path) -> None:
    reason = _conda_sboms_unavailable()
    if reason is not None:
        pytest.skip(reason)
    # With conda importable: install the environment, export it with conda's exporter plugin,
    # and compare the conda purls (name, version, build, subdir) both documents list.
    url, _ = channel
    ours = tmp_path / "ours.json"
    args = [
        "sbom",
        "--spec",
        "requests",
        "--channel",
        url,
        "--platform",
        "linux-64",
        "-o",
        str(ours),
    ]
    assert CliRunner().invoke(_cli(), args).exit_code == 0
    prefix = tmp_path / "env"
    subprocess.run(
        [
            str(CONDA_SBOMS_PYTHON),
            "-m",
            "conda",
            "create",
            "-y",
            "-p",
            str(prefix),
            "--override-channels",
            "-c",
            url,
            "--platform",
            "linux-64",
            "requests",
        ],
        check=True,
        capture_output=True,
    )
    theirs = subprocess.run(
        [
            str(CONDA_SBOMS_PYTHON),
            "-m",
            "conda",
            "export",
            "-p",
            str(prefix),
            "--format",
            "cyclonedx-json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    def keys(document: str) -> set[tuple[str, str]]:
        return {(c["name"], c["version"]) for c in json.loads(document)["components"]}

    assert keys(theirs) <= keys(ours.read_text())


def test_lockfile_sbom(channel: tuple[str, Path], tmp_path: Path) -> None:
    """A rattler/pixi lockfile of the solved environment gives the same conda components."""
    import rattler
    from rattler.lock import LockChannel, LockFile, LockPlatform

    from stockyard.sbom.packages import solve_environment

    url, _ = channel
    records = solve_environment(["requests"], [url], "linux-64", cache_dir=tmp_path / "cache")
    platform = LockPlatform("linux-64", rattler.Subdir("linux-64"))
    lock = LockFile([platform])
    lock.set_channels("default", [LockChannel(url)])
    for record in records:
        lock.add_conda_package("default", platform, record)
    lock.to_path(tmp_path / "pixi.lock")
    out = tmp_path / "lock.cdx.json"
    args = ["sbom", "--lockfile", str(tmp_path / "pixi.lock"), "--platform", "linux-64"]
    result = CliRunner().invoke(_cli(), [*args, "-o", str(out), "--scan-db", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    names = {c["name"] for c in json.loads(out.read_text())["components"]}
    assert names == {"requests", "urllib3"}
    bad = CliRunner().invoke(_cli(), ["sbom", "--lockfile", str(tmp_path / "nope.lock")])
    assert bad.exit_code != 0
