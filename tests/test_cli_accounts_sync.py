"""`sync` over sub-accounts end to end: discovery first, one run per account, a revoked key fails only its runs."""

from __future__ import annotations

from sqlalchemy import text

from etl.db.engine import make_engine
from etl.simulator.seedfile import add_subaccount


def run_lines(output: str) -> list[str]:
    """The command's one line per run (the JSON log records go to the same captured stream)."""
    return [line for line in output.splitlines() if line and not line.startswith("{")]


def test_sync_discovers_sub_accounts_then_runs_each_job_for_every_account(invoke, tmp_path, simulator):
    sim = simulator.sim
    sim.add_stop("+33611111111")
    add_subaccount(sim, {"email": "shop@example.com", "token": "tok-shop", "stops": {"explicit": ["+33622000001"]}})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")

    result = invoke("sync", "accounts", "stops")

    assert result.exit_code == 0, result.output
    lines = run_lines(result.output)
    assert [line.split(" run ")[0] for line in lines] == ["accounts: success", "stops: success", "stops@shop-1: success"]


def test_a_revoked_sub_account_key_fails_its_runs_and_the_other_accounts_still_sync(invoke, tmp_path, simulator, migrated_db_url):
    sim = simulator.sim
    shop = add_subaccount(sim, {"email": "shop@example.com", "token": "tok-shop", "stops": {"explicit": ["+33622000001"]}})
    add_subaccount(sim, {"email": "brand@example.com", "token": "tok-brand", "stops": {"explicit": ["+33633000001"]}})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")
    assert invoke("sync", "accounts").exit_code == 0
    sim.subaccounts.revoke(shop.token)

    result = invoke("sync", "stops")

    assert result.exit_code == 1, result.output
    outcomes = {line.split(":")[0]: line.split(": ", 1)[1].split()[0] for line in run_lines(result.output)}
    assert outcomes == {"stops": "success", "stops@shop-1": "failed", "stops@brand-2": "success"}
    assert "code 10" in result.output or "AuthError" in result.output
    assert shop.api_key not in result.output
    engine = make_engine(migrated_db_url)
    try:
        with engine.connect() as conn:
            details = [row[0] or "" for row in conn.execute(text("SELECT detail FROM sync_runs"))]
    finally:
        engine.dispose()
    assert not any(shop.api_key in detail for detail in details)


def test_accounts_list_shows_the_parent_and_each_discovered_sub_account_with_its_balance(invoke, tmp_path, simulator):
    sim = simulator.sim
    shop = add_subaccount(sim, {"email": "shop@example.com", "token": "tok-shop", "balance": "10.245"})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")
    assert invoke("sync", "accounts", "stops").exit_code == 0
    sim.subaccounts.remove(shop.token)
    assert invoke("sync", "accounts").exit_code == 0

    shown = run_lines(invoke("accounts", "list").output)
    everything = run_lines(invoke("accounts", "list", "--all").output)

    assert [line.split()[1] for line in shown[1:]] == ["main"]
    assert [line.split()[1] for line in everything[1:]] == ["main", "shop-1"]
    assert "10.245 EUR" in everything[2] and "gone since" in everything[2]
    assert shop.api_key not in "".join(everything)


def test_accounts_list_shows_each_accounts_push_paths_with_the_token_as_a_placeholder(invoke, tmp_path, simulator, monkeypatch):
    add_subaccount(simulator.sim, {"email": "shop@example.com", "token": "tok-shop"})
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n")
    monkeypatch.setenv("SMSPARTNER_ETL__PUSH__PATH_TOKEN", "push-cli-token-0123456789")
    assert invoke("sync", "accounts").exit_code == 0

    listed = invoke("accounts", "list").output
    shown = run_lines(listed)

    assert shown[1].endswith("  /<path_token>/stop|dlr") and shown[2].endswith("  /<path_token>/shop-1/stop|dlr")
    assert "push-cli-token-0123456789" not in listed


def test_no_sub_account_key_in_any_table_or_output_after_every_job_ran_for_every_account(invoke, tmp_path, simulator,
                                                                                          migrated_db_url):
    from sqlalchemy import select

    from etl.db.schema.base import Base
    from etl.simulator.seedfile import add_group

    sim = simulator.sim
    subs = [add_subaccount(sim, {"email": f"s{n}@example.com", "token": f"tok-{n}", "stops": {"generate": 3, "seed": n}})
            for n in range(2)]
    add_group(subs[0].account, {"name": "VIP", "generate": 5, "stop_share": 0.4})
    sim.faults.inject("subaccount/list", "key_echo")
    (tmp_path / "config.toml").write_text("[accounts]\ndiscover = true\n[contacts]\nmax_calls_per_minute = 0\n")

    result = invoke("sync")

    keys = [sub.api_key for sub in subs]
    assert not any(key in result.output for key in keys)
    engine = make_engine(migrated_db_url)
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    assert not any(key in str(value) for value in row for key in keys), table.name
    finally:
        engine.dispose()
