"""Plugins: workloads, nemeses, checkers, models, databases and backends by name.

Everything pluggable is found through entry points, the built-ins exactly like
third-party packages (pytest's habit): a package declares, in its pyproject.toml,

    [project.entry-points."raft_chaos.workloads"]
    queue = "my_package.queue:workload"

and ``chaos run --workload queue`` finds it. Set ``RAFT_CHAOS_DISABLE_PLUGIN_AUTOLOAD=1``
to load only raft-chaos's own entry points. See docs/plugins.md for each group's
contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from harness.errors import InputError

GROUPS: Final[Mapping[str, str]] = {
    "workloads": "raft_chaos.workloads",
    "nemeses": "raft_chaos.nemeses",
    "checkers": "raft_chaos.checkers",
    "models": "raft_chaos.models",
    "databases": "raft_chaos.databases",
    "backends": "raft_chaos.backends",
}

OWN_DISTRIBUTION: Final = "raft-chaos"
AUTOLOAD_SWITCH: Final = "RAFT_CHAOS_DISABLE_PLUGIN_AUTOLOAD"

_SINGULAR: Final = {"workloads": "workload", "nemeses": "nemesis", "checkers": "checker",
                    "models": "model", "databases": "database", "backends": "backend"}


def _is_own(ep: EntryPoint) -> bool:
    dist = ep.dist
    return dist is not None and dist.name.replace("_", "-").lower() == OWN_DISTRIBUTION


def plugin_entry_points(kind: str) -> dict[str, EntryPoint]:
    """The entry points of one kind (a key of GROUPS), by name.

    Raises InputError if two installed packages claim the same name."""
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r}")
    own_only = os.environ.get(AUTOLOAD_SWITCH, "") not in ("", "0")
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUPS[kind]):
        if own_only and not _is_own(ep):
            continue
        other = found.get(ep.name)
        if other is not None and other.value != ep.value:
            raise InputError(f"two plugins both provide the {_SINGULAR[kind]} {ep.name!r}: "
                             f"{other.value} and {ep.value}; uninstall one")
        found[ep.name] = ep
    return found


def plugin_names(kind: str) -> list[str]:
    return sorted(plugin_entry_points(kind))


def load_plugin(kind: str, name: str) -> Any:
    """The object a plugin's entry point names. Raises InputError for an unknown name,
    listing the known ones, or when the plugin cannot be imported."""
    eps = plugin_entry_points(kind)
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none installed"
        raise InputError(f"unknown {_SINGULAR[kind]} {name!r}; known: {known}")
    try:
        return ep.load()
    except (ImportError, AttributeError) as e:
        raise InputError(f"{_SINGULAR[kind]} plugin {name!r} ({ep.value}) cannot be loaded: "
                         f"{e}") from e
