"""Core metadata of an sdist that only its build backend can tell (PEP 517), built in isolation.

Used when a release has no wheel and its sdist declares its requirements dynamically
(`setup.py` computing them). The sdist is unpacked into a temporary directory (members that
would escape it, links and device files are refused: `tarfile`'s `data` filter), then a child
process (`sdist_build_worker`) creates a fresh virtual environment, installs the sdist's
`build-system.requires` with pip from the same index the release came from, and runs the
backend's `prepare_metadata_for_build_wheel` hook (or `build_wheel`) in that environment's own
interpreter. Stockyard's process never imports or executes the sdist's code.

The whole job runs under one deadline: at the timeout the child's process group (pip, the hook
and whatever `setup.py` started) is killed. The dist-info directory it produced is read like a
wheel's: `METADATA` for the requirements, `entry_points.txt`, `top_level.txt` and license files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from stockyard.recipes.errors import UpstreamError

#: Seconds the whole isolated build (venv, pip, hook) may take by default.
DEFAULT_TIMEOUT = 300.0
#: The most an sdist may unpack to (a compression bomb is refused before extraction).
MAX_UNPACKED_BYTES = 1 << 30
#: dist-info files bigger than this are listed but not read (license texts are small).
MAX_DIST_INFO_FILE = 1 << 20
_WORKER = "stockyard.recipes.sdist_build_worker"
_HINT = (
    "Stockyard ran the sdist's PEP 517 build backend in an isolated environment to learn its "
    "requirements. Fix the sdist, pick a release with wheels, or pass --no-build-metadata and "
    "write the requirements by hand."
)


@dataclass(frozen=True)
class BuildPolicy:
    """Whether (and how long) a dynamic sdist's backend may run to learn its metadata."""

    enabled: bool = True
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class BuiltMetadata:
    """What the backend's dist-info directory holds."""

    metadata: bytes
    dist_info_dir: str
    #: Small text files (entry_points.txt, top_level.txt, licenses/...) by relative path.
    files: dict[str, str]


def build_metadata(
    data: bytes, filename: str, index_url: str, timeout: float = DEFAULT_TIMEOUT
) -> BuiltMetadata:
    """The metadata of the sdist `data` (named `filename`), from its backend run in isolation."""
    with tempfile.TemporaryDirectory(prefix="stockyard-sdist-") as scratch:
        root = Path(scratch)
        source = _unpack(data, filename, root / "src")
        output = root / "metadata"
        output.mkdir()
        result = _run_worker(source, output, filename, index_url, timeout, cwd=root)
        return _read_dist_info(Path(result["metadata_dir"]), output, filename)


def _unpack(data: bytes, filename: str, target: Path) -> Path:
    """Extract the sdist under `target`; the project root (where pyproject/setup.py is)."""
    import io

    if not hasattr(tarfile, "data_filter"):  # pragma: no cover - Python 3.11.0 to 3.11.3
        raise UpstreamError(
            "unpacking an sdist safely needs Python 3.11.4 or newer (tarfile's data filter)"
        )
    target.mkdir()
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                infos = archive.infolist()
                _check_size(sum(info.file_size for info in infos), filename)
                for info in infos:
                    _check_member(info.filename, filename)
                archive.extractall(target)
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                members = archive.getmembers()
                _check_size(sum(member.size for member in members), filename)
                archive.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise UpstreamError(f"{filename} cannot be unpacked: {exc}", hint=_HINT) from exc
    entries = [entry for entry in target.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return target


def _check_size(total: int, filename: str) -> None:
    if total > MAX_UNPACKED_BYTES:
        raise UpstreamError(
            f"{filename} unpacks to {total} bytes, more than the {MAX_UNPACKED_BYTES} allowed"
        )


def _check_member(name: str, filename: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or ":" in name.split("/", 1)[0]:
        raise UpstreamError(f"{filename}: member {name!r} would land outside the source tree")


def _run_worker(
    source: Path, output: Path, filename: str, index_url: str, timeout: float, cwd: Path
) -> dict[str, Any]:
    env = {
        **os.environ,
        # Build requirements come from the index the release came from.
        "PIP_INDEX_URL": index_url,
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    command = [sys.executable, "-m", _WORKER, str(source), str(output)]
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A process group of its own, so that a timeout can end pip, the hook and its children.
        start_new_session=os.name == "posix",
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            raise UpstreamError(
                f"{filename}: the isolated build of its metadata did not finish within "
                f"{timeout:g} s",
                hint="Raise --build-timeout when the backend is just slow; " + _HINT,
            ) from None
    result = _last_json_line(stdout)
    if result is None:
        tail = _tail(stderr.decode("utf-8", "replace"))
        raise UpstreamError(
            f"{filename}: the isolated metadata build crashed (exit {process.returncode})"
            + (f": {tail}" if tail else ""),
            hint=_HINT,
        )
    if "error" in result:
        tail = _tail(str(result.get("output", "")))
        raise UpstreamError(
            f"{filename}: {result['error']}" + (f"; its output ends with: {tail}" if tail else ""),
            hint=_HINT,
        )
    return result


def _kill(process: subprocess.Popen[bytes]) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.killpg(process.pid, signal.SIGKILL)
    else:  # pragma: no cover - Windows has no process groups to kill
        process.kill()


def _last_json_line(stdout: bytes) -> dict[str, Any] | None:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        if line.startswith("{"):
            try:
                document = json.loads(line)
            except ValueError:
                return None
            return document if isinstance(document, dict) else None
    return None


def _tail(output: str, lines: int = 3) -> str:
    """The last non-empty lines of a subprocess's output, on one line."""
    kept = [line.strip() for line in output.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-600:]


def _read_dist_info(directory: Path, output: Path, filename: str) -> BuiltMetadata:
    resolved = directory.resolve()
    if not resolved.is_relative_to(output.resolve()) or not (resolved / "METADATA").is_file():
        raise UpstreamError(f"{filename}: the build backend produced no METADATA", hint=_HINT)
    files: dict[str, str] = {}
    for path in sorted(resolved.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(resolved).as_posix()
            if relative != "METADATA" and path.stat().st_size <= MAX_DIST_INFO_FILE:
                files[relative] = path.read_text(encoding="utf-8", errors="replace")
    return BuiltMetadata((resolved / "METADATA").read_bytes(), resolved.name, files)
