"""Loading the stop set from a migrated database, the freshness guard, and the CLI end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from etl.audience import StopSet, check_freshness, load_stop_set
from etl.audience.stops import rental_view_exists
from etl.cli import cli
from etl.db.engine import make_engine
from etl.errors import StaleData

from .conftest import NOW, seed, seed_contact_stops, seed_rental_stops


def test_stop_set_holds_open_stops_only(migrated_db_url: str) -> None:
    seed(migrated_db_url, ["+33611111111", "+262692123456"], removed=["+33633333333"])
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn:
        stops = load_stop_set(conn)
    engine.dispose()
    assert 33611111111 in stops.stops and 262692123456 in stops.stops
    assert 33633333333 not in stops.stops
    assert len(stops.stops) == 2


def test_rental_stop_flags_come_from_the_rentals_view(migrated_db_url: str) -> None:
    seed(migrated_db_url, [])
    seed_rental_stops(migrated_db_url, ["+33622222222"])
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn:
        assert rental_view_exists(conn)
        stops = load_stop_set(conn)
    engine.dispose()
    assert stops.rental_source == "view"
    assert 33622222222 in stops.rental


@pytest.mark.parametrize("group_gone", [False, True], ids=["group-listed", "group-gone"])
def test_contact_stop_flags_come_from_the_contacts_view(migrated_db_url: str, group_gone: bool) -> None:
    seed(migrated_db_url, [])
    seed_contact_stops(migrated_db_url, ["+33633333333"], group_gone=group_gone)
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn:
        stops = load_stop_set(conn)
    engine.dispose()
    assert stops.contact_source == "view"
    assert (33633333333 in stops.contact) is not group_gone and 33699999999 not in stops.contact


def test_missing_rental_view_means_no_rental_flags(tmp_path: Path) -> None:
    from etl.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'only-0001.sqlite3'}"
    upgrade(url, "0001")
    engine = make_engine(url, pool=False)
    with engine.connect() as conn:
        stops = load_stop_set(conn)
    engine.dispose()
    assert stops.rental_source == "absent" and len(stops.rental) == 0
    assert stops.contact_source == "absent" and len(stops.contact) == 0


def test_stale_stop_list_is_refused(migrated_db_url: str) -> None:
    seed(migrated_db_url, [], synced_ago=timedelta(days=2))
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn, pytest.raises(StaleData, match="--allow-stale"):
        check_freshness(conn, now=NOW, max_age=86400)
    engine.dispose()


def test_never_synced_stop_list_is_refused(migrated_db_url: str) -> None:
    seed(migrated_db_url, [], synced_ago=None)  # only a failed run
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn, pytest.raises(StaleData, match="no successful"):
        check_freshness(conn, now=NOW, max_age=86400)
    engine.dispose()


def test_allow_stale_passes_and_says_so(migrated_db_url: str) -> None:
    seed(migrated_db_url, [], synced_ago=timedelta(days=2))
    engine = make_engine(migrated_db_url, pool=False)
    with engine.connect() as conn:
        fresh = check_freshness(conn, now=NOW, max_age=86400, allow_stale=True)
    engine.dispose()
    assert fresh.stale and fresh.allow_stale
    assert fresh.age_seconds == pytest.approx(2 * 86400)


def _cli(db_url: str, tmp_path: Path, *args: str, max_age: str = "10000d") -> tuple[int, str, Path]:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[audience]\nmax_stop_age = "{max_age}"\n')
    report = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["--config", str(config), "filter-audience", *args,
                                      "--allowed", str(tmp_path / "ok.csv"), "--blocked", str(tmp_path / "ko.csv"),
                                      "--report", str(report)])
    return result.exit_code, result.output, report


def test_cli_filters_and_writes_a_report(migrated_db_url: str, tmp_path: Path,
                                         write_csv: Callable[..., Path]) -> None:
    seed(migrated_db_url, ["+33611111111"])
    seed_rental_stops(migrated_db_url, ["+33622222222"])
    seed_contact_stops(migrated_db_url, ["+33633333333"])
    path = write_csv("nom;tel\na;06 11 11 11 11\nb;0622222222\nc;0612345678\nd;+33612345678\ne;bad\nf;06 33 33 33 33\n")
    code, output, report_path = _cli(migrated_db_url, tmp_path, str(path))
    assert code == 0, output
    report = json.loads(report_path.read_text())
    assert report["rows"] == 6 and report["allowed"] == 1
    assert report["blocked_by_reason"] == {"invalid": 1, "stop_list": 1, "rental_stop": 1, "contact_stop": 1,
                                           "duplicate": 1}
    assert report["stop_list"]["allow_stale_used"] is False
    assert report["stop_list"]["age_seconds"] is not None
    assert (tmp_path / "ok.csv").read_text() == "nom;tel\nc;0612345678\n"


def test_cli_refuses_a_stale_list_with_exit_code_4(migrated_db_url: str, tmp_path: Path,
                                                   write_csv: Callable[..., Path]) -> None:
    seed(migrated_db_url, [], synced_ago=timedelta(days=30))
    code, output, report_path = _cli(migrated_db_url, tmp_path, str(write_csv("tel\n0612345678\n")), max_age="1d")
    assert code == 4
    assert "--allow-stale" in output
    assert not (tmp_path / "ok.csv").exists()


def test_cli_allow_stale_is_recorded_in_the_report(migrated_db_url: str, tmp_path: Path,
                                                   write_csv: Callable[..., Path]) -> None:
    seed(migrated_db_url, [], synced_ago=timedelta(days=30))
    code, output, report_path = _cli(migrated_db_url, tmp_path, str(write_csv("tel\n0612345678\n")),
                                     "--allow-stale", max_age="1d")
    assert code == 0, output
    report = json.loads(report_path.read_text())
    assert report["stop_list"]["allow_stale_used"] is True and report["stop_list"]["stale"] is True


def test_cli_without_phone_column_exits_65(migrated_db_url: str, tmp_path: Path,
                                           write_csv: Callable[..., Path]) -> None:
    seed(migrated_db_url, [])
    code, output, _ = _cli(migrated_db_url, tmp_path, str(write_csv("a,b\nx,y\n")))
    assert code == 65 and "--column" in output


def test_stop_set_read_in_bulk_equals_reading_each_number() -> None:
    """The numpy batch reader takes exactly the ``+<digits>`` values `_as_int` takes, with their ints."""
    import random

    from etl.audience.stops import _as_int

    rng = random.Random(3)
    shapes = ["+33{n}", "+33{n}", " +33{n}", "+33{n} ", "+{n}", "33{n}", "+", "", "+0", "+000", "abc", "+33 {n}",
              "+1234567890123456789012", "+999999999999999999", "+٣٣{n}", "+33{n}x", "++33{n}"]
    values = [rng.choice(shapes).format(n=f"{rng.randrange(6, 8)}{rng.randrange(10**8):08d}") for _ in range(5000)]
    values += values[:500]  # duplicates
    got = StopSet.from_e164(values)
    expected = {number for number in (_as_int(value.strip()) for value in values) if number}
    assert len(got.stops) == len(expected)
    assert all(number in got.stops for number in expected)
    assert got.unreadable == sum(1 for value in values if not _as_int(value.strip()))
