"""``chaos serve``: the run index over HTTP, newest first, files from the store only."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import InputError
from reports import render_run
from reports.cli import make_server
from reports.index import find_runs, render_index
from reports.synthetic import synthetic_run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("store")
    old = synthetic_run(store, n_ops=200, name="reg-good")
    new = synthetic_run(store, n_ops=200, invalid=True, name="reg-bad")
    # make reg-bad the newer run, and give reg-good a second, oldest run without results
    results = json.loads((new / "results.json").read_text())
    results["run"]["started"] = "2025-03-15T08:00:00+00:00"
    (new / "results.json").write_text(json.dumps(results))
    died = old.parent / "20250101T000000+0000"
    died.mkdir()
    (died / "test.json").write_text(json.dumps({"name": "reg-good", "workload": "register",
                                                "nemesis": ["kill"]}))
    os.utime(died, (0, 0))  # its mtime stands in for the missing start time
    render_run(new)
    return store


@pytest.fixture(scope="module")
def url(store: Path) -> Iterator[str]:
    server = make_server(store, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""


def test_find_runs_newest_first(store: Path) -> None:
    runs = find_runs(store)
    assert [(r.name, r.verdict) for r in runs] == [
        ("reg-bad", "invalid"), ("reg-good", "valid"), ("reg-good", "unknown")]
    assert runs[0].ops == 200 + 3  # the planted stale read adds three operations
    assert runs[0].workload == "register" and runs[0].nemesis == "partition,kill"
    assert runs[0].files == ("report.html", "results.json", "history.jsonl", "junit.xml",
                             "test.json", "nodes/")
    assert "no results.json" in runs[2].note
    assert runs[2].nemesis == "kill"


def test_index_page_lists_runs_with_links(url: str) -> None:
    status, ctype, body = get(url + "/")
    assert status == 200 and ctype.startswith("text/html")
    names = re.findall(r'<td class="l verdict (\w+)">', body)
    assert names == ["invalid", "valid", "unknown"]
    assert re.search(r'<a href="reg-bad/[^"]+/report.html">reg-bad</a>', body)
    for f in ("results.json", "history.jsonl", "junit.xml", "test.json", "nodes"):
        assert re.search(rf'href="reg-bad/[^"]+/{f}/?"', body), f
    assert "3 runs · 1 valid · 1 invalid · 1 unknown" in body


def test_serves_reports_and_files(url: str, store: Path) -> None:
    run = find_runs(store)[0].path
    status, ctype, body = get(f"{url}/{run}/report.html")
    assert status == 200 and "INVALID" in body and ctype.startswith("text/html")
    status, ctype, body = get(f"{url}/{run}/history.jsonl")
    assert status == 200 and ctype.startswith("text/plain") and body.startswith('{"index": 0')
    status, ctype, _ = get(f"{url}/{run}/results.json")
    assert status == 200 and ctype == "application/json"
    status, _, body = get(f"{url}/{run}/nodes/")
    assert status == 200 and "n1/" in body


def test_nothing_outside_the_store(url: str, store: Path) -> None:
    (store.parent / "secret.txt").write_text("secret")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/reg-bad/../../secret.txt"):
        status, _, body = get(url + path)
        assert "secret" not in body
        assert status in (404, 400) or "raft-chaos runs" in body


def test_bad_store_and_port(tmp_path: Path, url: str) -> None:
    with pytest.raises(InputError, match="no such store directory"):
        make_server(tmp_path / "nope", "127.0.0.1", 0)
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}"):
        make_server(tmp_path, "127.0.0.1", port)


def test_empty_store_index(tmp_path: Path) -> None:
    html = render_index(find_runs(tmp_path), str(tmp_path))
    assert "No runs in this store yet" in html


def test_serve_command_defaults_to_loopback() -> None:
    from reports.cli import serve

    params = {p.name: p.default for p in serve.params}
    assert params["host"] == "127.0.0.1"
