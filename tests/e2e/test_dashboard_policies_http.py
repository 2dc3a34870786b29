"""The dashboard's Policies page over plain HTTP on both stores: a policy created from
the form is the one the operator API shows, bad input and a missing CSRF token save
nothing, binding and unbinding from the secret page, a bound policy's delete is
refused with the service's 409 message, and the dry-run renders recorded reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import VALUES, Seeded, csrf_of, logged_in, seed
from tests.e2e.machine_helpers import register_machine, send_signed

READ = "typed-POLICYPAGE-value-3d1f0e"


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
    for value in (*VALUES, READ):
        assert value not in body


def listing(v: Seeded) -> list[dict[str, Any]]:
    return list(v.op.get(f"/v1/admin/projects/{v.payments}/policies")["policies"])


def by_name(v: Seeded, name: str) -> dict[str, Any]:
    return next(p for p in listing(v) if p["name"] == name)


def create(client: httpx.Client, v: Seeded, **fields: str) -> httpx.Response:
    page = f"/projects/{v.payments}/policies"
    shown = client.get(page)
    assert shown.status_code == 200
    return client.post(page, data={"csrf": csrf_of(shown.text), **fields})


def on_secret_page(client: httpx.Client, v: Seeded, secret: str, verb: str, **f: str) -> Any:
    page = f"/projects/{v.payments}/secrets/{secret}"
    shown = client.get(page)
    assert shown.status_code == 200
    no_value_in(shown.text)
    data = {"csrf": csrf_of(shown.text), "secret_id": secret, **f}
    return client.post(f"/projects/{v.payments}/policies/{verb}", data=data)


def test_a_policy_created_with_axes_is_the_one_the_api_shows(
    vault: Seeded, client: httpx.Client
) -> None:
    assert (
        f'href="/projects/{vault.payments}/policies"'
        in client.get(f"/projects/{vault.payments}").text
    )
    done = create(
        client,
        vault,
        name="office-hours",
        time_start="08:00",
        time_end="18:00",
        time_zone="Europe/Oslo",
        day_mon="on",
        day_fri="on",
        ip_cidrs="10.0.0.0/8\r\n2001:db8::/32\r\n",
        max_per_minute="60",
        max_per_day="5000",
        ttl_expires_at="2099-01-01T00:00",
        ttl_max_reads="1000",
        rotate_after_reads="500",
    )
    page = f"/projects/{vault.payments}/policies"
    assert done.status_code == 303 and done.headers["location"] == f"{page}?done=policy-created"
    made = by_name(vault, "office-hours")
    assert made["enabledAxes"] == ["time_window", "ip_allowlist", "rate_cap", "ttl",
                                   "rotate_after_reads"]  # fmt: skip
    assert made["timeWindowDays"] == ["mon", "fri"] and made["timeWindowTimezone"] == "Europe/Oslo"
    assert made["ipAllowlistCidrs"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert made["ttlExpiresAt"] == 4070908800000 and made["rotateAfterReads"] == 500
    shown = client.get(done.headers["location"]).text
    assert "Policy created" in shown and "reads 08:00–18:00 Europe/Oslo on mon, fri" in shown
    assert "at most 60 per minute and 5000 per day" in shown and "rotated every 500 reads" in shown
    only_ip = create(client, vault, name="only-ip", ip_cidrs="192.0.2.0/24")
    assert only_ip.status_code == 303
    assert by_name(vault, "only-ip")["enabledAxes"] == ["ip_allowlist"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "time_start": "08:00",
                "time_end": "18:00",
                "time_zone": "Mars/Olympus",
                "day_mon": "on",
            },
            "Unknown time zone",
        ),
        (
            {"time_start": "25:00", "time_end": "18:00", "time_zone": "UTC", "day_mon": "on"},
            "HH:MM",
        ),
        ({"time_start": "08:00", "time_end": "18:00", "time_zone": "UTC"}, "at least one day"),
        ({"ip_cidrs": "10.0.0.0/33"}, "Invalid IP or CIDR"),
        ({"max_per_minute": "0"}, "above 0"),
        ({"max_per_day": "-3"}, "whole number"),
        ({"ttl_expires_at": "2001-01-01T00:00"}, "in the future"),
        ({"ttl_expires_at": "soon"}, "date and time"),
        ({"name": ""}, "must not be empty"),
    ],
)
def test_bad_input_shows_the_service_message_and_saves_nothing(
    vault: Seeded, client: httpx.Client, fields: dict[str, str], message: str
) -> None:
    before = listing(vault)
    refused = create(client, vault, **{"name": "refused-one", **fields})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert message in refused.text and "Nothing was saved" in refused.text, refused.text
    assert listing(vault) == before


def test_bind_unbind_and_a_bound_policy_is_not_deleted(vault: Seeded, client: httpx.Client) -> None:
    create(client, vault, name="bindable", max_per_day="100")
    policy = by_name(vault, "bindable")["id"]
    secret = vault.op.secret(vault.payments, "bound-one", READ)
    here = f"/projects/{vault.payments}/secrets/{secret}"
    assert "No policy" in client.get(here).text
    done = on_secret_page(client, vault, secret, "bind", policy_id=policy)
    assert done.status_code == 303 and done.headers["location"] == f"{here}?done=policy-bound"
    binding = f"/v1/admin/secrets/{secret}/binding"
    assert vault.op.get(binding)["policyId"] == policy
    shown = client.get(done.headers["location"]).text
    assert "Policy bound" in shown and "Unbind bindable" in shown
    assert by_name(vault, "bindable")["boundSecrets"] == [secret]
    page = f"/projects/{vault.payments}/policies"
    delete = client.post(f"{page}/{policy}/delete", data={"csrf": csrf_of(client.get(page).text)})
    assert delete.status_code == 409 and "is bound to 1 secret(s); unbind first" in delete.text
    assert by_name(vault, "bindable")["id"] == policy
    unbound = on_secret_page(client, vault, secret, "unbind")
    assert unbound.headers["location"] == f"{here}?done=policy-unbound"
    assert vault.op.get(binding)["policyId"] is None
    gone = client.post(f"{page}/{policy}/delete", data={"csrf": csrf_of(client.get(page).text)})
    assert gone.headers["location"] == f"{page}?done=policy-deleted"
    assert "bindable" not in [p["name"] for p in listing(vault)]
    foreign = on_secret_page(client, vault, secret, "bind", policy_id="pol_unknown")
    assert foreign.status_code == 400 and vault.op.get(binding)["policyId"] is None


def test_every_policy_form_refuses_a_missing_or_wrong_csrf_token(
    vault: Seeded, client: httpx.Client
) -> None:
    create(client, vault, name="guarded", max_per_day="10")
    policy = by_name(vault, "guarded")["id"]
    before = listing(vault)
    base = f"/projects/{vault.payments}/policies"
    fields = {"name": "forged", "secret_id": vault.stripe, "policy_id": policy}
    for path in (base, f"{base}/{policy}/delete", f"{base}/bind", f"{base}/unbind"):
        for token in ({}, {"csrf": "0" * 64}):
            assert client.post(path, data={**fields, **token}).status_code == 403, path
    assert listing(vault) == before
    assert vault.op.get(f"/v1/admin/secrets/{vault.stripe}/binding")["policyId"] is None


def test_the_dry_run_shows_allowed_and_blocked_per_machine_and_day(
    vault: Seeded, client: httpx.Client
) -> None:
    secret = vault.op.secret(vault.payments, "dry-read", READ)
    reader = register_machine(
        vault.live, vault.op, "dry-reader", project_id=vault.payments, grants=(secret,)
    )
    for _ in range(2):
        assert send_signed(vault.live, reader, "GET", f"/v1/secret/{secret}").status_code == 200
    create(client, vault, name="far-away", ip_cidrs="10.0.0.0/8")
    policy = by_name(vault, "far-away")["id"]
    assert on_secret_page(client, vault, secret, "bind", policy_id=policy).status_code == 303
    page = client.get(f"/projects/{vault.payments}/policies/{policy}/dry-run", params={"days": 7})
    assert page.status_code == 200
    assert "<strong>2</strong> reads" in page.text and "2 blocked" in page.text
    assert (
        f"dry-reader <code>{reader.machine_id}</code>" in page.text
        and "ip allowlist (2)" in page.text
    )
    no_value_in(page.text)
    bad = client.get(f"/projects/{vault.payments}/policies/{policy}/dry-run?days=500")
    assert bad.status_code == 400 and "days must be a whole number" in bad.text
    other = client.get(f"/projects/{vault.frozen}/policies/{policy}/dry-run")
    assert other.status_code == 404
