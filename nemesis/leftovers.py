"""Faults a killed harness left behind, found from the host alone, and their removal.

A harness that dies (SIGKILL, a crash, a lost terminal) cannot heal; ``chaos heal``
must find what it left *without* the dead harness's memory. Every raft-chaos node is
recognisable on the host by the backends' naming conventions:

- Docker: containers labelled ``com.docker.compose.project=raftchaos-<slug>`` (service
  label ``nK``); their network namespace is entered with ``nsenter -t PID -n``, their
  clock control file is the host directory mounted at ``/clock``;
- local: network namespaces ``raftchaos-<slug>-nK``, entered with ``ip netns exec``; the
  node's control file is named in its process's ``FAKETIME_TIMESTAMP_FILE``.

In each node, a fault is one of: the process frozen (``docker pause``, SIGSTOP), our
iptables chains (``RAFTCHAOS-IN`` partitions, ``RAFTCHAOS-OUT`` packet faults), a root
``tbf``/``netem`` qdisc, a packet-delayer process (``cluster.nfqdelay``) in its
namespace, a clock control file that is not real time. :func:`heal_leftovers` removes
them all and says what it removed; run again, it finds nothing (idempotent). With
``down`` it also removes the clusters themselves, through the backends' own
``remove_leftovers``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cluster import clock as clocks
from cluster.base import ClockSetting
from cluster.netfaults import (
    HOOKS,
    NamespaceExec,
    PrefixExec,
    checked,
    delete_qdisc_argv,
    has_chain,
    has_jump,
    list_rules_argv,
    remove_chain_script,
    restore_argv,
    root_qdisc,
    show_qdisc_argv,
)
from harness.errors import EnvironmentProblem

DOCKER_PROJECT_PREFIX = "raftchaos-"  # cluster.docker.PROJECT_PREFIX
LOCAL_NETNS = re.compile(r"^raftchaos-(?P<slug>.+)-(?P<node>n\d+)$")  # cluster.local names
DELAYER_MODULE = "cluster.nfqdelay"


@dataclass(frozen=True, slots=True)
class Site:
    """One node of a raft-chaos cluster found on this host, with what heal needs."""

    backend: str  # "docker" or "local"
    cluster: str  # the slug of the cluster's name
    node: str  # "n2"
    ns: NamespaceExec | None  # its network namespace; None when the node is not running
    netns_inode: int | None  # to find our delayer processes in that namespace
    frozen: bool
    thaw: Callable[[], None] = field(compare=False)
    clock_file: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.backend} {self.cluster} {self.node}"


@dataclass(frozen=True, slots=True)
class HealReport:
    removed: list[str]  # one line per fault (or cluster part) removed
    notes: list[str]  # what could not be looked at, and why


# -- finding -----------------------------------------------------------------------------

def docker_sites(slug: str | None) -> tuple[list[Site], list[str]]:
    """Every node container of our Compose projects (of ``slug`` only, when given)."""
    from cluster.docker import LABEL_PROJECT, LABEL_SERVICE, docker_client

    try:
        client = docker_client()
    except EnvironmentProblem as e:
        return [], [f"docker: not looked at ({e})"]
    sites = []
    try:
        for c in client.containers.list(all=True, filters={"label": LABEL_PROJECT}):
            project = (c.labels or {}).get(LABEL_PROJECT, "")
            if not project.startswith(DOCKER_PROJECT_PREFIX):
                continue
            cluster = project[len(DOCKER_PROJECT_PREFIX):]
            if slug is not None and cluster != slug:
                continue
            state = c.attrs.get("State") or {}
            pid = int(state.get("Pid") or 0) if state.get("Running") else 0
            clock_dir = next((Path(m["Source"]) for m in c.attrs.get("Mounts") or []
                              if m.get("Destination") == "/clock"), None)
            node = (c.labels or {}).get(LABEL_SERVICE, c.name)
            sites.append(Site(
                "docker", cluster, node,
                PrefixExec(f"{node} of {project} (pid {pid})",
                           ("nsenter", "-t", str(pid), "-n", "--")) if pid else None,
                _inode(f"/proc/{pid}/ns/net") if pid else None,
                bool(state.get("Paused")), c.unpause,
                clock_dir / clocks.CONTROL_FILE if clock_dir else None))
    finally:
        client.close()
    return sites, []


def local_sites(slug: str | None) -> tuple[list[Site], list[str]]:
    """Every node namespace of our local clusters (of ``slug`` only, when given)."""
    try:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                timeout=30, check=False).stdout
    except FileNotFoundError:
        return [], ["local: not looked at (`ip` is not installed)"]
    sites = []
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        match = LOCAL_NETNS.match(name)
        if match is None or (slug is not None and match["slug"] != slug):
            continue
        pids = _netns_pids(name)
        node_pids = [p for p in pids if DELAYER_MODULE not in _cmdline(p)]
        stopped = [p for p in node_pids if _proc_state(p) == "T"]
        clock_file = next((f for f in map(_clock_file_of, node_pids) if f is not None), None)
        sites.append(Site(
            "local", match["slug"], match["node"],
            PrefixExec(f"{match['node']} (netns {name})", ("ip", "netns", "exec", name)),
            _inode(f"/run/netns/{name}"), bool(stopped),
            functools.partial(_continue, stopped), clock_file))
    return sites, []


def find_sites(slug: str | None, backends: tuple[str, ...] = ("docker", "local")
               ) -> tuple[list[Site], list[str]]:
    """The nodes of every raft-chaos cluster on this host, and notes on what was skipped."""
    sites: list[Site] = []
    notes: list[str] = []
    finders = {"docker": docker_sites, "local": local_sites}
    for backend in backends:
        found, skipped = finders[backend](slug)
        sites += found
        notes += skipped
    return sites, notes


# -- what is there, and removing it ------------------------------------------------------

def faults_at(site: Site) -> list[str]:
    """The faults present at one node, one line each (nothing is changed)."""
    found = [f"{site.label}: paused"] if site.frozen else []
    found += [f"{site.label}: packet delayer pid {pid}" for pid in _delayers(site)]
    if site.ns is not None:
        rules = checked(site.ns, list_rules_argv()).stdout
        found += [f"{site.label}: iptables chain {chain}" for chain in HOOKS
                  if has_chain(rules, chain) or has_jump(rules, chain)]
        kind = root_qdisc(checked(site.ns, show_qdisc_argv()).stdout)
        if kind is not None:
            found.append(f"{site.label}: {kind} qdisc")
    clock = _skewed_clock(site)
    if clock is not None:
        found.append(f"{site.label}: clock {clock.to_faketime()}")
    return found


def heal_site(site: Site) -> list[str]:
    """Remove every fault at one node; says what it removed."""
    removed = []
    if site.frozen:
        site.thaw()
        removed.append(f"{site.label}: resumed")
    for pid in _delayers(site):
        _terminate(pid)
        removed.append(f"{site.label}: packet delayer pid {pid} stopped")
    if site.ns is not None:
        rules = checked(site.ns, list_rules_argv()).stdout
        for chain in HOOKS:
            script = remove_chain_script(rules, chain)
            if script is not None:
                checked(site.ns, restore_argv(), script)
                removed.append(f"{site.label}: iptables chain {chain} removed")
        kind = root_qdisc(checked(site.ns, show_qdisc_argv()).stdout)
        if kind is not None:
            checked(site.ns, delete_qdisc_argv())
            removed.append(f"{site.label}: {kind} qdisc removed")
    clock = _skewed_clock(site)
    if clock is not None and site.clock_file is not None:
        clocks.write_clock(site.clock_file, ClockSetting())
        removed.append(f"{site.label}: clock {clock.to_faketime().strip()} reset to real time")
    return removed


def heal_leftovers(slug: str | None = None, *, down: bool = False, dry_run: bool = False,
                   backends: tuple[str, ...] = ("docker", "local")) -> HealReport:
    """Heal (or, with ``dry_run``, list) every leftover fault of raft-chaos clusters on
    this host (those of cluster ``slug`` only, when given); with ``down``, also remove
    the clusters. A node that cannot be healed is a note; the others are still healed."""
    sites, notes = find_sites(slug, backends)
    removed: list[str] = []
    for site in sites:
        try:
            removed += faults_at(site) if dry_run else heal_site(site)
        except (EnvironmentProblem, OSError) as e:
            notes.append(f"{site.label}: could not heal: {e}")
    if down:
        for backend in backends:
            if backend == "docker" and not any(n.startswith("docker:") for n in notes):
                removed += _down_docker(slug, dry_run)
            if backend == "local":
                removed += _down_local(slug, dry_run)
    return HealReport(removed, notes)


def _down_docker(slug: str | None, dry_run: bool) -> list[str]:
    from cluster import docker

    project = None if slug is None else DOCKER_PROJECT_PREFIX + slug
    if dry_run:
        return docker.find_leftovers(project)
    return [f"{line} removed" for line in docker.remove_leftovers(project)]


def _down_local(slug: str | None, dry_run: bool) -> list[str]:
    from cluster import local

    if dry_run:
        return local.find_leftovers(slug)
    return [f"{line} removed" for line in local.remove_leftovers(slug)]


# -- host process helpers ------------------------------------------------------------------

def _skewed_clock(site: Site) -> ClockSetting | None:
    if site.clock_file is None:
        return None
    try:
        clock = clocks.read_clock(site.clock_file)
    except ValueError:  # garbage in the control file: reset it too
        return ClockSetting(offset_ms=1)
    return None if clock.is_real else clock


def _delayers(site: Site) -> list[int]:
    if site.netns_inode is None:
        return []
    return [pid for pid in _all_pids() if DELAYER_MODULE in _cmdline(pid)
            and _inode(f"/proc/{pid}/ns/net") == site.netns_inode]


def _all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _netns_pids(name: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                         timeout=30, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _clock_file_of(pid: int) -> Path | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"FAKETIME_TIMESTAMP_FILE="):
            return Path(entry.split(b"=", 1)[1].decode())
    return None


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _terminate(pid: int, grace_s: float = 3.0) -> None:
    """SIGTERM (the delayer unbinds its queue on the way out), SIGKILL after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _proc_state(pid) not in (None, "Z"):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.02)


def _continue(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
