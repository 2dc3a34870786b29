"""The dashboard's audit pages over plain HTTP on both stores: the query form and its
paging, the CSV, the live stream on the session cookie, verification, and no value
on any of them (the value-leak sweep of test_dashboard_http, extended)."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, logged_in, seed
from tests.e2e.test_dashboard_http import HANDLER, SCRIPT

NEXT = re.compile(r'<a href="(/audit\?[^"]+)">Next page</a>')
PAGES = (
    "/audit",
    "/audit/live",
    "/audit/verify",
    "/canaries",
    "/audit?actions=secret_update&pageSize=1",
)


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


def test_audit_pages_need_a_session(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as anonymous:
        for path in (*PAGES, "/audit/query.csv", "/audit/stream"):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/login"
        # The operator API's bearer token is not the cookie: no way around the login.
        bearer = {"Authorization": vault.op.http.headers["Authorization"]}
        assert anonymous.get("/audit/query.csv", headers=bearer).status_code == 303


def test_audit_pages_show_the_trail_but_never_a_value(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        bodies = {p: client.get(p) for p in (*PAGES, "/audit/query.csv", "/static/audit-live.js")}
    for path, response in bodies.items():
        assert response.status_code == 200, (path, response.text[:300])
        for value in VALUES:
            assert value not in response.text, f"a plaintext value is in {path}"
    query = bodies["/audit"].text
    for shown in ("secret_create", "project_freeze", vault.stripe, "Download CSV"):
        assert shown in query
    assert "Intact" in bodies["/audit/verify"].text
    for path in PAGES:
        response = bodies[path]
        assert "connect-src 'self'" in response.headers["content-security-policy"]
        for attributes, body in SCRIPT.findall(response.text):
            assert 'src="/static/' in attributes and not body.strip()
        assert "style=" not in response.text and not HANDLER.findall(response.text)


def test_the_query_filters_and_pages_like_the_operator_api(vault: Seeded) -> None:
    api = vault.op.get("/v1/admin/audit/query", actions="secret_create", pageSize=1)
    assert api["total"] == 2  # stripe-key and database
    with logged_in(vault.live) as client:
        first = client.get("/audit?actions=secret_create&pageSize=1")
        assert first.status_code == 200 and "page 1 of 2" in first.text
        assert api["entries"][0]["secretId"] in first.text
        following = NEXT.search(first.text)
        assert following, "no Next page link"
        second = client.get(html.unescape(following.group(1)))
        assert api["entries"][0]["secretId"] not in second.text
        assert "page 2 of 2" in second.text and "Previous page" in second.text
        # Empty form fields are no filter, as a browser submits them.
        blank = client.get("/audit", params={"search": "", "machineId": "", "sortBy": "action"})
        assert blank.status_code == 200 and "page 1 of" in blank.text
        cidr = client.get("/audit", params={"sourceIp": "10.255.0.0/16"})
        assert "No audit records match" in cidr.text


@pytest.mark.parametrize(
    "bad",
    [
        {"actions": "no_such_action"},
        {"sourceIp": "not-an-ip"},
        {"from": "yesterday"},
        {"sortBy": "secretValue"},
        {"pageSize": "100000"},
    ],
)
def test_a_bad_filter_is_a_400_shown_on_the_page(vault: Seeded, bad: dict[str, str]) -> None:
    with logged_in(vault.live) as client:
        page = client.get("/audit", params=bad)
        assert page.status_code == 400 and 'role="alert"' in page.text
        assert "Download CSV" not in page.text and "<form" in page.text
        csv = client.get("/audit/query.csv", params=bad)
        assert csv.status_code == 400 and "error" in csv.json()


def test_the_csv_is_the_operator_apis_csv(vault: Seeded) -> None:
    params = {"actions": "secret_create,secret_update", "sortDir": "asc"}
    api = vault.op.http.get("/v1/admin/audit/query.csv", params=params)
    with logged_in(vault.live) as client:
        ours = client.get("/audit/query.csv", params=params)
    assert ours.status_code == 200 and ours.text == api.text
    assert ours.text.count("\r\n") == 4  # header, two creates, one update
    assert ours.headers["content-disposition"].startswith("attachment")
    assert ours.headers["x-keyledger-total"] == "3"


def test_the_live_stream_carries_new_records_on_the_session_cookie(vault: Seeded) -> None:
    events: list[dict[str, object]] = []
    raw: list[str] = []
    opened = threading.Event()
    with logged_in(vault.live) as client:

        def listen() -> None:
            with client.stream("GET", "/audit/stream", timeout=30) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                opened.set()
                for line in response.iter_lines():
                    raw.append(line)
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))
                        if events[-1]["action"] == "secret_update":
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(30)
        vault.op.replace(vault.stripe, VALUES[0] + "-live")
        listener.join(30)
    assert not listener.is_alive(), raw
    assert events[-1]["secretId"] == vault.stripe
    assert "secret_create" not in [e["action"] for e in events]  # only records from now on
    for value in VALUES:
        assert all(value not in line for line in raw)


def test_history_shows_the_vault_and_who_could_read_then(vault: Seeded) -> None:
    now = str(int(time.time() * 1000))
    api = vault.op.get("/v1/admin/audit/who-could-read", secret=vault.stripe, at=now)
    with logged_in(vault.live) as client:
        state = client.get("/audit/history", params={"at": now})
        could = client.get("/audit/history", params={"at": now, "secret": vault.stripe})
        before = client.get("/audit/history", params={"at": "2001-01-01T00:00:00Z"})
    assert (
        state.status_code == 200 and "legacy-billing" in state.text and "stripe-key" in state.text
    )
    version = next(
        s["version"]
        for s in vault.op.get("/v1/admin/audit/as-of", at=now)["secrets"]
        if s["id"] == vault.stripe
    )
    assert "Frozen" in state.text and f"stripe-key (v{version}, live)" in state.text
    readers = [m for m in api["machines"] if m["couldRead"]]
    assert [m["machineId"] for m in readers] == [vault.approved]
    row = could.text[could.text.index(">web-1<") : could.text.index(vault.approved)]
    assert ">Yes<" in row
    assert "did not exist yet" in before.text
    for response in (state, could, before):
        for value in VALUES:
            assert value not in response.text


def test_history_refuses_bad_input_on_the_page(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        bad_time = client.get("/audit/history", params={"at": "last tuesday"})
        unknown = client.get("/audit/history", params={"at": "0", "secret": "sk_0000000000"})
    assert bad_time.status_code == 400 and 'role="alert"' in bad_time.text
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text
