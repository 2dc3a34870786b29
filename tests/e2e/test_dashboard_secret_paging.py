"""A project of 10,000 secrets on the dashboard, on both stores: its page holds one page
of 50 rows (paged in SQL), the pager walks to the last one, and search by name finds
one secret among them. The rows are written straight into the read model (as the
projector would), so the test seeds in a second, not in minutes of sealing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import create_engine, insert

from domain import ids
from infrastructure.database import secrets_table
from tests.e2e.conftest import STORES, module_server
from tests.e2e.dashboard_helpers import logged_in
from tests.e2e.machine_helpers import Operator

BULK = 10_000
ROW = re.compile(r'<a href="/projects/proj_[^/"]+/secrets/(sk_[^"]+)">')


@pytest.fixture(scope="module", params=STORES)
def big(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, str, str]]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.start()
        op = Operator(live)
        stack.callback(op.close)
        project = op.project("bulk")
        needle = op.secret(project, "needle-in-the-haystack", "needle-VALUE-0b1f")
        engine = create_engine(live.settings.state_db_url())
        stack.callback(engine.dispose)
        rows = []
        for n in range(BULK):
            secret_id = ids.new_public_id(ids.SECRET)
            rows.append(
                {
                    "secret_id": secret_id,
                    "aggregate_id": str(ids.aggregate_id(secret_id)),
                    "project_id": project,
                    "name": f"bulk-{n:05d}",
                    "type": "standard",
                    "field_names": None,
                    "version": 1,
                    "note": "",
                    "created_ms": 1_700_000_000_000 + n,
                    "updated_ms": 1_700_000_000_000 + n,
                    "deleted_ms": None,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(secrets_table), rows)
        client = stack.enter_context(logged_in(live))
        yield client, project, needle


def listed(html: str) -> list[str]:
    return ROW.findall(html)


def test_the_project_page_holds_one_page_of_fifty(big: tuple[httpx.Client, str, str]) -> None:
    client, project, _needle = big
    first = client.get(f"/projects/{project}")
    assert first.status_code == 200
    assert len(listed(first.text)) == 50
    assert f"1–50 of {BULK + 1} secrets" in first.text
    assert "bulk-00000" in first.text and "bulk-00050" not in first.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = client.get(f"/projects/{project}", params={"page": "2"})
    assert len(listed(second.text)) == 50 and "bulk-00050" in second.text
    assert not set(listed(first.text)) & set(listed(second.text))
    last = client.get(f"/projects/{project}", params={"page": str(BULK // 50 + 1)})
    assert len(listed(last.text)) == 1 and "needle-in-the-haystack" in last.text
    assert 'rel="next"' not in last.text
    for junk in ("0", "-3", "x", "9" * 30):  # anything but a page number is page 1
        shown = client.get(f"/projects/{project}", params={"page": junk})
        assert shown.status_code == 200 and "bulk-00000" in shown.text


def test_search_finds_one_secret_among_ten_thousand(big: tuple[httpx.Client, str, str]) -> None:
    client, project, needle = big
    found = client.get(f"/projects/{project}", params={"q": "NEEDLE"})
    assert listed(found.text) == [needle]
    assert "1–1 of 1 secret" in found.text and "needle-VALUE-0b1f" not in found.text
    one = client.get(f"/projects/{project}", params={"q": "bulk-0734"})
    assert len(listed(one.text)) == 10 and "1–10 of 10 secrets" in one.text
    paged = client.get(f"/projects/{project}", params={"q": "bulk-0", "page": "3"})
    assert "101–150 of" in paged.text and "q=bulk-0" in paged.text  # the pager keeps q
    none = client.get(f"/projects/{project}", params={"q": "100%_"})  # LIKE signs are text
    assert listed(none.text) == [] and "No secret name contains" in none.text
