"""`keyledger policy …`: access policies (when, from where, how often, with whom).

Only the axes whose options are given are enabled; `update` changes only what it is
told, and `--no-<axis>` switches an axis off (its values are kept but not judged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, fail, say, table

app = typer.Typer(
    help="Access policies: time window, IP, rate caps, co-sign, TTL, rotate-after-N.",
    no_args_is_help=True,
)
PolicyId = Annotated[str, typer.Argument(help="pol_…")]
SecretId = Annotated[str, typer.Argument(help="sk_…")]
Window = Annotated[
    str | None, typer.Option("--time-window", help="HH:MM-HH:MM (may wrap midnight).")
]
Tz = Annotated[str | None, typer.Option("--tz", help="IANA time zone, e.g. Europe/Oslo.")]
Days = Annotated[
    str | None, typer.Option("--days", help="mon,tue,… (the day a window opens; default all).")
]
Ips = Annotated[list[str] | None, typer.Option("--ip", help="IPv4/IPv6 address or CIDR.")]
PerMinute = Annotated[int | None, typer.Option("--max-reads-per-minute")]
PerDay = Annotated[int | None, typer.Option("--max-reads-per-day")]
Cosign = Annotated[str | None, typer.Option("--cosign", help="Co-signing machine id.")]
CosignWindow = Annotated[int | None, typer.Option("--cosign-window", help="Seconds.")]
TtlAt = Annotated[
    str | None, typer.Option("--ttl-expires-at", help="ISO time, e.g. 2027-01-01T00:00Z.")
]
TtlReads = Annotated[int | None, typer.Option("--ttl-max-reads")]
RotateAfter = Annotated[int | None, typer.Option("--rotate-after-reads")]


def _epoch_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--ttl-expires-at: not an ISO time: {text!r}")
    if parsed.tzinfo is None:
        fail("--ttl-expires-at needs a time zone (e.g. Z or +01:00)")
    return int(parsed.timestamp() * 1000)


def axes_body(
    window: str | None,
    tz: str | None,
    days: str | None,
    ips: list[str] | None,
    per_minute: int | None,
    per_day: int | None,
    cosign: str | None,
    cosign_window: int | None,
    ttl_at: str | None,
    ttl_reads: int | None,
    rotate_after: int | None,
) -> dict[str, Any]:
    """The wire fields for the axes whose options were given (each then enabled)."""
    body: dict[str, Any] = {}
    if window is not None or tz is not None or days is not None:
        start, _, end = (window or "").partition("-")
        body |= {"timeWindowEnabled": True, "timeWindowStart": start or None}
        body |= {"timeWindowEnd": end or None, "timeWindowTimezone": tz or "UTC"}
        every_day = "mon,tue,wed,thu,fri,sat,sun"
        body["timeWindowDays"] = [d for d in (every_day if days is None else days).split(",") if d]
    if ips:
        body |= {"ipAllowlistEnabled": True, "ipAllowlistCidrs": ips}
    if per_minute is not None or per_day is not None:
        body |= {"rateCapEnabled": True, "maxReadsPerMinute": per_minute}
        body["maxReadsPerDay"] = per_day
    if cosign is not None or cosign_window is not None:
        body |= {"coSignEnabled": True, "coSignMachineId": cosign}
        body["coSignWindowSeconds"] = cosign_window
    if ttl_at is not None or ttl_reads is not None:
        body |= {"ttlEnabled": True, "ttlMaxReads": ttl_reads}
        body["ttlExpiresAt"] = _epoch_ms(ttl_at) if ttl_at else None
    if rotate_after is not None:
        body |= {"rotateAfterReadsEnabled": True, "rotateAfterReads": rotate_after}
    return body


def _show(policy: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(policy)
        return
    axes = ", ".join(policy["enabledAxes"]) or "no axis enabled"
    bound = len(policy["boundSecrets"])
    say(f"{policy['id']} {policy['name']} in {policy['projectId']}: {axes}; {bound} bound")


@app.command("create")
def create(
    project: Annotated[str, typer.Option("--project", help="proj_…")],
    name: Annotated[str, typer.Option("--name")],
    window: Window = None,
    tz: Tz = None,
    days: Days = None,
    ips: Ips = None,
    per_minute: PerMinute = None,
    per_day: PerDay = None,
    cosign: Cosign = None,
    cosign_window: CosignWindow = None,
    ttl_at: TtlAt = None,
    ttl_reads: TtlReads = None,
    rotate_after: RotateAfter = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create a policy in a project; only the axes given are enabled."""
    body = axes_body(
        window, tz, days, ips, per_minute, per_day, cosign, cosign_window,
        ttl_at, ttl_reads, rotate_after,
    )  # fmt: skip
    _show(
        Api(server).post(f"/v1/admin/projects/{project}/policies", {"name": name, **body}), json_out
    )


OFF = {
    "time_window": "timeWindowEnabled",
    "ip": "ipAllowlistEnabled",
    "rate_cap": "rateCapEnabled",
    "cosign": "coSignEnabled",
    "ttl": "ttlEnabled",
    "rotate_after_reads": "rotateAfterReadsEnabled",
}


@app.command("update")
def update(
    policy_id: PolicyId,
    name: Annotated[str | None, typer.Option("--name")] = None,
    window: Window = None,
    tz: Tz = None,
    days: Days = None,
    ips: Ips = None,
    per_minute: PerMinute = None,
    per_day: PerDay = None,
    cosign: Cosign = None,
    cosign_window: CosignWindow = None,
    ttl_at: TtlAt = None,
    ttl_reads: TtlReads = None,
    rotate_after: RotateAfter = None,
    no_time_window: Annotated[bool, typer.Option("--no-time-window")] = False,
    no_ip: Annotated[bool, typer.Option("--no-ip")] = False,
    no_rate_cap: Annotated[bool, typer.Option("--no-rate-cap")] = False,
    no_cosign: Annotated[bool, typer.Option("--no-cosign")] = False,
    no_ttl: Annotated[bool, typer.Option("--no-ttl")] = False,
    no_rotate_after_reads: Annotated[bool, typer.Option("--no-rotate-after-reads")] = False,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Change a policy; it applies to every bound secret's next read."""
    api = Api(server)
    body: dict[str, Any] = {}
    if window is not None and (tz is None or days is None):  # keep the rest of the window
        current = api.get(f"/v1/admin/policies/{policy_id}")
        tz = tz or current["timeWindowTimezone"]
        days = days or ",".join(current["timeWindowDays"])
    body |= axes_body(
        window, tz, days, ips, per_minute, per_day, cosign, cosign_window,
        ttl_at, ttl_reads, rotate_after,
    )  # fmt: skip
    switched = (no_time_window, no_ip, no_rate_cap, no_cosign, no_ttl, no_rotate_after_reads)
    for off, field in zip(switched, OFF.values(), strict=True):
        if off:
            body[field] = False
    if name is not None:
        body["name"] = name
    _show(api.post(f"/v1/admin/policies/{policy_id}/update", body), json_out)


@app.command("bind")
def bind(secret_id: SecretId, policy_id: PolicyId, server: Server = None) -> None:
    """Bind a secret to a policy of its own project (replaces any earlier binding)."""
    Api(server).post(f"/v1/admin/secrets/{secret_id}/binding", {"policyId": policy_id})
    say(f"{secret_id} is bound to {policy_id}")


@app.command("unbind")
def unbind(secret_id: SecretId, server: Server = None) -> None:
    """Remove a secret's policy: its reads are then judged by grants alone."""
    Api(server).post(f"/v1/admin/secrets/{secret_id}/binding/delete")
    say(f"{secret_id} has no policy")


@app.command("list")
def list_policies(
    project: Annotated[str, typer.Option("--project", help="proj_…")],
    server: Server = None,
    json_out: Json = False,
) -> None:
    """A project's policies with their enabled axes and bound secrets."""
    policies = Api(server).get(f"/v1/admin/projects/{project}/policies")["policies"]
    if json_out:
        emit_json(policies)
        return
    rows = [
        (p["id"], p["name"], ", ".join(p["enabledAxes"]), len(p["boundSecrets"])) for p in policies
    ]
    table("Policies", ["id", "name", "axes", "bound"], rows)


@app.command("show")
def show(policy_id: PolicyId, server: Server = None, json_out: Json = False) -> None:
    """One policy: every axis and the secrets bound to it."""
    _show(Api(server).get(f"/v1/admin/policies/{policy_id}"), json_out)


@app.command("delete")
def delete(policy_id: PolicyId, server: Server = None) -> None:
    """Delete a policy (refused while a secret is bound to it)."""
    Api(server).post(f"/v1/admin/policies/{policy_id}/delete")
    say(f"{policy_id} deleted")


@app.command("dry-run")
def dry_run(
    policy_id: PolicyId,
    secret: Annotated[str | None, typer.Option("--secret", help="sk_… (default: bound)")] = None,
    days: Annotated[int, typer.Option("--days", help="How far back (1–90).")] = 7,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Re-judge every recorded read of the bound secrets: what would have been blocked?"""
    body: dict[str, Any] = {"days": days} | ({"secretId": secret} if secret else {})
    result = Api(server).post(f"/v1/admin/policies/{policy_id}/dry-run", body)
    if json_out:
        emit_json(result)
        return
    say(
        f"{result['reads']} read(s) in {days} day(s): {result['allowed']} allowed, "
        f"{result['blocked']} blocked"
    )
    rows = [
        (machine, t["allowed"], t["blocked"], _conditions(t["byCondition"]))
        for machine, t in result["byMachine"].items()
    ]
    table("Per machine", ["machine", "allowed", "blocked", "blocked by"], rows)
    rows = [
        (day, t["allowed"], t["blocked"], _conditions(t["byCondition"]))
        for day, t in result["byDay"].items()
    ]
    table("Per day (UTC)", ["day", "allowed", "blocked", "blocked by"], rows)


def _conditions(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"
