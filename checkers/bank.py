"""Bank: money moves between accounts and is never created or destroyed.

Ops (what the bank workload records): ``transfer`` with value
``{"from": a, "to": b, "amount": n}``, and ``read`` whose completion value maps every
account to its balance. Only ``ok`` reads are judged (a transfer's outcome does not
matter: whatever happened, a snapshot read must see the same total). Anomalies, after
Jepsen's bank checker: ``wrong-total`` (a read whose balances do not sum to the total),
``negative-value`` (a balance below zero, unless allowed), ``unexpected-key`` (an
account that should not exist) and ``nil-balance`` (an account missing from a read, or
without a balance). A history without any ok read says nothing: ``"unknown"``.

JSON turns integer account ids into strings; both spellings are accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Final

from checkers.result import UNKNOWN, Anomaly, Result, Valid
from harness.history import History
from harness.op import Op

MAX_ANOMALIES_PER_KIND: Final = 10


def _when(op: Op) -> str:
    return f"at {op.time / 1e9:.2f} s" if op.time >= 0 else f"at op {op.index}"


class BankChecker:
    """Every ok read sums to ``total`` over exactly ``accounts``, none negative."""

    def __init__(self, accounts: Iterable[Hashable], total: int,
                 allow_negative: bool = False) -> None:
        self.accounts = tuple(accounts)
        self.total = total
        self.allow_negative = allow_negative
        self.name = "bank"

    def check(self, history: Sequence[Op]) -> Result:
        by_text = {str(a): a for a in self.accounts}
        reads = 0
        counts: Counter[str] = Counter()
        anomalies: list[Anomaly] = []
        totals: list[int] = []

        def report(kind: str, explanation: str, op: Op, data: dict[str, Any]) -> None:
            counts[kind] += 1
            if counts[kind] <= MAX_ANOMALIES_PER_KIND:
                anomalies.append(Anomaly(kind, explanation, (op.index,), data))

        for op in History.of(history):
            if not (op.is_client and op.type == "ok" and op.f == "read"):
                continue
            reads += 1
            value = op.value
            if not isinstance(value, Mapping):
                report("nil-balance", f"read {_when(op)} returned {value!r}, not balances",
                       op, {})
                continue
            balances: dict[Hashable, Any] = {}
            for k, v in value.items():
                account = by_text.get(str(k), k)
                if account not in self.accounts:
                    report("unexpected-key", f"read {_when(op)} saw account {k!r}, which "
                           "does not exist", op, {"account": str(k)})
                balances[account] = v
            missing = [a for a in self.accounts
                       if a not in balances or balances[a] is None]
            if missing:
                report("nil-balance", f"read {_when(op)} has no balance for account(s) "
                       f"{', '.join(map(repr, missing))}", op,
                       {"accounts": [str(a) for a in missing]})
            numbers = {a: v for a, v in balances.items() if isinstance(v, int | float)}
            total = sum(numbers.values())
            totals.append(int(total))
            if not missing and total != self.total:
                report("wrong-total", f"read {_when(op)} saw a total of {total}, not "
                       f"{self.total}: {_show(numbers)}", op,
                       {"total": total, "expected": self.total})
            negative = {a: v for a, v in numbers.items() if v < 0}
            if negative and not self.allow_negative:
                report("negative-value", f"read {_when(op)} saw a negative balance: "
                       f"{_show(negative)}", op, {"balances": _json(negative)})
        valid: Valid
        if counts:
            valid = False
            summary = "invalid: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        elif reads == 0:
            valid = UNKNOWN
            summary = "unknown: no successful read"
        else:
            valid = True
            summary = f"valid: {reads} reads, every one totals {self.total}"
        details: dict[str, Any] = {"reads": reads, "anomaly_counts": dict(counts),
                                   "expected_total": self.total}
        if totals:
            details["total_range"] = [min(totals), max(totals)]
        return Result(self.name, valid, summary, tuple(anomalies), details)


def _show(balances: Mapping[Hashable, Any]) -> str:
    return "{" + ", ".join(f"{a!r}: {v}" for a, v in balances.items()) + "}"


def _json(balances: Mapping[Hashable, Any]) -> dict[str, Any]:
    return {str(a): v for a, v in balances.items()}
