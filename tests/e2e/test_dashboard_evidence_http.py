"""The machines page's IP allowlist and the evidence pages (checkpoints, who read) over
plain HTTP on both stores: each form does what the operator API does, a bad entry is
refused on the page with nothing saved, a POST without its CSRF token is a 403, and
no new page ever holds a value."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import register_machine, signed

NEW_PAGES = ("/machines", "/audit/checkpoints", "/audit/who-read")


@pytest.fixture(scope="module", params=STORES)
def vault(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start(patience=240)  # a busy machine starts a server slowly
        seeded = seed(live)
        stack.callback(seeded.op.close)
        yield seeded


@pytest.fixture
def client(vault: Seeded) -> Iterator[httpx.Client]:
    with logged_in(vault.live) as logged:
        yield logged


def post(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(client.get("/machines").text), **fields})


def allowlist(v: Seeded) -> dict[str, Any]:
    return dict(v.op.get("/v1/admin/ipallowlist"))


def no_value_in(body: str) -> None:
    for value in VALUES:
        assert value not in body


def test_allowlist_entries_are_added_and_removed_from_the_machines_page(
    vault: Seeded, client: httpx.Client
) -> None:
    added = post(client, "/allowlist", cidr="10.20.0.0/16", label="office")
    assert (
        added.status_code == 303 and added.headers["location"] == "/machines?done=allowlist-added"
    )
    entry = next(e for e in allowlist(vault)["entries"] if e["cidr"] == "10.20.0.0/16")
    assert entry["label"] == "office"
    shown = client.get(added.headers["location"])
    assert "Added to the IP allowlist." in shown.text and "10.20.0.0/16" in shown.text
    removed = post(client, f"/allowlist/{entry['id']}/delete")
    assert removed.status_code == 303
    assert all(e["id"] != entry["id"] for e in allowlist(vault)["entries"])


def test_a_bad_or_duplicate_entry_is_refused_on_the_page(
    vault: Seeded, client: httpx.Client
) -> None:
    before = allowlist(vault)
    bad = post(client, "/allowlist", cidr="10.0.0.300/8", label="typo")
    assert bad.status_code == 400 and 'role="alert"' in bad.text and "Nothing was saved" in bad.text
    assert post(client, "/allowlist", cidr="192.0.2.0/24").status_code == 303
    again = post(client, "/allowlist", cidr="192.0.2.0/24")
    assert again.status_code == 400 and "already on the allowlist" in again.text
    unknown = post(client, "/allowlist/ip_nonexistent/delete")
    assert unknown.status_code == 400 and "not found" in unknown.text
    assert len(allowlist(vault)["entries"]) == len(before["entries"]) + 1


def test_allowlist_forms_without_their_csrf_token_change_nothing(
    vault: Seeded, client: httpx.Client
) -> None:
    before = allowlist(vault)
    for path, fields in (
        ("/allowlist", {"cidr": "198.51.100.0/24"}),
        ("/allowlist/enable", {}),
        ("/allowlist/disable", {}),
    ):
        assert client.post(path, data={**fields, "csrf": "forged"}).status_code == 403
        assert client.post(path, data=fields).status_code == 403
    assert allowlist(vault) == before


def test_enforcement_is_switched_on_and_off(vault: Seeded, client: httpx.Client) -> None:
    post(client, "/allowlist", cidr="127.0.0.0/8", label="this host")  # machines keep working
    on = post(client, "/allowlist/enable")
    assert on.status_code == 303 and allowlist(vault)["enabled"] is True
    assert "Enforced" in client.get("/machines").text
    off = post(client, "/allowlist/disable")
    assert off.status_code == 303 and allowlist(vault)["enabled"] is False
    assert post(client, "/allowlist/sideways").status_code == 400


def test_checkpoints_are_listed_and_downloadable_as_the_api_gives_them(
    vault: Seeded, client: httpx.Client
) -> None:
    newest = vault.op.get("/v1/admin/audit/checkpoint")  # signs one if the logs moved
    key = vault.op.get("/v1/admin/audit/checkpoint/public-key")["publicKey"]
    page = client.get("/audit/checkpoints")
    assert page.status_code == 200 and key in page.text
    assert (
        f"/audit/checkpoints/{newest['number']}/download" in page.text
        and "This server" in page.text
    )
    assert newest["heads"][0]["hash"][:16] in page.text
    download = client.get(f"/audit/checkpoints/{newest['number']}/download")
    assert download.status_code == 200 and download.json() == newest
    assert "attachment" in download.headers["content-disposition"]
    assert client.get("/audit/checkpoints/999999/download").status_code == 404


def test_who_read_counts_a_machine_read_and_refuses_bad_input(
    vault: Seeded, client: httpx.Client
) -> None:
    reader = register_machine(
        vault.live, vault.op, "reader-1", project_id=vault.payments, grants=(vault.stripe,)
    )
    answered = signed(vault.live, reader, "GET", f"/v1/secret/{vault.stripe}").send()
    assert answered.status_code == 200
    deadline = time.monotonic() + 20
    while True:  # the access record may land a moment after the answer
        page = client.get("/audit/who-read", params={"secret": vault.stripe})
        if reader.machine_id in page.text or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert page.status_code == 200 and reader.machine_id in page.text
    no_value_in(page.text)
    bad = client.get("/audit/who-read", params={"secret": vault.stripe, "start": "yesterday"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    unknown = client.get("/audit/who-read", params={"secret": "sk_0000000000"})
    assert unknown.status_code == 404


def test_new_pages_need_a_session_and_never_show_a_value(
    vault: Seeded, client: httpx.Client
) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as anonymous:
        for path in NEW_PAGES:
            assert anonymous.get(path).headers.get("location") == "/login"
        assert anonymous.post("/allowlist", data={"cidr": "10.0.0.0/8"}).status_code in (303, 403)
    for path in NEW_PAGES:
        response = client.get(path, params={"secret": vault.stripe})
        assert response.status_code == 200, path
        no_value_in(response.text)
        assert "<script>" not in response.text
