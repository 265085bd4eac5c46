"""kv: MIT 6.824-style get, put and append of strings, checked for linearizability.

Keys are worked on by groups of client threads (Jepsen's independent pattern, as in
``register``): each key takes ``ops_per_key`` ops, then the group moves to a fresh key.
``put`` replaces a key's string, ``append`` concatenates to it, ``get`` reads it ("" for
a key never written). Written strings are unique tokens, so any read tells which writes
it saw and in what order. Checked per key against the ``kv`` model.
"""

from __future__ import annotations

from typing import Any, Final

from harness.db import KVSession
from harness.generator import Context, Generator, fn, independent_keys, limit, mix, repeat
from harness.op import Op
from workloads.base import Option, Workload, WorkloadOptions, ok, session_client

OPTIONS: Final = {
    "threads_per_key": Option(5, int, "client threads working on one key at a time", 1),
    "ops_per_key": Option(60, int, "ops on a key before its group moves to a fresh key", 1),
    "append_ratio": Option(0.5, float, "share of writes that append (the rest put)", 0, 1),
}


def kv_key(key: Any) -> str:
    return f"kv/{key}"


def kv_generator(*, threads_per_key: int, ops_per_key: int, append_ratio: float) -> Generator:
    def write(ctx: Context) -> dict[str, Any]:
        f = "append" if ctx.rng.random() < append_ratio else "put"
        return {"f": f, "value": f"{ctx.rng.getrandbits(32):08x}."}

    ops = mix([repeat({"f": "get"}), fn(write)])
    return independent_keys(threads_per_key, lambda key: limit(ops_per_key, ops))


def apply(session: KVSession, op: Op) -> Op:
    key = kv_key(op.key)
    if op.f == "get":
        return ok(op, session.get(key) or "")
    if op.f == "put":
        session.put(key, op.value)
        return ok(op)
    if op.f == "append":
        session.append(key, op.value)
        return ok(op)
    raise ValueError(f"kv: unknown op {op.f!r}")


def workload(opts: WorkloadOptions) -> Workload:
    o = opts.resolve("kv", OPTIONS)
    from checkers.linearizable import LinearizabilityChecker

    return Workload(
        name="kv",
        client=session_client(apply),
        generator=kv_generator(threads_per_key=min(o["threads_per_key"], opts.concurrency),
                               ops_per_key=o["ops_per_key"], append_ratio=o["append_ratio"]),
        checker=LinearizabilityChecker("kv", independent=True),
    )
