"""Downloads against a local HTTP server on 127.0.0.1: retries, truncation, checksums, Drive confirm pages."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vpbench.errors import ChecksumError, MissingSourceError
from vpbench.models import acquire, registry
from vpbench.models.acquire import acquire_weights
from vpbench.models.registry import ModelFamily, WeightSource
from vpbench.sources import download
from vpbench.sources.download import fetch
from vpbench.sources.lock import LOCK_FILENAME, pinned_sha256_for

PAYLOAD = bytes(range(256)) * 40
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes[path]``: a callable(handler) that writes the whole response."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path.split("?")[0])  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args: object) -> None:
        pass


def send_bytes(
    handler: http.server.BaseHTTPRequestHandler, body: bytes, *, length: int | None = None
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)
    handler.close_connection = True


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client that timed out is expected here
    httpd.routes = {}  # type: ignore[attr-defined]
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd: http.server.ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_success_writes_verified_file(server, tmp_path):
    server.routes["/w.pth"] = lambda h: send_bytes(h, PAYLOAD)
    dest = tmp_path / "w.pth"
    digest = fetch([url(server, "/w.pth")], dest, PAYLOAD_SHA, progress=False)  # offline-ok
    assert digest == PAYLOAD_SHA
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["w.pth"]


def test_prefix_checksum_accepted(server, tmp_path):
    server.routes["/w.pth"] = lambda h: send_bytes(h, PAYLOAD)
    fetch([url(server, "/w.pth")], tmp_path / "w.pth", PAYLOAD_SHA[:8], progress=False)  # offline-ok
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_truncated_body_is_never_left_at_dest(server, tmp_path):
    server.routes["/w.pth"] = lambda h: send_bytes(h, PAYLOAD[:1000], length=len(PAYLOAD))
    dest = tmp_path / "w.pth"
    with pytest.raises(MissingSourceError, match="truncated transfer: received 1000 of 10240 bytes"):
        fetch([url(server, "/w.pth")], dest, None, retries=1, backoff=0, progress=False)  # offline-ok
    assert leftovers(tmp_path) == []
    assert len(server.hits) == 2


def test_wrong_checksum_raises_and_leaves_nothing(server, tmp_path):
    server.routes["/w.pth"] = lambda h: send_bytes(h, PAYLOAD)
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {PAYLOAD_SHA}"):
        fetch([url(server, "/w.pth")], tmp_path / "w.pth", "0" * 64, backoff=0, progress=False)  # offline-ok
    assert leftovers(tmp_path) == []
    assert len(server.hits) == 1  # a wrong file is not fetched again


def test_server_error_then_success_is_retried(server, tmp_path):
    calls = []

    def flaky(handler):
        calls.append(1)
        if len(calls) == 1:
            handler.send_error(500)
        else:
            send_bytes(handler, PAYLOAD)

    server.routes["/w.pth"] = flaky
    fetch([url(server, "/w.pth")], tmp_path / "w.pth", PAYLOAD_SHA, backoff=0, progress=False)  # offline-ok
    assert len(calls) == 2
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_timeout_is_retried_then_reported(server, tmp_path):
    def slow(handler):
        time.sleep(1.0)
        send_bytes(handler, PAYLOAD)

    server.routes["/w.pth"] = slow
    with pytest.raises(MissingSourceError) as info:
        fetch(  # offline-ok
            [url(server, "/w.pth")],
            tmp_path / "w.pth",
            PAYLOAD_SHA,
            retries=1,
            timeout=0.2,
            backoff=0,
            progress=False,
        )
    assert "attempt 2/2" in str(info.value) and "timed out" in str(info.value).lower()
    assert leftovers(tmp_path) == []


def test_all_retries_failing_give_one_clear_error(server, tmp_path):
    server.routes["/w.pth"] = lambda h: h.send_error(503)
    with pytest.raises(MissingSourceError) as info:
        fetch(  # offline-ok
            [url(server, "/w.pth")], tmp_path / "w.pth", PAYLOAD_SHA, retries=2, backoff=0, progress=False
        )  # offline-ok
    message = str(info.value)
    assert message.count("HTTP 503") == 3
    assert f"place it at {tmp_path / 'w.pth'}" in message and PAYLOAD_SHA in message


def test_client_error_moves_to_the_next_url(server, tmp_path):
    server.routes["/good.pth"] = lambda h: send_bytes(h, PAYLOAD)
    urls = [url(server, "/gone.pth"), url(server, "/good.pth")]
    fetch(urls, tmp_path / "w.pth", PAYLOAD_SHA, backoff=0, progress=False)  # offline-ok
    assert [hit.split("?")[0] for hit in server.hits] == ["/gone.pth", "/good.pth"]


def test_google_drive_confirm_form_is_followed(server, tmp_path, monkeypatch):
    form_action = url(server, "/usercontent")
    page = (
        f'<html><form id="download-form" action="{form_action}" method="get">'
        '<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t"></form></html>'
    ).encode()

    def warning(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    def usercontent(handler):
        if "confirm=t" in handler.path and "id=FILEID" in handler.path:
            send_bytes(handler, PAYLOAD)
        else:
            handler.send_error(403)

    server.routes["/uc"] = warning
    server.routes["/usercontent"] = usercontent
    monkeypatch.setattr(download, "GDRIVE_URL", url(server, "/uc") + "?export=download&id={id}")
    source = WeightSource("w.pth", gdrive_id="FILEID", status="at risk")
    fetch(source, tmp_path / "w.pth", PAYLOAD_SHA, backoff=0, progress=False)  # offline-ok
    assert (tmp_path / "w.pth").read_bytes() == PAYLOAD


def test_html_instead_of_a_file_is_refused(server, tmp_path):
    server.routes["/w.pth"] = lambda h: (
        h.send_response(200),
        h.send_header("Content-Type", "text/html"),
        h.end_headers(),
    )
    with pytest.raises(MissingSourceError, match="HTML page instead of the file"):
        fetch([url(server, "/w.pth")], tmp_path / "w.pth", None, backoff=0, progress=False)  # offline-ok


@pytest.fixture
def url_family(server, monkeypatch):
    """A registry entry with no published checksum whose only source is the local server."""
    family = ModelFamily(
        name="test_url_family",
        builder=lambda: None,  # type: ignore[arg-type,return-value]
        weights=WeightSource("w.pth", urls=(url(server, "/w.pth"),)),
    )
    monkeypatch.setitem(registry.MODELS, family.name, family)
    server.routes["/w.pth"] = lambda h: send_bytes(h, PAYLOAD)
    return family


def test_acquire_downloads_then_pins_first_seen_hash(url_family, server, tmp_path):
    path = acquire_weights(url_family.name, tmp_path, progress=False)  # offline-ok
    assert path.read_bytes() == PAYLOAD
    assert pinned_sha256_for(tmp_path / LOCK_FILENAME, url_family.name) == PAYLOAD_SHA
    acquire_weights(url_family.name, tmp_path)
    assert len(server.hits) == 1  # the staged file needed no network
    path.write_bytes(PAYLOAD[::-1])
    with pytest.raises(ChecksumError, match="it was not loaded"):
        acquire_weights(url_family.name, tmp_path)


def test_acquire_with_network_off_names_file_and_place(url_family, tmp_path):
    with pytest.raises(MissingSourceError) as info:
        acquire_weights(url_family.name, tmp_path, allow_network=False)
    assert "network access is off" in str(info.value) and str(tmp_path / "w.pth") in str(info.value)


def test_prestaged_file_needs_no_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(acquire, "fetch", no_network)
    monkeypatch.setattr(download, "_opener", no_network)
    packaged = acquire._packaged_file(registry.get_model_family("mobilenet_v2").weights)
    (tmp_path / "mobilenet_v2-b0353104.pth").write_bytes(packaged.read_bytes())
    assert acquire_weights("mobilenet_v2", tmp_path) == tmp_path / "mobilenet_v2-b0353104.pth"


def test_pip_package_copy_is_verified(tmp_path, monkeypatch):
    monkeypatch.setattr(acquire, "fetch", lambda *a, **k: pytest.fail("the network was used"))
    path = acquire_weights("efficientnet_lite0", tmp_path)
    assert path.stat().st_size == 18_826_032 and leftovers(tmp_path) == [path.name]


def test_not_public_family_names_file_place_and_checksum(tmp_path):
    with pytest.raises(MissingSourceError) as info:
        acquire_weights("gmp_resnet18", tmp_path)
    message = str(info.value)
    assert "resnet18_pruned_conservative.pth" in message and str(tmp_path) in message
    assert "unpublished" in message and "zoo:cv/classification/resnet_v1-18" in message
