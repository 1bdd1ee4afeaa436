"""`filter-audience` never destroys or poisons a file (issue 16): through the real CLI.

Refused outputs (the input, the other output, the report: the same *file*, however it is named),
outputs written to a temporary file and renamed into place only when the run succeeded, and a
missing output folder: each is one sentence and an exit code, never a traceback.

These cases are about files, not the database: they run on one seeded SQLite database (the
database cases are in ``test_cli_database.py``, on three backends).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from etl.cli import cli

AUDIENCE = "nom;tel\nAnna;0611111111\nBob;0612345678\nChloé;0612345679\n"
USAGE = 2  # click's usage error


def filter_cli(stop_db: str, tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{stop_db}"\n[audience]\nmax_stop_age = "10000d"\n')
    return CliRunner().invoke(cli, ["--config", str(config), "filter-audience", *args])


def one_sentence(result: Result) -> str:
    """The error line, checking it is the only line that says what went wrong and nothing crashed."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# (id, how to name --allowed, --blocked and --report from the input path and the folder; what each must say)
CLASHES: list[tuple[str, Callable[[Path, Path], tuple[str, str, str | None]], str]] = [
    ("allowed-is-the-input", lambda src, d: (str(src), str(d / "ko.csv"), None), "--allowed"),
    ("blocked-is-the-input", lambda src, d: (str(d / "ok.csv"), str(src), None), "--blocked"),
    ("allowed-and-blocked-same-path", lambda src, d: (str(d / "out.csv"), str(d / "out.csv"), None), "--blocked"),
    ("report-is-the-input", lambda src, d: (str(d / "ok.csv"), str(d / "ko.csv"), str(src)), "--report"),
    ("report-is-an-output", lambda src, d: (str(d / "ok.csv"), str(d / "ko.csv"), str(d / "ok.csv")), "--report"),
    ("dot-slash-input", lambda src, d: ("./" + src.name, str(d / "ko.csv"), None), "--allowed"),
    ("dot-dot-input", lambda src, d: (f"sub/../{src.name}", str(d / "ko.csv"), None), "--allowed"),
    ("dot-slash-other-output", lambda src, d: ("out.csv", "./out.csv", None), "--blocked"),
]


@pytest.mark.parametrize(("how", "option"), [(how, option) for _, how, option in CLASHES],
                         ids=[name for name, _, _ in CLASHES])
def test_an_output_that_is_the_input_or_another_output_is_refused_and_nothing_is_written(
    stop_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    how: Callable[[Path, Path], tuple[str, str, str | None]], option: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    allowed, blocked, report = how(source, tmp_path)
    args = [str(source), "--allowed", allowed, "--blocked", blocked] + (["--report", report] if report else [])
    before = files_in(tmp_path) | {"etl.toml"}
    result = filter_cli(stop_db, tmp_path, *args)
    assert result.exit_code == USAGE, result.output
    assert option in one_sentence(result)
    assert source.read_text() == AUDIENCE
    assert files_in(tmp_path) == before


def test_a_hard_link_to_the_input_is_the_input(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    os.link(source, tmp_path / "linked.csv")
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "linked.csv"),
                        "--blocked", str(tmp_path / "ko.csv"))
    assert result.exit_code == USAGE, result.output
    assert "--allowed" in one_sentence(result)
    assert source.read_text() == AUDIENCE and not (tmp_path / "ko.csv").exists()


def test_a_symlink_to_the_input_is_the_input(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    (tmp_path / "alias.csv").symlink_to(source)
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "alias.csv"))
    assert result.exit_code == USAGE, result.output
    assert "--blocked" in one_sentence(result)
    assert source.read_text() == AUDIENCE and not (tmp_path / "ok.csv").exists()


def test_a_dangling_symlink_to_the_other_output_is_the_other_output(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    (tmp_path / "alias.csv").symlink_to(tmp_path / "ok.csv")  # ok.csv does not exist yet
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "alias.csv"))
    assert result.exit_code == USAGE, result.output
    assert "--blocked" in one_sentence(result)
    assert not (tmp_path / "ok.csv").exists()


def test_a_missing_output_folder_is_one_sentence_and_nothing_is_written(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "no-such-folder" / "ko.csv"))
    assert result.exit_code == USAGE, result.output
    assert "no-such-folder" in one_sentence(result)
    assert files_in(tmp_path) == {"audience.csv", "etl.toml"}


def test_a_missing_report_folder_is_one_sentence_and_nothing_is_written(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "ko.csv"), "--report", str(tmp_path / "nope" / "r.json"))
    assert result.exit_code == USAGE, result.output
    assert "nope" in one_sentence(result)
    assert files_in(tmp_path) == {"audience.csv", "etl.toml"}


def _switches_encoding_after_300_kb(quoted_line_break: bool) -> bytes:
    """UTF-8 for 300 KB (past the 256 KB the sniffer reads), then one Latin-1 byte (é as 0xE9)."""
    note = '"two\nlines"' if quoted_line_break else "note"
    head = "nom;tel;note\n".encode()
    rows = b"".join(f"Zoé {i};06{i % 10**8:08d};{note}\n".encode() for i in range(14_000))
    assert len(rows) > 300_000
    return head + rows + "Hélène;0698765432;x\n".encode("latin-1") + b"Bob;0698765433;y\n"


@pytest.mark.parametrize("quoted_line_break", [False, True], ids=["chunked-path", "stream-path"])
def test_an_encoding_switch_after_the_sample_fails_without_touching_previous_outputs(
    stop_db: str, tmp_path: Path, quoted_line_break: bool,
) -> None:
    source = tmp_path / "audience.csv"
    source.write_bytes(_switches_encoding_after_300_kb(quoted_line_break))
    (tmp_path / "ok.csv").write_text("previous allowed\n")
    (tmp_path / "ko.csv").write_text("previous blocked\n")
    (tmp_path / "report.json").write_text("{}\n")
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "ko.csv"), "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 65, result.output
    assert "--encoding" in one_sentence(result)
    assert (tmp_path / "ok.csv").read_text() == "previous allowed\n"
    assert (tmp_path / "ko.csv").read_text() == "previous blocked\n"
    assert (tmp_path / "report.json").read_text() == "{}\n"
    assert files_in(tmp_path) == {"audience.csv", "etl.toml", "ok.csv", "ko.csv", "report.json"}  # no temp files


def test_a_successful_run_replaces_previous_outputs_and_leaves_no_temporary_file(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    (tmp_path / "ok.csv").write_text("previous allowed\n")
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "ko.csv"), "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ok.csv").read_text() == "nom;tel\nBob;0612345678\nChloé;0612345679\n"
    assert (tmp_path / "ko.csv").read_text() == "nom;tel;reason\nAnna;0611111111;stop_list\n"
    assert files_in(tmp_path) == {"audience.csv", "etl.toml", "ok.csv", "ko.csv", "report.json"}


def test_an_output_that_is_a_symlink_is_written_where_it_points(stop_db: str, tmp_path: Path) -> None:
    source = tmp_path / "audience.csv"
    source.write_text(AUDIENCE)
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "ok.csv"
    target.write_text("previous\n")
    (tmp_path / "ok.csv").symlink_to(target)
    result = filter_cli(stop_db, tmp_path, str(source), "--allowed", str(tmp_path / "ok.csv"),
                        "--blocked", str(tmp_path / "ko.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ok.csv").is_symlink()
    assert target.read_text() == "nom;tel\nBob;0612345678\nChloé;0612345679\n"
    assert files_in(tmp_path / "shared") == {"ok.csv"}


def test_a_write_that_fails_midway_is_one_sentence_and_replaces_nothing(stop_db: str, tmp_path: Path) -> None:
    """A real failing write: the CLI in a child process whose files may not grow past a limit (EFBIG)."""
    import resource
    import signal
    import subprocess
    import sys

    # The limit sits above the database file (the run's record and chain entries must still fit: the
    # module's database grows with every run) and below what the allowed file needs.
    limit = Path(stop_db.removeprefix("sqlite:///")).stat().st_size + 200_000

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    source = tmp_path / "audience.csv"
    source.write_text("nom;tel\n" + "".join(f"Zoé {i};06{i:08d}\n" for i in range(limit // 10)))
    (tmp_path / "ok.csv").write_text("previous allowed\n")
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{stop_db}"\n[audience]\nmax_stop_age = "10000d"\n')
    done = subprocess.run(
        [sys.executable, "-m", "etl.cli", "--config", str(config), "filter-audience", str(source),
         "--allowed", str(tmp_path / "ok.csv"), "--blocked", str(tmp_path / "ko.csv")],
        capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no output was replaced" in errors[0], done.stderr
    assert (tmp_path / "ok.csv").read_text() == "previous allowed\n"
    assert files_in(tmp_path) == {"audience.csv", "etl.toml", "ok.csv"}



def test_a_filter_run_the_database_refuses_is_named_not_sent_to_db_upgrade(stop_db: str, tmp_path: Path) -> None:
    """The run's record cannot be written on a migrated database (here a trigger refuses it, as a full
    disk or a read-only replica would): the sentence is the driver's, not a migration to run, no output."""
    import shutil
    import sqlite3

    database = tmp_path / "db" / "refusing.sqlite3"
    database.parent.mkdir()
    shutil.copy(stop_db.removeprefix("sqlite:///"), database)
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON filter_runs BEGIN SELECT RAISE(ABORT, 'no room left'); END")
    source = tmp_path / "audience.csv"
    source.write_text("nom;tel\nBob;0612345678\n")
    result = filter_cli(f"sqlite:///{database}", tmp_path, str(source),
                        "--allowed", str(tmp_path / "ok.csv"), "--blocked", str(tmp_path / "ko.csv"))
    assert result.exit_code == 1, result.output
    assert "cannot record the filter run, nothing was filtered: no room left" in result.output
    assert "db upgrade" not in result.output and "Traceback" not in result.output
    assert files_in(tmp_path) == {"audience.csv", "etl.toml", "db"}
