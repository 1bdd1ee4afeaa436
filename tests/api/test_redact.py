"""`etl.api.redact.redact`: every form of a secret masked, nothing else touched. Pure, by table."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

import pytest

from etl.api.redact import MASK, MIN_SECRET_LENGTH, masker, redact

KEY = "Sk/Ey+Odd=Key&Not Secret-0123"
HEX = "0f3c9a1b2d4e5f60718293a4b5c6d7e8f9a0b1c2"


@pytest.mark.parametrize(
    "text,expected",
    [
        (f"Clé API {KEY} invalide", "Clé API *** invalide"),
        (f"Clé API {KEY.upper()} invalide", "Clé API *** invalide"),
        (f"Clé API {KEY.lower()} invalide", "Clé API *** invalide"),
        (f"Clé API {KEY.swapcase()} invalide", "Clé API *** invalide"),
        (f"/v1/me?x=1&apiKey={quote(KEY, safe='')}&y=2", "/v1/me?x=1&apiKey=***&y=2"),
        (f"GET /v1/me?apiKey={quote_plus(KEY)}", "GET /v1/me?apiKey=***"),
        (f"url {quote(KEY)} end", "url *** end"),
        (f"url {quote(KEY, safe='').lower()} end", "url *** end"),
        ('{"message": "' + KEY.replace("/", "\\/") + '"}', '{"message": "***"}'),
        (f"{KEY}{KEY}", "******"),
        ("apiKey=some-other-old-key&tag=x", "apiKey=***&tag=x"),
        ("APIKEY=some-other-old-key", "APIKEY=***"),
        ("Message introuvable", "Message introuvable"),
        ("", ""),
    ],
    ids=[
        "plain", "upper-case", "lower-case", "swapped-case", "url-encoded-query", "quote-plus-query", "quote-with-slash",
        "lower-case-percent-hex", "json-escaped-slash", "twice-in-a-row", "any-apiKey-value", "apiKey-any-case",
        "no-secret-unchanged", "empty-text",
    ],
)
def test_every_form_of_the_secret_is_masked(text: str, expected: str) -> None:
    assert redact(text, [KEY]) == expected


def test_a_realistic_hex_key_is_masked_in_any_case() -> None:
    assert redact(f"key {HEX} / {HEX.upper()}", [HEX]) == f"key {MASK} / {MASK}"


def test_each_of_several_secrets_is_masked() -> None:
    assert redact(f"{KEY} and {HEX}", [KEY, HEX]) == "*** and ***"


@pytest.mark.parametrize("secret", ["", "a", "ab1", "x" * (MIN_SECRET_LENGTH - 1)], ids=["empty", "one", "three", "short"])
def test_empty_or_very_short_secrets_are_ignored_and_the_text_kept(secret: str) -> None:
    text = "a quick brown fox, ab1 and xxxxx"
    assert redact(text, [secret]) == text
    assert redact(text, []) == text


def test_regex_characters_in_a_secret_are_literal() -> None:
    secret = "k.*+?[(|)]^$\\e"
    assert redact(f"say {secret} and kxxe", [secret]) == "say *** and kxxe"


def test_masker_binds_the_secrets_once() -> None:
    mask = masker([KEY])
    assert [mask(f"a {KEY}"), mask("b")] == ["a ***", "b"]


def test_a_secret_book_masks_every_secret_learnt_so_far() -> None:
    from etl.api.redact import SecretBook

    book = SecretBook([KEY])
    assert book.mask(f"{KEY} / {HEX}") == f"{MASK} / {HEX}"
    book.add(HEX, "", HEX)
    assert (len(book), HEX in book, book.mask(f"{KEY} / {HEX.upper()}")) == (2, True, f"{MASK} / {MASK}")
