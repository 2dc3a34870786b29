"""The dashboard's templates render with the app's own Jinja2 config and escape every
name a user chose: a project or machine name is data, never markup."""

from __future__ import annotations

from typing import Any

import pytest

from interfaces.web.wiring import template_config, when

HOSTILE = '<script>alert("x")</script>'
CSRF = "f" * 64


ALLOWLIST = {"enabled": True, "entries": [{"cidr": "10.0.0.0/8", "label": HOSTILE, "id": "ip_1"}]}


def render(name: str, **context: Any) -> str:
    engine = template_config().to_engine()
    context.setdefault("allowlist", ALLOWLIST)  # the machines page's allowlist panel
    return engine.get_template(name).render(csrf=CSRF, section="", **context)


def project(**extra: Any) -> dict[str, Any]:
    return {
        "id": "proj_abc",
        "name": HOSTILE,
        "description": HOSTILE,
        "secretCount": 1,
        "createdAt": 0,
        **extra,
    }


def machine(status: str, enabled: bool = True) -> dict[str, Any]:
    return {
        "id": "mach_abc",
        "name": HOSTILE,
        "hostname": HOSTILE,
        "status": status,
        "enabled": enabled,
        "projects": [],
        "grantCount": 0,
        "createdAt": 0,
    }


SECRET = {
    "id": "sec_abc",
    "name": HOSTILE,
    "note": HOSTILE,
    "type": "standard",
    "version": 3,
    "updatedAt": 0,
}
ALERT = {
    "timestamp": 0,
    "severity": "critical",
    "action": "canary_triggered",
    "actorKind": "machine",
    "sourceIp": "10.0.0.1",
    "detail": HOSTILE,
}

PAGES = [
    ("login.html", {"error": HOSTILE, "email": HOSTILE}),
    (
        "overview.html",
        {
            "project_count": 1,
            "secret_count": 1,
            "machine_count": 1,
            "pending": [machine("pending")],
            "frozen": [project()],
            "alerts": [ALERT],
            "managed": {"failed": 1, "held": 0, "unhealthy": 1},
        },
    ),
    ("projects.html", {"projects": [project()], "frozen": {"proj_abc"}}),
    (
        "project.html",
        {
            "project": project(),
            "frozen": True,
            "secrets": [SECRET],
            "q": HOSTILE,
            "page_number": 2,
            "has_next": True,
            "total": 51,
            "first_shown": 51,
            "last_shown": 51,
            "trash_count": 0,
        },
    ),
    ("machines.html", {"machines": [machine("pending")], "pending": [machine("pending")]}),
]


@pytest.mark.parametrize(("name", "context"), PAGES, ids=[p[0] for p in PAGES])
def test_every_page_escapes_user_chosen_names(name: str, context: dict[str, Any]) -> None:
    html = render(name, **context)
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    assert f'name="csrf" value="{CSRF}"' in html  # every form carries the token


@pytest.mark.parametrize(
    ("status", "enabled", "badge"),
    [
        ("pending", True, "Pending approval"),
        ("approved", True, "Approved"),
        ("approved", False, "Disabled"),
        ("denied", True, "Denied"),
        ("revoked", False, "Revoked"),
    ],
)
def test_machine_status_badges_say_it_in_words(status: str, enabled: bool, badge: str) -> None:
    html = render("machines.html", machines=[machine(status, enabled)], pending=[])
    assert f">{badge}</span>" in html


@pytest.mark.parametrize(
    ("name", "context", "next_step"),
    [
        ("projects.html", {"projects": [], "frozen": set()}, "keyledger project create"),
        ("machines.html", {"machines": [], "pending": []}, "keyledger machine token"),
        (
            "project.html",
            {"project": project(name="p"), "frozen": False, "secrets": []},
            "keyledger secret create --project proj_abc",
        ),
    ],
)
def test_empty_states_say_what_to_do_next(
    name: str, context: dict[str, Any], next_step: str
) -> None:
    assert next_step in render(name, **context)


def test_times_are_shown_in_utc() -> None:
    assert when(0) == "1970-01-01 00:00:00 UTC"
    assert when(None) == ""
