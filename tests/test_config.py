"""Config: defaults, TOML, environment overrides, key sources, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config import Secret, load_config, parse_duration
from etl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_example_config_loads_and_matches_the_defaults():
    example = load_config(ROOT / "config.example.toml", environ={})
    defaults = load_config(None, environ={})
    assert example.api == defaults.api
    assert example.statuses == defaults.statuses
    assert dict(example.jobs) == dict(defaults.jobs)


def test_environment_overrides_the_file_with_the_default_type(tmp_path):
    path = write(tmp_path, '[api]\nmax_attempts = 2\n[database]\nurl = "sqlite:///a.db"\n')
    config = load_config(path, environ={"SMSPARTNER_ETL__API__MAX_ATTEMPTS": "7", "SMSPARTNER_ETL__STATUSES__LADDER": "1m,2h"})
    assert config.api.max_attempts == 7
    assert config.statuses.ladder == (60.0, 7200.0)
    assert config.database.url == "sqlite:///a.db"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("[api]\nmax_attempts = 'many'\n", "api.max_attempts"),
        ("[api]\nread_timeout = 'soon'\n", "api.read_timeout"),
        ("[api]\nbase_url = 'ftp://x'\n", "api.base_url"),
        ("[api]\nkey = 'abc'\n", "api.key"),
        ("[api]\ncolour = 'blue'\n", "api.colour"),
        ("[stops]\nmax_removed_share = 2\n", "stops.max_removed_share"),
        ("[statuses]\nladder = []\n", "statuses.ladder"),
        ("[statuses]\ntags = ['Has Space']\n", "statuses.tags"),
        ("[statuses]\ncost_source = 'sends'\n", "statuses.cost_source: 'sends' is not one of per_recipient, announced"),
        ("[statuses]\nclaim_batch = 0\n", "statuses.claim_batch: must be at least 1"),
        ("[statuses]\ncost_claim_batch = 0\n", "statuses.cost_claim_batch: must be at least 1"),
        ("[statuses]\ncost_reads_per_cycle = 0\n", "statuses.cost_reads_per_cycle: must be at least 1"),
        ("[statuses]\nclaim_lease = 0\n", "statuses.claim_lease: must be greater than 0"),
        ("[jobs.stops]\ncron = '* *'\n", "jobs.stops.cron"),
        ("[jobs.stops]\ncron = '61 * * * *'\n", "is not a valid cron schedule"),
        ("[jobs.finance]\ncron = '0 6 * * mon-fry'\n", "jobs.finance.cron"),
        ("[jobs.stpos]\nevery = '5m'\n", "jobs.stpos: unknown job table [jobs.stpos]; known jobs: accounts, actions, contacts, finance"),
        ("jobs = 3\n", "jobs: expected a table"),
        ("[daemon]\nlog_format = 'xml'\n", "daemon.log_format"),
        ("[[rentals.tokens]]\ntoken = 'a'\n[[rentals.tokens]]\ntoken = 'a'\n", "rentals.tokens"),
        ("[database]\nurl = 'nothing'\n", "database.url"),
        ("[database]\nlocks = 'advisory'\n", "database.locks: 'advisory' is not one of auto, lease"),
        ("[database]\nread_url = 'replica'\n", "database.read_url: not a SQLAlchemy URL"),
        ("not toml at all [", "not valid TOML"),
    ],
    ids=lambda v: v if "\n" not in v and len(v) < 40 else None,
)
def test_each_mistake_gives_one_error_naming_the_key(tmp_path, body, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.").replace("[", r"\[")):
        load_config(write(tmp_path, body), environ={})


def test_a_read_url_of_another_kind_of_database_is_refused_with_its_password_masked(tmp_path):
    body = ("[database]\nurl = 'postgresql+psycopg://etl:primary-pw@db/etl'\n"
            "read_url = 'mariadb+pymysql://etl:replica-pw@replica/etl'\n")
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, body), environ={})
    assert str(refused.value) == (
        "database.read_url: mariadb+pymysql://etl:***@replica/etl is a mariadb database but database.url is postgresql; "
        "a read replica must be the same kind of database as the primary")
    assert "pw" not in str(refused.value)


def test_a_read_url_of_the_same_kind_is_accepted_whatever_its_driver(tmp_path):
    body = "[database]\nurl = 'postgresql://etl@db/etl'\nread_url = 'postgresql+psycopg://etl@replica/etl'\n"
    assert load_config(write(tmp_path, body), environ={}).database.read_url == "postgresql+psycopg://etl@replica/etl"
    body = "[database]\nurl = 'mysql+pymysql://etl@db/etl'\nread_url = 'mariadb+pymysql://etl@replica/etl'\n"
    assert load_config(write(tmp_path, body), environ={}).database.read_url.startswith("mariadb")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})


def test_api_key_comes_from_env_then_key_file_then_systemd_credential(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n", encoding="utf-8")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smspartner-api-key").write_text("from-credential", encoding="utf-8")
    path = write(tmp_path, f'[api]\nkey_file = "{key_file}"\n')

    assert load_config(path, environ={}).api_key({"SMSPARTNER_API_KEY": "from-env"}).reveal() == "from-env"
    assert load_config(path, environ={}).api_key({}).reveal() == "from-file"
    assert load_config(None, environ={}).api_key({"CREDENTIALS_DIRECTORY": str(creds)}).reveal() == "from-credential"
    with pytest.raises(ConfigError, match="SMSPARTNER_API_KEY"):
        load_config(None, environ={}).api_key({})


def test_secret_never_shows_itself():
    secret = Secret("sim-test-key-not-secret")
    assert "sim-test-key" not in repr(secret)
    assert "sim-test-key" not in f"{secret} {secret!s} {[secret]}"
    assert secret.reveal() == "sim-test-key-not-secret"


@pytest.mark.parametrize(("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0), ("250ms", 0.25)])
def test_durations_accept_plain_seconds_and_units(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    "data", ["[api]\n# Clé\n".encode("latin-1"), '[api]\nclock = "system"\n'.encode("utf-16")], ids=["latin-1", "utf-16"]
)
def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path, data):
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path, environ={})


def test_a_key_file_that_is_not_utf8_is_refused_without_quoting_it(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"cl\xe9-secr\xe8te\n")
    key_file.chmod(0o600)
    config = load_config(None, environ={"SMSPARTNER_ETL__API__KEY_FILE": str(key_file)})
    with pytest.raises(ConfigError, match="is not UTF-8 text") as caught:
        config.api_key(environ={})
    assert "secr" not in str(caught.value)


def test_a_key_file_readable_by_others_warns_once_and_is_used(tmp_path, caplog):
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n", encoding="utf-8")
    key_file.chmod(0o640)
    config = load_config(None, environ={"SMSPARTNER_ETL__API__KEY_FILE": str(key_file)})
    with caplog.at_level("WARNING", logger="etl.secrets"):
        assert config.api_key(environ={}).reveal() == "from-file"
        assert config.api_key(environ={}).reveal() == "from-file"
    warnings = [r.getMessage() for r in caplog.records if r.name == "etl.secrets"]
    assert warnings == [f"key file {key_file} is readable by others (mode 640); chmod 600 it"]


def test_a_key_file_readable_by_its_owner_only_is_used_silently(tmp_path, caplog):
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n", encoding="utf-8")
    key_file.chmod(0o600)
    config = load_config(None, environ={"SMSPARTNER_ETL__API__KEY_FILE": str(key_file)})
    with caplog.at_level("WARNING", logger="etl.secrets"):
        assert config.api_key(environ={}).reveal() == "from-file"
    assert not [r for r in caplog.records if r.name == "etl.secrets"]


def test_followed_accounts_read_their_keys_from_env_file_or_credential(tmp_path):
    key_file = tmp_path / "shop-key"
    key_file.write_text("shop-secret\n", encoding="utf-8")
    key_file.chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smspartner-api-key-brand").write_text("brand-secret", encoding="utf-8")
    body = (
        "[accounts]\ndiscover = true\n"
        '[[accounts.follow]]\nlabel = "shop"\ntoken = "t-shop"\nkey_file = "' + str(key_file) + '"\n'
        '[[accounts.follow]]\nlabel = "brand"\ntoken = "t-brand"\nkey_env = "BRAND_KEY"\n'
    )
    config = load_config(write(tmp_path, body), environ={})
    assert config.accounts.discover is True
    assert [entry.label for entry in config.accounts.follow] == ["shop", "brand"]
    from_env = config.followed_keys({"BRAND_KEY": "brand-env"})
    assert {label: key.reveal() for label, key in from_env.items()} == {"shop": "shop-secret", "brand": "brand-env"}
    from_credential = config.followed_keys({"CREDENTIALS_DIRECTORY": str(creds)})
    assert from_credential["brand"].reveal() == "brand-secret"
    assert "secret" not in repr(from_credential)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('[[accounts.follow]]\nlabel = "shop"\n', "accounts.follow[0]: set key_env or key_file"),
        ('[[accounts.follow]]\nlabel = "shop"\nkey_env = "K"\n', "accounts.follow[0].token: set the sub-account's token"),
        (
            '[[accounts.follow]]\nlabel = "a"\nkey_env = "K"\ntoken = "t"\n[[accounts.follow]]\nlabel = "b"\nkey_env = "L"\ntoken = "t"\n',
            "accounts.follow[1].token: already followed",
        ),
        ('[[accounts.follow]]\nlabel = "main"\nkey_env = "K"\n', "accounts.follow[0].label: 'main' is already taken"),
        ('[[accounts.follow]]\nlabel = "Shop One"\nkey_env = "K"\n', "accounts.follow[0].label: 'Shop One' is not a label"),
        (
            '[[accounts.follow]]\nlabel = "a"\nkey_env = "K"\ntoken = "t1"\n[[accounts.follow]]\nlabel = "a"\nkey_env = "L"\n',
            "accounts.follow[1].label: 'a' is already taken",
        ),
        ('[[accounts.follow]]\nlabel = "a"\napiKey = "sk-123"\n', "accounts.follow[0].apiKey: a sub-account key must not"),
        ("[accounts]\ndiscover = 'sometimes'\n", "accounts.discover: expected true or false"),
        ("[accounts]\ncolour = 1\n", "accounts.colour: unknown setting"),
    ],
)
def test_each_accounts_mistake_gives_one_error_naming_the_key(tmp_path, body, names):
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, body), environ={})
    assert names in str(raised.value)
    assert "sk-123" not in str(raised.value)


def test_a_followed_account_without_its_key_names_every_source(tmp_path):
    config = load_config(write(tmp_path, '[[accounts.follow]]\nlabel = "shop"\ntoken = "t"\nkey_env = "SHOP_KEY"\n'), environ={})
    with pytest.raises(ConfigError, match=r"accounts.follow\[0\] key: set the environment variable SHOP_KEY, or "
                                          r"accounts.follow\[0\].key_file, or a systemd credential named "
                                          r"smspartner-api-key-shop"):
        config.followed_keys({})
