"""Jepsen EDN import and export."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.edn import dumps_edn, parse_edn_history, write_edn
from harness.errors import InputError
from harness.history import History, read_history, split_independent
from harness.op import Op


def parse(text: str) -> list[Op]:
    return parse_edn_history(text)[0]


def test_vector_of_op_maps_with_keywords_as_strings():
    ops = parse("""; a comment
[{:process 0, :type :invoke, :f :cas, :value [1 2], :time 10}
 {:process 0, :type :fail, :f :cas, :value [1 2], :time 20, :error :mismatch}]""")
    assert ops[0] == Op(process=0, type="invoke", f="cas", value=[1, 2], time=10)
    assert ops[1].type == "fail" and ops[1].error == "mismatch"


def test_bare_sequence_and_list_forms():
    bare = parse("{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read "
                 ":value 1}")
    lst = parse("({:process 0 :type :invoke :f :read} {:process 0 :type :ok :f :read "
                ":value 1})")
    assert bare == lst and [o.type for o in bare] == ["invoke", "ok"]


def test_nemesis_process_key_field_and_extra_fields():
    ops = parse("[{:process :nemesis :type :info :f :start :value nil :node \"n1\"}"
                " {:process 3 :type :invoke :f :read :key :x :value nil :foo {:a 1}}]")
    assert ops[0].process == "nemesis" and not ops[0].is_client and ops[0].node == "n1"
    assert ops[1].key == "x" and ops[1].extra == {"foo": {"a": 1}}


def test_independent_tuples_are_kept_until_split():
    ops = parse("[{:process 0 :type :invoke :f :write :value [3 1]}"
                " {:process 0 :type :ok :f :write :value [3 1]}]")
    assert ops[0].value == [3, 1] and ops[0].key is None
    split = split_independent(ops)
    assert (split[0].key, split[0].value) == (3, 1)


def test_info_completion_without_value_takes_invocations(tmp_path: Path):
    path = tmp_path / "h.edn"
    path.write_text("[{:process 0 :type :invoke :f :write :value 4}\n"
                    " {:process 0 :type :info :f :write}]\n")
    assert read_history(path)[1].value == 4


def test_multi_register_micro_ops_and_sets():
    ops = parse("[{:process 0 :type :ok :f :txn :value [[:read :x 1] [:write :y 2]]}"
                " {:process 1 :type :ok :f :read :value #{3 1 2}}]")
    assert ops[0].value == [["read", "x", 1], ["write", "y", 2]]
    assert ops[1].value == [1, 2, 3]


def test_jepsen_record_tag_reads_as_a_map():
    ops = parse("[#jepsen.history.Op{:index 0 :process 0 :type :invoke :f :read}]")
    assert ops[0].index == 0 and ops[0].f == "read"


@pytest.mark.parametrize("text, line, message", [
    ("[{:process 0 :type :invoke :f :read}\n{:process 0 \n :type ]", 3, "malformed EDN"),
    ("[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok}]", 2, "lacks required"),
    ("[{:process 0 :type :invoke :f :read}\n 17]", 2, "expected an op map"),
    ("[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f}]", 2, "malformed EDN"),
    ("[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read}", 2,
     "ends inside an unclosed form"),
])
def test_malformed_edn_names_file_and_line(tmp_path: Path, text, line, message):
    path = tmp_path / "bad.edn"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as e:
        read_history(path)
    assert str(e.value).startswith(f"{path}:{line}: ")


def test_pairing_error_in_edn_names_the_line(tmp_path: Path):
    path = tmp_path / "bad.edn"
    path.write_text("[{:process 0 :type :invoke :f :read}\n"
                    " {:process 1 :type :ok :f :read :value 1}]\n")
    with pytest.raises(InputError, match=rf"{path}:2: process 1 completes"):
        read_history(path)


def test_export_then_import_round_trips(tmp_path: Path):
    ops = list(History([
        Op(process=0, type="invoke", f="txn", value=[["r", "x", None], ["w", "y", 2]],
           time=1),
        Op(process=0, type="ok", f="txn", value=[["r", "x", 0], ["w", "y", 2]], time=2),
        Op(process=1, type="invoke", f="write", value=3, key="k", time=3),
        Op(process=1, type="info", f="write", value=3, key="k", time=4, error="timeout"),
        Op(process="nemesis", type="info", f="kill", value=["n1"], time=5),
    ]))
    path = tmp_path / "h.edn"
    write_edn(path, ops)
    text = path.read_text()
    assert ":f :txn" in text and "[:r \"x\" nil]" in text and ":error :timeout" in text
    assert ":process :nemesis" in text
    assert read_history(path) == ops


def test_export_with_independent_tuples():
    ops = [Op(process=0, type="invoke", f="write", value=1, key=3, index=0)]
    text = dumps_edn(ops, independent_tuples=True)
    assert ":value [3 1]" in text and ":key" not in text
    back = split_independent(parse(text))
    assert (back[0].key, back[0].value) == (3, 1)


def test_empty_history():
    assert parse("[]") == [] and dumps_edn([]) == "[]\n"
