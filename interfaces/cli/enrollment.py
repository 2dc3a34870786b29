"""`keyledger enrollment …`: enrollment tokens for CI runners and autoscaled hosts."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from interfaces.cli.client import Api
from interfaces.cli.machines import cell, clean, seg, tell
from interfaces.cli.options import Json, Server
from interfaces.cli.output import emit_json, table, usage, when

app = typer.Typer(
    help="Enrollment tokens: auto-approved, expiring machines for CI and autoscaling.",
    no_args_is_help=True,
)
EnrollmentId = Annotated[str, typer.Argument(help="enr_… of the token.", show_default=False)]


def _show(e: dict[str, Any]) -> None:
    for label, value in (
        ("id", e["id"]),
        ("name", clean(e["name"])),
        ("status", e["status"]),
        ("uses", f"{e['uses']} of {e['maxUses']}"),
        ("expires", f"{when(e['expiresAt'])} UTC"),
        ("machines", f"live {e['machineLifetimeMs'] // 1000} s each"),
        ("projects", ", ".join(e["projectIds"])),
        ("secrets", ", ".join(e["secretIds"]) or "-"),
        ("cidr", e["sourceCidr"] or "-"),
        ("hostname", clean(e["hostnamePattern"] or "-")),
        ("names", clean(e["namePattern"] or "-")),
    ):
        tell(f"{label:>9}: {value}")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    project: Annotated[list[str], typer.Option("--project", help="proj_… (repeatable).")],
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="sk_… to grant (repeatable).")
    ] = None,
    token_lifetime: Annotated[
        str, typer.Option("--token-lifetime", help="How long it can be redeemed (30d).")
    ] = "30d",  # noqa: S107 - a duration
    machine_lifetime: Annotated[
        str, typer.Option("--machine-lifetime", help="How long each machine lives (1h).")
    ] = "1h",
    max_uses: Annotated[int, typer.Option("--max-uses", help="1–10,000 machines.")] = 100,
    source_cidr: Annotated[
        str | None, typer.Option("--source-cidr", help="Only from this network.")
    ] = None,
    hostname_pattern: Annotated[
        str | None, typer.Option("--hostname-pattern", help="Regex the hostname must match.")
    ] = None,
    name_pattern: Annotated[
        str | None, typer.Option("--name-pattern", help="Machine names, e.g. 'ci-{n}'.")
    ] = None,
    server: Server = None,
    json_out: Json = False,
) -> None:
    """Create an enrollment token. Its plaintext is shown this once and never again."""
    body = {
        "name": name,
        "projectIds": project,
        "secretIds": secret or [],
        "tokenLifetime": token_lifetime,
        "machineLifetime": machine_lifetime,
        "maxUses": max_uses,
        "sourceCidr": source_cidr,
        "hostnamePattern": hostname_pattern,
        "namePattern": name_pattern,
    }
    created = Api(server).post("/v1/admin/enrollments", body)
    if json_out:
        emit_json(created)
        return
    _show(created)
    tell(f"\nToken (shown once): {created['token']}")
    tell(f"Vault: {created['vaultId']}  (SDK: SikkerKey.bootstrap_in_memory(vault, token))")


@app.command("list")
def list_tokens(server: Server = None, json_out: Json = False) -> None:
    """Every enrollment token, newest first (never the token itself)."""
    tokens = Api(server).get("/v1/admin/enrollments")["enrollments"]
    if json_out:
        emit_json(tokens)
        return
    table(
        "Enrollment tokens",
        ["id", "name", "status", "uses", "expires"],
        [
            (
                e["id"],
                cell(e["name"]),
                e["status"],
                f"{e['uses']}/{e['maxUses']}",
                when(e["expiresAt"]),
            )
            for e in tokens
        ],
    )


@app.command("show")
def show(enrollment_id: EnrollmentId, server: Server = None, json_out: Json = False) -> None:
    """One token: its scope, restrictions and uses."""
    found = Api(server).get(f"/v1/admin/enrollments/{seg(enrollment_id)}")
    if json_out:
        emit_json(found)
    else:
        _show(found)


@app.command("revoke")
def revoke(enrollment_id: EnrollmentId, server: Server = None, json_out: Json = False) -> None:
    """Stop new enrollments; machines already enrolled keep their lifetime."""
    done = Api(server).post(f"/v1/admin/enrollments/{seg(enrollment_id)}/revoke")
    if json_out:
        emit_json(done)
    else:
        tell(f"Enrollment token {done['id']} revoked ({done['uses']} machines enrolled).")


@app.command("snippet")
def snippet(
    enrollment_id: EnrollmentId,
    github: Annotated[bool, typer.Option("--github", help="A GitHub Actions step.")] = False,
    gitlab: Annotated[bool, typer.Option("--gitlab", help="A .gitlab-ci.yml job.")] = False,
    server: Server = None,
) -> None:
    """Print a CI fragment to paste (the token goes in the CI's secret store)."""
    if github == gitlab:
        usage("Choose one of --github or --gitlab")
    provider = "github" if github else "gitlab"
    text = Api(server).get_text(
        f"/v1/admin/enrollments/{seg(enrollment_id)}/snippet", provider=provider
    )
    sys.stdout.write(text.text)
