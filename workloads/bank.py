"""bank: transfers between accounts as atomic transactions, plus reads of all balances.

Every account starts with ``total // accounts`` (the remainder goes to account 0). An
account's key holds its ledger: the signed amounts transferred in and out, appended
as ``"+3 "`` / ``"-3 "``. A ``transfer`` is one raftkv transaction appending to both
ledgers (atomic, so money is never created or destroyed); a ``read`` is one transaction
reading every ledger, whose balances must always sum to ``total``. Balances may go
negative (transfers do not check funds), so the checker allows negative balances.

Ops: ``transfer`` (value ``{"from": a, "to": b, "amount": n}``), ``read`` (value: the
map account -> balance).
"""

from __future__ import annotations

from typing import Any, Final

from harness.db import KVSession
from harness.generator import Context, Generator, fn, mix, repeat
from harness.op import Op
from workloads.base import Option, Workload, WorkloadOptions, ok, session_client

OPTIONS: Final = {
    "accounts": Option(5, int, "number of accounts", 2),
    "total": Option(100, int, "money in the bank, spread over the accounts", 0),
    "max_transfer": Option(5, int, "transfers move 1..max_transfer", 1),
}


def account_key(account: int) -> str:
    return f"bank/{account}"


def initial_balances(accounts: int, total: int) -> dict[int, int]:
    each, extra = divmod(total, accounts)
    return {a: each + (extra if a == 0 else 0) for a in range(accounts)}


def ledger_sum(ledger: str | None) -> int:
    return sum(int(x) for x in (ledger or "").split())


def bank_generator(*, accounts: int, max_transfer: int) -> Generator:
    def transfer(ctx: Context) -> dict[str, Any]:
        a, b = ctx.rng.sample(range(accounts), 2)
        return {"f": "transfer",
                "value": {"from": a, "to": b, "amount": ctx.rng.randint(1, max_transfer)}}

    return mix([repeat({"f": "read"}), fn(transfer)])


def make_apply(accounts: int, total: int) -> Any:
    initial = initial_balances(accounts, total)

    def apply(session: KVSession, op: Op) -> Op:
        if op.f == "read":
            result = session.txn([["read", account_key(a), None] for a in range(accounts)])
            return ok(op, {a: initial[a] + ledger_sum(r[2]) for a, r in enumerate(result)})
        if op.f == "transfer":
            t = op.value
            n = int(t["amount"])
            session.txn([["append", account_key(t["from"]), f"-{n} "],
                         ["append", account_key(t["to"]), f"+{n} "]])
            return ok(op)
        raise ValueError(f"bank: unknown op {op.f!r}")

    return apply


def workload(opts: WorkloadOptions) -> Workload:
    o = opts.resolve("bank", OPTIONS)
    from checkers.bank import BankChecker

    return Workload(
        name="bank",
        client=session_client(make_apply(o["accounts"], o["total"])),
        generator=bank_generator(accounts=o["accounts"], max_transfer=o["max_transfer"]),
        checker=BankChecker(list(range(o["accounts"])), o["total"], allow_negative=True),
        final_generator=None,
    )
