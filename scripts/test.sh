#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, start the services they use, and
# run the whole suite. `.ci/run` runs exactly this script.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k shards  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- system packages (Debian): PostgreSQL, Chromium (web UI tests), wrk, nginx, a C toolchain,
# Redis (the jobs broker; the tests start their own redis-server) -------------------------------
APT_PACKAGES=(postgresql chromium wrk nginx-light cmake make gcc libc6-dev redis-server)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
fi

# --- Python environment -----------------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import stockyard, rattler, pytest' # fail early if the install failed

# --- PostgreSQL on a free loopback port, in a throw-away cluster --------------------------------
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
PG_DIR=""
cleanup() {
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
        su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$PG_DIR/data' -m immediate stop" \
            >/dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
trap cleanup EXIT
if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && id postgres >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ]; then
    PG_DIR=$(mktemp -d /tmp/stockyard-pg.XXXXXX)
    chown postgres "$PG_DIR"
    PG_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    su postgres -s /bin/sh -c "$PG_BIN/initdb -A trust -U postgres -D '$PG_DIR/data'" >/dev/null
    su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D '$PG_DIR/data' -w -l '$PG_DIR/log' \
        -o \"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
    export STOCKYARD_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "PostgreSQL test server on 127.0.0.1:$PG_PORT"
elif [ -n "${STOCKYARD_TEST_PG_URL:-}" ]; then
    echo "using PostgreSQL at STOCKYARD_TEST_PG_URL"
else
    echo "warning: no PostgreSQL server; PostgreSQL tests will be skipped" >&2
fi

# --- lint, types and tests -----------------------------------------------------------------------------
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy src/stockyard  # strict on types, package, storage, patches, catalog, publish, index
mkdir -p test-artifacts
.venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
