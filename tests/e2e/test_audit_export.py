"""`keyledger audit export` against a live server's store, in both modes.

A secret is written and read through the server, then exported in every format: the
value appears in none. An exporter streaming syslog over TCP is SIGKILLed while it
waits on a receiver that stopped reading (where a real kill most often finds it:
on the network), and `--resume` then completes the stream: every record exactly
once by id, each log in its order. The record cut by the kill is an incomplete
octet-counted frame, which the receiver drops like any RFC 6587 receiver.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from typer.testing import CliRunner

from interfaces.cli import main
from tests.e2e.conftest import ROOT, LiveServer
from tests.e2e.export_kills import (
    file_killed_between_write_and_cursor,
    file_killed_in_its_first_delivery,
    tcp_killed_between_send_and_cursor,
)
from tests.e2e.machine_helpers import Operator, register_machine, signed
from tests.siem_receivers import HecReceiver, TcpReceiver, lines

VALUE = "sk_live_export_never_4c1e"
NEW_VALUE = "sk_live_export_never_again_77d0"
READS = 150  # enough that the records outgrow the sockets' buffers


def history(live: LiveServer) -> Operator:
    """A vault with a secret written, read by a machine, replaced, refused once."""
    op = Operator(live)
    project = op.project("payments")
    secret = op.secret(project, "STRIPE_KEY", VALUE)
    machine = register_machine(live, op, "web-1", project_id=project, grants=(secret,))
    with httpx.Client(timeout=30) as client:

        def read(_: int) -> str:
            request = signed(live, machine, "GET", f"/v1/secret/{secret}")
            return client.request(
                request.method, request.url, headers=request.headers, content=request.body
            ).text

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(read, range(READS)))
    assert all(VALUE in answer for answer in answers)  # the value really went out
    op.replace(secret, NEW_VALUE)
    return op


def export(live: LiveServer, *args: str, stdin: str | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "audit", "export", *args],
        cwd=ROOT,
        env=live.env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run(live: LiveServer, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """`audit export` in this process (the same command code, no interpreter start-up)."""
    result = CliRunner().invoke(main.app, ["audit", "export", *args], input=stdin, env=live.env)
    return result.exit_code, " ".join(result.output.split())


def exported_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in lines(path.read_bytes())]


def assert_each_log_in_order(ids: list[str]) -> None:
    ledger = [int(i) for i in ids if ":" not in i]
    assert ledger == sorted(ledger)
    lanes: dict[str, list[int]] = {}
    for lane, seq in (i.split(":") for i in ids if ":" in i):
        lanes.setdefault(lane, []).append(int(seq))
    for seqs in lanes.values():
        assert seqs == list(range(1, len(seqs) + 1))


def test_export_carries_no_value_survives_a_kill_and_refuses_bad_input(
    live: LiveServer, tmp_path: Path
) -> None:
    op = history(live)

    # Every format, to a file: the value is nowhere, the records are all there.
    outputs = {fmt: tmp_path / f"audit.{fmt}" for fmt in ("jsonl", "ocsf", "cef", "syslog")}
    for fmt, path in outputs.items():
        code, said = run(live, "--format", fmt, "--sink", f"f-{fmt}", "--to", f"file:{path}")
        assert code == 0 and "Exported" in said, said
    everything = exported_ids(outputs["jsonl"])
    assert len(set(everything)) == len(everything) > READS
    assert_each_log_in_order(everything)
    actions = [json.loads(line)["action"] for line in lines(outputs["jsonl"].read_bytes())]
    assert actions.count("secret_read") == READS
    assert {"secret_create", "secret_update", "machine_register"} <= set(actions)
    for fmt, path in outputs.items():
        raw = path.read_bytes()
        assert len(lines(raw)) == len(everything), fmt
        for value in (VALUE, NEW_VALUE):
            assert value.encode() not in raw, fmt
            assert base64.b64encode(value.encode()) not in raw, fmt

    # Nothing new: a resumed sink sends nothing and says so.
    jsonl = ("--format", "jsonl", "--sink", "f-jsonl", "--to", f"file:{outputs['jsonl']}")
    code, said = run(live, *jsonl, "--resume")
    assert code == 0 and "Exported 0 record(s)" in said, said
    assert exported_ids(outputs["jsonl"]) == everything

    # SIGKILL mid-stream, then --resume: exactly once by id, each log in order.
    receiver = TcpReceiver(pause_after=16 * 1024)
    to = ("--format", "ocsf", "--sink", "siem", "--to", f"tcp://127.0.0.1:{receiver.port}")
    first = export(live, *to)
    deadline = time.monotonic() + 30
    while not receiver.paused.is_set():
        assert time.monotonic() < deadline and first.poll() is None, "exporter never streamed"
        time.sleep(0.005)
    time.sleep(0.5)  # the exporter fills the socket buffers and waits on the receiver
    assert first.poll() is None, "the whole export fit in the socket buffers: add records"
    first.send_signal(signal.SIGKILL)
    first.wait()
    receiver.paused.clear()
    resumed = export(live, *to, "--resume", "--follow", "--interval", "0.1")

    def delivered() -> list[str]:
        return [json.loads(x)["metadata"]["uid"] for c in receiver.connections for x in lines(c)]

    def wait_until(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline and resumed.poll() is None
            time.sleep(0.02)

    wait_until(lambda: len(receiver.connections) == 2 and len(delivered()) >= len(everything))
    ids = delivered()
    assert 10 <= len(lines(receiver.connections[0])) < len(everything)  # it was mid-stream
    assert len(ids) == len(set(ids)), "a record was delivered twice"
    assert sorted(ids) == sorted(everything), "a record was lost"
    assert_each_log_in_order(ids)

    # --follow: a record written now arrives on the same stream; SIGTERM ends it cleanly.
    op.project("billing")
    wait_until(lambda: len(delivered()) > len(everything))
    assert json.loads(lines(receiver.connections[1])[-1])["api"]["operation"] == "project_create"
    resumed.send_signal(signal.SIGTERM)
    _out, err = resumed.communicate(timeout=30)
    assert resumed.returncode == 0 and b"Exported" in err, err
    receiver.close()

    # A kill after a delivery, before its cursor commit: a file takes back the tail,
    # TCP sends those records again (nothing lost; see export_kills.py).
    op.project("after-file")
    file_killed_between_write_and_cursor(live, run, outputs["jsonl"])
    op.project("after-tcp")
    tcp_killed_between_send_and_cursor(live, run)
    file_killed_in_its_first_delivery(live, run, tmp_path)
    op.close()

    # Bad input and the HEC token, on the same server (one start per store is enough).
    bad_requests_exit_1_and_hec_takes_its_token_from_stdin(live, tmp_path)


def bad_requests_exit_1_and_hec_takes_its_token_from_stdin(
    live: LiveServer, tmp_path: Path
) -> None:
    path = tmp_path / "out.log"
    to = ("--to", f"file:{path}")
    cases = [
        (("--format", "cef", "--sink", "a", "--to", "ftp://x/y"), "unknown sink 'ftp://x/y'"),
        (("--format", "xml", "--sink", "a", *to), "unknown format 'xml'"),
        (("--format", "cef", "--sink", "a b", *to), "--sink is 1–100"),
        (("--format", "cef", "--sink", "a", "--from", "yesterday", *to), "not a time"),
        (
            ("--format", "cef", "--sink", "a", "--from", "2026-01-01", "--resume", *to),
            "one of them",
        ),
    ]
    for args, reason in cases:
        code, said = run(live, *args)
        assert code == 1, (args, said)
        assert reason in said, (args, said)
    assert not path.exists()  # nothing written
    sink = ("--format", "cef", "--sink", "a", *to)
    code, said = run(live, *sink, "--resume")
    assert code == 1 and "no cursor yet" in said, said
    assert run(live, *sink)[0] == 0
    code, said = run(live, *sink)
    assert code == 1 and "--resume continues it" in said, said
    code, said = run(live, *sink, "--from", "2999-01-01")
    assert code == 0 and "Exported 0 record(s)" in said, said

    token = "hec-4d1f-token"  # on stdin, never in argv; and never printed
    hec = HecReceiver(token, None)
    try:
        url = f"http://127.0.0.1:{hec.port}/services/collector"
        code, said = run(live, "--format", "ocsf", "--sink", "hec", "--to", url, stdin=token + "\n")
        assert code == 0, said
        assert token not in said
        assert hec.events and all(e["sourcetype"] == "keyledger:ocsf" for e in hec.events)
        classes = {e["event"]["class_uid"] for e in hec.events}
        assert classes == {6003, 3002, 3001}  # vault changes, login, machine lifecycle
        assert not hec.refused
        assert VALUE not in json.dumps(hec.events) and NEW_VALUE not in json.dumps(hec.events)
    finally:
        hec.close()
