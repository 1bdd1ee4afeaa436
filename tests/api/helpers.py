"""Readers of the big lists for tests, each one `SmsPartnerClient.stream_list` call with a shaper."""

from __future__ import annotations

from itertools import chain
from typing import Any

from etl.api import parse, rentalrows, stoprows
from etl.api.lists import STOP_LIST, each, rental_file


def rental_numbers(client: Any, token: str) -> list[parse.RentalNumber]:
    """The rental file as typed `RentalNumber` records, item by item through ``parse_rental_item``."""
    shaper = each(parse.parse_rental_item, rentalrows.ENDPOINT)
    return list(chain.from_iterable(client.stream_list(rental_file(token), shaper)))


def rental_rows(client: Any, token: str) -> list[rentalrows.RentalRow]:
    """The rental file as row tuples, item by item through one `rental_row_parser`."""
    shaper = each(rentalrows.rental_row_parser(), rentalrows.ENDPOINT)
    return list(chain.from_iterable(client.stream_list(rental_file(token), shaper)))


def stop_rows(client: Any, utc_suffix: str = "", max_raw: int | None = None) -> list[Any]:
    """The stop list as row tuples, item by item through one `stop_row_parser`."""
    shaper = each(stoprows.stop_row_parser(utc_suffix, max_raw), stoprows.ENDPOINT)
    return list(chain.from_iterable(client.stream_list(STOP_LIST, shaper)))
