"""History: pairing rules, JSON Lines streaming, format detection, clear errors."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.history import (
    History,
    HistoryError,
    JsonlWriter,
    iter_jsonl,
    read_history,
    split_independent,
    write_jsonl,
)
from harness.op import Op


def inv(p, f, v=None, **kw):
    return Op(process=p, type="invoke", f=f, value=v, **kw)


def done(p, t, f, v=None, **kw):
    return Op(process=p, type=t, f=f, value=v, **kw)


def test_pairs_invocations_with_completions_in_invocation_order():
    h = History([inv(0, "write", 1), inv(1, "read"), done(1, "ok", "read", 1),
                 done(0, "ok", "write", 1)])
    pairs = h.pairs()
    assert [(p.f, p.type, p.start, p.end) for p in pairs] == [
        ("write", "ok", 0, 3), ("read", "ok", 1, 2)]
    assert pairs[1].value == 1
    assert h.mate(0) == 3 and h.mate(2) == 1


def test_indices_are_filled_with_positions():
    h = History([inv(0, "read"), done(0, "ok", "read", 5)])
    assert [op.index for op in h] == [0, 1]


def test_never_completed_invocation_counts_as_info():
    h = History([inv(0, "write", 3)])
    (pair,) = h.pairs()
    assert pair.type == "info" and pair.completion is None and pair.end is None


def test_info_completion_without_value_takes_the_invocations():
    h = History([inv(0, "write", 7), done(0, "info", "write")])
    assert h[1].value == 7


def test_completion_inherits_key_of_invocation():
    h = History([inv(0, "read", key="k"), done(0, "ok", "read", 1)])
    assert h[1].key == "k"


def test_nemesis_ops_are_kept_and_left_out_of_client_pairs():
    h = History([Op(process="nemesis", type="info", f="start-partition"),
                 inv(0, "read"),
                 Op(process="nemesis", type="info", f="start-partition", value="done"),
                 done(0, "ok", "read", None)])
    assert len(h) == 4
    assert [p.f for p in h.pairs()] == ["read"]
    all_pairs = h.pairs(clients_only=False)
    assert [(p.f, p.start, p.end) for p in all_pairs] == [
        ("start-partition", 0, 2), ("read", 1, 3)]
    assert [op.f for op in h.client_ops()] == ["read", "read"]


@pytest.mark.parametrize("ops, message", [
    ([done(0, "ok", "read", 1)], "without having invoked"),
    ([inv(0, "read"), inv(0, "write", 1)], "has not completed"),
    ([inv(0, "read"), done(0, "ok", "write", 1)], "invoked 'read'"),
])
def test_pairing_errors_name_the_op(ops, message):
    with pytest.raises(HistoryError, match=message) as e:
        History(ops)
    assert e.value.position == len(ops) - 1


def test_split_independent_tuples():
    ops = split_independent([inv(0, "write", [3, 1]), done(0, "ok", "write", [3, 1]),
                             Op(process="nemesis", type="info", f="kill", value=[1, 2])])
    assert (ops[0].key, ops[0].value) == (3, 1)
    assert (ops[1].key, ops[1].value) == (3, 1)
    assert ops[2].key is None and ops[2].value == [1, 2]


def test_jsonl_round_trip(tmp_path: Path):
    ops = [inv(0, "cas", [1, 2], time=5, key="a"), done(0, "fail", "cas", [1, 2], time=9,
                                                        key="a", error="mismatch")]
    path = tmp_path / "h.jsonl"
    write_jsonl(path, History(ops))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["f"] == "cas"
    back = read_history(path)
    assert back == list(History(ops))


def test_writer_flushes_each_line_as_written(tmp_path: Path):
    path = tmp_path / "h.jsonl"
    with JsonlWriter(path) as w:
        w.append(inv(0, "read", index=0))
        # Readable before the writer is closed: the run may die right now.
        assert [op.f for _, op in iter_jsonl(path)] == ["read"]
        w.append(done(0, "ok", "read", 3, index=1))
        assert len(path.read_text().splitlines()) == 2


def test_writer_is_thread_safe(tmp_path: Path):
    path = tmp_path / "h.jsonl"
    with JsonlWriter(path) as w:
        def work(p: int) -> None:
            for i in range(200):
                w.append(inv(p, "write", "x" * 50 + str(i)))
                w.append(done(p, "ok", "write", "x" * 50 + str(i)))
        threads = [threading.Thread(target=work, args=(p,)) for p in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ops = [op for _, op in iter_jsonl(path)]
    assert len(ops) == 8 * 400
    History(ops)  # every line whole, pairing intact per process


def test_writer_refuses_after_close(tmp_path: Path):
    w = JsonlWriter(tmp_path / "h.jsonl")
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.append(inv(0, "read"))


def test_writer_writes_sets_as_sorted_lists(tmp_path: Path):
    path = tmp_path / "h.jsonl"
    with JsonlWriter(path) as w:
        w.append(done(0, "ok", "read", {3, 1, 2}))
    assert json.loads(path.read_text())["value"] == [1, 2, 3]


@pytest.mark.parametrize("text, line, message", [
    ('{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"ok"\n', 2,
     "not valid JSON"),
    ('{"process":0,"type":"invoke","f":"read"}\n\n[1,2]\n', 3, "expected a JSON object"),
    ('{"process":0,"type":"invoke"}\n', 1, "lacks required field"),
    ('{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"ok","f":"write"}\n',
     2, "invoked 'read'"),
])
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, text, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as e:
        read_history(path)
    assert str(e.value).startswith(f"{path}:{line}: ")


def test_format_is_sniffed_without_a_known_suffix(tmp_path: Path):
    jsonl = tmp_path / "history"
    jsonl.write_text('{"process":0,"type":"invoke","f":"read"}\n')
    edn = tmp_path / "history.txt"
    edn.write_text("[{:process 0 :type :invoke :f :read}]\n")
    assert read_history(jsonl)[0].f == "read"
    assert read_history(edn)[0].f == "read"


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="no such history file"):
        read_history(tmp_path / "nope.jsonl")
