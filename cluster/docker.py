"""The Docker backend: raftkv nodes from ``cluster/compose.yaml``, driven through the SDK.

``up`` runs the Compose CLI (``docker compose`` v2 if present, else ``docker-compose``
v1) under a project name of its own, ``raftchaos-<slug>``, so two runs on one host never
collide; it picks a free /24 for ``RAFTKV_SUBNET``/``RAFTKV_NET`` (host routes and
existing Docker networks checked, under a host-wide lock) and passes the peers, read
mode, defects, image and clock directory as the variables the compose file reads.

Everything after ``up`` goes through the ``docker`` SDK: kill (SIGKILL) and start,
stop, pause and unpause, logs. Network faults run from the host inside the container's
network namespace (``nsenter -t PID -n``, :mod:`cluster.netfaults`); the PID is looked
up each time, and a restarted container (a fresh namespace) gets its faults applied
again. Clocks are the per-node libfaketime control files mounted at ``/clock``.
``down`` removes the project's containers, networks and volumes by their Compose
labels, which is also how :func:`remove_leftovers` cleans up after a killed run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from cluster import clock as clocks
from cluster import subnets
from cluster.backends import slug_of
from cluster.base import ClockSetting, ClusterSpec, Node
from cluster.faulting import SharedFaults
from cluster.health import wait_healthy
from cluster.netfaults import NamespaceExec, NetworkFaults, PrefixExec
from harness.errors import EnvironmentProblem, InputError

COMPOSE_FILE = Path(__file__).resolve().parent / "compose.yaml"
PROJECT_PREFIX = "raftchaos-"
LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
SOCKET = Path("/var/run/docker.sock")
SUBNET_ATTEMPTS = 5
STOP_TIMEOUT_S = 10


def project_name(name: str) -> str:
    """The Compose project of cluster ``name``."""
    return PROJECT_PREFIX + slug_of(name)


# -- the engine and the Compose CLI ------------------------------------------------------

def engine_message(error: str) -> str:
    """One line saying what is wrong with the engine and what to do, from an SDK error."""
    if "Permission denied" in error or "PermissionError" in error:
        return (f"no permission on the Docker engine socket ({SOCKET}): run as root, or "
                "usermod -aG docker $USER and log in again")
    reason = error.strip().splitlines()[-1][:120] if error.strip() else "no answer"
    return (f"no Docker engine reachable ({reason}): start it (systemctl start docker, "
            "or dockerd &), or use --backend local")


def docker_client() -> Any:
    """A connected SDK client, or EnvironmentProblem saying what is wrong."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as e:
        raise EnvironmentProblem("the docker Python SDK is missing: pip install docker") from e
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as e:
        raise EnvironmentProblem(engine_message(str(e))) from e
    return client


def engine_problem() -> str | None:
    """None when a Docker engine answers, else the one-line reason."""
    try:
        docker_client().close()
    except EnvironmentProblem as e:
        return str(e)
    return None


def network_subnets(client: Any) -> list[IPv4Network]:
    """The subnets of every Docker network, whether its bridge is up or not."""
    return subnets.docker_subnets(
        c for net in client.networks.list(greedy=True)
        for c in (net.attrs.get("IPAM") or {}).get("Config") or [])


def compose_command() -> list[str]:
    """``docker compose`` (v2) where it works, else ``docker-compose`` (v1)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               text=True, check=False, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise EnvironmentProblem("no Compose CLI (neither `docker compose` nor "
                             "`docker-compose`): apt-get install docker-compose")


def compose_message(stderr: str, project: str, subnet: str) -> str:
    """One line for a failed ``compose up``, from its stderr."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else "no output"
    if "Pool overlaps" in text or "overlaps with" in text:
        return f"subnet {subnet} is in use (by another network): {last}"
    if "port is already allocated" in text or "address already in use" in text:
        return f"a port the cluster needs is in use: {last}; free it or stop what holds it"
    if "No such image" in text or "pull access denied" in text:
        return f"image missing: {last}; build it with `chaos cluster build`"
    return f"compose up of project {project} failed: {last}"


def is_subnet_clash(stderr: str) -> bool:
    return "Pool overlaps" in stderr or "overlaps with" in stderr


def compose_env(spec: ClusterSpec, nodes: Sequence[Node], subnet: IPv4Network,
                clock_dir: Path) -> dict[str, str]:
    """The variables ``cluster/compose.yaml`` reads, for this cluster."""
    return {
        "RAFTKV_IMAGE": spec.image,
        "RAFTKV_SUBNET": str(subnet),
        "RAFTKV_NET": subnets.net_prefix(subnet),
        "RAFTKV_PEERS": ",".join(f"{n.id}={n.raft_addr}" for n in nodes),
        "RAFTKV_READ_MODE": spec.read_mode,
        "RAFTKV_UNSAFE": ",".join(spec.unsafe),
        "RAFTKV_CLOCK_DIR": str(clock_dir),
    }


def nodes_on(subnet: IPv4Network, count: int) -> tuple[Node, ...]:
    return tuple(Node(name=f"n{k}", id=k, ip=subnets.node_ip(subnet, k))
                 for k in range(1, count + 1))


# -- leftovers --------------------------------------------------------------------------

def _project_filter(project: str | None) -> dict[str, Any]:
    return {"label": f"{LABEL_PROJECT}={project}" if project else LABEL_PROJECT}


def _ours(labels: dict[str, str] | None, project: str | None) -> bool:
    value = (labels or {}).get(LABEL_PROJECT, "")
    return value == project if project else value.startswith(PROJECT_PREFIX)


def find_leftovers(project: str | None = None, client: Any = None) -> list[str]:
    """Containers, networks and volumes of our Compose projects (``project``, or all)."""
    client = client or docker_client()
    flt = _project_filter(project)
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)
             if _ours(c.labels, project)]
    found += [f"network {n.name}" for n in client.networks.list(filters=flt)
              if _ours(n.attrs.get("Labels"), project)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=flt)
              if _ours(v.attrs.get("Labels"), project)]
    return found


def remove_leftovers(project: str | None = None, client: Any = None) -> list[str]:
    """Remove every container, network and volume of ``project`` (or of all of ours)."""
    from docker.errors import NotFound

    client = client or docker_client()
    flt = _project_filter(project)
    removed = []
    for c in client.containers.list(all=True, filters=flt):
        if _ours(c.labels, project):
            try:
                c.remove(force=True, v=True)
                removed.append(f"container {c.name}")
            except NotFound:
                pass
    for n in client.networks.list(filters=flt):
        if _ours(n.attrs.get("Labels"), project):
            try:
                n.remove()
                removed.append(f"network {n.name}")
            except NotFound:
                pass
    for v in client.volumes.list(filters=flt):
        if _ours(v.attrs.get("Labels"), project):
            try:
                v.remove(force=True)
                removed.append(f"volume {v.name}")
            except NotFound:
                pass
    return removed


# -- the cluster ------------------------------------------------------------------------

class DockerCluster(SharedFaults):
    """A raftkv cluster as one Compose project."""

    def __init__(self, spec: ClusterSpec) -> None:
        if not 1 <= spec.nodes <= subnets.MAX_NODES:
            raise InputError(f"--nodes must be within 1..{subnets.MAX_NODES}, got {spec.nodes}")
        self.spec = spec
        self.name = spec.name
        self.project = project_name(spec.name)
        self.dir = spec.run_dir / "cluster"
        self.clock_dir = self.dir / "clock"
        self._client_: Any = None
        self._containers: dict[str, Any] = {}
        self._nodes: tuple[Node, ...] = ()
        self.faults = NetworkFaults(self.nodes, self._exec_for, self.dir)

    @property
    def _client(self) -> Any:
        if self._client_ is None:
            self._client_ = docker_client()
        return self._client_

    # addresses

    def nodes(self) -> Sequence[Node]:
        if not self._nodes:
            subnet = self._existing_subnet()
            if subnet is not None:
                self._nodes = nodes_on(subnet, self.spec.nodes)
        return self._nodes

    def _existing_subnet(self) -> IPv4Network | None:
        """The subnet of this project's network, when it exists."""
        for net in self._client.networks.list(filters=_project_filter(self.project)):
            found = subnets.docker_subnets((net.attrs.get("IPAM") or {}).get("Config") or [])
            if found:
                return found[0]
        return None

    def node(self, name: str) -> Node:
        for n in self.nodes():
            if n.name == name:
                return n
        known = ", ".join(n.name for n in self.nodes()) or "none (cluster is not up)"
        raise InputError(f"unknown node {name!r}; nodes are {known}")

    def _container(self, node: str) -> Any:
        """The node's container (refreshed), or None when it does not exist."""
        from docker.errors import NotFound

        self.node(node)
        cached = self._containers.get(node)
        if cached is not None:
            try:
                cached.reload()
                return cached
            except NotFound:
                del self._containers[node]
        flt = {"label": [f"{LABEL_PROJECT}={self.project}", f"{LABEL_SERVICE}={node}"]}
        found = self._client.containers.list(all=True, filters=flt)
        if not found:
            return None
        self._containers[node] = found[0]
        return found[0]

    def _pid(self, node: str) -> int | None:
        c = self._container(node)
        if c is None or not c.attrs["State"].get("Running"):
            return None
        return int(c.attrs["State"]["Pid"]) or None

    def exec_in(self, node: str) -> NamespaceExec:
        ex = self._exec_for(node)
        if ex is None:
            raise InputError(f"node {node} is not running")
        return ex

    def _exec_for(self, node: str) -> NamespaceExec | None:
        pid = self._pid(node)
        if pid is None:
            return None
        return PrefixExec(f"{node} (pid {pid})", ("nsenter", "-t", str(pid), "-n", "--"))

    # lifecycle

    def up(self) -> None:
        client = self._client
        compose = compose_command()
        try:
            client.images.get(self.spec.image)
        except Exception as e:  # docker.errors.ImageNotFound, or an engine error
            raise EnvironmentProblem(f"image {self.spec.image} missing: build it with "
                                     "`chaos cluster build`") from e
        if shutil.which("nsenter") is None:
            raise EnvironmentProblem("`nsenter` not found (needed for network faults): "
                                     "apt-get install util-linux")
        if find_leftovers(self.project, client):
            raise InputError(f"Docker project {self.project} already exists: "
                             f"chaos cluster down --name {self.name}")
        for k in range(1, self.spec.nodes + 1):
            clocks.write_clock(clocks.control_file(self.clock_dir, f"n{k}"), ClockSetting())
        try:
            self._compose_up(compose)
            wait_healthy(self._nodes, self.spec.health_timeout_s, log_tail=self.log_tail,
                         is_running=self.is_running,
                         hint=f"see docker logs of project {self.project}")
        except BaseException:
            self.down()
            raise

    def _compose_up(self, compose: list[str]) -> None:
        tried: list[IPv4Network] = []
        with subnets.subnet_lock():
            used = [*subnets.host_routes(), *network_subnets(self._client)]
            for _ in range(SUBNET_ATTEMPTS):
                subnet = subnets.pick_subnet(used, subnets.DOCKER_POOL, skip=tried)
                self._nodes = nodes_on(subnet, self.spec.nodes)
                env = {**os.environ,
                       **compose_env(self.spec, self._nodes, subnet, self.clock_dir)}
                argv = [*compose, "-p", self.project, "-f", str(COMPOSE_FILE), "up", "-d",
                        "--no-build", *(n.name for n in self._nodes)]
                done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                      check=False, timeout=300)
                if done.returncode == 0:
                    return
                if not is_subnet_clash(done.stderr):
                    raise EnvironmentProblem(compose_message(done.stderr, self.project,
                                                             str(subnet)))
                tried.append(subnet)
                remove_leftovers(self.project, self._client)
        raise EnvironmentProblem(f"subnets {', '.join(map(str, tried))} are all in use: "
                                 "remove unused docker networks (docker network prune)")

    def down(self) -> None:
        self.faults.close()
        remove_leftovers(self.project, self._client)
        self._containers = {}

    def start(self, node: str) -> None:
        """Start the node's container if it is not running, and re-apply its faults."""
        c = self._container(node)
        if c is None:
            raise InputError(f"node {node} has no container (is cluster {self.name} up?)")
        if c.attrs["State"].get("Running"):
            return
        c.start()
        self.faults.reapply(node)

    def kill(self, node: str) -> None:
        c = self._container(node)
        if c is not None and c.attrs["State"].get("Running"):
            c.kill(signal="SIGKILL")
            c.wait(condition="not-running", timeout=30)

    def stop(self, node: str) -> None:
        c = self._container(node)
        if c is not None and c.attrs["State"].get("Running"):
            if c.attrs["State"].get("Paused"):
                c.unpause()
            c.stop(timeout=STOP_TIMEOUT_S)

    def pause(self, node: str) -> None:
        c = self._container(node)
        if c is not None and c.attrs["State"].get("Running") and not c.attrs["State"].get(
                "Paused"):
            c.pause()

    def resume(self, node: str) -> None:
        c = self._container(node)
        if c is not None and c.attrs["State"].get("Paused"):
            c.unpause()

    def is_running(self, node: str) -> bool:
        """Whether the node's container runs (a paused one counts as running)."""
        c = self._container(node)
        return c is not None and bool(c.attrs["State"].get("Running"))

    def node_state(self, node: str) -> str:
        c = self._container(node)
        if c is None:
            return "missing"
        state = c.attrs["State"]
        if state.get("Paused"):
            return "paused"
        return "running" if state.get("Running") else "stopped"

    # faults

    def set_clock(self, node: str, clock: ClockSetting) -> None:
        self.node(node)
        try:
            clocks.write_clock(clocks.control_file(self.clock_dir, node), clock)
        except ValueError as e:
            raise InputError(str(e)) from e

    def clock(self, node: str) -> ClockSetting:
        return clocks.read_clock(clocks.control_file(self.clock_dir, node))

    # logs

    def log_tail(self, node: str, lines: int = 10) -> list[str]:
        c = self._container(node)
        if c is None:
            return []
        return bytes(c.logs(tail=lines)).decode(errors="replace").splitlines()

    def collect_logs(self, dest: Path) -> None:
        for n in self.nodes():
            target = dest / n.name
            target.mkdir(parents=True, exist_ok=True)
            c = self._container(n.name)
            if c is not None:
                (target / "raftkv.log").write_bytes(bytes(c.logs(timestamps=False)))
            delayer_log = self.dir / n.name / "nfqdelay.log"
            if delayer_log.exists():
                shutil.copyfile(delayer_log, target / "nfqdelay.log")
