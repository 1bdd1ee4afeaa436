"""Secrets: a string that never shows itself, and the one way a key is read from outside.

Keys (the parent API key, each followed sub-account's key) come from an environment variable, a
key file, or a systemd credential, in that order; never from the TOML file. A key read here is held
in a `Secret` for the life of the process and is never written anywhere (docs/accounts.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from etl.errors import ConfigError

log = logging.getLogger(__name__)


class Secret:
    """A string that does not show itself: ``repr``, ``str`` and f-strings print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value; call only where it is sent to the API."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def read_secret(
    environ: Mapping[str, str], *, env_name: str, key_file: str, credential: str, setting: str,
    file_key: str = "",
) -> Secret:
    """The key from ``$env_name``, else ``key_file``, else ``$CREDENTIALS_DIRECTORY/credential``.

    ``setting`` names the config keys in messages (``api`` or ``accounts.follow[2]``); ``file_key``,
    when given, is the full name of the file setting's key (``hash_key_file``). No message ever
    quotes the file's bytes: they are (part of) the key.
    """
    file_setting = f"{setting.rpartition('.')[0] or setting}.{file_key}" if file_key else f"{setting}.key_file"
    value = environ.get(env_name, "").strip() if env_name else ""
    if value:
        return Secret(value)
    candidates = []
    if key_file:
        candidates.append(Path(key_file))
    if credential and environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(environ["CREDENTIALS_DIRECTORY"]) / credential)
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if key_file and path == Path(key_file):
                raise ConfigError(f"{file_setting}: {path} does not exist") from None
            continue
        except OSError as exc:
            raise ConfigError(f"{file_setting}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file_setting}: {path} is not UTF-8 text (an API key is plain ASCII)") from None
        if not text:
            raise ConfigError(f"{file_setting}: {path} is empty")
        _warn_if_readable_by_others(path)
        return Secret(text)
    sources = [f"the environment variable {env_name}"] if env_name else []
    sources.append(file_setting)
    if credential:
        sources.append(f"a systemd credential named {credential}")
    raise ConfigError(f"{setting} key: set {', or '.join(sources)}")


_warned_key_files: set[str] = set()


def _warn_if_readable_by_others(path: Path) -> None:
    """As ssh does for a private key: say so (once per file and process) when group or others may read
    the key file, but go on; refusing would stop a running service over a chmod."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077 and str(path) not in _warned_key_files:
        _warned_key_files.add(str(path))
        log.warning("key file %s is readable by others (mode %03o); chmod 600 it", path, mode & 0o777)
