"""End-to-end soak: real daemons, 48 simulated hours, every fault, then the database must equal the account.

``test_short_soak_*`` runs in ``make test`` on each backend (about a minute each); the ``soak``-marked
long version runs in ``make soak`` (``SOAK_SCALE`` multiplies its size). See docs/soak.md.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etl.simulator import Simulator, SimulatorServer
from tests.soak.hygiene import find_key, key_echo_summary
from tests.soak.reconcile import reconcile, sim_truth
from tests.soak.scenario import RENTAL_TOKEN, SoakPlan, SoakRun, realistic_key, run_soak
from tests.soak.summary import fault_summary


def reconcile_truth(sim: Any, run: SoakRun) -> dict[str, Any]:
    return sim_truth(sim, run.tracked, RENTAL_TOKEN)["messages"]  # type: ignore[no-any-return]


def _server_for(request: pytest.FixtureRequest, backend: str) -> Any:
    if backend == "sqlite":
        return None
    return request.getfixturevalue("pg_server" if backend == "postgresql" else "mariadb_server")


def _soak(request: pytest.FixtureRequest, backend: str, db_url: str, tmp_path: Path, plan: SoakPlan) -> tuple[SoakRun, Any, str]:
    key = realistic_key()
    sim = Simulator(api_key=key, seed=plan.seed)
    server = SimulatorServer(sim).start()
    try:
        run = run_soak(server, db_url, tmp_path, plan, db_server=_server_for(request, backend), key=key)
        report = reconcile(sim, db_url, run.tracked, RENTAL_TOKEN)
        summary = fault_summary(sim, db_url, run)
        hits = find_key(run, db_url)
        echoes = key_echo_summary(sim, db_url, hits)
    finally:
        server.stop()
    text = "\n".join([
        f"soak on {backend}: wall {', '.join(f'{k} {v:.1f}s' for k, v in run.wall.items())}",
        "driver: " + ", ".join(f"{k} {v}" for k, v in sorted(run.actions.items())),
        report.table(),
        report.details(),
        summary,
        f"settle: {run.settle_note}",
        echoes,
    ])
    print(text)
    (tmp_path / "soak-report.txt").write_text(text)
    out = os.environ.get("SOAK_REPORT")
    if out:
        Path(out).write_text(text)
    if os.environ.get("SOAK_REPORT_DIR"):
        (Path(os.environ["SOAK_REPORT_DIR"]) / f"soak-{request.node.name}.txt").write_text(text)
    keep = os.environ.get("SOAK_KEEP_DB")
    if keep and backend == "sqlite" and report.errors():
        import shutil

        shutil.copy(db_url.removeprefix("sqlite:///"), keep)
        (Path(keep).with_suffix(".messages.json")).write_text(
            json.dumps({mid: {p: [str(x) for x in t[0].as_dict().values()] for p, t in rows.items()}
                        for mid, rows in reconcile_truth(sim, run).items()}))
    assert report.errors() == 0, text
    assert "'done': True" in run.settle_note, text
    assert hits == Counter(), f"the API key leaked: {dict(hits)}\n{text}"
    return run, report, text


def _check_every_fault_fired(sim_calls: Counter[str]) -> None:
    kinds = {"http_500", "http_502", "http_503", "http_429", "delay", "drop", "truncated", "html_200", "invalid_json",
             "wrong_types", "api_error", "key_echo"}
    assert kinds <= set(sim_calls), f"faults that never fired: {sorted(kinds - set(sim_calls))}"


def test_short_soak_the_database_equals_the_account_after_48_simulated_hours_of_faults(
    request: pytest.FixtureRequest, migrated_db_url: str, backend: str, tmp_path: Path
) -> None:
    plan = SoakPlan()
    run, _, text = _soak(request, backend, migrated_db_url, tmp_path, plan)
    fired = Counter(re.findall(r"^fault fired: (\w+)", text, flags=re.MULTILINE))
    _check_every_fault_fired(fired)
    assert run.actions["messages sent"] >= 1000
    assert run.actions["daemon SIGKILLs"] == 2 and run.actions["second daemon started"] == 1
    if backend != "sqlite":
        assert run.actions["database restarts"] == 2


@pytest.mark.soak
def test_long_soak_the_database_equals_the_account_after_48_simulated_hours_of_faults(
    request: pytest.FixtureRequest, migrated_db_url: str, backend: str, tmp_path: Path
) -> None:
    scale = float(os.environ.get("SOAK_SCALE", "5"))
    plan = SoakPlan(
        life_wall=20.0 * scale,
        messages=int(1000 * scale),
        max_recipients=5,
        initial_stops=int(150 * scale),
        stop_adds=int(60 * scale),
        stop_removals=int(40 * scale),
        rental_numbers=int(400 * scale),
        rental_flips=int(10 * scale),
        catchup_wall=8.0 * scale,
        # Costs are read at most 1,500 per statuses cycle: a big run needs minutes to drain them.
        settle_timeout=float(os.environ.get("SOAK_SETTLE_TIMEOUT", "600")),
    )
    _run, _, text = _soak(request, backend, migrated_db_url, tmp_path, plan)
    fired = Counter(re.findall(r"^fault fired: (\w+)", text, flags=re.MULTILINE))
    _check_every_fault_fired(fired)
