"""Jobs on Celery for real: Debian's `redis-server` on a free loopback port, real `stockyard
worker` processes and a live `stockyard serve` with that broker, all from one settings file.

A re-index queued through `POST /api/jobs` succeeds on the worker; a scheduled mirror of the
server is queued as a job and run by the worker; a job whose channel stays locked is retried
and then fails with its error; a worker killed with `kill -9` mid-job (its pool process, then
the whole worker) leaves the job to be delivered again, and it succeeds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stockyard.config import load_settings
from stockyard.server.channels import layout_for
from tests.mirror.upstreams import static_server
from tests.proxy.upstream_setup import static_upstream_root
from tests.server.artifacts import make_artifact
from tests.server.live import LiveServer, admin_token, free_port, live_server, stop_process

pytestmark = pytest.mark.integration

REDIS_SERVER = shutil.which("redis-server")


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """`redis-server` on a free 127.0.0.1 port, nothing persisted; its URL."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian's redis-server; scripts/test.sh)")
    import redis

    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(directory / "redis.log", "w")  # noqa: SIM115  # closed below
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (directory / "redis.log").read_text()
            try:
                if redis.Redis.from_url(url, socket_connect_timeout=1).ping():
                    break
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def kill_everything(self) -> None:
        """kill -9 the worker and its pool processes (ours, by pid)."""
        pool = _children(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        for pid in pool:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=20)


@contextmanager
def worker(
    config: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[Worker]:
    """A `stockyard worker` with `args`, ready to take jobs; stopped (SIGTERM) afterwards."""
    out = open(log, "w")  # noqa: SIM115  # closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "stockyard.cli.main", "worker", "--config", str(config),
         "--concurrency", "1", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    handle = Worker(process, log)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield handle
    finally:
        pool = _children(process.pid)
        if process.poll() is None:
            stop_process(process, timeout=30)
        for pid in pool:  # a pool process left behind by a killed parent
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out.close()


@dataclass
class Deployment:
    config: Path
    server: LiveServer
    token: str
    tmp: Path

    def post(self, body: dict) -> dict:
        response = httpx.post(
            f"{self.server.url}/api/jobs", json=body, headers={"X-API-Key": self.token}, timeout=30
        )
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: int) -> dict:
        response = httpx.get(
            f"{self.server.url}/api/jobs/{job_id}", headers={"X-API-Key": self.token}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self, job_id: int, states: tuple[str, ...] = ("succeeded", "failed"), attempts: int = 0
    ) -> dict:
        """The job once in one of `states` with at least `attempts` attempts."""
        deadline = time.monotonic() + 90
        while True:
            job = self.job(job_id)
            if job["state"] in states and job["attempts"] >= attempts:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.1)

    def jobs(self, **params: str) -> list[dict]:
        response = httpx.get(
            f"{self.server.url}/api/jobs", params=params, headers={"X-API-Key": self.token}
        )
        assert response.status_code == 200, response.text
        return response.json()["jobs"]

    @contextmanager
    def channel_locked(self, name: str = "main") -> Iterator[None]:
        """Hold the channel's lock, as another writer would."""
        settings = load_settings(self.config, env={})
        with layout_for(settings).workspace(name).lock(30):
            yield


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("jobs-celery")
    root = static_upstream_root(tmp, shards=False)
    with redis_server(tmp / "redis") as broker, static_server(root) as origin:
        config = tmp / "stockyard.toml"
        config.write_text(
            f'data_dir = "data"\nbroker_url = "{broker}"\n'
            f'[[mirrors]]\nchannel = "mirrored"\nupstream = "{origin.url}"\nevery = "1h"\n'
            'subdirs = ["noarch"]\n'
        )
        with live_server(tmp / "data", "--config", str(config)) as server:
            yield Deployment(config, server, admin_token(server.banner), tmp)


def test_jobs_run_on_the_worker(deployment: Deployment) -> None:
    channel_dir = deployment.tmp / "data" / "channels" / "main" / "noarch"
    make_artifact(channel_dir, "by-hand", "1.0")  # copied in by hand: a re-index publishes it
    log = deployment.tmp / "worker-ok.log"
    with worker(deployment.config, log, "--retry-delay", "0.2"):
        queued = deployment.post({"kind": "reindex", "arguments": {"channel": "main"}})
        assert queued["runner"] == "celery"
        done = deployment.wait(queued["id"])
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 1 and done["worker"].startswith("stockyard-")
        assert done["result"]["artifacts"] == 1
        repodata = httpx.get(f"{deployment.server.url}/main/noarch/repodata.json").json()
        assert "by-hand-1.0-0.conda" in repodata["packages.conda"]
        # The server queued its scheduled mirror as a job at start; the worker ran it.
        (mirror,) = deployment.jobs(kind="mirror_sync")
        synced = deployment.wait(mirror["id"])
        assert synced["state"] == "succeeded", synced
        assert synced["arguments"] == {"channel": "mirrored"} and synced["result"]["added"] > 0
        status = httpx.get(f"{deployment.server.url}/api/channels/mirrored/mirror").json()
        assert status["state"] == "ok"


def test_a_failing_job_is_retried_then_fails(deployment: Deployment) -> None:
    log = deployment.tmp / "worker-retry.log"
    quick = {"STOCKYARD_LOCK_TIMEOUT": "0.5"}
    with worker(deployment.config, log, "--retry-delay", "0.2", env=quick):
        with deployment.channel_locked():
            body = {"kind": "reindex", "arguments": {"channel": "main"}, "max_attempts": 3}
            job = deployment.wait(deployment.post(body)["id"])
        assert job["state"] == "failed" and job["attempts"] == 3, job
        assert job["error"].startswith("LockTimeout") and job["finished_at"] is not None
        assert log.read_text().count("failed, retrying") == 2
        failed = [j["id"] for j in deployment.jobs(state="failed")]
        assert job["id"] in failed


def test_a_worker_killed_mid_job_leaves_it_to_be_delivered_again(deployment: Deployment) -> None:
    body = {"kind": "reindex", "arguments": {"channel": "main"}, "join": False}
    # 1. The pool process running the job is killed: its worker puts the message back at once.
    with worker(deployment.config, deployment.tmp / "worker-a.log"):
        with deployment.channel_locked():
            queued = deployment.post(body)
            running = deployment.wait(queued["id"], ("running",))
            os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
            deployment.wait(queued["id"], ("running",), attempts=2)  # delivered again
        done = deployment.wait(queued["id"])
        assert done["state"] == "succeeded" and done["attempts"] == 2, done
        assert done["worker"] != running["worker"]
    # 2. The whole worker is killed: Redis hands the unacknowledged message to another worker
    # after the visibility timeout.
    with worker(deployment.config, deployment.tmp / "worker-b.log") as doomed:
        with deployment.channel_locked():
            queued = deployment.post(body)
            deployment.wait(queued["id"], ("running",))
            doomed.kill_everything()
        assert deployment.job(queued["id"])["state"] == "running"  # nobody is running it now
    with worker(deployment.config, deployment.tmp / "worker-c.log", "--visibility-timeout", "2"):
        done = deployment.wait(queued["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 2, done


def test_worker_errors_are_clear(tmp_path: Path) -> None:
    from tests.server.live import stockyard

    data = ["--data", str(tmp_path / "data")]
    unset = stockyard("worker", *data, env={"STOCKYARD_BROKER_URL": ""})
    assert unset.returncode == 1 and "broker_url is not set" in unset.stderr
    down = stockyard(
        "worker", *data, env={"STOCKYARD_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    )
    assert down.returncode == 1 and "cannot reach the job broker" in down.stderr
    assert "hint:" in down.stderr
    bad = stockyard("worker", *data, "--queues", "nope", env={"STOCKYARD_BROKER_URL": "redis://x"})
    assert bad.returncode == 1 and "unknown queue" in bad.stderr


def test_a_job_that_publishes_sends_its_purges(deployment: Deployment) -> None:
    from tests.cdn.receiver import purge_receiver

    channel_dir = deployment.tmp / "data" / "channels" / "main" / "noarch"
    artifact = make_artifact(channel_dir, "purged-by-a-job", "1.0")
    with purge_receiver() as receiver:
        env = {
            "STOCKYARD_PURGE_WEBHOOK_URL": receiver.url,
            "STOCKYARD_PUBLIC_URL": "https://conda.example.com",
        }
        with worker(deployment.config, deployment.tmp / "worker-purge.log", env=env):
            queued = deployment.post({"kind": "reindex", "arguments": {"channel": "main"}})
            assert deployment.wait(queued["id"])["state"] == "succeeded"
            wanted = f"https://conda.example.com/main/noarch/{artifact.name}"
            got = receiver.wait_for(lambda got: any(wanted in p["urls"] for p in got))
    assert any("https://conda.example.com/main/noarch/repodata.json" in p["urls"] for p in got)
