"""The shipped unit file passes `systemd-analyze verify` (where systemd is installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "smspartner-etl.service"


def test_unit_file_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify insists that ExecStart exists: point it at this venv's entry point.
    entry = Path(sys.executable).with_name("smspartner-etl")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/smspartner-etl/venv/bin/smspartner-etl", str(entry)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0 and UNIT.name not in proc.stderr, proc.stderr


def test_unit_stops_later_than_the_daemon_gives_up_on_a_run() -> None:
    from etl.config import DaemonConfig, parse_duration

    text = UNIT.read_text()
    stop = next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("TimeoutStopSec="))
    assert parse_duration(stop, "TimeoutStopSec") > DaemonConfig().shutdown_timeout
    assert "LoadCredential=smspartner-api-key:" in text


def test_unit_does_not_restart_a_refused_configuration() -> None:
    from etl.outcome import ExitCode

    unit = (Path(__file__).parents[2] / "systemd" / "smspartner-etl.service").read_text()
    prevented = [line.split("=", 1)[1].split() for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")]
    assert prevented == [[str(int(ExitCode.CONFIG))]]


TEMPLATE = UNIT.with_name("smspartner-etl@.service")


def test_template_unit_instance_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    entry = Path(sys.executable).with_name("smspartner-etl")
    unit = tmp_path / "smspartner-etl@2.service"  # an instance of the template: what `systemctl start smspartner-etl@2` loads
    unit.write_text(TEMPLATE.read_text().replace("/opt/smspartner-etl/venv/bin/smspartner-etl", str(entry)))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0 and unit.name not in proc.stderr, proc.stderr


def test_template_unit_differs_from_the_single_unit_only_where_instances_must() -> None:
    def settings(path: Path) -> set[str]:
        return {line for line in path.read_text().splitlines() if line and not line.startswith("#")}

    assert settings(TEMPLATE) - settings(UNIT) == {
        "Description=SMS Partner account mirror, instance %i (smspartner-etl run)",
        "Environment=SMSPARTNER_ETL__DAEMON__INSTANCE=%H-%i",
        "EnvironmentFile=/etc/smspartner-etl/instances/%i.env",
        "StateDirectory=smspartner-etl/%i",
        "WorkingDirectory=%S/smspartner-etl/%i",
        "SyslogIdentifier=smspartner-etl@%i",
    }
    assert len(settings(UNIT) - settings(TEMPLATE)) == 4  # the same four lines, instance-free
