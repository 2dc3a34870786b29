"""A seeded vault for dashboard tests, and a logged-in dashboard client over plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.e2e.conftest import LiveServer
from tests.e2e.machine_helpers import OWNER, PASSWORD, Operator, register_machine

# Values no page may ever contain; long and distinctive, so a partial match cannot hide.
STRIPE = "sk_live_DASHBOARD_4eC39HqLyjWDarjtT1z"
DB_PASSWORD = "pg-pass-DASHBOARD-91d8e0c77b"
ROTATED = "sk_live_DASHBOARD_second_5ab2c"
VALUES = (STRIPE, DB_PASSWORD, ROTATED)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Seeded:
    live: LiveServer
    op: Operator
    payments: str
    frozen: str
    stripe: str
    database: str
    pending: str
    approved: str


def seed(live: LiveServer) -> Seeded:
    """Two projects (one frozen), a standard secret with two versions, a structured
    secret, one approved machine with a grant and one waiting for approval."""
    op = Operator(live)
    payments = op.project("payments")
    frozen = op.project("legacy-billing")
    stripe = op.secret(payments, "stripe-key", STRIPE)
    op.replace(stripe, ROTATED)
    database = op.secret(payments, "database", None, host="db.internal", password=DB_PASSWORD)
    op.post(f"/v1/admin/projects/{frozen}/freeze")
    approved = register_machine(live, op, "web-1", project_id=payments, grants=(stripe,))
    pending = register_machine(live, op, "batch-7", approve=False)
    return Seeded(
        live, op, payments, frozen, stripe, database, pending.machine_id, approved.machine_id
    )


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF field"
    return found.group(1)


@contextmanager
def logged_in(live: LiveServer) -> Iterator[httpx.Client]:
    """A client holding the dashboard's session cookie, logged in through the form."""
    with httpx.Client(base_url=live.url, timeout=30) as client:
        form = client.get("/login")
        assert form.status_code == 200
        done = client.post(
            "/login", data={"csrf": csrf_of(form.text), "email": OWNER, "password": PASSWORD}
        )
        assert done.status_code == 303 and done.headers["location"] == "/", done.text
        yield client
