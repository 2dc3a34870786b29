"""The ledger application: every operator use case on vault, projects and secrets.

One eventsourcing Application whose stored events are the audit log. Commands take
an explicit `AuditStamp` (who, from where) and never carry plaintext into events:
values are sealed by the `KeyService` port before an event is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from application.ports import Clock, KeyService
from application.transcodings import register_ledger_transcodings
from domain import ids
from domain.audit import AuditStamp
from domain.errors import Conflict, InvalidInput, NotFound, Sealed
from domain.names import SecretNameClaim, claim_id
from domain.policy import AccessPolicy
from domain.project import Project, validate_description, validate_project_name
from domain.records import AuditRecord
from domain.rotation import RotationSchedule, schedule_id
from domain.secret import (
    Secret,
    validate_field_names,
    validate_note,
    validate_secret_name,
    validate_value_size,
)
from domain.values import CanaryOptions, SecretType, SecretVersion, generate_value
from domain.vault import Vault


class Ledger(Application[UUID]):
    name = "keyledger"

    def __init__(self, env: Mapping[str, str] | None, keys: KeyService, clock: Clock) -> None:
        super().__init__(env)
        self.keys = keys
        self.clock = clock

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_ledger_transcodings(transcoder)

    # -- loading ---------------------------------------------------------------

    def _get(self, aggregate_id: UUID, what: str) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{what} not found") from None

    def vault(self) -> Vault | None:
        try:
            vault: Vault = self.repository.get(ids.VAULT_SINGLETON)
        except AggregateNotFoundError:
            return None
        return vault

    def project_any(self, project_id: str) -> Project:
        """The project whatever its state, in the trash or purged (for its trash life)."""
        what = f"Project {project_id[:40]}"
        project = self._get(ids.aggregate_id(ids.require(ids.PROJECT, project_id)), what)
        if not isinstance(project, Project):
            raise NotFound(f"{what} not found")
        return project

    def project(self, project_id: str, *, in_trash: bool = False) -> Project:
        """A live project (409 while in the trash unless `in_trash`); purged: 404."""
        project = self.project_any(project_id)
        project.require_present()
        if not in_trash:
            project.require_live()
        return project

    def secret(self, secret_id: str) -> Secret:
        """A secret not purged, in a project not purged (its key is gone: 404)."""
        what = f"Secret {secret_id[:40]}"
        secret = self._get(ids.aggregate_id(ids.require(ids.SECRET, secret_id)), what)
        if not isinstance(secret, Secret) or secret.purged:
            raise NotFound(f"{what} not found")
        project = self._get(ids.aggregate_id(secret.project_id), what)
        if not isinstance(project, Project) or project.purged:
            raise NotFound(f"{what} not found")
        return secret

    def policy(self, policy_id: str) -> AccessPolicy:
        """A live access policy (deleted: 404 like an unknown id)."""
        what = f"Policy {policy_id[:40]}"
        policy = self._get(ids.aggregate_id(ids.require(ids.POLICY, policy_id)), what)
        if not isinstance(policy, AccessPolicy) or policy.deleted:
            raise NotFound(f"{what} not found")
        return policy

    def save_or_conflict(self, *aggregates: Any) -> None:
        """Save atomically; a lost race on an id or version becomes a 409."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict("Someone else changed this at the same moment; try again") from None

    # -- vault -----------------------------------------------------------------

    def create_vault(self, email: str, password_hash: str, audit: AuditStamp) -> Vault:
        if self.vault() is not None:
            raise Conflict("The vault is already initialised")
        owner_id = ids.new_public_id(ids.USER)
        vault = Vault(
            vault_id=ids.new_public_id(ids.VAULT),
            owner_id=owner_id,
            owner_email=email,
            password_hash=password_hash,
            audit=replace(audit, user_id=owner_id),
        )
        self.save_or_conflict(vault)
        return vault

    def record_seal(self, sealed: bool, audit: AuditStamp) -> None:
        vault = self.vault()
        if vault is None:
            return
        if sealed:
            vault.seal(audit=audit)
        else:
            vault.unseal(audit=audit)
        self.save_or_conflict(vault)

    def record(self, action: str, audit: AuditStamp, secret_id: str | None = None) -> None:
        """Write a standalone audit record (e.g. `auth_failure`)."""
        self.save_or_conflict(AuditRecord(action=action, audit=audit, secret_id=secret_id))

    # -- projects --------------------------------------------------------------

    def create_project(self, name: str, description: str, audit: AuditStamp) -> Project:
        name = validate_project_name(name)
        description = validate_description(description)
        project_id = ids.new_public_id(ids.PROJECT)
        key_ref = self.keys.new_project_key(project_id)
        project = Project(
            project_id=project_id,
            name=name,
            description=description,
            key_ref=key_ref,
            audit=audit,
        )
        self.save_or_conflict(project)
        return project

    def update_project(
        self, project_id: str, name: str | None, description: str | None, audit: AuditStamp
    ) -> Project:
        project = self.project(project_id)
        project.update(name, description, audit)
        self.save_or_conflict(project)
        return project

    # -- secrets ---------------------------------------------------------------

    def _encode_value(
        self, value: str | None, fields: Mapping[str, str] | None
    ) -> tuple[str, SecretType, tuple[str, ...] | None]:
        """Plaintext + type + field names; blank structured fields are generated."""
        if (value is None) == (fields is None):
            raise InvalidInput("Give either a value or fields")
        if fields is not None:
            names = validate_field_names(list(fields))
            filled = {k: (v if v != "" else generate_value()) for k, v in fields.items()}
            plaintext = json.dumps(filled, separators=(",", ":"))
            validate_value_size(plaintext)
            return plaintext, SecretType.STRUCTURED, names
        assert value is not None
        validate_value_size(value)
        return value, SecretType.STANDARD, None

    def _sealed_version(
        self,
        project: Project,
        secret_id: str,
        number: int,
        plaintext: str,
        field_names: tuple[str, ...] | None,
    ) -> SecretVersion:
        if self.keys.is_sealed:
            raise Sealed()
        sealed = self.keys.seal_value(project.key_ref, secret_id, number, plaintext.encode())
        return SecretVersion(
            number=number,
            sealed=sealed,
            created_ms=self.clock.now_ms(),
            field_names=field_names,
        )

    def create_secret(
        self,
        project_id: str,
        name: str,
        audit: AuditStamp,
        value: str | None = None,
        fields: Mapping[str, str] | None = None,
        note: str = "",
    ) -> Secret:
        claim, secret, _project = self.prepare_secret(project_id, name, audit, value, fields, note)
        self.save_or_conflict(claim, secret)
        return secret

    def prepare_secret(
        self,
        project_id: str,
        name: str,
        audit: AuditStamp,
        value: str | None = None,
        fields: Mapping[str, str] | None = None,
        note: str = "",
        managed: bool = False,
        canary: CanaryOptions | None = None,
    ) -> tuple[SecretNameClaim, Secret, Project]:
        """A new secret and its name claim, not yet saved (callers may add aggregates).

        With `canary` the secret is a tripwire of type canary (its value given here)."""
        project = self.project(project_id)
        name = validate_secret_name(name)
        note = validate_note(note)
        plaintext, secret_type, field_names = self._encode_value(value, fields)
        if canary is not None:
            secret_type = SecretType.CANARY
        secret_id = ids.new_public_id(ids.SECRET)
        claim = self._claim_name(project_id, name, secret_id, audit)
        version = self._sealed_version(project, secret_id, 1, plaintext, field_names)
        secret = Secret(
            secret_id=secret_id,
            project_id=project_id,
            name=name,
            secret_type=secret_type,
            field_names=field_names,
            note=note,
            first_version=version,
            audit=audit,
            managed=managed,
            canary=canary,
        )
        return claim, secret, project

    def _claim_name(
        self, project_id: str, name: str, secret_id: str, audit: AuditStamp
    ) -> SecretNameClaim:
        try:
            claim: SecretNameClaim = self.repository.get(claim_id(project_id, name))
        except AggregateNotFoundError:
            return SecretNameClaim(
                project_id=project_id, name=name, secret_id=secret_id, audit=audit
            )
        claim.reclaim(secret_id, audit)
        return claim

    def replace_secret(
        self,
        secret_id: str,
        audit: AuditStamp,
        value: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> Secret:
        secret = self.secret(secret_id)
        project = self.project(secret.project_id)
        plaintext, _type, field_names = self._encode_value(value, fields)
        version = self._sealed_version(
            project, secret_id, secret.next_version_number(), plaintext, field_names
        )
        secret.replace(version, field_names, audit)
        self.save_or_conflict(secret)
        return secret

    def roll_back_secret(self, secret_id: str, to_version: int, audit: AuditStamp) -> Secret:
        secret = self.secret(secret_id)
        secret.roll_back(to_version, self.clock.now_ms(), audit)
        self.save_or_conflict(secret)
        return secret

    def rename_secret(self, secret_id: str, name: str, audit: AuditStamp) -> Secret:
        secret = self.secret(secret_id)
        name = validate_secret_name(name)
        if name == secret.name:
            return secret
        new_claim = self._claim_name(secret.project_id, name, secret_id, audit)
        old_claim: SecretNameClaim = self.repository.get(claim_id(secret.project_id, secret.name))
        secret.rename(name, audit)
        old_claim.release(audit)
        self.save_or_conflict(new_claim, old_claim, secret)
        return secret

    def update_note(self, secret_id: str, note: str, audit: AuditStamp) -> Secret:
        secret = self.secret(secret_id)
        secret.update_note(note, audit)
        self.save_or_conflict(secret)
        return secret

    def delete_secret(self, secret_id: str, audit: AuditStamp) -> Secret:
        secret = self.secret(secret_id)
        secret.delete(self.clock.now_ms(), audit)
        try:  # deleting cancels its schedule (and a managed secret's sync config)
            schedule: RotationSchedule = self.repository.get(schedule_id(secret_id))
        except AggregateNotFoundError:
            self.save_or_conflict(secret)
            return secret
        schedule.cancel(audit.with_detail("the secret was deleted"))
        self.save_or_conflict(secret, schedule)
        return secret

    def restore_secret(self, secret_id: str, audit: AuditStamp) -> Secret:
        secret = self.secret(secret_id)
        secret.restore(self.clock.now_ms(), audit)
        try:  # the schedule that the delete cancelled comes back too
            schedule: RotationSchedule = self.repository.get(schedule_id(secret_id))
        except AggregateNotFoundError:
            self.save_or_conflict(secret)
            return secret
        schedule.reinstate(self.clock.now_ms(), audit.with_detail("the secret was restored"))
        self.save_or_conflict(secret, schedule)
        return secret

    def purge_secret(self, secret_id: str, audit: AuditStamp) -> Secret:
        """Purge from the trash: the name is freed and every data key is shredded."""
        secret = self.secret(secret_id)
        claim: SecretNameClaim = self.repository.get(claim_id(secret.project_id, secret.name))
        secret.purge(audit)
        claim.release(audit)
        self.save_or_conflict(claim, secret)
        self.keys.shred_secret_keys(secret_id)
        return secret

    def purge_expired_trash(self, candidates: list[str], now_ms: int) -> list[str]:
        """Purge the given trashed secrets whose 30 days are over (the sweep's job)."""
        purged = []
        for secret_id in candidates:
            try:
                secret = self.secret(secret_id)
            except NotFound:
                continue
            if secret.trash_expired(now_ms):
                self.purge_secret(secret_id, AuditStamp.system("trash retention expired"))
                purged.append(secret_id)
        return purged

    def reveal(self, secret_id: str) -> str:
        """Decrypt the current value. Only the machine plane may call this."""
        secret = self.secret(secret_id)
        return self.open_current(secret, self.project(secret.project_id))

    def open_current(self, secret: Secret, project: Project) -> str:
        if self.keys.is_sealed:
            raise Sealed()
        sealed = secret.current.sealed
        return self.keys.open_value(project.key_ref, secret.secret_id, sealed).decode()
