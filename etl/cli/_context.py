"""Lazy construction of what commands need: config, engine, client (warehouse's lazy config)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Engine

from etl.clock import Clock
from etl.config import Config, load_config

if TYPE_CHECKING:
    from etl.accounts import AccountRef
    from etl.api.protocol import ApiClient


def get_config(ctx: click.Context) -> Config:
    obj: dict[str, Any] = ctx.find_root().obj
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    return obj["config"]  # type: ignore[no-any-return]


def get_engine(ctx: click.Context) -> Engine:
    obj: dict[str, Any] = ctx.find_root().obj
    if "engine" not in obj:
        from etl.db.engine import database_engine

        obj["engine"] = database_engine(get_config(ctx).database)
    return obj["engine"]  # type: ignore[no-any-return]


def get_read_engine(ctx: click.Context) -> Engine:
    """The engine of reads that may lag (``database.read_url``; the primary's when unset)."""
    obj: dict[str, Any] = ctx.find_root().obj
    if "read_engine" not in obj:
        from etl.db.engine import read_engine

        obj["read_engine"] = read_engine(get_config(ctx).database, get_engine(ctx))
    return obj["read_engine"]  # type: ignore[no-any-return]


def get_clock(ctx: click.Context) -> Clock:
    """The clock ``api.clock`` names (system time, or the simulator's: etl/api/simulator_clock.py)."""
    obj: dict[str, Any] = ctx.find_root().obj
    if "clock" not in obj:
        from etl.api.simulator_clock import make_clock

        obj["clock"] = make_clock(get_config(ctx))
    return obj["clock"]  # type: ignore[no-any-return]


def get_client(ctx: click.Context) -> ApiClient:
    """The parent account's client (commands acting on one account)."""
    obj: dict[str, Any] = ctx.find_root().obj
    if "client" not in obj:
        from etl.api.factory import make_client

        config = get_config(ctx)
        obj["client"] = make_client(config, config.api_key())
    return obj["client"]  # type: ignore[no-any-return]


def get_account_client(ctx: click.Context, label: str, *, dry_run: bool) -> tuple[AccountRef, ApiClient | None]:
    """The account ``--account LABEL`` names and a client with its key (``None`` for a dry run, which
    sends nothing). An unknown or removed label is `InputError`, one not followed `ConfigError`."""
    from etl.account_directory import account_client, named

    if dry_run:
        return named(get_engine(ctx), label), None
    account, client = account_client(get_config(ctx), get_engine(ctx), label, lambda: get_client(ctx))
    obj: dict[str, Any] = ctx.find_root().obj
    obj["client"] = client
    return account, client
