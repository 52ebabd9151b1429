"""A scaled-out Stockyard on 127.0.0.1, for benchmarks: a fresh PostgreSQL database, a prefix of
a bucket on moto's S3 server, `stockyard serve` replicas sharing both (tests/server/live.py
starts them exactly as the tests do), and nginx sending requests round robin to them.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test helpers start servers exactly as the tests do

from sqlalchemy import create_engine, text  # noqa: E402
from tests.deploy.nginx_live import nginx_head, running_nginx  # noqa: E402
from tests.s3server import S3Server  # noqa: E402

from stockyard.config import Settings, load_settings  # noqa: E402

BUCKET = "stockyard-bench"
#: PostgreSQL server to create the benchmark's databases on (dropped at the end).
DEFAULT_PG_URL = os.environ.get(
    "STOCKYARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
)


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database on `admin_url`'s server; dropped afterwards."""
    name = f"stockyard_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def replica_env(s3: S3Server, db_url: str, prefix: str) -> dict[str, str]:
    """What every replica of one deployment shares: the catalog and the bucket prefix."""
    return {
        **s3.environment(),
        "STOCKYARD_DB_URL": db_url,
        "STOCKYARD_STORAGE_URL": f"s3://{BUCKET}/{prefix}",
    }


def settings_for(data_dir: Path, env: dict[str, str]) -> Settings:
    """The settings a replica started with `env` and `--data data_dir` reads (for the work the
    benchmark does in its own process: bootstrap, filling the catalog, publishing)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    return load_settings(env=env, overrides={"data_dir": str(data_dir)})


def round_robin_conf(prefix: Path, port: int, upstreams: list[str]) -> str:
    """nginx in front of `upstreams` (base URLs), round robin with keep-alive connections to
    them, no access log (the replicas log every request already), responses relayed without
    temporary files (`proxy_max_temp_file_size 0`: a 1.3 MB repodata.json would otherwise be
    spooled to disk under load)."""
    servers = "\n".join(f"        server {url.split('://', 1)[1]};" for url in upstreams)
    prefix = prefix.resolve()
    return (
        nginx_head(prefix, access_log="off")
        + f"""    upstream stockyard {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 2g;
        location / {{
            proxy_pass http://stockyard;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffers 32 64k;
            proxy_max_temp_file_size 0;
            proxy_request_buffering off;
        }}
    }}
}}
"""
    )


@contextmanager
def round_robin_nginx(workdir: Path, name: str, port: int, upstreams: list[str]) -> Iterator[int]:
    """nginx (Debian's) on 127.0.0.1:`port` in front of `upstreams`; yields its master's pid."""
    prefix = workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(round_robin_conf(prefix, port, upstreams))
    with running_nginx(conf, prefix, port) as process:
        yield process.pid
