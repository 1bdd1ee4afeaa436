"""`smspartner-etl doctor`: check config, key, API, database and migrations, and say what is wrong.

Each check prints one line, ``ok`` or ``FAIL`` (or ``warn``) and, when it fails, what to do. Later
checks that need a failed one are skipped. Exit status 0 when nothing failed, 78 (EX_CONFIG) when
the config cannot be loaded (as `run` would refuse it), 1 when another check failed.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

import click

from etl.errors import ApiError, AuthError, ConfigError, TransientApiError


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def line(self, status: str, what: str, detail: str) -> None:
        colour = {"ok": "green", "FAIL": "red", "warn": "yellow", "skip": None}[status]
        click.echo(f"{click.style(f'{status:>4}', fg=colour)}  {what}: {detail}")
        if status == "FAIL":
            self.failed += 1


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@click.command("doctor")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Check the installation and print what is wrong in plain words."""
    from etl.config import load_config

    out = Report()
    try:
        config = load_config(ctx.find_root().obj.get("config_path"))
    except ConfigError as exc:
        from etl.cli import exit_code_for

        out.line("FAIL", "config", f"{exc}")
        sys.exit(exit_code_for(exc))  # the config exit code, as `run` would give: nothing else can be checked
    out.line("ok", "config", f"read from {config.source}")

    key: Any = None
    try:
        key = config.api_key()
        out.line("ok", "API key", "found")
    except ConfigError as exc:
        out.line("FAIL", "API key", str(exc))

    if key is not None:
        _check_api(out, config, key)
    else:
        out.line("skip", "API", "no key to try")

    _check_database(out, config)
    sys.exit(1 if out.failed else 0)


def _check_api(out: Report, config: Any, key: Any) -> None:
    from etl.api.factory import make_client

    client = make_client(config, key, max_attempts=1)
    try:
        account = client.me()
    except AuthError as exc:
        out.line("FAIL", "API", f"the API refused the key (code {exc.code}): check the key in {config.api.key_env}, api.key_file or the credential")
        return
    except TransientApiError as exc:
        out.line("FAIL", "API", f"cannot reach {config.api.base_url} ({exc}); check the network, proxy or firewall")
        return
    except ApiError as exc:
        out.line("FAIL", "API", f"unexpected answer from /me: {exc}")
        return
    finally:
        client.close()
    who = account.username or account.user_id or "the account"
    credits = f", {account.credit_sms} SMS credits" if account.credit_sms is not None else ""
    out.line("ok", "API", f"{config.api.base_url} answers; the key works for {who}{credits}")


def _check_database(out: Report, config: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from etl.db.engine import driver_message, make_engine, normalize_url, safe_url
    from etl.db.migrate import current_heads, database_revisions
    from etl.metrics import last_successes

    url = safe_url(config.database.url)
    engine = make_engine(config.database.url, pool=False)
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            out.line("FAIL", "database", f"cannot connect to {url}: {driver_message(exc, normalize_url(config.database.url).password)}")
            return
        out.line("ok", "database", f"{url} reachable")
        have, want = database_revisions(engine), current_heads()
        if not have:
            out.line("FAIL", "schema", "the database was never migrated: run `smspartner-etl db upgrade`")
            return
        if have != want:
            out.line("FAIL", "schema", f"at {', '.join(sorted(have))}, the code expects {', '.join(sorted(want))}: run `smspartner-etl db upgrade`")
            return
        out.line("ok", "schema", f"up to date ({', '.join(sorted(have))})")
        from etl.daemon import scheduled_jobs

        schedules = scheduled_jobs(config)
        last = last_successes(engine, schedules)
        now = datetime.now(timezone.utc)
        for name, schedule in schedules.items():
            when = last.get(name)
            if when is None:
                out.line("warn", f"job {name}", "has never succeeded (run `smspartner-etl sync " + name + "`)")
                continue
            age = (now - when).total_seconds()
            status = "ok" if age <= schedule.staleness else "warn"
            note = "" if status == "ok" else f", older than its staleness of {_age(schedule.staleness)}: is the daemon running?"
            out.line(status, f"job {name}", f"last success {_age(age)} ago{note}")
        _check_propagation(out, engine, now)
        if config.database.read_url:
            _check_replica(out, config, last.get("stops"), now)
    finally:
        engine.dispose()


def _check_replica(out: Report, config: Any, primary_stops: datetime | None, now: datetime) -> None:
    """``database.read_url``: reachable, migrated like the code, and how far its stop-list sync lags the primary's
    (filter-audience judges staleness from the replica's run log: docs/operations.md, "A read replica")."""
    from sqlalchemy.exc import SQLAlchemyError

    from etl.db.engine import driver_message, make_engine, normalize_url, safe_url
    from etl.db.migrate import current_heads, database_revisions
    from etl.metrics import last_successes

    url = config.database.read_url
    shown = safe_url(url)
    engine = make_engine(url, pool=False, setting="database.read_url")
    try:
        try:
            have = database_revisions(engine)
            replica_stops = last_successes(engine, ["stops"]).get("stops")
        except SQLAlchemyError as exc:
            out.line("FAIL", "replica", f"cannot read {shown}: {driver_message(exc, normalize_url(url, 'database.read_url').password)}")
            return
    finally:
        engine.dispose()
    if have != current_heads():
        out.line("FAIL", "replica", f"{shown} is at {', '.join(sorted(have)) or 'no revision'}, the code expects "
                                    f"{', '.join(sorted(current_heads()))}: is it a replica of database.url?")
        return
    if replica_stops is None:
        out.line("warn", "replica", f"{shown} reachable, but holds no successful stops sync: filter-audience refuses until it does")
        return
    behind = (primary_stops - replica_stops).total_seconds() if primary_stops is not None else 0.0
    age = (now - replica_stops).total_seconds()
    status = "ok" if age <= config.audience.max_stop_age else "warn"
    note = "" if status == "ok" else ", older than audience.max_stop_age: filter-audience refuses (replication lag?)"
    out.line(status, "replica", f"{shown} up to date; its last stops success is {_age(age)} old, "
                                f"{_age(max(behind, 0.0))} behind the primary's{note}")


def _check_propagation(out: Report, engine: Any, now: datetime) -> None:
    """The p99 of STOP → effective here, per account, over the last 30 days (docs/compliance.md)."""
    from etl.compliance import propagation

    with engine.connect() as conn:
        delays = propagation.delays_by_account(conn, now)
        conn.rollback()
    if not delays:
        out.line("ok", "opt-out propagation", "no opt-out in the last 30 days")
    for account, values in sorted(delays.items()):
        p99 = propagation.p99(values) or 0.0
        out.line("ok", f"opt-out propagation ({account})", f"p99 {_age(p99)} over {len(values)} opt-outs in the last 30 days")
