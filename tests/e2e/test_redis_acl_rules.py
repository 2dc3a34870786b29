"""`secret create-managed --option aclRules=…`: validated before anything is stored."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import Operator

ADMIN_PASS = "admin-pass-hunter2"


def create(live: LiveServer, project_id: str, name: str, *options: str) -> tuple[int, str, str]:
    args = ["secret", "create-managed", "--project", project_id, "--name", name]
    args += ["--provider", "redis", "--host", "127.0.0.1", "--admin-user", "admin"]
    args += ["--admin-pass-stdin", "--username", "kl_app", "--json"]
    for option in options:
        args += ["--option", option]
    result = live.cli(*args, stdin=ADMIN_PASS)
    return result.code, result.stdout, result.stderr


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_acl_rules_are_validated_at_creation(live: LiveServer) -> None:
    op = Operator(live)
    project_id = op.project("caches")

    code, out, err = create(live, project_id, "bad", "aclRules=+@all ~* >hunter2-backdoor")
    assert code != 0 and "aclRules" in err and "rule 3" in err, (code, out, err)
    assert "hunter2" not in out + err
    code, out, err = create(live, project_id, "requirepass", "mode=requirepass", "aclRules=~*")
    assert code != 0 and "mode acl" in err, (code, out, err)
    assert op.get(f"/v1/admin/projects/{project_id}/secrets")["secrets"] == []

    body = {
        "name": "raw",
        "provider": "redis",
        "host": "127.0.0.1",
        "adminUser": "admin",
        "adminPass": ADMIN_PASS,
        "username": "kl_app",
        "options": {"aclRules": "+@all reset"},
    }
    response = op.http.post(f"/v1/admin/projects/{project_id}/managed-secrets", json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and "aclRules" in response.json()["error"]

    code, out, err = create(live, project_id, "good", "aclRules=+get %R~app:* &news.*")
    assert code == 0, err
    assert json.loads(out)["managed"] is True
