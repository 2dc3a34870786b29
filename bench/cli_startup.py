"""Host CLI start-up: `keyledger --version`, `--help` and a `get` with the identity on disk,
each as a ratio to `python -c pass` timed in the same run (interleaved, median of pairs).

The `get` talks to a local stub that answers every signed read with a fixed value, so
the figure is the CLI's own cost (start, load the key, sign, one request, print), not the
server's. The bar (issue 14): both ratios ≤ 6.

    uv run python bench/cli_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

ROOT = Path(__file__).resolve().parent.parent
BAR = 6.0


class _Stub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"value": "bench-value"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _identity(home: Path, url: str) -> None:
    vault = home / "vaults" / "vault_bench"
    vault.mkdir(parents=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = vault / "private.pem"
    pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    pem.chmod(0o600)
    identity = {
        "machineId": "00000000-0000-4000-8000-000000000000",
        "machineName": "bench",
        "vaultId": "vault_bench",
        "apiUrl": url,
        "privateKeyPath": str(pem),
    }
    (vault / "identity.json").write_text(json.dumps(identity))


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[1:]} failed ({done.returncode}): {done.stderr.decode()[:300]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _identity(home, url)
        env = {"PATH": "/usr/bin:/bin", "KEYLEDGER_HOME": str(home), "HOME": str(home)}
        script = Path(sys.executable).parent / "keyledger"  # the console script, as users run it
        cli = [str(script)] if script.exists() else [sys.executable, "-m", "interfaces.cli.main"]
        commands = {
            "--version": [*cli, "--version"],
            "--help": [*cli, "--help"],
            "get": [*cli, "get", "sk_bench00000"],
        }
        base = [sys.executable, "-c", "pass"]
        for argv in [base, *commands.values()]:
            _wall(argv, env)  # warm-up: the page cache, .pyc files
        ratios: dict[str, list[float]] = {name: [] for name in commands}
        walls: dict[str, list[float]] = {name: [] for name in ["python -c pass", *commands]}
        for _ in range(rounds):
            for name, argv in commands.items():
                reference = _wall(base, env)
                measured = _wall(argv, env)
                walls["python -c pass"].append(reference)
                walls[name].append(measured)
                ratios[name].append(measured / reference)
    server.shutdown()
    print(f"{rounds} rounds, each command paired with `python -c pass` (median wall, ms):")
    for name, values in walls.items():
        print(f"  {name:16} {statistics.median(values) * 1000:7.1f}")
    print(f"ratio to `python -c pass` (median of pairs; bar ≤ {BAR:g}):")
    for name, values in ratios.items():
        median = statistics.median(values)
        verdict = "ok" if median <= BAR else "over"
        print(
            f"  {name:16} {median:5.2f}  (min {min(values):.2f}, max {max(values):.2f}) {verdict}"
        )


if __name__ == "__main__":
    main()
