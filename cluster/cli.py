"""``chaos cluster``: build, start, inspect and stop a raftkv cluster by hand.

``up`` starts a cluster under a name and leaves it running; its description is kept in
``<store>/cluster/<name>/cluster.json`` (node data, logs and clock files live beside
it), so ``status``, ``logs`` and ``down`` find it later. ``down --all`` also removes
what killed runs left (containers, networks and volumes of ``raftchaos-*`` Compose
projects; ``raftchaos-*`` namespaces, ``raft-chaos:*`` bridges and host rules).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cluster.backends import (
    BUILTIN_BACKENDS,
    Inspectable,
    choose_backend,
    make_cluster,
    slug_of,
)
from cluster.base import Cluster, ClusterSpec
from cluster.health import probe_status
from harness.client import DefiniteError, IndeterminateError
from harness.errors import EnvironmentProblem, InputError

REGISTRY_DIR = "cluster"
REGISTRY_FILE = "cluster.json"
READ_MODES = ("log", "index", "lease", "follower", "stale")
DEFECTS = ("stale-reads", "lease-ignore-drift", "ack-before-commit", "no-fsync")
DEFAULT_NAME = "dev"


# -- the registry of clusters started by `chaos cluster up` -------------------------------

def registry(store: Path) -> Path:
    return store / REGISTRY_DIR


def spec_to_json(backend: str, spec: ClusterSpec) -> dict[str, Any]:
    fields = asdict(spec)
    fields["run_dir"] = str(spec.run_dir)
    fields["unsafe"] = list(spec.unsafe)
    fields["inventory"] = str(spec.inventory) if spec.inventory else None
    return {"backend": backend, "spec": fields}


def spec_from_json(data: dict[str, Any]) -> tuple[str, ClusterSpec]:
    fields = dict(data["spec"])
    fields["run_dir"] = Path(fields["run_dir"])
    fields["unsafe"] = tuple(fields.get("unsafe") or ())
    fields["inventory"] = Path(fields["inventory"]) if fields.get("inventory") else None
    return str(data["backend"]), ClusterSpec(**fields)


def recorded(store: Path) -> dict[str, tuple[str, ClusterSpec]]:
    """Every cluster recorded under ``store``, by name."""
    found = {}
    for path in sorted(registry(store).glob(f"*/{REGISTRY_FILE}")):
        try:
            backend, spec = spec_from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path} is not a cluster description ({e}): delete it") from e
        found[spec.name] = (backend, spec)
    return found


def lookup(store: Path, name: str | None) -> tuple[str, ClusterSpec]:
    """The recorded cluster called ``name`` (or the only one, when no name is given)."""
    clusters = recorded(store)
    if name is None:
        if len(clusters) == 1:
            return next(iter(clusters.values()))
        if not clusters:
            raise InputError(f"no cluster recorded under {registry(store)}: "
                             "start one with `chaos cluster up`")
        raise InputError(f"several clusters are up ({', '.join(sorted(clusters))}): "
                         "choose one with --name")
    if name not in clusters:
        known = ", ".join(sorted(clusters)) or "none"
        raise InputError(f"no cluster named {name!r} under {registry(store)} (recorded: {known})")
    return clusters[name]


# -- presentation -------------------------------------------------------------------------

def clock_cell(clock_ms: Any, now_ms: float) -> str:
    """A node's clock as ``HH:MM:SS.mmm`` UTC plus its offset from this host, if notable."""
    if not isinstance(clock_ms, int | float):
        return "-"
    text = datetime.fromtimestamp(clock_ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    skew = (clock_ms - now_ms) / 1000
    return text + (f" ({skew:+.1f}s)" if abs(skew) >= 0.5 else "")


def status_rows(cluster: Cluster, timeout_s: float = 1.0) -> list[dict[str, Any]]:
    """One row per node: address, process state and what its /status says."""
    rows = []
    for node in cluster.nodes():
        state = cluster.node_state(node.name) if isinstance(cluster, Inspectable) else (
            "running" if cluster.is_running(node.name) else "stopped")
        row: dict[str, Any] = {"node": node.name, "address": node.client_addr, "state": state}
        try:
            status = probe_status(node, timeout=timeout_s)
        except (DefiniteError, IndeterminateError, OSError) as e:
            row["error"] = str(e).split(": ", 1)[-1][:60]
        else:
            row.update({k: status.get(k) for k in ("role", "term", "leader", "commit",
                                                   "applied", "clock_ms")})
        row["now_ms"] = time.time() * 1000
        rows.append(row)
    return rows


def status_table(name: str, backend: str, rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"cluster {name} ({backend})", title_justify="left")
    for column in ("node", "address", "state", "role", "term", "leader", "commit",
                   "applied", "clock"):
        table.add_column(column, justify="right" if column in ("term", "leader", "commit",
                                                               "applied") else "left")
    for row in rows:
        if "error" in row:
            table.add_row(row["node"], row["address"], row["state"],
                          f"[red]{row['error']}[/]", "", "", "", "", "")
            continue
        table.add_row(row["node"], row["address"], row["state"], str(row["role"]),
                      str(row["term"]), str(row["leader"] or "-"), str(row["commit"]),
                      str(row["applied"]), clock_cell(row["clock_ms"], row["now_ms"]))
    return table


# -- commands -------------------------------------------------------------------------------

store_option = click.option("--store", type=click.Path(file_okay=False, path_type=Path),
                            default=Path("store"), show_default=True,
                            help="Store directory (clusters are kept under <store>/cluster/).")


@click.group()
def cluster() -> None:
    """Build, start, inspect and stop a raftkv cluster."""


@cluster.command()
@click.option("--name", default=DEFAULT_NAME, show_default=True, help="Cluster name.")
@click.option("--nodes", type=click.IntRange(1, 9), default=3, show_default=True)
@click.option("--backend", type=click.Choice(BUILTIN_BACKENDS),
              help="docker, local or ssh [docker where an engine answers, else local].")
@click.option("--read-mode", type=click.Choice(READ_MODES), default="index", show_default=True)
@click.option("--unsafe", type=click.Choice(DEFECTS), multiple=True,
              help="Switch on a deliberate defect (repeatable).")
@click.option("--image", default="raftkv:latest", show_default=True, help="docker: image.")
@click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path),
              help="ssh: hosts file.")
@click.option("--accept-new-host-keys", is_flag=True, help="ssh: trust unknown hosts.")
@click.option("--health-timeout", type=click.FloatRange(min=1), default=30.0,
              show_default=True, help="Seconds to wait for every node and a leader.")
@store_option
def up(name: str, nodes: int, backend: str | None, read_mode: str, unsafe: tuple[str, ...],
       image: str, inventory: Path | None, accept_new_host_keys: bool,
       health_timeout: float, store: Path) -> int:
    """Start a cluster and leave it running under NAME."""
    slug_of(name)
    if name in recorded(store):
        raise InputError(f"cluster {name!r} is already up: chaos cluster down --name {name}")
    chosen, note = choose_backend(backend)
    if note:
        click.echo(f"note: {note}", err=True)
    run_dir = registry(store) / name
    spec = ClusterSpec(name=name, nodes=nodes, run_dir=run_dir.resolve(), read_mode=read_mode,
                       unsafe=unsafe, image=image, inventory=inventory,
                       accept_new_host_keys=accept_new_host_keys,
                       health_timeout_s=health_timeout)
    the_cluster = make_cluster(chosen, spec)
    started = time.monotonic()
    the_cluster.up()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / REGISTRY_FILE).write_text(json.dumps(spec_to_json(chosen, spec), indent=2))
    click.echo(f"cluster {name} is up on {chosen} ({nodes} nodes, healthy in "
               f"{time.monotonic() - started:.1f}s):")
    for node in the_cluster.nodes():
        click.echo(f"  {node.name}  id {node.id}  client http://{node.client_addr}  "
                   f"raft {node.raft_addr}")
    first = the_cluster.nodes()[0]
    click.echo(f"try:  curl http://{first.client_addr}/status")
    click.echo(f"then: chaos cluster status --name {name}   |   chaos cluster down --name {name}")
    return 0


@cluster.command()
@click.option("--name", help="The cluster to remove.")
@click.option("--all", "everything", is_flag=True,
              help="Remove every recorded cluster and every raft-chaos container, network, "
                   "volume, namespace and bridge on this host: what killed runs left, and "
                   "also the clusters of runs still going.")
@store_option
def down(name: str | None, everything: bool, store: Path) -> int:
    """Stop a cluster and remove everything it created."""
    if everything == (name is not None):
        raise InputError("give exactly one of --name NAME or --all")
    targets = recorded(store)
    if not everything:
        assert name is not None
        targets = {name: targets[name]} if name in targets else {}
    removed: list[str] = []
    for cluster_name, (backend, spec) in sorted(targets.items()):
        make_cluster(backend, spec).down()
        shutil.rmtree(spec.run_dir, ignore_errors=True)  # its data, logs and clock files
        removed.append(f"cluster {cluster_name} ({backend})")
    removed += sweep(None if everything else slug_of(name or ""))
    if not removed and not everything:
        raise InputError(f"no cluster named {name!r} (nothing found to remove)")
    for line in removed:
        click.echo(f"removed {line}")
    if not removed:
        click.echo("nothing to remove")
    return 0


def sweep(slug: str | None) -> list[str]:
    """Remove leftovers of cluster ``slug`` (or of every cluster) on both local backends."""
    from cluster import docker as docker_backend
    from cluster import local as local_backend

    removed = []
    if docker_backend.engine_problem() is None:
        project = docker_backend.PROJECT_PREFIX + slug if slug else None
        removed += docker_backend.remove_leftovers(project)
    if shutil.which("ip") is not None:
        removed += local_backend.remove_leftovers(slug)
    return removed


@cluster.command()
@click.option("--name", help="The cluster [the only one that is up].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@store_option
def status(name: str | None, as_json: bool, store: Path) -> int:
    """A table of nodes: state, role, term, leader, commit/applied index and clock."""
    backend, spec = lookup(store, name)
    rows = status_rows(make_cluster(backend, spec))
    if as_json:
        click.echo(json.dumps({"name": spec.name, "backend": backend, "nodes": rows}, indent=2))
    else:
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
            console = Console(width=160)
        console.print(status_table(spec.name, backend, rows))
    return 0


@cluster.command()
@click.argument("nodes", nargs=-1)
@click.option("--name", help="The cluster [the only one that is up].")
@click.option("--lines", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Copy every node's whole log into DEST/<node>/ instead.")
@store_option
def logs(nodes: tuple[str, ...], name: str | None, lines: int, dest: Path | None,
         store: Path) -> int:
    """Show the last lines of each node's log (or copy the logs with --dest)."""
    backend, spec = lookup(store, name)
    the_cluster = make_cluster(backend, spec)
    known = [n.name for n in the_cluster.nodes()]
    unknown = sorted(set(nodes) - set(known))
    if unknown:
        raise InputError(f"unknown node(s) {', '.join(unknown)}; nodes are {', '.join(known)}")
    if dest is not None:
        the_cluster.collect_logs(dest)
        click.echo(f"logs of {', '.join(known)} copied to {dest}/<node>/")
        return 0
    if not isinstance(the_cluster, Inspectable):
        raise InputError(f"the {backend} backend cannot show logs here; use --dest DIR")
    for node in nodes or known:
        click.echo(f"==> {node} <==")
        for line in the_cluster.log_tail(node, lines):
            click.echo(line)
    return 0


@cluster.command()
@click.option("--tag", help="Image tag [raftkv:<crate version>, plus raftkv:latest].")
def build(tag: str | None) -> int:
    """Build raftkv (cargo) and its image (FROM scratch, no registry)."""
    from cluster import image
    from cluster.docker import engine_problem

    problem = engine_problem()
    try:
        if problem is not None:
            binary = image.cargo_build(release=True)
            click.echo(f"built {binary}; no image ({problem}). The local backend is ready.")
            return 0
        built = image.build_image(tag)
    except FileNotFoundError as e:
        raise EnvironmentProblem(f"build failed: {e}: install Rust (./setup.sh)") from e
    except (subprocess.CalledProcessError, RuntimeError) as e:
        raise EnvironmentProblem(f"build failed: {e}") from e
    except Exception as e:  # docker.errors.BuildError / APIError
        raise EnvironmentProblem(f"image build failed: {str(e).splitlines()[0]}") from e
    click.echo(f"built {built} (and raftkv:latest)")
    return 0
