"""``chaos heal``: remove every fault a killed run left behind, and list what it removed.

It needs nothing from the run that died: it finds raft-chaos nodes on this host by the
backends' naming conventions (see :mod:`nemesis.leftovers`) and removes partitions,
packet faults, pauses and clock skews; ``--down`` also removes the clusters. Safe to
run any number of times: a second run finds nothing. Without ``--name`` it heals every
raft-chaos cluster on this host, including those of runs still going.
"""

from __future__ import annotations

import os

import click

from cluster.backends import slug_of
from harness.errors import EnvironmentProblem
from nemesis.leftovers import heal_leftovers


@click.command("heal")
@click.option("--name", "name", default=None, metavar="NAME",
              help="Only the cluster of this test name (default: every raft-chaos cluster).")
@click.option("--backend", type=click.Choice(["docker", "local", "all"]), default="all",
              show_default=True, help="Where to look.")
@click.option("--down", is_flag=True,
              help="Also remove the clusters (containers, namespaces, bridges).")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def heal(name: str | None, backend: str, down: bool, dry_run: bool) -> int:
    """Remove every fault a killed run left behind, and list what was removed."""
    if os.geteuid() != 0:
        raise EnvironmentProblem("chaos heal enters network namespaces and needs root "
                                 "(run it with sudo)")
    backends = ("docker", "local") if backend == "all" else (backend,)
    report = heal_leftovers(slug_of(name) if name else None, down=down, dry_run=dry_run,
                            backends=backends)
    for line in report.removed:
        click.echo(("would remove " if dry_run else "") + line)
    if not report.removed:
        click.echo("nothing to heal")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    return 0
