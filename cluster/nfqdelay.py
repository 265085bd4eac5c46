"""A userspace packet delayer on NFQUEUE, for kernels without ``sch_netem``.

iptables hands each matching packet to a netfilter queue (``-j NFQUEUE --queue-num N
--queue-bypass``); this program binds that queue over a netlink socket, holds each
packet's id until its release time and then answers ``NF_ACCEPT``. Delay with uniform
jitter in ``[delay - jitter, delay + jitter]`` and netem's reorder (``reorder_pct`` of
packets are released at once, the rest wait) are what it does; loss is an iptables
``statistic`` rule and rate a ``tbf`` qdisc, so they need no help from here.

It must run inside the node's network namespace (``nsenter -t PID -n python -m
cluster.nfqdelay ...`` or ``ip netns exec NS ...``). When it exits its queue is unbound
and ``--queue-bypass`` lets packets through undelayed, so killing it is a heal. Only
the standard library is used: the nfnetlink_queue protocol is a few fixed structs.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
QUEUE_MAXLEN = 10_000  # netem's default limit is 1000 packets; be generous, drop beyond


@dataclass(frozen=True, slots=True)
class DelaySpec:
    """What to do to each queued packet."""

    delay_ms: float
    jitter_ms: float = 0.0
    reorder_pct: float = 0.0

    def hold_s(self, rng: random.Random) -> float:
        """Seconds to hold one packet: 0 for a reordered one, else delay +- jitter."""
        if self.reorder_pct and rng.random() * 100 < self.reorder_pct:
            return 0.0
        jitter = rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, self.delay_ms + jitter) / 1000


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(msg: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def config_messages(queue: int) -> list[bytes]:
    """Bind ``queue`` and ask for packet metadata only (ids, no payloads)."""
    bind = _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))
    params = _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
    maxlen = _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
    return [
        _message(NFQNL_MSG_CONFIG, queue, bind, NLM_F_REQUEST | NLM_F_ACK, 1),
        _message(NFQNL_MSG_CONFIG, queue, params + maxlen, NLM_F_REQUEST | NLM_F_ACK, 2),
    ]


def verdict_message(queue: int, packet_id: int) -> bytes:
    return _message(NFQNL_MSG_VERDICT, queue,
                    _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)))


def parse_messages(data: bytes) -> tuple[list[int], list[int]]:
    """Split a netlink datagram into queued packet ids and netlink error codes."""
    ids: list[int] = []
    errors: list[int] = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", data, offset + 16)
            if code:
                errors.append(-code)
        elif kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pos = offset + 20  # nlmsghdr + nfgenmsg
            while pos + 4 <= offset + length:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, pos + 4)[0])
                pos += (alen + 3) & ~3
        offset += (length + 3) & ~3
    return ids, errors


def open_queue(queue: int) -> socket.socket:
    """A netlink socket bound to ``queue``; raises OSError with the kernel's reason."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
    sock.bind((0, 0))
    for request in config_messages(queue):
        sock.send(request)
        _ids, errors = parse_messages(sock.recv(65536))
        if errors:
            raise OSError(errors[0], f"nfqueue {queue}: {os.strerror(errors[0])}")
    return sock


def serve(queue: int, spec: DelaySpec, rng: random.Random, parent: int | None = None) -> None:
    """Hold and release packets until SIGTERM/SIGINT, or until ``parent`` has exited."""
    sock = open_queue(queue)
    held: list[tuple[float, int]] = []  # (release time, packet id)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"nfqdelay: queue {queue} bound", flush=True)
    while not stopping:
        if parent is not None and os.getppid() != parent:
            break  # whoever started us is gone: nobody is left to heal, so heal ourselves
        now = time.monotonic()
        while held and held[0][0] <= now:
            sock.send(verdict_message(queue, heapq.heappop(held)[1]))
        timeout = min(0.5, max(0.0, held[0][0] - now)) if held else 0.5
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        ids, _errors = parse_messages(sock.recv(1 << 16))
        now = time.monotonic()
        for packet_id in ids:
            hold = spec.hold_s(rng)
            if hold <= 0:
                sock.send(verdict_message(queue, packet_id))
            else:
                heapq.heappush(held, (now + hold, packet_id))
    for _, packet_id in held:  # let everything still held go on exit
        sock.send(verdict_message(queue, packet_id))
    sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.nfqdelay", description=__doc__)
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--reorder-pct", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit (releasing every packet) when the starting process exits")
    args = parser.parse_args(argv)
    try:
        serve(args.queue, DelaySpec(args.delay_ms, args.jitter_ms, args.reorder_pct),
              random.Random(args.seed), os.getppid() if args.exit_with_parent else None)
    except OSError as e:
        print(f"nfqdelay: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
