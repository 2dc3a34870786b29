"""Schema-driven fuzzing of the machine plane with schemathesis, against a live server.

Every machine-plane operation in the server's own OpenAPI document gets up to
`EXAMPLES` generated requests (schemathesis positive and negative data), each sent
in one of three ways: unsigned, with random signature headers, or correctly signed
by an approved machine, so the handlers behind the gate see the generated input
too. Whatever arrives, the server must answer without a 5xx; an unsigned or
randomly signed request to a signed route must never succeed; every error is
`{"error": "…"}`. Generation is derandomized: the same cases every run.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.e2e.conftest import LiveServer
from tests.e2e.fuzzing import Outcome, fuzz_settings
from tests.e2e.machine_helpers import Machine, Operator, register_machine, sign

MACHINE_PLANE = r"^/v1/(secret|secrets|verify-access|cli|bootstrap|machine)(/|$)"
UNSIGNED_ROUTES = ("/v1/bootstrap/",)  # the token (or nothing) is the credential there
EXAMPLES = 50

HEADER_TEXT = st.text(alphabet=string.printable.strip("\r\n\x0b\x0c"), max_size=60)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def raw_bodies(project_id: str, secret_id: str) -> st.SearchStrategy[bytes]:
    """Bodies for the signed POST routes, whose schema documents no body (they read
    raw bytes): mostly the right shape with real and bogus ids, some plain junk."""
    project = st.sampled_from([project_id, "proj_0000000000", secret_id]) | JSON_VALUES
    watched = st.sampled_from([secret_id, "sk_0000000000", project_id]) | JSON_SCALARS
    return st.one_of(
        st.fixed_dictionaries({"projectId": project}).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"watch": st.lists(watched, max_size=5)}).map(
            lambda v: json.dumps(v).encode()
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "projectId": project,
                "applicationId": JSON_VALUES,
                "watch": st.lists(watched, max_size=5) | JSON_VALUES,
            },
        ).map(lambda v: json.dumps(v).encode()),
        st.just(b""),
        st.binary(max_size=40),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    )


# Cycled per example (not drawn): an even share of each, whatever Hypothesis prefers.
AUTH_MODES = ("signed", "unsigned", "signed", "random-headers")


def _body_bytes(kwargs: dict[str, Any]) -> bytes | None:
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data")
    if data is None:
        return None
    return data.encode() if isinstance(data, str) else bytes(data)


def _random_headers(draw_values: dict[str, str], machine: Machine) -> dict[str, str]:
    headers = dict(draw_values)
    if headers.get("X-Machine-Id") == "<real>":
        headers["X-Machine-Id"] = machine.machine_id
    return headers


def fuzz_operation(
    operation: Any,
    live: LiveServer,
    machine: Machine,
    client: httpx.Client,
    outcome: Outcome,
    project_id: str,
    secret_id: str,
) -> None:
    strategies = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if "{secret_id}" in operation.path:  # sometimes the real secret, so reads get through
        strategies.insert(0, operation.as_strategy(path_parameters={"secret_id": secret_id}))
        # and a real id of the wrong kind: as unknown as a made-up one, never a 500
        strategies.append(operation.as_strategy(path_parameters={"secret_id": project_id}))
    if "{token}" in operation.path:  # a well-formed token: the script is served
        strategies.insert(0, operation.as_strategy(path_parameters={"token": "ab" * 24}))
    strategy = st.one_of(strategies)
    signed_route = not operation.path.startswith(UNSIGNED_ROUTES)
    random_headers = st.fixed_dictionaries(
        {},
        optional={
            "X-Machine-Id": st.just("<real>") | HEADER_TEXT,
            "X-Timestamp": HEADER_TEXT | st.integers().map(str),
            "X-Nonce": HEADER_TEXT,
            "X-Signature": HEADER_TEXT,
            "X-Agent-Id": HEADER_TEXT,
        },
    )

    counter = [0]

    @fuzz_settings(EXAMPLES)
    @given(
        case=strategy,
        extra_headers=random_headers,
        raw_body=raw_bodies(project_id, secret_id),
    )
    def run(case: Any, extra_headers: dict[str, str], raw_body: bytes) -> None:
        auth = AUTH_MODES[counter[0] % len(AUTH_MODES)]
        counter[0] += 1
        kwargs = case.as_transport_kwargs(base_url=live.url)
        headers = {
            k: v
            for k, v in kwargs.get("headers", {}).items()
            if k.lower() not in ("x-schemathesis-testcaseid",)
        }
        body = _body_bytes(kwargs)
        if body is None and operation.method.upper() == "POST" and signed_route:
            body = raw_body
            headers.setdefault("Content-Type", "application/json")
        url = httpx.URL(kwargs["url"])
        if auth == "random-headers":
            headers.update(_random_headers(extra_headers, machine))
        elif auth == "signed":
            ts = str(int(time.time()))
            nonce = base64.b64encode(secrets.token_bytes(16)).decode()
            headers.update(
                {
                    "X-Machine-Id": machine.machine_id,
                    "X-Timestamp": ts,
                    "X-Nonce": nonce,
                    "X-Signature": sign(
                        machine.key, case.method.upper(), url.path, ts, nonce, body or b""
                    ),
                }
            )
        label = f"{case.method} {url} auth={auth} body={(body or b'')[:80]!r}"
        try:
            response = client.request(
                case.method,
                url,
                headers=headers,
                params=kwargs.get("params") or None,
                content=body,
            )
        except (httpx.InvalidURL, UnicodeEncodeError, httpx.LocalProtocolError):
            return  # the client refused to build it: nothing reached the server
        outcome.judge(label, response, may_succeed=not signed_route or auth == "signed")

    run()


def test_machine_plane_survives_generated_requests(live: LiveServer) -> None:
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "stripe-key", "sk_live_value")
    machine = register_machine(live, op, "fuzz-1", project_id=project, grants=(secret,))

    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    results = list(schema.include(path_regex=MACHINE_PLANE).get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results  # the schema itself is sound
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    labels = {o.label for o in operations}
    assert {
        "GET /v1/secret/{secret_id}",
        "GET /v1/secrets",
        "POST /v1/secrets/list",
        "POST /v1/secrets/export",
        "POST /v1/secrets/poll",
        "POST /v1/verify-access",
        "GET /v1/cli/projects",
        "GET /v1/cli/secrets",
        "POST /v1/bootstrap/register",
        "GET /v1/bootstrap/{token}",
        "GET /v1/machine/whoami",
    } <= labels, labels

    outcome = Outcome()
    with httpx.Client(timeout=30) as client:
        outcome.run_all(
            sorted(operations, key=lambda o: o.label),
            lambda operation: fuzz_operation(
                operation, live, machine, client, outcome, project, secret
            ),
        )
    outcome.assert_clean(min_requests=len(operations) * 10)

    # The server is still healthy and the machine still reads its secret.
    assert httpx.get(f"{live.url}/healthz").status_code == 200
