#!/usr/bin/env bash
# Creates a virtualenv with Quetz (`quetz-server`, the mamba-org conda channel server) for
# benchmarks/serve.py --quetz. Quetz 0.10.4 (2023-12) is its last release and does not run with
# today's FastAPI/Pydantic/SQLAlchemy/click, so its dependencies are pinned to releases of late
# 2023 (its own release month); it never goes into the project's .venv.
#
#   bash benchmarks/quetz_env.sh [VENV_DIR] [PYTHON]
#
# VENV_DIR defaults to /tmp/quetz-venv, PYTHON to python3. Idempotent: a venv installed with
# these exact pins (recorded in VENV_DIR/quetz-pins.txt) whose `quetz` runs is kept. Prints the
# venv's python path on the last line of stdout; pip's output goes to stderr.
set -euo pipefail

venv="${1:-/tmp/quetz-venv}"
python="${2:-python3}"

# uvicorn's uvloop and httptools are installed as for Stockyard (uvicorn picks them up), so the
# two servers run on the same HTTP stack. setuptools provides `distutils`, which Quetz imports
# and Python 3.12 no longer has. fsspec is the one later pin: up to 2024.3 its local
# filesystem's `mv` copies onto the target in place, so Quetz's publish of repodata.json(.gz)
# is not atomic and readers got torn files (6 of 258 gzip reads during uploads, CRC errors);
# 2024.5.0 renames, and Quetz is measured at its best.
pins=(
    "quetz-server==0.10.4"
    "setuptools==69.0.2"
    "fastapi==0.104.1" "starlette==0.27.0" "pydantic==2.5.2" "pydantic-core==2.14.5"
    "sqlalchemy==2.0.23" "alembic==1.13.0" "sqlalchemy-utils==0.41.1"
    "click==8.1.7" "typer==0.9.0"
    "uvicorn==0.24.0.post1" "uvloop==0.19.0" "httptools==0.6.1" "anyio==3.7.1"
    "authlib==0.15.5" "httpx==0.25.2" "requests==2.31.0" "h2==4.1.0"
    "fsspec==2024.5.0" "aiofiles==23.2.1" "aioshutil==1.3"
    "python-multipart==0.0.6" "jinja2==3.1.2" "itsdangerous==2.1.2" "pluggy==1.3.0"
    "prometheus-client==0.19.0" "tenacity==8.2.3" "toml==0.10.2" "appdirs==1.4.4"
    "ujson==5.8.0" "zstandard==0.22.0" "pyyaml==6.0.1"
    "importlib-metadata==7.0.0" "typing-extensions==4.8.0"
)
stamp="$venv/quetz-pins.txt"

if [ -x "$venv/bin/quetz" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ] \
    && "$venv/bin/quetz" --help >/dev/null 2>&1; then
    echo "$venv/bin/python"
    exit 0
fi

"$python" -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "${pins[@]}" >&2
"$venv/bin/quetz" --help >/dev/null
echo "${pins[*]}" >"$stamp"
echo "$venv/bin/python"
