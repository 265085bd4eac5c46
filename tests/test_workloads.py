"""Workloads: their generators under simulate, their clients against an in-memory store,
their checkers on the result; and the raftkv adapter against a fake HTTP node."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cluster.base import Node
from harness.client import DefiniteError
from harness.db import RaftkvSession
from harness.errors import InputError
from harness.generator import clients, limit, phases, simulate
from harness.op import Op
from harness.plugins import load_plugin, plugin_names
from tests.runner_fakes import FakeSession, FakeStore
from workloads import bank, kv, register
from workloads import set as set_workload
from workloads.base import Workload, WorkloadOptions


def run_against(workload: Workload, session: FakeSession, n: int = 400, seed: int = 1,
                concurrency: int = 4) -> list[Op]:
    """Simulate the workload's generator and answer each op from the fake store."""
    def respond(op: Op, rng: random.Random) -> tuple[str, Any, float]:
        client = workload.client(lambda node: session)
        client.open(Node("n1", 1, "127.0.0.1"))
        try:
            done = client.invoke(op)
        except DefiniteError:
            return "fail", op.value, 0.001
        return done.type, done.value, rng.random() * 0.01

    g = clients(limit(n, workload.generator))
    if workload.final_generator is not None:
        g = phases(g, clients(workload.final_generator))
    return simulate(g, concurrency=concurrency, seed=seed, respond=respond)


def test_builtin_workloads_are_registered_through_entry_points() -> None:
    assert plugin_names("workloads") == ["bank", "kv", "register", "set"]
    assert load_plugin("workloads", "register") is register.workload
    assert plugin_names("databases") == ["raftkv"]


@pytest.mark.parametrize("module", [register, kv, bank, set_workload])
def test_unknown_and_bad_options_are_input_errors(module: Any) -> None:
    with pytest.raises(InputError, match="has no option 'bogus'"):
        module.workload(WorkloadOptions(options={"bogus": 1}))
    name, _ = next(iter(module.OPTIONS.items()))
    with pytest.raises(InputError, match=f"option {name} must be"):
        module.workload(WorkloadOptions(options={name: "many"}))


def test_register_ops_keys_and_values() -> None:
    wl = register.workload(WorkloadOptions(concurrency=4, options={"ops_per_key": 10}))
    h = run_against(wl, FakeSession(FakeStore(), stale=False))
    invokes = [o for o in h if o.type == "invoke"]
    assert {o.f for o in invokes} == {"read", "write", "cas"}
    assert all(o.key is not None for o in invokes)
    assert max(sum(1 for o in invokes if o.key == k) for k in {o.key for o in invokes}) == 10
    assert wl.checker.check(h).valid is True


def test_register_checker_catches_stale_reads() -> None:
    wl = register.workload(WorkloadOptions(concurrency=4, options={"ops_per_key": 200}))
    h = run_against(wl, FakeSession(FakeStore(), stale=True), n=800)
    assert wl.checker.check(h).valid is False


def test_kv_appends_and_puts_are_linearizable_against_a_dict() -> None:
    wl = kv.workload(WorkloadOptions(concurrency=4))
    h = run_against(wl, FakeSession(FakeStore(), stale=False))
    assert {o.f for o in h} == {"get", "put", "append"}
    assert any(o.type == "ok" and o.f == "get" and len(o.value) > 9 for o in h)  # an append seen
    assert wl.checker.check(h).valid is True
    stale = run_against(wl, FakeSession(FakeStore(), stale=True), n=600)
    assert wl.checker.check(stale).valid is False


def test_bank_transfers_conserve_the_total() -> None:
    wl = bank.workload(WorkloadOptions(options={"accounts": 4, "total": 40}))
    h = run_against(wl, FakeSession(FakeStore(), stale=False))
    reads = [o.value for o in h if o.type == "ok" and o.f == "read"]
    assert reads and all(sum(r.values()) == 40 for r in reads)
    assert any(r != {0: 10, 1: 10, 2: 10, 3: 10} for r in reads)
    assert wl.checker.check(h).valid is True


def test_set_adds_are_unique_and_the_final_read_sees_them() -> None:
    wl = set_workload.workload(WorkloadOptions())
    h = run_against(wl, FakeSession(FakeStore(), stale=False))
    adds = [o.value for o in h if o.type == "invoke" and o.f == "add"]
    assert len(adds) == len(set(adds)) > 100
    final = [o for o in h if o.type == "ok" and o.f == "read"][-1]
    assert sorted(final.value) == sorted(adds)
    assert h[-1].f == "read"
    assert wl.checker.check(h).valid is True


class ForgetfulSession(FakeSession):
    """Acknowledges every add but never shows the first one in a read."""

    def get(self, key: str) -> str | None:
        value = super().get(key)
        return None if value is None else value.removeprefix("0,")


def test_set_checker_finds_lost_adds() -> None:
    wl = set_workload.workload(WorkloadOptions())
    h = run_against(wl, ForgetfulSession(FakeStore(), stale=False))
    result = wl.checker.check(h)
    assert result.valid is False and "lost" in {a.kind for a in result.anomalies}


# --- the raftkv adapter ------------------------------------------------------------


class _Node(BaseHTTPRequestHandler):
    """A raftkv node that is not the leader unless it is node 2."""

    data: dict[str, str] = {}
    seen: list[tuple[int, str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self, method: str) -> None:
        node_id = self.server.node_id  # type: ignore[attr-defined]
        self.seen.append((node_id, method, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        if node_id != 2:
            self._reply(503, {"error": "not_leader", "leader": 2, "definite": True})
            return
        key = self.path.split("?")[0].removeprefix("/kv/")
        if method == "GET":
            self._reply(200, {"value": self.data.get(key)})
        else:
            self.data[key] = body["value"]
            self._reply(200, {})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")


@pytest.fixture
def two_nodes() -> Iterator[list[Node]]:
    servers = []
    for node_id in (1, 2):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
        srv.node_id = node_id  # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    _Node.data, _Node.seen = {}, []
    yield [Node(f"n{i}", i, "127.0.0.1", client_port=s.server_address[1], raft_port=0)
           for i, s in zip((1, 2), servers, strict=True)]
    for s in servers:
        s.shutdown()
        s.server_close()


def test_raftkv_session_follows_not_leader_once(two_nodes: list[Node]) -> None:
    n1, _ = two_nodes
    s = RaftkvSession(n1, two_nodes, read_mode="lease", timeout_s=2)
    s.put("a", "1")
    assert s.get("a") == "1"
    s.close()
    assert [(n, m) for n, m, _ in _Node.seen] == [(1, "PUT"), (2, "PUT"), (1, "GET"), (2, "GET")]
    assert _Node.seen[-1][2] == "/kv/a?read=lease"


def test_raftkv_session_not_leader_from_the_leader_too_is_definite(two_nodes: list[Node]) -> None:
    n1, _ = two_nodes
    lonely = RaftkvSession(n1, [n1], read_mode=None, timeout_s=2)  # cannot find node 2
    with pytest.raises(DefiniteError, match="not_leader"):
        lonely.put("a", "1")
    lonely.close()
