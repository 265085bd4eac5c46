"""``chaos report`` and ``chaos serve``: rebuild a stored run's reports; browse the store.

``chaos report RUN_DIR`` rewrites junit.xml and report.html from the run directory's
files and prints the console summary (RUN_DIR may also be a store or a test directory,
whose ``latest`` run is used). ``chaos serve`` serves the run index of a store and the
runs' files over HTTP, on 127.0.0.1 unless told otherwise; the index is rebuilt on
every request, so new runs show up on reload. Only files inside the store are served.
"""

from __future__ import annotations

import http.server
import sys
from functools import partial
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import click
from rich.console import Console

from harness.errors import InputError
from reports.index import find_runs, render_index
from reports.render import RESULTS, load_run, render_run

DEFAULT_PORT: Final = 8080
TEXT_TYPES: Final = {".jsonl": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8",
                     ".edn": "text/plain; charset=utf-8", ".json": "application/json",
                     ".xml": "application/xml", ".html": "text/html; charset=utf-8"}


def resolve_run_dir(path: Path) -> Path:
    """The run directory ``path`` names: itself, or the ``latest`` (else newest) run of a
    store or test directory."""
    if not path.exists():
        raise InputError(f"{path}: no such run directory")
    for candidate in (path, path / "latest"):
        if (candidate / RESULTS).is_file() or (candidate / "history.jsonl").is_file():
            return candidate.resolve()
    runs = find_runs(path)
    if runs:
        return (path / runs[0].path).resolve()
    raise InputError(f"{path}: not a run directory (no {RESULTS} or history.jsonl, and no "
                     "latest run inside)")


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Do not print the summary.")
def report(run_dir: Path, quiet: bool) -> int:
    """Regenerate junit.xml and report.html of the stored run RUN_DIR.

    RUN_DIR is store/<test-name>/<timestamp>/ (or a store or test directory, whose
    latest run is used). The reports are rebuilt from the directory's files alone.
    """
    run = resolve_run_dir(run_dir)
    written = render_run(run)
    console = Console()
    if not quiet:
        from reports.console import print_summary

        results, _ = load_run(run)
        print_summary(results, console)
    for path in written:
        console.print(f"wrote {path}", style="dim", highlight=False, soft_wrap=True)
    return 0


class StoreHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the run index at ``/`` and the store's files below it, nothing outside."""

    store: Path
    quiet: bool = False

    def __init__(self, *args: Any, store: Path, quiet: bool = False, **kwargs: Any) -> None:
        self.store = store.resolve()
        self.quiet = quiet
        super().__init__(*args, directory=str(self.store), **kwargs)

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path in ("/", "/index.html"):
            self._send_index()
            return
        target = Path(self.translate_path(self.path)).resolve()
        if not target.is_relative_to(self.store):
            self.send_error(404, "not in the store")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        target = Path(self.translate_path(self.path)).resolve()
        if not target.is_relative_to(self.store):
            self.send_error(404, "not in the store")
            return
        super().do_HEAD()

    def _send_index(self) -> None:
        body = render_index(find_runs(self.store), str(self.store)).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def guess_type(self, path: str | Any) -> str:
        suffix = Path(str(path)).suffix.lower()
        return TEXT_TYPES.get(suffix) or super().guess_type(path)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(store: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
                quiet: bool = False) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the store (not yet serving); port 0 picks a free port."""
    if not store.is_dir():
        raise InputError(f"{store}: no such store directory")
    handler = partial(StoreHandler, store=store, quiet=quiet)
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


@click.command("serve")
@click.option("--store", "store", type=click.Path(path_type=Path), default=Path("store"),
              show_default=True, help="The store directory to serve.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 exposes the store to the network).")
def serve(store: Path, port: int, host: str) -> int:
    """Serve an index of all runs in the store (newest first) and their reports."""
    server = make_server(store, host, port)
    click.echo(f"serving {len(find_runs(store))} runs from {store} at "
               f"http://{host}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
