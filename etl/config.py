"""Configuration: a TOML file plus environment overrides, validated once into frozen dataclasses.

Where values come from, later wins:

1. the defaults below;
2. the TOML file (``--config``, else ``$SMSPARTNER_ETL_CONFIG``, else none);
3. environment variables ``SMSPARTNER_ETL__<SECTION>__<KEY>`` (e.g.
   ``SMSPARTNER_ETL__DATABASE__URL=postgresql+psycopg://...``), converted to the default's type.

The API key is never read from the TOML: it comes from the environment variable named by
``api.key_env`` (default ``SMSPARTNER_API_KEY``), or from ``api.key_file``, or from a systemd
credential (``$CREDENTIALS_DIRECTORY/smspartner-api-key``). It is held in a `Secret`, whose
``repr``/``str`` never show it. Sub-account keys follow the same rule (`etl.secrets`, ``[accounts]``).

Every mistake gives one `ConfigError` naming the key and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from etl.config_accounts import PARENT_LABEL as PARENT_LABEL  # re-exported
from etl.config_accounts import AccountsConfig, validate_accounts
from etl.config_compliance import ComplianceConfig, validate_compliance
from etl.config_console import ConsoleConfig, validate_console
from etl.durations import Duration as Duration  # re-exported, with parse_duration, for the settings' callers
from etl.durations import parse_duration as parse_duration
from etl.errors import ConfigError
from etl.secrets import Secret as Secret  # re-exported: etl.config.Secret is the name callers know
from etl.secrets import read_secret

log = logging.getLogger(__name__)

ENV_PREFIX = "SMSPARTNER_ETL__"
CONFIG_PATH_ENV = "SMSPARTNER_ETL_CONFIG"
CREDENTIAL_NAME = "smspartner-api-key"




@dataclass(frozen=True)
class ApiConfig:
    base_url: str = "https://api.smspartner.fr/v1"
    key_env: str = "SMSPARTNER_API_KEY"
    key_file: str = ""
    connect_timeout: Duration = 5.0
    read_timeout: Duration = 30.0
    max_attempts: int = 5
    max_retry_seconds: Duration = 120.0
    default_region: str = "FR"
    #: "system", or "simulator" to follow the bundled simulator's clock (demo, soak; see etl/clock.py).
    clock: str = "system"
    #: One budget of calls per minute for the account, shared by every instance through the database
    #: (docs/api-client.md, "Shared API budget"); 0: no shared budget.
    max_calls_per_minute: int = 0
    #: Documented per-endpoint limits, within the budget: cost-resume (REFERENCE §3.8), HLR/lookup (ACCOUNTS §4).
    cost_resume_calls_per_minute: int = 5
    verification_calls_per_minute: int = 360
    #: Seconds added to each minute: the time from taking a slot to the call reaching the API, and clock skew between hosts.
    budget_margin: Duration = 1.0
    #: Status and cost reads a job keeps in flight at once on one client (etl/api/concurrent.py); 1: one after another.
    concurrency: int = 1


LOCK_FLAVOURS = ("auto", "lease")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///smspartner.db"
    #: A replica (same kind of database) for reads that may lag: /metrics, the console's read-only pages and
    #: filter-audience's stop list (docs/operations.md, "A read replica"). Never for writes, locks or the budget.
    read_url: str = ""
    #: Job locks: "auto" (session locks on PostgreSQL/MariaDB, lease rows on SQLite) or "lease" (lease rows
    #: everywhere: behind PgBouncer in transaction mode, docs/operations.md, "PgBouncer").
    locks: str = "auto"
    #: psycopg prepares a statement run 5 times on a connection; off behind a pooler that cannot follow them
    #: (PgBouncer in transaction mode before 1.21). PostgreSQL only.
    prepared_statements: bool = True


@dataclass(frozen=True)
class StopsConfig:
    #: Refuse a sync that would close more than this share of the open stops (0..1), unless forced.
    max_removed_share: float = 0.25


@dataclass(frozen=True)
class RentalToken:
    token: str
    label: str = ""


@dataclass(frozen=True)
class RentalsConfig:
    tokens: tuple[RentalToken, ...] = ()


COST_SOURCES = ("per_recipient", "announced")


@dataclass(frozen=True)
class StatusesConfig:
    #: Wait after each poll of a recipient that is not final: 1st, 2nd, ... the last repeats.
    ladder: tuple[Duration, ...] = (60.0, 300.0, 900.0, 3600.0, 21600.0)
    #: Poll at most this long after the actual send time (REFERENCE §4: reports lag up to 48 h).
    window: Duration = 48 * 3600.0
    #: Tags whose recipients are discovered with bulk-status-by-tag.
    tags: tuple[str, ...] = ()
    #: Use bulk-status for a send once this many of its recipients are due.
    bulk_threshold: int = 50
    #: Re-read cost with message-status this long after a final status while cost is missing.
    cost_retry: Duration = 6 * 3600.0
    #: Give up reading a missing cost this long after the final status.
    cost_window: Duration = 7 * 86400.0
    #: Where a final recipient's cost comes from (docs/statuses.md, "Cost source"): ``per_recipient``
    #: (one /message-status read each) or ``announced`` (the send's announced cost, no read at all).
    cost_source: str = "per_recipient"
    #: Pairs one instance claims for status polling at a time (PostgreSQL, MariaDB: instances split the
    #: polling, docs/statuses.md "Claimed work"); 2,000 is four multi-status calls of 500.
    claim_batch: int = 2000
    #: Recipients one instance claims for cost reads at a time (one /message-status call each).
    cost_claim_batch: int = 250
    #: Cost reads one instance makes per cycle at most (one /message-status call each): spreads a backlog
    #: over cycles; raise it with ``api.concurrency`` at volume (docs/benchmarks.md, "Cost load").
    cost_reads_per_cycle: int = 1500
    #: A claim not written back within this long is taken over by another instance (its holder died or
    #: stalled): longer than the calls of one batch take with their retries.
    claim_lease: Duration = 300.0


@dataclass(frozen=True)
class ContactsConfig:
    """The contacts job (docs/contacts.md): which groups' contacts it reads, and how fast."""

    #: Group ids (strings, as ``group/list`` gives them) whose contacts are read and block the audience; empty: all.
    groups: tuple[str, ...] = ()
    #: Calls per minute, spaced evenly (the API documents no limit; a 429 is retried with Retry-After). 0: unspaced.
    max_calls_per_minute: float = 60.0


@dataclass(frozen=True)
class JobSchedule:
    enabled: bool = True
    every: Duration = 900.0
    cron: str = ""
    #: /healthz reports unhealthy when the job has not succeeded for this long.
    staleness: Duration = 7200.0


def _default_jobs() -> dict[str, JobSchedule]:
    return {
        "accounts": JobSchedule(every=3600.0, staleness=86400.0),
        "stops": JobSchedule(every=900.0, staleness=7200.0),
        "statuses": JobSchedule(every=60.0, staleness=1800.0),
        "rentals": JobSchedule(every=3600.0, staleness=2 * 86400.0),
        "finance": JobSchedule(cron="17 6 * * *", every=0.0, staleness=3 * 86400.0),
        "actions": JobSchedule(every=900.0, staleness=7200.0),
        "contacts": JobSchedule(every=6 * 3600.0, staleness=2 * 86400.0),
        "retention": JobSchedule(cron="43 3 * * *", every=0.0, staleness=3 * 86400.0),
    }


@dataclass(frozen=True)
class DaemonConfig:
    health_host: str = "127.0.0.1"
    health_port: int = 0
    #: The ``instance`` label of this process's job metrics; "" = ``host:pid`` (docs/operations.md, "Several instances").
    instance: str = ""
    log_format: str = "auto"
    lease: Duration = 900.0
    jitter: Duration = 20.0
    #: Each account's runs of a job fire at a stable offset below this (and a quarter of the period): etl.cadence.
    account_spread: Duration = 300.0
    misfire_grace: Duration = 3600.0
    shutdown_timeout: Duration = 60.0


@dataclass(frozen=True)
class AudienceConfig:
    #: Refuse to filter when the last successful stop sync is older than this, unless --allow-stale.
    max_stop_age: Duration = 86400.0


@dataclass(frozen=True)
class PushConfig:
    """The callback receiver (docs/push.md). Off by default; the API signs nothing, so the URL
    path token is the secret, and ``allowed_networks`` (CIDR) can narrow who may call."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8081
    #: The secret first path segment: POST /<path_token>/stop and /<path_token>/dlr. Never logged.
    path_token: Secret = field(default_factory=lambda: Secret(""))
    #: CIDR networks allowed to call (empty: any source).
    allowed_networks: tuple[str, ...] = ()
    max_body_bytes: int = 16384


def _validate_push(push: PushConfig) -> None:
    from etl.networks import parse_networks

    if push.enabled and len(push.path_token.reveal()) < 16:
        raise ConfigError("push.path_token: needs at least 16 characters when push.enabled (it is the only secret)")
    if push.path_token and not re.fullmatch(r"[A-Za-z0-9._~-]+", push.path_token.reveal()):
        raise ConfigError("push.path_token: only letters, digits and . _ ~ - (one URL path segment)")
    if not 0 <= push.port <= 65535:
        raise ConfigError("push.port: must be a port number (0 = any free port)")
    if push.max_body_bytes < 256:
        raise ConfigError("push.max_body_bytes: must be at least 256")
    parse_networks("push.allowed_networks", push.allowed_networks)


@dataclass(frozen=True)
class Config:
    api: ApiConfig = field(default_factory=ApiConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    stops: StopsConfig = field(default_factory=StopsConfig)
    rentals: RentalsConfig = field(default_factory=RentalsConfig)
    statuses: StatusesConfig = field(default_factory=StatusesConfig)
    contacts: ContactsConfig = field(default_factory=ContactsConfig)
    jobs: Mapping[str, JobSchedule] = field(default_factory=_default_jobs)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    audience: AudienceConfig = field(default_factory=AudienceConfig)
    push: PushConfig = field(default_factory=PushConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    compliance: ComplianceConfig = field(default_factory=ComplianceConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    #: Where the file came from, for messages; not a setting.
    source: str = "<defaults>"

    def api_key(self, environ: Mapping[str, str] | None = None) -> Secret:
        """The API key from the environment, the key file or a systemd credential."""
        return load_api_key(self.api, environ if environ is not None else os.environ)

    def followed_keys(self, environ: Mapping[str, str] | None = None) -> dict[str, Secret]:
        """The key of each ``[[accounts.follow]]`` entry by label (environment, key file, or the systemd
        credential ``smspartner-api-key-<label>``)."""
        env = environ if environ is not None else os.environ
        return {
            entry.label: read_secret(
                env, env_name=entry.key_env, key_file=entry.key_file,
                credential=f"{CREDENTIAL_NAME}-{entry.label}", setting=f"accounts.follow[{i}]",
            )
            for i, entry in enumerate(self.accounts.follow)
        }


def load_api_key(api: ApiConfig, environ: Mapping[str, str]) -> Secret:
    return read_secret(environ, env_name=api.key_env, key_file=api.key_file, credential=CREDENTIAL_NAME, setting="api")


# --- loading ---------------------------------------------------------------------------------


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check and convert one TOML/env value to the type the dataclass field declares."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(hint)
        if "duration" in meta:
            return parse_duration(value, key)
        return _convert(value, base, key)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return _build(hint, value, key)
    if origin in (tuple,):
        (item_hint, _ellipsis) = typing.get_args(hint)
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_convert(item, item_hint, f"{key}[{i}]") for i, item in enumerate(value))
    if origin in (Mapping, dict) or origin is typing.get_origin(Mapping[str, int]):
        _key_hint, item_hint = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return types.MappingProxyType({k: _convert(v, item_hint, f"{key}.{k}") for k, v in value.items()})
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is Secret:  # push.path_token
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__}")
        return Secret(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")  # pragma: no cover


def _build(cls: Any, table: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(table) - known)
    if unknown:
        where = f"[{prefix}]" if prefix else "the top level"
        raise ConfigError(f"{prefix + '.' if prefix else ''}{unknown[0]}: unknown setting in {where}")
    values = {}
    for name, value in table.items():
        values[name] = _convert(value, hints[name], f"{prefix}.{name}" if prefix else name)
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{prefix or 'config'}: {exc}") from None


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another environment override")
        node[path[-1]] = value
    return tree


def _validate_cron(key: str, cron: str) -> None:
    """Parse ``cron`` as the daemon will (APScheduler's ``CronTrigger.from_crontab``, UTC), so a wrong
    field is refused here, by ``doctor`` and before ``run`` starts, not when the scheduler builds it."""
    if len(cron.split()) != 5:
        raise ConfigError(f"{key}: expected 5 fields like '*/15 * * * *', got {cron!r}")
    from datetime import timezone

    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cron, timezone=timezone.utc)
    except ValueError as exc:
        raise ConfigError(f"{key}: {cron!r} is not a valid cron schedule: {exc}") from None


def _database_kind(url: str, setting: str) -> tuple[str, str]:
    """The backend kind of ``url`` (``mysql`` and ``mariadb`` are one kind) and the URL with its password masked."""
    from sqlalchemy.engine import make_url

    from etl.db.engine import backend_kind

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy's ArgumentError quotes the URL, password included
        raise ConfigError(f"{setting}: not a valid SQLAlchemy URL") from None
    return backend_kind(parsed), parsed.render_as_string(hide_password=True)


def _validate_database(database: DatabaseConfig) -> None:
    if database.locks not in LOCK_FLAVOURS:
        raise ConfigError(f"database.locks: {database.locks!r} is not one of {', '.join(LOCK_FLAVOURS)}")
    if not database.read_url:
        return
    if "://" not in database.read_url:
        raise ConfigError("database.read_url: not a SQLAlchemy URL")
    kind, _ = _database_kind(database.url, "database.url")
    replica_kind, shown = _database_kind(database.read_url, "database.read_url")
    if replica_kind != kind:
        raise ConfigError(f"database.read_url: {shown} is a {replica_kind} database but database.url is {kind}; "
                          f"a read replica must be the same kind of database as the primary")


def _validate(config: Config) -> None:
    if not re.match(r"^https?://", config.api.base_url):
        raise ConfigError(f"api.base_url: must start with http:// or https://, got {config.api.base_url!r}")
    if "apikey=" in config.api.base_url.lower():
        raise ConfigError("api.base_url: must not contain the API key; use api.key_env or api.key_file")
    for name in ("connect_timeout", "read_timeout"):
        if getattr(config.api, name) <= 0:
            raise ConfigError(f"api.{name}: must be greater than 0")
    if config.api.clock not in ("system", "simulator"):
        raise ConfigError(f"api.clock: must be 'system' or 'simulator', got {config.api.clock!r}")
    if config.api.max_attempts < 1:
        raise ConfigError("api.max_attempts: must be at least 1")
    if config.api.max_calls_per_minute < 0:
        raise ConfigError("api.max_calls_per_minute: must be 0 (no shared budget) or more")
    for name in ("cost_resume_calls_per_minute", "verification_calls_per_minute"):
        if getattr(config.api, name) < 1:
            raise ConfigError(f"api.{name}: must be at least 1")
    if not 1 <= config.api.concurrency <= 64:  # etl.api.concurrent.MAX_CONCURRENCY
        raise ConfigError("api.concurrency: must be 1 to 64 reads in flight")
    if config.api.budget_margin < 0:
        raise ConfigError("api.budget_margin: must be 0 or more")
    if "://" not in config.database.url:
        raise ConfigError(f"database.url: not a SQLAlchemy URL: {config.database.url!r}")
    _validate_database(config.database)
    if not 0.0 <= config.stops.max_removed_share <= 1.0:
        raise ConfigError("stops.max_removed_share: must be between 0 and 1")
    if config.contacts.max_calls_per_minute < 0:
        raise ConfigError("contacts.max_calls_per_minute: must be 0 (unspaced) or more")
    if not config.statuses.ladder:
        raise ConfigError("statuses.ladder: needs at least one step")
    if any(step <= 0 for step in config.statuses.ladder):
        raise ConfigError("statuses.ladder: every step must be greater than 0")
    if config.statuses.cost_source not in COST_SOURCES:
        raise ConfigError(f"statuses.cost_source: {config.statuses.cost_source!r} is not one of {', '.join(COST_SOURCES)}")
    for name in ("claim_batch", "cost_claim_batch", "cost_reads_per_cycle"):
        if getattr(config.statuses, name) < 1:
            raise ConfigError(f"statuses.{name}: must be at least 1")
    if config.statuses.claim_lease <= 0:
        raise ConfigError("statuses.claim_lease: must be greater than 0")
    if config.statuses.window <= 0:
        raise ConfigError("statuses.window: must be greater than 0")
    for tag in config.statuses.tags:
        if not re.fullmatch(r"[a-z0-9_-]{1,20}", tag):
            raise ConfigError(f"statuses.tags: {tag!r} is not a valid tag (≤20 chars, lowercase, no spaces)")
    if config.daemon.log_format not in ("auto", "text", "json"):
        raise ConfigError(f"daemon.log_format: must be auto, text or json, got {config.daemon.log_format!r}")
    if not 0 <= config.daemon.health_port <= 65535:
        raise ConfigError("daemon.health_port: must be a port number (0 = off)")
    known_jobs = sorted(_default_jobs())
    for name, schedule in config.jobs.items():
        if name not in known_jobs:
            raise ConfigError(f"jobs.{name}: unknown job table [jobs.{name}]; known jobs: {', '.join(known_jobs)}")
        if schedule.enabled and not schedule.cron and schedule.every <= 0:
            raise ConfigError(f"jobs.{name}: set either every (> 0) or cron")
        if schedule.cron:
            _validate_cron(f"jobs.{name}.cron", schedule.cron)
    _validate_push(config.push)
    validate_accounts(config.accounts)
    validate_compliance(config.compliance)
    validate_console(config.console)
    seen = set()
    for rental in config.rentals.tokens:
        if not rental.token.strip():
            raise ConfigError("rentals.tokens: a token is empty")
        if rental.token in seen:
            raise ConfigError(f"rentals.tokens: token listed twice ({rental.label or 'no label'})")
        seen.add(rental.token)


def _line_of(file: Path, offset: int) -> int:
    """The 1-based line of byte ``offset`` of ``file``, for an encoding error."""
    try:
        return file.read_bytes()[:offset].count(b"\n") + 1
    except OSError:
        return 0


_KEY_NAMES = ("key", "api_key", "apikey", "apiKey")


def _refuse_keys_in_file(table: Mapping[str, Any]) -> None:
    """A key written in the TOML would end up in backups and diffs: refuse it, naming only the setting."""
    api = table.get("api")
    for forbidden in _KEY_NAMES:
        if isinstance(api, Mapping) and forbidden in api:
            raise ConfigError(
                f"api.{forbidden}: the API key must not be written in the config file; "
                "use the environment variable named by api.key_env, or api.key_file"
            )
    accounts = table.get("accounts")
    follow = accounts.get("follow") if isinstance(accounts, Mapping) else None
    for i, entry in enumerate(follow if isinstance(follow, list) else ()):
        for forbidden in _KEY_NAMES:
            if isinstance(entry, Mapping) and forbidden in entry:
                raise ConfigError(
                    f"accounts.follow[{i}].{forbidden}: a sub-account key must not be written in the config "
                    "file; use key_env or key_file"
                )


def load_config(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any), apply environment overrides and validate."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_PATH_ENV):
        path = env[CONFIG_PATH_ENV]
    table: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        file = Path(path)
        try:
            with file.open("rb") as handle:
                table = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {file} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {file}: cannot read it: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            # TOML is UTF-8 by definition; a file saved as Latin-1 or UTF-16 fails in tomllib's decode.
            line = _line_of(file, exc.start)
            raise ConfigError(f"config file {file}: not UTF-8 text (line {line}); save it as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file}: not valid TOML: {exc}") from None
        source = str(file)
    _refuse_keys_in_file(table)
    table = _merge(table, _env_overrides(env))
    if "jobs" in table:
        if not isinstance(table["jobs"], Mapping):
            raise ConfigError(f"jobs: expected a table of [jobs.<name>] tables, got {type(table['jobs']).__name__}")
        defaults = {name: dataclasses.asdict(s) for name, s in _default_jobs().items()}
        table["jobs"] = _merge(defaults, table["jobs"])
    config: Config = _build(Config, table, "")
    config = dataclasses.replace(config, source=source)
    _validate(config)
    return config
