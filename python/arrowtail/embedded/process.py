"""Process plumbing shared by the test servers: free ports, privilege dropping, polling, teardown.

Servers are started in their own session (process group) so that teardown can signal the whole
group, and are always waited on with a deadline: nothing here sleeps a fixed time to synchronise.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
POLL_INTERVAL = 0.05


class ServerUnavailable(Exception):
    """The server's binaries or jars are not installed, so the server cannot be started at all."""


class ServerStartError(RuntimeError):
    """The server was found but did not start or stop in time; the message carries its log tail."""


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def running_as_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str | None, argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` with ``runuser`` when running as root and ``user`` is given.

    PostgreSQL refuses to run as root, so as root its programs run as the ``postgres`` account.
    """
    if user is None or not running_as_root():
        return list(argv)
    return ["runuser", "-u", user, "--", *argv]


def chown_tree(path: Path, user: str) -> None:
    """Give ``path`` and everything below it to ``user`` (only meaningful when root)."""
    if not running_as_root():
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def log_tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    tail = text.splitlines()[-lines:]
    return f"--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail)


def run_checked(argv: Sequence[str], log: Path, what: str, timeout: float = 120.0) -> None:
    """Run a one-shot setup command, output appended to ``log``; raise with the log on error."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            result = subprocess.run(
                list(argv), stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ServerStartError(
                f"{what} timed out after {timeout:.0f}s\n{log_tail(log)}"
            ) from exc
    if result.returncode != 0:
        raise ServerStartError(f"{what} failed with exit code {result.returncode}\n{log_tail(log)}")


def spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a long-running server process in its own session, output appended to ``log``."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``ready()`` until it is true; fail early if ``proc`` exits, or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            detail = log_tail(log) if log is not None else ""
            raise ServerStartError(f"{what}: process exited with code {proc.returncode}\n{detail}")
        if time.monotonic() > deadline:
            detail = log_tail(log) if log is not None else ""
            raise ServerStartError(f"{what}: not ready after {timeout:.0f}s\n{detail}")
        time.sleep(POLL_INTERVAL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def stop_process(
    proc: subprocess.Popen | None,
    *,
    sig: int = signal.SIGTERM,
    timeout: float = 30.0,
    escalate: int | None = None,
) -> None:
    """Ask a server's process group to stop with ``sig``; if it overstays ``timeout``, send
    ``escalate`` (when given, with ten more seconds) and finally SIGKILL the group."""
    if proc is None:
        return
    steps = [(sig, timeout)] + ([(escalate, 10.0)] if escalate is not None else [])
    for step_sig, step_timeout in steps:
        if proc.poll() is not None:
            break
        _signal_group(proc, step_sig)
        try:
            proc.wait(timeout=step_timeout)
        except subprocess.TimeoutExpired:
            continue
    # Whatever is left in the group (children that outlived the leader) goes too.
    _signal_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def kill_process(proc: subprocess.Popen | None) -> None:
    """Kill a server's whole process group at once (used when startup failed)."""
    stop_process(proc, sig=signal.SIGKILL, timeout=10)


def remove_tree(path: Path | None) -> None:
    """Delete a server's temporary directory unless ARROWTAIL_KEEP_SERVER_DIRS=1 (debugging)."""
    if path is None:
        return
    if os.environ.get("ARROWTAIL_KEEP_SERVER_DIRS") == "1":
        print(f"keeping {path} (ARROWTAIL_KEEP_SERVER_DIRS=1)")
        return
    shutil.rmtree(path, ignore_errors=True)


def require_servers() -> bool:
    """CI sets ARROWTAIL_REQUIRE_SERVERS=1: a missing server is then a failure, not a skip."""
    return os.environ.get("ARROWTAIL_REQUIRE_SERVERS") == "1"


class ProcessServer:
    """What every private server shares: a process in ``_proc``, a temporary directory, and the
    restart / cleanup / running behaviour on top of the subclass's ``start()`` and ``stop()``."""

    tmp_dir: Path
    _proc: subprocess.Popen | None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop and start again on the same port(s) with the same data."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop the server (forcefully if needed) and delete the temporary directory."""
        try:
            self.stop()
        finally:
            remove_tree(self.tmp_dir)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
