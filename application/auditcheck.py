"""One verification of the whole audit trail: the ledger's hash chain and every lane of
the access log, walked where the data is (the server, or an explicitly named copy).

`audit verify` used to open whatever store the local default data directory held;
beside a server with another data dir that was an empty store reported "intact".
The answer therefore says how much it checked, and names the first bad item.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from application.accessverify import AccessChainReport, verify_access_log
from application.checkpoints import Checkpoints, check_checkpoints
from application.ports import AccessLogSource
from domain.checkpoint import LEDGER, SignedCheckpoint, access_log
from domain.errors import Sealed


class LedgerChainReport(Protocol):
    """What the ledger's chain walk (infrastructure.eventstore.chain) reports."""

    @property
    def ok(self) -> bool: ...
    @property
    def checked(self) -> int: ...
    @property
    def head_id(self) -> int | None: ...
    @property
    def head_hash(self) -> str | None: ...
    @property
    def first_bad_id(self) -> int | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def seen(self) -> dict[int, str]: ...


@dataclass(frozen=True)
class AuditReport:
    ledger: LedgerChainReport
    access: AccessChainReport
    checkpoint_problem: tuple[str, str] | None = None  # (first bad, reason) from checkpoints
    checkpoints: int = 0
    sealed: bool = False  # checkpoint signatures could not be checked

    @property
    def first_bad(self) -> tuple[str, str] | None:
        """(what, why) of the first problem: the ledger first, then the access log."""
        if not self.ledger.ok:
            return f"event #{self.ledger.first_bad_id}", self.ledger.reason
        if not self.access.ok:
            return f"record {self.access.first_bad}", self.access.reason
        return self.checkpoint_problem

    @property
    def intact(self) -> bool:
        return self.first_bad is None

    def as_json(self) -> dict[str, Any]:
        bad = self.first_bad
        return {
            "intact": bad is None,
            "ledger": {
                "checked": self.ledger.checked,
                "headId": self.ledger.head_id,
                "headHash": self.ledger.head_hash,
                "intact": self.ledger.ok,
            },
            "access": {
                "checked": self.access.checked,
                "lanes": self.access.lanes,
                "heads": self.access.heads,
                "intact": self.access.ok,
            },
            "checkpoints": {"checked": self.checkpoints, "skippedSealed": self.sealed},
            "firstBad": bad[0] if bad else None,
            "reason": bad[1] if bad else None,
        }


class AuditVerifier:
    """Re-walks both logs and checks every recorded checkpoint, plus an off-box one if
    given; `ledger_chain` walks the event store (infrastructure)."""

    def __init__(
        self,
        ledger_chain: Callable[[Collection[int]], LedgerChainReport],
        access: AccessLogSource,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self._ledger_chain = ledger_chain
        self._access = access
        self._checkpoints = checkpoints

    def verify(self, off_box: SignedCheckpoint | None = None) -> AuditReport:
        signed = list(self._checkpoints.log.all()) if self._checkpoints else []
        signed += [off_box] if off_box else []
        heads = [h for s in signed for h in s.checkpoint.heads]
        ledger = self._ledger_chain({h.position for h in heads if h.log == LEDGER})
        lanes = {(h.log.removeprefix("access:"), h.position) for h in heads if h.log != LEDGER}
        access = verify_access_log(self._access, lanes)
        if not (ledger.ok and access.ok) or not signed or self._checkpoints is None:
            return AuditReport(ledger, access)
        seen = {(LEDGER, n): digest for n, digest in ledger.seen.items()}
        seen |= {(access_log(lane), n): digest for (lane, n), digest in access.seen.items()}
        tips = {access_log(lane): n for lane, n in access.tips.items()}
        tips[LEDGER] = ledger.head_id or 0
        try:
            problem = check_checkpoints(signed, self._checkpoints.signer, seen, tips)
        except Sealed:
            if off_box is not None:
                raise
            return AuditReport(ledger, access, sealed=True)
        return AuditReport(ledger, access, problem, len(signed))
