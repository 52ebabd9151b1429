"""`stockyard job list|show|run|retry`: the deployment's background jobs (docs/jobs.md).

With `broker_url` set, `run` queues the job for `stockyard worker` (and `--wait` follows it);
without a broker there is no queue to hand it to, so `run` runs the job in this process and
waits for it, retries included.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockyard.cli.data_dir import CONFIG_HELP, DATA_HELP, load_cli_settings
from stockyard.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from stockyard.catalog import JobRow
    from stockyard.jobs import JobRunner

job_app = typer.Typer(
    help="Background jobs: re-index, mirror syncs, snapshots, scans, garbage collection.",
    no_args_is_help=True,
)

KINDS_HELP = (
    "reindex (channel=C), mirror_sync (channel=C), snapshots, scan (channel=C [force=true]), "
    "gc [keep_jobs_days=N]."
)


def _data_opt() -> Any:
    return typer.Option(None, "--data", "-d", help=DATA_HELP)


def _config_opt() -> Any:
    return typer.Option(None, "--config", "-c", help=CONFIG_HELP)


def _json_opt() -> Any:
    return typer.Option(False, "--json", help="Print JSON.")


def _when(ms: int | None) -> str:
    from stockyard.server.ui.templating import datetime_ms

    return datetime_ms(ms) if ms else "-"


def _print_job(job: JobRow) -> None:
    from rich.markup import escape

    from stockyard.jobs.documents import job_document
    from stockyard.types.encoding import encode_json

    doc = job_document(job)
    stdout.print(f"job {job.id}: {job.kind} [bold]{job.state}[/]", highlight=False)
    stdout.print(f"  arguments: {escape(encode_json(doc['arguments']).decode())}", highlight=False)
    stdout.print(
        f"  attempts:  {job.attempts} of {job.max_attempts} ({job.runner})"
        + (f", last by {escape(job.worker)}" if job.worker else ""),
        highlight=False,
    )
    stdout.print(
        f"  created {_when(job.created_at)}, started {_when(job.started_at)}, "
        f"finished {_when(job.finished_at)}",
        highlight=False,
    )
    if job.retry_at and job.state == "retrying":
        stdout.print(f"  next attempt: {_when(job.retry_at)}", highlight=False)
    if job.error:
        stdout.print(f"  error: {escape(job.error)}", highlight=False)
    if job.result is not None:
        stdout.print(f"  result: {escape(job.result)}", highlight=False)


def _emit(job: JobRow, as_json: bool) -> None:
    if as_json:
        from stockyard.jobs.documents import job_document

        print_json(job_document(job))
    else:
        _print_job(job)


@job_app.command("list")
def job_list(
    state: str = typer.Option(
        None, "--state", help="Only jobs in this state: queued|running|retrying|succeeded|failed."
    ),
    kind: str = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip the newest N."),
    data: Path = _data_opt(),
    config: Path = _config_opt(),
    as_json: bool = _json_opt(),
) -> None:
    """List jobs, newest first."""
    from stockyard.catalog import JOB_STATES
    from stockyard.jobs.documents import job_document
    from stockyard.server.channels import open_catalog
    from stockyard.types.errors import InvalidIdentifier

    if state is not None and state not in JOB_STATES:
        raise InvalidIdentifier(
            f"unknown job state {state!r}", hint=f"States: {', '.join(JOB_STATES)}."
        )
    catalog = open_catalog(load_cli_settings(config, data))
    try:
        total, jobs = catalog.list_jobs(state=state, kind=kind, limit=limit, offset=offset)
    finally:
        catalog.close()
    if as_json:
        print_json({"total": total, "jobs": [job_document(job) for job in jobs]})
        return
    from rich.table import Table

    table = Table("id", "kind", "arguments", "state", "attempts", "created", "finished", "error")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.arguments,
            job.state,
            f"{job.attempts}/{job.max_attempts}",
            _when(job.created_at),
            _when(job.finished_at),
            (job.error or "")[:80],
        )
    stdout.print(table)
    stderr.print(f"{len(jobs)} of {total} job(s)", highlight=False)


@job_app.command("show")
def job_show(
    job_id: int = typer.Argument(..., help="The job's id."),
    data: Path = _data_opt(),
    config: Path = _config_opt(),
    as_json: bool = _json_opt(),
) -> None:
    """One job: arguments, state, attempts, times, worker, error and result."""
    from stockyard.server.channels import open_catalog

    catalog = open_catalog(load_cli_settings(config, data))
    try:
        job = catalog.job(job_id)
    finally:
        catalog.close()
    _emit(job, as_json)


def _follow(runner: JobRunner, job: JobRow, wait: bool, timeout: float | None) -> JobRow:
    """Without a broker the job runs here: always wait. With one, wait when asked."""
    if runner.settings.broker_url is None or wait:
        return runner.wait(job.id, timeout)
    return job


def _finish(job: JobRow, as_json: bool, waited: bool) -> None:
    _emit(job, as_json)
    if not waited:
        return
    if job.state == "failed":
        from stockyard.jobs.errors import JobError

        raise JobError(
            f"job {job.id} ({job.kind}) failed after {job.attempts} attempt(s): {job.error}",
            hint=f"Fix the cause, then `stockyard job retry {job.id}`; docs/jobs.md has a runbook.",
        )
    if not job.finished:
        from stockyard.jobs.errors import JobError

        raise JobError(
            f"job {job.id} ({job.kind}) is still {job.state} after the --timeout",
            hint=f"Follow it with `stockyard job show {job.id}`.",
        )


def _open_runner(data: Path | None, config: Path | None) -> JobRunner:
    from stockyard.jobs import open_runner
    from stockyard.server.channels import open_catalog

    settings = load_cli_settings(config, data)
    catalog = open_catalog(settings)
    try:
        return open_runner(settings, catalog)
    except BaseException:
        catalog.close()
        raise


@job_app.command("run")
def job_run(
    kind: str = typer.Argument(..., help=f"The job kind: {KINDS_HELP}"),
    arguments: list[str] = typer.Argument(None, help="The job's arguments as KEY=VALUE."),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Wait until the job finished and print its result (exit 1 if it failed).",
    ),
    timeout: float = typer.Option(None, "--timeout", help="With --wait: give up after seconds."),
    max_attempts: int = typer.Option(None, "--max-attempts", help="Attempts (default 4)."),
    new: bool = typer.Option(
        False, "--new", help="Queue a new job even when a queued one does the same work."
    ),
    data: Path = _data_opt(),
    config: Path = _config_opt(),
    as_json: bool = _json_opt(),
) -> None:
    """Queue a job (`stockyard job run reindex channel=main --wait`). Without a broker it runs
    in this process, and the command waits for it."""
    from stockyard.jobs.kinds import arguments_from_text

    parsed = arguments_from_text(kind, list(arguments or []))
    runner = _open_runner(data, config)
    try:
        submitted = runner.submit(kind, parsed, max_attempts=max_attempts, join=not new)
        if submitted.joined and not as_json:
            stderr.print(
                f"joined job {submitted.job.id}: it is queued and does the same work",
                highlight=False,
            )
        waited = runner.settings.broker_url is None or wait
        job = _follow(runner, submitted.job, wait, timeout)
    finally:
        runner.close()
        runner.catalog.close()
    _finish(job, as_json, waited)


@job_app.command("retry")
def job_retry(
    job_id: int = typer.Argument(..., help="The job's id."),
    wait: bool = typer.Option(False, "--wait", help="Wait until it finished."),
    timeout: float = typer.Option(None, "--timeout", help="With --wait: give up after seconds."),
    data: Path = _data_opt(),
    config: Path = _config_opt(),
    as_json: bool = _json_opt(),
) -> None:
    """Queue a failed job again from its first attempt; also for a job stuck queued or running
    whose worker and message are gone (see docs/jobs.md, "Stuck jobs")."""
    runner = _open_runner(data, config)
    try:
        job = runner.retry(job_id)
        waited = runner.settings.broker_url is None or wait
        job = _follow(runner, job, wait, timeout)
    finally:
        runner.close()
        runner.catalog.close()
    _finish(job, as_json, waited)


def register(app: typer.Typer) -> None:
    app.add_typer(job_app, name="job")
