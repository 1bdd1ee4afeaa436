"""What one rental's sync ends in: the API's codes and states as plain words (quirk 15: codes per
endpoint), the followed rental, and the counts of a loaded file.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Download/status control codes (REFERENCE §3.13, DOC-err).
CODE_STATUS: dict[int, tuple[str, str]] = {
    31: ("token_missing", "the rental token is empty (API code 31)"),
    32: ("not_found", "no rental with this token on the account (API code 32)"),
    33: ("file_not_found", "the rental has no file to download (API code 33)"),
    34: ("file_used", "the file was already downloaded and can be downloaded only once (API code 34)"),
    35: ("in_progress", "the file is still being prepared (API code 35); retried next cycle"),
    36: ("rental_failed", "the rental failed at the provider (API code 36)"),
}


#: ``location/status`` numeric states that make a download pointless now.
STATE_STATUS: dict[int, tuple[str, str]] = {
    0: ("requested", "rental requested, file not generated yet (state 0); retried next cycle"),
    1: ("generating", "file being generated (state 1); retried next cycle"),
    3: ("rental_failed", "the rental failed at the provider (state 3)"),
}


#: Statuses that will clear up by themselves (the next cycle tries again).
WAITING = frozenset({"requested", "generating", "in_progress"})


@dataclass(frozen=True)
class FollowedRental:
    id: int
    token: str
    label: str
    has_file: bool

    @property
    def name(self) -> str:
        """For logs and the run log: the label and the token's last characters, never the whole token."""
        tail = self.token[-4:] if len(self.token) > 8 else "****"
        return f"{self.label or 'rental'}(…{tail})"


@dataclass(frozen=True)
class FileCounts:
    rows: int
    numbers: int
    stopped: int
    unparseable: int
    added: int
    removed: int
    stop_on: int
    stop_off: int


@dataclass(frozen=True)
class RentalOutcome:
    status: str
    text: str
    code: int | None = None
    counts: FileCounts | None = None
    #: Entries of the loaded file that could not be read (quarantined).
    quarantined: int = 0
