"""The output folder served by a real uvicorn on 127.0.0.1, as a feed reader sees it."""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from aggregator.serve import build_server, create_app, serve_forever

ATOM = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<feed xmlns="http://www.w3.org/2005/Atom"><title>All</title>'
    + b"<entry><title>An entry about the harbour</title></entry>" * 40
    + b"</feed>\n"
)
IDENTITY = {"Accept-Encoding": "identity"}


def loopback_socket() -> socket.socket:
    # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets
    # that say they are TCP, and without it every keep-alive request waits ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running(app: ASGIApp) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = loopback_socket()
    port = sock.getsockname()[1]
    server = build_server(app, port=port, log_level="warning", install_signal_handlers=False)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve_forever(app, stop=stop, sockets=[sock], server=server),),
    )
    thread.start()
    started = threading.Event()
    while not server.started and thread.is_alive():
        started.wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        loop.close()
        sock.close()


def raw_get(base: str, target: str) -> int:
    """Status of a GET sent byte for byte: httpx would normalise `..` away."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        status_line = conn.makefile("rb").readline()
    return int(status_line.split()[1])


def publish(path: Path, body: bytes) -> None:
    """Write the way the publisher does: a hidden temp file, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exposed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, httpx.Client]]:
    base = tmp_path_factory.mktemp("site")
    out = base / "feeds"
    publish(out / "index.atom", ATOM)
    publish(out / "index.html", b"<!doctype html><title>Feeds</title>")
    publish(out / "index.json", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}')
    publish(out / "sources.opml", b'<?xml version="1.0"?><opml version="2.0"/>')
    publish(out / "tags" / "science.atom", ATOM)
    (base / "secret.txt").write_bytes(b"outside the output folder")
    with running(create_app(out)) as url, httpx.Client(base_url=url) as client:
        yield out, client


def test_content_types(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    expected = {
        "/": "text/html; charset=utf-8",
        "/index.atom": "application/atom+xml; charset=utf-8",
        "/index.json": "application/feed+json; charset=utf-8",
        "/sources.opml": "text/x-opml; charset=utf-8",
        "/tags/science.atom": "application/atom+xml; charset=utf-8",
    }
    for path, content_type in expected.items():
        response = client.get(path, headers=IDENTITY)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == content_type


def test_full_get_carries_validators_and_cache_control(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    response = client.get("/index.atom", headers=IDENTITY)
    assert response.content == ATOM
    assert response.headers["etag"].startswith('"')  # strong
    mtime = int((out / "index.atom").stat().st_mtime)
    assert response.headers["last-modified"] == formatdate(mtime, usegmt=True)
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in response.headers


def test_if_none_match_answers_304_in_every_spelling(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    etag = client.get("/index.atom", headers=IDENTITY).headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/index.atom", headers={**IDENTITY, "If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
    stale = client.get("/index.atom", headers={**IDENTITY, "If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == ATOM


def test_if_modified_since(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    last_modified = client.get("/index.atom").headers["last-modified"]
    fresh = client.get("/index.atom", headers={"If-Modified-Since": last_modified})
    assert fresh.status_code == 304
    long_ago = formatdate(0, usegmt=True)
    assert client.get("/index.atom", headers={"If-Modified-Since": long_ago}).status_code == 200
    garbage = client.get("/index.atom", headers={"If-Modified-Since": "not a date"})
    assert garbage.status_code == 200
    # If-None-Match takes precedence: a changed ETag means a new body whatever the date.
    both = client.get(
        "/index.atom", headers={"If-Modified-Since": last_modified, "If-None-Match": '"old"'}
    )
    assert both.status_code == 200


def test_gzip_variant(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    plain = client.get("/index.atom", headers=IDENTITY)
    zipped = client.get("/index.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == ATOM  # httpx decodes
    assert int(zipped.headers["content-length"]) < len(ATOM) / 5
    assert zipped.headers["etag"] != plain.headers["etag"]
    again = client.get(
        "/index.atom",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert again.status_code == 304
    refused = client.get("/index.atom", headers={"Accept-Encoding": "gzip;q=0, *"})
    assert "content-encoding" not in refused.headers


def test_reader_switching_encoding_still_gets_304(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    plain_etag = client.get("/index.atom", headers=IDENTITY).headers["etag"]
    response = client.get(
        "/index.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": plain_etag}
    )
    assert response.status_code == 304


def test_head_has_headers_and_no_body(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    response = client.head("/index.atom", headers=IDENTITY)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(ATOM)
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"


def test_missing_and_wrong_method(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    assert client.get("/nope.atom").status_code == 404
    assert client.get("/tags/").status_code == 404  # no index.html there, and no listing
    assert client.get("/tags").status_code == 404
    response = client.post("/index.atom", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert client.delete("/healthz").status_code == 405


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/tags/../../secret.txt",
        "/tags/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/./index.atom",
    ],
)
def test_traversal_is_refused(site: tuple[Path, httpx.Client], target: str) -> None:
    _, client = site
    assert raw_get(str(client.base_url), target) == 404


def test_symlink_out_of_the_folder_is_refused(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    (out / "leak.atom").symlink_to(out.parent / "secret.txt")
    (out / "leakdir").symlink_to(out.parent, target_is_directory=True)
    (out / "latest.atom").symlink_to(out / "index.atom")
    assert client.get("/leak.atom").status_code == 404
    assert client.get("/leakdir/secret.txt").status_code == 404
    (out / "loop.atom").symlink_to(out / "loop.atom")
    assert client.get("/loop.atom").status_code == 404
    # A link that stays inside the folder is a legitimate alias.
    assert client.get("/latest.atom", headers=IDENTITY).content == ATOM


def test_hidden_files_are_refused(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    (out / ".index.atom.tmp").write_bytes(ATOM)
    (out / ".git").mkdir()
    (out / ".git" / "config").write_bytes(b"[core]")
    assert client.get("/.index.atom.tmp").status_code == 404
    assert client.get("/.git/config").status_code == 404
    assert client.get("/%2egit/config").status_code == 404


def test_atomic_replace_gives_new_etag_and_body(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    path = out / "sources" / "harbour.atom"
    publish(path, ATOM)
    first = client.get("/sources/harbour.atom", headers=IDENTITY)
    changed = ATOM.replace(b"harbour", b"airport")  # same size: only the bytes differ
    publish(path, changed)
    second = client.get(
        "/sources/harbour.atom", headers={**IDENTITY, "If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200
    assert second.content == changed
    assert second.headers["etag"] != first.headers["etag"]


def test_conditional_hits_do_not_reread_the_file(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    publish(out / "archive" / "2026-01.atom", ATOM)
    etag = client.get("/archive/2026-01.atom", headers=IDENTITY).headers["etag"]
    misses = metric(client, "aggregator_http_file_cache_misses_total")
    for _ in range(5):
        response = client.get("/archive/2026-01.atom", headers={**IDENTITY, "If-None-Match": etag})
        assert response.status_code == 304
    assert metric(client, "aggregator_http_file_cache_misses_total") == misses


def test_healthz_and_default_status(site: tuple[Path, httpx.Client]) -> None:
    out, client = site
    health = client.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok")
    status = client.get("/status").json()
    assert status["out_dir"] == str(out.resolve())
    paths = {entry["path"] for entry in status["files"]}
    assert {"index.atom", "index.json", "tags/science.atom"} <= paths
    assert not any(part.startswith(".") for path in paths for part in path.split("/"))


def test_metrics_count_responses(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    etag = client.get("/index.atom", headers=IDENTITY).headers["etag"]
    not_modified = metric(client, "aggregator_http_not_modified_total")
    sent = metric(client, "aggregator_http_response_body_bytes_total")
    client.get("/index.atom", headers={**IDENTITY, "If-None-Match": etag})
    client.get("/index.atom", headers=IDENTITY)
    client.get("/missing.atom")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert metric(client, "aggregator_http_not_modified_total") == not_modified + 1
    assert metric(client, "aggregator_http_response_body_bytes_total") >= sent + len(ATOM)
    assert 'aggregator_http_requests_total{code="4xx"}' in response.text


def test_status_and_metrics_callables(tmp_path: Path) -> None:
    published = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def status() -> Mapping[str, object]:
        return {"sources": {"harbour": "ok"}, "last_publish": published}

    metrics: Callable[[], str] = lambda: "aggregator_fetches_total 7"  # noqa: E731
    with (
        running(create_app(tmp_path, status=status, metrics=metrics)) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert client.get("/status").json() == {
            "sources": {"harbour": "ok"},
            "last_publish": "2026-03-01T12:00:00+00:00",
        }
        text = client.get("/metrics").text
        assert text.endswith("aggregator_fetches_total 7\n")
        assert "aggregator_http_requests_total" in text
        assert client.get("/").status_code == 404  # nothing published yet


def test_compressed_bytes_are_gzip(site: tuple[Path, httpx.Client]) -> None:
    _, client = site
    with client.stream("GET", "/index.atom", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert gzip.decompress(raw) == ATOM


def test_cancelling_the_serving_task_closes_the_port(tmp_path: Path) -> None:
    async def scenario() -> int:
        sock = loopback_socket()
        port: int = sock.getsockname()[1]
        app = create_app(tmp_path)
        server = build_server(app, port=port, log_level="warning", install_signal_handlers=False)
        task = asyncio.create_task(serve_forever(app, sockets=[sock], server=server))
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).text == "ok"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sock.close()
        return port

    port = asyncio.run(scenario())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port)).close()


def test_port_in_use_raises_oserror(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            asyncio.run(serve_forever(create_app(tmp_path), port=port, log_level="critical"))
