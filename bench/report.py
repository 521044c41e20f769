"""The results: one table of endpoints, the other figures, the targets of the issue."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

MIB = 1024

# The targets of the issue (docs/BENCHMARKS.md), checked against the results.
COUNT_ROWS = ("count_over", "count_over_ages", "count_under", "count_under_ages")
SHARE_OF_HELLO_TARGETS = {
    **dict.fromkeys(COUNT_ROWS, 50.0),
    "status": 40.0,
    "get_user_by_name": 35.0,
}
SMALL, LARGE = 10_000, 1_000_000


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def endpoint_table(results: dict) -> Table:
    load = results["settings"]
    table = Table(
        title=(
            f"HTTP: wrk {load['threads']} threads, {load['connections']} connections, "
            f"{load['duration_s']:g} s a row; pgbench -c {load['connections']} "
            f"-j {load['threads']} -M prepared"
        )
    )
    for column in ("endpoint", "users"):
        table.add_column(column)
    # % hello: of the mean of the two hello-world rows (measured before and after).
    for column in ("req/s", "p50 ms", "p99 ms", "% hello", "pgbench tps", "% pgbench", "errors"):
        table.add_column(column, justify="right")
    for phase in results["phases"]:
        for row in phase["rows"]:
            wrk = row["wrk"]
            pgbench = row.get("pgbench")
            errors = wrk["non_2xx"] + wrk["socket_errors"]
            table.add_row(
                row["label"],
                f"{phase['users']:,}",
                _rate(wrk["rps"]),
                _ms(wrk["p50_ms"]),
                _ms(wrk["p99_ms"]),
                _pct(row.get("pct_of_hello")),
                _rate(pgbench["tps"]) if pgbench else "—",
                _pct(row.get("pct_of_pgbench")),
                f"[red]{errors:,} ⚠[/]" if errors else "0",
            )
        table.add_section()
    return table


def other_table(results: dict) -> Table:
    table = Table(title="Other figures")
    table.add_column("what")
    table.add_column("users", justify="right")
    table.add_column("value", justify="right")
    table.add_column("notes")
    argon2 = results["argon2_verifications_per_s"]
    table.add_row(
        "Argon2id verify_password, 1 thread", "", f"{argon2['1']:.1f}/s", "the service's parameters"
    )
    table.add_row("Argon2id verify_password, 2 threads", "", f"{argon2['2']:.1f}/s", "")
    for phase in results["phases"]:
        users = f"{phase['users']:,}"
        burst = phase.get("login_burst")
        if burst:
            table.add_row(
                "/count_over p99 without → with login burst",
                users,
                f"{_ms(burst['count_p99_without_ms'])} → {_ms(burst['count_p99_with_ms'])} ms "
                f"({burst['p99_ratio']:.1f}×)",
                f"{burst['login_connections']} concurrent logins, {burst['logins_per_s']:.1f}/s "
                f"during the burst",
            )
        login = next((r for r in phase["rows"] if r["key"] == "login"), None)
        if login:
            table.add_row(
                "POST /login alone vs Argon2 (2 threads)",
                users,
                f"{login['wrk']['rps']:.1f}/s",
                f"{login['wrk']['rps'] / argon2['2'] * 100:.0f} % of the raw verification rate",
            )
        seeding = phase.get("seeding")
        if seeding:
            table.add_row(
                "docmemo seed --rebuild (whole command)",
                users,
                f"{seeding['wall_s']:.1f} s",
                f"reports {seeding['reported_s']} s; peak RSS {seeding['peak_rss_mib']:.0f} MiB",
            )
        if size := phase.get("database_size_mib"):
            table.add_row("database size after seeding", users, f"{size:,.0f} MiB", "")
        generator = phase.get("generator")
        if generator:
            table.add_row(
                "generate_registry peak memory (VmHWM)",
                users,
                f"{generator['peak_mib']:.0f} MiB",
                f"{generator['seconds']:.1f} s; "
                f"interpreter alone {generator['baseline_mib']:.0f} MiB",
            )
        fit = phase.get("fit_model")
        if fit:
            table.add_row(
                "docmemo fit-model (whole command)",
                users,
                f"{fit['wall_s']:.1f} s",
                f"a sample of 3,000 patients; peak RSS {fit['peak_rss_mib']:.0f} MiB",
            )
        prediction = phase.get("prediction")
        if prediction:
            table.add_row(
                "predict_for_patient, server time without HTTP",
                users,
                f"p50 {_ms(prediction['p50_ms'])} ms, p99 {_ms(prediction['p99_ms'])} ms",
                f"{prediction['calls']:,} patients, {prediction['mean_visits']:.1f} visits "
                f"each; imports {', '.join(prediction['heavy_modules']) or 'no numpy/statsmodels'}",
            )
        before = {w["pid"]: w for w in phase.get("worker_memory_before_logins", [])}
        for worker in phase.get("worker_memory", []):
            earlier = before.get(worker["pid"])
            table.add_row(
                f"API worker {worker['pid']} resident memory (VmRSS) at the end",
                users,
                f"{worker['VmRSS'] / MIB:.0f} MiB",
                f"peak {worker['VmHWM'] / MIB:.0f} MiB"
                + (f"; {earlier['VmRSS'] / MIB:.0f} MiB before any login" if earlier else ""),
            )
    for key, ratio in results.get("large_vs_small_latency", {}).items():
        table.add_row(
            f"{key} latency, {LARGE:,} vs {SMALL:,}",
            "",
            f"p50 {ratio['p50']:.2f}×, p99 {ratio['p99']:.2f}×",
            "",
        )
    return table


def _phase(results: dict, users: int) -> dict | None:
    return next((p for p in results["phases"] if p["users"] == users), None)


def _row(phase: dict | None, key: str) -> dict | None:
    if phase is None:
        return None
    return next((r for r in phase["rows"] if r["key"] == key), None)


def check_targets(results: dict) -> list[dict]:
    """Each target of the issue: what was measured, and whether it is met."""
    checks: list[dict] = []

    def add(target: str, measured: str, met: bool | None) -> None:
        checks.append({"target": target, "measured": measured, "met": met})

    small, large = _phase(results, SMALL), _phase(results, LARGE)
    for key, share in SHARE_OF_HELLO_TARGETS.items():
        row = _row(small, key)
        if row and row.get("pct_of_hello") is not None:
            add(
                f"{row['label']} ≥ {share:.0f} % of hello world at {SMALL:,}",
                f"{row['pct_of_hello']:.0f} %",
                row["pct_of_hello"] >= share,
            )
    for key, ratio in results.get("large_vs_small_latency", {}).items():
        add(
            f"{key} latency at {LARGE:,} ≤ 1.5× at {SMALL:,}",
            f"p50 {ratio['p50']:.2f}×, p99 {ratio['p99']:.2f}×",
            ratio["p50"] <= 1.5 and ratio["p99"] <= 1.5,
        )
    for phase in results["phases"]:
        burst = phase.get("login_burst")
        if burst:
            add(
                f"/count_over p99 during a login burst < 3× without ({phase['users']:,})",
                f"{burst['p99_ratio']:.1f}×",
                burst["p99_ratio"] < 3,
            )
    limits = {SMALL: 2.0, LARGE: 60.0}
    for phase in results["phases"]:
        seeding = phase.get("seeding")
        if seeding and phase["users"] in limits:
            limit = limits[phase["users"]]
            add(
                f"seed {phase['users']:,} users < {limit:g} s",
                f"{seeding['wall_s']:.1f} s (command reports {seeding['reported_s']} s)",
                seeding["wall_s"] < limit,
            )
    generator = (large or {}).get("generator")
    if generator:
        add(
            f"generator peak memory < 500 MB at {LARGE:,}",
            f"{generator['peak_mib'] * 1.048576:.0f} MB",
            generator["peak_mib"] * 1.048576 < 500,
        )
    for phase in results["phases"]:
        prediction = phase.get("prediction")
        if prediction:
            add(
                f"one prediction < 5 ms of server time ({phase['users']:,})",
                f"p99 {prediction['p99_ms']:.2f} ms",
                prediction["p99_ms"] < 5 and not prediction["heavy_modules"],
            )
    workers = (large or {}).get("worker_memory")
    if workers:
        biggest = max(w["VmRSS"] for w in workers) / MIB * 1.048576
        add(f"API worker RSS < 200 MB at {LARGE:,}", f"{biggest:.0f} MB (largest)", biggest < 200)
    return checks


def targets_table(checks: list[dict]) -> Table:
    table = Table(title="Targets of the issue")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("met")
    for check in checks:
        met = check["met"]
        table.add_row(
            check["target"],
            check["measured"],
            "[green]met[/]" if met else "[red]not met[/]" if met is False else "—",
        )
    return table


def print_report(results: dict, console: Console) -> None:
    console.print(endpoint_table(results))
    console.print(other_table(results))
    console.print(targets_table(results["targets"]))


def markdown(results: dict) -> str:
    """The three tables in Markdown, for docs/BENCHMARKS.md."""
    load = results["settings"]
    lines = [
        f"wrk: {load['threads']} threads, {load['connections']} connections, "
        f"{load['duration_s']:g} s a row (after a 1 s warm-up); pgbench: "
        f"-c {load['connections']} -j {load['threads']} -M prepared, same duration.",
        "",
        "| endpoint | users | req/s | p50 ms | p99 ms | % of hello world | pgbench tps "
        "| % of pgbench | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for phase in results["phases"]:
        for row in phase["rows"]:
            wrk, pgbench = row["wrk"], row.get("pgbench")
            lines.append(
                f"| `{row['label']}` | {phase['users']:,} | {_rate(wrk['rps'])} "
                f"| {_ms(wrk['p50_ms'])} | {_ms(wrk['p99_ms'])} | {_pct(row.get('pct_of_hello'))} "
                f"| {_rate(pgbench['tps']) if pgbench else '—'} "
                f"| {_pct(row.get('pct_of_pgbench'))} | {wrk['non_2xx'] + wrk['socket_errors']} |"
            )
    lines += ["", "| figure | users | value | notes |", "|---|--:|--:|---|"]
    other = other_table(results)
    cells = [column._cells for column in other.columns]
    for row in zip(*cells, strict=True):
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    lines += ["", "| target | measured | met |", "|---|--:|---|"]
    for check in results["targets"]:
        met = {True: "met", False: "**not met**", None: "—"}[check["met"]]
        lines.append(f"| {check['target']} | {check['measured']} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    # .venv/bin/python bench/report.py bench/results/<run>.json: the tables of a run, in Markdown.
    print(markdown(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))), end="")
