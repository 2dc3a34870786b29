"""How ledger value objects are written into stored events (JSON).

Tuples arrive back as lists (json encodes them natively); aggregates normalise.

eventsourcing's JSON transcoder knows UUID, Decimal and datetime; everything else an
event carries is registered here, with stable names that never change once used.
"""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.audit import ActorKind, AuditStamp
from domain.rotation import ManagedSpec, PendingRotation, RotationPolicy
from domain.values import CanaryOptions, Charset, SealedValue, SecretType, SecretVersion


class BytesAsBase64(Transcoding):
    type = bytes
    name = "b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode()

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class _EnumAsValue(Transcoding):
    def encode(self, obj: Any) -> str:
        return str(obj.value)

    def decode(self, data: str) -> Any:
        return self.type(data)


class ActorKindAsValue(_EnumAsValue):
    type = ActorKind
    name = "actor_kind"


class SecretTypeAsValue(_EnumAsValue):
    type = SecretType
    name = "secret_type"


class AuditStampAsDict(Transcoding):
    type = AuditStamp
    name = "audit"

    def encode(self, obj: AuditStamp) -> dict[str, Any]:
        return {
            "actor_kind": obj.actor_kind,
            "source_ip": obj.source_ip,
            "user_id": obj.user_id,
            "machine_id": obj.machine_id,
            "ai_agent_id": obj.ai_agent_id,
            "detail": obj.detail,
        }

    def decode(self, data: dict[str, Any]) -> AuditStamp:
        return AuditStamp(**data)


class SealedValueAsDict(Transcoding):
    type = SealedValue
    name = "sealed"

    def encode(self, obj: SealedValue) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> SealedValue:
        return SealedValue(**data)


class CanaryOptionsAsDict(Transcoding):
    type = CanaryOptions
    name = "canary_options"

    def encode(self, obj: CanaryOptions) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> CanaryOptions:
        return CanaryOptions(**data)


class SecretVersionAsDict(Transcoding):
    type = SecretVersion
    name = "version"

    def encode(self, obj: SecretVersion) -> dict[str, Any]:
        return {
            "number": obj.number,
            "sealed": obj.sealed,
            "created_ms": obj.created_ms,
            "rolled_back_from": obj.rolled_back_from,
            "field_names": list(obj.field_names) if obj.field_names is not None else None,
        }

    def decode(self, data: dict[str, Any]) -> SecretVersion:
        names = data.pop("field_names", None)
        return SecretVersion(**data, field_names=tuple(names) if names is not None else None)


class RotationPolicyAsDict(Transcoding):
    type = RotationPolicy
    name = "rotation_policy"

    def encode(self, obj: RotationPolicy) -> dict[str, Any]:
        return {
            "interval_s": obj.interval_s,
            "length": obj.length,
            "charset": obj.charset.value,
            "fields": list(obj.fields) if obj.fields is not None else None,
        }

    def decode(self, data: dict[str, Any]) -> RotationPolicy:
        fields = data.get("fields")
        return RotationPolicy(
            interval_s=data["interval_s"],
            length=data["length"],
            charset=Charset(data["charset"]),
            fields=tuple(fields) if fields is not None else None,
        )


class ManagedSpecAsDict(Transcoding):
    type = ManagedSpec
    name = "managed_spec"

    def encode(self, obj: ManagedSpec) -> dict[str, Any]:
        return {"provider": obj.provider, "username": obj.username, "connection": obj.connection}

    def decode(self, data: dict[str, Any]) -> ManagedSpec:
        return ManagedSpec(**data)


class PendingRotationAsDict(Transcoding):
    type = PendingRotation
    name = "pending_rotation"

    def encode(self, obj: PendingRotation) -> dict[str, Any]:
        return {
            "rotation_id": obj.rotation_id,
            "version": obj.version,
            "issued_ms": obj.issued_ms,
            "reason": obj.reason,
        }

    def decode(self, data: dict[str, Any]) -> PendingRotation:
        return PendingRotation(**data)


def register_ledger_transcodings(transcoder: JSONTranscoder) -> None:
    for transcoding in (
        BytesAsBase64(),
        ActorKindAsValue(),
        SecretTypeAsValue(),
        AuditStampAsDict(),
        SealedValueAsDict(),
        SecretVersionAsDict(),
        CanaryOptionsAsDict(),
        RotationPolicyAsDict(),
        ManagedSpecAsDict(),
        PendingRotationAsDict(),
    ):
        transcoder.register(transcoding)
