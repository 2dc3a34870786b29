"""Host-side requests: ids, errors, fetching for `run`, the machine part of status/whoami."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from interfaces.cli import envvars
from interfaces.cli.identity import IdentityError, find_identity_path, load_identity
from interfaces.cli.plain import stop, tell, usage_error
from interfaces.cli.signing import MachineClient, MachineError

# One URL path segment that signs as sent: no "/", "?", "%" or anything to normalise.
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# The secret is gone or no longer readable: `run --watch` drops it instead of failing.
UNREADABLE = {403, 404, 423}


def check_id(value: str) -> str:
    if not _SEGMENT.fullmatch(value):
        usage_error(f"Not an id: {value[:80]!r}")
    return value


def secret_ids(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(check_id(v) for v in values))


def ask(client: MachineClient, method: str, path: str, body: Any = None) -> Any:
    """A signed request whose failure ends the command (exit 1, the error on stderr)."""
    try:
        return client.call(method, path, body)
    except MachineError as exc:
        stop(str(exc))


def _structured_ids(client: MachineClient) -> set[str] | None:
    """Ids of the readable structured secrets; None when the listing is unavailable."""
    try:
        listing = client.get("/v1/secrets")["secrets"]
    except (MachineError, KeyError, TypeError):
        return None
    return {str(s["id"]) for s in listing if s.get("fieldNames") is not None}


def fetch_secrets(
    client: MachineClient,
    ids: list[str],
    project: str | None,
    prefix: str,
    *,
    strict: bool = True,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The variables for `run` and the secret ids behind them.

    No ids: every readable secret (one export call), named after the secrets. Else
    SK_<ID> (SK_<ID>_<FIELD> for structured ones). Not `strict`: a secret that became
    unreadable is left out with a note instead of failing the whole fetch.
    """
    if not ids:
        body = {"projectId": project} if project else None
        entries = client.post("/v1/secrets/export", body)["secrets"]
        return envvars.flatten(entries, prefix), [str(e["id"]) for e in entries]
    structured = _structured_ids(client)
    pairs: list[tuple[str, str]] = []
    watched: list[str] = []
    for secret_id in ids:
        try:
            value = str(client.get(f"/v1/secret/{secret_id}")["value"])
        except MachineError as exc:
            if strict or exc.status not in UNREADABLE:
                raise
            tell(f"{secret_id} is no longer readable ({exc}): left out of the environment.")
            continue
        is_structured = (
            secret_id in structured
            if structured is not None
            else envvars.parse_fields(value) is not None
        )
        name = envvars.by_id_name(secret_id, prefix)
        pairs.extend(envvars.variables(name, value, is_structured))
        watched.append(secret_id)
    return pairs, watched


def machine_report(
    identity: Path | None, vault: str | None, *, count: bool
) -> dict[str, Any] | None:
    """The local identity checked against its server; None when this host has none.

    `ok` is true when the key loads and a signed whoami authenticates (and, with
    `count`, the readable secrets could be listed); `error` says what failed.
    """
    path = find_identity_path(identity, vault)
    if path is None:
        return None
    report: dict[str, Any] = {"identity": str(path), "ok": False, "error": None}
    try:
        found = load_identity(path)
        report.update(found.summary(), keyReadable=False, authenticated=False)
        key = found.key()
        report["keyReadable"] = True
        client = MachineClient(found.api_url, found.machine_id, key, retries=0)
        me = client.get("/v1/machine/whoami")
        report.update(
            authenticated=True,
            machineName=me.get("machineName", report["machineName"]),
            status=me.get("status"),
            enabled=me.get("enabled"),
        )
        if count:
            report["readableSecrets"] = len(client.get("/v1/secrets")["secrets"])
    except (IdentityError, MachineError) as exc:
        report["error"] = str(exc)
        return report
    except (KeyError, TypeError, AttributeError):
        report["error"] = "The server sent a malformed answer"
        return report
    report["ok"] = True
    return report


def describe_machine(report: dict[str, Any]) -> str:
    """One line for people about a `machine_report`."""
    who = f"machine {report.get('machineName') or '?'} ({report.get('machineId') or '?'})"
    where = f" in {report['vaultId']}" if report.get("vaultId") else ""
    if not report["ok"]:
        return f"{who}{where}: {report['error']} [identity {report['identity']}]"
    state = str(report["status"]) + ("" if report["enabled"] else " (disabled)")
    count = report.get("readableSecrets")
    readable = f", {count} readable secret(s)" if count is not None else ""
    return f"{who}{where} at {report['apiUrl']}: {state}{readable}"
