"""A separate venv with the reference implementation, conda-content-trust, built once.

conda-content-trust 0.1.2 (the only release on PyPI, yanked there for "metadata format issues",
so it is pinned exactly) subclasses cryptography's ed25519 key classes, which cryptography 37
made impossible: it needs cryptography<37, which the project venv cannot have. The venv lives
in ~/.cache/stockyard-tests/cct-venv (or $STOCKYARD_CCT_VENV) and is reused while it imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import filelock

CCT_REQUIREMENTS = ("conda-content-trust==0.1.2", "cryptography<37")
CHECK_SCRIPT = Path(__file__).with_name("cct_check.py")


def venv_dir() -> Path:
    configured = os.environ.get("STOCKYARD_CCT_VENV")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "stockyard-tests" / "cct-venv"


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = (
        "import conda_content_trust.authentication, cryptography; print(cryptography.__version__)"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.returncode == 0


def cct_python() -> tuple[Path | None, str]:
    """(the venv's python, "") or (None, why it could not be built)."""
    directory = venv_dir()
    python = directory / "bin" / "python"
    directory.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(directory) + ".lock", timeout=900):
        if _works(python):
            return python, ""
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(directory)],
            [python, "-m", "pip", "install", "--quiet", *CCT_REQUIREMENTS],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                return None, f"{' '.join(map(str, step[:4]))} failed: {' | '.join(tail)}"
        if not _works(python):
            return None, "conda-content-trust installed but does not import"
    return python, ""


def run_check(python: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, str(CHECK_SCRIPT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"conda-content-trust refused: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
