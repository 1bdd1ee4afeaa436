"""`export-optouts`: current opt-outs only, plain or keyed hashes, a header, never a half file or a silent overwrite."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from click.testing import CliRunner, Result

from etl.cli import cli
from tests.audience.conftest import seed
from tests.harness import TEST_HASH_KEY


def export(url: str, tmp_path: Path, *extra: str, key: str = TEST_HASH_KEY) -> Result:
    config = tmp_path / "etl.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    return CliRunner().invoke(cli, ["--config", str(config), "export-optouts", *extra],
                              env={"SMSPARTNER_ETL_HASH_KEY": key})


def test_plain_export_lists_open_stops_not_closed_ones(migrated_db_url, tmp_path):
    seed(migrated_db_url, ["+33622222222", "+33611111111"], removed=["+33633333333"])
    out = tmp_path / "optouts.csv"
    result = export(migrated_db_url, tmp_path, str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text() == "phone_e164\n+33611111111\n+33622222222\n"


def test_hashed_export_gives_the_documented_hmac_and_key_id(migrated_db_url, tmp_path):
    seed(migrated_db_url, ["+33611111111"])
    out = tmp_path / "optouts.csv"
    result = export(migrated_db_url, tmp_path, "--hashed", str(out))
    assert result.exit_code == 0, result.output
    digest = hmac.new(TEST_HASH_KEY.encode(), b"+33611111111", hashlib.sha256).hexdigest()
    key_id = hashlib.sha256(TEST_HASH_KEY.encode()).hexdigest()[:8]
    assert out.read_text() == f"phone_hash,hash_key_id\n{digest},{key_id}\n"
    assert "+33611111111" not in out.read_text()


def test_an_existing_file_is_kept_without_force_and_a_missing_key_is_one_sentence(migrated_db_url, tmp_path):
    seed(migrated_db_url, ["+33611111111"])
    out = tmp_path / "optouts.csv"
    out.write_text("keep me\n")
    refused = export(migrated_db_url, tmp_path, str(out))
    assert refused.exit_code == 2 and "pass --force" in refused.output and out.read_text() == "keep me\n"
    no_key = export(migrated_db_url, tmp_path, "--hashed", "--force", str(out), key="")
    assert no_key.exit_code == 78 and "export-optouts --hashed needs the hash key" in no_key.output
    assert out.read_text() == "keep me\n" and "Traceback" not in no_key.output
    forced = export(migrated_db_url, tmp_path, "--force", "--account", "main", str(out))
    assert forced.exit_code == 0 and out.read_text() == "phone_e164\n+33611111111\n"
