"""Golden histories: every Knossos history in the shared corpus gets its folder's verdict.

The corpus lives beside the repository (``../shared/corpus`` from the repository root;
``RAFT_CHAOS_CORPUS`` overrides). Folders: ``<model>/good`` must be linearizable,
``<model>/bad`` must not be.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from checkers.linearizable import check_linearizable
from harness.history import read_history

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("RAFT_CHAOS_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))
KNOSSOS = CORPUS / "knossos"
MISSING = pytest.mark.skipif(not KNOSSOS.is_dir(),
                             reason=f"no Knossos corpus at {KNOSSOS} (set RAFT_CHAOS_CORPUS)")
FILES = ([pytest.param(p, id=str(p.relative_to(KNOSSOS))) for p in sorted(KNOSSOS.rglob("*.edn"))]
         if KNOSSOS.is_dir() else [pytest.param(None, id="corpus-missing", marks=MISSING)])


@MISSING
def test_corpus_is_complete():
    files = list(KNOSSOS.rglob("*.edn"))
    assert len(files) > 100
    assert {p.relative_to(KNOSSOS).parts[0] for p in files} >= {
        "cas-register", "multi-register", "mutex"}


@pytest.mark.parametrize("path", FILES)
def test_history_gets_its_folders_verdict(path: Path):
    model, verdict = path.relative_to(KNOSSOS).parts[:2]
    ops = read_history(path)
    started = time.monotonic()
    result = check_linearizable(ops, model, time_limit=60)
    assert result.valid is (verdict == "good"), result.summary
    assert time.monotonic() - started < 30
    if verdict == "bad":
        ce = result.details["counterexample"]
        assert ce["sentence"] and ce["ops"]
        failing = [o for o in ce["ops"] if o["index"] == ce["failing"]]
        assert len(failing) == 1 and failing[0]["type"] == "ok"
