"""``ardoise``: the operator's command line (serve, worker, smtp, migrate, doctor, apikey, jobs, backup, restore,
prune, simulate). Errors an operator can fix (configuration, an unreachable database, a missing file) are one
plain line on stderr and exit status 2 or 1, never a traceback.

The command table is assembled here, like the task table in ``app/tasks.py``: each module holds one group of
commands, and the order below is the order ``ardoise --help`` lists them in."""

from __future__ import annotations

import typer

from app.cli import admin, lifecycle, ops, simulate
from app.cli.common import database_error_line, die

cli = typer.Typer(
    help="Ardoise: a small business's social media from a basic phone or plain email.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: no type labels such as <bool> beside flags
)
cli.command()(lifecycle.migrate)
cli.command()(lifecycle.doctor)
cli.command()(lifecycle.serve)
cli.command("worker")(lifecycle.worker_cmd)
cli.command("smtp")(lifecycle.smtp_cmd)
cli.command()(ops.backup)
cli.command()(ops.restore)
cli.command()(ops.prune)
cli.add_typer(admin.apikey_cli, name="apikey")
cli.add_typer(admin.jobs_cli, name="jobs")
cli.add_typer(simulate.simulate_cli, name="simulate")


def main() -> None:
    """The ``ardoise`` entry point: runs the command, turns the errors an operator can fix into one line."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError

    from app.config import settings_error_line
    from app.maintenance import OpsError

    try:
        cli()
    except ValidationError as exc:
        die(settings_error_line(exc), 2)
    except OpsError as exc:
        die(str(exc), 1)
    except DBAPIError as exc:
        die(database_error_line(exc), 1)
    except KeyboardInterrupt:
        die("interrupted", 130)
