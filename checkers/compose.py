"""Compose: several checkers over one history, with one merged verdict.

The merged verdict ranks false above unknown above true (checkers/result.py). A checker
that raises does not crash the others or the run: its result is ``"unknown"`` with the
error. Each checker's own result is kept, by name, in ``details["results"]``, and its
anomalies are carried up with the checker's name in their data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checkers.result import Anomaly, Checker, Result, merge_valid
from harness.op import Op


class ComposedChecker:
    """Runs named checkers in order; see module docstring."""

    def __init__(self, checkers: Mapping[str, Checker]) -> None:
        self.checkers = dict(checkers)
        self.name = "compose"

    def check_each(self, history: Sequence[Op]) -> dict[str, Result]:
        """Each checker's result, by name (an exception becomes an unknown result)."""
        ops = list(history)
        results: dict[str, Result] = {}
        for name, checker in self.checkers.items():
            try:
                results[name] = checker.check(ops)
            except Exception as e:  # a broken checker must not take the verdict down
                error = f"{type(e).__name__}: {e}"
                results[name] = Result(checker=name, valid="unknown",
                                       summary=f"unknown: the checker raised {error}",
                                       error=error)
        return results

    def check(self, history: Sequence[Op]) -> Result:
        results = self.check_each(history)
        valid = merge_valid(r.valid for r in results.values())
        anomalies = tuple(
            Anomaly(a.kind, a.explanation, a.ops, {**a.data, "checker": name})
            for name, r in results.items() for a in r.anomalies)
        summary = "; ".join(f"{name}: {r.summary or r.valid}" for name, r in results.items())
        errors = [f"{name}: {r.error}" for name, r in results.items() if r.error]
        return Result(checker=self.name, valid=valid, summary=summary, anomalies=anomalies,
                      details={"results": {name: r.to_dict() for name, r in results.items()}},
                      error="; ".join(errors) or None)


def compose(checkers: Mapping[str, Checker]) -> Checker:
    """One checker running all of ``checkers`` (name -> checker), verdicts merged."""
    return ComposedChecker(checkers)
