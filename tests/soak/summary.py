"""Fault counts and what each did: the simulator's call log, the daemons' /metrics and ``sync_runs``."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from etl.db.engine import make_engine
from etl.db.schema import sync_runs

_METRIC = re.compile(r'^(smspartner_etl_\w+?)(?:_total)?\{([^}]*)\} ([0-9.e+]+)$')


def metric_sums(scrapes: list[str]) -> dict[str, Counter[tuple[tuple[str, str], ...]]]:
    """Counters summed over the processes' last scrapes: name -> labels -> value."""
    out: dict[str, Counter[tuple[tuple[str, str], ...]]] = defaultdict(Counter)
    for text in scrapes:
        for line in text.splitlines():
            m = _METRIC.match(line)
            if not m or line.startswith("#") or "_created" in m.group(1):
                continue
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2))))
            out[m.group(1)][labels] += float(m.group(3))
    return out


def _detail_kind(detail: str | None) -> str:
    text = (detail or "").strip()
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:90] or "-"


def fault_summary(sim: Any, db_url: str, run: Any) -> str:
    lines: list[str] = []
    fired: Counter[str] = Counter()
    by_endpoint: dict[str, Counter[str]] = defaultdict(Counter)
    for call in sim.calls:
        if call.fault:
            fired[call.fault] += 1
            by_endpoint[call.fault][call.endpoint] += 1
    for kind, n in sorted(fired.items()):
        lines.append(f"fault fired: {kind} {n} ({', '.join(f'{e} {c}' for e, c in by_endpoint[kind].most_common())})")

    calls = Counter(c.endpoint for c in sim.calls)
    lines.append("API calls the simulator answered: " + ", ".join(f"{e} {n}" for e, n in calls.most_common()))
    sums = metric_sums(run.metrics)
    api = sums.get("smspartner_etl_api_calls", Counter())
    outcomes: Counter[str] = Counter()
    for labels, v in api.items():
        outcomes[dict(labels).get("outcome", "?")] += int(v)
    lines.append("client attempts by outcome (/metrics, all processes): " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    retries = sums.get("smspartner_etl_api_retries", Counter())
    lines.append("retried attempts by endpoint: " + ", ".join(
        f"{dict(k).get('endpoint')} {int(v)}" for k, v in sorted(retries.items(), key=lambda kv: -kv[1])))
    skipped = sums.get("smspartner_etl_runs_skipped", Counter())
    lines.append("runs skipped (/metrics): " + (", ".join(
        f"{dict(k).get('job')}/{dict(k).get('reason')} {int(v)}" for k, v in sorted(skipped.items())) or "none"))

    engine = make_engine(db_url, pool=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(sync_runs.c.job, sync_runs.c.outcome, sync_runs.c.detail)).all()
            conn.rollback()
    finally:
        engine.dispose()
    per_job: dict[str, Counter[str]] = defaultdict(Counter)
    failures: Counter[tuple[str, str, str]] = Counter()
    for job, outcome, detail in rows:
        per_job[job][outcome] += 1
        if outcome not in ("success",):
            failures[(job, outcome, _detail_kind(detail))] += 1
    lines.append("sync_runs by job and outcome: " + "; ".join(
        f"{job}: " + ", ".join(f"{o} {n}" for o, n in sorted(c.items())) for job, c in sorted(per_job.items())))
    lines.append("runs not successful, by job, outcome and detail (resumed by the next run):")
    lines.extend(f"  {n:4d}  {job} {outcome}: {detail}" for (job, outcome, detail), n in failures.most_common())
    return "\n".join(lines)
