"""What both schemathesis suites share: the tally of answers and how an answer is judged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings

# Derandomized: the same cases every run, so a failure is reproducible.
FUZZ_SETTINGS = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


def fuzz_settings(max_examples: int) -> Any:
    return settings(max_examples=max_examples, **FUZZ_SETTINGS)


@dataclass
class Outcome:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    bypasses: list[str] = field(default_factory=list)
    bad_errors: list[str] = field(default_factory=list)

    def judge(self, label: str, response: httpx.Response, *, may_succeed: bool) -> None:
        """No 5xx; no success where the caller proved nothing; every error `{"error": "…"}`."""
        status = response.status_code
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        seen = f"{label} -> {status} {response.text[:200]}"
        if status >= 500:
            self.server_errors.append(seen)
        if not may_succeed and status < 400:
            self.bypasses.append(seen)
        if status >= 400:
            try:
                error = response.json()
                ok = set(error) == {"error"} and isinstance(error["error"], str)
            except (ValueError, TypeError):
                ok = False
            if not ok:
                self.bad_errors.append(seen)

    def run_all(self, operations: Iterable[Any], fuzz: Callable[[Any], None]) -> None:
        """Fuzz each operation in turn, printing what each one answered."""
        for operation in operations:
            before = dict(self.statuses)
            fuzz(operation)
            seen = {k: v - before.get(k, 0) for k, v in self.statuses.items()}
            print(operation.label, {k: v for k, v in sorted(seen.items()) if v})

    def assert_clean(self, min_requests: int) -> None:
        assert self.requests >= min_requests, self
        assert not self.server_errors, "\n".join(self.server_errors[:30])
        assert not self.bypasses, "\n".join(self.bypasses[:20])
        assert not self.bad_errors, "\n".join(self.bad_errors[:20])
        # Requests did get past authentication: some answers were successes.
        assert self.statuses.get(200, 0) > 0, self.statuses
