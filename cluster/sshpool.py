"""A pool of SSH connections (paramiko): one per machine, kept alive, reconnected on loss.

Remote commands are argument lists. The only string that crosses the wire is
``shlex.join(argv)`` (behind ``sudo -n --`` when the node asks for sudo), so no input is
ever interpolated into a shell string. :func:`command_line` is that one place.

Host keys are verified against a known_hosts file. An unknown key is refused with
:class:`HostKeyRefused` (a ``RejectPolicy`` that says what to do) unless the caller opted
in with ``accept_new_host_keys``; then the key is recorded in that file, and the
recording is reported, never silent. A key that differs from the recorded one is always
refused: that is what a man in the middle looks like.

Connection problems (unreachable, refused, authentication) are
:class:`SshConnectError` lines naming the node; :meth:`SshPool.connect_all` connects to
every machine at once so one line names every node that failed, within the connect
timeout. A command that fails or times out raises :class:`RemoteCommandFailed`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import threading
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import paramiko

from cluster.netfaults import CommandResult
from harness.errors import EnvironmentProblem, RunAborted

log = logging.getLogger(__name__)

SUDO = ("sudo", "-n", "--")
DEFAULT_COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one node's SSH connection goes. ``label`` names the node in messages."""

    label: str
    host: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None

    @property
    def machine(self) -> tuple[str, int, str, Path | None]:
        """Nodes on the same machine with the same login share one connection."""
        return (self.host, self.port, self.user, self.key_file)

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.label} ({self.user}@{self.host}:{self.port})"


class SshConnectError(EnvironmentProblem):
    """One or more machines could not be reached or refused the login (exit 2)."""


class HostKeyRefused(EnvironmentProblem):
    """A host key is unknown (and not opted in) or differs from the recorded one (exit 2)."""


class RemoteCommandFailed(RunAborted):
    """A remote command failed, timed out or lost its connection (exit 3)."""


def command_line(argv: Sequence[str], *, sudo: bool = False) -> str:
    """The one command string sent over SSH for ``argv``: quoted, never interpolated."""
    if not argv:
        raise ValueError("empty argv")
    return shlex.join([*SUDO, *argv] if sudo else list(argv))


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: ``ssh-ed25519 SHA256:base64`` (what ``ssh-keygen -lf`` shows)."""
    digest = b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class _RefuseUnknownHostKey(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, with a message that says what to do."""

    def __init__(self, endpoint: Endpoint, known_hosts: Path) -> None:
        self.endpoint, self.known_hosts = endpoint, known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> NoReturn:
        raise HostKeyRefused(
            f"{self.endpoint}: unknown host key {fingerprint(key)} (not in "
            f"{self.known_hosts}); check it, then add it to that file or rerun with "
            "--accept-new-host-keys to record it")


class _RecordNewHostKey(paramiko.MissingHostKeyPolicy):
    """The explicit opt-in: append the unknown key to the known_hosts file, and say so."""

    def __init__(self, endpoint: Endpoint, known_hosts: Path, lock: threading.Lock,
                 report: Callable[[str], None]) -> None:
        self.endpoint, self.known_hosts, self.lock, self.report = (
            endpoint, known_hosts, lock, report)

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with self.lock:
            self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="ascii") as f:
                f.write(line)
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.report(f"{self.endpoint}: recorded new host key {fingerprint(key)} "
                    f"in {self.known_hosts}")


class SshPool:
    """SSH connections to the cluster's machines, shared by every thread of a run."""

    def __init__(self, *, known_hosts: Path, accept_new_host_keys: bool = False,
                 connect_timeout_s: float = 10.0, keepalive_s: float = 15.0,
                 report: Callable[[str], None] = log.warning) -> None:
        self.known_hosts = known_hosts
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._report = report
        self._clients: dict[tuple[object, ...], paramiko.SSHClient] = {}
        self._locks: dict[tuple[object, ...], threading.Lock] = {}
        self._pool_lock = threading.Lock()
        self._known_hosts_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------

    def connect_all(self, endpoints: Iterable[Endpoint]) -> None:
        """Connect to every machine in parallel; one error line names every failure."""
        eps = list(endpoints)
        if not eps:
            return
        with ThreadPoolExecutor(max_workers=min(16, len(eps))) as ex:
            outcomes = list(ex.map(self._try_connect, eps))
        failures = [e for e in outcomes if e is not None]
        if not failures:
            return
        message = "; ".join(str(e) for e in failures)
        if any(isinstance(e, HostKeyRefused) for e in failures):
            raise HostKeyRefused(message)
        raise SshConnectError(message)

    def _try_connect(self, ep: Endpoint) -> EnvironmentProblem | None:
        try:
            self.client(ep)
        except EnvironmentProblem as e:
            return e
        return None

    def client(self, ep: Endpoint) -> paramiko.SSHClient:
        """The live connection to ``ep``'s machine, (re)connecting when there is none."""
        with self._machine_lock(ep):
            current = self._clients.get(ep.machine)
            if current is not None:
                transport = current.get_transport()
                if transport is not None and transport.is_active():
                    return current
                current.close()
                del self._clients[ep.machine]
                log.info("%s: connection lost, reconnecting", ep)
            fresh = self._connect(ep)
            self._clients[ep.machine] = fresh
            return fresh

    def drop(self, ep: Endpoint) -> None:
        """Forget ``ep``'s connection (the next use reconnects)."""
        with self._machine_lock(ep):
            current = self._clients.pop(ep.machine, None)
        if current is not None:
            current.close()

    def close(self) -> None:
        with self._pool_lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def _machine_lock(self, ep: Endpoint) -> threading.Lock:
        with self._pool_lock:
            return self._locks.setdefault(ep.machine, threading.Lock())

    def _connect(self, ep: Endpoint) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        policy: paramiko.MissingHostKeyPolicy = (
            _RecordNewHostKey(ep, self.known_hosts, self._known_hosts_lock, self._report)
            if self.accept_new_host_keys else _RefuseUnknownHostKey(ep, self.known_hosts))
        client.set_missing_host_key_policy(policy)
        timeout = self.connect_timeout_s
        try:
            client.connect(
                ep.host, port=ep.port, username=ep.user,
                key_filename=None if ep.key_file is None else str(ep.key_file),
                allow_agent=ep.key_file is None, look_for_keys=ep.key_file is None,
                timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                channel_timeout=timeout)
        except HostKeyRefused:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyRefused(
                f"{ep}: host key CHANGED: {self.known_hosts} has "
                f"{fingerprint(e.expected_key)} but the server offers {fingerprint(e.key)}; "
                "refusing (possible man in the middle). If the machine was reinstalled, "
                f"remove the old entry: ssh-keygen -R {shlex.quote(ep.known_hosts_name)} "
                f"-f {shlex.quote(str(self.known_hosts))}") from None
        except paramiko.AuthenticationException as e:
            client.close()
            key = ep.key_file or "the SSH agent and default keys"
            raise SshConnectError(f"{ep}: login refused with {key}: {e}") from None
        except TimeoutError:
            client.close()
            raise SshConnectError(
                f"{ep}: unreachable: no answer within {timeout:g}s") from None
        except paramiko.SSHException as e:
            client.close()
            raise SshConnectError(f"{ep}: SSH handshake failed: {e}") from None
        except OSError as e:
            client.close()
            reason = e.strerror or str(e)
            if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
                reason = "connection refused" if all(
                    getattr(x, "errno", None) == 111 for x in e.errors.values()) else str(e)
            raise SshConnectError(f"{ep}: unreachable: {reason}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(max(1, round(self.keepalive_s)))
        return client

    # -- commands and files ------------------------------------------------------------

    def run(self, ep: Endpoint, argv: Sequence[str], *, sudo: bool = False,
            timeout: float = DEFAULT_COMMAND_TIMEOUT_S, check: bool = True,
            stdin: bytes | None = None) -> CommandResult:
        """Run ``argv`` on ``ep``'s machine; raises RemoteCommandFailed on failure if ``check``."""
        line = command_line(argv, sudo=sudo)
        channel = self.open_session(ep)
        try:
            channel.settimeout(timeout)
            channel.exec_command(line)
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            out = _drain(channel.recv)
            err = _drain(channel.recv_stderr)
            status = channel.recv_exit_status()
        except TimeoutError:
            raise RemoteCommandFailed(
                f"{ep}: `{line}` did not finish within {timeout:g}s") from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            self.drop(ep)
            raise RemoteCommandFailed(
                f"{ep}: connection lost while running `{line}` (outcome unknown): {e}") from None
        finally:
            channel.close()
        result = CommandResult(status, out.decode(errors="replace"),
                               err.decode(errors="replace"))
        if check and result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise RemoteCommandFailed(
                f"{ep}: `{line}` exited {status}" + (f": {detail[-1]}" if detail else ""))
        return result

    def open_session(self, ep: Endpoint) -> paramiko.Channel:
        """A fresh channel to ``ep``'s machine; a dead connection is replaced once (nothing
        was sent on it yet, so nothing can run twice)."""
        for attempt in (1, 2):
            transport = self.client(ep).get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("no transport")
                return transport.open_session(timeout=self.connect_timeout_s)
            except (paramiko.SSHException, EOFError, OSError) as e:
                self.drop(ep)
                if attempt == 2:
                    raise SshConnectError(f"{ep}: cannot open a session: {e}") from None
        raise AssertionError("unreachable")

    @contextmanager
    def sftp(self, ep: Endpoint) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session on ``ep``'s machine, closed on exit."""
        try:
            session = self.client(ep).open_sftp()
        except (paramiko.SSHException, EOFError, OSError):
            self.drop(ep)
            session = self.client(ep).open_sftp()
        try:
            yield session
        finally:
            session.close()


def _drain(recv: Callable[[int], bytes]) -> bytes:
    chunks = []
    while chunk := recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
