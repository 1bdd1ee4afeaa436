"""Monthly costs: ``/statistics/cost-resume``, read month by month."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from etl.api.parse.unreadable import Unreadable
from etl.api.parse.values import _amount, _int, _list, _mapping, _require
from etl.errors import PayloadError


@dataclass(frozen=True, slots=True)
class MonthlyCost:
    """One month of ``/statistics/cost-resume``."""

    year: int
    month: int
    cost: Decimal
    nb_send: int


class MonthlyCosts(list[MonthlyCost]):
    """The readable months of ``/statistics/cost-resume``, and the ones that were not (``unreadable``)."""

    def __init__(self, items: Sequence[MonthlyCost] = (), unreadable: Sequence[Unreadable] = ()) -> None:
        super().__init__(items)
        self.unreadable: tuple[Unreadable, ...] = tuple(unreadable)


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "janvier"), ("february", "février", "fevrier"), ("march", "mars"), ("april", "avril"),
            ("may", "mai"), ("june", "juin"), ("july", "juillet"), ("august", "août", "aout"),
            ("september", "septembre"), ("october", "octobre"), ("november", "novembre"),
            ("december", "décembre", "decembre"),
        ],
        start=1,
    )
    for name in names
}


def parse_cost_resume(payload: Mapping[str, Any], endpoint: str = "statistics/cost-resume") -> MonthlyCosts:
    """``datas[]``: ``year`` and ``m`` as strings, ``cost`` and ``nb_send`` as strings (quirk 20).

    Month by month: a month that cannot be read (a cost that is not an exact amount, no month number)
    is an `Unreadable` in ``unreadable``, never a guess and never fatal to the other months.
    """
    good: list[MonthlyCost] = []
    bad: list[Unreadable] = []
    for index, raw in enumerate(_list(payload, ("datas", "data"), endpoint)):
        try:
            good.append(_monthly_cost(_mapping(raw, endpoint, f"datas[{index}]"), endpoint))
        except PayloadError as exc:
            bad.append(Unreadable(endpoint, raw, str(exc)))
    return MonthlyCosts(good, bad)


def _monthly_cost(item: Mapping[str, Any], endpoint: str) -> MonthlyCost:
    year = _int(_require(item, ("year",), endpoint), endpoint, "datas[].year")
    if item.get("m") is not None:
        month = _int(item["m"], endpoint, "datas[].m")
    else:
        name = str(item.get("month", "")).strip().lower()
        if name not in _MONTHS:
            raise PayloadError(f"no month number: {item.get('month')!r}", endpoint=endpoint, field="datas[].m")
        month = _MONTHS[name]
    if not 1 <= month <= 12:
        raise PayloadError(f"month out of range: {month}", endpoint=endpoint, field="datas[].m")
    return MonthlyCost(
        year=year,
        month=month,
        cost=_amount(_require(item, ("cost",), endpoint), endpoint, "datas[].cost"),
        nb_send=_int(_require(item, ("nb_send", "nbSend"), endpoint), endpoint, "datas[].nb_send"),
    )
