"""`veritag serve` answers every demo state; `veritag verify` re-checks an answer on chain alone.

Servers run as the installed console script in a subprocess, on free ports and fresh data
directories, and are always stopped (with the anvil node they start) in a finalizer. The many
`veritag verify` calls run through the CLI's own ``main()`` in this process, which keeps the
suite fast; a few run as the real script too, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.verdicts import public_verdict
from ledger.anvil import AnvilNode, find_anvil
from ledger.chain import Chain
from ledger.errors import ChainError, InvalidDigitalLink
from ledger.identifiers import build_digital_link, parse_digital_link
from ledger.registry import Registry
from ledger.settings import Settings
from ledger.verify import verify_item
from veritag.cli import main
from veritag.commands.verify import VerificationMismatch, chain_summary, compare, verify_command
from veritag.demo_seed import DEMO_GTIN, DemoRoles, seed_demo
from veritag.serving import build_services
from veritag.session import Session

VERDICTS = {
    "in_shop": "authentic",
    "sold_and_claimed": "authentic",
    "in_transit": "authentic",
    "recalled": "recalled",
    "stolen": "stolen",
    "destroyed": "counterfeit",
    "unregistered": "counterfeit",
}
"""The verdict each demo item must get."""

REASONS = {
    "in_shop": ["registered"],
    "sold_and_claimed": ["registered"],
    "in_transit": ["registered"],
    "recalled": ["recalled"],
    "stolen": ["stolen"],
    "destroyed": ["destroyed"],
    "unregistered": ["unregistered_code"],
}

EVENTS = {
    "in_shop": 3,  # registered, shipped, received
    "sold_and_claimed": 5,  # … retail sale, claim
    "in_transit": 2,  # registered, shipped
    "recalled": 4,  # registered, shipped, received, recalled
    "stolen": 4,
    "destroyed": 4,
    "unregistered": 0,
}
"""How many events each demo item has on chain (its ``seq``)."""

ANVIL_CHAIN_ID = 31337
TX_HASH = re.compile(r"0x[0-9a-f]{64}")
START_TIMEOUT = 40.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def veritag_script() -> Path:
    """The console script of the environment running the tests (else the one on PATH)."""
    beside = Path(sys.executable).parent / "veritag"
    if beside.is_file():
        return beside
    found = shutil.which("veritag")
    if found is None:
        pytest.fail("the `veritag` console script is not installed (pip install -e .)")
    return Path(found)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without VERITAG_ settings (but the anvil binary), + ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k == "VERITAG_ANVIL" or not k.startswith("VERITAG_")
    }
    env.update(COLUMNS="200", **extra)
    return env


def http() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=10)


def scan(url: str) -> httpx.Response:
    with http() as client:
        return client.get(url, headers={"accept": "application/json"})


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def run_veritag(*args: str, env: dict[str, str], cwd: Path) -> Result:
    """The installed `veritag ARGS…` in a subprocess."""
    done = subprocess.run(
        [str(veritag_script()), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(args, done.returncode, done.stdout, done.stderr)


Veritag = Callable[..., Result]


@pytest.fixture
def veritag(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Veritag:
    """`veritag ARGS…` through the CLI's ``main()`` in this process, without VERITAG_ settings."""
    for name in list(os.environ):
        if name.startswith("VERITAG_"):
            monkeypatch.delenv(name)

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["veritag", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        out, err = capsys.readouterr()
        return Result(args, code, out, err)

    return run


@dataclass
class ServeProcess:
    """One `veritag serve …` subprocess; ``start`` waits until ``/healthz`` answers."""

    args: list[str]
    env: dict[str, str]
    logs: Path
    port: int
    process: subprocess.Popen[str] | None = None
    starts: int = 0
    _files: list[TextIO] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> dict[str, str]:
        """Start, wait until healthy, return the JSON line ``{state: url}`` it printed."""
        self.starts += 1
        stdout = self.logs / f"serve-{self.starts}.out"
        stderr = self.logs / f"serve-{self.starts}.err"
        self._files = [stdout.open("w"), stderr.open("w")]
        self.process = subprocess.Popen(
            [str(veritag_script()), "serve", *self.args, "--port", str(self.port)],
            env=self.env,
            cwd=self.logs,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1],
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        with http() as client:
            while True:
                if self.process.poll() is not None:
                    pytest.fail(
                        f"veritag serve exited with {self.process.returncode}:\n"
                        f"{stderr.read_text()}"
                    )
                try:
                    if client.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"veritag serve did not answer /healthz within {START_TIMEOUT:g} s:\n"
                        f"{stderr.read_text()}"
                    )
                time.sleep(0.2)
        lines = [line for line in stdout.read_text().splitlines() if line.startswith("{")]
        assert len(lines) <= 1, f"more than one JSON line printed: {lines}"
        printed: dict[str, str] = json.loads(lines[0]) if lines else {}
        return printed

    def stop(self) -> None:
        """Terminate (kill after 10 s); a no-op when not running."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self.process = None
        for file in self._files:
            file.close()
        self._files = []


# ───────────── serve on the in-memory chain ─────────────


@dataclass(frozen=True)
class MemoryDemo:
    url: str
    printed: dict[str, str]


@pytest.fixture(scope="module")
def memory_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryDemo]:
    root = tmp_path_factory.mktemp("serve-memory")
    server = ServeProcess(
        ["--chain", "memory", "--demo", "--data-dir", str(root / "data")],
        clean_env(),
        root,
        free_port(),
    )
    try:
        printed = server.start()
        yield MemoryDemo(server.url, printed)
    finally:
        server.stop()


def test_serve_demo_prints_the_json_line_that_v1_demo_lists(memory_demo: MemoryDemo) -> None:
    with http() as client:
        listed = client.get(f"{memory_demo.url}/v1/demo").json()

    assert memory_demo.printed == listed
    assert set(listed) == set(VERDICTS)
    assert all(url.startswith(f"{memory_demo.url}/01/{DEMO_GTIN}/21/") for url in listed.values())


@pytest.mark.parametrize("state", list(VERDICTS))
def test_each_demo_url_answers_its_verdict_as_json(memory_demo: MemoryDemo, state: str) -> None:
    response = scan(memory_demo.printed[state])

    assert response.status_code == 200
    answer = response.json()
    assert answer["verdict"] == VERDICTS[state]
    assert sorted(r["code"] for r in answer["reasons"]) == REASONS[state]
    assert answer["proof"]["seq"] == EVENTS[state]
    assert len(answer["proof"]["events"]) == EVENTS[state]


def test_a_malformed_link_answers_400_with_the_parsers_reason(memory_demo: MemoryDemo) -> None:
    link = f"{memory_demo.url}/01/123/21/A1"
    with pytest.raises(InvalidDigitalLink) as parsed:
        parse_digital_link(link)

    response = scan(link)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "InvalidDigitalLink",
        "status": 400,
        "detail": str(parsed.value),
    }


def test_the_openapi_docs_answer(memory_demo: MemoryDemo) -> None:
    with http() as client:
        docs = client.get(f"{memory_demo.url}/docs")
        schema = client.get(f"{memory_demo.url}/openapi.json")

    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/01/{path}" in schema.json()["paths"]


def memory_session(data_dir: Path) -> Session:
    return Session(Settings(chain="memory", data_dir=data_dir))


def test_without_demo_there_is_no_demo_listing(tmp_path: Path) -> None:
    services, _ = build_services(memory_session(tmp_path), demo=False, base_url="http://t")

    with TestClient(create_app(services)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/v1/demo").status_code == 404
    assert services.demo_codes is None


def test_demo_seeding_twice_on_one_chain_adds_nothing(tmp_path: Path) -> None:
    session = memory_session(tmp_path)
    first, _ = build_services(session, demo=True, base_url="http://t")
    block = first.registry.w3.eth.block_number

    again, _ = build_services(session, demo=True, base_url="http://t")

    assert again.registry.address == first.registry.address
    assert again.registry.w3.eth.block_number == block
    assert again.demo_codes == first.demo_codes


# ───────────── compare(): the API's answer against the chain's ─────────────


@dataclass(frozen=True)
class Answers:
    chain: dict[str, Any]
    """``chain_summary`` of the demo's recalled item."""
    api: dict[str, Any]
    """The API's honest JSON answer for the same item."""


@pytest.fixture(scope="module")
def recalled(chain: Chain, deployed: Registry) -> Iterator[Answers]:
    """The demo's recalled item on the shared in-memory chain, from both sides.

    Seeded once for the module, between a snapshot and a revert of the session's chain.
    """
    snapshot = chain.snapshot()
    try:
        roles = DemoRoles.from_dev_accounts(chain.dev_accounts)
        codes = seed_demo(deployed, None, roles, "http://t")
        link = parse_digital_link(codes["recalled"])
        assert link.gtin is not None
        assert link.serial is not None
        verdict = verify_item(deployed, link.gtin, link.serial)
        answer = public_verdict(
            verdict, Services(deployed), link=codes["recalled"], scan_count=0, first_seen=None
        )
        yield Answers(chain_summary(verdict), answer.model_dump(mode="json", by_alias=True))
    finally:
        chain.revert(snapshot)


def test_compare_finds_no_difference_in_an_honest_answer(recalled: Answers) -> None:
    assert recalled.chain["verdict"] == "recalled"
    assert compare(recalled.chain, recalled.api) == []


def test_compare_names_a_verdict_turned_authentic(recalled: Answers) -> None:
    forged = {
        **recalled.api,
        "verdict": "authentic",
        "reasons": [{"code": "registered", "message": "registered by brand 1"}],
    }

    assert compare(recalled.chain, forged) == [
        "verdict: chain says 'recalled', API says 'authentic'",
        "reasons: chain says ['recalled'], API says ['registered']",
    ]


def test_compare_names_a_changed_transaction_hash(recalled: Answers) -> None:
    events = [dict(e) for e in recalled.api["proof"]["events"]]
    real = events[1]["transaction"]
    events[1]["transaction"] = "0x" + "ab" * 32
    forged = {**recalled.api, "proof": {**recalled.api["proof"], "events": events}}

    differences = compare(recalled.chain, forged)

    assert len(differences) == 1
    assert differences[0].startswith("events: chain says [[1, ")
    assert f"[2, '{real}']" in differences[0]
    assert f"[2, '0x{'ab' * 32}']" in differences[0]


def test_compare_names_a_missing_event(recalled: Answers) -> None:
    proof = recalled.api["proof"]
    forged = {**recalled.api, "proof": {**proof, "events": proof["events"][:-1]}}
    chain_events = recalled.chain["events"]

    assert compare(recalled.chain, forged) == [
        f"events: chain says {chain_events!r}, API says {chain_events[:-1]!r}"
    ]


def test_compare_names_a_changed_item_and_contract(recalled: Answers) -> None:
    forged = {
        **recalled.api,
        "item": {**recalled.api["item"], "item_id": "0x" + "00" * 32},
        "proof": {**recalled.api["proof"], "contract": "0x" + "11" * 20},
    }

    assert compare(recalled.chain, forged) == [
        f"item_id: chain says {recalled.chain['item_id']!r}, API says '0x{'00' * 32}'",
        f"contract: chain says {recalled.chain['contract']!r}, API says '0x{'11' * 20}'",
    ]


@pytest.mark.parametrize(
    "forged",
    [
        {},
        {"verdict": "recalled", "reasons": "recalled", "item": None, "proof": None},
        {"verdict": "recalled", "reasons": ["recalled", {"x": 1}], "proof": {"events": [7]}},
    ],
    ids=["empty", "wrong-types", "malformed-members"],
)
def test_compare_reports_a_malformed_answer_as_differences(
    recalled: Answers, forged: dict[str, Any]
) -> None:
    differences = compare(recalled.chain, forged)

    named = [d.partition(":")[0] for d in differences]
    expected = ["reasons", "item_id", "chain_id", "contract", "seq", "events"]
    assert named == (["verdict", *expected] if "verdict" not in forged else expected)


def test_verification_mismatch_lists_each_difference() -> None:
    differences = ["verdict: chain says 'recalled', API says 'authentic'", "seq: chain says 4"]

    error = VerificationMismatch(differences)

    assert error.differences == differences
    assert error.status == 409
    assert str(error) == (
        "the API's answer differs from the chain's:\n"
        "  verdict: chain says 'recalled', API says 'authentic'\n"
        "  seq: chain says 4"
    )


# ───────────── verify: bad input ─────────────


def test_verify_refuses_a_malformed_link_with_the_parsers_message(
    veritag: Veritag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    link = "https://veritag.example/01/123/21/A1"
    with pytest.raises(InvalidDigitalLink) as parsed:
        parse_digital_link(link)

    result = veritag("verify", link)

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == f"error: {parsed.value}\n"
    assert list(tmp_path.iterdir()) == []  # refused before any chain or data directory


def test_verify_refuses_a_link_without_a_serial(
    veritag: Veritag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    link = f"https://veritag.example/01/{DEMO_GTIN}"

    result = veritag(
        "verify", link, "--rpc-url", "http://127.0.0.1:1", "--contract", "0x" + "1" * 40
    )
    with pytest.raises(InvalidDigitalLink) as raised:
        verify_command(link)

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: invalid GS1 Digital Link '{link}': verify needs a GTIN (01) and a serial (21) "
        "to name an item\n"
    )
    assert raised.value.uri == link
    assert list(tmp_path.iterdir()) == []


def test_verify_names_an_unreachable_rpc_url(veritag: Veritag) -> None:
    rpc_url = f"http://127.0.0.1:{free_port()}"

    result = veritag(
        "verify",
        f"https://veritag.example/01/{DEMO_GTIN}/21/A1",
        "--rpc-url",
        rpc_url,
        "--contract",
        "0x" + "1" * 40,
    )

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"error: cannot reach a JSON-RPC node at {rpc_url} (")
    assert "Traceback" not in result.stderr


def test_verify_refuses_a_contract_that_is_no_address(veritag: Veritag) -> None:
    result = veritag(
        "verify",
        f"https://veritag.example/01/{DEMO_GTIN}/21/A1",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--contract",
        "0x123",
    )

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: --contract '0x123' is not an Ethereum address (0x and 40 hex digits)\n"
    )


# ───────────── serve and verify on anvil ─────────────


@dataclass
class LocalDemo:
    """`veritag serve --chain local --demo` on its own anvil node and data directory."""

    server: ServeProcess
    data_dir: Path
    anvil_port: int
    env: dict[str, str]
    """Environment for `veritag` calls that use the data directory (and its anvil)."""
    printed: dict[str, str]
    """The JSON line the first run printed."""

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.anvil_port}"

    @property
    def contract(self) -> str:
        deployments = json.loads((self.data_dir / "deployments.json").read_text())
        address: str = deployments[str(ANVIL_CHAIN_ID)]["address"]
        return address

    def serving(self) -> LocalDemo:
        """Restart the server if a test stopped it."""
        if not self.server.running:
            self.server.stop()
            self.server.start()
        return self

    def block_number(self) -> int:
        with http() as client:
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
            return int(client.post(self.rpc_url, json=body).json()["result"], 16)


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDemo]:
    try:
        find_anvil()
    except ChainError as exc:
        pytest.skip(f"needs anvil: {exc}")
    root = tmp_path_factory.mktemp("serve-anvil")
    data_dir = root / "data"
    anvil_port = free_port()
    env = clean_env(VERITAG_ANVIL_PORT=str(anvil_port), VERITAG_DATA_DIR=str(data_dir))
    server = ServeProcess(
        ["--chain", "local", "--demo", "--data-dir", str(data_dir)], env, root, free_port()
    )
    # Started here, the node outlives each serve process (serve stops only a node it started),
    # so the tests can stop and restart the server and still read the chain.
    AnvilNode(data_dir, port=anvil_port).start()
    try:
        printed = server.start()
        yield LocalDemo(server, data_dir, anvil_port, env, printed)
    finally:
        server.stop()
        AnvilNode(data_dir, port=anvil_port).stop()


def verify_json(veritag: Veritag, demo: LocalDemo, state: str) -> dict[str, Any]:
    result = veritag(
        "verify", demo.printed[state], "--rpc-url", demo.rpc_url, "--contract", demo.contract,
        "--json",
    )  # fmt: skip
    assert (result.code, result.stderr) == (0, ""), result
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.anvil
def test_serve_on_anvil_lists_every_demo_state(local_demo: LocalDemo) -> None:
    with http() as client:
        listed = client.get(f"{local_demo.serving().server.url}/v1/demo").json()

    assert listed == local_demo.printed
    assert set(listed) == set(VERDICTS)


@pytest.mark.anvil
def test_verify_against_the_running_api_says_the_answers_agree(
    local_demo: LocalDemo, veritag: Veritag
) -> None:
    demo = local_demo.serving()

    as_user = run_veritag(
        "verify", demo.printed["recalled"], "--against-api", demo.server.url,
        env=demo.env, cwd=demo.data_dir.parent,
    )  # fmt: skip
    each = {}
    for state, url in demo.printed.items():
        each[state] = veritag(
            "verify", url, "--rpc-url", demo.rpc_url, "--contract", demo.contract,
            "--against-api", demo.server.url,
        )  # fmt: skip

    assert (as_user.code, as_user.stderr) == (0, ""), as_user
    assert as_user.stdout.startswith("recalled — its brand recalled it\n")
    assert f"✔ {demo.server.url} gives the same answer as the chain" in as_user.stdout
    for state, result in each.items():
        assert (result.code, result.stderr) == (0, ""), (state, result)
        assert result.stdout.startswith(f"{VERDICTS[state]} — ")
        assert f"{demo.server.url} gives the same answer as the chain" in result.stdout


@pytest.mark.anvil
def test_verify_reads_every_verdict_from_the_chain_with_the_server_stopped(
    local_demo: LocalDemo, veritag: Veritag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_demo.server.stop()
    with pytest.raises(httpx.TransportError):
        scan(f"{local_demo.server.url}/healthz")
    monkeypatch.chdir(tmp_path)  # no data directory, no database here

    summaries = {state: verify_json(veritag, local_demo, state) for state in VERDICTS}
    as_user = run_veritag(
        "verify", local_demo.printed["stolen"], "--rpc-url", local_demo.rpc_url,
        "--contract", local_demo.contract, "--json", env=clean_env(), cwd=tmp_path,
    )  # fmt: skip

    for state, summary in summaries.items():
        assert summary["verdict"] == VERDICTS[state], state
        assert summary["reasons"] == REASONS[state], state
        assert summary["seq"] == EVENTS[state], state
        assert [seq for seq, _ in summary["events"]] == list(range(1, EVENTS[state] + 1))
        assert all(TX_HASH.fullmatch(tx) for _, tx in summary["events"]), state
        assert (summary["chain_id"], summary["contract"]) == (ANVIL_CHAIN_ID, local_demo.contract)
    assert (as_user.code, as_user.stderr) == (0, ""), as_user
    assert json.loads(as_user.stdout) == summaries["stolen"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anvil
def test_a_restart_keeps_every_item_and_seeds_nothing_again(
    local_demo: LocalDemo, veritag: Veritag
) -> None:
    before = {state: verify_json(veritag, local_demo, state) for state in VERDICTS}
    block = local_demo.block_number()
    local_demo.server.stop()

    printed = local_demo.server.start()

    assert printed == local_demo.printed
    assert local_demo.block_number() == block  # the second seeding sent no transaction
    with http() as client:
        assert client.get(f"{local_demo.server.url}/v1/demo").json() == printed
    for state, url in printed.items():
        answer = scan(url).json()
        assert answer["verdict"] == VERDICTS[state], state
        assert compare(before[state], answer) == [], state


class ForgedApi(BaseHTTPRequestHandler):
    """Answers every GET with the server's ``body`` (200, its ``content_type``)."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, ForgedServer)
        self.send_response(200)
        self.send_header("content-type", server.content_type)
        self.send_header("content-length", str(len(server.body)))
        self.end_headers()
        self.wfile.write(server.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class ForgedServer(ThreadingHTTPServer):
    body: bytes = b""
    content_type = "application/json"


@pytest.fixture
def forged_api() -> Iterator[ForgedServer]:
    """A fake Veritag API on a free port; set ``body`` to what it should answer."""
    server = ForgedServer(("127.0.0.1", 0), ForgedApi)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def api_url(server: ForgedServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


@pytest.mark.anvil
def test_verify_against_a_forged_api_exits_1_naming_the_differences(
    local_demo: LocalDemo, forged_api: ForgedServer
) -> None:
    demo = local_demo.serving()
    link = demo.printed["recalled"]
    honest = scan(link).json()
    chain_events = [[e["seq"], e["transaction"]] for e in honest["proof"]["events"]]
    honest["verdict"] = "authentic"
    honest["reasons"] = [{"code": "registered", "message": "registered by brand 1"}]
    honest["proof"]["events"][0]["transaction"] = "0x" + "ab" * 32
    forged_api.body = json.dumps(honest).encode()

    result = run_veritag(
        "verify", link, "--rpc-url", demo.rpc_url, "--contract", demo.contract,
        "--against-api", api_url(forged_api), env=clean_env(), cwd=demo.data_dir.parent,
    )  # fmt: skip

    forged_events = [[1, "0x" + "ab" * 32], *chain_events[1:]]
    assert result.code == 1
    assert result.stdout.startswith("recalled — its brand recalled it\n")
    assert result.stderr == (
        "error: the API's answer differs from the chain's:\n"
        "  verdict: chain says 'recalled', API says 'authentic'\n"
        "  reasons: chain says ['recalled'], API says ['registered']\n"
        f"  events: chain says {chain_events!r}, API says {forged_events!r}\n"
    )


@pytest.mark.anvil
@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text/html", b"<html>not an API</html>", "did not answer JSON; is it a Veritag API?"),
        ("application/json", b"[1, 2]", "answered JSON that is not a verdict object"),
    ],
    ids=["html", "json-list"],
)
def test_verify_against_something_that_is_no_veritag_api_exits_1(
    local_demo: LocalDemo,
    forged_api: ForgedServer,
    veritag: Veritag,
    content_type: str,
    body: bytes,
    message: str,
) -> None:
    forged_api.content_type, forged_api.body = content_type, body
    link = local_demo.printed["in_shop"]
    url = api_url(forged_api) + f"/01/{DEMO_GTIN}/21/DEMO-SHOP"

    result = veritag(
        "verify", link, "--rpc-url", local_demo.rpc_url, "--contract", local_demo.contract,
        "--against-api", api_url(forged_api),
    )  # fmt: skip

    assert result.code == 1
    assert result.stderr == f"error: the API at {url} {message}\n"


@pytest.mark.anvil
def test_verify_names_a_contract_address_without_code(
    local_demo: LocalDemo, veritag: Veritag
) -> None:
    nowhere = "0x" + "12" * 20

    result = veritag(
        "verify", build_digital_link(DEMO_GTIN, "DEMO-SHOP", "https://veritag.example"),
        "--rpc-url", local_demo.rpc_url, "--contract", nowhere,
    )  # fmt: skip

    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: no contract at {nowhere} on chain {ANVIL_CHAIN_ID} ({local_demo.rpc_url}); "
        "check --contract and --rpc-url against the proof of the answer\n"
    )


@pytest.mark.anvil
def test_verify_epcis_checks_every_event_of_the_apis_export_against_the_chain(
    local_demo: LocalDemo, veritag: Veritag, tmp_path: Path
) -> None:
    demo = local_demo.serving()
    link = parse_digital_link(demo.printed["sold_and_claimed"])
    with http() as client:
        exported = client.get(f"{demo.server.url}/v1/epcis/items/{link.gtin}/{link.serial}").json()
    good, bad = tmp_path / "export.jsonld", tmp_path / "altered.jsonld"
    good.write_text(json.dumps(exported))
    altered = json.loads(json.dumps(exported))
    altered["epcisBody"]["eventList"][1]["destinationList"][0]["destination"] = (
        f"did:pkh:eip155:{ANVIL_CHAIN_ID}:0x{'ab' * 20}"
    )
    bad.write_text(json.dumps(altered))
    chain = ("--rpc-url", demo.rpc_url, "--contract", demo.contract)

    checked = veritag("verify", "--epcis", str(good), *chain, "--json")
    refused = veritag("verify", "--epcis", str(bad), *chain)

    assert (checked.code, checked.stderr) == (0, ""), checked
    checks = json.loads(checked.stdout)
    assert [c["ok"] for c in checks] == [True] * len(exported["epcisBody"]["eventList"])
    assert [c["eventID"] for c in checks] == [
        e["eventID"] for e in exported["epcisBody"]["eventList"]
    ]
    assert refused.code == 1
    assert "✘ event 1 " in refused.stdout
    assert refused.stderr == (f"error: 1 of {len(checks)} event(s) do not hold on chain: index 1\n")
