"""The fast path behind `etl.phones`: parts of `phonenumbers` re-implemented, with the same answers.

`etl.phones` is the public API (normalize, canonicalize, the int parser) and the only importer of this
package outside the tests; nothing here is called from anywhere else. Why a fast path:
`phonenumbers.parse` + ``is_valid_number`` + ``format_number`` on every number is too slow for a
million-entry stop list or a ten-million-row audience file (``docs/benchmarks.md``, "Phone numbers", N1).

Almost every number we see is one of a few *plain* shapes: digits, an optional leading ``+``, and
the separators people type (``0612345678``, ``06 12 34 56 78``, ``06.12.34.56.78``, ``06-12-…``,
``+33612345678``, ``+33 (0)6 12 34 56 78``, ``0033612345678``, ``33612345678``). For those shapes
`phonenumbers` only ever looks at the digit string, so this package re-implements *its* decisions on
that string, step by step, with *its own metadata* compiled once per region:

- ``_maybe_strip_i18n_prefix_and_normalize`` / ``_parse_prefix_as_idd`` (``+`` or the region's IDD,
  e.g. ``00``, not followed by ``0``),
- ``_extract_country_code`` (1 to 3 digits found in ``COUNTRY_CODE_TO_REGION_CODE``) and the
  retry without the ``+`` when the code is unknown,
- the "starts with the default country code" rule of ``_maybe_extract_country_code``,
- ``_maybe_strip_national_prefix_carrier_code`` and the ``_test_number_length`` guard in ``parse``,
- ``is_valid_number``: ``_region_code_for_number_from_list`` then ``_number_type_helper``, folded
  into one regular expression per (region, NSN length), and for most lengths into a table of
  first digits.

Anything else (letters, extensions, other punctuation, Unicode digits, a national significant
number with a leading zero, non-geographic codes) goes to `phonenumbers` itself (`slow`).
``tests/test_phones.py`` proves by property test, over many regions and shapes, that both paths
give identical answers; ``tests/phone_numbers/`` checks the tables against the regular expressions.

One module per step of phonenumbers' own pipeline, so each can be read beside the function it
copies; each imports only those listed above it:

- `metadata`: one region's metadata compiled (`Meta`), the shared constants and verdicts.
- `codes`: country codes read from the first digits after ``+`` or ``00``, and which regions'
  metadata is plain enough for the inlined shapes.
- `validity`: ``is_valid_number`` for a national significant number, as one pattern per length.
- `tables`: the same validity decided by the first digits (exact prefix tables), and
  `IntParserTables`, their view for the numpy caller (``etl.audience.vectorized``).
- `parse`: ``parse`` for any plain digit string (the general, slower-but-still-fast case).
- `slow`: phonenumbers itself, for everything the fast path leaves.
- `fast`: the string fast path for one region (`normalize`, `canonicalize`).
- `int_parser`: the int fast path for one region (`e164_int_parser`), the hot loop of the audience
  filter.
"""
