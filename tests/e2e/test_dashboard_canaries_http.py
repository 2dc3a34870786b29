"""The dashboard's canaries page over plain HTTP on both stores: a tripped canary's fire
count and last trip, the freeze banner, and Unfreeze behind the CSRF token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import register_machine, signed


@dataclass
class Tripped:
    vault: Seeded
    project: str
    canary: str
    value: str  # the canary's server-generated value, read by the machine


@pytest.fixture(scope="module", params=STORES)
def tripped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tripped]:
    with ExitStack() as stack:
        env = {"KEYLEDGER_ALLOW_LOOPBACK_WEBHOOKS": "1"}  # a webhook with nobody listening
        live = module_server(stack, request.param, tmp_path_factory, **env)
        live.start()
        vault = seed(live)
        stack.callback(vault.op.close)
        project = vault.op.project("ledger-sync")
        made = live.ok("canary", "create", "--project", project, "--name", "aws-root-key", "--json")
        canary = json.loads(made.stdout)["id"]
        reader = register_machine(live, vault.op, "reader", project_id=project, grants=(canary,))
        read = signed(live, reader, "GET", f"/v1/secret/{canary}").send()
        assert read.status_code == 200, read.text
        yield Tripped(vault, project, canary, str(read.json()["value"]))


def unfreezes(t: Tripped) -> int:
    query = {"actions": "project_unfreeze"}
    return int(t.vault.op.get("/v1/admin/audit/query", **query)["total"])


def test_the_canaries_page_shows_the_trip_and_the_frozen_projects(tripped: Tripped) -> None:
    with logged_in(tripped.vault.live) as client:
        page = client.get("/canaries")
    assert page.status_code == 200
    row = page.text[page.text.index("aws-root-key") : page.text.index(tripped.canary)]
    assert "Armed" in row and "1 time<" in row and "Never" not in row and "ledger-sync" in row
    assert "Unfreeze ledger-sync" in page.text and "Unfreeze legacy-billing" in page.text
    for value in VALUES:
        assert value not in page.text
    assert len(tripped.value) >= 32 and tripped.value not in page.text  # nor a canary's


def test_unfreeze_without_or_with_a_wrong_csrf_token_changes_nothing(tripped: Tripped) -> None:
    before = unfreezes(tripped)
    with logged_in(tripped.vault.live) as client:
        for form in ({}, {"csrf": "0" * 64}, {"csrf": ""}):
            refused = client.post(f"/canaries/unfreeze/{tripped.project}", data=form)
            assert refused.status_code == 403
        assert "Unfreeze ledger-sync" in client.get("/canaries").text
    assert unfreezes(tripped) == before


def test_unfreeze_with_the_token_lifts_the_freeze(tripped: Tripped) -> None:
    frozen = tripped.vault.frozen
    before = unfreezes(tripped)
    with logged_in(tripped.vault.live) as client:
        csrf = csrf_of(client.get("/canaries").text)
        done = client.post(f"/canaries/unfreeze/{frozen}", data={"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == "/canaries"
        after = client.get("/canaries").text
        assert "Unfreeze legacy-billing" not in after and "Unfreeze ledger-sync" in after
        bad = client.post("/canaries/unfreeze/not-a-project", data={"csrf": csrf})
        assert bad.status_code in (400, 404)
    assert unfreezes(tripped) == before + 1


def test_the_alerts_page_shows_webhook_health_never_its_signing_secret(tripped: Tripped) -> None:
    op = tripped.vault.op
    with logged_in(tripped.vault.live) as client:
        empty = client.get("/alerts")
        url = "https://127.0.0.1:9/keyledger/dashboard"
        added = op.post("/v1/admin/webhooks", {"url": url, "actions": ["secret_create"]})
        page = client.get("/alerts")
    assert empty.status_code == 200 and "No webhooks yet" in empty.text
    assert "No alert mail yet" in empty.text  # no SMTP configured: says what to do
    assert page.status_code == 200 and url in page.text and added["id"] in page.text
    assert "Healthy" in page.text or "Failing" in page.text
    assert len(added["signingSecret"]) >= 16 and added["signingSecret"] not in page.text
    for value in (*VALUES, tripped.value):
        assert value not in page.text
