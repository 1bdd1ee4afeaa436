#!/usr/bin/env bash
# A/B of two commits on one machine in one session: each in its own worktree, the stop and rental
# benchmarks run in turn, ROUNDS times, with the load average printed before each (docs/benchmarks.md).
#
#   scripts/bench_ab.sh OLD_REV [NEW_REV=HEAD] [ROUNDS=3]
set -euo pipefail
old=${1:?usage: scripts/bench_ab.sh OLD_REV [NEW_REV] [ROUNDS]}
new=${2:-HEAD}
rounds=${3:-3}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/old" >/dev/null 2>&1 || true; git -C "$repo" worktree remove --force "$work/new" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach "$work/old" "$old" >/dev/null
git -C "$repo" worktree add --detach "$work/new" "$new" >/dev/null
for tree in old new; do
    (cd "$work/$tree" && make .venv/.stamp-bench >/dev/null)
done
for round in $(seq "$rounds"); do
    for tree in old new; do
        cd "$work/$tree"
        for bench in stops_sync rental_sync; do
            extra=""; [ "$bench" = stops_sync ] && extra="--no-peer"
            echo "== round $round $tree $bench $(git log --oneline -1 | cut -c1-8) load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
            .venv/bin/python scripts/with_servers.py --postgresql -- .venv/bin/python "bench/$bench.py" $extra
        done
    done
done
echo "== end load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date +%T)"
