"""Opt-out intent in free-text replies: pure, deterministic rules, no model (docs/compliance.md,
"STOP intent in replies").

A reply is first normalised (case, accents, apostrophes, spelled-out letters, repeated letters,
common misspellings), split into clauses at punctuation, then flagged when:

1. a clause is an opt-out keyword on its own, give or take politeness and a target ("stop svp",
   "ARRÊT", "désabonnez-moi", "STOP SMS", "unsubscribe", "Quit"); or a clause *starts* with
   ``stop``/``arrêt`` followed by a new sentence's subject ("STOP je ne suis pas intéressé");
2. or a phrase says it ("ne plus recevoir", "arrêtez de m'envoyer", "remove me", "no more texts"),
   or a token asks to unsubscribe ("comment me désinscrire ?") and no negation or past-tense
   statement ("je me suis désabonné de …", "je ne veux pas me désinscrire") vetoes it.

Deliberately not flagged: requests about calls or e-mail ("arrêtez de m'appeler", "stop calling
me"): the stop list governs SMS only, so they are left to a human; ``stop`` inside another
sentence ("stop à 18h ?", "non stop", "stop-and-go", "bus stop"); ``stopper``; ``top``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Intent", "classify", "normalise"]


def _squeeze(word: str) -> str:
    """Runs of one letter become one ("stooop" → "stop", "arrêt" → "aret"): spelling noise gone.
    Every word list and pattern below goes through it too, so they are written in plain spelling."""
    return re.sub(r"([a-z])\1+", r"\1", word)


def _words(text: str) -> frozenset[str]:
    return frozenset(_squeeze(w) for w in text.split())


#: Misspellings and run-together words seen in replies, after squeezing.
_SPELLING = {
    "sotp": "stop",
    "stpo": "stop",
    "stopal": "stop all",
    "desincription": "desinscription",
    "desincrire": "desinscrire",
    "unsuscribe": "unsubscribe",
    "unsubcribe": "unsubscribe",
    "menvoyer": "m envoyer",
    "menvoyez": "m envoyez",
}
#: A clause made of one of these (after fillers and targets are dropped) is an opt-out.
_KEYWORDS = _words("stop arret arrete arretez unsubscribe unsub optout end quit cancel")
#: Token prefixes that ask to leave a list wherever they stand (unless vetoed).
_LEAVE_PREFIXES = tuple(_squeeze(w) for w in ("desinscri", "desabon", "unsubscri", "unsub"))
_FILLERS = _words("svp stp merci beaucoup please pls plz thanks thx bonjour bonsoir hello hi ok")
_TARGETS = _words("sms message messages pub pubs publicite publicites tout all now maintenant text texts me moi les au")
#: Subjects that start a new sentence after a leading "stop" ("STOP je ne suis pas intéressé").
_SUBJECTS = _words("je j i vous nous on c ce ca we you it this")
_POLITE_PHRASES = re.compile(r"\bs il (?:vous|te) plait\b|\bthank you\b")
_SPELLED = re.compile(r"\b(?:[a-z][ .\-]){2,}[a-z]\b")
_CLAUSE_BREAK = re.compile(r"[.,;:!?()\[\]\n\"«»]+")


def _rx(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(_squeeze(p)) for p in patterns)


#: Phrases over the whole normalised text (space-joined tokens, squeezed).
_PHRASES = _rx(
    r"\bne plus (?:rien )?(?:recevoir|me contacter|m envoyer)\b",
    r"\b(?:veux|veut|souhaite|desire|voudrais) plus (?:rien )?"
    r"(?:recevoir|etre contacte|de (?:vos |ces |les |tes )?(?:sms|messages?|pubs?|publicites?|offres|promos|textos))\b",
    r"\bne m envoyez plus\b",
    r"\bne (?:me )?contactez plus\b",
    r"\barret(?:e|ez|er)? (?:de |d )?(?:m envoyer|m ecrire|me contacter|me texter|me spammer)\b",
    r"\barret(?:e|ez|er)? (?:les|vos|ces|tes|tous les) (?:sms|messages?|envois|pubs?|publicites?|textos|promos)\b",
    r"\bstop (?:a|aux|avec) (?:ces |vos |les |tes )?(?:sms|messages?|pubs?|publicites?|envois|textos)\b",
    r"\b(?:retire[rz]?|supprime[rz]?|efface[rz]?|enleve[rz]?) (?:moi|mon numero)\b",
    r"^plus de (?:sms|messages?|pubs?|publicites?|textos)\b",
    r"\b(?:dis|dit|ai dit|said|say|reply|replied|repondu|ecrit) stop\b",
    r"\bremove (?:me|my number)\b",
    r"\btake me off\b",
    r"\bopt me out\b",
    r"\bstop (?:texting|sending|messaging|contacting|spamming)\b",
    r"\b(?:don t|do not|dont|never) (?:text|message|contact|sms) me\b",
    r"\bno more (?:texts?|messages?|sms)\b",
    r"\b(?:don t|do not|dont) want (?:to (?:receive|get) )?(?:these |your |any |those )?(?:texts?|messages?|sms|anymore)\b",
)
#: What cancels a leave-word: a negation just before it, a past fact, a wish to re-subscribe.
_VETOES = _rx(
    r"\b(?:pas|not|don t|dont|never|jamais) (?:\w+ ){0,3}(?:desinscri|desabon|unsubscri)",
    r"\b(?:me suis|s est|t es|se sont|i|i ve|we) (?:\w+ )?(?:desinscri|desabon|unsubscribed)",
    r"\breabon|\bresubscri",
)


@dataclass(frozen=True)
class Intent:
    """The verdict on one reply: ``rule`` names what flagged it (``None`` when not flagged)."""

    stop: bool
    rule: str | None = None


NOT_STOP = Intent(False)


def normalise(text: str) -> list[list[str]]:
    """The reply as clauses of squeezed, accent-free, lower-case tokens (misspellings fixed)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    folded = re.sub(r"[’'`´-]", " ", folded)
    folded = _SPELLED.sub(lambda m: re.sub(r"[ .\-]", "", m.group(0)), folded)
    folded = _POLITE_PHRASES.sub(" svp ", folded)
    clauses = []
    for part in _CLAUSE_BREAK.split(folded):
        tokens: list[str] = []
        for raw in re.findall(r"[a-z0-9]+", part):
            word = _squeeze(raw)
            tokens.extend(_squeeze(w) for w in _SPELLING.get(word, word).split())
        joined = " ".join(tokens).replace("opt out", "optout")
        if joined:
            clauses.append(joined.split())
    return clauses


def _keyword_clause(tokens: list[str]) -> str | None:
    """Which rule makes this clause an opt-out on its own, if any."""
    core = [t for t in tokens if t not in _FILLERS]
    if not core:
        return None
    head, rest = core[0], core[1:]
    is_keyword = head in _KEYWORDS or head.startswith(_LEAVE_PREFIXES)
    if is_keyword and all(t in _TARGETS or t in _KEYWORDS or t.isdigit() for t in rest):
        return "keyword"
    if head in ("stop", "aret") and rest and rest[0] in _SUBJECTS:
        return "keyword-then-sentence"
    return None


def classify(text: str | None) -> Intent:
    """Is this reply asking to stop receiving messages? Deterministic, no I/O."""
    if not text:
        return NOT_STOP
    clauses = normalise(text)
    for tokens in clauses:
        rule = _keyword_clause(tokens)
        if rule is not None:
            return Intent(True, rule)
    whole = " ".join(" ".join(c) for c in clauses)
    for number, pattern in enumerate(_PHRASES):
        if pattern.search(whole):
            return Intent(True, f"phrase-{number}")
    if any(t.startswith(_LEAVE_PREFIXES) for c in clauses for t in c) and not any(v.search(whole) for v in _VETOES):
        return Intent(True, "leave-word")
    return NOT_STOP
