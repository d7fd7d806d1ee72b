"""Downloads that never end, searches that page for ever, and redirects to the user's own machine,
against a real HTTP server on 127.0.0.1. Nothing here reaches the internet."""
from __future__ import annotations

import io
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import trustme
from PIL import Image

import artgan
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.web_search import WebSearch, addresses, transport

FAST = dict(provider="json", query="lisa", json_path="hits[]", timeout=5, retries=0, backoff=0.01,
            max_wait=0.3, workers=2, per_host=2, per_second=1000, allow_local=True)


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, 40)).save(buffer, "PNG")
    return buffer.getvalue()


class Server:
    """/pages?p=N: a json search whose pages list the images ``page_images`` picks (a name under
    /img/, or a whole URL); /img/NAME: images, and slow, endless or redirecting replies."""

    def __init__(self):
        self.requests: list[tuple[float, str]] = []
        self.page_images = lambda page: [f"gone-{page}-{i}.png" for i in range(5)]  # all 404
        self.redirects: dict[str, str] = {}
        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def paths(self, prefix: str) -> list[str]:
        return [path for _, path in self.requests if path.startswith(prefix)]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((time.monotonic(), self.path))
                path = urlsplit(self.path)
                if path.path == "/pages":
                    page = int(path.query.split("p=")[1])
                    urls = [n if "://" in n else f"{server.url}/img/{n}" for n in server.page_images(page)]
                    return self.reply(200, json.dumps({"hits": urls}).encode(), "application/json")
                name = path.path.removeprefix("/img/")
                if name in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[name])
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if name.startswith("good-"):
                    return self.reply(200, png(int(name.split("-")[1].split(".")[0]) % 256), "image/png")
                if name.startswith("drip"):  # drip-<seconds between bytes>[-endless].png
                    return self.drip(float(name.split("-")[1].removesuffix(".png")), "endless" in name)
                if name == "busy.png":
                    return self.reply(503, b"busy", "text/plain")
                self.reply(404, b"not found", "text/plain")

            def reply(self, status, body, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def drip(self, pause, endless):
                """A byte at a time; with a length (that it never reaches) or without any."""
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                if not endless:
                    self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    while not server.stop.wait(pause):
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

        return Handler


@pytest.fixture
def server():
    server = Server()
    thread = threading.Thread(target=server.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def search(server, tmp_path, **options):
    options = {**FAST, "endpoint": f"{server.url}/pages?q={{query}}&p={{page}}", **options}
    source = WebSearch(WebSearch.Options(**options), artgan.Context(cache_dir=tmp_path / "cache"))
    results = list(source.items())
    items = [r for r in results if isinstance(r, artgan.Item)]
    skipped = {r.origin.removeprefix(server.url): r.reason for r in results if isinstance(r, artgan.Skipped)}
    return items, skipped


def images(*names):
    return lambda page: list(names) if page == 1 else []


# -- item 7: every download has a total deadline and a minimum rate --------------------------------

def test_a_drip_feed_is_given_up_at_the_deadline(server, tmp_path):
    """1 byte every 0.05 s never trips the per-read timeout; the total deadline ends it."""
    server.page_images = images("drip-0.05.png", "drip-0.05-endless.png", "good-1.png")
    items, skipped = search(server, tmp_path, deadline=0.6, min_rate=0)
    assert [item.origin.rsplit("/", 1)[1] for item in items] == ["good-1.png"]
    assert skipped.pop("/img/drip-0.05.png").startswith("deadline of 0.6 s passed (")
    assert skipped.pop("/img/drip-0.05-endless.png").startswith("deadline of 0.6 s passed (")
    assert skipped == {}


def test_a_download_slower_than_min_rate_is_given_up(server, tmp_path):
    server.page_images = images("drip-0.02-endless.png", "good-1.png")
    items, skipped = search(server, tmp_path, timeout=0.3, min_rate=500, deadline=60)
    assert len(items) == 1 and list(skipped) == ["/img/drip-0.02-endless.png"]
    reason = skipped["/img/drip-0.02-endless.png"]
    assert reason.startswith("too slow (") and reason.endswith(" bytes/s < min_rate 500)")


def test_retries_stop_at_the_deadline(server, tmp_path):
    """Each retry used to start afresh; the deadline covers them all, waits included."""
    server.page_images = images("busy.png", "good-1.png")
    _, skipped = search(server, tmp_path, retries=5, backoff=0.4, max_wait=5, deadline=0.5)
    assert skipped == {"/img/busy.png": "HTTP 503, 2 tries; no retry: the deadline of 0.5 s would pass"}
    assert len(server.paths("/img/busy.png")) == 2


# -- item 8: paging stops when pages stop giving new images ----------------------------------------

def test_endless_pages_of_broken_links_stop_after_max_empty_pages(server, tmp_path):
    items, skipped = search(server, tmp_path, max_empty_pages=3)
    assert items == []
    assert skipped.pop("/pages?q={query}&p={page}") == (
        "search stopped: 3 pages in a row gave no new image (raise max_empty_pages to page on)")
    assert set(skipped.values()) == {"HTTP 404"}
    # the stop is noticed as results come back, a few downloads behind the pages
    assert 4 <= len(server.paths("/pages")) <= 6


def test_a_page_with_one_new_image_keeps_the_search_going_until_max_pages(server, tmp_path):
    server.page_images = lambda page: [f"gone-{page}-{i}.png" for i in range(3)] + [f"good-{page}.png"]
    items, skipped = search(server, tmp_path, max_empty_pages=2, max_pages=6)
    assert [item.origin.rsplit("/", 1)[1] for item in items] == [f"good-{page}.png" for page in range(1, 7)]
    assert skipped.pop("/pages?q={query}&p={page}") == "search stopped after 6 pages (raise max_pages for more)"
    assert len(server.paths("/pages")) == 6


def test_requests_to_one_host_are_spaced_by_per_second(server, tmp_path):
    server.page_images = images(*(f"good-{i}.png" for i in range(8)))
    items, _ = search(server, tmp_path, per_second=20, workers=4, per_host=4)
    assert len(items) == 8
    starts = [when for when, _ in server.requests]
    assert len(starts) == 10  # a page of eight images, then an empty page
    # ten starts at most 20 a second span at least 9/20 s, less a margin for the server's threads
    # noting the time late or early on a busy machine (a 2-core machine running the whole suite
    # beside it made 0.9 of it flaky); unthrottled they take a few milliseconds
    assert starts[-1] - starts[0] >= 0.6 * 9 / 20


def test_the_dataset_report_says_why_paging_stopped(server, tmp_path):
    server.page_images = lambda page: [f"good-{page}.png"] if page == 1 else [f"gone-{page}.png"]
    recipe = parse_recipe({"name": "pages", "resolution": 8, "model": {"use": "dcgan"},
                           "source": [{"use": "web-search", **FAST, "max_empty_pages": 2,
                                       "endpoint": f"{server.url}/pages?q={{query}}&p={{page}}"}]},
                          tmp_path / "recipe.toml")
    report = build_dataset(recipe, tmp_path)
    assert report.dataset.count == 1
    assert report.skip_reasons()["search stopped: 2 pages in a row gave no new image"] == 1


# -- item 9: loopback, private and link-local addresses are refused unless allowed -----------------

def test_local_addresses_are_refused_by_default_and_allowed_on_request(server, tmp_path):
    server.page_images = images("good-1.png")
    options = {**FAST, "endpoint": f"{server.url}/pages?q={{query}}&p={{page}}"}
    del options["allow_local"]
    with pytest.raises(artgan.ArtganError, match=r"failed: refused: 127\.0\.0\.1 is 127\.0\.0\.1, a loopback "
                                                 r"address; set allow_local = true"):
        list(WebSearch(WebSearch.Options(**options), artgan.Context(cache_dir=tmp_path / "a")).items())
    # a name is judged by the address it resolves to
    by_name = {**options, "endpoint": f"http://localhost:{server.port}/pages?q={{query}}&p={{page}}"}
    with pytest.raises(artgan.ArtganError, match=r"refused: localhost is (127\.0\.0\.1|::1), a loopback"):
        list(WebSearch(WebSearch.Options(**by_name), artgan.Context(cache_dir=tmp_path / "b")).items())
    assert server.requests == []
    items, skipped = search(server, tmp_path, allow_local=True)
    assert len(items) == 1 and skipped == {}


@pytest.fixture
def public_test_server(server, monkeypatch):
    """The test server stands in for a public host: 127.0.0.1 counts as public, and the names
    public.test and rebound.test resolve (through the one resolver the backend calls) to it and
    to a private address."""
    kind = addresses.address_kind
    monkeypatch.setattr(transport, "address_kind", lambda a: None if a == "127.0.0.1" else kind(a))
    resolve = socket.getaddrinfo
    names = {"public.test": "127.0.0.1", "rebound.test": "10.1.2.3"}

    def getaddrinfo(host, port, *args, **kwargs):
        return resolve(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(transport.socket, "getaddrinfo", getaddrinfo)
    return server


def test_redirects_to_local_addresses_are_refused(public_test_server, tmp_path):
    server = public_test_server
    targets = {"to-loopback.png": "http://127.0.0.2/admin", "to-private.png": "http://192.168.1.1/admin",
               "to-metadata.png": "http://169.254.169.254/latest/meta-data/",
               "to-ipv6-loopback.png": "http://[::1]/admin", "to-rebound.png": "http://rebound.test/admin",
               "to-public.png": f"http://public.test:{server.port}/img/good-7.png"}
    server.redirects = targets
    server.page_images = images(*targets, "http://10.0.0.5/listed.png")  # a search may list one, too
    items, skipped = search(server, tmp_path, allow_local=False)
    # the only redirect followed went to a name that resolves to a "public" address, and the
    # connection went to that checked address (public.test is in no real DNS)
    assert [item.origin.rsplit("/", 1)[1] for item in items] == ["to-public.png"]
    assert skipped.pop("/img/to-loopback.png") == (
        "refused: 127.0.0.2 is 127.0.0.2, a loopback address; set allow_local = true to download from a "
        "server on your own network")
    assert skipped.pop("/img/to-private.png").startswith("refused: 192.168.1.1 is 192.168.1.1, a private address")
    assert skipped.pop("/img/to-metadata.png").startswith(
        "refused: 169.254.169.254 is 169.254.169.254, a link-local address")
    assert skipped.pop("/img/to-ipv6-loopback.png").startswith("refused: ::1 is ::1, a loopback address")
    assert skipped.pop("/img/to-rebound.png").startswith("refused: rebound.test is 10.1.2.3, a private address")
    assert skipped.pop("http://10.0.0.5/listed.png").startswith("refused: 10.0.0.5 is 10.0.0.5, a private address")
    assert skipped == {}
    assert not server.paths("/admin") and not server.paths("/latest")


@pytest.mark.parametrize("certified_name, works", [("public.test", True), ("other.test", False)])
def test_https_checks_the_certificate_against_the_name_not_the_address(
        public_test_server, tmp_path, monkeypatch, certified_name, works):
    """The connection goes to the checked address, while TLS (SNI and certificate) still uses the
    host name: a certificate for another name is refused."""
    server = public_test_server
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(certified_name).configure_cert(context)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    home = f"https://public.test:{server.port}"
    server.page_images = images(f"{home}/img/good-1.png")
    options = {**FAST, "allow_local": False, "endpoint": f"{home}/pages?q={{query}}&p={{page}}"}
    source = WebSearch(WebSearch.Options(**options), artgan.Context(cache_dir=tmp_path / "cache"))
    if works:
        assert [item.origin for item in source.items()] == [f"{home}/img/good-1.png"]
    else:
        with pytest.raises(artgan.ArtganError, match="failed: connection failed: ConnectError"):
            list(source.items())
        assert server.requests == []


def test_redirects_to_local_addresses_are_followed_when_allowed(server, tmp_path):
    server.redirects = {"moved.png": f"http://localhost:{server.port}/img/good-3.png"}
    server.page_images = images("moved.png")
    items, skipped = search(server, tmp_path, allow_local=True)
    assert len(items) == 1 and skipped == {}
    assert server.paths("/img/good-3.png")


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("172.16.5.4", "private"),
    ("192.168.0.10", "private"), ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("100.64.0.1", "non-public"),
    ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("93.184.216.34", None), ("2606:4700:4700::1111", None)])
def test_address_kinds(address, kind):
    assert addresses.address_kind(address) == kind
