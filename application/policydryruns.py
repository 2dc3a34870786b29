"""`policy dry-run`: would this policy have blocked anything in the last N days?

Every recorded `secret_read` of the bound (or named) secrets in the window, from the
access log (time, source IP, machine), re-judged by `domain.policydryrun`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from application.ledger import Ledger
from application.policies import Policies
from application.ports import Clock
from domain import ids
from domain.errors import InvalidInput
from domain.policydryrun import Read, dry_run
from domain.policyjudge import DAY_MS

MAX_DAYS = 90


class ReadHistory(Protocol):
    def reads(self, secret_ids: list[str], since_ms: int, until_ms: int) -> Iterable[Read]:
        """Recorded `secret_read`s in [since, until): each secret's oldest first."""
        ...


class PolicyDryRuns:
    def __init__(
        self, ledger: Ledger, policies: Policies, history: ReadHistory, clock: Clock
    ) -> None:
        self.ledger = ledger
        self.policies = policies
        self.history = history
        self.clock = clock

    def run(self, policy_id: str, secret_id: str | None, days: int) -> dict[str, Any]:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}")
        policy = self.ledger.policy(policy_id)
        if secret_id is not None:
            secret = self.ledger.secret(ids.require(ids.SECRET, secret_id))
            if secret.project_id != policy.project_id:
                raise InvalidInput(f"Secret {secret_id} is not in the policy's project")
            secrets = [secret_id]
        else:
            secrets = sorted(self.policies.view(policy)["boundSecrets"])
        until = self.clock.now_ms()
        since = until - days * DAY_MS
        result = dry_run(policy.rules, self.history.reads(secrets, since, until) if secrets else ())
        return {
            "policyId": policy_id,
            "secrets": secrets,
            "days": days,
            "from": since,
            "to": until,
            **result.as_dict(),
        }
