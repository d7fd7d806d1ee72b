"""Polite, resumable downloads: per-host limits, timeouts, a deadline and a minimum rate, retries
with backoff, byte caps, and a store of finished files that survives Ctrl-C."""
from __future__ import annotations

import email.utils
import hashlib
import io
import json
import math
import mimetypes
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit

import httpx
from PIL import Image

import artgan
from artgan.files import atomic_path
from artgan.images import open_rgb

from .addresses import LocalAddressError
from .providers import Hit

PROJECT_URL = "https://pypi.org/project/artgan/"
Entry = Hit | artgan.Skipped  # what the downloader is given: a hit, or a skip to pass through


def user_agent(contact: str = "") -> str:
    """Says who is asking and where to read about it, as API etiquette asks."""
    about = "; ".join(filter(None, (f"+{PROJECT_URL}", contact)))
    return f"artgan/{artgan.__version__} ({about}) httpx/{httpx.__version__}"


class FetchError(Exception):
    """A request that failed for good; ``reason`` is short enough for a skip report."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class Fetcher:
    """HTTP GETs with per-host limits (at once and per second), retries with backoff on timeouts,
    429 and 5xx (honouring Retry-After), a total deadline and a minimum rate, and a cap on the
    bytes read, checked while streaming."""

    def __init__(self, client: httpx.Client, *, per_host: int, per_second: float, retries: int,
                 backoff: float, max_wait: float, max_bytes: int, timeout: float, deadline: float,
                 min_rate: float):
        self.client, self.per_host, self.per_second, self.retries = client, per_host, per_second, retries
        self.backoff, self.max_wait, self.max_bytes = backoff, max_wait, max_bytes
        self.timeout, self.deadline, self.min_rate = timeout, deadline, min_rate
        self.stopping = threading.Event()  # set on Ctrl-C: no more waiting and retrying
        self._hosts: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}  # per host: when the next request may start
        self._lock = threading.Lock()

    def get(self, url: str, params: dict | None = None) -> tuple[httpx.Response, bytes]:
        """The response and its body; raises FetchError once retrying is no use or the
        deadline has passed."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(url, "not an http(s) URL")
        give_up = math.inf  # the deadline runs from the first start, not from waiting in line
        for attempt in range(self.retries + 1):
            wait = None
            try:
                with self._slot(url):
                    give_up = min(give_up, time.monotonic() + self.deadline)
                    # no single wait for bytes may run past the deadline (waiting in line for a
                    # retry may have used it up: then the request times out at once)
                    timeout = min(self.timeout, max(0.001, give_up - time.monotonic()))
                    with self.client.stream("GET", url, params=params, timeout=timeout) as response:
                        status = response.status_code
                        if status == 429 or status >= 500:
                            failure, wait = f"HTTP {status}", retry_after(response.headers.get("retry-after"))
                        elif response.is_error:
                            raise FetchError(url, f"HTTP {status}")
                        else:
                            return response, self._read(url, response, give_up)
            except httpx.TimeoutException:
                failure = "timed out"
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = f"connection failed: {type(exc).__name__}"
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. a redirect to ftp://
                raise FetchError(url, f"request failed: {exc}") from None
            except LocalAddressError as exc:  # the URL itself, or a redirect
                raise FetchError(url, str(exc)) from None
            tries = f"{attempt + 1} {'try' if attempt == 0 else 'tries'}"
            delay = min(self.max_wait, self.backoff * 2 ** attempt if wait is None else wait)
            if attempt == self.retries:
                break
            if time.monotonic() + delay >= give_up:
                raise FetchError(url, f"{failure}, {tries}; no retry: the deadline of "
                                      f"{self.deadline:g} s would pass")
            if self.stopping.wait(delay):
                break
        raise FetchError(url, f"{failure}, {tries}")

    def get_json(self, url: str, params: dict | None = None):
        _, body = self.get(url, params)
        try:
            return json.loads(body)
        except ValueError:
            raise FetchError(url, "the reply is not JSON") from None

    @contextmanager
    def _slot(self, url: str):
        """One of ``per_host`` places for the URL's host, no sooner than 1 / ``per_second``
        after the previous request to that host started."""
        host = urlsplit(url).netloc.lower()
        with self._lock:
            slot = self._hosts.setdefault(host, threading.Semaphore(self.per_host))
        with slot:
            with self._lock:
                start = max(time.monotonic(), self._next_start.get(host, 0.0))
                self._next_start[host] = start + 1 / self.per_second
            self.stopping.wait(start - time.monotonic())
            yield

    def _read(self, url: str, response: httpx.Response, give_up: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(url, f"too large ({declared} bytes > {self.max_bytes})")
        chunks, size = [], 0
        window_start, window_size = time.monotonic(), 0  # the rate is measured over each `timeout`
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(url, f"too large (over {self.max_bytes} bytes)")
            chunks.append(chunk)
            now = time.monotonic()
            if now > give_up:
                raise FetchError(url, f"deadline of {self.deadline:g} s passed ({size} bytes read)")
            window_size += len(chunk)
            if now - window_start >= self.timeout:
                rate = window_size / (now - window_start)
                if rate < self.min_rate:
                    raise FetchError(url, f"too slow ({rate:.0f} bytes/s < min_rate {self.min_rate:g})")
                window_start, window_size = now, 0
        return b"".join(chunks)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if it says."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Store:
    """Downloaded files named by their SHA-256, and index.jsonl with one line per finished
    download, appended only once the file is whole: an interrupted run loses nothing saved."""

    def __init__(self, folder: Path):
        self.files = folder / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.index = folder / "index.jsonl"
        self._lock = threading.Lock()
        self._by_url: dict[str, dict] = {}
        if self.index.exists():
            for line in self.index.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:  # a line cut short by a crash
                    continue
                self._by_url[record["url"]] = record

    def get(self, url: str) -> Path | None:
        record = self._by_url.get(url)
        path = record and self.files / record["file"]
        return path if path and path.exists() else None

    def add(self, url: str, body: bytes, content_type: str) -> tuple[Path, str]:
        """Save ``body`` for ``url``; returns the file and its SHA-256."""
        digest = hashlib.sha256(body).hexdigest()
        suffix = mimetypes.guess_extension(content_type) or ".img"
        path = self.files / f"{digest}{suffix}"
        record = {"url": url, "file": path.name, "sha256": digest, "content_type": content_type}
        with self._lock:
            if not path.exists():
                with atomic_path(path) as tmp:
                    tmp.write_bytes(body)
            with open(self.index, "a", encoding="utf-8") as index:
                index.write(json.dumps(record) + "\n")
                index.flush()
                os.fsync(index.fileno())
            self._by_url[url] = record
        return path, digest


@dataclass
class Fetched:
    """A downloaded (or already stored) image."""

    path: Path
    sha256: str
    image: Image.Image


class Downloader:
    """Downloads the images of a stream of hits concurrently and hands back the results in the
    order of the hits; stored images are not downloaded again."""

    def __init__(self, fetcher: Fetcher, store: Store, workers: int):
        self.fetcher, self.store, self.workers = fetcher, store, workers

    def run(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, Fetched | artgan.Skipped]]:
        """(entry, result) for each entry, in order; a Skipped entry passes through as its own result."""
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="artgan-download")
        pending: deque[tuple[Entry, Future]] = deque()
        try:
            for entry in entries:
                pending.append((entry, self._start(pool, entry)))
                if len(pending) > 2 * self.workers:  # enough in flight; hand back the oldest
                    entry, future = pending.popleft()
                    yield entry, future.result()
            while pending:
                entry, future = pending.popleft()
                yield entry, future.result()
        finally:
            self.fetcher.stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _start(self, pool: ThreadPoolExecutor, entry: Entry) -> Future:
        if isinstance(entry, Hit):
            stored = self.store.get(entry.url)
            if stored is None:
                return pool.submit(self.download, entry.url)
            result = _load(entry.url, stored)
        else:
            result = entry
        done: Future = Future()
        done.set_result(result)
        return done

    def download(self, url: str) -> Fetched | artgan.Skipped:
        """Fetch one image; only a decodable image is stored."""
        try:
            response, body = self.fetcher.get(url)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                raise FetchError(url, f"not an image (Content-Type {content_type or 'missing'})")
            image = _decode(url, body)
            path, digest = self.store.add(url, body, content_type)
        except FetchError as exc:
            return artgan.Skipped(url, exc.reason)
        return Fetched(path, digest, image)


# open_rgb makes the decompression-bomb warning an error through the process-wide warnings
# filter, which two threads must not change at once: decode one image at a time.
_DECODING = threading.Lock()


def _decode(url: str, body: bytes) -> Image.Image:
    buffer = io.BytesIO(body)
    try:
        with _DECODING:
            return open_rgb(buffer)
    except ValueError as exc:  # Pillow names the buffer object in its message: leave it out
        raise FetchError(url, str(exc).replace(f" {buffer!r}", "")) from None


def _load(url: str, path: Path) -> Fetched | artgan.Skipped:
    try:
        return Fetched(path, path.stem, _decode(url, path.read_bytes()))  # named by its SHA-256
    except FetchError as exc:
        return artgan.Skipped(url, exc.reason)
