"""Source "web-search": the first N images a search finds, downloaded politely, with credits.

providers.py turns a query into hits (one small class per search service); download.py fetches
them concurrently into a resumable store inside the source's cache folder.
"""
from __future__ import annotations

import string
import tempfile
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Iterator, Literal

import httpx
from pydantic import Field, ValidationInfo, field_validator

import artgan

from .download import Downloader, FetchError, Fetcher, Store, user_agent
from .providers import PROVIDERS, Hit, Provider

PLACEHOLDERS = ("query", "page", "offset")  # what a json endpoint template may hold
FETCH_OPTIONS = {"per_host", "per_second", "retries", "backoff", "max_wait", "max_bytes", "timeout",
                 "deadline", "min_rate"}
CreditField = Literal["landing_page", "title", "creator", "license", "license_version", "attribution", "site"]


class WebSearchOptions(artgan.Options):
    query: str = Field(min_length=1, description="what to search for, e.g. a name")
    provider: Literal["openverse", "wikimedia", "serpapi", "json"] = Field(
        "openverse", description="search service: openverse (openly licensed, no key), wikimedia "
        "(Commons), serpapi (Google Images; needs a key) or json (any JSON endpoint)")
    count: int = Field(500, ge=1, description="how many images to keep")
    endpoint: str | None = Field(
        None, description="the service's API URL (default: its public one); for json: a URL "
        "template with {query}, {page} (1, 2, …) and {offset} (results so far)")
    json_path: str = Field(
        "images_results[].original", description="json: where the image URLs are in a reply; "
        "[] goes through every item of a list")
    json_fields: dict[CreditField, str] = Field(
        {}, description="json: credit fields as paths inside each result, e.g. "
        "{landing_page = \"link\", site = \"source\"}")
    thumb_width: int | None = Field(
        1024, ge=16, description="wikimedia: download copies this many pixels wide instead of the "
        "originals (also turns SVG and TIFF into PNG or JPEG); none downloads the originals")
    api_key_env: str = Field(
        "SERPAPI_API_KEY", description="serpapi: the environment variable that holds the API key "
        "(keys never go in recipes)")
    contact: str = Field("", description="your e-mail or web page, sent in the User-Agent "
                                         "(Wikimedia asks for one)")
    workers: int = Field(8, ge=1, le=64, description="downloads at the same time")
    per_host: int = Field(4, ge=1, description="downloads at the same time from one host")
    per_second: float = Field(10.0, gt=0, description="requests started each second to one host, at most")
    timeout: float = Field(30.0, gt=0, description="seconds to wait for a connection or for the next bytes")
    deadline: float = Field(120.0, gt=0, description="seconds one download may take in all, retries "
                                                     "and their waits included")
    min_rate: float = Field(1000.0, ge=0, description="bytes a second below which a download is given "
                                                      "up, measured over each `timeout` seconds; 0: none")
    retries: int = Field(3, ge=0, description="retries after a timeout, HTTP 429 or 5xx")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry, doubled each "
                                                  "time; a Retry-After header takes precedence")
    max_wait: float = Field(60.0, ge=0, description="longest wait before a retry, Retry-After included")
    max_bytes: int = Field(20_000_000, ge=1, description="largest file downloaded, in bytes")
    max_pages: int = Field(100, ge=1, description="result pages asked for, at most")
    max_empty_pages: int = Field(3, ge=1, description="stop paging after this many pages in a row "
                                                      "gave no new image")
    allow_local: bool = Field(False, description="allow loopback and private addresses (your own "
                              "image server); otherwise they are refused, redirects included")

    @field_validator("endpoint")
    @classmethod
    def _json_template(cls, endpoint: str | None, info: ValidationInfo) -> str | None:
        """A json endpoint template may only hold the placeholders it is given."""
        if endpoint is None or info.data.get("provider") != "json":
            return endpoint
        hint = "write {{ and }} for a literal brace"
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(endpoint) if name is not None]
        except ValueError as exc:
            raise ValueError(f"not a URL template ({exc}); {hint}") from None
        for name in names:
            if name not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}}; use {{query}}, {{page}} or {{offset}}, "
                                 f"or {hint}")
        return endpoint


class WebSearch(artgan.Source):
    """The first N images a web search finds, with URL, creator, licence and attribution for each."""

    Options = WebSearchOptions

    def items(self):
        o = self.options
        with ExitStack() as stack:
            folder = self.context.cache_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            from .transport import PublicOnlyTransport  # httpcore loads only when downloading

            limits = httpx.Limits(max_connections=o.workers + 1)
            client = stack.enter_context(httpx.Client(
                headers={"User-Agent": user_agent(o.contact)}, follow_redirects=True, limits=limits,
                transport=None if o.allow_local else PublicOnlyTransport(limits)))
            fetcher = Fetcher(client, **o.model_dump(include=FETCH_OPTIONS))
            provider = PROVIDERS[o.provider](o, fetcher.get_json)
            paging = Paging(o.max_empty_pages, provider.endpoint)
            # closed before the client, so downloads in flight finish (and are kept) first
            downloads = stack.enter_context(closing(
                Downloader(fetcher, Store(folder), o.workers).run(self._hits(provider, paging))))
            yield from self._keep(downloads, paging)

    def _keep(self, downloads, paging: Paging) -> Iterator[artgan.Item | artgan.Skipped]:
        """Items for the first ``count`` distinct images; duplicates and failures as skips. Stops
        early, saying so, once pages stop bringing new images."""
        first_url: dict[str, str] = {}  # SHA-256 -> the URL it was first kept from
        kept = 0
        for hit, result in downloads:
            if isinstance(hit, Hit) and paging.exhausted(hit.url):
                yield artgan.Skipped(paging.origin, f"search stopped: {paging.max_empty} pages in a row "
                                                    f"gave no new image (raise max_empty_pages to page on)")
                return
            if isinstance(result, artgan.Skipped):
                yield result
            elif result.sha256 in first_url:
                yield artgan.Skipped(hit.url, f"duplicate image (same bytes as {first_url[result.sha256]})")
            else:
                first_url[result.sha256] = hit.url
                paging.keep()
                info = {"provider": self.options.provider, "query": self.options.query, **hit.credits()}
                yield artgan.Item(result.image, origin=hit.url, info=info)
                kept += 1
                if kept == self.options.count:
                    return

    def _hits(self, provider: Provider, paging: Paging) -> Iterator[Hit | artgan.Skipped]:
        """Hits page by page, each URL once; stops when a page brings nothing new, or after
        ``max_pages`` pages."""
        seen: set[str] = set()
        name = f'{provider.name} search for "{self.options.query}" ({provider.endpoint})'
        try:
            for number, page in enumerate(provider.pages(self.options.query), 1):
                if not any(hit.url not in seen for hit in page):
                    break
                for hit in page:
                    if hit.url in seen:
                        yield artgan.Skipped(hit.url, "duplicate URL (listed again by the search)")
                    else:
                        seen.add(hit.url)
                        paging.page_of[hit.url] = number
                        yield hit
                if number == self.options.max_pages:
                    yield artgan.Skipped(provider.endpoint,
                                         f"search stopped after {number} pages (raise max_pages for more)")
                    break
        except FetchError as exc:
            if not seen:
                raise artgan.ArtganError(f"{name} failed: {exc.reason}; check the endpoint and try again") from None
            yield artgan.Skipped(exc.url, f"search stopped (a result page failed: {exc.reason})")
        if not seen:
            raise artgan.ArtganError(f"{name}: no results; try another query or provider")


class Paging:
    """Which result page each hit came from, and whether the last pages brought any new image:
    a search that lists only broken links must not page on for ever."""

    def __init__(self, max_empty: int, origin: str):
        self.max_empty, self.origin = max_empty, origin  # origin: named in the report when paging stops
        self.page_of: dict[str, int] = {}  # hit URL -> its page number
        self._page, self._kept_on_page, self._empty_in_a_row = 0, False, 0

    def exhausted(self, url: str) -> bool:
        """Moves on to the page of ``url`` (results arrive in order); True once ``max_empty``
        whole pages in a row kept no image."""
        page = self.page_of[url]
        if page != self._page:
            if self._page:
                self._empty_in_a_row = 0 if self._kept_on_page else self._empty_in_a_row + 1
            self._page, self._kept_on_page = page, False
        return self._empty_in_a_row >= self.max_empty

    def keep(self) -> None:
        """The current page brought a new image."""
        self._kept_on_page = True


@artgan.hookimpl
def register_sources(register):
    register("web-search", WebSearch)
