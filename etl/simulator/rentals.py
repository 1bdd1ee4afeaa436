"""Contact rentals ("location"): a token, a state code and a file of numbers with stop flags.

Why: the rental file can hold hundreds of thousands of numbers and a number can switch to STOP
between two downloads (issue 3). Generated numbers are derived from their index (like stops);
only explicit numbers and stop-flag overrides are stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

STATUS_TEXT = {
    0: "Location demandée",
    1: "Fichier en cours de génération",
    2: "Fichier prêt à être téléchargé",
    3: "La location a échoué",
    5: "File downloaded by user from api",
}

_SPACE = 100_000_000
_MULT = 48_271_001  # odd, not a multiple of 5


@dataclass
class Rental:
    token: str
    status: int
    base_id: int
    explicit: list[str] | None  # explicit E.164 numbers, or None for generated
    generated_n: int
    seed: int
    single_download: bool = False
    downloads: int = 0
    file_present: bool = True
    stop: dict[int, bool] = field(default_factory=dict)  # index -> stop flag override
    initial_stop_share: float = 0.0
    #: The price per contact that ``location/status`` quotes (``cost_unity``); total = unit x contacts.
    unit_cost: Decimal = Decimal("0.090")

    def __len__(self) -> int:
        return len(self.explicit) if self.explicit is not None else self.generated_n

    def phone(self, i: int) -> str:
        if self.explicit is not None:
            return self.explicit[i]
        x = (i * _MULT + self.seed * 1_000_003 + 17) % _SPACE
        return f"+337{x:08d}"

    def _initial_stop(self, i: int) -> bool:
        if self.initial_stop_share <= 0:
            return False
        # a cheap deterministic hash of (seed, i) in [0, 1)
        h = (i * 2_654_435_761 + self.seed * 40_503) % 4_294_967_296
        return h / 4_294_967_296 < self.initial_stop_share

    def is_stop(self, i: int) -> bool:
        flag = self.stop.get(i)
        return self._initial_stop(i) if flag is None else flag

    def index_of(self, phone: str) -> int | None:
        if self.explicit is not None:
            try:
                return self.explicit.index(phone)
            except ValueError:
                return None
        if len(phone) != 12 or not phone.startswith("+337"):
            return None
        for i in range(self.generated_n):  # rare (tests only): linear is fine
            if self.phone(i) == phone:
                return i
        return None

    def iter_rows(self, stop_overrides: dict[int, bool]) -> Iterator[tuple[int, str, bool]]:
        """(id, phone, stopSms) rows; ``stop_overrides`` is a snapshot taken under the lock."""
        for i in range(len(self)):
            flag = stop_overrides.get(i)
            yield self.base_id + i, self.phone(i), self._initial_stop(i) if flag is None else flag
