"""The dashboard over plain HTTP on both stores: login, session cookie, CSRF, headers,
and a value-leak sweep over every page of a seeded vault (no browser needed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from infrastructure.settings import Settings
from interfaces.web.session import secure_cookies
from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import OWNER, PASSWORD

SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S | re.I)
HANDLER = re.compile(r"\s(on[a-z]+=)", re.I)  # inline event handlers (onclick=…)


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


def pages(v: Seeded) -> list[str]:
    """Every dashboard page an operator can open (each secret's page and the trash
    included), for a seeded vault; the login form is added where it is wanted."""
    return [
        "/",
        "/projects",
        f"/projects/{v.payments}",
        f"/projects/{v.frozen}",
        f"/projects/{v.payments}/secrets/{v.stripe}",
        f"/projects/{v.payments}/secrets/{v.database}",
        f"/projects/{v.payments}/trash",
        f"/projects/{v.payments}/policies",
        "/machines",
        f"/machines/{v.approved}/revoke",
        "/managed",
        "/audit",
        "/audit/query.csv",
        "/audit/live",
        "/audit/verify",
        "/audit/history",
        f"/audit/who-read?secret={v.stripe}",
        "/audit/checkpoints",
        "/enrollment",
        "/shares",
        "/alerts",
        "/canaries",
    ]


def test_pages_without_a_session_redirect_to_the_login_form(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as anonymous:
        for path in pages(vault):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/login"
        anonymous.cookies.set("keyledger_session", "forged-token")
        assert anonymous.get("/").headers["location"] == "/login"
        form = anonymous.get("/login")
        assert form.status_code == 200 and 'type="password"' in form.text


def test_every_page_shows_the_vault_but_never_a_value(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        bodies = {}
        for path in [*pages(vault), "/login", "/static/dashboard.css"]:
            response = client.get(path, follow_redirects=True)
            assert response.status_code == 200, (path, response.text[:300])
            bodies[path] = response.text
    for path, body in bodies.items():
        for value in VALUES:
            assert value not in body, f"a plaintext value is in {path}"
    overview = bodies["/"]
    assert "batch-7" in overview and "legacy-billing" in overview  # pending, frozen
    project = bodies[f"/projects/{vault.payments}"]
    for shown in ("stripe-key", "database", vault.stripe, vault.database, "structured"):
        assert shown in project
    assert "Frozen" in bodies[f"/projects/{vault.frozen}"]
    machines = bodies["/machines"]
    assert "Pending approval" in machines and vault.pending in machines
    assert vault.approved in machines


def test_the_project_page_shows_the_version_count(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        html = client.get(f"/projects/{vault.payments}").text
    row = html[html.index(">stripe-key<") : html.index(f"<code>{vault.stripe}")]
    assert "<td>2</td>" in row  # created, then replaced once


def test_unknown_or_foreign_project_ids_are_not_found(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        assert client.get("/projects/proj_0000000000").status_code == 404
        assert client.get(f"/projects/{vault.stripe}").status_code == 404


def test_the_session_cookie_is_httponly_and_strict(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as client:
        form = client.get("/login")
        done = client.post(
            "/login", data={"csrf": csrf_of(form.text), "email": OWNER, "password": PASSWORD}
        )
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("keyledger_session=")
    )
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert "secure" not in attributes  # the server's URL is plain http here


def test_cookies_are_secure_whenever_the_public_url_is_https(tmp_path) -> None:
    https = Settings(data_dir=tmp_path, public_url="https://vault.example.com")
    assert secure_cookies(https)
    assert not secure_cookies(Settings(data_dir=tmp_path, public_url="http://10.0.0.5:8420"))
    assert not secure_cookies(Settings(data_dir=tmp_path))


def test_security_headers_and_no_inline_code(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        responses = [client.get(path) for path in pages(vault)]
    with httpx.Client(base_url=vault.live.url, timeout=30) as anonymous:
        responses.append(anonymous.get("/login"))
    for response in responses:
        assert response.status_code == 200
        kind = "text/csv" if response.url.path.endswith(".csv") else "text/html"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        for attributes, body in SCRIPT.findall(response.text):
            assert 'src="/static/' in attributes and not body.strip()
        assert "style=" not in response.text and "<style" not in response.text
        assert not HANDLER.findall(response.text)


def test_htmx_is_served_by_keyledger_itself(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as anonymous:
        script = anonymous.get("/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200 and "htmx" in script.text
    assert "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff"


def user_logins(v: Seeded) -> int:
    return int(v.op.get("/v1/admin/audit/query", actions="user_login")["total"])


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    vault: Seeded,
) -> None:
    with logged_in(vault.live) as client:
        for form in ({}, {"csrf": "0" * 64}, {"csrf": ""}):
            assert client.post("/logout", data=form).status_code == 403
        assert client.get("/").status_code == 200  # the session still stands
    before = user_logins(vault)
    with httpx.Client(base_url=vault.live.url, timeout=30) as fresh:
        fresh.get("/login")  # holds the login cookie, but the form's field is missing
        for form in (
            {"email": OWNER, "password": PASSWORD},
            {"csrf": "forged", "email": OWNER, "password": PASSWORD},
        ):
            refused = fresh.post("/login", data=form)
            assert refused.status_code == 403
            assert "keyledger_session" not in refused.headers.get("set-cookie", "")
    assert user_logins(vault) == before


def test_a_wrong_password_says_so_and_opens_nothing(vault: Seeded) -> None:
    with httpx.Client(base_url=vault.live.url, timeout=30) as client:
        form = client.get("/login")
        refused = client.post(
            "/login", data={"csrf": csrf_of(form.text), "email": OWNER, "password": "wrong!"}
        )
        assert refused.status_code == 401 and "Invalid email or password" in refused.text
        assert "wrong!" not in refused.text
        assert client.get("/").status_code == 303


def test_logout_ends_the_session_on_the_server(vault: Seeded) -> None:
    with logged_in(vault.live) as client:
        token = client.cookies["keyledger_session"]
        csrf = csrf_of(client.get("/").text)
        out = client.post("/logout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    with httpx.Client(base_url=vault.live.url, timeout=30) as replay:
        replay.cookies.set("keyledger_session", token)
        assert replay.get("/").headers["location"] == "/login"
