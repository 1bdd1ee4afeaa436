"""The STOP-intent classifier against its labelled corpus (tests/data/stop_intent_*.tsv; docs/compliance.md).

The tuning corpus is what the rules were written against; the held-out corpus was written before them
and is reported apart (its first measurement is in docs/benchmarks.md). Run with ``-s`` to see the
confusion figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from etl.compliance.intent import classify

DATA = Path(__file__).resolve().parent.parent / "data"
CATEGORIES = {"explicit", "implicit", "look-alike", "other", "other-channel"}


@dataclass(frozen=True)
class Labelled:
    label: str
    category: str
    lang: str
    text: str


def load(name: str) -> list[Labelled]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, category, lang, text = line.split("\t", 3)
        rows.append(Labelled(label, category, lang, text))
    return rows


TUNING = load("stop_intent_corpus.tsv")
HELDOUT = load("stop_intent_heldout.tsv")


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def confusion(rows: list[Labelled]) -> Confusion:
    tp = fp = fn = tn = 0
    for row in rows:
        flagged, wanted = classify(row.text).stop, row.label == "optout"
        tp += flagged and wanted
        fp += flagged and not wanted
        fn += wanted and not flagged
        tn += not flagged and not wanted
    return Confusion(tp, fp, fn, tn)


def report(name: str, rows: list[Labelled]) -> Confusion:
    whole = confusion(rows)
    print(f"\n{name}: {len(rows)} replies, TP {whole.tp} FP {whole.fp} FN {whole.fn} TN {whole.tn}, precision {whole.precision:.3f} recall {whole.recall:.3f}")
    for category in sorted(CATEGORIES):
        part = [r for r in rows if r.category == category]
        c = confusion(part)
        print(f"  {category:<14} {len(part):>4}  flagged {c.tp + c.fp:>4}  missed {c.fn:>3}")
    return whole


def test_corpus_has_300_labelled_french_and_english_replies_with_known_categories() -> None:
    rows = TUNING + HELDOUT
    assert len(rows) >= 300
    assert {r.label for r in rows} == {"optout", "other"}
    assert {r.category for r in rows} == CATEGORIES
    assert {r.lang for r in rows} == {"fr", "en"}
    assert all((r.label == "optout") == (r.category in ("explicit", "implicit")) for r in rows)
    assert len({r.text for r in rows}) == len(rows), "a reply in both sets, or twice"


def test_every_explicit_opt_out_of_the_tuning_corpus_is_flagged() -> None:
    missed = [r.text for r in TUNING if r.category == "explicit" and not classify(r.text).stop]
    assert missed == []


@pytest.mark.parametrize("name,rows", [("tuning", TUNING), ("held-out", HELDOUT)], ids=["tuning", "held-out"])
def test_precision_is_at_least_098_and_figures_are_printed(name: str, rows: list[Labelled]) -> None:
    whole = report(name, rows)
    assert whole.precision >= 0.98


def test_held_out_explicit_recall_stays_at_one() -> None:
    assert confusion([r for r in HELDOUT if r.category == "explicit"]).fn == 0


@pytest.mark.parametrize(
    "text,flagged",
    [
        ("stop svp", True),
        ("ARRÊT", True),
        ("S.T.O.P", True),
        ("arrêtez de m'appeler", False),
        ("stop à 18h ?", False),
        ("stop-and-go", False),
        ("non stop", False),
        ("top", False),
        ("stopper le chauffage", False),
        ("", False),
        (None, False),
    ],
    ids=["stop-svp", "arret-accent", "spelled", "calls", "time", "stop-and-go", "non-stop", "top", "stopper", "empty", "none"],
)
def test_documented_examples(text: str | None, flagged: bool) -> None:
    assert classify(text).stop is flagged


def test_a_flag_names_the_rule_that_raised_it() -> None:
    assert classify("STOP").rule == "keyword"
    assert classify("merci de ne plus m'envoyer de sms").rule is not None
    assert classify("ok merci").rule is None
