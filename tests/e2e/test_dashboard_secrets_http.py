"""The dashboard's secret page, trash and create forms over plain HTTP on both stores:
each action does what the operator API does (checked through the API), a missing
CSRF token or bad input changes nothing, unknown ids are 404, and no page ever holds
a value typed into a form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import register_machine
from tests.e2e.test_dashboard_http import HANDLER, SCRIPT

TYPED = "typed-SECRETPAGE-value-61c0ffee"
FIELD = "typed-SECRETPAGE-field-9aa7d3"
ADMIN = "typed-SECRETPAGE-admin-pass-4e21"
TYPED_VALUES = (*VALUES, TYPED, FIELD, ADMIN)


@pytest.fixture(scope="module", params=STORES)
def vault(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        seeded = seed(live)
        stack.callback(seeded.op.close)
        yield seeded


@pytest.fixture
def client(vault: Seeded) -> Iterator[httpx.Client]:
    with logged_in(vault.live) as logged:
        yield logged


def no_value_in(body: str) -> None:
    for value in TYPED_VALUES:
        assert value not in body


def form(client: httpx.Client, page: str, **fields: str) -> dict[str, str]:
    shown = client.get(page)
    assert shown.status_code == 200, (page, shown.status_code)
    no_value_in(shown.text)
    return {"csrf": csrf_of(shown.text), **fields}


def api_secret(v: Seeded, secret_id: str) -> dict[str, Any]:
    return dict(v.op.get(f"/v1/admin/secrets/{secret_id}"))


def post(
    client: httpx.Client, v: Seeded, secret_id: str, verb: str, **fields: str
) -> httpx.Response:
    page = f"/projects/{v.payments}/secrets/{secret_id}"
    return client.post(f"{page}/{verb}", data=form(client, page, **fields))


def test_the_secret_page_shows_metadata_versions_and_grants_never_values(
    vault: Seeded, client: httpx.Client
) -> None:
    page = client.get(f"/projects/{vault.payments}/secrets/{vault.stripe}")
    assert page.status_code == 200
    assert "stripe-key" in page.text and "Roll back to version 1" in page.text
    assert "web-1" in page.text  # the machine granted it
    assert (
        f'href="/projects/{vault.payments}/secrets/{vault.stripe}"'
        in client.get(f"/projects/{vault.payments}").text
    )
    no_value_in(page.text)
    structured = client.get(f"/projects/{vault.payments}/secrets/{vault.database}").text
    assert 'name="field_name_1" value="host"' in structured and 'type="password"' in structured


def test_rename_note_new_version_and_rollback(vault: Seeded, client: httpx.Client) -> None:
    secret = vault.op.secret(vault.payments, "to-edit", "first-SECRETPAGE-value")
    done = post(client, vault, secret, "rename", name="edited")
    here = f"/projects/{vault.payments}/secrets/{secret}"
    assert done.status_code == 303 and done.headers["location"] == f"{here}?done=secret-renamed"
    assert "Secret renamed" in client.get(done.headers["location"]).text
    assert api_secret(vault, secret)["name"] == "edited"
    post(client, vault, secret, "note", note="owned by billing")
    assert api_secret(vault, secret)["note"] == "owned by billing"
    done = post(client, vault, secret, "replace", value=TYPED)
    assert done.headers["location"].endswith("?done=version-added")
    assert api_secret(vault, secret)["version"] == 2
    shown = client.get(here).text
    assert "Roll back to version 1" in shown
    no_value_in(shown)
    done = post(client, vault, secret, "rollback", version="1")
    assert done.headers["location"].endswith("?done=rolled-back")
    assert api_secret(vault, secret)["version"] == 3
    assert "rollback to version 1" in client.get(here).text


def test_a_structured_secret_created_and_replaced_through_its_fields(
    vault: Seeded, client: httpx.Client
) -> None:
    page = f"/projects/{vault.payments}"
    fields = {"field_name_1": "user", "field_value_1": "app", "field_name_2": "token"}
    done = client.post(
        f"{page}/structured-secrets",
        data=form(client, page, name="api-pair", field_value_2=FIELD, **fields),
    )
    assert done.status_code == 303 and "?done=secret-created" in done.headers["location"]
    secret = done.headers["location"].split("/secrets/")[1].split("?")[0]
    created = api_secret(vault, secret)
    assert created["type"] == "structured" and created["fieldNames"] == "user,token"
    no_value_in(client.get(done.headers["location"]).text)
    again = post(client, vault, secret, "replace", **fields, field_value_2=FIELD)
    assert again.status_code == 303 and api_secret(vault, secret)["version"] == 2
    refused = client.post(
        f"{page}/structured-secrets",
        data=form(client, page, name="orphan", field_value_1=FIELD),
    )
    assert refused.status_code == 400 and "no field name" in refused.text
    no_value_in(refused.text)


def test_a_managed_secret_from_the_form_has_its_schedule(
    vault: Seeded, client: httpx.Client
) -> None:
    page = f"/projects/{vault.payments}"
    fields = {
        "name": "orders-db",
        "provider": "postgresql",
        "host": "db.internal",
        "admin_user": "postgres",
        "admin_pass": ADMIN,
        "username": "orders_app",
        "interval": "2",
        "unit": "days",
    }
    done = client.post(f"{page}/managed-secrets", data=form(client, page, **fields))
    assert done.status_code == 303 and "?done=managed-created" in done.headers["location"]
    secret = done.headers["location"].split("/secrets/")[1].split("?")[0]
    status = vault.op.get(f"/v1/admin/secrets/{secret}/rotation")
    assert status["managed"] and status["schedule"]["intervalSeconds"] == 2 * 86400
    shown = client.get(done.headers["location"]).text
    assert "Managed" in shown and "172800 s (2 days)" in shown and "New version" not in shown
    no_value_in(shown)
    bad = client.post(
        f"{page}/managed-secrets", data=form(client, page, **{**fields, "provider": "oracle"})
    )
    assert bad.status_code == 400 and "Unknown provider" in bad.text
    no_value_in(bad.text)


def test_delete_goes_to_the_trash_then_restore_and_purge(
    vault: Seeded, client: httpx.Client
) -> None:
    secret = vault.op.secret(vault.payments, "short-lived", TYPED)
    trash = f"/projects/{vault.payments}/trash"
    done = post(client, vault, secret, "delete")
    assert done.headers["location"] == f"{trash}?done=secret-deleted"
    listing = client.get(done.headers["location"]).text
    assert "Restore short-lived" in listing and "Purge short-lived" in listing
    assert "deletedAt" in api_secret(vault, secret)
    assert (
        "short-lived" not in client.get(f"/projects/{vault.payments}", params={"q": "short"}).text
    )
    in_trash = client.get(f"/projects/{vault.payments}/secrets/{secret}").text
    assert "In the trash" in in_trash and "Delete short-lived" not in in_trash
    back = client.post(
        f"/projects/{vault.payments}/secrets/{secret}/restore", data=form(client, trash)
    )
    assert back.headers["location"].endswith(f"/secrets/{secret}?done=secret-restored")
    assert "deletedAt" not in api_secret(vault, secret)
    post(client, vault, secret, "delete")
    gone = client.post(
        f"/projects/{vault.payments}/secrets/{secret}/purge", data=form(client, trash)
    )
    assert gone.headers["location"] == f"{trash}?done=secret-purged"
    assert vault.op.http.get(f"/v1/admin/secrets/{secret}").status_code == 404
    no_value_in(client.get(gone.headers["location"]).text)


def test_grant_and_revoke_from_the_secret_page(vault: Seeded, client: httpx.Client) -> None:
    machine = register_machine(vault.live, vault.op, "dash-grantee").machine_id
    here = f"/projects/{vault.payments}/secrets/{vault.database}"
    assert "dash-grantee (dash-grantee.internal)" in client.get(here).text
    done = post(client, vault, vault.database, "grant", machine_id=machine)
    assert done.headers["location"] == f"{here}?done=granted"
    assert vault.database in vault.op.get(f"/v1/admin/machines/{machine}")["grants"]
    assert "Revoke grant of dash-grantee" in client.get(here).text
    post(client, vault, vault.database, "revoke-grant", machine_id=machine)
    assert vault.database not in vault.op.get(f"/v1/admin/machines/{machine}")["grants"]


def test_schedule_pause_resume_and_rotate_now(vault: Seeded, client: httpx.Client) -> None:
    secret = vault.op.secret(vault.payments, "rotating", TYPED)
    status = f"/v1/admin/secrets/{secret}/rotation"
    post(client, vault, secret, "schedule", interval="6", unit="hours", charset="alphanumeric")
    assert vault.op.get(status)["schedule"]["intervalSeconds"] == 6 * 3600
    assert "21600 s (6 hours)" in client.get(f"/projects/{vault.payments}/secrets/{secret}").text
    post(client, vault, secret, "pause")
    assert vault.op.get(status)["schedule"]["enabled"] is False
    post(client, vault, secret, "resume")
    assert vault.op.get(status)["schedule"]["enabled"] is True
    done = post(client, vault, secret, "rotate")
    assert done.headers["location"].endswith("?done=rotated")
    assert api_secret(vault, secret)["version"] == 2


@pytest.mark.parametrize(
    ("verb", "fields", "message"),
    [
        ("rename", {"name": "  "}, "must not be empty"),
        ("rename", {"name": "database"}, ""),  # taken in this project
        ("rollback", {"version": "99"}, ""),
        ("rollback", {"version": "x"}, "Choose a version"),
        ("replace", {"value": ""}, "Type the new value"),
        ("schedule", {"interval": "1", "unit": "minutes"}, "interval"),
        ("schedule", {"interval": "1", "unit": "weeks"}, "minutes, hours or days"),
        ("restore", {}, "not in the trash"),
        ("grant", {"machine_id": "mach_nope"}, ""),
    ],
)
def test_bad_input_is_shown_on_the_page_and_nothing_changes(
    vault: Seeded, client: httpx.Client, verb: str, fields: dict[str, str], message: str
) -> None:
    before = api_secret(vault, vault.stripe)
    refused = post(client, vault, vault.stripe, verb, **fields)
    assert refused.status_code == 400 and 'role="alert"' in refused.text, refused.text
    assert message in refused.text and "Nothing was saved" in refused.text
    no_value_in(refused.text)
    assert api_secret(vault, vault.stripe) == before


def test_every_action_refuses_a_missing_or_wrong_csrf_token(
    vault: Seeded, client: httpx.Client
) -> None:
    secret = vault.op.secret(vault.payments, "csrf-target", TYPED)
    before = api_secret(vault, secret)
    base = f"/projects/{vault.payments}"
    paths = [f"{base}/secrets/{secret}/{verb}" for verb in SECRET_VERBS]
    paths += [f"{base}/structured-secrets", f"{base}/managed-secrets"]
    fields = {"name": "forged", "value": TYPED, "version": "1", "note": "forged"}
    for path in paths:
        for token in ({}, {"csrf": "0" * 64}):
            response = client.post(path, data={**fields, **token})
            assert response.status_code == 403, path
            no_value_in(response.text)
    assert api_secret(vault, secret) == before
    names = [s["name"] for s in vault.op.get(f"/v1/admin{base}/secrets")["secrets"]]
    assert "forged" not in names


SECRET_VERBS = [
    "rename",
    "rollback",
    "replace",
    "note",
    "delete",
    "restore",
    "purge",
    "grant",
    "revoke-grant",
    "schedule",
    "pause",
    "resume",
    "rotate",
]


def test_unknown_and_foreign_ids_are_404(vault: Seeded, client: httpx.Client) -> None:
    other = vault.op.project("elsewhere")
    foreign = vault.op.secret(other, "not-in-payments", TYPED)
    token = form(client, f"/projects/{vault.payments}")
    for path in (
        f"/projects/{vault.payments}/secrets/sk_0000000000000000",
        f"/projects/{vault.payments}/secrets/{foreign}",  # another project's secret
        f"/projects/{vault.payments}/secrets/{vault.approved}",  # an id of another kind
        f"/projects/proj_0000000000000000/secrets/{vault.stripe}",
        "/projects/proj_0000000000000000/trash",
        "/projects/nope",
    ):
        assert client.get(path).status_code == 404, path
        if "/secrets/" in path:
            assert client.post(f"{path}/rename", data={**token, "name": "x"}).status_code == 404
    assert (
        client.post(
            f"/projects/{vault.payments}/secrets/{vault.stripe}/explode", data=token
        ).status_code
        == 404
    )
    assert api_secret(vault, foreign)["name"] == "not-in-payments"


def test_every_new_page_holds_no_value_and_no_inline_code(
    vault: Seeded, client: httpx.Client
) -> None:
    trashed = vault.op.secret(vault.payments, "in-the-bin", TYPED)
    vault.op.delete(trashed)
    base = f"/projects/{vault.payments}"
    responses = [
        client.get(base, params={"q": "stripe"}),
        client.get(base, params={"page": "2"}),
        client.get(f"{base}/secrets/{vault.stripe}?done=rolled-back"),
        client.get(f"{base}/secrets/{vault.database}"),
        client.get(f"{base}/secrets/{trashed}"),
        client.get(f"{base}/trash?done=secret-deleted"),
        post(client, vault, vault.stripe, "rename", name=""),
    ]
    for response in responses:
        assert response.status_code in (200, 400)
        assert response.headers["content-type"].startswith("text/html")
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        no_value_in(response.text)
        for attributes, body in SCRIPT.findall(response.text):
            assert 'src="/static/' in attributes and not body.strip()
        assert "style=" not in response.text and not HANDLER.findall(response.text)
        assert response.text.count('name="csrf"') == response.text.count('<form method="post"')
