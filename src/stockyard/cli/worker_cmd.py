"""`stockyard worker`: run the deployment's background jobs on Celery (docs/jobs.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings


def worker(
    concurrency: int = typer.Option(
        2, "--concurrency", min=1, max=64, help="Jobs run at once (pool processes)."
    ),
    queues: list[str] = typer.Option(
        None,
        "--queues",
        "-Q",
        help="Take jobs only from these queues (comma-separated or repeated): stockyard, "
        "stockyard.mirror, stockyard.scan. Default: all.",
    ),
    data: Path = typer.Option(None, "--data", "-d", help=DATA_HELP),
    config: Path = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    loglevel: str = typer.Option("info", "--loglevel", help="debug|info|warning|error."),
    visibility_timeout: float = typer.Option(
        None,
        "--visibility-timeout",
        min=1,
        help="Seconds before Redis hands a job whose worker died to another worker. "
        "Default: 3600. Keep it longer than the longest job.",
    ),
    retry_delay: float = typer.Option(
        None,
        "--retry-delay",
        min=0,
        help="Seconds before the first retry of a failed job, doubled each time. Default: 10.",
    ),
) -> None:
    """Start a Celery worker that runs the deployment's jobs (needs broker_url).

    It reads the same settings as `stockyard serve` (--config, STOCKYARD_* variables). SIGTERM
    lets running jobs finish; a worker killed mid-job leaves its job to be delivered again.
    """
    from stockyard.jobs.kinds import QUEUES
    from stockyard.jobs.worker import run_worker

    if loglevel not in ("debug", "info", "warning", "error"):
        from stockyard.types.errors import ConfigError

        raise ConfigError(f"--loglevel must be debug, info, warning or error, not {loglevel!r}")
    wanted = [q.strip() for item in queues or [] for q in item.split(",") if q.strip()]
    run_worker(
        load_cli_settings(config, data),
        concurrency=concurrency,
        queues=wanted or QUEUES,
        loglevel=loglevel,
        visibility_timeout=visibility_timeout,
        retry_delay=retry_delay,
    )


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
