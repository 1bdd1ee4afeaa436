"""/_sim control endpoints, seed files and the CLI command."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from click.testing import CliRunner

from etl.simulator import Simulator, SimulatorServer
from etl.simulator.seedfile import build, load

from .conftest import Api


def test_control_clock_faults_quirks_truth(sim: Simulator, server: SimulatorServer, api: Api) -> None:
    ctl = server.control_url
    mid = requests.post(f"{ctl}/send", json={"phone_numbers": ["+33611111111"], "tag": "x"}, timeout=5).json()["message_id"]
    r = requests.post(f"{ctl}/clock", json={"advance": 3600 * 49}, timeout=5).json()
    assert r["now"].startswith("2026-01-07T10:00")
    truth = requests.get(f"{ctl}/truth/recipient", params={"message_id": mid, "phone": "+33611111111"}, timeout=5).json()
    assert truth["status"] in ("Delivered", "Not delivered", "ko")
    requests.post(f"{ctl}/faults", json={"endpoint": "me", "kind": "http_429", "params": {"retry_after": 2}}, timeout=5)
    assert api.get("me").status_code == 429
    requests.post(f"{ctl}/quirks", json={"error_http_status": 400}, timeout=5)
    assert api.get("me", key="bad").status_code == 400
    calls = requests.get(f"{ctl}/calls", params={"endpoint": "me"}, timeout=5).json()["calls"]
    assert [c["http_status"] for c in calls] == [429, 400] and calls[0]["params"] == {"apiKey": "***"}
    assert requests.get(f"{ctl}/nope", timeout=5).status_code == 404
    assert requests.get(f"{ctl}/state", timeout=5).json()["messages"] == 1


def test_demo_seed_builds_documented_account() -> None:
    spec = load(Path("etl/simulator/demo_seed.json"))
    sim = build(spec)
    assert sim.api_key.endswith("not-a-real-secret")
    assert len(sim.stops()) == 36 and set(sim.rentals) == {"demo-rental-ready", "demo-rental-pending"}
    assert 250 <= len(sim.messages) <= 310
    assert any(m.scheduled for m in sim.messages.values())


def test_toml_seed(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('api_key = "k"\nrunning_clock = false\n[stops]\ngenerate = 10\n[quirks]\nerror_key = "error"\n')
    sim = build(load(f))
    assert (sim.api_key, len(sim.stops()), sim.quirks.error_key, sim.clock.running) == ("k", 10, "error", False)


def test_cli_command_is_discoverable() -> None:
    from etl.cli import simulator as mod

    result = CliRunner().invoke(mod.command, ["--help"])
    assert result.exit_code == 0 and "--seed-file" in result.output


def test_json_seed_messages(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"messages": [{"count": 3, "recipients": 2, "tag": "a"}]}))
    sim = build(load(f))
    assert sum(len(m.recipients) for m in sim.messages.values()) == 6
