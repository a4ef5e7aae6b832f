"""A small supervisor: starts processes in their own process groups, waits until each is
ready, notices when one dies, and stops them all (process group included) in reverse order."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, *, expect: tuple[int, ...] = (200,)) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                return response.status in expect
        except urllib.error.HTTPError as exc:
            return exc.code in expect
        except (OSError, ValueError):
            return False

    return check


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], bool] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, cwd: Path) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.popen = subprocess.Popen(
            self.argv, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        self.signal(signal.SIGKILL)  # also reaps workers left in the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


class Supervisor:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: dict[str, Proc] = {}

    def start(self, proc: Proc) -> Proc:
        self.procs[proc.name] = proc
        proc.start(self.cwd)
        return proc

    def wait_ready(self, names: list[str] | None = None, timeout: float = 180.0) -> None:
        pending = [self.procs[n] for n in (names or list(self.procs))]
        deadline = time.monotonic() + timeout
        while pending:
            for proc in list(pending):
                if not proc.alive:
                    raise StackError(f"{proc.name} exited while starting; last lines of {proc.log}:\n{proc.tail()}")
                if proc.ready is None or proc.ready():
                    pending.remove(proc)
            if pending and time.monotonic() > deadline:
                names_left = ", ".join(p.name for p in pending)
                raise StackError(f"not ready after {timeout:.0f}s: {names_left}")
            time.sleep(0.2)

    def dead(self) -> list[Proc]:
        return [p for p in self.procs.values() if not p.alive]

    def stop(self, name: str) -> None:
        self.procs[name].stop()

    def restart(self, name: str, timeout: float = 180.0, *, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL to the whole group with ``kill``) and start again."""
        proc = self.procs[name]
        if kill:
            proc.signal(signal.SIGKILL)
            if proc.popen is not None:
                proc.popen.wait(10)
        else:
            proc.stop()
        proc.start(self.cwd)
        self.wait_ready([name], timeout)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
