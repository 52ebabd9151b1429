"""The scaled-out deployment under load, with a replica killed (issue 10's soak test).

PostgreSQL, Redis, moto's S3 server, three `stockyard serve` replicas (each with its own data
directory), a Celery worker (`stockyard worker`) and nginx in front of the replicas (round
robin). 30 uploaders send new packages straight to
the replicas (spread over the three), 30 readers poll `repodata.json` through nginx with the
validators they hold, for `STOCKYARD_SOAK_SECONDS` (default 60). Halfway, one replica is
killed with SIGKILL and started again on its port.

At the end: every acknowledged (201) upload is listed by every replica; every listed package
downloads with its sha256; no reader ever saw a torn repodata.json or one older than a version
it had already seen; a re-index job queued through the front during the load ran on the
worker and succeeded; py-rattler installs from each replica.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.catalog.conftest import fresh_pg_database
from tests.deploy.nginx_live import NGINX, running_nginx, worker_user
from tests.integration.test_jobs_celery import redis_server, worker
from tests.s3server import S3Server
from tests.server.artifacts import make_artifact, sha256_of
from tests.server.live import LiveServer, admin_token, free_port, live_server
from tests.server.rattler_client import solve_and_install
from tests.server.uploading import quetz_upload

pytestmark = pytest.mark.integration

BUCKET = "stockyard-soak"
SECONDS = float(os.environ.get("STOCKYARD_SOAK_SECONDS", "60"))
UPLOADERS = 30
READERS = 30


@dataclass
class Outcome:
    acknowledged: dict[str, str] = field(default_factory=dict)  # filename -> sha256
    refused: list[str] = field(default_factory=list)
    lost_connections: int = 0
    reads: int = 0
    not_modified: int = 0
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _nginx_conf(prefix: Path, port: int, replicas: list[int]) -> Path:
    servers = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in replicas
    )
    user = worker_user()
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
{f"user {user};" if user else ""}
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream replicas {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502;
        }}
    }}
}}
"""
    )
    return conf


def _upload_loop(
    index: int,
    replicas: list[LiveServer],
    token: str,
    pkgs: Path,
    stop: threading.Event,
    outcome: Outcome,
) -> None:
    count = 0
    with ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(base_url=r.url, timeout=60)) for r in replicas]
        while not stop.is_set():
            artifact = make_artifact(pkgs / f"u{index}", f"soak-u{index}-n{count}", "1.0")
            count += 1
            client = clients[(index + count) % len(clients)]
            try:
                response = quetz_upload(client, "main", artifact, token)
            except httpx.TransportError:
                with outcome.lock:
                    outcome.lost_connections += 1  # that replica is down: not acknowledged
                stop.wait(0.2)
                continue
            with outcome.lock:
                if response.status_code == 201:
                    outcome.acknowledged[artifact.name] = sha256_of(artifact)
                else:
                    outcome.refused.append(f"{response.status_code} {response.text[:200]}")
            stop.wait(random.uniform(0.2, 0.6))


def _read_loop(url: str, stop: threading.Event, outcome: Outcome) -> None:
    seen: set[str] = set()
    headers: dict[str, str] = {}
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            try:
                response = client.get(f"{url}/main/noarch/repodata.json", headers=headers)
            except httpx.TransportError:
                continue
            with outcome.lock:
                outcome.reads += 1
            if response.status_code == 304:
                with outcome.lock:
                    outcome.not_modified += 1
                continue
            if response.status_code != 200:
                with outcome.lock:
                    outcome.violations.append(f"status {response.status_code}")
                continue
            try:
                names = set(json.loads(response.content)["packages.conda"])
            except (ValueError, KeyError) as exc:
                with outcome.lock:
                    outcome.violations.append(f"torn repodata.json: {exc}")
                continue
            if not names >= seen:
                with outcome.lock:
                    outcome.violations.append(
                        f"older than before: {len(seen - names)} records went missing"
                    )
            seen = names
            headers = {"if-none-match": response.headers["etag"]}
            if "last-modified" in response.headers:
                headers["if-modified-since"] = response.headers["last-modified"]
            stop.wait(0.05)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/test.sh installs it)")
def test_three_replicas_behind_nginx_lose_nothing_when_one_is_killed(
    s3: S3Server, tmp_path: Path
) -> None:
    with fresh_pg_database() as database, ExitStack() as stack:
        broker = stack.enter_context(redis_server(tmp_path))
        settings = {
            "db_url": database,
            "storage_url": f"s3://{BUCKET}/channels",
            "broker_url": broker,
            "log_level": "warning",
        }
        env = {**s3.environment(), **{f"STOCKYARD_{k.upper()}": v for k, v in settings.items()}}
        config = tmp_path / "worker.toml"
        config.write_text(
            "".join(f'{key} = "{value}"\n' for key, value in settings.items())
            + f'data_dir = "{tmp_path / "worker-data"}"\n'
        )
        stack.enter_context(worker(config, tmp_path / "worker.log", env=s3.environment()))
        ports = [free_port() for _ in range(3)]
        replicas = [
            stack.enter_context(live_server(tmp_path / f"r{i}", env=env, port=port))
            for i, port in enumerate(ports)
        ]
        token = admin_token(replicas[0].banner)
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        front_port = free_port()
        stack.enter_context(
            running_nginx(_nginx_conf(prefix, front_port, ports), prefix, front_port)
        )
        front = f"http://127.0.0.1:{front_port}"

        outcome = Outcome()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=_upload_loop,
                args=(i, replicas, token, tmp_path / "pkgs", stop, outcome),
            )
            for i in range(UPLOADERS)
        ] + [
            threading.Thread(target=_read_loop, args=(front, stop, outcome)) for _ in range(READERS)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(SECONDS / 2)
            victim = replicas[2]
            os.kill(victim.process.pid, signal.SIGKILL)
            victim.process.wait(timeout=30)
            restarted = stack.enter_context(live_server(tmp_path / "r2", env=env, port=ports[2]))
            replicas[2] = restarted
            queued = httpx.post(
                f"{front}/api/jobs",
                json={"kind": "reindex", "arguments": {"channel": "main"}},
                headers={"X-API-Key": token},
                timeout=60,
            )
            assert queued.status_code == 202, queued.text
            time.sleep(SECONDS / 2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=120)

        print(  # for the log of a CI run
            f"soak: {len(outcome.acknowledged)} uploads acknowledged, "
            f"{outcome.lost_connections} cut by the kill, {outcome.reads} reads "
            f"({outcome.not_modified} not modified)"
        )
        assert outcome.violations == []
        assert outcome.refused == []
        assert len(outcome.acknowledged) > UPLOADERS  # the load really ran
        assert outcome.reads > READERS

        for replica in replicas:
            listed = httpx.get(f"{replica.url}/main/noarch/repodata.json", timeout=60).json()
            records = listed["packages.conda"]
            missing = set(outcome.acknowledged) - set(records)
            assert not missing, f"{replica.url} lacks {len(missing)} acknowledged uploads"
            for filename, sha256 in outcome.acknowledged.items():
                assert records[filename]["sha256"] == sha256
        with httpx.Client(base_url=front, timeout=60) as client:
            for filename, record in records.items():
                body = client.get(f"/main/noarch/{filename}").content
                assert hashlib.sha256(body).hexdigest() == record["sha256"], filename
        job = _finished_job(front, token, queued.json()["id"])
        assert job["state"] == "succeeded", job
        assert job["worker"] and str(os.getpid()) not in job["worker"]
        some = sorted(outcome.acknowledged)[0].removesuffix("-1.0-0.conda")
        for index, replica in enumerate(replicas):
            installed = solve_and_install(f"{replica.url}/main", some, tmp_path / f"env{index}")
            assert installed == {some: "1.0"}


def _finished_job(front: str, token: str, job_id: int) -> dict:
    deadline = time.monotonic() + 120
    while True:
        job = httpx.get(
            f"{front}/api/jobs/{job_id}", headers={"X-API-Key": token}, timeout=30
        ).json()
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return dict(job)
        time.sleep(0.2)
