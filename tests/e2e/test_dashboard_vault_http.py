"""The dashboard's vault actions over plain HTTP on both stores: each form does what
the operator API does, refuses a missing CSRF token or bad input with nothing saved,
and no page before or after an action ever holds a secret's value."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import register_machine
from tests.e2e.test_dashboard_http import HANDLER, SCRIPT

TYPED = "typed-in-DASHBOARD-value-7f3a91c0"  # a value entered through the form


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


def form(client: httpx.Client, page: str, **fields: str) -> dict[str, str]:
    return {"csrf": csrf_of(client.get(page).text), **fields}


def no_value_in(body: str, *extra: str) -> None:
    for value in (*VALUES, *extra):
        assert value not in body


def project_names(v: Seeded) -> list[str]:
    return [p["name"] for p in v.op.get("/v1/admin/projects")["projects"]]


def test_creating_a_project_redirects_to_it_with_a_flash(
    vault: Seeded, client: httpx.Client
) -> None:
    done = client.post("/projects", data=form(client, "/projects", name="shop", description="web"))
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("/projects/proj_") and location.endswith("?done=project-created")
    page = client.get(location)
    assert page.status_code == 200 and "shop" in page.text and "Project created" in page.text
    assert "shop" in project_names(vault)
    assert 'for="secret-value"' in page.text and 'type="password"' in page.text


def test_an_empty_project_name_is_shown_on_the_page_and_nothing_is_saved(
    vault: Seeded, client: httpx.Client
) -> None:
    before = project_names(vault)
    refused = client.post("/projects", data=form(client, "/projects", name="  "))
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert "Nothing was saved" in refused.text and 'href="/projects"' in refused.text
    assert project_names(vault) == before


def test_every_action_refuses_a_missing_or_wrong_csrf_token_and_changes_nothing(
    vault: Seeded, client: httpx.Client
) -> None:
    projects, machines = project_names(vault), vault.op.get("/v1/admin/machines")
    secrets = vault.op.get(f"/v1/admin/projects/{vault.payments}/secrets")
    actions = [
        ("/projects", {"name": "forged"}),
        (f"/projects/{vault.payments}/secrets", {"name": "forged", "value": TYPED}),
        (
            f"/projects/{vault.payments}/grants",
            {"secret_id": vault.database, "machine_id": vault.approved},
        ),
        (f"/machines/{vault.pending}/approve", {}),
        (f"/machines/{vault.approved}/disable", {}),
    ]
    for path, fields in actions:
        for token in ({}, {"csrf": "0" * 64}):
            response = client.post(path, data={**fields, **token})
            assert response.status_code == 403, path
            no_value_in(response.text, TYPED)
    assert project_names(vault) == projects
    assert vault.op.get("/v1/admin/machines") == machines
    assert vault.op.get(f"/v1/admin/projects/{vault.payments}/secrets") == secrets


def test_a_secret_typed_into_the_form_is_saved_and_never_shown_back(
    vault: Seeded, client: httpx.Client
) -> None:
    page = f"/projects/{vault.payments}"
    done = client.post(
        f"{page}/secrets", data=form(client, page, name="webhook-key", value=TYPED, note="n")
    )
    assert done.status_code == 303 and done.headers["location"] == f"{page}?done=secret-created"
    shown = client.get(done.headers["location"]).text
    assert "webhook-key" in shown and "will not be shown again" in shown
    no_value_in(shown, TYPED)
    names = [s["name"] for s in vault.op.get(f"{'/v1/admin' + page}/secrets")["secrets"]]
    assert "webhook-key" in names


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"name": "", "value": TYPED}, "name"), ({"name": "no-value", "value": ""}, "value")],
)
def test_a_secret_without_a_name_or_value_is_refused_on_the_page(
    vault: Seeded, client: httpx.Client, fields: dict[str, str], message: str
) -> None:
    page = f"/projects/{vault.payments}"
    before = vault.op.get(f"/v1/admin/projects/{vault.payments}/secrets")
    refused = client.post(f"{page}/secrets", data=form(client, page, **fields))
    assert refused.status_code == 400 and message in refused.text.lower()
    no_value_in(refused.text, TYPED)
    assert vault.op.get(f"/v1/admin/projects/{vault.payments}/secrets") == before


def machine(v: Seeded, machine_id: str) -> dict:
    return v.op.get(f"/v1/admin/machines/{machine_id}")


def test_approving_a_machine_then_granting_it_a_secret(vault: Seeded, client: httpx.Client) -> None:
    new = register_machine(vault.live, vault.op, "dash-new", approve=False).machine_id
    listing = client.get("/machines").text
    assert f'action="/machines/{new}/approve"' in listing and "Approve dash-new" in listing
    done = client.post(f"/machines/{new}/approve", data=form(client, "/machines"))
    assert done.headers["location"] == "/machines?done=machine-approve"
    assert "Machine approved" in client.get(done.headers["location"]).text
    assert machine(vault, new)["status"] == "approved"
    page = f"/projects/{vault.payments}"
    granted = client.post(
        f"{page}/grants", data=form(client, page, secret_id=vault.database, machine_id=new)
    )
    assert granted.status_code == 303 and granted.headers["location"] == f"{page}?done=granted"
    assert vault.database in str(machine(vault, new)["grants"])
    no_value_in(client.get(granted.headers["location"]).text)


def test_disable_enable_and_deny_use_the_machine_service(
    vault: Seeded, client: httpx.Client
) -> None:
    client.post(f"/machines/{vault.approved}/disable", data=form(client, "/machines"))
    assert machine(vault, vault.approved)["enabled"] is False
    assert "Enable web-1" in client.get("/machines").text
    client.post(f"/machines/{vault.approved}/enable", data=form(client, "/machines"))
    assert machine(vault, vault.approved)["enabled"] is True
    other = register_machine(vault.live, vault.op, "dash-deny", approve=False).machine_id
    client.post(f"/machines/{other}/deny", data=form(client, "/machines"))
    assert machine(vault, other)["status"] == "denied"


def test_unknown_machines_secrets_and_verbs_are_refused(
    vault: Seeded, client: httpx.Client
) -> None:
    token = form(client, "/machines")
    assert client.post("/machines/nope/approve", data=token).status_code == 400
    assert client.post(f"/machines/{vault.approved}/explode", data=token).status_code == 404
    page = f"/projects/{vault.frozen}"
    wrong = client.post(
        f"/projects/{vault.payments}/grants",
        data=form(client, page, secret_id="sk_0000000000", machine_id=vault.approved),
    )
    assert wrong.status_code == 400


def test_a_bootstrap_token_page_shows_both_connect_commands_once(
    vault: Seeded, client: httpx.Client
) -> None:
    before = vault.op.get("/v1/admin/audit/query", actions="bootstrap_token_create")["total"]
    page = client.post("/machines/token", data=form(client, "/machines", name="edge-9"))
    assert page.status_code == 200 and "Single use" in page.text
    token = page.text.split("/v1/bootstrap/")[1].split(" ")[0]
    assert f"curl -sSL {vault.live.url}/v1/bootstrap/{token} | sh" in page.text
    assert f"keyledger connect --token {token} --server {vault.live.url}" in page.text
    assert token not in client.get("/machines").text  # never shown again
    after = vault.op.get("/v1/admin/audit/query", actions="bootstrap_token_create")["total"]
    assert after == before + 1
    assert client.post("/machines/token", data={"name": "x"}).status_code == 403


def test_revoke_shows_the_preview_then_revokes_on_confirm(
    vault: Seeded, client: httpx.Client
) -> None:
    doomed = register_machine(
        vault.live, vault.op, "dash-doomed", project_id=vault.payments, grants=(vault.stripe,)
    ).machine_id
    assert f'href="/machines/{doomed}/revoke"' in client.get("/machines").text
    preview = client.get(f"/machines/{doomed}/revoke")
    assert preview.status_code == 200
    assert "loses 1 grant and its membership in 1 project" in preview.text
    assert machine(vault, doomed)["status"] == "approved"  # looking changes nothing
    assert client.post(f"/machines/{doomed}/revoke", data={}).status_code == 403
    done = client.post(f"/machines/{doomed}/revoke", data=form(client, "/machines"))
    assert done.headers["location"] == "/machines?done=machine-revoke"
    assert machine(vault, doomed)["status"] == "revoked"
    assert client.get("/machines/no-such-machine/revoke").status_code == 404


def test_every_new_page_holds_no_value_and_no_inline_code(
    vault: Seeded, client: httpx.Client
) -> None:
    """The value-leak sweep of test_dashboard_http, over this slice's pages."""
    responses = [
        client.get(f"/machines/{vault.approved}/revoke"),
        client.post("/machines/token", data=form(client, "/machines")),
        client.post("/projects", data=form(client, "/projects", name="")),
        client.get("/machines?done=machine-approve"),
        client.get(f"/projects/{vault.payments}?done=secret-created"),
        client.get("/projects?done=nonsense"),
    ]
    for response in responses:
        assert response.status_code in (200, 400)
        assert response.headers["content-type"].startswith("text/html")
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        no_value_in(response.text, TYPED)
        for attributes, body in SCRIPT.findall(response.text):
            assert 'src="/static/' in attributes and not body.strip()
        assert "style=" not in response.text and not HANDLER.findall(response.text)
    assert "nonsense" not in responses[-1].text  # only known flash keys are shown
