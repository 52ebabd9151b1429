"""Entry point of the `stockyard` console script."""

from __future__ import annotations

import importlib
import sys

import typer

from stockyard import __version__
from stockyard.cli.output import print_error
from stockyard.types.errors import StockyardError

app = typer.Typer(
    name="stockyard",
    help="Stockyard: index, serve and check conda channels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each command module imports its service lazily inside the command, so `stockyard index` never
# imports the web server. The modules themselves are imported when `main` runs (`_register`).
_MODULES = (
    "schema_cmd",
    "package_cmd",
    "validate_cmd",
    "index_cmd",
    "serve_cmd",
    "channel_cmd",
    "token_cmd",
    "deploy_cmd",
    "patch_cmd",
    "history_cmd",
    "recipe_cmd",
    "mirror_cmd",
    "trust_cmd",
    "scan_cmd",
    "sbom_cmd",
    "attest_cmd",
    "job_cmd",
    "worker_cmd",
    "check_config_cmd",
    "backup_cmd",
    "cdn_cmd",
)
#: Commands run with only their own module imported (--help and every other command import
#: them all): importing every command module costs a tenth of a second, a `stockyard mirror`
#: that finds nothing changed must end within one (issue 9), and `stockyard index` after one
#: added artifact is measured against rattler-index (issue 7).
_SOLO = {"mirror": "mirror_cmd", "index": "index_cmd"}
_registered: set[str] = set()


def _register(argv: list[str]) -> None:
    """Register the command modules `argv` needs (each once per process)."""
    solo = _SOLO.get(argv[0]) if argv else None
    for name in (solo,) if solo is not None else _MODULES:
        if name not in _registered:
            importlib.import_module(f"stockyard.cli.{name}").register(app)
            _registered.add(name)


@app.command("version")
def version() -> None:
    """Print the Stockyard version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 1, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    _register(args)
    try:
        # Without standalone mode, click returns (not raises) the code of a `typer.Exit(n)`.
        result = app(args=args, standalone_mode=False)
    except StockyardError as exc:
        print_error(exc.message, exc.hint)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print_error("aborted")
        return 130
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except Exception as exc:  # click usage errors; typer vendors click as `typer._click`
        message, code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(code, int):
            raise
        ctx = getattr(exc, "ctx", None)
        path = getattr(ctx, "command_path", None) or "stockyard"
        print_error(str(message()), f"Run '{path} --help' for the arguments and options.")
        return code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
