"""Every answered read is durably audited, and a nonce answers once: under load, a kill,
a restart, and many copies of one request landing together.

One server per store, `--workers 2` (two API processes on one port) in a process
group of its own, shared by the module. The kill is SIGKILL to the whole group while
16 threads keep reads in flight: nothing gets to flush or shut down. What a machine
saw answered must then be in the access log after the restart, and must never be
answered again. Copies of one signed request sent together meet in the same commit
batches, in both processes: exactly one is answered, and the refusal of the others
must not cost any other request in those batches its answer.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STORES, LiveServer, module_server
from tests.e2e.machine_helpers import Machine, Operator, Signed, register_machine, signed

VALUE = "sk_live_records_guard_3b9d"
WORKERS = ("--workers", "2")
THREADS = 16
KILL_AFTER = 200  # answered reads before the kill; all records stay within one audit page
COPIES, OTHERS, BATCH_ROUNDS = 20, 20, 5


@dataclass
class Store:
    live: LiveServer
    op: Operator
    project: str
    secret: str

    def machine(self, name: str) -> Machine:
        return register_machine(
            self.live, self.op, name, project_id=self.project, grants=(self.secret,)
        )

    def read(self, machine: Machine) -> Signed:
        return signed(self.live, machine, "GET", f"/v1/secret/{self.secret}")

    def restart(self) -> None:
        self.live.kill()  # a no-op if it is dead already
        self.live.start(*WORKERS)
        token = self.op.http.headers["Authorization"]  # the session outlives the server
        self.op.http.close()
        self.op.http = httpx.Client(
            base_url=self.live.url, headers={"Authorization": token}, timeout=30
        )

    def records(self, machine: Machine) -> list[dict[str, Any]]:
        """This machine's audit entries; all of them, as the page is never full here."""
        entries = self.op.audit(limit=1000)
        assert len(entries) < 1000, "the audit page is full: older entries may be cut off"
        return [e for e in entries if e["machineId"] == machine.machine_id]


@pytest.fixture(scope="module", params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with ExitStack() as stack:
        live = module_server(stack, request.param, tmp_path_factory)
        live.own_group = True
        live.start(*WORKERS)
        op = Operator(live)
        stack.callback(lambda: op.close())
        project = op.project("payments")
        yield Store(live, op, project, op.secret(project, "stripe-key", VALUE))


TLS = ssl.create_default_context()  # built once: a client per thread would load it each time


def plain_client() -> httpx.Client:
    return httpx.Client(timeout=30, verify=TLS)


def send(client: httpx.Client, request: Signed) -> httpx.Response:
    return client.request(
        request.method, request.url, headers=request.headers, content=request.body
    )


def is_value(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json() == {"value": VALUE}


def is_replay_refusal(response: httpx.Response) -> bool:
    if response.status_code != 401:
        return False
    error = response.json().get("error", "").lower()
    return "replay" in error and VALUE not in response.text


@dataclass
class Load:
    """Reads sent until the server dies under them."""

    answered: list[Signed] = field(default_factory=list)  # 200 with the value
    unexpected: list[tuple[int, str]] = field(default_factory=list)  # never the value
    sent: int = 0  # answered, refused, or cut off by the kill
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)


def read_until_killed(store: Store, machine: Machine) -> Load:
    load = Load()

    def reader() -> None:
        with plain_client() as client:
            while True:
                request = store.read(machine)  # a fresh nonce every time
                with load.lock:
                    load.sent += 1
                try:
                    response = send(client, request)
                except httpx.TransportError:
                    return  # killed (in flight, or the next one after)
                with load.lock:
                    if is_value(response):
                        load.answered.append(request)
                        if len(load.answered) >= KILL_AFTER:
                            load.enough.set()
                    else:
                        load.unexpected.append((response.status_code, response.text[:200]))
                        load.enough.set()

    threads = [threading.Thread(target=reader) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        load.enough.wait(timeout=120)
    finally:
        store.live.kill()  # the whole process group, mid-load
        for thread in threads:
            thread.join(timeout=60)
    return load


def test_every_answered_read_is_audited_and_never_answered_again_after_sigkill(
    store: Store,
) -> None:
    machine = store.machine("under-load")
    load = read_until_killed(store, machine)
    store.restart()  # first: the module's other tests need the server whatever happens here
    assert load.unexpected == [], load.unexpected[:5]
    assert len(load.answered) >= KILL_AFTER
    assert load.sent < 900  # every record fits the audit page the check reads

    reads = [r for r in store.records(machine) if r["action"] == "secret_read"]
    assert all(r["secretId"] == store.secret for r in reads)
    # Audited before answered: each answer has its record (a request cut off in flight
    # may have one too, its answer lost).
    answered, recorded = len(load.answered), len(reads)
    assert answered <= recorded <= load.sent, f"{answered} answered, {recorded} recorded"

    # The same, request by request: an answered nonce stays used across the kill.
    with ThreadPoolExecutor(max_workers=8) as pool, plain_client() as client:
        replays = list(pool.map(lambda request: send(client, request), load.answered))
    assert all(is_replay_refusal(r) for r in replays), sorted({r.status_code for r in replays})

    with plain_client() as client:
        assert is_value(send(client, store.read(machine)))  # fresh requests are served
    verified = store.live.ok("audit", "verify", "--json").json()
    assert verified["intact"] is True, verified


def test_replayed_copies_in_one_batch_get_one_answer_and_spare_the_rest(store: Store) -> None:
    machine = store.machine("copies")
    for _round in range(BATCH_ROUNDS):
        copy = store.read(machine)
        requests = [copy] * COPIES + [store.read(machine) for _ in range(OTHERS)]
        gate = threading.Barrier(len(requests))

        def together(request: Signed) -> httpx.Response:
            with plain_client() as client:
                client.get(store.live.url + "/healthz")  # connected before the barrier
                gate.wait(timeout=60)
                return send(client, request)

        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            responses = list(pool.map(together, requests))
        copies, others = responses[:COPIES], responses[COPIES:]
        assert sum(is_value(r) for r in copies) == 1, sorted(r.status_code for r in copies)
        assert sum(is_replay_refusal(r) for r in copies) == COPIES - 1
        assert all(is_value(r) for r in others), sorted(r.status_code for r in others)

    entries = store.records(machine)
    reads = [e for e in entries if e["action"] == "secret_read"]
    replays = [
        e for e in entries if e["action"] == "auth_failure" and "replay" in (e["detail"] or "")
    ]
    # One read record per answer, one audited refusal per refused copy.
    assert len(reads) == BATCH_ROUNDS * (1 + OTHERS), len(reads)
    assert len(replays) == BATCH_ROUNDS * (COPIES - 1), len(replays)
