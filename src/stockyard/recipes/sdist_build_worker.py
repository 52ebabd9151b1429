"""The child process of `sdist_build`: PEP 517 metadata of one unpacked sdist.

Run as `python -m stockyard.recipes.sdist_build_worker SOURCE_DIR OUTPUT_DIR`. It creates a
fresh virtual environment in a temporary directory (`build`'s `DefaultIsolatedEnv`), installs
the sdist's `build-system.requires` and the backend's `get_requires_for_build_wheel` there with
pip (the index comes from `PIP_INDEX_URL`, set by the parent), and calls the backend's
`prepare_metadata_for_build_wheel` hook (falling back to `build_wheel`) in a subprocess of that
environment's Python (`pyproject_hooks`). The sdist's code therefore runs two processes away
from Stockyard's, in an interpreter that never imports Stockyard.

The last line on stdout is one JSON document: `{"metadata_dir": PATH}` or
`{"error": MESSAGE, "output": TAIL}` (exit status 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

#: The end of a failing subprocess's output kept for the error (what names the cause).
OUTPUT_TAIL = 4000


def _output_of(exc: BaseException) -> str:
    """The captured output of the failed pip or hook subprocess behind `exc`, if any."""
    inner: BaseException | None = exc
    while inner is not None:
        if isinstance(inner, subprocess.CalledProcessError):
            parts = [inner.output, inner.stderr]
            text = "\n".join(
                part.decode("utf-8", "replace") if isinstance(part, bytes) else part
                for part in parts
                if part
            )
            return text[-OUTPUT_TAIL:]
        inner = getattr(inner, "exception", None) or inner.__cause__
    return ""


def prepare_metadata(source_dir: str, output_dir: str) -> dict[str, Any]:
    import pyproject_hooks
    from build import BuildBackendException, BuildException, FailedProcessError, ProjectBuilder
    from build.env import DefaultIsolatedEnv

    try:
        with DefaultIsolatedEnv() as env:
            builder = ProjectBuilder.from_isolated_env(
                env, source_dir, runner=pyproject_hooks.quiet_subprocess_runner
            )
            env.install(builder.build_system_requires)
            env.install(builder.get_requires_for_build("wheel"))
            return {"metadata_dir": builder.metadata_path(output_dir)}
    except BuildBackendException as exc:
        return {"error": f"the build backend failed: {exc}", "output": _output_of(exc)}
    except subprocess.CalledProcessError as exc:  # pip could not install a build requirement
        return {"error": "installing the build requirements failed", "output": _output_of(exc)}
    except (BuildException, FailedProcessError, OSError) as exc:
        return {"error": str(exc) or type(exc).__name__, "output": _output_of(exc)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(json.dumps({"error": "usage: SOURCE_DIR OUTPUT_DIR", "output": ""}))
        return 2
    result = prepare_metadata(argv[0], argv[1])
    print(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
