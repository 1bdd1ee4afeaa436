"""The keyed hash: the documented HMAC recipe, a key id that names the key, and a key that never shows itself."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from etl.compliance.hashing import NumberHasher, key_id_of, load_hasher, optional_hasher
from etl.config import load_config
from etl.config_compliance import ComplianceConfig
from etl.errors import ConfigError
from etl.secrets import Secret
from tests.harness import TEST_HASH_KEY


def test_the_hash_is_hmac_sha256_of_the_e164_string_with_the_key():
    hasher = NumberHasher.from_key(Secret(TEST_HASH_KEY))
    expected = hmac.new(TEST_HASH_KEY.encode(), b"+33612345678", hashlib.sha256).hexdigest()
    assert hasher.hash("+33612345678") == expected
    assert hasher.hash_many(["+33612345678", "+33600000000"]) == [expected, hasher.hash("+33600000000")]


def test_the_documented_worked_example_holds():
    # docs/compliance.md, "Exporting opt-outs": a partner checks their implementation against this.
    hasher = NumberHasher.from_key(Secret("example-key-do-not-use"))
    assert hasher.key_id == "239d610c"
    assert hasher.hash("+33612345678") == "6d9874f33e2c8017e2e969b1e7d8a5e8257f6e84aabcac6332c109264ff1f07b"


def test_the_key_id_is_the_first_8_hex_of_the_keys_sha256_and_the_key_never_shows():
    hasher = load_hasher(ComplianceConfig(), {"SMSPARTNER_ETL_HASH_KEY": TEST_HASH_KEY})
    assert hasher.key_id == hashlib.sha256(TEST_HASH_KEY.encode()).hexdigest()[:8] == key_id_of(Secret(TEST_HASH_KEY))
    assert TEST_HASH_KEY not in repr(hasher) and TEST_HASH_KEY not in str(hasher)


def test_the_key_comes_from_the_env_the_file_or_the_systemd_credential(tmp_path):
    key_file = tmp_path / "hash-key"
    key_file.write_text("from-file\n", encoding="utf-8")
    key_file.chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smspartner-etl-hash-key").write_text("from-credential", encoding="utf-8")
    by_file = ComplianceConfig(hash_key_file=str(key_file))
    assert load_hasher(by_file, {}).key == Secret("from-file")
    assert load_hasher(ComplianceConfig(), {"CREDENTIALS_DIRECTORY": str(creds)}).key == Secret("from-credential")
    assert load_hasher(ComplianceConfig(hash_key_env="MY_KEY"), {"MY_KEY": "from-env"}).key == Secret("from-env")


def test_a_missing_key_is_one_sentence_naming_the_feature_and_every_source():
    with pytest.raises(ConfigError) as raised:
        load_hasher(ComplianceConfig(), {}, purpose="export-optouts --hashed")
    assert str(raised.value) == (
        "export-optouts --hashed needs the hash key: compliance.hash key: set the environment variable "
        "SMSPARTNER_ETL_HASH_KEY, or compliance.hash_key_file, or a systemd credential named smspartner-etl-hash-key"
    )
    assert optional_hasher(ComplianceConfig(), {}) is None


def test_a_configured_key_file_that_is_missing_fails_even_where_the_key_is_optional(tmp_path):
    with pytest.raises(ConfigError, match=r"compliance.hash_key_file: .* does not exist"):
        optional_hasher(ComplianceConfig(hash_key_file=str(tmp_path / "absent")), {})


def test_the_compliance_section_loads_and_refuses_an_optout_age_under_three_years(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[compliance]\nreply_text_age = "30d"\noptout_age = "1200d"\n', encoding="utf-8")
    config = load_config(path, environ={})
    assert config.compliance.reply_text_age == 30 * 86400 and config.compliance.optout_age == 1200 * 86400
    path.write_text('[compliance]\noptout_age = "365d"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^compliance.optout_age: opt-outs are kept at least 3 years"):
        load_config(path, environ={})


@pytest.mark.parametrize("key", ["k", "x" * 64, "a key longer than one SHA-256 block of sixty-four bytes, so hashed first",
                                 "clé-non-ascii"], ids=["short", "one-block", "longer-than-a-block", "non-ascii"])
def test_the_batch_hashes_equal_hmac_for_any_key_length(key):
    hasher = NumberHasher.from_key(Secret(key))
    numbers = ["+33612345678", "+33700000000", "+1"]
    expected = [hmac.new(key.encode(), n.encode(), hashlib.sha256).hexdigest() for n in numbers]
    assert hasher.hash_many(numbers) == expected
    assert hasher.hash_digits([33612345678, 33700000000, 1]) == expected
    assert hasher.hash_many([]) == hasher.hash_digits([]) == []
