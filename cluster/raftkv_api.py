"""A small HTTP/JSON client for one raftkv node (see cluster/node/API.md).

Maps raftkv's answers onto the harness's error classes exactly: an error body with
``"definite": true`` raises :class:`DefiniteError` (the op did not happen); anything
else that is not a success (timeouts, lost leadership, dropped connections after the
request was sent) raises :class:`IndeterminateError`. A ``not_leader`` answer carries
the leader's id so the caller can retry there.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote

from harness.client import DefiniteError, IndeterminateError


class NotLeader(DefiniteError):
    """The node is not the leader; ``leader`` is its guess at the leader's id, if any."""

    def __init__(self, message: str, leader: int | None, leader_addr: str | None) -> None:
        super().__init__(message)
        self.leader = leader
        self.leader_addr = leader_addr


class RaftkvAPI:
    """A keep-alive connection to one node's client port."""

    def __init__(self, addr: str, timeout: float = 5.0) -> None:
        host, _, port = addr.rpartition(":")
        self.addr = addr
        self._host, self._port, self._timeout = host, int(port), timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            self._conn.request(method, path, body=payload, headers=headers)
        except (ConnectionError, OSError) as e:
            # Nothing was (fully) sent: the node never saw the request.
            self.close()
            raise DefiniteError(f"cannot send to {self.addr}: {e}") from e
        try:
            resp = self._conn.getresponse()
            raw = resp.read()
        except TimeoutError as e:
            self.close()
            raise IndeterminateError(f"timed out waiting for {self.addr}") from e
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            self.close()
            raise IndeterminateError(f"connection to {self.addr} lost: {e}") from e
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as e:
            raise IndeterminateError(f"{self.addr} sent non-JSON ({resp.status})") from e
        if resp.status == 200:
            return data
        err = str(data.get("error", resp.status))
        msg = f"{self.addr}: {err}: {data.get('message', '')}".rstrip(": ")
        if err == "not_leader":
            raise NotLeader(msg, data.get("leader"), data.get("leader_addr"))
        if data.get("definite") is True:
            raise DefiniteError(msg)
        raise IndeterminateError(msg)

    @staticmethod
    def _key(key: str) -> str:
        return "/kv/" + quote(key, safe="")

    def get(self, key: str, read: str | None = None) -> str | None:
        q = f"?read={quote(read)}" if read else ""
        value: str | None = self._request("GET", self._key(key) + q)["value"]
        return value

    def put(self, key: str, value: str) -> None:
        self._request("PUT", self._key(key), {"value": value})

    def cas(self, key: str, old: str | None, new: str) -> bool:
        answer = self._request("POST", self._key(key) + "/cas", {"from": old, "to": new})
        return bool(answer["applied"])

    def append(self, key: str, value: str) -> None:
        self._request("POST", self._key(key) + "/append", {"value": value})

    def txn(self, ops: list[list[Any]], read: str | None = None) -> list[list[Any]]:
        q = f"?read={quote(read)}" if read else ""
        result: list[list[Any]] = self._request("POST", "/txn" + q, {"ops": ops})["ops"]
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/status")
        return result

    def add_node(self, node_id: int, raft_addr: str, client_addr: str) -> None:
        self._request("POST", "/admin/add",
                      {"id": node_id, "raft_addr": raft_addr, "client_addr": client_addr})

    def remove_node(self, node_id: int) -> None:
        self._request("POST", "/admin/remove", {"id": node_id})

    def transfer_leader(self, to: int) -> None:
        self._request("POST", "/admin/transfer", {"to": to})
