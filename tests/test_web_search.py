"""The "web-search" source against a real HTTP server on 127.0.0.1 that speaks each provider's
JSON and serves images, good and bad. Nothing here reaches the internet."""
from __future__ import annotations

import io
import json
import threading
import time
from contextlib import suppress
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import artgan
from artgan import plugins
from artgan.cli import app
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.web_search import WebSearch
from artgan_plugins.web_search.download import PROJECT_URL, retry_after
from artgan_plugins.web_search.providers import clean_url, select, split_version, strip_html

FAST = dict(allow_local=True, per_second=1000, timeout=5, retries=1, backoff=0.01, max_wait=0.3, max_bytes=100_000, workers=4, per_host=2)


def png(color, size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def color(i: int):
    return (i * 40 % 256, 255 - i * 30 % 256, i * 90 % 256)


def noise_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


class Server:
    """Routes: /openverse/v1/images/, /wiki/api.php, /serpapi/search.json, /custom, /img/NAME."""

    def __init__(self):
        self.requests: list[tuple[float, str, dict]] = []  # (time, path + query, headers)
        self.results: list[dict] = []  # what every search returns: {"name", "title", "creator"}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()  # holds back the answer of /img/slow.png until teardown
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def image_requests(self, name=None) -> list[str]:
        return [path for _, path, _ in self.requests
                if path.startswith("/img/") and (name is None or path.split("?")[0] == f"/img/{name}")]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append((time.monotonic(), self.path, dict(self.headers)))
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    count = server.hits[self.path]
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path.startswith("/img/"):
                    server.image(self, parts.path[5:], count)
                else:
                    server.search(self, parts.path, query)

            def reply(self, status, body=b"", content_type="application/json", headers=(), length=True):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for key, value in headers:
                    self.send_header(key, value)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with suppress(BrokenPipeError, ConnectionResetError):  # a stopped search hangs up first
                    self.wfile.write(body)

        return Handler

    def image(self, handler, name, count):
        big = b"\x89PNG" + bytes(200_000)
        if name[0].isdigit():
            return handler.reply(200, png(color(int(name.split(".")[0]))), "image/png")
        if name == "copy-of-1.png":
            return handler.reply(200, png(color(1)), "image/png")
        if name == "slow.png":
            self.release.wait(10)
            return handler.reply(200, png((1, 2, 3)), "image/png")
        if name == "flaky.png" and count == 1:
            return handler.reply(429, b"slow down", "text/plain", [("Retry-After", "1")])
        if name == "flaky.png":
            return handler.reply(200, png((9, 9, 9)), "image/png")
        replies = {
            "missing.png": (404, b"not found", "text/html"),
            "error.png": (503, b"busy", "text/html"),
            "page.jpg": (200, b"<html><body>Sorry, this image is gone</body></html>", "image/jpeg"),
            "html.png": (200, b"<html>an html page</html>", "text/html; charset=utf-8"),
            "truncated.jpg": (200, noise_jpeg()[:700], "image/jpeg"),
            "bomb.png": (200, png((0, 0, 0), (1200, 1200)), "image/png"),
        }
        if name in replies:
            return handler.reply(*replies[name])
        if name == "huge.png":  # no Content-Length: only counting while streaming can stop it
            return handler.reply(200, big, "image/png", length=False)
        if name == "huge-declared.png":
            return handler.reply(200, big, "image/png")
        if name == "to-ftp.png":
            return handler.reply(302, headers=[("Location", "ftp://127.0.0.1/x.png")])
        if name == "moved.png":
            return handler.reply(302, headers=[("Location", f"{self.url}/img/7.png")])
        raise AssertionError(f"unexpected image {name}")

    def search(self, handler, path, query):
        results = self.results if query.get("q", query.get("gsrsearch")) != "nothing" else []
        if path == "/openverse/v1/images/":
            page, size = int(query["page"]), int(query["page_size"])
            assert size <= 20 and page <= 20  # the anonymous limits
            chunk = results[(page - 1) * size: page * size]
            body = {"result_count": len(results), "page_count": -(-len(results) // size),
                    "results": [self.openverse(r) for r in chunk]}
        elif path == "/wiki/api.php":
            assert (query["generator"], query["gsrnamespace"], query["prop"]) == ("search", "6", "imageinfo")
            assert query["iiprop"] == "url|size|mime|sha1|extmetadata"
            start = int(query.get("gsroffset", 0))
            chunk = results[start:start + 3]
            body = {"query": {"pages": [self.wiki(r, start + i + 1, query) for i, r in enumerate(chunk)][::-1]}}
            if start + 3 < len(results):
                body["continue"] = {"gsroffset": start + 3, "continue": "gsroffset||"}
        elif path == "/serpapi/search.json":
            if query.get("api_key") != "test-key":
                return handler.reply(401, b'{"error": "Invalid API key."}')
            assert query["engine"] == "google_images"
            ijn = int(query["ijn"])
            body = {"images_results": [self.serp(r) for r in results[ijn * 4:(ijn + 1) * 4]]}
        elif path == "/custom":
            page = int(query.get("p", 1))
            items = [{"img": {"src": f"{self.url}/img/{r['name']}"}, "page": f"{self.url}/about/{r['name']}",
                      "who": r.get("creator", "")} for r in results[(page - 1) * 5: page * 5]]
            body = {"data": {"items": items}}
        else:
            return handler.reply(404, b"{}")
        handler.reply(200, json.dumps(body).encode())

    def openverse(self, r):
        return {"url": f"{self.url}/img/{r['name']}", "title": r.get("title"), "creator": r.get("creator"),
                "license": "by-sa", "license_version": "4.0",
                "foreign_landing_url": f"{self.url}/about/{r['name']}?utm_source=openverse",
                "attribution": f"\"{r.get('title')}\" by {r.get('creator')} is licensed under CC BY-SA 4.0."}

    def wiki(self, r, index, query):
        name = r["name"]
        info = {"url": f"{self.url}/img/{name}", "descriptionurl": f"{self.url}/wiki/File:{name}?utm_medium=api",
                "mime": "application/pdf" if name.endswith(".pdf") else "image/png", "size": 123, "sha1": "ab",
                "extmetadata": {"Artist": {"value": f'<a href="//x/User:{r["creator"]}">{r["creator"]}</a> &amp; friends'},
                                "LicenseShortName": {"value": "CC BY-SA 3.0"},
                                "ObjectName": {"value": r.get("title", "")}}}
        if "iiurlwidth" in query:
            info["thumburl"] = f"{self.url}/img/{name}?width={query['iiurlwidth']}"
        return {"title": f"File:{name}", "index": index, "imageinfo": [info]}

    def serp(self, r):
        return {"original": f"{self.url}/img/{r['name']}", "link": f"{self.url}/about/{r['name']}",
                "source": "Example Site", "title": r.get("title", "")}


@pytest.fixture
def server():
    server = Server()
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()


def search(server, tmp_path, cache="cache", **options):
    options = {"query": "lisa", "endpoint": f"{server.url}/openverse", **FAST, **options}
    source = WebSearch(WebSearch.Options(**options), artgan.Context(cache_dir=tmp_path / cache))
    results = list(source.items())
    items = [r for r in results if isinstance(r, artgan.Item)]
    skipped = {r.origin.removeprefix(server.url): r.reason for r in results if isinstance(r, artgan.Skipped)}
    return items, skipped


def named(*names, creator="Ann"):
    return [{"name": n, "title": f"Picture {n}", "creator": creator} for n in names]


TROUBLE = ["missing.png", "error.png", "page.jpg", "html.png", "truncated.jpg", "bomb.png",
           "huge.png", "huge-declared.png", "slow.png", "flaky.png", "to-ftp.png", "moved.png"]


def test_every_kind_of_bad_download_is_skipped_with_its_reason(server, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    server.results = named("1.png", "1.png?utm_source=feed", "copy-of-1.png", "2.png", *TROUBLE)
    items, skipped = search(server, tmp_path, timeout=0.5)  # slow.png never answers in time
    assert [item.origin.removeprefix(server.url) for item in items] == [
        "/img/1.png", "/img/2.png", "/img/flaky.png", "/img/moved.png"]
    assert np.asarray(items[3].image)[0, 0].tolist() == list(color(7))  # the redirect was followed
    assert skipped.pop("/img/1.png") == "duplicate URL (listed again by the search)"
    assert skipped.pop("/img/copy-of-1.png") == f"duplicate image (same bytes as {server.url}/img/1.png)"
    assert skipped.pop("/img/missing.png") == "HTTP 404"
    assert skipped.pop("/img/error.png") == "HTTP 503, 2 tries"
    assert skipped.pop("/img/page.jpg") == "unreadable image (cannot identify image file)"
    assert skipped.pop("/img/html.png") == "not an image (Content-Type text/html)"
    assert skipped.pop("/img/truncated.jpg").startswith("unreadable image (image file is truncated")
    assert skipped.pop("/img/bomb.png") == "image too large (possible decompression bomb)"
    assert skipped.pop("/img/huge.png") == "too large (over 100000 bytes)"
    assert skipped.pop("/img/huge-declared.png") == "too large (200004 bytes > 100000)"
    assert skipped.pop("/img/slow.png") == "timed out, 2 tries"
    assert skipped.pop("/img/to-ftp.png").startswith("request failed: ")
    assert skipped == {}
    # one request per distinct URL: the utm_ copy of 1.png was never fetched
    assert len(server.image_requests("1.png")) == 1
    # 429 then success: the retry waited for Retry-After (1 s, capped by max_wait to 0.3 s),
    # not for the 0.01 s backoff
    first, second = [t for t, path, _ in server.requests if path == "/img/flaky.png"]
    assert second - first >= 0.25


def test_items_carry_credits_and_the_user_agent_names_the_project(server, tmp_path):
    server.results = named("1.png", "2.png")
    items, _ = search(server, tmp_path, contact="ann@example.org")
    assert items[0].origin == f"{server.url}/img/1.png"
    assert items[0].info == {
        "provider": "openverse", "query": "lisa", "url": f"{server.url}/img/1.png",
        "landing_page": f"{server.url}/about/1.png", "title": "Picture 1.png", "creator": "Ann",
        "license": "by-sa", "license_version": "4.0", "site": "",
        "attribution": '"Picture 1.png" by Ann is licensed under CC BY-SA 4.0.'}
    agents = {headers["User-Agent"] for _, _, headers in server.requests}
    assert len(agents) == 1
    agent = agents.pop()
    assert agent.startswith(f"artgan/{artgan.__version__} (+{PROJECT_URL}; ann@example.org)")


def test_count_stops_early_and_openverse_pages_stay_within_the_anonymous_limits(server, tmp_path):
    server.results = named(*(f"{i}.png" for i in range(45)))
    items, _ = search(server, tmp_path, count=25)
    assert [item.origin.rsplit("/", 1)[1] for item in items] == [f"{i}.png" for i in range(25)]
    pages = [path for _, path, _ in server.requests if path.startswith("/openverse")]
    assert all("page_size=20" in path for path in pages)
    assert len(pages) <= 3
    # a few downloads may run ahead of the count, never the whole result list
    assert len(server.image_requests()) < 45


def test_a_rerun_downloads_nothing_already_saved_even_after_ctrl_c(server, tmp_path):
    server.results = named(*(f"{i}.png" for i in range(12)), "missing.png")
    options = {"query": "lisa", "endpoint": f"{server.url}/openverse", **FAST}
    source = WebSearch(WebSearch.Options(**options), artgan.Context(cache_dir=tmp_path / "cache"))
    results = source.items()
    with pytest.raises(KeyboardInterrupt):
        for result in results:
            if result.origin.endswith("/3.png"):
                raise KeyboardInterrupt
    results.close()  # as the interrupt unwinds: downloads in flight finish and are saved
    saved = {line["url"] for line in map(json.loads, (tmp_path / "cache" / "index.jsonl").read_text().splitlines())}
    assert {f"{server.url}/img/{i}.png" for i in range(4)} <= saved
    before = server.image_requests()
    items, skipped = search(server, tmp_path)
    assert len(items) == 12 and list(skipped) == ["/img/missing.png"]
    fetched_again = server.image_requests()[len(before):]
    assert not any(path.removeprefix("/img/") in {u.rsplit("/", 1)[1] for u in saved} for path in fetched_again)
    assert "/img/missing.png" in fetched_again  # a failure is tried again: it may have been passing
    assert len(server.image_requests()) == len(before) + 12 - len(saved) + 1


def test_index_line_cut_short_by_a_crash_is_ignored(server, tmp_path):
    server.results = named("1.png", "2.png")
    search(server, tmp_path)
    index = tmp_path / "cache" / "index.jsonl"
    index.write_text(index.read_text() + '{"url": "http://half')
    before = len(server.image_requests())
    items, _ = search(server, tmp_path)
    assert len(items) == 2 and len(server.image_requests()) == before


def test_wikimedia_pages_through_continue_and_cleans_credits(server, tmp_path):
    server.results = named("1.png", "doc.pdf", "2.png", "3.png", "4.png", creator="Bo")
    items, skipped = search(server, tmp_path, provider="wikimedia", endpoint=f"{server.url}/wiki/api.php",
                            thumb_width=320)
    assert skipped == {}
    assert [item.info["url"] for item in items] == [f"{server.url}/img/{n}.png?width=320" for n in (1, 2, 3, 4)]
    info = items[0].info
    assert info["creator"] == "Bo & friends"
    assert (info["license"], info["license_version"]) == ("CC BY-SA", "3.0")
    assert info["landing_page"] == f"{server.url}/wiki/File:1.png"
    assert info["attribution"] == '"Picture 1.png" by Bo & friends, licensed CC BY-SA 3.0'
    searches = [path for _, path, _ in server.requests if path.startswith("/wiki")]
    assert len(searches) == 2 and "gsroffset=3" in searches[1]


def test_serpapi_reads_its_key_from_the_environment(server, tmp_path, monkeypatch):
    server.results = named(*(f"{i}.png" for i in range(6)))
    options = dict(provider="serpapi", endpoint=f"{server.url}/serpapi/search.json")
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    with pytest.raises(artgan.ArtganError, match="set the environment variable SERPAPI_API_KEY"):
        search(server, tmp_path, **options)
    monkeypatch.setenv("MY_SERP_KEY", "test-key")
    items, _ = search(server, tmp_path, api_key_env="MY_SERP_KEY", **options)
    assert len(items) == 6
    assert items[0].info["landing_page"] == f"{server.url}/about/0.png"
    assert items[0].info["attribution"] == (
        '"Picture 0.png" by an unknown creator (found on Example Site), licence unknown')
    pages = [path for _, path, _ in server.requests if path.startswith("/serpapi")]
    assert [parse_qs(urlsplit(p).query)["ijn"] for p in pages] == [["0"], ["1"], ["2"]]
    monkeypatch.setenv("MY_SERP_KEY", "wrong")
    with pytest.raises(artgan.ArtganError, match=r'serpapi search for "lisa" .* failed: HTTP 401'):
        search(server, tmp_path, cache="other", api_key_env="MY_SERP_KEY", **options)


def test_json_provider_follows_a_path_and_stops_when_a_page_adds_nothing(server, tmp_path):
    server.results = named(*(f"{i}.png" for i in range(8)), creator="Cy")
    items, _ = search(server, tmp_path, provider="json", endpoint=f"{server.url}/custom?q={{query}}&p={{page}}",
                      json_path="data.items[].img.src", json_fields={"landing_page": "page", "creator": "who"})
    assert [item.info["url"].rsplit("/", 1)[1] for item in items] == [f"{i}.png" for i in range(8)]
    assert items[0].info["creator"] == "Cy"
    assert items[0].info["landing_page"] == f"{server.url}/about/0.png"
    # a template without {page} gets the same page again, which adds nothing: the search stops
    before = len(server.requests)
    items, _ = search(server, tmp_path, provider="json", endpoint=f"{server.url}/custom?q={{query}}",
                      json_path="data.items[].img.src")
    assert len(items) == 5
    assert [p for _, p, _ in server.requests[before:] if p.startswith("/custom")] == ["/custom?q=lisa"] * 2


def test_no_results_is_an_error_naming_query_and_provider(server, tmp_path):
    with pytest.raises(artgan.ArtganError, match=r'openverse search for "nothing" \(http://127.*\): no results'):
        search(server, tmp_path, query="nothing")
    with pytest.raises(artgan.ArtganError, match=r'wikimedia search for "lisa" .*: HTTP 404'):
        search(server, tmp_path, provider="wikimedia", endpoint=f"{server.url}/nowhere")
    with pytest.raises(artgan.ArtganError, match=r"json: set `endpoint` to a URL template containing \{query\}"):
        search(server, tmp_path, provider="json", endpoint=f"{server.url}/custom")


def test_dataset_manifest_and_credits_command(server, tmp_path, monkeypatch):
    server.results = named("1.png", "2.png", "missing.png")
    data = {"name": "lisa", "resolution": 16, "model": {"use": "dcgan"},
            "source": [{"use": "web-search", "query": "lisa", "endpoint": f"{server.url}/openverse", **FAST}]}
    report = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path)
    assert report.dataset.count == 2 and report.skip_reasons() == {"HTTP 404": 1}
    info = report.dataset.manifest()[1]["info"]
    assert info["url"] == f"{server.url}/img/2.png" and info["license"] == "by-sa"
    result = CliRunner().invoke(app, ["credits", str(report.dataset.folder)])
    assert result.exit_code == 0, result.output
    assert '"Picture 2.png" by Ann is licensed under CC BY-SA 4.0.' in result.output
    assert (report.dataset.folder / "CREDITS.md").read_text().count(f"{server.url}/about/") == 2


def test_url_and_text_helpers():
    assert clean_url("HTTPS://Example.ORG/a/B.jpg?utm_source=x&w=2&UTM_medium=y#frag") == (
        "https://example.org/a/B.jpg?w=2")
    assert split_version("CC BY-SA 4.0") == ("CC BY-SA", "4.0")
    assert split_version("Public domain") == ("Public domain", "")
    assert strip_html('<a href="x">Jo &amp; <b>Al</b></a>\n  (talk)') == "Jo & Al (talk)"
    assert select({"a": [{"b": 1}, {"c": 2}, {"b": 3}]}, "a[].b") == [1, 3]
    assert retry_after("7") == 7.0
    assert 55 < retry_after(formatdate(time.time() + 60, usegmt=True)) <= 60
    assert retry_after("soon") is None


def test_web_search_source_is_registered():
    assert plugins.get("source", "web-search").cls is WebSearch
