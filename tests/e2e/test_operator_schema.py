"""Schema-driven fuzzing of the operator (admin) API with schemathesis, live server.

Every `/v1/admin/…` operation in the server's OpenAPI document gets up to `EXAMPLES`
generated requests (positive and negative data), most sent with a logged-in
operator's session and some without one. Ids in paths and bodies are sometimes the
real ones of the right kind, sometimes real ones of the wrong kind (a `proj_…` where
a secret belongs, a machine UUID naming a project) and otherwise whatever is
generated. The server must never answer 5xx; without a session nothing but the
public routes may succeed; every error is `{"error": "…"}`. Derandomized: the same
cases every run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from domain import ids
from tests.e2e.conftest import LiveServer
from tests.e2e.fuzzing import Outcome, fuzz_settings
from tests.e2e.machine_helpers import Operator, register_machine

OPERATOR_API = r"^/v1/admin/"
# Taking the session or the key away would turn the rest of the run into 401s and
# 503s by design; logout and seal are exercised by their own tests. The live audit
# stream never ends by design (test_audit_stream.py tests its refusals and its events).
SKIPPED = ("POST /v1/admin/logout", "POST /v1/admin/seal", "GET /v1/admin/audit/stream")
PUBLIC = ("/v1/admin/init", "/v1/admin/login", "/v1/admin/unseal", "/v1/admin/status")
DESTRUCTIVE = ("/delete", "/purge", "/revoke", "/remove", "/deny")
EXAMPLES = 20
AUTH_MODES = ("session", "session", "session", "none")


@dataclass(frozen=True)
class Known:
    """Real ids: each may stand in for an id of its own kind or of another."""

    project: str
    secret: str
    machine: str

    def candidates(self) -> list[str]:
        return [
            self.project,
            self.secret,
            self.machine,
            str(ids.aggregate_id(self.project)),
            str(ids.aggregate_id(self.secret)),
            str(uuid.uuid4()),
            "proj_0000000000",
            "sk_0000000000",
        ]


def _with_known_ids(case: Any, known: Known, n: int) -> Any:
    """Every other example: real ids (cycled over kinds) in the path and the body."""
    payload = case.body
    if n % 2:
        return payload
    values = known.candidates()
    for i, name in enumerate(sorted(case.path_parameters or {})):
        case.path_parameters[name] = values[(n // 2 + i) % len(values)]
    if isinstance(payload, dict):  # bodies refuse unknown fields: replace, never add
        payload = dict(payload)
        for i, name in enumerate(("projectId", "secretId")):
            if name in payload:
                payload[name] = values[(n // 2 + i) % len(values)]
    return payload


def fuzz_operation(
    operation: Any,
    live: LiveServer,
    token: str,
    client: httpx.Client,
    outcome: Outcome,
    known: Known,
) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    public = operation.path.startswith(PUBLIC)
    counter = [0]

    @fuzz_settings(EXAMPLES)
    @given(case=strategy)
    def run(case: Any) -> None:
        n = counter[0]
        counter[0] += 1
        auth = AUTH_MODES[n % len(AUTH_MODES)]
        payload = _with_known_ids(case, known, n)
        kwargs = case.as_transport_kwargs(base_url=live.url)
        headers = {
            k: v
            for k, v in kwargs.get("headers", {}).items()
            if k.lower() not in ("x-schemathesis-testcaseid", "authorization")
        }
        if auth == "session":
            headers["Authorization"] = f"Bearer {token}"
        label = f"{case.method} {kwargs['url']} auth={auth} params={kwargs.get('params')}"
        try:
            response = client.request(
                case.method,
                kwargs["url"],
                headers=headers,
                params=kwargs.get("params") or None,
                json=payload if "json" in kwargs else None,
                content=None if "json" in kwargs else kwargs.get("data"),
            )
        except (httpx.InvalidURL, UnicodeEncodeError, httpx.LocalProtocolError):
            return  # the client refused to build it: nothing reached the server
        sent = payload if "json" in kwargs else kwargs.get("data")
        label += f" body={str(sent)[:120]}"
        outcome.judge(label, response, may_succeed=public or auth != "none")

    run()


def _order(operation: Any) -> tuple[bool, str]:
    """Alphabetical, but what removes the known ids last, so the rest can use them."""
    return (operation.label.endswith(DESTRUCTIVE), operation.label)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_operator_api_survives_generated_requests(live: LiveServer) -> None:
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", "sk_live_value")
    machine = register_machine(live, op, "fuzz-1", project_id=project, grants=(secret,))
    known = Known(project, secret, machine.machine_id)
    token = op.http.headers["Authorization"].removeprefix("Bearer ")

    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    results = list(schema.include(path_regex=OPERATOR_API).get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results  # the schema itself is sound
    operations = [r.ok() for r in results if isinstance(r, Ok) and r.ok().label not in SKIPPED]
    labels = {o.label for o in operations}
    assert {
        "GET /v1/admin/audit",
        "POST /v1/admin/machines/{machine_id}/grants",
        "POST /v1/admin/machines/{machine_id}/projects",
        "GET /v1/admin/secrets/{secret_id}",
        "POST /v1/admin/projects/{project_id}/managed-secrets",
    } <= labels, labels

    outcome = Outcome()
    with httpx.Client(timeout=30) as client:
        outcome.run_all(
            sorted(operations, key=_order),
            lambda operation: fuzz_operation(operation, live, token, client, outcome, known),
        )
    outcome.assert_clean(min_requests=len(operations) * 5)
    assert httpx.get(f"{live.url}/healthz").status_code == 200
