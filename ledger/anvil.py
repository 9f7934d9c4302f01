"""Run a local anvil node in the background for ``veritag chain start|stop|status``.

The node lives in the data directory::

    <datadir>/anvil.pid          the process id while it runs
    <datadir>/anvil.json         {"url", "pid", "port", "chain_id"} while it runs
    <datadir>/anvil.log          anvil's output, appended across runs
    <datadir>/anvil-state.json   the chain itself (``--state``)
    <datadir>/anvil-state.good.json  the last copy of it known to be whole (supervised nodes)

Anvil loads the state file at start and writes it when it gets SIGTERM; it also writes it
every ``STATE_INTERVAL`` seconds (``--state-interval``; one second is the finest anvil
takes), so a SIGKILL or a crash loses at most the blocks of that last second. Anvil rewrites
the file in place, so a SIGKILL in the middle of a write can leave it cut short: an
:class:`AnvilSupervisor` keeps a copy of each whole state it sees, and ``start`` falls back to
that copy when the state file does not parse.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ledger.errors import ChainError

__all__ = ["STATE_INTERVAL", "AnvilNode", "AnvilStatus", "AnvilSupervisor", "find_anvil"]

_log = logging.getLogger(__name__)

STATE_INTERVAL = 1
"""Seconds between anvil's state dumps (``--state-interval``)."""

_POLL = 0.05
_PROC = Path("/proc/self")
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
_PLATFORMS = {
    ("linux", "x86_64"): "linux-amd64",
    ("linux", "amd64"): "linux-amd64",
    ("linux", "aarch64"): "linux-arm64",
    ("linux", "arm64"): "linux-arm64",
    ("darwin", "x86_64"): "darwin-amd64",
    ("darwin", "arm64"): "darwin-arm64",
    ("win32", "amd64"): "win32-amd64",
    ("win32", "x86_64"): "win32-amd64",
}

# Children this process started, kept until reaped so that no Popen is collected while its
# process runs (which would warn) and so that stop() can collect the exit status.
_children: dict[int, subprocess.Popen[bytes]] = {}


def find_anvil(project_root: Path | None = None) -> Path:
    """The anvil binary: ``$VERITAG_ANVIL``, else the npm package's, else ``anvil`` on PATH."""
    configured = os.environ.get("VERITAG_ANVIL")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChainError(f"VERITAG_ANVIL={configured} is not an executable file")
        return path
    root = project_root or Path(__file__).resolve().parent.parent
    machine = platform.machine().lower()
    package = _PLATFORMS.get((sys.platform, machine))
    if package is not None:
        exe = "anvil.exe" if sys.platform == "win32" else "anvil"
        bundled = root / "node_modules" / "@foundry-rs" / f"anvil-{package}" / "bin" / exe
        if bundled.is_file():
            return bundled
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ChainError(
        f"anvil not found: run `npm ci` in {root} (it installs @foundry-rs/anvil), put anvil on "
        "PATH, or set VERITAG_ANVIL to its path"
    )


@dataclass(frozen=True)
class AnvilStatus:
    """What ``AnvilNode.status`` found. ``block_number``/``chain_id`` are None when stopped."""

    running: bool
    pid: int | None
    url: str
    block_number: int | None = None
    chain_id: int | None = None


class AnvilNode:
    """One anvil node bound to a data directory. Also a context manager: start … stop."""

    def __init__(
        self,
        datadir: Path,
        port: int = 8545,
        host: str = "127.0.0.1",
        chain_id: int = 31337,
        anvil_path: Path | None = None,
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.datadir = datadir
        self.port = port
        self.host = host
        self.chain_id = chain_id
        self.anvil_path = anvil_path
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._kept: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.datadir / "anvil.pid"

    @property
    def info_file(self) -> Path:
        return self.datadir / "anvil.json"

    @property
    def log_file(self) -> Path:
        return self.datadir / "anvil.log"

    @property
    def state_file(self) -> Path:
        return self.datadir / "anvil-state.json"

    @property
    def good_state_file(self) -> Path:
        return self.datadir / "anvil-state.good.json"

    def command(self) -> list[str]:
        """The anvil command line this node runs."""
        anvil = self.anvil_path or find_anvil()
        return [
            str(anvil),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--state", str(self.state_file),
            "--state-interval", str(STATE_INTERVAL),
        ]  # fmt: skip

    def start(self, background: bool = True) -> AnvilStatus:
        """Start anvil and wait until it answers; a no-op if this node already runs.

        In the background anvil runs in its own session, detached from the terminal, and
        outlives this process. With ``background=False`` it prints to this terminal and
        this call returns when anvil exits (Ctrl-C stops it cleanly).
        """
        current = self.status()
        if current.running:
            return current
        if current.pid is not None:
            raise ChainError(
                f"anvil (pid {current.pid}) runs for {self.datadir} but does not answer at "
                f"{current.url}; stop it first (`veritag chain stop`)"
            )
        self._forget()
        if _port_in_use(self.host, self.port):
            raise ChainError(
                f"port {self.port} on {self.host} is taken by another program; stop it or "
                "choose another port"
            )
        command = self.command()
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._recover_state()
        if not background:
            self._run_in_foreground(command)
            return self.status()
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[process.pid] = process
        self._remember(process.pid)
        self._wait_until_answering(process, log_start)
        return self.status()

    def stop(self) -> bool:
        """Stop the node (SIGTERM so it saves its state, SIGKILL after ``stop_timeout``).

        Returns whether a running node was stopped; stopping a stopped node is fine.
        """
        pid = self._live_pid()
        stopped = False
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not _wait_for_exit(pid, self.stop_timeout):
                os.kill(pid, signal.SIGKILL)
                _wait_for_exit(pid, self.stop_timeout)
            stopped = True
        self._forget()
        return stopped

    def status(self) -> AnvilStatus:
        """Whether this node runs (its process lives and answers JSON-RPC), and where."""
        pid = self._live_pid()
        recorded_url = self._recorded_info().get("url")
        url = recorded_url if isinstance(recorded_url, str) else self.url
        if pid is None:
            return AnvilStatus(running=False, pid=None, url=url)
        try:
            chain_id = int(_rpc(url, "eth_chainId"), 16)
            block_number = int(_rpc(url, "eth_blockNumber"), 16)
        except (OSError, ValueError, KeyError):
            return AnvilStatus(running=False, pid=pid, url=url)
        return AnvilStatus(
            running=True, pid=pid, url=url, block_number=block_number, chain_id=chain_id
        )

    def keep_good_state(self) -> bool:
        """Copy the state file aside if it changed and parses whole; returns whether it did.

        Written to a temporary file and renamed, so the copy itself is never cut short.
        """
        try:
            before = self.state_file.stat()
            data = self.state_file.read_bytes()
        except OSError:
            return False
        signature = (before.st_size, before.st_mtime_ns)
        if signature == self._kept or not _whole_json(data):
            return False
        partial = self.good_state_file.with_suffix(".tmp")
        partial.write_bytes(data)
        os.replace(partial, self.good_state_file)
        self._kept = signature
        return True

    def _recover_state(self) -> None:
        """Put the last whole state back when a crash cut the state file short."""
        try:
            data = self.state_file.read_bytes()
        except FileNotFoundError:
            return
        if _whole_json(data):
            return
        try:
            good = self.good_state_file.read_bytes()
        except FileNotFoundError:
            good = b""
        if not _whole_json(good):
            return  # nothing better to offer: anvil refuses it and start() shows anvil's words
        damaged = self.state_file.with_suffix(".damaged.json")
        os.replace(self.state_file, damaged)
        self.state_file.write_bytes(good)
        _log.warning("state file was damaged (kept as %s); restored the last good copy", damaged)

    def __enter__(self) -> AnvilNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run_in_foreground(self, command: list[str]) -> None:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        _children[process.pid] = process
        self._remember(process.pid)
        try:
            process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGTERM)
            process.wait(self.stop_timeout)
        finally:
            _children.pop(process.pid, None)
            self._forget()

    def _wait_until_answering(self, process: subprocess.Popen[bytes], log_start: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            exit_code = process.poll()
            if exit_code is not None:
                _children.pop(process.pid, None)
                self._forget()
                raise ChainError(
                    f"anvil exited with code {exit_code} at start; {self._log_tail(log_start)}"
                )
            try:
                _rpc(self.url, "eth_chainId")
            except (OSError, ValueError, KeyError):
                pass
            else:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ChainError(
                    f"anvil did not answer at {self.url} within {self.start_timeout:g} s "
                    f"and was stopped; {self._log_tail(log_start)}"
                )
            time.sleep(_POLL)

    def _log_tail(self, start: int, lines: int = 20) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(start)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return f"no log at {self.log_file}"
        tail = "\n".join(text.strip().splitlines()[-lines:])
        return f"the end of {self.log_file}:\n{tail}" if tail else f"{self.log_file} is empty"

    def _remember(self, pid: int) -> None:
        self.pid_file.write_text(f"{pid}\n", encoding="utf-8")
        info = {
            "url": self.url,
            "pid": pid,
            "port": self.port,
            "chain_id": self.chain_id,
            "started": _start_time(pid),
        }
        self.info_file.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def _forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.info_file.unlink(missing_ok=True)

    def _live_pid(self) -> int | None:
        """The recorded pid, if that very process still runs (not one that reused the id)."""
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        if not _is_alive(pid):
            return None
        recorded, current = self._recorded_info().get("started"), _start_time(pid)
        if recorded is not None and current is not None and recorded != current:
            return None
        return pid

    def _recorded_info(self) -> dict[str, Any]:
        try:
            info = json.loads(self.info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}


class AnvilSupervisor:
    """Keeps ``node`` running: every ``interval`` s, restart it (same state file) if it died.

    Each check also keeps a copy of the node's last whole state (see the module docstring).
    Stopping the supervisor leaves the node alone: whoever started it decides whether to
    stop it.
    """

    def __init__(self, node: AnvilNode, *, interval: float = 1.0) -> None:
        self.node = node
        self.interval = interval
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="veritag-anvil", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.node.start_timeout + 5)
            self._thread = None

    def check(self) -> bool:
        """One check; returns whether the node had to be restarted."""
        status = self.node.status()
        if status.running:
            self.node.keep_good_state()
            return False
        if status.pid is not None:
            return False  # alive but not answering (busy, or still starting): not dead yet
        _log.warning("anvil at %s is not running; restarting it", status.url)
        self.node.start()
        self.restarts += 1
        _log.warning("anvil restarted at %s (restart %d)", self.node.url, self.restarts)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except ChainError as exc:
                _log.error("anvil could not be restarted, trying again: %s", exc)
            except Exception:  # the supervisor must outlive its own bugs
                _log.exception("anvil supervision failed unexpectedly")


def _whole_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _rpc(url: str, method: str, timeout: float = 1.0) -> Any:
    """One JSON-RPC call without web3 (so the CLI starts fast). Raises OSError/ValueError."""
    if not url.startswith("http://"):
        raise ValueError(f"not a local node's URL: {url!r}")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with _LOCAL.open(request, timeout=timeout) as response:
        return json.loads(response.read())["result"]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _reap(pid: int) -> bool:
    """Collect the exit status if ``pid`` is our child; True once it has exited."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return False
        del _children[pid]
        return True
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its parent (or init) reaps it
        return False
    return reaped == pid


def _is_alive(pid: int) -> bool:
    """Whether ``pid`` still runs, including a process still tearing down its threads."""
    if _reap(pid):
        return False
    if _PROC.is_dir():
        stat = _proc_stat(pid)
        # A zombie has exited once its last thread is gone (the leader turns Z first, while
        # the other threads may still hold anvil's port).
        return stat is not None and not (stat.state == "Z" and stat.threads <= 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


@dataclass(frozen=True)
class _ProcStat:
    state: str
    threads: int
    start_time: str


def _proc_stat(pid: int) -> _ProcStat | None:
    """Linux's /proc/<pid>/stat: state, thread count and start time; None if no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Fields 3… follow the command name, which sits in parentheses and may contain spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return _ProcStat(state=fields[0], threads=int(fields[17]), start_time=fields[19])


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks after boot), or None where /proc cannot tell.

    Recorded with the pid, so that a stale pid file never makes us signal an unrelated
    process that has reused the id.
    """
    stat = _proc_stat(pid)
    return stat.start_time if stat is not None else None


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL)
    return True
