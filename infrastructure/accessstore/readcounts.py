"""Policy read counts in the store beside the access log: exact across API processes.

One transaction per counted read: a conditional upsert per bucket. If any bucket is
already at its cap the transaction rolls back, so a refused read counts nowhere.
PostgreSQL's row lock and SQLite's single writer make the check-and-count atomic.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from application.policygate import Take

_UPSERT = text(
    "INSERT INTO kl_policy_counts (secret_id, bucket, reads) VALUES (:secret, :bucket, 1) "
    "ON CONFLICT (secret_id, bucket) DO UPDATE SET reads = kl_policy_counts.reads + 1 "
    "WHERE kl_policy_counts.reads < :cap RETURNING reads"
)
_PRUNE = text(
    "DELETE FROM kl_policy_counts "
    "WHERE secret_id = :secret AND bucket LIKE 'm:%' AND bucket < :oldest"
)
UNCAPPED = 2**62


class _Full(Exception):
    pass


class SqlReadCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, secret_id: str, buckets: list[tuple[str, int | None]]) -> Take:
        counts: dict[str, int] = {}
        full: str | None = None
        try:
            with self.engine.begin() as conn:
                for bucket, cap in buckets:
                    row = conn.execute(
                        _UPSERT,
                        {"secret": secret_id, "bucket": bucket, "cap": cap or UNCAPPED},
                    ).first()
                    if row is None:
                        full = bucket
                        raise _Full()
                    counts[bucket] = int(row[0])
                    if bucket.startswith("m:") and counts[bucket] == 1:
                        # A new minute: earlier minutes of this secret are done with.
                        conn.execute(_PRUNE, {"secret": secret_id, "oldest": bucket})
        except _Full:
            return Take(full, {})
        return Take(None, counts)
