"""Scheduled rotation of ordinary secrets through the CLI: set, rotate now, pause, resume."""

from __future__ import annotations

import json
from typing import Any

from sikkerkey import SikkerKey

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator, register_machine


def _json(live: LiveServer, *args: str) -> Any:
    return json.loads(live.ok(*args, "--json").stdout)


def test_schedule_rotate_pause_resume(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("apps")
    secret_id = op.secret(project_id, "api", user="svc", token="t0")
    reader = register_machine(live, op, "reader", project_id=project_id, grants=(secret_id,))
    sdk = SikkerKey(str(reader.identity_path))

    plan = _json(live, "secret", "schedule", "set", secret_id, "--interval", "5m")
    assert plan["schedule"]["intervalSeconds"] == 300 and plan["schedule"]["enabled"] is True
    plan = _json(
        live, "secret", "schedule", "set", secret_id, "--interval", "7d",
        "--length", "12", "--charset", "numbers", "--field", "token",
    )  # fmt: skip
    assert plan["schedule"] == {**plan["schedule"], "intervalSeconds": 604800, "fields": ["token"]}

    rotated = _json(live, "secret", "rotate", secret_id)
    assert rotated["version"] == 2 and rotated["rotationStatus"] == "none"
    fields = sdk.get_fields(secret_id)
    assert fields["user"] == "svc"  # static
    assert fields["token"] != "t0" and fields["token"].isdigit() and len(fields["token"]) == 12

    assert _json(live, "secret", "schedule", "pause", secret_id)["schedule"]["enabled"] is False
    again = live.cli("secret", "schedule", "pause", secret_id)
    assert again.code == 1 and "already paused" in again.stderr
    assert _json(live, "secret", "schedule", "resume", secret_id)["schedule"]["enabled"] is True
    shown = live.ok("secret", "status", secret_id).stdout
    assert "every 604800 s (on)" in shown and "rotation: none" in shown

    actions = [e["action"] for e in op.audit()]
    for action in ("rotation_schedule_create", "rotation_schedule_update", "secret_rotate"):
        assert action in actions
    assert "rotation_schedule_pause" in actions and "rotation_schedule_resume" in actions


def test_bad_schedules_are_refused(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("apps")
    plain = op.secret(project_id, "plain", "v")
    too_short = live.cli("secret", "schedule", "set", plain, "--interval", "10s")
    assert too_short.code == 1 and "interval" in too_short.stderr
    assert live.cli("secret", "schedule", "set", plain, "--interval", "soon").code == 2
    wrong_field = live.cli("secret", "schedule", "set", plain, "--field", "x")
    assert wrong_field.code == 1 and "field" in wrong_field.stderr.lower()
    unknown = live.cli("secret", "status", "sk_doesnotexis")
    assert unknown.code == 1
    no_schedule = _json(live, "secret", "status", plain)
    assert no_schedule["schedule"] is None and no_schedule["rotation"] == "none"
    assert live.cli("secret", "retry-rotation", plain).code == 1
