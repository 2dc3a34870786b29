"""Request bodies of the admin API (msgspec: strict types, camelCase on the wire)."""

from __future__ import annotations

import msgspec


class _Body(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    pass


class InitBody(_Body):
    setup_code: str
    email: str
    password: str


class LoginBody(_Body):
    email: str
    password: str


class UnsealBody(_Body):
    key: str


class ProjectBody(_Body):
    name: str
    description: str = ""


class ProjectUpdateBody(_Body):
    name: str | None = None
    description: str | None = None


class SecretBody(_Body):
    name: str
    value: str | None = None
    fields: dict[str, str] | None = None
    note: str = ""


class CanaryBody(_Body):
    """Product option names (`enabled` = armed); the value is always server-generated."""

    project_id: str
    name: str
    enabled: bool = True
    trigger_freeze_project: bool = True
    trigger_freeze_related_projects: bool = False


class ReplaceBody(_Body):
    value: str | None = None
    fields: dict[str, str] | None = None


class RollbackBody(_Body):
    version: int


class NameBody(_Body):
    name: str


class NoteBody(_Body):
    note: str


class TokenBody(_Body):
    name: str = ""


class MachineRenameBody(_Body):
    name: str


class MachineIdBody(_Body):
    machine_id: str


class RevokeBody(_Body):
    preview: bool = False


class ProjectIdBody(_Body):
    project_id: str


class SecretIdBody(_Body):
    secret_id: str


class AllowlistBody(_Body):
    cidr: str
    label: str = ""


class ScheduleBody(_Body):
    interval_seconds: int
    length: int = 32
    charset: str = "symbols"
    fields: list[str] | None = None


class ManagedSecretBody(_Body):
    name: str
    provider: str
    host: str
    admin_user: str
    admin_pass: str
    username: str
    port: int | None = None
    database: str = ""
    options: dict[str, str] | None = None
    interval_seconds: int = 86400
    length: int = 32
    charset: str = "alphanumeric"
    note: str = ""


class WebhookBody(_Body):
    url: str
    actions: list[str]


class AlertActionsBody(_Body):
    enabled_actions: list[str] | None = None
    all_critical: bool = False
    all_high: bool = False


class SmtpBody(_Body):
    host: str
    port: int
    sender: str = msgspec.field(name="from")
    to: list[str]
    security: str = "none"
    user: str | None = None
    password: str | None = None


class ShareBody(_Body):
    """A share link: `value`, or `generateRandom` with `length` (1–1024, default 32)."""

    name: str
    expires_in_seconds: int
    value: str | None = None
    generate_random: bool = False
    length: int = 32


class ShareOpenBody(_Body):
    passphrase: str
