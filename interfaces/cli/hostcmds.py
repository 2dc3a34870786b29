"""What `get`, `export` and `run` do, shared by the Typer commands and the fast path.

Standard library only at import time (see `fast`): these run at the start of every
container and CI job. Failures end the command through `plain.stop` (exit 1) or
`plain.usage_error` (exit 2); secret values reach stdout only through `emit_value`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from interfaces.cli import cache, envvars
from interfaces.cli.identity import Identity, IdentityError, machine_client, require_identity
from interfaces.cli.plain import emit_json, emit_value, stop, tell, usage_error
from interfaces.cli.signing import MachineClient, MachineError
from interfaces.cli.wire import ask, check_id, fetch_secrets, secret_ids


def _client(found: Identity, seed: bytes) -> MachineClient:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(seed)
    return MachineClient(found.api_url, found.machine_id, key)


def _served(secret_id: str, entry: cache.Cached, why: str) -> str:
    age = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.cached_at / 1000))
    tell(f"Note: {secret_id} served from the offline cache (cached {age}): {why}")
    return entry.value


def read_value(secret_id: str, identity: Path | None, vault: str | None, offline: bool) -> str:
    """The secret's value from the server; from the offline cache only when it is on and
    the server could not answer (or with --offline)."""
    found = require_identity(identity, vault)
    try:
        seed = found.seed()
    except IdentityError as exc:
        stop(str(exc))
    local = cache.OfflineCache.of(found, seed) if offline or cache.enabled() else None
    if offline:
        entry = local.load(secret_id) if local else None
        if entry is None:
            stop(f"No cached value for {secret_id} (--offline reads only the offline cache)")
        return _served(secret_id, entry, "--offline")
    try:
        value = str(_client(found, seed).get(f"/v1/secret/{secret_id}")["value"])
    except MachineError as exc:
        if local is not None and exc.status in cache.SERVABLE:
            entry = local.load(secret_id)
            if entry is not None:
                return _served(secret_id, entry, f"the server did not answer ({exc})")
        if local is not None and exc.status in cache.REVOKED:
            local.forget(secret_id)
        stop(str(exc))
    if local is not None:
        local.store(secret_id, value)
    return value


def get(
    secret_id: str,
    field: str | None,
    as_json: bool,
    identity: Path | None,
    vault: str | None,
    offline: bool = False,
) -> None:
    """Print a secret's value (or one field of a structured secret)."""
    check_id(secret_id)
    value = read_value(secret_id, identity, vault, offline)
    fields = envvars.parse_fields(value)
    if field is not None:
        if fields is None:
            stop(f"Secret {secret_id} is not structured: it has no field {field!r}")
        if field not in fields:
            available = ", ".join(sorted(fields)) or "none"
            stop(f"No field {field!r} in {secret_id}; available: {available}")
        value = envvars.field_text(fields[field])
    if as_json:
        if field is None:
            emit_json({"id": secret_id, "value": value, "fields": fields})
        else:
            emit_json({"id": secret_id, "field": field, "value": value})
        return
    emit_value(value + ("\n" if sys.stdout.isatty() else ""))


def export(fmt: str, project: str | None, identity: Path | None, vault: str | None) -> None:
    """Print every readable secret as environment variables (NAME, NAME_FIELD)."""
    if project is not None:
        check_id(project)
    client = machine_client(identity, vault)
    body = {"projectId": project} if project else None
    pairs = envvars.flatten(ask(client, "POST", "/v1/secrets/export", body)["secrets"])
    warn_duplicates(pairs)
    try:
        text = envvars.render(pairs, fmt)
    except envvars.VariableError as exc:
        stop(str(exc))
    emit_value(text)


def run(
    command: list[str],
    secret: list[str],
    all_: bool,
    project: str | None,
    prefix: str,
    watch: tuple[bool, float],
    show: tuple[bool, bool],
    identity: Path | None,
    vault: str | None,
) -> int:
    """Run a command with secrets in its environment; its exit code. `watch`: (on, interval);
    `show`: (dry run, with values)."""
    from interfaces.cli import runner

    (watching, interval), (dry_run, show_values) = watch, show
    if all_ == bool(secret):
        usage_error("Give either --all or one or more --secret sk_…")
    if project is not None and not all_:
        usage_error("--project goes with --all")
    if not command and not dry_run:
        usage_error("Which command? keyledger run --all -- COMMAND [ARGS]…")
    ids = secret_ids(secret)
    if project is not None:
        check_id(project)
    floor = runner.min_interval()
    if watching and interval < floor:
        tell(f"--watch-interval raised to the minimum of {floor:g} s.")
        interval = floor
    client = machine_client(identity, vault)

    def refetch() -> tuple[list[tuple[str, str]], list[str]]:
        return fetch_secrets(client, ids, project, prefix, strict=False)

    try:
        pairs, watched = fetch_secrets(client, ids, project, prefix)
        envvars.check_environ(pairs)
    except (MachineError, envvars.VariableError) as exc:
        stop(str(exc))
    warn_duplicates(pairs)
    if dry_run:
        emit_value(envvars.masked(pairs, show_values))
        return 0
    supervisor = runner.Supervisor(command, client, refetch, interval)
    return supervisor.run(pairs, watched, watching)


def warn_duplicates(pairs: list[tuple[str, str]]) -> None:
    for name in envvars.duplicates(pairs):
        tell(f"Warning: several secrets map to {name}; the last one wins.")
