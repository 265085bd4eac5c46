"""How a nemesis op completes, one rule for every nemesis.

The completion's ``value`` says exactly what was done (which nodes, which rules), and
its type follows Jepsen's meaning: ``ok`` when everything asked for was done, ``fail``
when nothing was (the fault is definitely not in force: no window opens), ``info`` when
only part of it was or the outcome is unknown. ``error`` carries the reasons, per node
where there is a node to name. A failure counts as *definite* (nothing happened) only
when the error says so: a refused request (:class:`harness.client.DefiniteError`), a
command that failed as a whole (:class:`harness.errors.ChaosError`) or a bad argument;
anything else, a timeout say, may have taken effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.client import DefiniteError
from harness.errors import ChaosError
from harness.op import Op


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying an action to several nodes came to."""

    done: list[str]  # the nodes it succeeded on
    errors: dict[str, str]  # node -> why it failed there
    uncertain: bool  # some failure may have taken effect anyway

    @property
    def anything_done(self) -> bool:
        return bool(self.done) or self.uncertain


def is_definite(e: BaseException) -> bool:
    """Whether an error means the action certainly did not happen (see module docstring)."""
    return isinstance(e, DefiniteError | ChaosError | ValueError | LookupError)


def apply_each(nodes: Sequence[str], action: Callable[[str], object]) -> Applied:
    """Run ``action`` on every node, carrying on past failures."""
    done: list[str] = []
    errors: dict[str, str] = {}
    uncertain = False
    for node in nodes:
        try:
            action(node)
        except Exception as e:
            errors[node] = one_line(e)
            uncertain = uncertain or not is_definite(e)
        else:
            done.append(node)
    return Applied(done, errors, uncertain)


def completed(op: Op, value: Any, errors: Mapping[str, str] | None = None, *,
              anything_done: bool = True) -> Op:
    """The completion of ``op``: ``ok`` without errors, else ``info`` or ``fail``.

    ``errors`` maps what went wrong (a node name, or a step) to why;
    ``anything_done`` says whether any part of the fault was (or may have been) applied.
    """
    if not errors:
        return op.with_(type="ok", value=value)
    error = "; ".join(f"{where}: {why}" for where, why in errors.items())
    return op.with_(type="info" if anything_done else "fail", value=value, error=error)


def refused(op: Op, reason: str, value: Any = None) -> Op:
    """A ``fail`` completion: nothing was done, for ``reason``."""
    return op.with_(type="fail", value=value if value is not None else op.value, error=reason)


def one_line(e: BaseException) -> str:
    """An exception as one short line: its message, or its type when it has none."""
    text = " ".join(str(e).split())
    return text[:300] if text else type(e).__name__
