"""The audience filter (issue 8): check a campaign list against the synced stops, never wrongly "allowed".

``stops`` loads the stop set and checks its freshness, ``csvfile`` sniffs the CSV, ``filter``
streams it; ``numbers`` is the compact number set both use. See docs/audience.md.
"""

from etl.audience.filter import REASONS, Classifier, Summary, classify_rows, filter_audience
from etl.audience.freshness import Freshness, check_freshness
from etl.audience.numbers import NumberSet
from etl.audience.stops import StopSet, load_stop_set

__all__ = [
    "REASONS",
    "Classifier",
    "Freshness",
    "NumberSet",
    "StopSet",
    "Summary",
    "check_freshness",
    "classify_rows",
    "filter_audience",
    "load_stop_set",
]
