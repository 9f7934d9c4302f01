"""`veritag bench scan`: throughput and latency of the scan route beside a trivial route.

One run: anvil in the background, a registry with one item whose history has 6 events,
`veritag serve` (uvicorn, one process) in a subprocess on that chain, and a load client in a
second process that keeps C requests in flight for a fixed time against the scan URL and
against `/healthz` (no chain, no store) of the same app: `wrk` when it is installed (Debian's
package; scripts/setup.sh installs it), else a Python client (httpx, asyncio). Figures are
requests per second and latency percentiles of completed requests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger.anvil import AnvilNode
from ledger.identifiers import build_digital_link, item_id
from ledger.settings import Settings
from veritag.session import Session

__all__ = ["ScanBench", "run_scan_bench"]

GTIN = "00614141123452"
SERIAL = "BENCH-6"

# Runs in the client process: keeps `concurrency` requests in flight for `seconds`.
_CLIENT = r"""
import asyncio, json, sys, time
import httpx

async def main(url, concurrency, seconds):
    latencies, errors = [], 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers={"accept": "application/json"},
                                 timeout=30) as client:
        for _ in range(min(concurrency, 20)):  # warm up connections and caches
            await client.get(url)
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": pct(0.50),
                      "p99_ms": pct(0.99), "requests": len(latencies), "errors": errors}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


@dataclass(frozen=True)
class ScanBench:
    scan_c1: Load
    scan_c50: Load
    trivial_c1: Load
    trivial_c50: Load
    seconds: float

    def as_json(self) -> dict[str, float]:
        return {
            "scan_rps_c1": round(self.scan_c1.rps, 1),
            "scan_rps_c50": round(self.scan_c50.rps, 1),
            "trivial_rps_c50": round(self.trivial_c50.rps, 1),
            "ratio_c50": round(self.scan_c50.rps / self.trivial_c50.rps, 3),
            "scan_p50_ms_c50": round(self.scan_c50.p50_ms, 2),
            "scan_p99_ms_c50": round(self.scan_c50.p99_ms, 2),
        }


def run_scan_bench(seconds: float = 5.0) -> ScanBench:
    with tempfile.TemporaryDirectory(prefix="veritag-bench-") as tmp:
        data_dir = Path(tmp)
        anvil = AnvilNode(data_dir / "chain", port=_free_port())
        anvil.start()
        server: subprocess.Popen[bytes] | None = None
        try:
            url = _seed(data_dir, anvil.url)
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "veritag", "serve", "--rpc-url", anvil.url,
                 "--data-dir", str(data_dir), "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # A load test comes from one address: no rate limit on this server.
                env={
                    **os.environ,
                    "VERITAG_DATA_DIR": str(data_dir),
                    "VERITAG_RATE_LIMIT_SCANS_PER_MINUTE": "0",
                },
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/healthz", server)
            scan_url = base + url.removeprefix("https://bench.invalid")
            loads = {
                (kind, c): _load(target, c, seconds)
                for kind, target in (("scan", scan_url), ("trivial", f"{base}/healthz"))
                for c in (1, 50)
            }
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)
            anvil.stop()
    return ScanBench(
        scan_c1=loads["scan", 1],
        scan_c50=loads["scan", 50],
        trivial_c1=loads["trivial", 1],
        trivial_c50=loads["trivial", 50],
        seconds=seconds,
    )


def _seed(data_dir: Path, rpc_url: str) -> str:
    """Deploy, admit a brand and give one item a 6-event history; returns its link."""
    session = Session(Settings(data_dir=data_dir, rpc_url=rpc_url))
    admin, brand_admin, factory, distributor, retailer = session.chain.dev_accounts[:5]
    registry = session.deploy(admin)
    brand = registry.admit_brand(admin, brand_admin.address, "Bench", ["0614141"])
    registry.add_operator(brand_admin, brand, factory.address)
    item = item_id(GTIN, SERIAL)
    session.store().record_codes([(GTIN, SERIAL, item.hex())])
    registry.register(factory, item)
    registry.ship(factory, item, distributor.address)
    registry.receive(distributor, item)
    registry.ship(distributor, item, retailer.address)
    registry.receive(retailer, item)
    registry.record_retail_sale(retailer, item)
    return build_digital_link(GTIN, SERIAL, "https://bench.invalid")


def _load(url: str, concurrency: int, seconds: float) -> Load:
    if shutil.which("wrk"):
        return _wrk(url, concurrency, seconds)
    output = subprocess.run(
        [sys.executable, "-c", _CLIENT, url, str(concurrency), str(seconds)],
        capture_output=True,
        check=True,
        timeout=seconds + 120,
    ).stdout
    return Load(**json.loads(output))


_WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, concurrency: int, seconds: float) -> Load:
    """wrk (C, epoll) as the client: it costs the machine far less per request than Python."""
    threads = str(min(concurrency, 2))
    header = ["-H", "Accept: application/json"]
    subprocess.run(  # warm-up: connections, caches
        ["wrk", "-t", threads, "-c", str(concurrency), "-d", "1s", *header, url],
        capture_output=True,
        check=True,
        timeout=60,
    )
    output = subprocess.run(
        ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency",
         "-H", "Accept: application/json", url],
        capture_output=True, check=True, text=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    latency = {m[0]: float(m[1]) * _UNITS_MS[m[2]] for m in _WRK_LATENCY.findall(output)}
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        rps=rps,
        p50_ms=latency["50"],
        p99_ms=latency["99"],
        requests=requests,
        errors=int(errors.group(1)) if errors else 0,
    )


def _wait_for(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
