"""Push callbacks (issue 9, docs/push.md): receive replies, STOPs and delivery reports as well as
polling them. Polling stays the source of truth; a push only makes things known sooner.

- `etl.push.parse`: callback bodies → frozen `Callback` records (pure).
- `etl.push.store`: the inbox write (`store`), replays skipped.
- `etl.push.apply`: applying rows (`apply_pass`), and `resolve_pending`, which the statuses cycle
  calls to apply delivery reports that arrived before their message was tracked.
- `etl.push.receiver`: `PushReceiver`, the HTTP server (group commit, then apply).
"""

from __future__ import annotations

from etl.push.apply import ApplyResult, apply_pass, resolve_pending

__all__ = ["ApplyResult", "apply_pass", "resolve_pending"]
