"""An id of the wrong kind is as unknown as a made-up one, on both planes.

A `proj_…` where a secret id belongs (or the reverse, or a machine UUID naming some
other aggregate) used to load the wrong aggregate and answer 500: no audited denial,
the nonce not used up. Now it is a 404 like any unknown id, and on the machine plane
an audited denial whose signed request cannot be replayed.
"""

from __future__ import annotations

from domain import ids
from tests.e2e.machine_helpers import signed
from tests.e2e.test_attacks import World, assert_audited, assert_refused, world

__all__ = ["world"]  # the fixture, shared with the attack tests


def assert_not_replayable(world: World, request_send: object) -> None:
    mark = world.mark()
    assert_refused(request_send(), 401)  # type: ignore[operator]
    assert_audited(
        world, mark, "auth_failure", "replayed nonce", machine_id=world.machine.machine_id
    )


def test_machine_plane_treats_a_wrong_kind_id_as_unknown(world: World) -> None:
    for route in ("", "/sync-config"):
        request = signed(world.live, world.machine, "GET", f"/v1/secret/{world.project}{route}")
        mark = world.mark()
        body = assert_refused(request.send(), 404)
        assert "not found" in body["error"]
        if not route:  # a read: audited as a denial, like a missing secret
            assert_audited(
                world,
                mark,
                "secret_read_denied",
                world.project,
                machine_id=world.machine.machine_id,
            )
        assert_not_replayable(world, request.send)

    poll = {"watch": [world.project, world.secret]}
    request = signed(world.live, world.machine, "POST", "/v1/secrets/poll", poll)
    response = request.send()
    assert response.status_code == 200, response.text
    assert response.json() == {"changes": {world.project: {"status": "deleted"}}}
    assert_not_replayable(world, request.send)

    verify = {"projectId": world.secret}
    response = signed(world.live, world.machine, "POST", "/v1/verify-access", verify).send()
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is False


def test_admin_api_treats_a_wrong_kind_id_as_unknown(world: World) -> None:
    op, machine = world.op, world.machine.machine_id
    calls = [
        (f"/v1/admin/machines/{machine}/grants", {"secretId": world.project}),
        (f"/v1/admin/machines/{machine}/projects", {"projectId": world.secret}),
        (f"/v1/admin/machines/{machine}/grants/{world.project}/revoke", {}),
        (f"/v1/admin/machines/{machine}/projects/{world.secret}/remove", {}),
        (f"/v1/admin/machines/{ids.aggregate_id(world.project)}/approve", {}),
        (f"/v1/admin/machines/{ids.aggregate_id(world.secret)}/grants", {"secretId": world.secret}),
    ]
    for path, payload in calls:
        assert_refused(op.http.post(path, json=payload), 404)
    assert_refused(op.http.get(f"/v1/admin/machines/{ids.aggregate_id(world.project)}"), 404)
    assert op.get(f"/v1/admin/machines/{machine}")["grants"] == [world.secret]  # nothing moved

    for since in (2**63, -1, 10**30):
        body = assert_refused(op.http.get("/v1/admin/audit", params={"since": since}), 400)
        assert "since" in body["error"]
    newest = op.http.get("/v1/admin/audit", params={"since": 2**63 - 1})
    assert newest.json() == {"entries": []}
