"""The client protocol: how a worker talks to the database under test.

One client per worker (a logical process). ``invoke`` takes the invocation Op and
returns its completion, with the same ``process`` and ``f`` and a type of ``ok``,
``fail`` or ``info``. A client may instead raise :class:`DefiniteError` (the operation
definitely did not happen: the harness records ``fail``) or anything else (the outcome
is unknown: the harness records ``info`` and the worker continues as a new process).
"""

from __future__ import annotations

from typing import Protocol

from cluster.base import Node
from harness.op import Op


class DefiniteError(Exception):
    """The operation definitely did not take effect and never will."""


class IndeterminateError(Exception):
    """The operation may or may not have taken effect (timeout, lost leadership)."""


class Client(Protocol):
    def open(self, node: Node) -> None: ...

    def invoke(self, op: Op) -> Op: ...

    def close(self) -> None: ...
