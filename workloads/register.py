"""register: independent read/write/cas registers, checked for linearizability.

Jepsen's independent pattern: client threads work in groups of ``threads_per_key``, each
group on one key with a mix of reads, writes and compare-and-sets, ``ops_per_key`` ops
per key, then a fresh key. Values are small ints (so cas often succeeds), stored as
decimal strings. Each key is checked separately against the ``cas-register`` model.

Ops: ``read`` (value: the int read, null for nil), ``write`` (value: int), ``cas``
(value ``[old, new]``; ``fail`` when the register did not hold ``old``).
"""

from __future__ import annotations

from typing import Any, Final

from harness.db import KVSession
from harness.generator import Context, Generator, fn, independent_keys, limit, mix, repeat
from harness.op import Op
from workloads.base import Option, Workload, WorkloadOptions, fail, ok, session_client

OPTIONS: Final = {
    "threads_per_key": Option(5, int, "client threads working on one key at a time", 1),
    "ops_per_key": Option(100, int, "ops on a key before its group moves to a fresh key", 1),
    "values": Option(5, int, "written values are drawn from 0..values-1", 1),
}


def register_key(key: Any) -> str:
    return f"register/{key}"


def register_generator(*, threads_per_key: int, ops_per_key: int, values: int) -> Generator:
    def write(ctx: Context) -> dict[str, Any]:
        return {"f": "write", "value": ctx.rng.randrange(values)}

    def cas(ctx: Context) -> dict[str, Any]:
        return {"f": "cas", "value": [ctx.rng.randrange(values), ctx.rng.randrange(values)]}

    ops = mix([repeat({"f": "read"}), fn(write), fn(cas)])
    return independent_keys(threads_per_key, lambda key: limit(ops_per_key, ops))


def apply(session: KVSession, op: Op) -> Op:
    key = register_key(op.key)
    if op.f == "read":
        v = session.get(key)
        return ok(op, None if v is None else int(v))
    if op.f == "write":
        session.put(key, str(op.value))
        return ok(op)
    if op.f == "cas":
        old, new = op.value
        if session.cas(key, str(old), str(new)):
            return ok(op)
        return fail(op, "cas-mismatch")
    raise ValueError(f"register: unknown op {op.f!r}")


def workload(opts: WorkloadOptions) -> Workload:
    o = opts.resolve("register", OPTIONS)
    from checkers.linearizable import LinearizabilityChecker

    return Workload(
        name="register",
        client=session_client(apply),
        generator=register_generator(threads_per_key=min(o["threads_per_key"], opts.concurrency),
                                     ops_per_key=o["ops_per_key"], values=o["values"]),
        checker=LinearizabilityChecker("cas-register", independent=True),
    )
