"""`chaos doctor`: check everything a run needs, one line per item, with the fix for each gap.

Each check is a small function returning a :class:`Finding`: ``ok``, ``warn`` (a run can
go, but some fault is unavailable) or ``missing`` (with the exact command that fixes it).
``required`` findings decide the exit code: 0 when a Docker run can go, 2 otherwise.
Probes run real commands (argument lists, with short timeouts) and never change the
machine, except a throwaway network namespace for the netem probe, removed at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import click

from harness.errors import EXIT_USAGE, EXIT_VALID

Status = Literal["ok", "warn", "missing"]

REPO_ROOT = Path(__file__).resolve().parent.parent
RAFTKV_BINARY = REPO_ROOT / "cluster" / "node" / "target" / "release" / "raftkv"
LIBFAKETIME_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)
APT_INSTALL = "apt-get update && apt-get install -y"


@dataclass(frozen=True, slots=True)
class Finding:
    """One checked item."""

    item: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = True  # a Docker run cannot go while a required item is missing


def _run(argv: Sequence[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str] | None:
    """Run a probe; None when the program is absent or hangs."""
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired):
        return None


def check_python() -> Finding:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro}"
    if v >= (3, 11):
        return Finding("python", "ok", text)
    return Finding("python", "missing", f"{text} is too old (need >= 3.11)",
                   f"{APT_INSTALL} python3.11")


def check_docker_engine() -> Finding:
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return Finding("docker engine", "missing", "the docker Python SDK is not installed",
                       "pip install docker")
    sock = Path("/var/run/docker.sock")
    try:
        client = docker.from_env(timeout=5)
        version = client.version().get("Version", "?")
        client.close()
        return Finding("docker engine", "ok", f"Docker Engine {version} reachable")
    except DockerException as e:
        text = str(e)
        if "Permission denied" in text or (sock.exists() and not os.access(sock, os.W_OK)):
            return Finding("docker engine", "missing",
                           f"no permission on {sock}",
                           "run as root, or: usermod -aG docker $USER && newgrp docker")
        if not sock.exists() and not os.environ.get("DOCKER_HOST"):
            return Finding("docker engine", "missing", f"no engine socket at {sock}",
                           f"{APT_INSTALL} docker.io && (systemctl start docker || dockerd &)")
        return Finding("docker engine", "missing", f"engine not answering: {text[:120]}",
                       "systemctl start docker  (or: dockerd &)")


def check_compose() -> Finding:
    v2 = _run(["docker", "compose", "version", "--short"])
    if v2 is not None and v2.returncode == 0:
        return Finding("compose", "ok", f"docker compose v2 {v2.stdout.strip()}")
    v1 = _run(["docker-compose", "version", "--short"])
    if v1 is not None and v1.returncode == 0:
        return Finding("compose", "ok", f"docker-compose v1 {v1.stdout.strip()}")
    return Finding("compose", "missing", "neither `docker compose` nor `docker-compose` found",
                   f"{APT_INSTALL} docker-compose")


def check_privileges() -> Finding:
    if os.geteuid() == 0:
        return Finding("privileges", "ok", "running as root")
    try:
        status = Path("/proc/self/status").read_text()
        cap_eff = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("CapEff:")), 16)
    except (OSError, StopIteration, ValueError):
        cap_eff = 0
    cap_net_admin, cap_sys_admin = 1 << 12, 1 << 21
    if cap_eff & cap_net_admin and cap_eff & cap_sys_admin:
        return Finding("privileges", "ok", "CAP_NET_ADMIN and CAP_SYS_ADMIN held")
    return Finding("privileges", "missing",
                   "faults need root (or CAP_NET_ADMIN + CAP_SYS_ADMIN for nsenter)",
                   "sudo chaos ...")


def check_tool(name: str, package: str) -> Callable[[], Finding]:
    def check() -> Finding:
        path = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()),
            None)
        if path:
            return Finding(name, "ok", path)
        return Finding(name, "missing", f"`{name}` not found", f"{APT_INSTALL} {package}")
    check.__name__ = f"check_{name}"
    return check


def check_netem() -> Finding:
    """Probe sch_netem in a throwaway namespace (needs root); netem only adds packet kinds."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("tc"):
        return Finding("sch_netem", "warn", "cannot probe (needs root, unshare and tc)",
                       "modprobe sch_netem", required=False)
    probe = _run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root",
                  "netem", "delay", "1ms"])
    if probe is not None and probe.returncode == 0:
        return Finding("sch_netem", "ok", "tc netem available")
    reason = (probe.stderr.strip().splitlines() or ["no answer"])[0] if probe else "probe hung"
    return Finding("sch_netem", "warn",
                   f"tc netem unavailable ({reason}): packet delay/duplicate/reorder/corrupt "
                   "faults are off; loss and rate still work",
                   "modprobe sch_netem  (or a kernel with CONFIG_NET_SCH_NETEM)",
                   required=False)


def check_libfaketime() -> Finding:
    for p in LIBFAKETIME_PATHS:
        if p.exists():
            return Finding("libfaketime", "ok", str(p))
    return Finding("libfaketime", "missing", "libfaketime.so.1 not found (clock faults)",
                   f"{APT_INSTALL} libfaketime")


def check_rust() -> Finding:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    probe = _run([cargo, "--version"])
    if probe is not None and probe.returncode == 0:
        return Finding("rust", "ok", probe.stdout.strip(), required=False)
    return Finding("rust", "missing", "cargo not found (needed to build raftkv)",
                   "curl https://sh.rustup.rs | sh  (or: apt-get install cargo)", required=False)


def check_raftkv_binary() -> Finding:
    if RAFTKV_BINARY.exists():
        return Finding("raftkv binary", "ok", str(RAFTKV_BINARY.relative_to(REPO_ROOT)),
                       required=False)
    return Finding("raftkv binary", "missing", "raftkv is not built",
                   "chaos cluster build  (or: ./setup.sh)", required=False)


def check_raftkv_image() -> Finding:
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        return Finding("raftkv image", "missing", "docker SDK missing", "pip install docker")
    try:
        client = docker.from_env(timeout=5)
        try:
            image = client.images.get("raftkv:latest")
            size_mb = image.attrs.get("Size", 0) / 1e6
            return Finding("raftkv image", "ok", f"raftkv:latest ({size_mb:.0f} MB)")
        finally:
            client.close()
    except ImageNotFound:
        return Finding("raftkv image", "missing", "image raftkv:latest not built",
                       "chaos cluster build  (or: ./setup.sh)")
    except DockerException:
        return Finding("raftkv image", "missing", "cannot ask the engine (see docker engine)",
                       "start the Docker engine, then: chaos cluster build")


CHECKS: tuple[Callable[[], Finding], ...] = (
    check_python,
    check_docker_engine,
    check_compose,
    check_privileges,
    check_tool("nsenter", "util-linux"),
    check_tool("iptables", "iptables"),
    check_tool("tc", "iproute2"),
    check_tool("ip", "iproute2"),
    check_netem,
    check_libfaketime,
    check_rust,
    check_raftkv_binary,
    check_raftkv_image,
)


def run_checks(checks: Sequence[Callable[[], Finding]] = CHECKS) -> list[Finding]:
    return [c() for c in checks]


def is_ready(findings: Sequence[Finding]) -> bool:
    """A Docker run can go: no required item is missing."""
    return not any(f.status == "missing" and f.required for f in findings)


_MARK = {"ok": "[green]ok[/]     ", "warn": "[yellow]warn[/]   ", "missing": "[red]missing[/]"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(as_json: bool) -> int:
    """Check everything a run needs; exit 0 when a Docker run can go, 2 otherwise."""
    findings = run_checks()
    ready = is_ready(findings)
    if as_json:
        click.echo(json.dumps({"ready": ready, "findings": [asdict(f) for f in findings]},
                              indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False, soft_wrap=True)
        for f in findings:
            line = f"{_MARK[f.status]} {f.item:<14} {escape(f.detail)}"
            if f.status != "ok" and f.fix:
                line += f"  [dim]fix:[/] [bold]{escape(f.fix)}[/]"
            console.print(line)
        console.print("[green]ready for a Docker run[/]" if ready else
                      "[red]not ready for a Docker run[/] (fix the missing items above)")
    return EXIT_VALID if ready else EXIT_USAGE
